//! STIX 2.1 (stix-taxii-reference A): bundles out of MISP events and MISP events out of
//! bundles, with deterministic SCO ids, TLP markings and STIX patterns.

use serde_json::{Map, Value};

pub mod export;
pub mod ids;
pub mod import;
pub mod markings;
pub mod pattern;
pub mod pattern_parse;

/// The STIX 2.1 cyber-observable object types (SCOs: no `created`/`modified`, their
/// `*_ref`s point at further observables).
pub const OBSERVABLE_TYPES: &[&str] = &[
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// The property `key` of a STIX object. Objects have a dozen properties or so, and finding
/// one by comparing names costs a fraction of hashing the name (serde_json's maps hash with
/// SipHash); a conversion asks for twenty properties per object.
pub fn property<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    const SCANNED_UP_TO: usize = 32;
    if map.len() > SCANNED_UP_TO {
        return map.get(key);
    }
    map.iter()
        .find_map(|(name, value)| (name.as_str() == key).then_some(value))
}

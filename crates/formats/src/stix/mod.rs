//! STIX 2.1 (stix-taxii-reference A): bundles out of MISP events and MISP events out of
//! bundles, with deterministic SCO ids, TLP markings and STIX patterns.

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

//! STIX 2.1 (stix-taxii-reference A): bundles out of MISP events and MISP events out of
//! bundles, with deterministic SCO ids, TLP markings and STIX patterns.

pub mod export;
pub mod ids;
pub mod import;
pub mod markings;
pub mod pattern;
pub mod pattern_parse;

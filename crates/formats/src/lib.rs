//! Kizuna's wire formats, pure: bytes and JSON in, model values out, and back.
//!
//! `misp` mirrors MISP's JSON exactly, quirks included (CamelCase envelopes, integers as
//! strings, booleans as booleans, µs `first_seen`/`last_seen` as ISO 8601 text). The server
//! uses these same functions for request and response bodies, so an export and an API
//! answer can never drift apart.

pub mod csv_import;
pub mod export;
pub mod freetext;
pub mod misp;
pub mod report;
pub mod stix;

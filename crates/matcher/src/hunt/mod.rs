//! `kizuna hunt`: find shared IoCs in log files with the semantics of
//! `hunt-semantics.md` — values compared as whole fields by shape, IPs inside CIDRs,
//! domains at label boundaries, normalised URLs, hashes ignoring case, each IoC only inside
//! its validity window.
//!
//! - [`ioc`]: IoC kinds, shapes and canonical forms.
//! - [`index`]: the compiled, immutable IoC index and its lookups.
//! - [`logs`]: per-format line parsers that split a log line into named field values.
//! - [`scan`]: reading (plain, gzip, zstd, stdin) and scanning files on every core.

pub mod index;
pub mod ioc;
pub mod logs;
pub mod scan;

pub use index::{Candidate, IocId, IocIndex, IocIndexBuilder, Micros, ValueForm, Window};
pub use ioc::{IocKind, IocRejection, canonical_ioc};
pub use logs::{
    LineOutcome, LineParser, LogFormat, LogOptions, detect_format, parse_iso8601_micros,
};
pub use scan::{Hit, ScanError, ScanOptions, ScanReport, scan_path, scan_reader};

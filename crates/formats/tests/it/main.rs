//! Integration tests of the MISP wire format: real MISP events in and out, rendering
//! typing, parsing leniency, build defaults and validation, describeTypes.

mod build;
mod csv_import;
mod describe_types;
mod exports;
mod freetext;
mod misp_events;
mod parsing;
mod rendering;
mod stix_export;
mod stix_import;

use kizuna_formats::misp::build::BuildContext;
use std::path::PathBuf;
use time::{Date, Month};

/// A fixed clock: 2023-11-14T22:13:20Z.
pub const NOW: i64 = 1_700_000_000;

pub fn ctx() -> BuildContext {
    BuildContext {
        now: NOW,
        today: Date::from_calendar_date(2023, Month::November, 14).unwrap(),
    }
}

/// The model crate's test data: real MISP events and PyMISP's describeTypes.json.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../model/tests/data")
}

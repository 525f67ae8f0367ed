//! Integration tests for kizuna-model against real MISP data (one test binary).

mod describe_types;
mod misp_events;

use std::path::PathBuf;

/// `crates/model/tests/data`.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
}

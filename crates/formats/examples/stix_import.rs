//! Converts a TAXII envelope (a JSON file with an `objects` list, e.g. one of
//! `scripts/bench-taxii`'s envelopes of 1,000 indicators) to MISP event input, for callgrind
//! and timing of the STIX import.
//!
//! `stix_import ENVELOPE [ROUNDS]`: converts ROUNDS times (default 1) and prints the time per
//! round and what came out.

use std::time::Instant;

use kizuna_formats::stix::import::{StixImportOptions, bundle_to_event_inputs};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: stix_import ENVELOPE [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: u32 = args.next().map_or(1, |text| {
        text.parse().unwrap_or_else(|_| {
            eprintln!("ROUNDS must be a number, got {text:?}");
            std::process::exit(2)
        })
    });
    let text = std::fs::read(&path).unwrap_or_else(|error| {
        eprintln!("cannot read {path}: {error}");
        std::process::exit(1)
    });
    let envelope: serde_json::Value = serde_json::from_slice(&text).unwrap_or_else(|error| {
        eprintln!("{path} is not JSON: {error}");
        std::process::exit(1)
    });
    let options = StixImportOptions {
        default_info: "TAXII collection bench".into(),
    };
    let started = Instant::now();
    let mut events = 0;
    let mut attributes = 0;
    for _ in 0..rounds {
        let imported = bundle_to_event_inputs(&envelope, &options);
        events = imported.events.len();
        attributes = imported
            .events
            .iter()
            .map(|event| event.input.attributes.len())
            .sum();
    }
    let elapsed = started.elapsed();
    println!(
        "{rounds} rounds, {:.3} ms per round: {events} events, {attributes} loose attributes",
        elapsed.as_secs_f64() * 1e3 / f64::from(rounds.max(1))
    );
}

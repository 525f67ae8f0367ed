//! Renders one bench-like event (1,000 attributes: IPv4 / domain / URL / SHA-256
//! indicators, to_ids, a few tags) to STIX 2.1 objects, for callgrind and timing.
//!
//! `render_event [ROUNDS] [dump]`: renders ROUNDS times (default 1); with `dump`, writes
//! every object (id, type, version, shared, json) to stdout to compare two builds.
//! `render_event files PATH…`: the same dump for MISP event JSON files instead.

use std::time::Instant;

use kizuna_formats::stix::export::{Stix2Options, event_objects};
use kizuna_model::entities::{AttachedTag, Attribute, Event, Organisation, Tag};

fn tagged(name: &str) -> AttachedTag {
    AttachedTag {
        tag: Tag {
            id: 1,
            name: name.into(),
            colour: "#ffffff".into(),
            exportable: true,
            ..Tag::default()
        },
        local: false,
        relationship_type: None,
    }
}

fn bench_event() -> Event {
    let date = time::Date::from_calendar_date(2024, time::Month::May, 17).expect("valid date");
    let mut event = Event::new(
        "5f0c7a1e-0000-4000-8000-0000000000e1".into(),
        "bench event".into(),
        date,
        1,
        1_700_000_000,
    );
    event.published = true;
    event.publish_timestamp = 1_700_000_100;
    event.orgc = Some(Organisation {
        id: 1,
        name: "Bench org".into(),
        uuid: "55f6ea5e-2c60-40e5-964f-47a8950d210f".into(),
        ..Organisation::default()
    });
    event.tags = vec![tagged("tlp:green"), tagged("bench")];
    for n in 0..1_000u32 {
        let (attr_type, category, value) = match n % 4 {
            0 => (
                "ip-dst",
                "Network activity",
                format!("10.{}.{}.{}", n / 65_536, (n / 256) % 256, n % 256),
            ),
            1 => ("domain", "Network activity", format!("host{n}.example.com")),
            2 => (
                "url",
                "Network activity",
                format!("https://site{n}.example.org/path/{n}?q=1"),
            ),
            _ => (
                "sha256",
                "Payload delivery",
                format!("{:064x}", u128::from(n) * 0x9e37_79b9_7f4a_7c15),
            ),
        };
        let mut attribute = Attribute::new(
            format!("6a1b2c3d-0000-4000-8000-{n:012x}"),
            attr_type.into(),
            category.into(),
            value,
            String::new(),
        );
        attribute.to_ids = true;
        attribute.timestamp = 1_700_000_000 + i64::from(n);
        if n % 3 == 0 {
            attribute.tags = vec![tagged("tlp:amber"), tagged("source:bench")];
        }
        event.attributes.push(attribute);
    }
    event
}

/// A MISP event file as an `Event`, or None when it is not one this parser takes.
fn load(path: &str) -> Option<Event> {
    let text = std::fs::read_to_string(path).ok()?;
    let body: serde_json::Value = serde_json::from_str(&text).ok()?;
    let input = kizuna_formats::misp::input::parse_event(&body).ok()?;
    let ctx = kizuna_formats::misp::build::BuildContext {
        now: 1_700_000_000,
        today: time::Date::from_calendar_date(2023, time::Month::November, 14).ok()?,
    };
    let mut event = kizuna_formats::misp::build::new_event(&input, &ctx, 1, 1).ok()?;
    if let Some(orgc) = &input.orgc {
        event.orgc = Some(Organisation {
            uuid: orgc.uuid.clone().unwrap_or_default(),
            name: orgc.name.clone().unwrap_or_default(),
            ..Organisation::default()
        });
    }
    Some(event)
}

fn dump(objects: &[kizuna_formats::stix::export::StixObjectText]) {
    for object in objects {
        println!(
            "{} {} {} {} {}",
            object.id(),
            object.object_type(),
            object.version(),
            object.shared(),
            object.json()
        );
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("files") {
        let options = Stix2Options::new("https://kizuna.example", 1_700_000_000);
        for path in std::env::args().skip(2) {
            match load(&path) {
                Some(event) => {
                    println!("== {path}");
                    dump(&event_objects(&event, &options));
                }
                None => println!("== {path} (not an event)"),
            }
        }
        return;
    }
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let dump_objects = args.next().is_some_and(|a| a == "dump");
    let event = bench_event();
    let options = Stix2Options::new("", 1_700_000_000);
    let start = Instant::now();
    let mut total = 0usize;
    for _ in 0..rounds {
        let objects = event_objects(&event, &options);
        total += objects.len();
        if dump_objects {
            dump(&objects);
        }
    }
    eprintln!(
        "{rounds} rounds, {total} objects, {:.3} ms per event",
        start.elapsed().as_secs_f64() * 1e3 / rounds as f64
    );
}

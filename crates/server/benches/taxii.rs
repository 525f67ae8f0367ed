//! TAXII 2.1 in-process figures: envelopes of 1,000 indicators POSTed one after the other,
//! then the collection read back in pages of 1,000, with the POST split into its parts
//! (STIX → MISP conversion, the import path) measured on the same envelopes.
//!
//! `cargo bench -p kizuna-server --bench taxii`
//! Environment: `KIZUNA_BENCH_ENVELOPES` (default 20), `KIZUNA_BENCH_ENVELOPE` (default 1000),
//! `KIZUNA_BENCH_GETS` (read passes, default 2; 0 to profile the POSTs alone).

// Shared with the other benches; this one needs only the knobs and the RSS reading.
#[allow(dead_code)]
mod support;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use kizuna_formats::stix::import::{StixImportOptions, bundle_to_event_inputs};
use kizuna_server::import::{ImportSettings, import_parsed_event};
use kizuna_server::{AppState, ServerSettings, app, bootstrap};
use kizuna_store::{Store, TaxiiCollection};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tower::ServiceExt;

const TAXII: &str = "application/taxii+json;version=2.1";

/// Indicators shaped like `scripts/bench-taxii`'s: a name, IPv4, domain, URL and SHA-256
/// patterns in its proportions (4:2.5:2:1.5 of every 10), unique values.
fn envelope(round: u64, size: u64) -> Value {
    let objects: Vec<Value> = (0..size)
        .map(|n| {
            let unique = round * size + n;
            let (kind, value, pattern) = match n % 20 {
                0..8 => {
                    let value = format!(
                        "11.{}.{}.{}",
                        unique >> 16 & 255,
                        unique >> 8 & 255,
                        unique & 255
                    );
                    (
                        "IPv4",
                        value.clone(),
                        format!("[ipv4-addr:value = '{value}']"),
                    )
                }
                8..13 => {
                    let value = format!("bench-{unique:010x}.example");
                    (
                        "domain",
                        value.clone(),
                        format!("[domain-name:value = '{value}']"),
                    )
                }
                13..17 => {
                    let value = format!("https://host{unique:08x}.example/download/payload.bin");
                    ("URL", value.clone(), format!("[url:value = '{value}']"))
                }
                _ => {
                    let value = format!("{unique:064x}");
                    (
                        "SHA-256",
                        value.clone(),
                        format!("[file:hashes.'SHA-256' = '{value}']"),
                    )
                }
            };
            json!({
                "type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--{}", uuid::Uuid::new_v4()),
                "created": "2026-01-05T08:00:00.000Z", "modified": "2026-01-05T08:00:00.000Z",
                "name": format!("Malicious {kind} {value}"),
                "indicator_types": ["malicious-activity"],
                "pattern": pattern, "pattern_type": "stix", "pattern_version": "2.1",
                "valid_from": "2026-01-05T08:00:00.000Z",
            })
        })
        .collect();
    json!({ "objects": objects })
}

async fn call(
    app: &Router,
    key: &str,
    method: &str,
    path: &str,
    body: Option<String>,
) -> (StatusCode, Value) {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", key)
        .header("accept", TAXII);
    if body.is_some() {
        builder = builder.header("content-type", TAXII);
    }
    let response = app
        .clone()
        .oneshot(
            builder
                .body(body.map(Body::from).unwrap_or_else(Body::empty))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn rate(count: u64, took: Duration) -> String {
    format!("{:.0}/s", count as f64 / took.as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let envelopes = support::env_number("KIZUNA_BENCH_ENVELOPES", 20);
    let size = support::env_number("KIZUNA_BENCH_ENVELOPE", 1_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("k.db").display()))
        .await
        .unwrap();
    let key =
        bootstrap::create_first_admin(&store, "HOST", "admin@host.test", kizuna_server::now())
            .await
            .unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    store
        .create_taxii_collection(&TaxiiCollection {
            id: id.clone(),
            title: "bench".into(),
            writable: true,
            ..TaxiiCollection::default()
        })
        .await
        .unwrap();
    let app = app(AppState::new(store.clone(), ServerSettings::default()));
    let bodies: Vec<String> = (0..envelopes)
        .map(|round| envelope(round, size).to_string())
        .collect();

    // The parts, on envelopes of their own (other uuids, another database).
    let parts_dir = tempfile::tempdir().unwrap();
    let parts_store = Store::connect(&format!(
        "sqlite://{}",
        parts_dir.path().join("p.db").display()
    ))
    .await
    .unwrap();
    let (mut parse, mut convert, mut import) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for round in 0..envelopes.min(5) {
        let text = envelope(round + 100, size).to_string();
        let started = Instant::now();
        let value: Value = serde_json::from_str(&text).unwrap();
        parse += started.elapsed();
        let started = Instant::now();
        let imported = bundle_to_event_inputs(&value, &StixImportOptions::default());
        convert += started.elapsed();
        let started = Instant::now();
        for event in imported.events {
            import_parsed_event(
                &parts_store,
                "bench",
                event,
                &ImportSettings::owned_by(1, 1),
                kizuna_server::now(),
            )
            .await
            .unwrap();
        }
        import += started.elapsed();
    }
    let measured = envelopes.min(5) * size;
    println!(
        "parts over {measured} indicators: JSON parse {}, STIX→MISP {}, import path {}",
        rate(measured, parse),
        rate(measured, convert),
        rate(measured, import)
    );

    let objects_url = format!("/taxii2/root/collections/{id}/objects/");
    let started = Instant::now();
    for body in bodies {
        let (status, answer) = call(&app, &key, "POST", &objects_url, Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(answer["failure_count"], 0, "{answer}");
    }
    let took = started.elapsed();
    println!(
        "POST {} indicators: {:.2} s, {}",
        envelopes * size,
        took.as_secs_f64(),
        rate(envelopes * size, took)
    );

    let passes = support::env_number("KIZUNA_BENCH_GETS", 2) as usize;
    for pass in ["first (renders)", "second (cached)"]
        .into_iter()
        .take(passes)
    {
        let started = Instant::now();
        let mut count = 0u64;
        let mut pages = 0;
        let mut url = format!("{objects_url}?limit=1000");
        loop {
            let (status, page) = call(&app, &key, "GET", &url, None).await;
            assert_eq!(status, StatusCode::OK);
            pages += 1;
            count += page["objects"].as_array().map_or(0, Vec::len) as u64;
            match page["next"].as_str() {
                Some(next) if page["more"] == true => {
                    url = format!("{objects_url}?limit=1000&next={next}")
                }
                _ => break,
            }
        }
        let took = started.elapsed();
        println!(
            "GET {pass}: {count} objects in {pages} pages, {:.2} s, {}",
            took.as_secs_f64(),
            rate(count, took)
        );
    }
    println!("peak RSS {} MiB", support::proc_status_kb("VmHWM") / 1024);
}

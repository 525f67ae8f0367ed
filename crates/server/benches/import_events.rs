//! Import throughput of `POST /events/add`: the whole app in-process (tower `oneshot`, no
//! socket) over a fresh SQLite store, fed the real MISP events of
//! `../shared/data/misp-events` beside the repository (or `crates/model/tests/data/misp-events`
//! when that is absent) for several rounds, every uuid rewritten per round so nothing collides.
//!
//! `cargo bench -p kizuna-server --bench import_events`
//! Environment: `KIZUNA_BENCH_ROUNDS` (default 5), `KIZUNA_BENCH_CONCURRENCY` (default 8,
//! for the concurrent pass).

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use kizuna_server::{AppState, ServerSettings, app, bootstrap};
use kizuna_store::Store;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// Keys whose uuid values name things of the event itself (rewritten per round). Creator
/// organisations, tags, galaxies and object templates keep theirs.
const OWN_UUID_KEYS: &[&str] = &[
    "uuid",
    "referenced_uuid",
    "object_uuid",
    "source_uuid",
    "extends_uuid",
];
const FOREIGN_ENTITIES: &[&str] = &[
    "Orgc",
    "Org",
    "Tag",
    "Galaxy",
    "GalaxyCluster",
    "SharingGroup",
];

fn data_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = manifest.join("../../../shared/data/misp-events");
    if shared.is_dir() {
        shared
    } else {
        manifest.join("../model/tests/data/misp-events")
    }
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            // PyMISP's fragments are pieces of events, not events.
            if path.file_name().is_some_and(|name| name != "fragments") {
                json_files(&path, out);
            }
        } else if path.extension().is_some_and(|ext| ext == "json") {
            out.push(path);
        }
    }
}

/// The events of one file: `{"Event": …}`, `{"response": [{"Event": …}, …]}` or bare.
fn events_of(document: Value) -> Vec<Value> {
    match document {
        Value::Object(mut map) if map.contains_key("Event") => vec![map.remove("Event").unwrap()],
        Value::Object(mut map) if map.get("response").is_some_and(Value::is_array) => {
            match map.remove("response") {
                Some(Value::Array(items)) => items
                    .into_iter()
                    .map(|mut item| item.get_mut("Event").map(Value::take).unwrap_or(item))
                    .collect(),
                _ => Vec::new(),
            }
        }
        other => vec![other],
    }
}

/// Drops another instance's local ids and sharing groups; sharing-group distribution
/// becomes community distribution. Applied to the event and every item in it.
fn strip(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in [
                "id",
                "org_id",
                "orgc_id",
                "Org",
                "sharing_group_id",
                "SharingGroup",
            ] {
                map.remove(key);
            }
            if let Some(distribution) = map.get_mut("distribution")
                && (*distribution == json!(4) || *distribution == json!("4"))
            {
                *distribution = json!("1");
            }
            for (key, child) in map.iter_mut() {
                if matches!(key.as_str(), "Attribute" | "Object" | "ShadowAttribute") {
                    strip(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

/// Every uuid of the event's own items replaced by `uuid5(round, old)`: consistent inside
/// the event (references still resolve), fresh for each round.
fn rewrite_uuids(value: &mut Value, round: &uuid::Uuid) {
    match value {
        Value::Object(map) => rewrite_map(map, round),
        Value::Array(items) => items.iter_mut().for_each(|item| rewrite_uuids(item, round)),
        _ => {}
    }
}

fn rewrite_map(map: &mut Map<String, Value>, round: &uuid::Uuid) {
    for (key, child) in map.iter_mut() {
        if FOREIGN_ENTITIES.contains(&key.as_str()) {
            continue;
        }
        match child {
            Value::String(text) if OWN_UUID_KEYS.contains(&key.as_str()) => {
                if let Ok(old) = uuid::Uuid::parse_str(text) {
                    *text = uuid::Uuid::new_v5(round, old.as_bytes()).to_string();
                }
            }
            other => rewrite_uuids(other, round),
        }
    }
}

fn count_attributes(event: &Value) -> usize {
    let list = |value: &Value, key: &str| {
        value
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    list(event, "Attribute").len()
        + list(event, "Object")
            .iter()
            .map(|object| list(object, "Attribute").len())
            .sum::<usize>()
}

struct Bench {
    app: Router,
    key: String,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn start() -> Bench {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let store = Store::connect(&url).await.expect("a store");
        let key = bootstrap::create_first_admin(&store, "BENCH", "bench@kizuna.test", 0)
            .await
            .expect("the first admin");
        let app = app(AppState::new(
            store,
            ServerSettings {
                base_url: "http://bench.invalid".into(),
                ..ServerSettings::default()
            },
        ));
        Bench {
            app,
            key,
            _dir: dir,
        }
    }

    /// Posts one event; returns the status and the stored attribute count.
    async fn add(&self, body: String) -> (StatusCode, usize, String) {
        let request = Request::post("/events/add")
            .header("authorization", &self.key)
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .expect("a request");
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        if status != StatusCode::OK {
            return (status, 0, String::from_utf8_lossy(&bytes).into_owned());
        }
        let stored: Value = serde_json::from_slice(&bytes).expect("JSON");
        let count = stored["Event"]["attribute_count"]
            .as_str()
            .and_then(|count| count.parse().ok())
            .unwrap_or(0);
        (status, count, String::new())
    }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|value| *value > 0)
        .unwrap_or(default)
}

fn bodies_for_round(events: &[Value], round: usize) -> Vec<String> {
    let namespace = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("round-{round}").as_bytes(),
    );
    events
        .iter()
        .map(|event| {
            let mut event = event.clone();
            rewrite_uuids(&mut event, &namespace);
            json!({ "Event": event }).to_string()
        })
        .collect()
}

fn report(label: &str, events: usize, attributes: usize, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    println!(
        "{label:<28} {events:>6} events {attributes:>8} attributes in {:>8.3} s: {:>9.1} events/s {:>11.1} attributes/s",
        seconds,
        events as f64 / seconds,
        attributes as f64 / seconds,
    );
}

fn main() {
    let rounds = env_number("KIZUNA_BENCH_ROUNDS", 5);
    let concurrency = env_number("KIZUNA_BENCH_CONCURRENCY", 8);
    let dir = data_dir();
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    let mut events = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable");
        let document: Value = serde_json::from_str(&text).expect("JSON");
        for mut event in events_of(document) {
            strip(&mut event);
            events.push((path.clone(), event));
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        // Which events are accepted at all (a few PyMISP fixtures are not valid MISP).
        let probe = Bench::start().await;
        let mut accepted = Vec::new();
        let mut names = Vec::new();
        for (path, event) in events {
            let (status, _, body) = probe.add(json!({ "Event": event }).to_string()).await;
            if status == StatusCode::OK {
                names.push(path.file_name().unwrap().to_string_lossy().into_owned());
                accepted.push(event);
            } else {
                println!("skipped {} ({status}): {body}", path.display());
            }
        }
        drop(probe);
        let per_round: usize = accepted.iter().map(count_attributes).sum();
        println!(
            "import_events: {} files from {}, {} events ({per_round} attributes) per round, {rounds} rounds",
            files.len(),
            dir.display(),
            accepted.len(),
        );

        // Sequential: one request at a time, as a sync peer pushes.
        let bench = Bench::start().await;
        let (mut total_events, mut total_attributes, mut total_time) = (0, 0, Duration::ZERO);
        let mut per_event = vec![Duration::ZERO; accepted.len()];
        for round in 0..rounds {
            let bodies = bodies_for_round(&accepted, round);
            let started = Instant::now();
            let mut attributes = 0;
            for (index, body) in bodies.into_iter().enumerate() {
                let one = Instant::now();
                let (status, count, text) = bench.add(body).await;
                per_event[index] += one.elapsed();
                assert_eq!(status, StatusCode::OK, "{text}");
                attributes += count;
            }
            let elapsed = started.elapsed();
            report(&format!("sequential round {}", round + 1), accepted.len(), attributes, elapsed);
            total_events += accepted.len();
            total_attributes += attributes;
            total_time += elapsed;
        }
        report("sequential total", total_events, total_attributes, total_time);
        let mut slowest: Vec<usize> = (0..accepted.len()).collect();
        slowest.sort_by_key(|index| std::cmp::Reverse(per_event[*index]));
        for index in slowest.into_iter().take(5) {
            println!(
                "  slowest: {:>8.2} ms/add  {:>4} attributes  {}",
                per_event[index].as_secs_f64() * 1000.0 / rounds as f64,
                count_attributes(&accepted[index]),
                names[index],
            );
        }

        // Concurrent: `concurrency` requests in flight, on a fresh store. One untimed
        // sequential round first creates the creator organisations: concurrent first
        // sightings of the same new Orgc race in events/add (see the test
        // events::concurrent_adds_with_the_same_new_creator_org_all_succeed).
        let bench = std::sync::Arc::new(Bench::start().await);
        for body in bodies_for_round(&accepted, 2 * rounds) {
            let (status, _, text) = bench.add(body).await;
            assert_eq!(status, StatusCode::OK, "{text}");
        }
        let (mut total_events, mut total_attributes, mut total_time) = (0, 0, Duration::ZERO);
        for round in 0..rounds {
            let bodies = bodies_for_round(&accepted, rounds + round);
            let queue = std::sync::Arc::new(std::sync::Mutex::new(bodies));
            let started = Instant::now();
            let mut workers = Vec::new();
            for _ in 0..concurrency {
                let bench = bench.clone();
                let queue = queue.clone();
                workers.push(tokio::spawn(async move {
                    let mut attributes = 0;
                    loop {
                        let next = queue.lock().expect("the queue").pop();
                        let Some(body) = next else { break };
                        let (status, count, text) = bench.add(body).await;
                        assert_eq!(status, StatusCode::OK, "{text}");
                        attributes += count;
                    }
                    attributes
                }));
            }
            let mut attributes = 0;
            for worker in workers {
                attributes += worker.await.expect("a worker");
            }
            let elapsed = started.elapsed();
            report(
                &format!("{concurrency}-way round {}", round + 1),
                accepted.len(),
                attributes,
                elapsed,
            );
            total_events += accepted.len();
            total_attributes += attributes;
            total_time += elapsed;
        }
        report(&format!("{concurrency}-way total"), total_events, total_attributes, total_time);
    });
}

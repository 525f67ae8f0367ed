//! Issue 5's figures, release build, fresh SQLite databases in a temporary directory:
//!
//! - import of a MISP feed of 60,000 attributes (60 events of 1,000) written to a folder,
//!   through the same path as `kizuna import` (manifest, event files, `import_event`);
//! - export of 1,000,000 attributes to text, suricata and stix2 through the same path as
//!   `kizuna export` (`write_search`), output counted and dropped.
//!
//! Each prints attributes/s and the peak RSS of the step (the peak is reset before each step
//! through /proc/self/clear_refs).
//!
//! `cargo bench -p kizuna-server --bench formats`
//! Environment: `KIZUNA_BENCH_FEED_ATTRIBUTES` (default 60000),
//! `KIZUNA_BENCH_EXPORT_ATTRIBUTES` (default 1000000), `KIZUNA_BENCH_EXPORT_FORMATS` (default
//! `text,suricata,stix2`).

use kizuna_formats::misp::feed::{feed_event, manifest_entry, write_manifest};
use kizuna_formats::misp::filters::{Scope, parse_search};
use kizuna_model::access::Viewer;
use kizuna_model::{Distribution, Event, Organisation};
use kizuna_server::Warninglists;
use kizuna_server::import::{ImportSettings, SourceLocation, import_misp_feed};
use kizuna_server::misp::rest_search::write_search;
use kizuna_store::Store;
use serde_json::{Map, json};
use std::sync::Arc;
use std::time::Instant;
use support::{NOW, env_number, proc_status_kb, reset_peak, synthetic_attribute};

mod support;

const ATTRIBUTES_PER_EVENT: u64 = 1_000;

fn report(step: &str, attributes: u64, began: Instant, peak_reset: bool, extra: &str) {
    let seconds = began.elapsed().as_secs_f64();
    println!(
        "  {step}: {attributes} attributes in {seconds:.2} s = {:.0} attributes/s; peak RSS \
         {:.0} MB{}{extra}",
        attributes as f64 / seconds,
        proc_status_kb("VmHWM:") as f64 / 1024.0,
        if peak_reset { "" } else { " (since start)" },
    );
}

fn synthetic_event(number: u64, attributes: u64, org_id: i64) -> Event {
    let mut event = Event::new(
        uuid::Uuid::new_v4().to_string(),
        format!("Synthetic feed event {number}"),
        time::macros::date!(2024 - 01 - 01),
        org_id,
        NOW,
    );
    event.published = true;
    event.publish_timestamp = NOW;
    event.distribution = Distribution::AllCommunities;
    let first = number * ATTRIBUTES_PER_EVENT;
    event.attributes = (first..first + attributes)
        .map(synthetic_attribute)
        .collect();
    event.attribute_count = attributes as i64;
    event
}

async fn fresh_store(folder: &std::path::Path, name: &str) -> (Store, i64) {
    let url = format!("sqlite://{}?mode=rwc", folder.join(name).display());
    let store = Store::connect(&url).await.expect("open the database");
    let org = store
        .create_org(&Organisation {
            uuid: uuid::Uuid::new_v4().to_string(),
            name: "Bench".into(),
            local: true,
            date_created: NOW,
            date_modified: NOW,
            ..Organisation::default()
        })
        .await
        .expect("create the organisation");
    (store, org.id)
}

async fn bench_feed_import(folder: &std::path::Path, attributes: u64) {
    let feed = folder.join("feed");
    std::fs::create_dir_all(&feed).expect("feed folder");
    let mut manifest = Vec::new();
    let events = attributes.div_ceil(ATTRIBUTES_PER_EVENT);
    for number in 0..events {
        let size = ATTRIBUTES_PER_EVENT.min(attributes - number * ATTRIBUTES_PER_EVENT);
        let mut event = synthetic_event(number, size, 0);
        event.orgc = Some(Organisation {
            uuid: "5cf66e53-b5f8-43e7-be9a-49880a3b4631".into(),
            name: "Feed producer".into(),
            ..Organisation::default()
        });
        let body = serde_json::to_vec(&feed_event(&event)).expect("event JSON");
        std::fs::write(feed.join(format!("{}.json", event.uuid)), body).expect("event file");
        manifest.push(manifest_entry(&event));
    }
    std::fs::write(feed.join("manifest.json"), write_manifest(manifest)).expect("manifest");
    // The pure part alone (read, JSON, MISP parsing and validation), to tell it from the
    // database's share.
    let began = Instant::now();
    let context = kizuna_formats::misp::build::BuildContext {
        now: NOW,
        today: time::macros::date!(2024 - 01 - 01),
    };
    for entry in std::fs::read_dir(&feed).expect("the feed folder") {
        let path = entry.expect("an entry").path();
        if path.file_name().is_some_and(|name| name == "manifest.json") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("an event file");
        let document = kizuna_formats::misp::feed::parse_lenient_json(&bytes).expect("JSON");
        let input = kizuna_formats::misp::input::parse_event(&document).expect("an event");
        kizuna_formats::misp::build::new_event(&input, &context, 1, 0).expect("valid");
    }
    report(
        "  of which reading and validating",
        attributes,
        began,
        false,
        "",
    );
    let (store, org_id) = fresh_store(folder, "feed.db").await;
    let settings = ImportSettings::owned_by(org_id, 0);
    let peak_reset = reset_peak();
    let began = Instant::now();
    let summary = import_misp_feed(
        &store,
        &SourceLocation::Path(feed.clone()),
        &settings,
        |_| {},
    )
    .await
    .expect("the feed imports");
    assert_eq!(summary.attributes_added, attributes, "{summary:?}");
    report(
        &format!("MISP feed import ({events} events)"),
        attributes,
        began,
        peak_reset,
        "",
    );
    store.close().await;
}

async fn bench_exports(folder: &std::path::Path, attributes: u64) {
    let (store, org_id) = fresh_store(folder, "export.db").await;
    let began = Instant::now();
    let events = attributes.div_ceil(ATTRIBUTES_PER_EVENT);
    for number in 0..events {
        let size = ATTRIBUTES_PER_EVENT.min(attributes - number * ATTRIBUTES_PER_EVENT);
        let mut event = synthetic_event(number, size, org_id);
        let batch = std::mem::take(&mut event.attributes);
        event.attribute_count = 0;
        let event_id = store.insert_event(&event, true).await.expect("event");
        store
            .bulk_insert_attributes(event_id, &batch, NOW)
            .await
            .expect("attributes");
        // Adding content unpublishes an event (MISP); device exports want published ones.
        store
            .set_published(event_id, true, NOW)
            .await
            .expect("publish");
    }
    println!(
        "  (loaded {attributes} attributes in {events} events in {:.1} s)",
        began.elapsed().as_secs_f64()
    );
    let warninglists = Arc::new(Warninglists::new(kizuna_matcher::WarninglistSet::defaults()));
    let wanted = std::env::var("KIZUNA_BENCH_EXPORT_FORMATS")
        .unwrap_or_else(|_| "text,suricata,stix2".into());
    for (format, scope) in [
        ("text", Scope::Attributes),
        ("suricata", Scope::Attributes),
        ("stix2", Scope::Events),
    ] {
        if !wanted.split(',').any(|name| name.trim() == format) {
            continue;
        }
        let mut params = Map::new();
        params.insert("valid_at".into(), json!("all"));
        let request = parse_search(&params, scope, Some(format), NOW).expect("a request");
        let mut bytes = 0u64;
        let peak_reset = reset_peak();
        let began = Instant::now();
        write_search(
            &store,
            &warninglists,
            Viewer::SiteAdmin,
            request,
            scope,
            |chunk| {
                bytes += chunk.len() as u64;
                Ok(())
            },
        )
        .await
        .expect("the export runs");
        report(
            &format!("export {format}"),
            attributes,
            began,
            peak_reset,
            &format!("; {:.1} MB written", bytes as f64 / 1e6),
        );
    }
    store.close().await;
}

fn main() {
    let feed_attributes = env_number("KIZUNA_BENCH_FEED_ATTRIBUTES", 60_000);
    let export_attributes = env_number("KIZUNA_BENCH_EXPORT_ATTRIBUTES", 1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let folder = tempfile::tempdir().expect("a temporary directory");
    println!("formats benchmark (SQLite)");
    runtime.block_on(bench_feed_import(folder.path(), feed_attributes));
    runtime.block_on(bench_exports(folder.path(), export_attributes));
}

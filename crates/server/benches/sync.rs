//! Issue 7's pull figures, release build, SQLite on both sides in a temporary directory:
//!
//! - a remote Kizuna served on 127.0.0.1 holds N published events of M attributes (default
//!   10,000 × 100 = 1,000,000), written through the store;
//! - a fresh instance pulls them all through MISP's protocol (`sync::run_pull`, full: minimal
//!   index, event views, downgrade, import), then pulls again with nothing new.
//!
//! `cargo bench -p kizuna-server --bench sync`
//! Environment: `KIZUNA_BENCH_SYNC_EVENTS` (default 10000), `KIZUNA_BENCH_SYNC_ATTRIBUTES_PER_EVENT`
//! (default 100).

use kizuna_model::{Distribution, Event};
use kizuna_server::sync::{self, PullTechnique};
use kizuna_server::{AppState, ServerSettings, bootstrap};
use kizuna_store::Store;
use std::time::Instant;
use support::{NOW, env_number, proc_status_kb, reset_peak, synthetic_attribute};

mod support;

async fn open(folder: &std::path::Path, name: &str) -> Store {
    let url = format!("sqlite://{}?mode=rwc", folder.join(name).display());
    Store::connect(&url).await.expect("open the database")
}

async fn host_org(store: &Store) -> i64 {
    store
        .setting("host_org_id")
        .await
        .expect("settings")
        .expect("a host organisation")
        .parse()
        .expect("an id")
}

async fn bench_pull(folder: &std::path::Path, events: u64, per_event: u64) {
    let remote = open(folder, "remote.db").await;
    let key = bootstrap::create_first_admin(&remote, "REMOTE", "admin@remote.test", NOW)
        .await
        .expect("the remote's admin");
    let remote_org = host_org(&remote).await;
    let began = Instant::now();
    for first in (0..events).step_by(100) {
        let batch: Vec<Event> = (first..(first + 100).min(events))
            .map(|number| {
                let mut event = Event::new(
                    uuid::Uuid::new_v4().to_string(),
                    format!("Synthetic sync event {number}"),
                    time::macros::date!(2024 - 01 - 01),
                    remote_org,
                    NOW,
                );
                event.orgc_id = remote_org;
                event.published = true;
                event.publish_timestamp = NOW;
                event.distribution = Distribution::AllCommunities;
                let start = number * per_event;
                event.attributes = (start..start + per_event)
                    .map(synthetic_attribute)
                    .collect();
                event.attribute_count = per_event as i64;
                event
            })
            .collect();
        remote
            .insert_events(&batch, true)
            .await
            .expect("remote events");
    }
    println!(
        "  (remote loaded: {events} events, {} attributes in {:.1} s)",
        events * per_event,
        began.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let state = AppState::new(
        remote.clone(),
        ServerSettings {
            base_url: url.clone(),
            ..ServerSettings::default()
        },
    );
    tokio::spawn(kizuna_server::serve(
        listener,
        state,
        std::future::pending(),
    ));

    let local = open(folder, "local.db").await;
    bootstrap::create_first_admin(&local, "LOCAL", "admin@local.test", NOW)
        .await
        .expect("the local admin");
    let local_org = host_org(&local).await;
    let mut server = kizuna_store::Server::new("remote", &url, &key, local_org);
    server.pull = true;
    let server = local
        .create_server(&server)
        .await
        .expect("the server entry");

    let peak_reset = reset_peak();
    let cpu_before = cpu_seconds();
    let began = Instant::now();
    let report = sync::run_pull(&local, server.id, &PullTechnique::Full, 1)
        .await
        .expect("the full pull");
    let seconds = began.elapsed().as_secs_f64();
    let cpu_after = cpu_seconds();
    assert!(report.ok(), "{report:?}");
    println!(
        "  full pull: {} events ({} attributes) in {seconds:.1} s = {:.0} events/s, {:.0} \
         attributes/s; peak RSS {:.0} MB{}",
        report.fetched,
        events * per_event,
        report.fetched as f64 / seconds,
        (events * per_event) as f64 / seconds,
        proc_status_kb("VmHWM:") as f64 / 1024.0,
        if peak_reset { "" } else { " (since start)" },
    );
    print_timings(&report.timings);
    println!(
        "  CPU during the pull (both instances): {:.1} s, of which SQLite connection threads \
         {:.1} s; load average {}",
        cpu_after.0 - cpu_before.0,
        cpu_after.1 - cpu_before.1,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    let began = Instant::now();
    let again = sync::run_pull(&local, server.id, &PullTechnique::Full, 1)
        .await
        .expect("the no-op pull");
    println!(
        "  no-op re-pull: {} events fetched in {:.3} s",
        again.fetched,
        began.elapsed().as_secs_f64()
    );
}

/// CPU seconds (user + system) of the whole process, and of its SQLite connection threads
/// (sqlx runs each connection on a thread of its own), from /proc at 100 ticks a second.
fn cpu_seconds() -> (f64, f64) {
    let ticks = |stat: &str| -> f64 {
        // Fields after the parenthesised thread name: state is the first, utime the 12th.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |index: usize| fields.get(index).and_then(|text| text.parse::<f64>().ok());
        (field(11).unwrap_or(0.0) + field(12).unwrap_or(0.0)) / 100.0
    };
    let process = std::fs::read_to_string("/proc/self/stat")
        .map(|stat| ticks(&stat))
        .unwrap_or(0.0);
    let mut sqlite = 0.0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let path = task.path();
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if name.starts_with("sqlx-sqlite") {
                sqlite += std::fs::read_to_string(path.join("stat"))
                    .map(|stat| ticks(&stat))
                    .unwrap_or(0.0);
            }
        }
    }
    (process, sqlite)
}

/// The pull loop's own account of where its time went (waits of the loop; writing is the
/// background writer's time, overlapping the rest).
fn print_timings(timings: &sync::PullTimings) {
    let parts = [
        ("index", timings.index),
        ("comparing", timings.compare),
        ("waiting for downloads", timings.downloads),
        ("sharing groups and reports", timings.sharing_groups),
        ("waiting for builds", timings.building),
        ("deciding", timings.deciding),
        ("waiting for the writer", timings.waiting_for_writes),
        ("writer busy (background)", timings.writing),
        ("event reports", timings.reports),
        ("sightings", timings.sightings),
    ];
    let text: Vec<String> = parts
        .iter()
        .map(|(name, took)| format!("{name} {:.1} s", took.as_secs_f64()))
        .collect();
    println!("  where the time went: {}", text.join(", "));
}

fn main() {
    let events = env_number("KIZUNA_BENCH_SYNC_EVENTS", 10_000);
    let per_event = env_number("KIZUNA_BENCH_SYNC_ATTRIBUTES_PER_EVENT", 100);
    let folder = tempfile::tempdir().expect("a temporary directory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!("sync benchmark (SQLite, loopback)");
    runtime.block_on(bench_pull(folder.path(), events, per_event));
}

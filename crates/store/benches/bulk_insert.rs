//! Bulk attribute insert throughput: 1,000,000 synthetic attributes into one event through
//! `Store::bulk_insert_attributes`, in batches.
//!
//!     cargo bench -p kizuna-store --bench bulk_insert
//!
//! SQLite always (a database in a temporary directory); PostgreSQL as well when
//! `KIZUNA_BENCH_PG_URL` or `KIZUNA_TEST_PG_URL` names a server (a throwaway database is
//! created in it and dropped afterwards). Environment:
//!
//!   KIZUNA_BENCH_ATTRIBUTES=N    attributes to insert (default 1,000,000)
//!   KIZUNA_BENCH_BATCH=N[,M…]    attributes per call (default 50,000); several sizes are
//!                                run one after the other, each on a fresh database
//!
//! The mix is what feeds bring: ip-dst, domain, url, md5, sha256 and filename|sha256 (with
//! value2), unique uuids, one in ten with to_ids off, no tags. Only the store calls are
//! timed; each batch is generated just before its call, so memory stays bounded.

use kizuna_model::{Attribute, Distribution, Event, Organisation};
use kizuna_store::{Key, LoadOptions, Store};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::time::{Duration, Instant};
use time::macros::date;

const DEFAULT_ATTRIBUTES: usize = 1_000_000;
/// Attributes per call. Measured (1M attributes, 2 vCPU): SQLite 20k/s with 10,000 per
/// call, 30k/s with 50,000; beyond that little changes (250,000 and 1,000,000 per call are
/// within noise of 50,000). Each call is a commit that rewrites every page the random-key
/// indexes (uuid, value1) touched and recounts the event's attributes, so fewer calls win.
const DEFAULT_BATCH: usize = 50_000;
const NOW: i64 = 1_700_000_000;

fn env_usize(name: &str) -> Option<usize> {
    let value = std::env::var(name).ok()?;
    let cleaned: String = value.chars().filter(|c| *c != '_' && *c != ',').collect();
    match cleaned.parse() {
        Ok(number) if number > 0 => Some(number),
        _ => panic!("{name}={value:?} is not a positive number"),
    }
}

fn batch_sizes() -> Vec<usize> {
    match std::env::var("KIZUNA_BENCH_BATCH") {
        Ok(list) => list
            .split(',')
            .map(|size| match size.trim().replace('_', "").parse() {
                Ok(number) if number > 0 => number,
                _ => panic!("KIZUNA_BENCH_BATCH: {size:?} is not a positive number"),
            })
            .collect(),
        Err(_) => vec![DEFAULT_BATCH],
    }
}

/// splitmix64: cheap, deterministic pseudo-random bits for hashes and uuids.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn hex_digest(seed: u64, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    let mut word = 0;
    while out.len() < bytes * 2 {
        out.push_str(&format!(
            "{:016x}",
            mix(seed.wrapping_mul(31).wrapping_add(word))
        ));
        word += 1;
    }
    out.truncate(bytes * 2);
    out
}

/// A unique (per run and index) version-4 uuid, canonical lower case: both halves are
/// bijections of the index, so no two indexes of a run share a uuid.
fn uuid_for(run: u64, index: u64) -> String {
    let high = mix(run ^ index.rotate_left(17));
    let low = mix(index ^ run.rotate_left(29));
    let bytes = ((u128::from(high) << 64) | u128::from(low)).to_be_bytes();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// Synthetic attribute number `index` of the run.
fn synthetic(run: u64, index: u64) -> Attribute {
    let network = "Network activity";
    let payload = "Payload delivery";
    let (attr_type, category, value1, value2) = match index % 6 {
        0 => (
            "ip-dst",
            network,
            format!(
                "{}.{}.{}.{}",
                1 + (index >> 24) % 223,
                (index >> 16) & 255,
                (index >> 8) & 255,
                index & 255
            ),
            String::new(),
        ),
        1 => (
            "domain",
            network,
            format!("host{index}.example{}.com", index % 97),
            String::new(),
        ),
        2 => (
            "url",
            network,
            format!(
                "https://cdn{}.example.net/payload/{index}/{}.php?id={}",
                index % 13,
                hex_digest(index, 4),
                index * 7
            ),
            String::new(),
        ),
        3 => ("md5", payload, hex_digest(index, 16), String::new()),
        4 => ("sha256", payload, hex_digest(index, 32), String::new()),
        _ => (
            "filename|sha256",
            payload,
            format!("invoice_{index}.exe"),
            hex_digest(index ^ 0xabcdef, 32),
        ),
    };
    let mut attribute = Attribute::new(
        uuid_for(run, index),
        attr_type.to_string(),
        category.to_string(),
        value1,
        value2,
    );
    attribute.to_ids = !index.is_multiple_of(10);
    attribute.timestamp = NOW;
    attribute.distribution = Distribution::InheritEvent;
    attribute
}

struct Outcome {
    inserted: usize,
    elapsed: Duration,
    slowest_batch: Duration,
    first_batch: Duration,
    last_batch: Duration,
}

async fn run(store: &Store, total: usize, batch: usize) -> Outcome {
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
        .expect("create org");
    let event = Event::new(
        uuid::Uuid::new_v4().to_string(),
        "bulk insert benchmark".into(),
        date!(2024 - 01 - 01),
        org.id,
        NOW,
    );
    let event_id = store
        .insert_event(&event, false)
        .await
        .expect("create event");
    let run_seed = u64::from(rand_seed());
    let mut elapsed = Duration::ZERO;
    let mut slowest_batch = Duration::ZERO;
    let mut first_batch = Duration::ZERO;
    let mut last_batch = Duration::ZERO;
    let mut start = 0;
    while start < total {
        let end = (start + batch).min(total);
        let attributes: Vec<Attribute> = (start..end)
            .map(|index| synthetic(run_seed, index as u64))
            .collect();
        let began = Instant::now();
        store
            .bulk_insert_attributes(event_id, &attributes, NOW + 1)
            .await
            .expect("bulk insert");
        let took = began.elapsed();
        if start == 0 {
            first_batch = took;
        }
        last_batch = took;
        slowest_batch = slowest_batch.max(took);
        elapsed += took;
        start = end;
    }
    let stored = store
        .event_meta(&Key::Id(event_id))
        .await
        .expect("event")
        .attribute_count;
    assert_eq!(stored, total as i64, "attribute_count after the run");
    if total <= 10_000 {
        let loaded = store
            .event(&Key::Id(event_id), &LoadOptions::default())
            .await
            .expect("load");
        assert_eq!(loaded.attributes.len(), total);
    }
    Outcome {
        inserted: total,
        elapsed,
        slowest_batch,
        first_batch,
        last_batch,
    }
}

fn rand_seed() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id()
}

/// 1234567.8 → "1,234,568".
fn grouped(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn report(backend: &str, batch: usize, outcome: &Outcome) {
    let seconds = outcome.elapsed.as_secs_f64();
    println!(
        "{backend}: {} attributes in {seconds:.2} s = {} attributes/s \
         (batch {}; first batch {:.0} ms, last {:.0} ms, slowest {:.0} ms)",
        outcome.inserted,
        grouped(outcome.inserted as f64 / seconds),
        grouped(batch as f64),
        outcome.first_batch.as_secs_f64() * 1e3,
        outcome.last_batch.as_secs_f64() * 1e3,
        outcome.slowest_batch.as_secs_f64() * 1e3,
    );
}

/// The engine's own ceiling for comparison: the same schema, batch sizes and random uuids, but
/// rows generated inside SQLite (`INSERT … SELECT` over a recursive CTE), so no driver, no
/// binding and no Rust at all is in the timed path.
async fn bench_sqlite_engine(total: usize, batch: usize) {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    use std::str::FromStr;
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("engine.db").display());
    let store = Store::connect(&url).await.expect("open SQLite store");
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
        .expect("create org");
    let event = Event::new(
        uuid::Uuid::new_v4().to_string(),
        "engine ceiling".into(),
        date!(2024 - 01 - 01),
        org.id,
        NOW,
    );
    let event_id = store.insert_event(&event, false).await.expect("event");
    store.close().await;
    let options = SqliteConnectOptions::from_str(&url)
        .expect("url")
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .pragma("cache_size", "-65536");
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("connect");
    let random_uuid = "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || \
         substr(lower(hex(randomblob(2))), 2) || '-a' || substr(lower(hex(randomblob(2))), 2) || \
         '-' || lower(hex(randomblob(6)))";
    let mut elapsed = Duration::ZERO;
    let mut start = 0;
    while start < total {
        let rows = batch.min(total - start);
        let sql = format!(
            "INSERT INTO attributes (uuid, event_id, object_id, category, type, value1, value2, \
             to_ids, comment, distribution, sharing_group_id, timestamp) \
             WITH RECURSIVE s(i) AS (SELECT {start} UNION ALL SELECT i + 1 FROM s WHERE i < {last}) \
             SELECT {random_uuid}, {event_id}, 0, 'Network activity', 'ip-dst', \
             '10.' || (i / 65536 % 256) || '.' || (i / 256 % 256) || '.' || (i % 256), '', 1, '', \
             5, 0, {NOW} FROM s",
            last = start + rows - 1,
        );
        let began = Instant::now();
        let mut tx = conn.begin().await.expect("begin");
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .expect("engine insert");
        tx.commit().await.expect("commit");
        elapsed += began.elapsed();
        start += rows;
    }
    let _ = conn.close().await;
    println!(
        "sqlite engine alone (rows generated in SQL, same schema): {total} attributes in {:.2} s \
         = {} attributes/s (batch {})",
        elapsed.as_secs_f64(),
        grouped(total as f64 / elapsed.as_secs_f64()),
        grouped(batch as f64),
    );
}

async fn bench_sqlite(total: usize, batch: usize) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::connect(&url).await.expect("open SQLite store");
    let outcome = run(&store, total, batch).await;
    store.close().await;
    report("sqlite", batch, &outcome);
}

fn pg_base_url() -> Option<String> {
    ["KIZUNA_BENCH_PG_URL", "KIZUNA_TEST_PG_URL"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|url| !url.trim().is_empty())
}

/// `base` with its database name replaced by `database` (query string kept).
fn with_database(base: &str, database: &str) -> String {
    let (without_query, query) = match base.find('?') {
        Some(at) => (&base[..at], &base[at..]),
        None => (base, ""),
    };
    let authority_start = without_query.find("://").map_or(0, |at| at + 3);
    let root = match without_query[authority_start..].find('/') {
        Some(slash) => &without_query[..authority_start + slash],
        None => without_query,
    };
    format!("{root}/{database}{query}")
}

async fn bench_postgres(base: &str, total: usize, batch: usize) {
    let name = format!("kz_bench_{}_{:08x}", std::process::id(), rand_seed());
    let mut admin = PgConnection::connect(base)
        .await
        .expect("connect to the PostgreSQL server");
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create the benchmark database");
    let store = Store::connect(&with_database(base, &name))
        .await
        .expect("open PostgreSQL store");
    let outcome = run(&store, total, batch).await;
    store.close().await;
    if let Err(error) = sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    {
        eprintln!("warning: could not drop {name}: {error}");
    }
    let _ = admin.close().await;
    report("postgres", batch, &outcome);
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: keep that quick.
    let args: Vec<String> = std::env::args().collect();
    let benching = args.iter().any(|arg| arg == "--bench");
    let total = env_usize("KIZUNA_BENCH_ATTRIBUTES").unwrap_or(if benching {
        DEFAULT_ATTRIBUTES
    } else {
        2_000
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        for batch in batch_sizes() {
            bench_sqlite(total, batch).await;
            bench_sqlite_engine(total, batch).await;
        }
        match pg_base_url() {
            Some(base) => {
                for batch in batch_sizes() {
                    bench_postgres(&base, total, batch).await;
                }
            }
            None => eprintln!(
                "postgres: skipped (set KIZUNA_BENCH_PG_URL or KIZUNA_TEST_PG_URL to run it)"
            ),
        }
    });
}

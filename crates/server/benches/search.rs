//! restSearch and correlation at scale (issue 3): synthetic attributes loaded into SQLite and
//! PostgreSQL, then queried through the whole app in-process (tower `oneshot`, no socket).
//!
//!     cargo bench -p kizuna-server --bench search
//!
//! Per backend it prints: load throughput; restSearch by exact value (p50/p99/max); by tag and
//! event date range with paging, attribute and event scope; a text and a csv export of up to
//! 1,000,000 attributes (attributes/s, peak RSS of the process); and, on a separate database of
//! 1,300,000 attributes, the correlation "build" (Kizuna stores no correlation pairs: it is the
//! rebuild of the value indexes correlations read) and a correlation pass over every event.
//!
//! SQLite runs in a temporary directory. PostgreSQL runs when `KIZUNA_BENCH_PG_URL` or
//! `KIZUNA_TEST_PG_URL` names a server: a throwaway database is created in it and dropped
//! afterwards. Environment (numbers may be written 10_000_000 or 10,000,000):
//!
//!   KIZUNA_BENCH_SEARCH_ATTRIBUTES=N              search database size (default 10,000,000)
//!   KIZUNA_BENCH_SEARCH_EVENTS=N                  events holding them (default 100,000)
//!   KIZUNA_BENCH_SEARCH_CORRELATION_ATTRIBUTES=N  correlation database size (default
//!                                                 1,300,000; events in the same proportion)
//!   KIZUNA_BENCH_SEARCH_CORRELATION_PASS_EVENTS=N time the correlation pass over the first
//!                                                 N events only and project the whole
//!                                                 pass from them (default all)
//!   KIZUNA_BENCH_SEARCH_CIDR_PER_MILLION=N        ip-dst attributes written as /24 blocks,
//!                                                 per million ip-dst (default 0)
//!   KIZUNA_BENCH_SEARCH_BACKENDS=sqlite,postgres  which backends (default both)
//!   KIZUNA_BENCH_SEARCH_KEEP=1                    keep the databases (their URLs are
//!                                                 printed) to look at query plans
//!
//! Run without `--bench` (`cargo test --benches`) it loads a few thousand attributes only.
//!
//! After loading, PostgreSQL gets the `VACUUM ANALYZE` its autovacuum would run on a table of
//! that size anyway (otherwise it runs in the middle of the measurements); SQLite gets
//! nothing, as Kizuna runs no ANALYZE there.
//!
//! The data: events spread over two years of `date`, one in three published, each with one
//! TLP tag and every other one a threat-actor galaxy tag; about as many attributes per event
//! (attributes / events); a type mix of network indicators, hashes, filename|sha256 and
//! email-src; one attribute in ten takes its value from a shared pool of 50,000 values, so
//! values repeat across events and correlate; the others are unique.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use kizuna_model::access::Viewer;
use kizuna_model::correlation::DEFAULT_CORRELATION_LIMIT;
use kizuna_model::{AttachedTag, Attribute, Distribution, Event, Organisation, Tag};
use kizuna_server::{AppState, ServerSettings, app, bootstrap};
use kizuna_store::{Key, LoadOptions, Store};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};
use std::time::{Duration, Instant};
use tower::ServiceExt;

const NOW: i64 = 1_700_000_000;
/// Seeds of the two databases of a backend: their uuids must not meet.
const SEARCH_RUN: u64 = 0x5ea7_c400;
const CORRELATION_RUN: u64 = 0xc022_e1a7;
/// Shared values of a full run; a smoke run uses a few so that something correlates.
const POOL_SIZE: u64 = 50_000;
const SMOKE_POOL_SIZE: u64 = 100;
/// One attribute in this many takes a pool value.
const POOL_EVERY: u64 = 10;
/// Event `date`s run over this many days from FIRST_DAY.
const DATE_SPAN_DAYS: u64 = 730;
const FIRST_DAY: time::Date = time::macros::date!(2023 - 01 - 01);
/// The tag + date range query: about an eighth of the span, about a third of the events.
const RANGE_TAG: &str = "tlp:amber";
const RANGE_FROM: &str = "2024-01-01";
const RANGE_TO: &str = "2024-03-31";
const TLP_TAGS: [&str; 4] = ["tlp:green", "tlp:amber", "tlp:white", "tlp:red"];
const THREAT_ACTORS: [&str; 5] = ["APT 28", "Lazarus Group", "FIN7", "Sandworm", "Turla"];
const WORDS: [&str; 12] = [
    "update", "cdn", "secure", "login", "mail", "static", "files", "portal", "api", "docs",
    "billing", "invoice",
];
const TLDS: [&str; 6] = ["com", "net", "org", "info", "ru", "xyz"];

struct Sizes {
    attributes: u64,
    events: u64,
    correlation_attributes: u64,
    correlation_events: u64,
    correlation_pass_events: u64,
    cidr_per_million: u64,
    pool: u64,
    value_requests: usize,
    /// Repetitions of each paged query.
    page_repeats: usize,
    export_attributes: u64,
}

impl Sizes {
    fn from_env(benching: bool) -> Sizes {
        let pick = |name: &str, full: u64, smoke: u64| {
            if !benching {
                return smoke;
            }
            match env_number(name) {
                Some(0) => panic!("{name} must be positive"),
                Some(number) => number,
                None => full,
            }
        };
        let attributes = pick("KIZUNA_BENCH_SEARCH_ATTRIBUTES", 10_000_000, 4_000);
        let events = pick("KIZUNA_BENCH_SEARCH_EVENTS", 100_000, 200).min(attributes);
        let correlation_attributes = pick(
            "KIZUNA_BENCH_SEARCH_CORRELATION_ATTRIBUTES",
            1_300_000,
            2_000,
        );
        let correlation_events = (correlation_attributes * events / attributes).max(1);
        Sizes {
            attributes,
            events,
            correlation_attributes,
            correlation_events,
            correlation_pass_events: pick(
                "KIZUNA_BENCH_SEARCH_CORRELATION_PASS_EVENTS",
                correlation_events,
                correlation_events,
            )
            .min(correlation_events),
            cidr_per_million: if benching {
                env_number("KIZUNA_BENCH_SEARCH_CIDR_PER_MILLION").map_or(0, |n| n.min(1_000_000))
            } else {
                0
            },
            pool: if benching { POOL_SIZE } else { SMOKE_POOL_SIZE },
            value_requests: if benching { 1_000 } else { 50 },
            page_repeats: if benching { 10 } else { 2 },
            export_attributes: attributes.min(1_000_000),
        }
    }
}

/// A number from the environment, `_` and `,` allowed as separators.
fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let cleaned: String = value.chars().filter(|c| *c != '_' && *c != ',').collect();
    match cleaned.parse() {
        Ok(number) => Some(number),
        _ => panic!("{name}={value:?} is not a number"),
    }
}

/// splitmix64: cheap, deterministic pseudo-random bits.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn hex_digest(seed: u64, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2 + 16);
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

/// A version-4 uuid, distinct for distinct (run, index).
fn uuid_for(run: u64, index: u64) -> String {
    let high = mix(run ^ index.rotate_left(17));
    let low = mix(index ^ run.rotate_left(29));
    let bytes = ((u128::from(high) << 64) | u128::from(low)).to_be_bytes();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// Where an attribute's value comes from: its own (unique) or the shared pool.
#[derive(Clone, Copy)]
enum Source {
    Unique(u64),
    Pool(u64),
}

impl Source {
    /// Distinct sources get distinct tokens (splitmix64 is a bijection), so unique values
    /// never meet pool values or each other.
    fn token(self) -> u64 {
        match self {
            Source::Unique(index) => mix(index * 2),
            Source::Pool(index) => mix(index * 2 + 1),
        }
    }
}

struct Indicator {
    attr_type: &'static str,
    category: &'static str,
    value1: String,
    value2: String,
}

/// The type and value of a source. Shares: ip-dst 20 %, ip-src 8 %, domain 15 %, hostname
/// 8 %, url 15 %, md5 10 %, sha1 5 %, sha256 10 %, filename|sha256 5 %, email-src 4 %.
fn indicator(source: Source, cidr_per_million: u64) -> Indicator {
    let token = source.token();
    let pick = mix(token ^ 0x7e57);
    let word = WORDS[(pick >> 8) as usize % WORDS.len()];
    let tld = TLDS[(pick >> 16) as usize % TLDS.len()];
    let network = "Network activity";
    let payload = "Payload delivery";
    let ip = |cidr: bool| {
        let address = (token >> 32) as u32 ^ token as u32;
        let [a, b, c, d] = address.to_be_bytes();
        if cidr {
            format!("{a}.{b}.{c}.0/24")
        } else {
            format!("{a}.{b}.{c}.{d}")
        }
    };
    let one = |attr_type, category, value1: String| Indicator {
        attr_type,
        category,
        value1,
        value2: String::new(),
    };
    match pick % 100 {
        0..20 => one(
            "ip-dst",
            network,
            ip((pick >> 24) % 1_000_000 < cidr_per_million),
        ),
        20..28 => one("ip-src", network, ip(false)),
        28..43 => one("domain", network, format!("{word}-{token:016x}.{tld}")),
        43..51 => one("hostname", network, format!("{word}.h{token:016x}.{tld}")),
        51..66 => one(
            "url",
            network,
            format!(
                "https://{word}{:x}.{tld}/{}/{token:016x}.php?id={}",
                token >> 48,
                WORDS[(pick >> 32) as usize % WORDS.len()],
                (pick >> 40) % 10_000
            ),
        ),
        66..76 => one("md5", payload, hex_digest(token, 16)),
        76..81 => one("sha1", payload, hex_digest(token, 20)),
        81..91 => one("sha256", payload, hex_digest(token, 32)),
        91..96 => Indicator {
            attr_type: "filename|sha256",
            category: payload,
            value1: format!("{word}_{token:016x}.exe"),
            value2: hex_digest(token, 32),
        },
        _ => one(
            "email-src",
            payload,
            format!("{word}.{token:016x}@mail-{tld}.example"),
        ),
    }
}

/// The synthetic data of one database.
#[derive(Clone, Copy)]
struct Dataset {
    run: u64,
    attributes: u64,
    events: u64,
    cidr_per_million: u64,
    pool: u64,
}

impl Dataset {
    fn source(&self, index: u64) -> Source {
        let draw = mix(self.run ^ index.wrapping_mul(0x2545_f491_4f6c_dd1d));
        if draw.is_multiple_of(POOL_EVERY) {
            Source::Pool((draw >> 16) % self.pool)
        } else {
            Source::Unique(index)
        }
    }

    /// Attribute indexes of event `number`: consecutive, about attributes / events each.
    fn event_range(&self, number: u64) -> std::ops::Range<u64> {
        let start = number * self.attributes / self.events;
        let end = (number + 1) * self.attributes / self.events;
        start..end
    }

    fn attribute(&self, index: u64) -> Attribute {
        let found = indicator(self.source(index), self.cidr_per_million);
        let mut attribute = Attribute::new(
            uuid_for(self.run, index),
            found.attr_type.to_string(),
            found.category.to_string(),
            found.value1,
            found.value2,
        );
        attribute.to_ids = !mix(index ^ 0x1d5).is_multiple_of(5);
        attribute.timestamp = NOW;
        attribute.distribution = Distribution::InheritEvent;
        attribute
    }

    fn event(&self, number: u64, org_id: i64) -> Event {
        let draw = mix(self.run ^ number.wrapping_mul(0x9e37_79b9));
        let day = FIRST_DAY + time::Duration::days(((draw >> 8) % DATE_SPAN_DAYS) as i64);
        let mut event = Event::new(
            uuid_for(self.run ^ 0xe7e7, number),
            format!("Synthetic campaign {number}"),
            day,
            org_id,
            NOW,
        );
        event.distribution = Distribution::AllCommunities;
        let tlp = match draw % 10 {
            0..4 => TLP_TAGS[0],
            4..7 => TLP_TAGS[1],
            7..9 => TLP_TAGS[2],
            _ => TLP_TAGS[3],
        };
        event.tags.push(attached(tlp));
        if (draw >> 40).is_multiple_of(2) {
            let actor = THREAT_ACTORS[(draw >> 44) as usize % THREAT_ACTORS.len()];
            event
                .tags
                .push(attached(&format!("misp-galaxy:threat-actor=\"{actor}\"")));
        }
        event
    }
}

fn attached(name: &str) -> AttachedTag {
    AttachedTag {
        tag: Tag {
            name: name.to_string(),
            colour: "#336699".into(),
            exportable: true,
            is_galaxy: name.starts_with("misp-galaxy:"),
            ..Tag::default()
        },
        local: false,
        relationship_type: None,
    }
}

struct Loaded {
    event_ids: Vec<i64>,
    elapsed: Duration,
    event_time: Duration,
    attribute_time: Duration,
}

/// Loads the dataset: each event through `insert_event`, its attributes through one
/// `bulk_insert_attributes`, one event in three published afterwards (bulk inserts unpublish).
async fn load(label: &str, store: &Store, data: &Dataset) -> Loaded {
    let org = store
        .create_org(&Organisation {
            uuid: uuid_for(data.run ^ 0x0e9, 0),
            name: format!("Synthetic feeds {:x}", data.run),
            local: true,
            date_created: NOW,
            date_modified: NOW,
            ..Organisation::default()
        })
        .await
        .expect("create org");
    let started = Instant::now();
    let mut event_time = Duration::ZERO;
    let mut attribute_time = Duration::ZERO;
    let mut event_ids = Vec::with_capacity(data.events as usize);
    let mut next_report = data.events / 10;
    for number in 0..data.events {
        let event = data.event(number, org.id);
        let began = Instant::now();
        let event_id = store
            .insert_event(&event, true)
            .await
            .expect("insert event");
        event_time += began.elapsed();
        let attributes: Vec<Attribute> = data
            .event_range(number)
            .map(|index| data.attribute(index))
            .collect();
        let began = Instant::now();
        store
            .bulk_insert_attributes(event_id, &attributes, NOW + 1)
            .await
            .expect("bulk insert");
        if number.is_multiple_of(3) {
            store
                .set_published(event_id, true, NOW + 2)
                .await
                .expect("publish");
        }
        attribute_time += began.elapsed();
        event_ids.push(event_id);
        if number + 1 == next_report && data.events >= 1_000 {
            let done = data.event_range(number).end;
            eprintln!(
                "  {label}: loaded {} events, {} attributes, {:.0} s, {} attributes/s so far",
                grouped((number + 1) as f64),
                grouped(done as f64),
                started.elapsed().as_secs_f64(),
                grouped(done as f64 / started.elapsed().as_secs_f64()),
            );
            next_report += data.events / 10;
        }
    }
    Loaded {
        event_ids,
        elapsed: started.elapsed(),
        event_time,
        attribute_time,
    }
}

fn print_load(data: &Dataset, loaded: &Loaded) {
    let seconds = loaded.elapsed.as_secs_f64();
    println!(
        "  load: {} events + {} attributes in {seconds:.1} s = {} attributes/s, {} events/s \
         (insert_event {:.1} s, bulk_insert_attributes + publish {:.1} s, generation {:.1} s)",
        grouped(data.events as f64),
        grouped(data.attributes as f64),
        grouped(data.attributes as f64 / seconds),
        grouped(data.events as f64 / seconds),
        loaded.event_time.as_secs_f64(),
        loaded.attribute_time.as_secs_f64(),
        (loaded.elapsed - loaded.event_time - loaded.attribute_time).as_secs_f64(),
    );
}

/// The app with a site admin's key.
struct Api {
    app: Router,
    key: String,
}

struct Reply {
    status: StatusCode,
    result_count: Option<u64>,
    body: Body,
}

impl Api {
    async fn start(store: &Store) -> Api {
        let key = bootstrap::create_first_admin(store, "BENCH", "admin@bench.test", NOW)
            .await
            .expect("the first admin");
        let app = app(AppState::new(
            store.clone(),
            ServerSettings {
                base_url: "http://bench.invalid".into(),
                ..ServerSettings::default()
            },
        ));
        Api { app, key }
    }

    async fn post(&self, path: &str, body: &Value) -> Reply {
        let request = Request::post(path)
            .header("authorization", &self.key)
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("a request");
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let result_count = response
            .headers()
            .get("x-result-count")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        Reply {
            status: response.status(),
            result_count,
            body: response.into_body(),
        }
    }

    /// Posts and reads the whole body; returns the time taken, the body and X-Result-Count.
    async fn timed(&self, path: &str, body: &Value) -> (Duration, Vec<u8>, Option<u64>) {
        let began = Instant::now();
        let reply = self.post(path, body).await;
        let bytes = reply
            .body
            .collect()
            .await
            .expect("a body")
            .to_bytes()
            .to_vec();
        let took = began.elapsed();
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{path} {body}: {}",
            String::from_utf8_lossy(&bytes)
        );
        (took, bytes, reply.result_count)
    }
}

/// Nearest-rank percentiles of a sample.
struct Latencies {
    sorted: Vec<Duration>,
}

impl Latencies {
    fn new(mut sample: Vec<Duration>) -> Latencies {
        sample.sort_unstable();
        Latencies { sorted: sample }
    }

    fn percentile(&self, percent: usize) -> f64 {
        if self.sorted.is_empty() {
            return 0.0;
        }
        let rank = (self.sorted.len() * percent).div_ceil(100).max(1);
        self.sorted[rank - 1].as_secs_f64() * 1e3
    }

    fn summary(&self) -> String {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} requests)",
            self.percentile(50),
            self.percentile(99),
            self.percentile(100),
            self.sorted.len()
        )
    }
}

/// The search values: existing ones, half from the pool (repeated across events), half
/// unique; for filename|sha256 either half.
fn search_values(data: &Dataset, count: usize) -> Vec<(bool, String)> {
    let mut values = Vec::with_capacity(count);
    let mut draw = 0u64;
    while values.len() < count {
        draw += 1;
        let index = mix(draw ^ 0x5ea_4c4) % data.attributes;
        let source = data.source(index);
        let wants_pool = values.len().is_multiple_of(2);
        // A tiny dataset may hold few pool values: take what comes after a while.
        if matches!(source, Source::Pool(_)) != wants_pool && draw < 100 * count as u64 {
            continue;
        }
        let from_pool = matches!(source, Source::Pool(_));
        let found = indicator(source, data.cidr_per_million);
        let value = if !found.value2.is_empty() && draw.is_multiple_of(2) {
            found.value2
        } else {
            found.value1
        };
        values.push((from_pool, value));
    }
    values
}

async fn bench_value_search(api: &Api, data: &Dataset, requests: usize) {
    let mut all = Vec::new();
    let mut pool = Vec::new();
    let mut unique = Vec::new();
    let mut hits = 0u64;
    for (from_pool, value) in search_values(data, requests) {
        let (took, _, count) = api
            .timed("/attributes/restSearch", &json!({ "value": value }))
            .await;
        let count = count.unwrap_or(0);
        assert!(count >= 1, "no attribute found for {value:?}");
        hits += count;
        all.push(took);
        if from_pool {
            pool.push(took);
        } else {
            unique.push(took);
        }
    }
    println!(
        "  restSearch exact value (attributes, json): {}; {:.1} attributes per answer",
        Latencies::new(all).summary(),
        hits as f64 / requests as f64
    );
    println!("    pool values: {}", Latencies::new(pool).summary());
    println!("    unique values: {}", Latencies::new(unique).summary());
}

async fn bench_paging(api: &Api, repeats: usize) {
    let filter = json!({ "tags": RANGE_TAG, "from": RANGE_FROM, "to": RANGE_TO });
    let (count_time, body, _) = api
        .timed(
            "/attributes/restSearch",
            &merged(&filter, json!({ "returnFormat": "count" })),
        )
        .await;
    let attribute_total = serde_json::from_slice::<Value>(&body).expect("JSON")["count"]
        .as_u64()
        .unwrap_or(0);
    let (event_count_time, body, _) = api
        .timed(
            "/events/restSearch",
            &merged(&filter, json!({ "returnFormat": "count" })),
        )
        .await;
    let event_total = serde_json::from_slice::<Value>(&body).expect("JSON")["count"]
        .as_u64()
        .unwrap_or(0);
    println!(
        "  restSearch tags={RANGE_TAG} from={RANGE_FROM} to={RANGE_TO}: {} attributes \
         (count {:.1} ms), {} events (count {:.1} ms)",
        grouped(attribute_total as f64),
        count_time.as_secs_f64() * 1e3,
        grouped(event_total as f64),
        event_count_time.as_secs_f64() * 1e3,
    );
    for (path, scope, limit, pages) in [
        (
            "/attributes/restSearch",
            "attributes",
            100u64,
            &[1u64, 2, 10, 100, 1_000][..],
        ),
        ("/events/restSearch", "events", 10, &[1, 2, 10, 100][..]),
    ] {
        let total = if scope == "events" {
            event_total
        } else {
            attribute_total
        };
        let mut all = Vec::new();
        let mut per_page = Vec::new();
        for &page in pages {
            if (page - 1) * limit >= total {
                continue;
            }
            let body = merged(&filter, json!({ "limit": limit, "page": page }));
            let mut sample = Vec::new();
            for _ in 0..repeats {
                let (took, _, count) = api.timed(path, &body).await;
                assert!(count.unwrap_or(0) >= 1, "{path} page {page}: nothing");
                sample.push(took);
            }
            all.extend(sample.iter().copied());
            per_page.push(format!(
                "page {page}: p50 {:.1} ms",
                Latencies::new(sample).percentile(50)
            ));
        }
        println!(
            "    {scope}, limit {limit}, json: {}",
            Latencies::new(all).summary()
        );
        println!("      {}", per_page.join(", "));
    }
}

fn merged(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Value::Object(out), Value::Object(extra)) = (&mut out, extra) {
        out.extend(extra);
    }
    out
}

/// A `/proc/self/status` field in kB.
fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|line| line.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn bench_export(api: &Api, attributes: u64) {
    for format in ["text", "csv"] {
        let body = json!({
            "returnFormat": format,
            "limit": attributes,
            "to_ids": [0, 1],
            "published": [0, 1],
        });
        let rss_before = proc_status_kb("VmRSS:").unwrap_or(0);
        // "5" resets the peak (VmHWM) to the current RSS, so the peak below is this export's.
        let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let began = Instant::now();
        let reply = api.post("/attributes/restSearch", &body).await;
        assert_eq!(reply.status, StatusCode::OK, "{format} export");
        // Read frame by frame without keeping them: the figure is the server side's memory.
        let mut body = reply.body;
        let (mut bytes, mut lines) = (0u64, 0u64);
        let mut first_byte = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.expect("a body frame");
            if let Some(data) = frame.data_ref() {
                first_byte.get_or_insert_with(|| began.elapsed());
                bytes += data.len() as u64;
                lines += data.iter().filter(|byte| **byte == b'\n').count() as u64;
            }
        }
        let seconds = began.elapsed().as_secs_f64();
        let peak = proc_status_kb("VmHWM:").unwrap_or(0);
        println!(
            "  export {format}: {} attributes in {seconds:.2} s = {} attributes/s, {:.1} MB \
             ({} lines), first byte after {:.0} ms; RSS before {:.0} MB, peak {:.0} MB{}",
            grouped(attributes as f64),
            grouped(attributes as f64 / seconds),
            bytes as f64 / 1e6,
            grouped(lines as f64),
            first_byte.unwrap_or_default().as_secs_f64() * 1e3,
            rss_before as f64 / 1024.0,
            peak as f64 / 1024.0,
            if peak_reset {
                ""
            } else {
                " (peak since start: /proc/self/clear_refs not writable)"
            },
        );
    }
}

/// Index entries behind correlations and any correlation table, read through a connection
/// of its own.
async fn correlation_storage(target: &Target) -> String {
    match target {
        Target::Sqlite { url, .. } => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
            let (attributes, composites): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(*), COUNT(*) FILTER (WHERE value2 <> '') FROM attributes",
            )
            .fetch_one(&mut conn)
            .await
            .expect("count");
            let (tables,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name LIKE '%correlation%'",
            )
            .fetch_one(&mut conn)
            .await
            .expect("tables");
            let _ = conn.close().await;
            format!(
                "{tables} correlation tables; value index entries {} (value1) + {} (value2) \
                 = {:.2} per attribute",
                grouped(attributes as f64),
                grouped(composites as f64),
                (attributes + composites) as f64 / attributes.max(1) as f64
            )
        }
        Target::Postgres { url, .. } => {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            let (attributes, composites): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(*), COUNT(*) FILTER (WHERE value2 <> '') FROM attributes",
            )
            .fetch_one(&mut conn)
            .await
            .expect("count");
            let (tables,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name LIKE '%correlation%'",
            )
            .fetch_one(&mut conn)
            .await
            .expect("tables");
            let (value1_bytes, value2_bytes, table_bytes): (i64, i64, i64) = sqlx::query_as(
                "SELECT pg_relation_size('attributes_value1'), \
                 pg_relation_size('attributes_value2'), pg_relation_size('attributes')",
            )
            .fetch_one(&mut conn)
            .await
            .expect("sizes");
            let _ = conn.close().await;
            format!(
                "{tables} correlation tables; value index entries {} (value1) + {} (value2) \
                 = {:.2} per attribute; index sizes {:.0} MB + {:.0} MB (table {:.0} MB)",
                grouped(attributes as f64),
                grouped(composites as f64),
                (attributes + composites) as f64 / attributes.max(1) as f64,
                value1_bytes as f64 / 1e6,
                value2_bytes as f64 / 1e6,
                table_bytes as f64 / 1e6,
            )
        }
    }
}

/// PostgreSQL: the vacuum and statistics autovacuum would bring after a load this size, done
/// now rather than during the measurements.
async fn settle(target: &Target) {
    if let Target::Postgres { url, .. } = target {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        let began = Instant::now();
        sqlx::raw_sql("VACUUM ANALYZE")
            .execute(&mut conn)
            .await
            .expect("vacuum analyze");
        println!(
            "  VACUUM ANALYZE after the load: {:.1} s",
            began.elapsed().as_secs_f64()
        );
        let _ = conn.close().await;
    }
}

/// The correlation "build": rebuilding the two value indexes correlations are read through.
async fn reindex_values(target: &Target) -> Vec<(&'static str, Duration)> {
    let mut times = Vec::new();
    for index in ["attributes_value1", "attributes_value2"] {
        let began;
        match target {
            Target::Sqlite { url, .. } => {
                let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
                began = Instant::now();
                sqlx::raw_sql(AssertSqlSafe(format!("REINDEX {index}")))
                    .execute(&mut conn)
                    .await
                    .expect("reindex");
                times.push((index, began.elapsed()));
                let _ = conn.close().await;
            }
            Target::Postgres { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
                began = Instant::now();
                sqlx::raw_sql(AssertSqlSafe(format!("REINDEX INDEX {index}")))
                    .execute(&mut conn)
                    .await
                    .expect("reindex");
                times.push((index, began.elapsed()));
                let _ = conn.close().await;
            }
        }
    }
    times
}

async fn bench_correlations(target: &Target, store: &Store, loaded: &Loaded, pass_events: usize) {
    let reindexed = reindex_values(target).await;
    let build: Duration = reindexed.iter().map(|(_, took)| *took).sum();
    println!(
        "  correlation build (REINDEX of the value indexes): {:.2} s ({})",
        build.as_secs_f64(),
        reindexed
            .iter()
            .map(|(index, took)| format!("{index} {:.2} s", took.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  correlation storage: {}",
        correlation_storage(target).await
    );
    let mut load_time = Duration::ZERO;
    let mut per_event = Vec::with_capacity(loaded.event_ids.len());
    let (mut found, mut correlated_events, mut attributes) = (0usize, 0usize, 0usize);
    let began = Instant::now();
    let timed_ids = &loaded.event_ids[..pass_events.min(loaded.event_ids.len())];
    for (done, event_id) in timed_ids.iter().enumerate() {
        if timed_ids.len() >= 1_000 && done > 0 && done % (timed_ids.len() / 10) == 0 {
            eprintln!(
                "  correlation pass: {done} events, {:.0} s so far",
                began.elapsed().as_secs_f64()
            );
        }
        let loading = Instant::now();
        let event = store
            .event(&Key::Id(*event_id), &LoadOptions::default())
            .await
            .expect("load event");
        load_time += loading.elapsed();
        attributes += event.attributes.len();
        let correlating = Instant::now();
        let correlations = store
            .event_correlations(&event, &Viewer::SiteAdmin, DEFAULT_CORRELATION_LIMIT)
            .await
            .expect("correlations");
        per_event.push(correlating.elapsed());
        found += correlations.len();
        correlated_events += usize::from(!correlations.is_empty());
    }
    let total = began.elapsed();
    let correlating: Duration = per_event.iter().sum();
    let latencies = Latencies::new(per_event);
    let projection = if timed_ids.len() < loaded.event_ids.len() {
        format!(
            " [first {} of {} events timed; whole pass projected at {:.0} s]",
            grouped(timed_ids.len() as f64),
            grouped(loaded.event_ids.len() as f64),
            total.as_secs_f64() * loaded.event_ids.len() as f64 / timed_ids.len().max(1) as f64
        )
    } else {
        String::new()
    };
    println!(
        "  correlation pass over {} events / {} attributes: {:.1} s ({:.1} s loading events, \
         {:.1} s event_correlations = {} attributes/s); {} correlations, {} events with any; \
         per event p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms{projection}",
        grouped(timed_ids.len() as f64),
        grouped(attributes as f64),
        total.as_secs_f64(),
        load_time.as_secs_f64(),
        correlating.as_secs_f64(),
        grouped(attributes as f64 / correlating.as_secs_f64()),
        grouped(found as f64),
        grouped(correlated_events as f64),
        latencies.percentile(50),
        latencies.percentile(99),
        latencies.percentile(100),
    );
}

/// Where one database lives; dropped (PostgreSQL) or deleted (SQLite) with `close`.
enum Target {
    Sqlite {
        url: String,
        dir: tempfile::TempDir,
    },
    Postgres {
        url: String,
        base: String,
        name: String,
    },
}

impl Target {
    async fn create(backend: &str, label: &str) -> Target {
        match backend {
            "sqlite" => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!(
                    "sqlite://{}",
                    dir.path().join(format!("{label}.db")).display()
                );
                Target::Sqlite { url, dir }
            }
            _ => {
                let base = pg_base_url().expect("a PostgreSQL URL");
                let name = format!(
                    "kz_bench_{label}_{}_{:08x}",
                    std::process::id(),
                    rand_seed()
                );
                let mut admin = sqlx::PgConnection::connect(&base)
                    .await
                    .expect("connect to the PostgreSQL server");
                sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("create the benchmark database");
                let _ = admin.close().await;
                Target::Postgres {
                    url: with_database(&base, &name),
                    base,
                    name,
                }
            }
        }
    }

    fn url(&self) -> &str {
        match self {
            Target::Sqlite { url, .. } | Target::Postgres { url, .. } => url,
        }
    }

    async fn close(self) {
        if std::env::var_os("KIZUNA_BENCH_SEARCH_KEEP").is_some() {
            println!("  kept: {}", self.url());
            if let Target::Sqlite { dir, .. } = self {
                let _ = dir.keep();
            }
            return;
        }
        if let Target::Postgres { base, name, .. } = self {
            match sqlx::PgConnection::connect(&base).await {
                Ok(mut admin) => {
                    if let Err(error) = sqlx::raw_sql(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await
                    {
                        eprintln!("warning: could not drop {name}: {error}");
                    }
                    let _ = admin.close().await;
                }
                Err(error) => eprintln!("warning: could not drop {name}: {error}"),
            }
        }
    }
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

async fn bench_backend(backend: &str, sizes: &Sizes) {
    println!(
        "== {backend}: {} attributes in {} events (search), {} attributes in {} events \
         (correlation), {} CIDR blocks per million ip-dst",
        grouped(sizes.attributes as f64),
        grouped(sizes.events as f64),
        grouped(sizes.correlation_attributes as f64),
        grouped(sizes.correlation_events as f64),
        sizes.cidr_per_million,
    );
    let search_data = Dataset {
        run: SEARCH_RUN,
        attributes: sizes.attributes,
        events: sizes.events,
        cidr_per_million: sizes.cidr_per_million,
        pool: sizes.pool,
    };
    let target = Target::create(backend, "search").await;
    let store = Store::connect(target.url()).await.expect("open the store");
    let loaded = load(backend, &store, &search_data).await;
    print_load(&search_data, &loaded);
    settle(&target).await;
    let api = Api::start(&store).await;
    bench_value_search(&api, &search_data, sizes.value_requests).await;
    bench_paging(&api, sizes.page_repeats).await;
    bench_export(&api, sizes.export_attributes).await;
    drop(api);
    store.close().await;
    target.close().await;

    let correlation_data = Dataset {
        run: CORRELATION_RUN,
        attributes: sizes.correlation_attributes,
        events: sizes.correlation_events,
        cidr_per_million: sizes.cidr_per_million,
        pool: sizes.pool,
    };
    let target = Target::create(backend, "correlation").await;
    let store = Store::connect(target.url()).await.expect("open the store");
    let loaded = load(backend, &store, &correlation_data).await;
    println!(
        "  correlation database: {} events, {} attributes",
        grouped(correlation_data.events as f64),
        grouped(correlation_data.attributes as f64)
    );
    print_load(&correlation_data, &loaded);
    settle(&target).await;
    bench_correlations(
        &target,
        &store,
        &loaded,
        sizes.correlation_pass_events as usize,
    )
    .await;
    store.close().await;
    target.close().await;
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: keep that quick.
    let benching = std::env::args().any(|arg| arg == "--bench");
    let sizes = Sizes::from_env(benching);
    let backends =
        std::env::var("KIZUNA_BENCH_SEARCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        for backend in backends
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            match backend {
                "sqlite" => bench_backend("sqlite", &sizes).await,
                "postgres" if pg_base_url().is_some() => bench_backend("postgres", &sizes).await,
                "postgres" => println!(
                    "postgres: skipped (set KIZUNA_BENCH_PG_URL or KIZUNA_TEST_PG_URL to run it)"
                ),
                other => panic!(
                    "KIZUNA_BENCH_SEARCH_BACKENDS: unknown backend {other:?} (sqlite, postgres)"
                ),
            }
        }
    });
}

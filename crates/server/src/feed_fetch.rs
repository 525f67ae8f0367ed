//! Feeds in and out (misp-reference §5).
//!
//! In: a feed is read from an http(s) URL or, where the server allows it, a local path, and
//! what it holds becomes events through the one import path ([`crate::import`]). MISP feeds
//! are fetched incrementally: the manifest is requested with the validators of the last
//! fetch (`If-None-Match`, `If-Modified-Since`; size and modification time for local files),
//! and only events that are new here or newer in the feed are downloaded. csv and freetext
//! feeds are one document whose values go into a new event per fetch or into the feed's
//! fixed event. Every fetch records its outcome on the feed. [`spawn_feed_scheduler`] fetches
//! enabled feeds whose `fetch_interval` has passed.
//!
//! Out: the published events a caller may see, as a MISP feed (`manifest.json`,
//! `<uuid>.json`, `hashes.csv`), served under `/feeds/export/`.

use crate::AppState;
use crate::import::{ImportSettings, ImportSummary, ToIdsOverride, import_event, values_event};
use kizuna_formats::freetext::{DetectedValue, TldSet};
use kizuna_formats::misp::feed::{
    FeedRules, ManifestEntry, attribute_md5s, feed_event, manifest_entry, manifest_entry_of_event,
    parse_hashes, parse_lenient_json, parse_manifest, parse_values_feed, value_md5, write_manifest,
};
use kizuna_formats::misp::input::lenient_bool;
use kizuna_formats::report::Rejection;
use kizuna_model::Distribution;
use kizuna_model::access::Viewer;
use kizuna_model::feed::{Feed, FeedSourceFormat};
use kizuna_model::query::AttributeCriteria;
use kizuna_store::{
    EventStubCache, FeedCacheEntry, FeedEventMark, Key, LoadOptions, SearchCursor, Store,
    StoreError,
};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How often the scheduler looks for feeds that are due.
pub const SCHEDULER_TICK: Duration = Duration::from_secs(30);

/// Limits of feed fetching.
#[derive(Clone, Debug)]
pub struct FeedSettings {
    /// Feeds may read files on this machine (`input_source` local). MISP allows it unless
    /// `Security.disable_local_feed_access` is set; only site admins configure feeds.
    pub allow_local: bool,
    /// Largest document read (a manifest, an event file, a csv or freetext feed).
    pub max_document_bytes: u64,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            allow_local: true,
            max_document_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Feed fetching shared by every request and the scheduler: its settings and one lock per
/// feed, so that two fetches of the same feed never interleave.
#[derive(Debug)]
pub struct Feeds {
    pub settings: FeedSettings,
    running: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    tlds: OnceLock<TldSet>,
}

impl Feeds {
    pub fn new(settings: FeedSettings) -> Self {
        Self {
            settings,
            running: Mutex::new(HashMap::new()),
            tlds: OnceLock::new(),
        }
    }

    fn lock_for(&self, feed_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        running.entry(feed_id).or_default().clone()
    }

    fn tlds(&self) -> &TldSet {
        self.tlds
            .get_or_init(|| TldSet::new(kizuna_matcher::top_level_domains()))
    }
}

impl AppState {
    /// This state with `settings` for feed fetching instead of the defaults.
    pub fn with_feed_settings(mut self, settings: FeedSettings) -> Self {
        self.feeds = Arc::new(Feeds::new(settings));
        self
    }
}

/// Why a fetch could not run or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("Invalid feed.")]
    NotFound,
    /// Reading the feed or making sense of it failed; the text names the document and the
    /// problem.
    #[error("{0}")]
    Source(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The organisation and user a fetch saves events as (MISP: the user who asked, or the
/// user its scheduled job runs as).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedUser {
    pub org_id: i64,
    pub user_id: i64,
}

/// What one fetch did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FetchReport {
    pub source_format: Option<FeedSourceFormat>,
    /// The feed answered that nothing changed since the last fetch.
    pub not_modified: bool,
    /// Events added and updated, values added, items rejected (per file and line).
    pub import: ImportSummary,
    /// Manifest entries not downloaded: unchanged here, or already tried at this version.
    pub unchanged: u64,
    /// Manifest entries or events the feed's rules leave out.
    pub filtered: u64,
    /// Values of a fixed event soft-deleted because they left the feed (`delta_merge`).
    pub values_deleted: u64,
    /// The event a csv or freetext fetch wrote into.
    pub event_id: Option<i64>,
    /// A TAXII fetch: what it read, its rejections and the cursor of the next run.
    pub taxii: Option<String>,
}

impl FetchReport {
    /// MISP's message for a completed fetch, with what Kizuna counted.
    pub fn message(&self) -> String {
        let mut message = String::from("Fetching the feed has successfully completed.");
        if self.not_modified {
            message.push_str(" The feed has not changed since the last fetch.");
            return message;
        }
        let import = &self.import;
        match self.source_format {
            Some(FeedSourceFormat::Misp | FeedSourceFormat::Taxii) => {
                message.push_str(&format!(
                    " Downloaded {} new event(s). Updated {} event(s).",
                    import.events_added, import.events_updated
                ));
                if self.unchanged + import.events_unchanged > 0 {
                    message.push_str(&format!(
                        " {} event(s) unchanged.",
                        self.unchanged + import.events_unchanged
                    ));
                }
            }
            _ => {
                message.push_str(&format!(" Added {} value(s).", import.attributes_added));
                if self.values_deleted > 0 {
                    message.push_str(&format!(
                        " Deleted {} value(s) no longer in the feed.",
                        self.values_deleted
                    ));
                }
            }
        }
        if self.filtered > 0 {
            message.push_str(&format!(
                " {} event(s) left out by the feed rules.",
                self.filtered
            ));
        }
        if let Some(taxii) = &self.taxii {
            message.push(' ');
            message.push_str(taxii);
        } else if !import.rejected.is_empty() {
            message.push_str(&format!(
                " {} item(s) rejected, first: {}",
                import.rejected.len(),
                import.rejected[0]
            ));
        }
        message
    }

    pub fn to_json(&self) -> Value {
        let mut summary = self.import.to_json();
        summary["not_modified"] = json!(self.not_modified);
        summary["events_skipped"] = json!(self.unchanged);
        summary["events_filtered"] = json!(self.filtered);
        summary["values_deleted"] = json!(self.values_deleted);
        if let Some(event_id) = self.event_id {
            summary["event_id"] = json!(event_id.to_string());
        }
        summary
    }
}

/// Fetches one feed now, as `user`, and records the outcome on the feed (a failure too).
pub async fn fetch_feed(
    state: &AppState,
    feed_id: i64,
    user: FeedUser,
    now: i64,
) -> Result<FetchReport, FeedError> {
    let lock = state.feeds.lock_for(feed_id);
    let _running = lock.lock().await;
    let feed = match state.store.feed(feed_id).await {
        Ok(feed) => feed,
        Err(StoreError::NotFound) => return Err(FeedError::NotFound),
        Err(other) => return Err(other.into()),
    };
    let outcome = run_fetch(state, &feed, user, now).await;
    let mut recorded = feed.state.clone();
    recorded.last_fetch_at = now;
    match &outcome {
        Ok((report, validators)) => {
            if let Some(validators) = validators {
                recorded.etag = validators.etag.clone();
                recorded.last_modified = validators.last_modified.clone();
            }
            recorded.last_fetch_ok = true;
            recorded.last_fetch_result = report.message();
        }
        Err(error) => {
            recorded.last_fetch_ok = false;
            recorded.last_fetch_result = match error {
                FeedError::Store(store_error) => format!("database error: {store_error}"),
                other => other.to_string(),
            };
        }
    }
    match state.store.record_feed_fetch(feed.id, &recorded).await {
        // Deleted while it was being fetched: nothing to record on.
        Ok(()) | Err(StoreError::NotFound) => {}
        Err(store_error) => {
            tracing::warn!(feed = feed.id, %store_error, "cannot record the outcome of a feed fetch");
        }
    }
    outcome.map(|(report, _)| report)
}

async fn run_fetch(
    state: &AppState,
    feed: &Feed,
    user: FeedUser,
    now: i64,
) -> Result<(FetchReport, Option<Validators>), FeedError> {
    if feed.is_local() && !state.feeds.settings.allow_local {
        return Err(FeedError::Source(
            "local feeds are disabled on this server".into(),
        ));
    }
    match feed.source_format {
        FeedSourceFormat::Misp => fetch_misp_feed(state, feed, user, now).await,
        FeedSourceFormat::Csv | FeedSourceFormat::Freetext => {
            fetch_values_feed(state, feed, user, now).await
        }
        FeedSourceFormat::Taxii => fetch_taxii_feed(state, feed, user, now).await,
    }
}

/// Validators of a document: what to send back to learn whether it changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Validators {
    etag: String,
    last_modified: String,
}

/// The feed's main document (a MISP feed's manifest, a csv/freetext feed's list), asked
/// for conditionally with the validators of the last fetch.
async fn fetch_feed_document(
    state: &AppState,
    feed: &Feed,
    location: &Location,
) -> Result<Fetched, FeedError> {
    let known = Validators {
        etag: feed.state.etag.clone(),
        last_modified: feed.state.last_modified.clone(),
    };
    state
        .feeds
        .get(feed, location, Some(&known))
        .await
        .map_err(FeedError::Source)
}

enum Fetched {
    Fresh {
        bytes: Vec<u8>,
        validators: Validators,
    },
    NotModified,
}

/// Where a document of a feed is.
enum Location {
    File(PathBuf),
    Url(reqwest::Url),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(path) => write!(f, "{}", path.display()),
            Location::Url(url) => write!(f, "{}", kizuna_store::redact_url(url.as_str())),
        }
    }
}

/// The location of `name` inside a MISP feed folder, or of the feed's own document.
fn locate(feed: &Feed, name: Option<&str>) -> Result<Location, FeedError> {
    let base = feed.url.trim();
    if feed.is_local() {
        let base = base.strip_prefix("file://").unwrap_or(base);
        let path = PathBuf::from(base);
        return Ok(Location::File(match name {
            Some(name) => path.join(name),
            None => path,
        }));
    }
    let text = match name {
        Some(name) => format!("{}/{name}", base.trim_end_matches('/')),
        None => base.to_string(),
    };
    let url = reqwest::Url::parse(&text).map_err(|error| {
        FeedError::Source(format!(
            "{:?} is not a URL: {error}",
            kizuna_store::redact_url(&text)
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FeedError::Source(format!(
            "{} is not an http(s) URL",
            kizuna_store::redact_url(&text)
        )));
    }
    Ok(Location::Url(url))
}

/// `Name: value` lines of a feed's `headers` setting; lines that are not headers are skipped.
pub fn parse_header_lines(text: &str) -> Vec<Result<(String, String), String>> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let Some((name, value)) = line.split_once(':') else {
                return Err(format!("{line:?} is not a `Name: value` header"));
            };
            let name = name.trim();
            let value = value.trim();
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value).is_err()
            {
                return Err(format!("{name:?} is not a valid header"));
            }
            Ok((name.to_string(), value.to_string()))
        })
        .collect()
}

impl Feeds {
    /// Reads one document, conditionally when `validators` are given.
    async fn get(
        &self,
        feed: &Feed,
        location: &Location,
        validators: Option<&Validators>,
    ) -> Result<Fetched, String> {
        let limit = self.settings.max_document_bytes;
        match location {
            Location::File(path) => {
                let metadata = tokio::fs::metadata(path)
                    .await
                    .map_err(|error| format!("{}: {error}", path.display()))?;
                if !metadata.is_file() {
                    return Err(format!("{}: not a file", path.display()));
                }
                if metadata.len() > limit {
                    return Err(too_large(&path.display().to_string(), limit));
                }
                let modified = metadata
                    .modified()
                    .ok()
                    .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |since| since.as_nanos());
                let stamp = format!("{modified}:{}", metadata.len());
                if validators.is_some_and(|known| known.last_modified == stamp) {
                    return Ok(Fetched::NotModified);
                }
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|error| format!("{}: {error}", path.display()))?;
                Ok(Fetched::Fresh {
                    bytes,
                    validators: Validators {
                        etag: String::new(),
                        last_modified: stamp,
                    },
                })
            }
            Location::Url(url) => {
                let shown = location.to_string();
                let client = crate::http::client()?;
                let mut request = client.get(url.clone()).header(
                    reqwest::header::ACCEPT,
                    "application/json, text/plain, text/*",
                );
                for (name, value) in parse_header_lines(&feed.headers).into_iter().flatten() {
                    request = request.header(name, value);
                }
                if let Some(known) = validators {
                    if !known.etag.is_empty() {
                        request = request.header(reqwest::header::IF_NONE_MATCH, &known.etag);
                    }
                    if !known.last_modified.is_empty() {
                        request = request
                            .header(reqwest::header::IF_MODIFIED_SINCE, &known.last_modified);
                    }
                }
                let response = request
                    .send()
                    .await
                    .map_err(|error| format!("GET {shown}: {}", error.without_url()))?;
                let status = response.status();
                if status == reqwest::StatusCode::NOT_MODIFIED && validators.is_some() {
                    return Ok(Fetched::NotModified);
                }
                if !status.is_success() {
                    return Err(format!("GET {shown}: HTTP {status}"));
                }
                let header = |name: reqwest::header::HeaderName| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                if header(reqwest::header::CONTENT_TYPE).starts_with("application/zip") {
                    return Err(format!(
                        "GET {shown}: the feed is a zip archive, which Kizuna does not unpack"
                    ));
                }
                let validators = Validators {
                    etag: header(reqwest::header::ETAG),
                    last_modified: header(reqwest::header::LAST_MODIFIED),
                };
                let bytes = crate::http::read_limited(response, limit)
                    .await
                    .map_err(|error| format!("GET {shown}: {error}"))?;
                Ok(Fetched::Fresh { bytes, validators })
            }
        }
    }
}

fn too_large(shown: &str, limit: u64) -> String {
    format!("{shown} is larger than the {limit}-byte limit for feed documents")
}

/// The feed's `settings` as JSON (an object; `{}` when unset or unreadable).
fn feed_settings(feed: &Feed) -> Value {
    parse_lenient_json(feed.settings.as_bytes())
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

fn setting_flag(settings: &Value, name: &str) -> bool {
    settings.get(name).and_then(lenient_bool).unwrap_or(false)
}

/// What every event of one fetch gets from the feed's configuration.
async fn base_import_settings(
    store: &Store,
    feed: &Feed,
    user: FeedUser,
) -> Result<ImportSettings, StoreError> {
    let mut tags = Vec::new();
    if feed.tag_id != 0 {
        match store.tag(feed.tag_id).await {
            Ok(tag) => tags.push(tag.name),
            Err(StoreError::NotFound) => {}
            Err(other) => return Err(other),
        }
    }
    let to_ids = if feed.override_ids {
        ToIdsOverride::ForceOff
    } else if feed.force_to_ids {
        ToIdsOverride::ForceOn
    } else {
        ToIdsOverride::Keep
    };
    Ok(ImportSettings {
        org_id: user.org_id,
        user_id: user.user_id,
        keep_creator: true,
        distribution: None,
        publish: None,
        tags,
        to_ids,
        update_existing: true,
    })
}

/// The distribution the feed forces on its events (MISP: a sharing group that is gone makes
/// the events private).
async fn forced_distribution(
    store: &Store,
    feed: &Feed,
) -> Result<(Distribution, i64), StoreError> {
    Ok(match feed.distribution {
        Distribution::SharingGroup => {
            let exists = !store
                .sharing_groups_by_ids(&[feed.sharing_group_id])
                .await?
                .is_empty();
            if exists {
                (Distribution::SharingGroup, feed.sharing_group_id)
            } else {
                (Distribution::OrganisationOnly, 0)
            }
        }
        // Values feeds create their events: "as in the feed" means nothing there.
        Distribution::InheritEvent => (Distribution::OrganisationOnly, 0),
        other => (other, 0),
    })
}

async fn fetch_misp_feed(
    state: &AppState,
    feed: &Feed,
    user: FeedUser,
    now: i64,
) -> Result<(FetchReport, Option<Validators>), FeedError> {
    let store = &state.store;
    let mut report = FetchReport {
        source_format: Some(FeedSourceFormat::Misp),
        ..FetchReport::default()
    };
    let manifest_location = locate(feed, Some("manifest.json"))?;
    let manifest_source = manifest_location.to_string();
    let Fetched::Fresh { bytes, validators } =
        fetch_feed_document(state, feed, &manifest_location).await?
    else {
        report.not_modified = true;
        return Ok((report, None));
    };
    let manifest = parse_manifest(&bytes)
        .map_err(|error| FeedError::Source(format!("{manifest_source}: {error}")))?;
    let rules = FeedRules::parse(&feed.rules)
        .map_err(|error| FeedError::Source(format!("the feed's rules: {error}")))?;
    report.import.rejected.extend(
        manifest
            .rejected
            .into_iter()
            .map(|rejection| rejection.in_source(&manifest_source)),
    );
    let (admitted, left_out): (Vec<ManifestEntry>, Vec<ManifestEntry>) = manifest
        .entries
        .into_iter()
        .partition(|entry| rules.admits(entry, now));
    report.filtered = left_out.len() as u64;
    let uuids: Vec<String> = admitted.iter().map(|entry| entry.uuid.clone()).collect();
    let local = store.event_timestamps_by_uuid(&uuids).await?;
    let marks = store.feed_event_marks(feed.id).await?;
    let mut settings = base_import_settings(store, feed, user).await?;
    let feed_settings = feed_settings(feed);
    if setting_flag(&feed_settings, "unpublish_event") {
        settings.publish = Some(false);
    }
    let forced = match feed.distribution {
        Distribution::InheritEvent => None,
        _ => Some(forced_distribution(store, feed).await?),
    };
    let context = EventContext {
        rules: &rules,
        forced,
        disable_correlation: setting_flag(&feed_settings, "disable_correlation"),
        settings: &settings,
        now,
    };
    let mut new_marks = Vec::new();
    let mut complete = true;
    for entry in &admitted {
        let local_timestamp = local.get(&entry.uuid).copied();
        let already_tried = marks.get(&entry.uuid).is_some_and(|mark| {
            mark.timestamp >= entry.timestamp && (local_timestamp.is_some() || !mark.imported)
        });
        if already_tried || local_timestamp.is_some_and(|at| at >= entry.timestamp) {
            report.unchanged += 1;
            continue;
        }
        let location = locate(feed, Some(&format!("{}.json", entry.uuid)))?;
        let source = location.to_string();
        let bytes = match state.feeds.get(feed, &location, None).await {
            Ok(Fetched::Fresh { bytes, .. }) => bytes,
            Ok(Fetched::NotModified) => Vec::new(),
            Err(problem) => {
                // Possibly passing (a network error): no mark, so the next fetch tries again.
                complete = false;
                report.import.rejected.push(Rejection::new(
                    "event file",
                    entry.uuid.clone(),
                    problem,
                ));
                continue;
            }
        };
        let outcome = import_feed_event(store, &context, entry, &source, &bytes).await?;
        if outcome.filtered {
            report.filtered += 1;
        }
        let imported = outcome.summary.events_added
            + outcome.summary.events_updated
            + outcome.summary.events_unchanged
            > 0;
        report.import.merge(outcome.summary);
        new_marks.push((
            entry.uuid.clone(),
            FeedEventMark {
                timestamp: entry.timestamp,
                imported,
            },
        ));
        if feed.delete_local_file {
            remove_local_file(&location).await;
        }
    }
    store.mark_feed_events(feed.id, &new_marks).await?;
    if feed.delete_local_file && complete {
        remove_local_file(&manifest_location).await;
    }
    Ok((report, complete.then_some(validators)))
}

async fn remove_local_file(location: &Location) {
    if let Location::File(path) = location
        && let Err(error) = tokio::fs::remove_file(path).await
    {
        tracing::warn!(path = %path.display(), %error, "cannot delete a fetched local feed file");
    }
}

/// What one fetch applies to each event of a MISP feed.
struct EventContext<'a> {
    rules: &'a FeedRules,
    /// None: keep the distribution the event carries (feed distribution 5).
    forced: Option<(Distribution, i64)>,
    disable_correlation: bool,
    settings: &'a ImportSettings,
    now: i64,
}

struct EventOutcome {
    summary: ImportSummary,
    /// The event's own tags or creator are excluded by the feed rules.
    filtered: bool,
}

/// Reads one event file and saves it with the feed's settings (MISP's __prepareEvent).
async fn import_feed_event(
    store: &Store,
    context: &EventContext<'_>,
    entry: &ManifestEntry,
    source: &str,
    bytes: &[u8],
) -> Result<EventOutcome, StoreError> {
    let rejected = |reason: String| EventOutcome {
        summary: ImportSummary {
            rejected: vec![Rejection::new("event", entry.uuid.clone(), reason).in_source(source)],
            ..ImportSummary::default()
        },
        filtered: false,
    };
    let parsed = match parse_lenient_json(bytes) {
        Ok(parsed) => parsed,
        Err(error) => return Ok(rejected(format!("not valid JSON: {error}"))),
    };
    let Some(mut document) = event_document(parsed) else {
        return Ok(rejected("the file holds no MISP event".into()));
    };
    let uuid = document
        .get("uuid")
        .and_then(Value::as_str)
        .map(|uuid| uuid.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if uuid != entry.uuid {
        return Ok(rejected(format!(
            "the file holds event {uuid:?}, not the one the manifest names"
        )));
    }
    if document.get("Orgc").is_none()
        && let Some(orgc) = document.get("orgc").cloned()
    {
        document["Orgc"] = orgc;
    }
    if let Ok(described) = manifest_entry_of_event(&document)
        && !context.rules.admits(&described, context.now)
    {
        return Ok(EventOutcome {
            summary: ImportSummary::default(),
            filtered: true,
        });
    }
    let mut settings = context.settings.clone();
    settings.distribution = match context.forced {
        Some(forced) => Some(forced),
        None if document.get("distribution").is_some() => None,
        // Nothing to keep: the event stays with this organisation.
        None => Some((Distribution::OrganisationOnly, 0)),
    };
    if context.disable_correlation {
        document["disable_correlation"] = Value::Bool(true);
    }
    let summary = import_event(
        store,
        source,
        &json!({ "Event": document }),
        &settings,
        context.now,
    )
    .await?;
    Ok(EventOutcome {
        summary,
        filtered: false,
    })
}

/// The event object of an event file: `{"Event": {...}}`, a bare event, or either inside a
/// `response` wrapper or a one-element list (shapes MISP accepts too).
fn event_document(mut value: Value) -> Option<Value> {
    if let Some(inner) = value.get_mut("response") {
        value = inner.take();
    }
    if let Value::Array(items) = &mut value {
        value = items.first_mut()?.take();
    }
    if let Some(inner) = value.get_mut("Event") {
        value = inner.take();
    }
    value.is_object().then_some(value)
}

async fn fetch_values_feed(
    state: &AppState,
    feed: &Feed,
    user: FeedUser,
    now: i64,
) -> Result<(FetchReport, Option<Validators>), FeedError> {
    let store = &state.store;
    let mut report = FetchReport {
        source_format: Some(feed.source_format),
        ..FetchReport::default()
    };
    let location = locate(feed, None)?;
    let source = location.to_string();
    let Fetched::Fresh { bytes, validators } = fetch_feed_document(state, feed, &location).await?
    else {
        report.not_modified = true;
        return Ok((report, None));
    };
    let text = String::from_utf8_lossy(&bytes);
    let parsed = parse_values_feed(
        feed.source_format,
        &text,
        &feed_settings(feed),
        state.feeds.tlds(),
    )
    .map_err(|error| FeedError::Source(format!("{source}: {error}")))?;
    report.import.duplicates += parsed.duplicates as u64;
    report.import.rejected.extend(
        parsed
            .rejected
            .into_iter()
            .map(|rejection| rejection.in_source(&source)),
    );
    let mut settings = base_import_settings(store, feed, user).await?;
    settings.distribution = Some(forced_distribution(store, feed).await?);
    settings.publish = Some(feed.publish);
    let creator = if feed.orgc_id != 0 {
        match store.org(&Key::Id(feed.orgc_id)).await {
            Ok(org) => Some(json!({"name": org.name, "uuid": org.uuid})),
            Err(StoreError::NotFound) => None,
            Err(other) => return Err(other.into()),
        }
    } else {
        None
    };
    settings.keep_creator = creator.is_some();
    if feed.fixed_event && feed.event_id != 0 {
        merge_into_fixed_event(
            store,
            feed,
            &parsed.values,
            &settings,
            &source,
            now,
            &mut report,
        )
        .await?;
    } else if !parsed.values.is_empty() {
        let mut event = values_event(&format!("{} feed", feed.name), &parsed.values, today(now));
        let uuid = uuid::Uuid::new_v4().to_string();
        event["Event"]["uuid"] = json!(uuid);
        if let Some(creator) = creator {
            event["Event"]["Orgc"] = creator;
        }
        let summary = import_event(store, &source, &event, &settings, now).await?;
        report.import.merge(summary);
        if let Some(event_id) = store.event_id_by_uuid(&uuid).await? {
            report.event_id = Some(event_id);
            if feed.fixed_event {
                store.set_feed_event_id(feed.id, event_id).await?;
            }
        }
    }
    if feed.delete_local_file {
        remove_local_file(&location).await;
    }
    Ok((report, Some(validators)))
}

/// Reads a TAXII feed's collection from the cursor kept in `last_modified` (the greatest
/// `X-TAXII-Date-Added-Last` of the last run), which is returned as the new validator.
async fn fetch_taxii_feed(
    state: &AppState,
    feed: &Feed,
    user: FeedUser,
    now: i64,
) -> Result<(FetchReport, Option<Validators>), FeedError> {
    use crate::taxii_client::{TaxiiError, feed_pull_options, pull_collection};
    if feed.is_local() {
        return Err(FeedError::Source(
            "a TAXII feed reads a TAXII server: its input_source must be network".into(),
        ));
    }
    let store = &state.store;
    let mut headers = Vec::new();
    for line in parse_header_lines(&feed.headers) {
        headers.push(line.map_err(|problem| FeedError::Source(format!("headers: {problem}")))?);
    }
    let options = feed_pull_options(
        feed.url.trim(),
        &feed_settings(feed),
        headers,
        &feed.state.last_modified,
        state.feeds.settings.max_document_bytes,
    )
    .map_err(FeedError::Source)?;
    let mut settings = base_import_settings(store, feed, user).await?;
    settings.distribution = Some(forced_distribution(store, feed).await?);
    settings.publish = Some(feed.publish);
    let creator = if feed.orgc_id != 0 {
        match store.org(&Key::Id(feed.orgc_id)).await {
            Ok(org) => Some(json!({"name": org.name, "uuid": org.uuid})),
            Err(StoreError::NotFound) => None,
            Err(other) => return Err(other.into()),
        }
    } else {
        None
    };
    let pulled = pull_collection(store, &options, &settings, creator, now)
        .await
        .map_err(|error| match error {
            TaxiiError::Store(store_error) => FeedError::Store(store_error),
            other => FeedError::Source(other.to_string()),
        })?;
    if let Some(error) = &pulled.error {
        // What was read is imported; the cursor stays, so the next fetch reads it again.
        return Err(match error {
            TaxiiError::Store(_) => FeedError::Source(format!("database error: {error}")),
            other => FeedError::Source(format!("{other} ({})", pulled.describe())),
        });
    }
    let cursor = pulled.cursor.clone().map(|cursor| Validators {
        etag: String::new(),
        last_modified: cursor,
    });
    let report = FetchReport {
        source_format: Some(FeedSourceFormat::Taxii),
        taxii: Some(pulled.describe()),
        import: pulled.import,
        ..FetchReport::default()
    };
    Ok((report, cursor))
}

fn today(now: i64) -> time::Date {
    time::OffsetDateTime::from_unix_timestamp(now)
        .map(|moment| moment.date())
        .unwrap_or(time::macros::date!(1970 - 01 - 01))
}

/// How values are compared with the fixed event's: MISP compares values as text; case is
/// ignored here so that a feed changing `Evil.com` to `evil.com` does not churn.
fn value_key(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Adds the feed's new values to its fixed event and, with `delta_merge`, soft-deletes the
/// event's values that left the feed (MISP's saveFreetextFeedData).
async fn merge_into_fixed_event(
    store: &Store,
    feed: &Feed,
    values: &[DetectedValue],
    settings: &ImportSettings,
    source: &str,
    now: i64,
    report: &mut FetchReport,
) -> Result<(), FeedError> {
    let existing = match store
        .event(&Key::Id(feed.event_id), &LoadOptions::default())
        .await
    {
        Ok(event) => event,
        Err(StoreError::NotFound) => {
            return Err(FeedError::Source(format!(
                "the feed's fixed event {} no longer exists; set another event_id or clear it",
                feed.event_id
            )));
        }
        Err(other) => return Err(other.into()),
    };
    report.event_id = Some(existing.id);
    let mut stored: HashMap<String, i64> = existing
        .attributes
        .iter()
        .filter(|attribute| !attribute.deleted)
        .map(|attribute| (value_key(&attribute.value()), attribute.id))
        .collect();
    let mut fresh = Vec::new();
    let mut seen = HashSet::new();
    for value in values {
        let key = value_key(&value.value);
        if stored.remove(&key).is_some() || !seen.insert(key.clone()) {
            seen.insert(key);
            continue;
        }
        fresh.push(value.clone());
    }
    // What is left in `stored` is in the event but no longer in the feed.
    if feed.delta_merge && !stored.is_empty() {
        let mut vanished: Vec<i64> = stored.into_values().collect();
        vanished.sort_unstable();
        report.values_deleted = store
            .soft_delete_event_attributes(existing.id, &vanished, now)
            .await?;
    }
    if !fresh.is_empty() {
        // Newer than the stored version, also when the deletion above just touched it.
        let timestamp = now.max(existing.timestamp + 1) + i64::from(report.values_deleted > 0);
        let update = json!({
            "Event": {
                "uuid": existing.uuid,
                "info": existing.info,
                "date": kizuna_formats::misp::output::format_date(existing.date),
                "analysis": existing.analysis.as_i64().to_string(),
                "threat_level_id": existing.threat_level.as_i64().to_string(),
                "timestamp": timestamp.to_string(),
                "published": feed.publish,
                "Attribute": values_event("", &fresh, today(now))["Event"]["Attribute"].take(),
            }
        });
        let summary = import_event(store, source, &update, settings, now).await?;
        report.import.merge(summary);
    } else if report.values_deleted > 0 && feed.publish {
        store.set_published(existing.id, true, now).await?;
    }
    Ok(())
}

/// Fetches every enabled feed whose interval has passed, one after the other, as the
/// scheduler's user. Returns each feed's outcome.
pub async fn fetch_due_feeds(
    state: &AppState,
    now: i64,
) -> Vec<(i64, Result<FetchReport, FeedError>)> {
    let due: Vec<Feed> = match state.store.list_feeds().await {
        Ok(feeds) => feeds.into_iter().filter(|feed| feed.is_due(now)).collect(),
        Err(error) => {
            tracing::warn!(%error, "cannot list feeds for scheduled fetching");
            return Vec::new();
        }
    };
    if due.is_empty() {
        return Vec::new();
    }
    let user = match scheduler_user(&state.store).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            tracing::warn!("scheduled feed fetching needs an enabled site admin to act as");
            return Vec::new();
        }
        Err(error) => {
            tracing::warn!(%error, "cannot find the user scheduled feed fetches act as");
            return Vec::new();
        }
    };
    let mut outcomes = Vec::with_capacity(due.len());
    for feed in due {
        let outcome = fetch_feed(state, feed.id, user, now).await;
        match &outcome {
            Ok(report) => tracing::info!(feed = feed.id, name = %feed.name, "{}", report.message()),
            Err(error) => {
                tracing::warn!(feed = feed.id, name = %feed.name, %error, "feed fetch failed")
            }
        }
        outcomes.push((feed.id, outcome));
    }
    outcomes
}

/// Scheduled fetches act as the enabled site admin with the lowest id (MISP's cron jobs run
/// as a site admin given on their command line); that user's organisation owns what they
/// bring in.
pub async fn scheduler_user(store: &Store) -> Result<Option<FeedUser>, StoreError> {
    let admin_roles: HashSet<i64> = store
        .list_roles()
        .await?
        .into_iter()
        .filter(|role| role.permissions.perm_site_admin)
        .map(|role| role.id)
        .collect();
    let mut users = store.list_users(None).await?;
    users.sort_by_key(|user| user.id);
    Ok(users
        .into_iter()
        .find(|user| !user.disabled && admin_roles.contains(&user.role_id))
        .map(|user| FeedUser {
            org_id: user.org_id,
            user_id: user.id,
        }))
}

/// Runs scheduled fetching until `shutdown` resolves: every [`SCHEDULER_TICK`], enabled feeds
/// with a `fetch_interval` that has passed since their last fetch are fetched. A fetch under
/// way when `shutdown` resolves is abandoned between two saves (each event is saved whole).
pub fn spawn_feed_scheduler(
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = fetch_due_feeds(&state, crate::now()) => {}
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(SCHEDULER_TICK) => {}
            }
        }
    })
}

/// What a feed cache rebuild found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheReport {
    pub values: u64,
    pub rejected: Vec<Rejection>,
}

/// Rebuilds the value cache of one feed (MISP's cacheFeeds): the md5 of every value it
/// holds, from `hashes.csv` when a MISP feed has one, else from its event files or its
/// document. The fetch validators are left alone: caching does not count as a fetch.
pub async fn cache_feed(
    state: &AppState,
    feed_id: i64,
    now: i64,
) -> Result<CacheReport, FeedError> {
    let lock = state.feeds.lock_for(feed_id);
    let _running = lock.lock().await;
    let feed = match state.store.feed(feed_id).await {
        Ok(feed) => feed,
        Err(StoreError::NotFound) => return Err(FeedError::NotFound),
        Err(other) => return Err(other.into()),
    };
    if feed.is_local() && !state.feeds.settings.allow_local {
        return Err(FeedError::Source(
            "local feeds are disabled on this server".into(),
        ));
    }
    let mut report = CacheReport::default();
    let mut entries: Vec<FeedCacheEntry> = Vec::new();
    let mut add = |md5: String, event_uuid: &str| {
        entries.push(FeedCacheEntry {
            value_md5: md5,
            event_uuid: event_uuid.to_string(),
        });
    };
    match feed.source_format {
        FeedSourceFormat::Misp => {
            let hashes = locate(&feed, Some("hashes.csv"))?;
            match state.feeds.get(&feed, &hashes, None).await {
                Ok(Fetched::Fresh { bytes, .. }) => {
                    let (pairs, rejected) = parse_hashes(&String::from_utf8_lossy(&bytes));
                    let source = hashes.to_string();
                    report
                        .rejected
                        .extend(rejected.into_iter().map(|r| r.in_source(&source)));
                    for (md5, uuid) in pairs {
                        add(md5, &uuid);
                    }
                }
                _ => {
                    let manifest_location = locate(&feed, Some("manifest.json"))?;
                    let manifest_source = manifest_location.to_string();
                    let bytes = match state.feeds.get(&feed, &manifest_location, None).await {
                        Ok(Fetched::Fresh { bytes, .. }) => bytes,
                        Ok(Fetched::NotModified) => Vec::new(),
                        Err(problem) => return Err(FeedError::Source(problem)),
                    };
                    let manifest = parse_manifest(&bytes).map_err(|error| {
                        FeedError::Source(format!("{manifest_source}: {error}"))
                    })?;
                    for entry in manifest.entries {
                        let location = locate(&feed, Some(&format!("{}.json", entry.uuid)))?;
                        let source = location.to_string();
                        let bytes = match state.feeds.get(&feed, &location, None).await {
                            Ok(Fetched::Fresh { bytes, .. }) => bytes,
                            Ok(Fetched::NotModified) => continue,
                            Err(problem) => return Err(FeedError::Source(problem)),
                        };
                        let document = parse_lenient_json(&bytes).ok().and_then(event_document);
                        let Some(document) = document else {
                            report.rejected.push(
                                Rejection::new("event", entry.uuid.clone(), "not a MISP event")
                                    .in_source(&source),
                            );
                            continue;
                        };
                        for value in event_file_values(&document) {
                            add(value_md5(&value), &entry.uuid);
                        }
                    }
                }
            }
        }
        FeedSourceFormat::Taxii => {
            return Err(FeedError::Source(
                "TAXII feeds have no value cache: fetch them into events instead".into(),
            ));
        }
        FeedSourceFormat::Csv | FeedSourceFormat::Freetext => {
            let location = locate(&feed, None)?;
            let source = location.to_string();
            let bytes = match state.feeds.get(&feed, &location, None).await {
                Ok(Fetched::Fresh { bytes, .. }) => bytes,
                Ok(Fetched::NotModified) => Vec::new(),
                Err(problem) => return Err(FeedError::Source(problem)),
            };
            let parsed = parse_values_feed(
                feed.source_format,
                &String::from_utf8_lossy(&bytes),
                &feed_settings(&feed),
                state.feeds.tlds(),
            )
            .map_err(|error| FeedError::Source(format!("{source}: {error}")))?;
            report
                .rejected
                .extend(parsed.rejected.into_iter().map(|r| r.in_source(&source)));
            for value in parsed.values {
                add(value_md5(&value.value), "");
            }
        }
    }
    entries.sort_by(|a, b| (&a.value_md5, &a.event_uuid).cmp(&(&b.value_md5, &b.event_uuid)));
    entries.dedup();
    report.values = entries
        .iter()
        .map(|entry| &entry.value_md5)
        .collect::<HashSet<_>>()
        .len() as u64;
    state
        .store
        .replace_feed_cache(feed.id, &entries, now)
        .await?;
    Ok(report)
}

/// The values of an event file that a cache holds: every attribute's value (each half of a
/// composite one), loose and in objects, except deleted ones.
fn event_file_values(document: &Value) -> Vec<String> {
    let mut values = Vec::new();
    let mut take = |attributes: Option<&Value>| {
        for attribute in attributes.and_then(Value::as_array).into_iter().flatten() {
            if attribute.get("deleted").and_then(lenient_bool) == Some(true) {
                continue;
            }
            let (Some(kind), Some(value)) = (
                attribute.get("type").and_then(Value::as_str),
                attribute.get("value").and_then(Value::as_str),
            ) else {
                continue;
            };
            if kizuna_model::attribute_types::is_composite(kind) {
                values.extend(value.splitn(2, '|').map(str::to_string));
            } else {
                values.push(value.to_string());
            }
        }
    };
    take(document.get("Attribute"));
    for object in document
        .get("Object")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        take(object.get("Attribute"));
    }
    values
}

/// Events per step when serving a feed.
const EVENTS_PER_STEP: u64 = 200;

fn published_only() -> AttributeCriteria {
    AttributeCriteria {
        published: Some(true),
        ..AttributeCriteria::default()
    }
}

/// The manifest of the feed `viewer` is served: every published event it may see.
pub async fn served_manifest(store: &Store, viewer: &Viewer) -> Result<String, StoreError> {
    let criteria = published_only();
    let mut cursor = SearchCursor::new(0, None);
    let mut entries = Vec::new();
    loop {
        let ids = store
            .search_event_ids_page(&criteria, viewer, &mut cursor, EVENTS_PER_STEP)
            .await?;
        if ids.is_empty() {
            break;
        }
        for event in store.events_meta_by_ids(&ids).await? {
            entries.push(manifest_entry(&event));
        }
    }
    Ok(write_manifest(entries))
}

/// One event of the feed `viewer` is served, if it is published and visible to it.
pub async fn served_event(
    store: &Store,
    viewer: &Viewer,
    uuid: &str,
) -> Result<Option<Value>, StoreError> {
    let options = LoadOptions {
        include_deleted: false,
        viewer_org: viewer.org_id(),
    };
    let event = match store.event(&Key::Uuid(uuid.to_string()), &options).await {
        Ok(event) => event,
        Err(StoreError::NotFound) => return Ok(None),
        Err(other) => return Err(other),
    };
    let visible = event.published
        && viewer.sees_event(
            event.org_id,
            event.distribution,
            event.sharing_group_id,
            event.published,
        );
    Ok(visible.then(|| feed_event(&event)))
}

/// `hashes.csv` of the feed `viewer` is served.
pub async fn served_hashes(store: &Store, viewer: &Viewer) -> Result<String, StoreError> {
    let criteria = published_only();
    let mut cursor = SearchCursor::new(0, None);
    let mut events = EventStubCache::default();
    let mut out = String::new();
    loop {
        let hits = store
            .search_attributes_page(&criteria, viewer, &mut cursor, &mut events)
            .await?;
        if hits.is_empty() {
            break;
        }
        for hit in hits {
            if hit.object.as_ref().is_some_and(|object| object.deleted) {
                continue;
            }
            for md5 in attribute_md5s(&hit.attribute) {
                out.push_str(&md5);
                out.push(',');
                out.push_str(&hit.event.uuid);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_files_are_unwrapped_as_misp_does() {
        let bare = json!({"uuid": "x"});
        assert_eq!(
            event_document(json!({"Event": bare.clone()})),
            Some(bare.clone())
        );
        assert_eq!(event_document(bare.clone()), Some(bare.clone()));
        assert_eq!(
            event_document(json!({"response": [{"Event": bare.clone()}]})),
            Some(bare)
        );
        assert_eq!(event_document(json!([])), None);
        assert_eq!(event_document(json!("text")), None);
    }

    #[test]
    fn header_lines_are_checked() {
        let parsed = parse_header_lines("Authorization: abc:def\n\n  X-Token : 1 \nbroken\n");
        assert_eq!(parsed[0], Ok(("Authorization".into(), "abc:def".into())));
        assert_eq!(parsed[1], Ok(("X-Token".into(), "1".into())));
        assert!(parsed[2].is_err());
    }

    #[test]
    fn cached_values_come_from_every_live_attribute() {
        let document = json!({
            "Attribute": [
                {"type": "domain", "value": "evil.test"},
                {"type": "ip-dst|port", "value": "192.0.2.1|443"},
                {"type": "domain", "value": "gone.test", "deleted": true},
            ],
            "Object": [{"Attribute": [{"type": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"}]}],
        });
        assert_eq!(
            event_file_values(&document),
            [
                "evil.test",
                "192.0.2.1",
                "443",
                "d41d8cd98f00b204e9800998ecf8427e"
            ]
        );
    }

    #[test]
    fn messages_say_what_a_fetch_did() {
        let mut report = FetchReport {
            source_format: Some(FeedSourceFormat::Misp),
            unchanged: 2,
            ..FetchReport::default()
        };
        report.import.events_added = 4;
        assert_eq!(
            report.message(),
            "Fetching the feed has successfully completed. Downloaded 4 new event(s). \
             Updated 0 event(s). 2 event(s) unchanged."
        );
        report.not_modified = true;
        assert!(
            report
                .message()
                .ends_with("has not changed since the last fetch.")
        );
    }
}

//! Pulling from a remote (misp-reference §3.3 from the client's side): one index request,
//! a comparison of (uuid, timestamp) with the local copies, then only the new and newer
//! events fetched, several at a time, each stored whole or not at all; then the sightings
//! of events whose remote sightings are newer.
//!
//! A pull that stops half-way (remote gone, timeout) leaves every event it stored complete
//! and the rest untouched: the next pull reads the index again and fetches what is still
//! missing or older. Only a pull that stored everything keeps the index's ETag, so an
//! unchanged remote then costs one `304`.

use super::downgrade::downgrade_pulled;
use super::remote::{IndexAnswer, IndexEntry, Remote};
use super::rules::PullRules;
use super::{SyncError, host_org_id};
use crate::import::{
    DecideLookups, Decision, ImportSettings, ToIdsOverride, creator_org, decide_with, prepare_event,
};
use crate::misp::event_reports::save_carried_reports;
use futures_util::StreamExt;
use kizuna_formats::misp::event_report::EventReportInput;
use kizuna_formats::misp::input::{OrgInput, lenient_bool, lenient_i64};
use kizuna_model::access::Viewer;
use kizuna_model::{SharingGroup, SharingGroupOrg, Sighting, SightingType};
use kizuna_store::{Key, Server, Store, StoreError};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Event downloads in flight at once.
pub const FETCH_CONCURRENCY: usize = 6;
/// Event uuids per sighting request (MISP's chunk size).
const SIGHTING_CHUNK: usize = 20;

/// Which events a pull considers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullTechnique {
    /// Every event the index offers that is new or newer here.
    Full,
    /// A technique MISP names (its pull-setting check and API documentation list it) but
    /// refuses when it reaches the event list, after the version check; refused here at the
    /// same point, so the outcome recorded on the server is the same. A full pull already
    /// fetches only what is new or newer.
    Incremental,
    /// Only events that exist here already (pull rules ignored).
    Update,
    /// One event, by remote id or uuid.
    Single(String),
}

impl PullTechnique {
    pub fn parse(text: &str) -> Option<PullTechnique> {
        match text {
            "" | "full" => Some(PullTechnique::Full),
            "incremental" => Some(PullTechnique::Incremental),
            "update" => Some(PullTechnique::Update),
            other if Key::parse(other).is_some() => {
                Some(PullTechnique::Single(other.to_ascii_lowercase()))
            }
            _ => None,
        }
    }
}

/// What one pull did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PullReport {
    /// The remote answered 304: nothing changed since the last complete pull.
    pub not_modified: bool,
    /// Rows of the remote index.
    pub offered: u64,
    /// Event downloads made.
    pub fetched: u64,
    pub added: Vec<String>,
    pub updated: Vec<String>,
    /// Events whose remote copy is not newer than ours (after download).
    pub unchanged: u64,
    /// Newer remote copies of events created here, which sync never overwrites.
    pub kept_local: Vec<String>,
    /// Events deleted here (blocklisted).
    pub blocklisted: u64,
    /// Events with nothing left to store after the downgrade and rules.
    pub empty: u64,
    /// Events that could not be fetched or stored, with the reason.
    pub failed: Vec<(String, String)>,
    pub sightings_added: u64,
    pub sighting_failures: Vec<String>,
    pub lastpulledid: i64,
    pub timings: PullTimings,
}

impl PullReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.sighting_failures.is_empty()
    }

    pub fn summary(&self) -> String {
        if self.not_modified {
            return "nothing new (index not modified)".into();
        }
        let mut text = format!(
            "{} events pulled ({} new, {} updated), {} could not be pulled, {} sightings pulled",
            self.added.len() + self.updated.len(),
            self.added.len(),
            self.updated.len(),
            self.failed.len(),
            self.sightings_added
        );
        if !self.kept_local.is_empty() {
            text.push_str(&format!(
                "; {} local events kept (sync never overwrites them)",
                self.kept_local.len()
            ));
        }
        if let Some((uuid, reason)) = self.failed.first() {
            text.push_str(&format!("; first failure: {uuid}: {reason}"));
        }
        if let Some(reason) = self.sighting_failures.first() {
            text.push_str(&format!("; sightings: {reason}"));
        }
        text
    }
}

/// Pulls from `server` as user `user_id`. A failure of the whole run (remote unreachable,
/// key refused, incompatible version, garbage index) is an error; failures of single
/// events are in the report.
pub async fn pull(
    store: &Store,
    server: &Server,
    technique: &PullTechnique,
    user_id: i64,
) -> Result<(PullReport, String), SyncError> {
    let remote = Remote::new(server)?;
    let version = remote.version().await?;
    version.check_compatible().map_err(SyncError::Version)?;
    if *technique == PullTechnique::Incremental {
        return Err(SyncError::Refused(INCREMENTAL_REFUSED.into()));
    }
    let mut timings = PullTimings::default();
    let rules = PullRules::parse(&server.pull_rules);
    let whole_index = *technique == PullTechnique::Full;
    let filters = match technique {
        PullTechnique::Update => PullRules::unfiltered_index(),
        _ => rules.index_filters(),
    };
    let cached_etag = (whole_index && server.state.last_pull_ok)
        .then_some(server.state.index_etag.as_str())
        .filter(|etag| !etag.is_empty());
    let mut report = PullReport::default();
    let clock = Instant::now();
    let (entries, etag) = match remote.event_index(&filters, cached_etag).await? {
        IndexAnswer::NotModified => {
            report.not_modified = true;
            return Ok((report, server.state.index_etag.clone()));
        }
        IndexAnswer::Fresh { entries, etag } => (entries, etag),
    };
    timings.index += clock.elapsed();
    let clock = Instant::now();
    report.offered = entries.len() as u64;
    let entries: Vec<IndexEntry> = entries.into_iter().filter(|e| e.published).collect();
    let uuids: Vec<String> = entries.iter().map(|entry| entry.uuid.clone()).collect();
    let blocklisted = store.blocklisted_among(&uuids).await?;
    let blocked_orgs = store.blocklisted_org_uuids().await?;
    let marks = store.sync_marks(&uuids).await?;
    let may_overwrite_local = server.internal;
    let mut wanted: Vec<&IndexEntry> = Vec::new();
    for entry in &entries {
        if let PullTechnique::Single(key) = technique
            && key != &entry.uuid
            && key != &entry.id.to_string()
        {
            continue;
        }
        if blocklisted.contains(&entry.uuid)
            || blocked_orgs.contains(&entry.orgc_uuid.to_ascii_lowercase())
        {
            report.blocklisted += 1;
            continue;
        }
        match marks.get(&entry.uuid) {
            None if *technique == PullTechnique::Update => {}
            None => wanted.push(entry),
            Some(mark) if entry.timestamp > mark.timestamp => {
                if mark.locked || may_overwrite_local {
                    wanted.push(entry);
                } else {
                    report.kept_local.push(entry.uuid.clone());
                }
            }
            Some(_) => report.unchanged += 1,
        }
    }
    if let PullTechnique::Single(key) = technique
        && wanted.is_empty()
        && report.kept_local.is_empty()
        && !entries
            .iter()
            .any(|e| &e.uuid == key || &e.id.to_string() == key)
    {
        return Err(SyncError::Refused(format!(
            "the remote offers no published event {key} to this server"
        )));
    }
    let keep_levels = server.internal && host_org_id(store).await? == Some(server.org_id);
    let settings = ImportSettings {
        org_id: server.org_id,
        user_id,
        keep_creator: true,
        distribution: None,
        publish: None,
        tags: Vec::new(),
        to_ids: ToIdsOverride::Keep,
        update_existing: true,
    };
    let mut lookups = PulledLookups {
        known: marks.keys().cloned().collect(),
        blocklisted: &blocklisted,
        blocked_orgs: &blocked_orgs,
        creators: HashMap::new(),
        remove_missing_tags: server.remove_missing_tags,
    };
    timings.compare += clock.elapsed();
    let wanted: Vec<IndexEntry> = wanted.into_iter().cloned().collect();
    let entry_ids: HashMap<String, i64> = wanted
        .iter()
        .map(|entry| (entry.uuid.clone(), entry.id))
        .collect();
    let fetcher = remote.clone();
    let shared_rules = std::sync::Arc::new(rules.clone());
    // Downloads run in a task of their own, several at once, so they go on while this task
    // compares and writes; checking and downgrading an answer is CPU work and runs on a
    // blocking thread. The channel bounds how far downloads run ahead.
    let (downloaded, mut arrivals) = tokio::sync::mpsc::channel(FETCH_CONCURRENCY * 2);
    let downloader = tokio::spawn(async move {
        let mut downloads = futures_util::stream::iter(wanted.into_iter().map(move |entry| {
            let remote = fetcher.clone();
            let rules = std::sync::Arc::clone(&shared_rules);
            async move {
                let checked = match remote.event(&entry.uuid).await {
                    Ok(body) => {
                        let uuid = entry.uuid.clone();
                        tokio::task::spawn_blocking(move || {
                            check_pulled(&uuid, body, keep_levels, &rules)
                        })
                        .await
                        .unwrap_or_else(|error| Err(format!("checking the event failed: {error}")))
                    }
                    Err(error) => Err(error.to_string()),
                };
                (entry, checked)
            }
        }))
        .buffered(FETCH_CONCURRENCY);
        while let Some(arrival) = downloads.next().await {
            if downloaded.send(arrival).await.is_err() {
                break;
            }
        }
    });
    let mut ahead = std::collections::VecDeque::new();
    let mut batch = PulledBatch::default();
    // One batch is written in the background while the next is gathered.
    let mut writing: Option<tokio::task::JoinHandle<BatchOutcome>> = None;
    let shared_settings = std::sync::Arc::new(settings.clone());
    // Reports are stored once their event is, whether it was inserted in a batch or updated.
    let mut carried_reports: HashMap<String, Vec<EventReportInput>> = HashMap::new();
    loop {
        while ahead.len() < PREPARE_AHEAD {
            let clock = Instant::now();
            let arrival = arrivals.recv().await;
            timings.downloads += clock.elapsed();
            let Some((entry, checked)) = arrival else {
                break;
            };
            let clock = Instant::now();
            report.fetched += 1;
            let mut body = match checked {
                Ok(Some(body)) => body,
                Ok(None) => {
                    report.empty += 1;
                    continue;
                }
                Err(reason) => {
                    report.failed.push((entry.uuid.clone(), reason));
                    continue;
                }
            };
            let now = crate::now();
            if let Some(event) = body.get_mut("Event")
                && let Err(error) = capture_sharing_groups(store, event, user_id, now).await
            {
                report.failed.push((
                    entry.uuid.clone(),
                    format!("cannot store its sharing group: {error}"),
                ));
                continue;
            }
            match kizuna_formats::misp::event_report::parse_event_reports(&body) {
                Ok(reports) if !reports.is_empty() => {
                    carried_reports.insert(entry.uuid.clone(), reports);
                }
                Ok(_) => {}
                Err(errors) => {
                    report.failed.push((
                        entry.uuid.clone(),
                        format!("its event reports are invalid: {}", json!(errors.0)),
                    ));
                    continue;
                }
            }
            let source = format!("{}/events/view/{}", server.url, entry.uuid);
            let settings = std::sync::Arc::clone(&shared_settings);
            let prepared = tokio::task::spawn_blocking(move || {
                let prepared = prepare_event(&source, body, &settings, now);
                (source, now, prepared)
            });
            ahead.push_back((entry, prepared));
            timings.sharing_groups += clock.elapsed();
        }
        let Some((entry, prepared)) = ahead.pop_front() else {
            break;
        };
        let clock = Instant::now();
        let prepared = prepared.await;
        timings.building += clock.elapsed();
        let (source, now, prepared) = match prepared {
            Ok(done) => done,
            Err(error) => {
                report
                    .failed
                    .push((entry.uuid, format!("building the event failed: {error}")));
                continue;
            }
        };
        let clock = Instant::now();
        let decision = decide_with(store, &source, prepared, &settings, now, &mut lookups).await;
        timings.deciding += clock.elapsed();
        match decision {
            Ok(Decision::Insert(mut event, _)) => {
                // Synced events are edited at their source only.
                event.locked = true;
                batch.push(entry.uuid, *event);
                if batch.is_full() {
                    let clock = Instant::now();
                    if let Some(previous) = writing.take() {
                        finish_batch(previous, &mut report, &mut timings).await;
                    }
                    timings.waiting_for_writes += clock.elapsed();
                    let full = std::mem::take(&mut batch);
                    let store = store.clone();
                    writing = Some(tokio::spawn(async move { full.write(&store).await }));
                }
            }
            Ok(Decision::Done(summary)) => match stored_outcome(&summary) {
                Ok(Stored::Updated) => report.updated.push(entry.uuid),
                Ok(Stored::Unchanged) => report.unchanged += 1,
                Err(reason) => report.failed.push((entry.uuid, reason)),
            },
            Err(error) => report
                .failed
                .push((entry.uuid, format!("cannot store it: {error}"))),
        }
    }
    let clock = Instant::now();
    if let Some(previous) = writing.take() {
        finish_batch(previous, &mut report, &mut timings).await;
    }
    let outcome = batch.write(store).await;
    timings.writing += outcome.took;
    outcome.record(&mut report);
    timings.waiting_for_writes += clock.elapsed();
    drop(arrivals);
    let _ = downloader.await;
    let clock = Instant::now();
    save_pulled_reports(store, carried_reports, &mut report).await?;
    timings.reports += clock.elapsed();
    // MISP's lastpulledid: the highest remote id among the events handled without failure.
    let failed: HashSet<&str> = report
        .failed
        .iter()
        .map(|(uuid, _)| uuid.as_str())
        .collect();
    report.lastpulledid = entry_ids
        .iter()
        .filter(|(uuid, _)| !failed.contains(uuid.as_str()))
        .map(|(_, id)| *id)
        .max()
        .unwrap_or_default();
    let clock = Instant::now();
    pull_sightings(store, &remote, &entries, &blocklisted, &mut report).await?;
    timings.sightings += clock.elapsed();
    report.timings = timings;
    tracing::debug!(server = server.id, timings = ?report.timings, "pull done");
    let keep_etag = if whole_index && report.ok() {
        etag.unwrap_or_default()
    } else {
        String::new()
    };
    Ok((report, keep_etag))
}

/// The refusal of `incremental`, which MISP lists but has not implemented for pulls.
const INCREMENTAL_REFUSED: &str = "MISP has no incremental pull: use full (it fetches only \
     new and newer events), update or an event id or uuid";

/// Where a pull's time went (the main loop's waits, each summed over the run; writing is the
/// background writer's own time). What the sync benchmark prints.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PullTimings {
    /// The remote index request.
    pub index: Duration,
    /// Blocklists and (uuid, timestamp) marks read and compared.
    pub compare: Duration,
    /// Waiting for the next checked download.
    pub downloads: Duration,
    /// Sharing groups captured, event reports read, the build handed to a blocking thread.
    pub sharing_groups: Duration,
    /// Waiting for an event built on a blocking thread.
    pub building: Duration,
    /// `import::decide` (updates of known events are written in here).
    pub deciding: Duration,
    /// Waiting for the background writer before handing it the next batch, and the last batch.
    pub waiting_for_writes: Duration,
    /// The writer's time inside `Store::insert_events`.
    pub writing: Duration,
    pub reports: Duration,
    pub sightings: Duration,
}

/// What `decide` asks about a pulled event, answered from what the pull read for the whole
/// run: the index comparison tells which uuids are known here (only those are looked up),
/// the blocklists were read as sets, and creator organisations are resolved once per run
/// (most events of a remote share a few creators).
struct PulledLookups<'a> {
    /// Uuids of the offered events stored here when the pull began.
    known: HashSet<String>,
    blocklisted: &'a HashSet<String>,
    blocked_orgs: &'a HashSet<String>,
    creators: HashMap<(Option<String>, Option<String>), Option<i64>>,
    remove_missing_tags: bool,
}

impl DecideLookups for PulledLookups<'_> {
    async fn event_id(&mut self, store: &Store, uuid: &str) -> Result<Option<i64>, StoreError> {
        if !self.known.contains(&uuid.to_ascii_lowercase()) {
            return Ok(None);
        }
        store.event_id_by_uuid(uuid).await
    }

    async fn org_blocklisted(&mut self, _: &Store, org_uuid: &str) -> Result<bool, StoreError> {
        Ok(self.blocked_orgs.contains(&org_uuid.to_ascii_lowercase()))
    }

    async fn event_blocklisted(&mut self, _: &Store, uuid: &str) -> Result<bool, StoreError> {
        Ok(self.blocklisted.contains(&uuid.to_ascii_lowercase()))
    }

    async fn creator(
        &mut self,
        store: &Store,
        orgc: Option<&OrgInput>,
        created_by: i64,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let Some(given) = orgc else {
            return Ok(None);
        };
        let key = (given.uuid.clone(), given.name.clone());
        if let Some(known) = self.creators.get(&key) {
            return Ok(*known);
        }
        let found = creator_org(store, orgc, created_by, now).await?;
        self.creators.insert(key, found);
        Ok(found)
    }

    fn removes_missing_tags(&self) -> bool {
        self.remove_missing_tags
    }
}

/// Stores the reports of the pulled events that were added or updated; an event whose
/// reports cannot be stored is reported failed, so the next pull fetches it again.
async fn save_pulled_reports(
    store: &Store,
    mut carried: HashMap<String, Vec<EventReportInput>>,
    report: &mut PullReport,
) -> Result<(), StoreError> {
    if carried.is_empty() {
        return Ok(());
    }
    let stored: Vec<String> = report
        .added
        .iter()
        .chain(&report.updated)
        .filter(|uuid| carried.contains_key(*uuid))
        .cloned()
        .collect();
    for uuid in stored {
        let Some(reports) = carried.remove(&uuid) else {
            continue;
        };
        let Some(event_id) = store.event_id_by_uuid(&uuid).await? else {
            continue;
        };
        if let Err(error) = save_carried_reports(store, event_id, &reports, crate::now()).await {
            report
                .failed
                .push((uuid, format!("cannot store its event reports: {error}")));
        }
    }
    Ok(())
}

/// How a pulled event that needed no insert was handled.
enum Stored {
    Updated,
    Unchanged,
}

/// Events ahead of the one being compared with the database: downloaded, checked and being
/// built on other threads.
const PREPARE_AHEAD: usize = 3;
/// New events gathered before they are written in one transaction (as a feed import does).
const BATCH_ATTRIBUTES: u64 = 10_000;
const BATCH_EVENTS: usize = 200;

/// New pulled events waiting to be written together.
#[derive(Default)]
struct PulledBatch {
    uuids: Vec<String>,
    events: Vec<kizuna_model::Event>,
    attributes: u64,
}

impl PulledBatch {
    fn push(&mut self, uuid: String, event: kizuna_model::Event) {
        self.attributes += event.attributes.len() as u64
            + event
                .objects
                .iter()
                .map(|object| object.attributes.len() as u64)
                .sum::<u64>();
        self.uuids.push(uuid);
        self.events.push(event);
    }

    fn is_full(&self) -> bool {
        self.attributes >= BATCH_ATTRIBUTES || self.events.len() >= BATCH_EVENTS
    }

    /// Writes the gathered events in one transaction; should that fail, one by one, so
    /// each event is still stored whole or not at all and a bad one fails alone.
    async fn write(self, store: &Store) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        if self.events.is_empty() {
            return outcome;
        }
        let clock = Instant::now();
        if store.insert_events(&self.events, true).await.is_ok() {
            outcome.added = self.uuids;
            outcome.took = clock.elapsed();
            return outcome;
        }
        for (uuid, event) in self.uuids.into_iter().zip(&self.events) {
            match store.insert_event(event, true).await {
                Ok(_) => outcome.added.push(uuid),
                Err(error) => outcome
                    .failed
                    .push((uuid, format!("cannot store it: {error}"))),
            }
        }
        outcome.took = clock.elapsed();
        outcome
    }
}

/// What writing one batch did.
#[derive(Default)]
struct BatchOutcome {
    added: Vec<String>,
    failed: Vec<(String, String)>,
    took: Duration,
}

impl BatchOutcome {
    fn record(self, report: &mut PullReport) {
        report.added.extend(self.added);
        report.failed.extend(self.failed);
    }
}

/// Waits for a batch written in the background and records what it did.
async fn finish_batch(
    writing: tokio::task::JoinHandle<BatchOutcome>,
    report: &mut PullReport,
    timings: &mut PullTimings,
) {
    match writing.await {
        Ok(outcome) => {
            timings.writing += outcome.took;
            outcome.record(report);
        }
        Err(error) => report.failed.push((
            "(a batch of new events)".into(),
            format!("writing the batch failed: {error}"),
        )),
    }
}

/// The answer to `/events/view/<uuid>` checked against what was asked and downgraded for
/// this instance; None when nothing is left to store.
fn check_pulled(
    uuid: &str,
    mut body: Value,
    keep_levels: bool,
    rules: &PullRules,
) -> Result<Option<Value>, String> {
    let event = body
        .get_mut("Event")
        .ok_or_else(|| "the answer holds no event".to_string())?;
    let answered = event
        .get("uuid")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    if answered.as_deref() != Some(uuid) {
        return Err(format!(
            "the remote answered event {answered:?} when asked for {uuid}"
        ));
    }
    if !downgrade_pulled(event, keep_levels, rules) {
        return Ok(None);
    }
    Ok(Some(body))
}

/// What an import that inserted nothing did with a pulled event.
fn stored_outcome(summary: &crate::import::ImportSummary) -> Result<Stored, String> {
    if summary.events_updated == 1 {
        return Ok(Stored::Updated);
    }
    if summary.events_unchanged == 1 {
        return Ok(Stored::Unchanged);
    }
    Err(summary
        .rejected
        .first()
        .map(|rejection| rejection.reason.clone())
        .unwrap_or_else(|| "the event could not be stored".into()))
}

/// Calls `visit` on the event object and each of its attributes, objects, object
/// attributes and reports.
fn visit_items(event: &mut Value, visit: &mut dyn FnMut(&mut Value)) {
    visit(event);
    for key in ["Attribute", "EventReport"] {
        if let Some(Value::Array(items)) = event.get_mut(key) {
            items.iter_mut().for_each(&mut *visit);
        }
    }
    if let Some(Value::Array(objects)) = event.get_mut("Object") {
        for object in objects.iter_mut() {
            visit(object);
            if let Some(Value::Array(attributes)) = object.get_mut("Attribute") {
                attributes.iter_mut().for_each(&mut *visit);
            }
        }
    }
}

fn is_group_item(item: &Value) -> bool {
    item.get("distribution").and_then(lenient_i64) == Some(4)
}

/// Gives every item of distribution 4 the local id of its sharing group, found by the uuid
/// of the `SharingGroup` it carries or created from it (members captured by uuid, then
/// name). An item naming a group it does not describe falls back to level 0: a remote id
/// means nothing here and could name another local group.
pub async fn capture_sharing_groups(
    store: &Store,
    event: &mut Value,
    user_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    let mut described: HashMap<String, Value> = HashMap::new();
    visit_items(event, &mut |item| {
        if is_group_item(item)
            && let Some(group) = item.get("SharingGroup")
            && let Some(uuid) = group.get("uuid").and_then(Value::as_str)
        {
            described
                .entry(uuid.to_ascii_lowercase())
                .or_insert_with(|| group.clone());
        }
    });
    let mut local_ids: HashMap<String, i64> = HashMap::new();
    for (uuid, group) in &described {
        let id = local_sharing_group(store, uuid, group, user_id, now).await?;
        local_ids.insert(uuid.clone(), id);
    }
    visit_items(event, &mut |item| {
        if !is_group_item(item) {
            return;
        }
        let local = item
            .get("SharingGroup")
            .and_then(|group| group.get("uuid"))
            .and_then(Value::as_str)
            .and_then(|uuid| local_ids.get(&uuid.to_ascii_lowercase()).copied());
        match local {
            Some(id) => item["sharing_group_id"] = Value::String(id.to_string()),
            None => {
                item["distribution"] = Value::String("0".into());
                item["sharing_group_id"] = Value::String("0".into());
            }
        }
        if let Value::Object(map) = item {
            map.remove("SharingGroup");
        }
    });
    Ok(())
}

fn org_input(value: Option<&Value>) -> Option<OrgInput> {
    let value = value?;
    let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_string);
    Some(OrgInput {
        id: None,
        uuid: text("uuid"),
        name: text("name"),
    })
}

async fn local_sharing_group(
    store: &Store,
    uuid: &str,
    group: &Value,
    user_id: i64,
    now: i64,
) -> Result<i64, StoreError> {
    match store.sharing_group(&Key::Uuid(uuid.to_string())).await {
        Ok(existing) => return Ok(existing.id),
        Err(StoreError::NotFound) => {}
        Err(other) => return Err(other),
    }
    let text = |name: &str| {
        group
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let owner = creator_org(
        store,
        org_input(group.get("Organisation")).as_ref(),
        user_id,
        now,
    )
    .await?
    .unwrap_or(0);
    let mut orgs = Vec::new();
    if let Some(Value::Array(members)) = group.get("SharingGroupOrg") {
        for member in members {
            let org = org_input(member.get("Organisation"));
            if let Some(org_id) = creator_org(store, org.as_ref(), user_id, now).await?
                && !orgs
                    .iter()
                    .any(|known: &SharingGroupOrg| known.org_id == org_id)
            {
                orgs.push(SharingGroupOrg {
                    id: 0,
                    org_id,
                    extend: member.get("extend").and_then(lenient_bool).unwrap_or(false),
                });
            }
        }
    }
    let mut name = text("name");
    if name.trim().is_empty() {
        name = format!("Sharing group {uuid}");
    }
    let organisation_uuid = group
        .get("Organisation")
        .and_then(|org| org.get("uuid"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut candidate = SharingGroup {
        id: 0,
        uuid: uuid.to_string(),
        name: name.clone(),
        releasability: text("releasability"),
        description: text("description"),
        org_id: owner,
        organisation_uuid,
        sync_user_id: user_id,
        active: true,
        local: false,
        roaming: group.get("roaming").and_then(lenient_bool).unwrap_or(false),
        created: now,
        modified: now,
        orgs,
        servers: Vec::new(),
    };
    match store.create_sharing_group(&candidate).await {
        Ok(created) => Ok(created.id),
        Err(StoreError::Conflict(_)) => {
            // Another pull created it first, or a local group already has the name.
            if let Ok(existing) = store.sharing_group(&Key::Uuid(uuid.to_string())).await {
                return Ok(existing.id);
            }
            candidate.name = format!("{name} ({uuid})");
            store.create_sharing_group(&candidate).await.map(|g| g.id)
        }
        Err(other) => Err(other),
    }
}

/// Pulls the sightings of events whose remote `sighting_timestamp` is newer than ours.
async fn pull_sightings(
    store: &Store,
    remote: &Remote,
    entries: &[IndexEntry],
    blocklisted: &HashSet<String>,
    report: &mut PullReport,
) -> Result<(), SyncError> {
    let uuids: Vec<String> = entries
        .iter()
        .filter(|entry| entry.sighting_timestamp > 0 && !blocklisted.contains(&entry.uuid))
        .map(|entry| entry.uuid.clone())
        .collect();
    let marks = store.sync_marks(&uuids).await?;
    let due: Vec<&IndexEntry> = entries
        .iter()
        .filter(|entry| {
            marks
                .get(&entry.uuid)
                .is_some_and(|mark| entry.sighting_timestamp > mark.sighting_timestamp)
        })
        .collect();
    let now = crate::now();
    for chunk in due.chunks(SIGHTING_CHUNK) {
        let chunk_uuids: Vec<String> = chunk.iter().map(|entry| entry.uuid.clone()).collect();
        let rows = match remote.sightings_of_events(&chunk_uuids).await {
            Ok(rows) => rows,
            Err(error) => {
                report.sighting_failures.push(error.to_string());
                continue;
            }
        };
        report.sightings_added += save_pulled_sightings(store, &rows, now).await?;
        let raised: Vec<(String, i64)> = chunk
            .iter()
            .map(|entry| (entry.uuid.clone(), entry.sighting_timestamp))
            .collect();
        store.raise_sighting_timestamps(&raised).await?;
    }
    Ok(())
}

/// Saves the sightings a remote sent that are new here and name an attribute we hold.
async fn save_pulled_sightings(store: &Store, rows: &[Value], now: i64) -> Result<u64, StoreError> {
    let text = |row: &Value, name: &str| {
        row.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    let sighting_uuids: Vec<String> = rows.iter().map(|row| text(row, "uuid")).collect();
    let known = store.known_sighting_uuids(&sighting_uuids).await?;
    let attribute_uuids: Vec<String> = rows.iter().map(|row| text(row, "attribute_uuid")).collect();
    // Sightings of every attribute we hold, whoever may see it here (the site admin's view).
    let attributes = store
        .attributes_for_sightings(&attribute_uuids, &Viewer::SiteAdmin)
        .await?;
    let mut fresh: Vec<Sighting> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for row in rows {
        let uuid = text(row, "uuid");
        if uuid.is_empty() || known.contains(&uuid) || !seen.insert(uuid.clone()) {
            continue;
        }
        let Some(attribute) = attributes.get(&text(row, "attribute_uuid")) else {
            continue;
        };
        let org = org_input(row.get("Organisation"));
        let org_id = match &org {
            Some(org) if org.uuid.is_some() || org.name.is_some() => {
                creator_org(store, Some(org), 0, now).await?.unwrap_or(0)
            }
            // An anonymised sighting.
            _ => 0,
        };
        let sighting_type = row
            .get("type")
            .and_then(lenient_i64)
            .and_then(SightingType::from_i64)
            .unwrap_or(SightingType::Sighting);
        fresh.push(Sighting {
            id: 0,
            uuid,
            attribute_id: attribute.attribute_id,
            event_id: attribute.event_id,
            org_id,
            date_sighting: row
                .get("date_sighting")
                .and_then(lenient_i64)
                .unwrap_or(now),
            source: row
                .get("source")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            sighting_type,
        });
    }
    if fresh.is_empty() {
        return Ok(0);
    }
    Ok(store.add_sightings(&fresh).await?.len() as u64)
}

/// The summary as the JSON `kizuna sync` and the API print.
pub fn report_json(report: &PullReport) -> Value {
    json!({
        "not_modified": report.not_modified,
        "offered": report.offered,
        "fetched": report.fetched,
        "added": report.added.len(),
        "updated": report.updated.len(),
        "unchanged": report.unchanged,
        "kept_local": report.kept_local.len(),
        "blocklisted": report.blocklisted,
        "empty": report.empty,
        "failed": report.failed.iter().map(|(uuid, reason)| json!({"uuid": uuid, "reason": reason})).collect::<Vec<_>>(),
        "sightings_added": report.sightings_added,
        "sighting_failures": report.sighting_failures,
    })
}

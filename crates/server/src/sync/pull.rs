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
use crate::import::{ImportSettings, ToIdsOverride, creator_org, import_event};
use futures_util::StreamExt;
use kizuna_formats::misp::input::{OrgInput, lenient_bool, lenient_i64};
use kizuna_model::access::Viewer;
use kizuna_model::{SharingGroup, SharingGroupOrg, Sighting, SightingType};
use kizuna_store::{Key, Server, Store, StoreError};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// Event downloads in flight at once.
pub const FETCH_CONCURRENCY: usize = 6;
/// Event uuids per sighting request (MISP's chunk size).
const SIGHTING_CHUNK: usize = 20;

/// Which events a pull considers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullTechnique {
    /// Every event the index offers that is new or newer here.
    Full,
    /// Same as full: the index comparison already makes every pull incremental.
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
    let rules = PullRules::parse(&server.pull_rules);
    let whole_index = matches!(technique, PullTechnique::Full | PullTechnique::Incremental);
    let filters = match technique {
        PullTechnique::Update => PullRules::unfiltered_index(),
        _ => rules.index_filters(),
    };
    let cached_etag = (whole_index && server.state.last_pull_ok)
        .then_some(server.state.index_etag.as_str())
        .filter(|etag| !etag.is_empty());
    let mut report = PullReport::default();
    let (entries, etag) = match remote.event_index(&filters, cached_etag).await? {
        IndexAnswer::NotModified => {
            report.not_modified = true;
            return Ok((report, server.state.index_etag.clone()));
        }
        IndexAnswer::Fresh { entries, etag } => (entries, etag),
    };
    report.offered = entries.len() as u64;
    let entries: Vec<IndexEntry> = entries.into_iter().filter(|e| e.published).collect();
    let uuids: Vec<String> = entries.iter().map(|entry| entry.uuid.clone()).collect();
    let blocklisted = store.blocklisted_among(&uuids).await?;
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
        if blocklisted.contains(&entry.uuid) {
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
    let wanted: Vec<IndexEntry> = wanted.into_iter().cloned().collect();
    let fetcher = remote.clone();
    let mut downloads = futures_util::stream::iter(wanted.into_iter().map(move |entry| {
        let remote = fetcher.clone();
        async move {
            let fetched = remote.event(&entry.uuid).await;
            (entry, fetched)
        }
    }))
    .buffered(FETCH_CONCURRENCY);
    while let Some((entry, fetched)) = downloads.next().await {
        let entry = &entry;
        report.fetched += 1;
        let body = match fetched {
            Ok(body) => body,
            Err(error) => {
                report.failed.push((entry.uuid.clone(), error.to_string()));
                continue;
            }
        };
        match store_pulled(store, server, entry, body, &rules, keep_levels, &settings).await {
            Ok(Stored::Added) => report.added.push(entry.uuid.clone()),
            Ok(Stored::Updated) => report.updated.push(entry.uuid.clone()),
            Ok(Stored::Unchanged) => report.unchanged += 1,
            Ok(Stored::Empty) => report.empty += 1,
            Err(reason) => report.failed.push((entry.uuid.clone(), reason)),
        }
        if report.failed.iter().all(|(uuid, _)| uuid != &entry.uuid) {
            report.lastpulledid = report.lastpulledid.max(entry.id);
        }
    }
    drop(downloads);
    pull_sightings(store, &remote, &entries, &blocklisted, &mut report).await?;
    let keep_etag = if whole_index && report.ok() {
        etag.unwrap_or_default()
    } else {
        String::new()
    };
    Ok((report, keep_etag))
}

enum Stored {
    Added,
    Updated,
    Unchanged,
    Empty,
}

async fn store_pulled(
    store: &Store,
    server: &Server,
    entry: &IndexEntry,
    mut body: Value,
    rules: &PullRules,
    keep_levels: bool,
    settings: &ImportSettings,
) -> Result<Stored, String> {
    let event = body
        .get_mut("Event")
        .ok_or_else(|| "the answer holds no event".to_string())?;
    let uuid = event
        .get("uuid")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    if uuid.as_deref() != Some(entry.uuid.as_str()) {
        return Err(format!(
            "the remote answered event {uuid:?} when asked for {}",
            entry.uuid
        ));
    }
    if !downgrade_pulled(event, keep_levels, rules) {
        return Ok(Stored::Empty);
    }
    let now = crate::now();
    capture_sharing_groups(store, event, settings.user_id, now)
        .await
        .map_err(|error| format!("cannot store its sharing group: {error}"))?;
    let source = format!("{}/events/view/{}", server.url, entry.uuid);
    let summary = import_event(store, &source, &body, settings, now)
        .await
        .map_err(|error| format!("cannot store it: {error}"))?;
    if summary.events_added == 1 {
        store
            .lock_events(std::slice::from_ref(&entry.uuid))
            .await
            .map_err(|error| error.to_string())?;
        return Ok(Stored::Added);
    }
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

//! The one path that saves imported events: MISP JSON files, MISP feeds, STIX bundles and
//! lists of values (after `kizuna_formats` turned them into MISP JSON), from the CLI's
//! `kizuna import` and from feed fetching alike.
//!
//! Each event is saved whole or not at all. Items the event cannot hold (an attribute with
//! an unknown type or a bad value, an object with such an attribute) are left out and
//! reported with their place in the source; the rest of the event is saved. A known event
//! (same uuid) is updated only when the incoming one is newer, with MISP's edit rules
//! (`event_merge`).

use crate::event_merge::{MergeRights, plan_event_changes};
use kizuna_formats::freetext::DetectedValue;
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::build::{BuildContext, new_event};
use kizuna_formats::misp::input::{EventInput, OrgInput, TagInput, parse_event};
use kizuna_formats::report::Rejection;
use kizuna_formats::stix::import::ParsedEvent;
use kizuna_model::{Distribution, Event, Organisation};
use kizuna_store::{EventChanges, Key, LoadOptions, Store, StoreError};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// How the source's `to_ids` flags are treated (MISP feed `override_ids` / `force_to_ids`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ToIdsOverride {
    #[default]
    Keep,
    ForceOff,
    ForceOn,
}

/// Who owns the imported events and what of the source is overridden.
#[derive(Clone, Debug)]
pub struct ImportSettings {
    /// Owner organisation (`org_id`) and user of the saved events.
    pub org_id: i64,
    pub user_id: i64,
    /// Keep the creator organisation the source names (found by uuid, then name, created as
    /// a non-local organisation when unknown); otherwise the owner is the creator.
    pub keep_creator: bool,
    /// Distribution (and sharing group id) forced on every event, with its items set to
    /// inherit it (MISP's feed rule); None keeps what the source says.
    pub distribution: Option<(Distribution, i64)>,
    /// Published flag forced on every event; None keeps the source's.
    pub publish: Option<bool>,
    /// Tags added to every event.
    pub tags: Vec<String>,
    pub to_ids: ToIdsOverride,
    /// Update a known event when the incoming one is newer; otherwise known events are left
    /// alone.
    pub update_existing: bool,
}

impl ImportSettings {
    /// Events owned by `org_id`, everything else as the source says.
    pub fn owned_by(org_id: i64, user_id: i64) -> Self {
        Self {
            org_id,
            user_id,
            keep_creator: true,
            distribution: None,
            publish: None,
            tags: Vec::new(),
            to_ids: ToIdsOverride::Keep,
            update_existing: true,
        }
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportSummary {
    pub events_added: u64,
    pub events_updated: u64,
    /// Known events the source holds no newer version of.
    pub events_unchanged: u64,
    /// Attributes saved (loose and inside objects) in added and updated events.
    pub attributes_added: u64,
    pub objects_added: u64,
    /// Values given twice within one event, saved once.
    pub duplicates: u64,
    pub rejected: Vec<Rejection>,
}

impl ImportSummary {
    pub fn merge(&mut self, other: ImportSummary) {
        self.events_added += other.events_added;
        self.events_updated += other.events_updated;
        self.events_unchanged += other.events_unchanged;
        self.attributes_added += other.attributes_added;
        self.objects_added += other.objects_added;
        self.duplicates += other.duplicates;
        self.rejected.extend(other.rejected);
    }

    pub fn to_json(&self) -> Value {
        json!({
            "events_added": self.events_added,
            "events_updated": self.events_updated,
            "events_unchanged": self.events_unchanged,
            "attributes_added": self.attributes_added,
            "objects_added": self.objects_added,
            "duplicates": self.duplicates,
            "rejected": self.rejected.iter().map(|rejection| json!({
                "location": rejection.location,
                "item": rejection.item,
                "reason": rejection.reason,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Rounds of leaving out failing items before an event is given up (items only fail once,
/// but a parse error can hide a build error of the same item).
const REPAIR_ROUNDS: usize = 3;

/// Saves one MISP-JSON event (`{"Event": {...}}` or the bare object) read from `source` (a
/// file name or URL, for the report).
pub async fn import_event(
    store: &Store,
    source: &str,
    event: &Value,
    settings: &ImportSettings,
    now: i64,
) -> Result<ImportSummary, StoreError> {
    import_owned_event(store, source, event.clone(), settings, now).await
}

/// [`import_event`] of an event the caller no longer needs: parsed where it lies instead of
/// copied first (a copy of an event of 1,000 attributes was ~1 ms of a TAXII POST).
pub async fn import_owned_event(
    store: &Store,
    source: &str,
    event: Value,
    settings: &ImportSettings,
    now: i64,
) -> Result<ImportSummary, StoreError> {
    let prepared = prepare_event(source, event, settings, now);
    import_prepared(store, source, prepared, settings, now)
        .await
        .map(|(summary, _)| summary)
}

/// [`import_owned_event`] of an event already read as typed input (the STIX import's
/// [`ParsedEvent`](kizuna_formats::stix::import::ParsedEvent)): the same checks and
/// results, without a JSON tree written only to be read back.
pub async fn import_parsed_event(
    store: &Store,
    source: &str,
    event: ParsedEvent,
    settings: &ImportSettings,
    now: i64,
) -> Result<ImportSummary, StoreError> {
    import_parsed_event_with_id(store, source, event, settings, now)
        .await
        .map(|(summary, _)| summary)
}

/// [`import_parsed_event`], with the id of the event it added (`None` when it added none),
/// so that a caller recording the write need not look the event up again.
pub async fn import_parsed_event_with_id(
    store: &Store,
    source: &str,
    event: ParsedEvent,
    settings: &ImportSettings,
    now: i64,
) -> Result<(ImportSummary, Option<i64>), StoreError> {
    let prepared = prepare_parsed_event(source, event, settings, now);
    import_prepared(store, source, prepared, settings, now).await
}

/// Compares a prepared event with the database and writes what it decides.
async fn import_prepared(
    store: &Store,
    source: &str,
    prepared: PreparedEvent,
    settings: &ImportSettings,
    now: i64,
) -> Result<(ImportSummary, Option<i64>), StoreError> {
    match decide(store, source, prepared, settings, now).await? {
        Decision::Done(summary) => Ok((summary, None)),
        Decision::Insert(event, mut summary) => {
            let event_id = store.insert_event(&event, true).await?;
            summary.events_added = 1;
            Ok((summary, Some(event_id)))
        }
    }
}

/// [`prepare_event`] of typed input: what parsing reported is handled as a parse failure
/// of the first round would be, then the event is built and failing items left out.
pub fn prepare_parsed_event(
    source: &str,
    event: ParsedEvent,
    settings: &ImportSettings,
    now: i64,
) -> PreparedEvent {
    let ParsedEvent {
        mut input,
        errors: parse_errors,
    } = event;
    let mut summary = ImportSummary::default();
    let label = input_label(&input);
    let context = build_context(now);
    // Settings touch no field an item can fail on, so applying them once before the
    // rounds is applying them after each parse.
    apply_settings(&mut input, settings);
    // What parsing reported is handled as a first round's failure would be.
    let mut pending = (!parse_errors.is_empty()).then_some(parse_errors);
    let built = build_with_repairs(
        &mut input,
        |input| match pending.take() {
            Some(errors) => Err(errors),
            None => new_event(input, &context, settings.org_id, settings.user_id),
        },
        |input, errors| remove_failing_inputs(input, errors, source),
        (&label, source, &mut summary),
    )
    .map(|event| (input, event));
    if let Some((input, event)) = &built {
        let given = count_loose_values(input);
        summary.duplicates = given.saturating_sub(event.attributes.len() as u64);
    }
    PreparedEvent {
        summary,
        label,
        built,
    }
}

/// Runs `attempt` on `state` until it succeeds, leaving out what failed (`remove`) at most
/// `REPAIR_ROUNDS` times; when nothing more can be left out, the whole event (`label`, from
/// `source`) is rejected in `summary`.
fn build_with_repairs<State, Built>(
    state: &mut State,
    mut attempt: impl FnMut(&mut State) -> Result<Built, FieldErrors>,
    remove: impl Fn(&mut State, &FieldErrors) -> Option<Vec<Rejection>>,
    (label, source, summary): (&str, &str, &mut ImportSummary),
) -> Option<Built> {
    let mut rounds = 0;
    loop {
        let errors = match attempt(state) {
            Ok(built) => return Some(built),
            Err(errors) => errors,
        };
        rounds += 1;
        let removed = (rounds <= REPAIR_ROUNDS)
            .then(|| remove(state, &errors))
            .flatten();
        match removed {
            Some(rejections) => summary.rejected.extend(rejections),
            None => {
                summary.rejected.push(
                    Rejection::new("event", label.to_string(), errors.summary()).in_source(source),
                );
                return None;
            }
        }
    }
}

/// An event read from a source, validated and built, not yet compared with the database:
/// the CPU-bound half of an import, which a feed import runs ahead on another core while
/// the previous event is written.
pub struct PreparedEvent {
    summary: ImportSummary,
    label: String,
    built: Option<(EventInput, Event)>,
}

/// Validates and builds one MISP-JSON event, leaving out (and reporting) the items it
/// cannot hold.
pub fn prepare_event(
    source: &str,
    event: Value,
    settings: &ImportSettings,
    now: i64,
) -> PreparedEvent {
    let mut summary = ImportSummary::default();
    let mut document = match event {
        Value::Object(mut map) if map.contains_key("Event") => {
            map.remove("Event").unwrap_or(Value::Null)
        }
        other => other,
    };
    let label = event_label(&document);
    if !document.is_object() {
        summary.rejected.push(
            Rejection::new("event", label.clone(), "an event must be a JSON object")
                .in_source(source),
        );
        return PreparedEvent {
            summary,
            label,
            built: None,
        };
    }
    let context = build_context(now);
    let built = build_with_repairs(
        &mut document,
        |document| {
            parse_event(document).and_then(|mut input| {
                apply_settings(&mut input, settings);
                let event = new_event(&input, &context, settings.org_id, settings.user_id)?;
                Ok((input, event))
            })
        },
        |document, errors| remove_failing_items(document, errors, source),
        (&label, source, &mut summary),
    );
    if let Some((input, event)) = &built {
        let given = count_loose_values(input);
        summary.duplicates = given.saturating_sub(event.attributes.len() as u64);
    }
    PreparedEvent {
        summary,
        label,
        built,
    }
}

/// What a prepared event needs: nothing more (rejected, unchanged, or an update already
/// written), or inserting as a new event.
pub(crate) enum Decision {
    Done(ImportSummary),
    Insert(Box<Event>, ImportSummary),
}

/// Compares a prepared event with the database: a known event is updated here (when the
/// source is newer), a new one is returned for the caller to insert.
pub(crate) async fn decide(
    store: &Store,
    source: &str,
    prepared: PreparedEvent,
    settings: &ImportSettings,
    now: i64,
) -> Result<Decision, StoreError> {
    decide_with(store, source, prepared, settings, now, &mut DatabaseLookups).await
}

/// What `decide` needs to know about an event besides the event itself. Imports ask the
/// database each time ([`DatabaseLookups`]); a pull answers most of it from what it read for
/// the whole run (`sync::pull`), since one query per event and question was the serial part
/// of a large pull.
pub(crate) trait DecideLookups {
    /// The id of the stored event with this uuid.
    async fn event_id(&mut self, store: &Store, uuid: &str) -> Result<Option<i64>, StoreError>;
    async fn org_blocklisted(&mut self, store: &Store, org_uuid: &str) -> Result<bool, StoreError>;
    async fn event_blocklisted(&mut self, store: &Store, uuid: &str) -> Result<bool, StoreError>;
    /// As [`creator_org`].
    async fn creator(
        &mut self,
        store: &Store,
        orgc: Option<&OrgInput>,
        created_by: i64,
        now: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// Whether a newer version takes off the global tags of the loose attributes it updates
    /// that it no longer names (a sync server's `remove_missing_tags`).
    fn removes_missing_tags(&self) -> bool {
        false
    }
}

/// Every answer read from the database when asked.
pub(crate) struct DatabaseLookups;

impl DecideLookups for DatabaseLookups {
    async fn event_id(&mut self, store: &Store, uuid: &str) -> Result<Option<i64>, StoreError> {
        store.event_id_by_uuid(uuid).await
    }

    async fn org_blocklisted(&mut self, store: &Store, org_uuid: &str) -> Result<bool, StoreError> {
        store.is_org_blocklisted(org_uuid).await
    }

    async fn event_blocklisted(&mut self, store: &Store, uuid: &str) -> Result<bool, StoreError> {
        store.is_event_blocklisted(uuid).await
    }

    async fn creator(
        &mut self,
        store: &Store,
        orgc: Option<&OrgInput>,
        created_by: i64,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        creator_org(store, orgc, created_by, now).await
    }
}

/// [`decide`] with its questions answered by `lookups`.
pub(crate) async fn decide_with(
    store: &Store,
    source: &str,
    prepared: PreparedEvent,
    settings: &ImportSettings,
    now: i64,
    lookups: &mut impl DecideLookups,
) -> Result<Decision, StoreError> {
    let PreparedEvent {
        mut summary,
        label,
        built,
    } = prepared;
    let Some((input, built)) = built else {
        return Ok(Decision::Done(summary));
    };
    if let Some(uuid) = input.uuid.as_deref() {
        if let Some(existing_id) = lookups.event_id(store, uuid).await? {
            let context = build_context(now);
            let remove_missing_tags = lookups.removes_missing_tags();
            update_known_event(
                store,
                existing_id,
                &input,
                settings,
                &context,
                remove_missing_tags,
                &mut summary,
            )
            .await?;
            return Ok(Decision::Done(summary));
        }
        if let Some(orgc_uuid) = input.orgc.as_ref().and_then(|orgc| orgc.uuid.as_deref())
            && lookups.org_blocklisted(store, orgc_uuid).await?
        {
            summary.rejected.push(
                Rejection::new(
                    "event",
                    label,
                    "its creator organisation is on the organisation blocklist",
                )
                .in_source(source),
            );
            return Ok(Decision::Done(summary));
        }
        if lookups.event_blocklisted(store, uuid).await? {
            summary.rejected.push(
                Rejection::new(
                    "event",
                    label,
                    "the event was deleted on this instance and is blocklisted",
                )
                .in_source(source),
            );
            return Ok(Decision::Done(summary));
        }
    }
    let mut event = built;
    event.orgc_id = if settings.keep_creator {
        lookups
            .creator(store, input.orgc.as_ref(), settings.user_id, now)
            .await?
            .unwrap_or(settings.org_id)
    } else {
        settings.org_id
    };
    // Imported events by another creator are locked as synced ones are: edits come from
    // their source.
    event.locked = event.orgc_id != event.org_id;
    drop_unknown_sharing_groups(store, &mut event).await?;
    if event.published && event.attributes.is_empty() && event.objects.is_empty() {
        event.published = false;
    }
    if event.published {
        event.publish_timestamp = input.publish_timestamp.filter(|&at| at > 0).unwrap_or(now);
    }
    summary.attributes_added = count_attributes(&event);
    summary.objects_added = event.objects.len() as u64;
    // A large input is freed on the blocking pool (~1.5M instructions for 1,000 attributes)
    // while the caller writes the event.
    if input.attributes.len() >= DROP_ASIDE_FROM {
        tokio::task::spawn_blocking(move || drop(input));
    }
    Ok(Decision::Insert(Box::new(event), summary))
}

/// Inputs with this many items on are freed on the blocking pool (`decide_with`, a TAXII
/// envelope's tree); a smaller one costs less to free than a thread's wake-up.
pub(crate) const DROP_ASIDE_FROM: usize = 200;

impl PreparedEvent {
    /// The uuid the source gives the event, if it could be built.
    pub fn uuid(&self) -> Option<&str> {
        self.built
            .as_ref()
            .and_then(|(input, _)| input.uuid.as_deref())
    }
}

/// New events of a feed import waiting to be written together.
#[derive(Default)]
struct PendingInserts {
    events: Vec<Event>,
    summaries: Vec<ImportSummary>,
    attributes: u64,
}

/// Attributes gathered before a feed import writes its new events in one transaction: few
/// enough that writing starts while later events are still being read and built.
const INSERT_BATCH_ATTRIBUTES: u64 = 10_000;

impl PendingInserts {
    fn push(&mut self, event: Event, summary: ImportSummary) {
        self.attributes += summary.attributes_added;
        self.events.push(event);
        self.summaries.push(summary);
    }

    fn holds(&self, uuid: &str) -> bool {
        self.events.iter().any(|event| event.uuid == uuid)
    }

    fn is_full(&self) -> bool {
        self.attributes >= INSERT_BATCH_ATTRIBUTES || self.events.len() >= 500
    }

    /// Writes the gathered events in one transaction. Should that fail, they are written
    /// one by one, so that every event before the failing one is saved as it would have
    /// been alone, and the error is returned.
    async fn flush(&mut self, store: &Store, total: &mut ImportSummary) -> Result<(), StoreError> {
        let events = std::mem::take(&mut self.events);
        let summaries = std::mem::take(&mut self.summaries);
        self.attributes = 0;
        if events.is_empty() {
            return Ok(());
        }
        if store.insert_events(&events, true).await.is_ok() {
            for mut summary in summaries {
                summary.events_added = 1;
                total.merge(summary);
            }
            return Ok(());
        }
        for (event, mut summary) in events.iter().zip(summaries) {
            store.insert_event(event, true).await?;
            summary.events_added = 1;
            total.merge(summary);
        }
        Ok(())
    }
}

async fn update_known_event(
    store: &Store,
    existing_id: i64,
    input: &EventInput,
    settings: &ImportSettings,
    context: &BuildContext,
    remove_missing_tags: bool,
    summary: &mut ImportSummary,
) -> Result<(), StoreError> {
    let existing = store
        .event(
            &Key::Id(existing_id),
            &LoadOptions {
                include_deleted: true,
                viewer_org: None,
            },
        )
        .await?;
    let newer = input
        .timestamp
        .is_some_and(|timestamp| timestamp > existing.timestamp);
    if !settings.update_existing || !newer {
        summary.events_unchanged = 1;
        return Ok(());
    }
    let rights = MergeRights {
        publish: true,
        create_tags: true,
    };
    let mut changes = match plan_event_changes(&existing, input, context, rights) {
        Ok(changes) => changes,
        Err(errors) => {
            summary.rejected.push(Rejection::new(
                "event",
                existing.uuid.clone(),
                format!("the newer version cannot be merged: {}", errors.summary()),
            ));
            return Ok(());
        }
    };
    // The owner stays who it was; the source may not move the event to another creator.
    changes.event.org_id = existing.org_id;
    changes.event.orgc_id = existing.orgc_id;
    if changes.event.published {
        changes.event.publish_timestamp = input
            .publish_timestamp
            .filter(|&at| at > 0)
            .unwrap_or(context.now);
    }
    summary.attributes_added = changes.new_attributes.len() as u64
        + changes
            .new_objects
            .iter()
            .map(|object| object.attributes.len() as u64)
            .sum::<u64>();
    summary.objects_added = changes.new_objects.len() as u64;
    if remove_missing_tags {
        let missing = missing_attribute_tags(&existing, &changes);
        store
            .apply_event_changes_detaching_tags(&changes, &missing)
            .await?;
    } else {
        store.apply_event_changes(&changes).await?;
    }
    summary.events_updated = 1;
    Ok(())
}

/// MISP's `remove_missing_tags`: the global tags of each updated loose attribute that its
/// newer version no longer names (names compared without case), as (attribute id, tag id).
/// Local tags were never sent and stay; object attributes and event tags are not pruned
/// (MISP prunes only what its attribute edit handles).
fn missing_attribute_tags(existing: &Event, changes: &EventChanges) -> Vec<(i64, i64)> {
    let mut missing = Vec::new();
    for updated in changes
        .updated_attributes
        .iter()
        .filter(|attribute| attribute.object_id == 0)
    {
        let Some(stored) = existing
            .attributes
            .iter()
            .find(|attribute| attribute.id == updated.id)
        else {
            continue;
        };
        let named: std::collections::HashSet<String> = updated
            .tags
            .iter()
            .map(|attached| attached.tag.name.to_lowercase())
            .collect();
        missing.extend(
            stored
                .tags
                .iter()
                .filter(|attached| {
                    !attached.local && !named.contains(&attached.tag.name.to_lowercase())
                })
                .map(|attached| (stored.id, attached.tag.id)),
        );
    }
    missing
}

/// The creator organisation a source names: found by uuid, then by name, else created as a
/// non-local organisation. None when the source names none.
pub(crate) async fn creator_org(
    store: &Store,
    orgc: Option<&OrgInput>,
    created_by: i64,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let Some(orgc) = orgc else { return Ok(None) };
    if let Some(uuid) = &orgc.uuid {
        match store.org(&Key::Uuid(uuid.clone())).await {
            Ok(org) => return Ok(Some(org.id)),
            Err(StoreError::NotFound) => {}
            Err(other) => return Err(other),
        }
    }
    let Some(name) = orgc
        .name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty())
    else {
        return Ok(None);
    };
    if let Some(org) = store.org_by_name(name).await? {
        return Ok(Some(org.id));
    }
    let uuid = orgc
        .uuid
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let created = store
        .create_org(&Organisation {
            uuid: uuid.clone(),
            name: name.to_string(),
            local: false,
            created_by,
            date_created: now,
            date_modified: now,
            ..Organisation::default()
        })
        .await;
    match created {
        Ok(org) => Ok(Some(org.id)),
        // Another import brought the same creator first: use its row.
        Err(StoreError::Conflict(_)) => match store.org_by_name(name).await? {
            Some(org) => Ok(Some(org.id)),
            None => store.org(&Key::Uuid(uuid)).await.map(|org| Some(org.id)),
        },
        Err(other) => Err(other),
    }
}

fn build_context(now: i64) -> BuildContext {
    let today = time::OffsetDateTime::from_unix_timestamp(now)
        .map(|moment| moment.date())
        .unwrap_or(time::macros::date!(1970 - 01 - 01));
    BuildContext { now, today }
}

fn apply_settings(input: &mut EventInput, settings: &ImportSettings) {
    if let Some((distribution, sharing_group_id)) = settings.distribution {
        input.distribution = Some(distribution as i64);
        input.sharing_group_id = Some(sharing_group_id);
        let inherit = Some(Distribution::InheritEvent as i64);
        for attribute in &mut input.attributes {
            attribute.distribution = inherit;
            attribute.sharing_group_id = None;
        }
        for object in &mut input.objects {
            object.distribution = inherit;
            object.sharing_group_id = None;
            for attribute in &mut object.attributes {
                attribute.distribution = inherit;
                attribute.sharing_group_id = None;
            }
        }
    }
    if let Some(publish) = settings.publish {
        input.published = Some(publish);
    }
    let forced = match settings.to_ids {
        ToIdsOverride::Keep => None,
        ToIdsOverride::ForceOff => Some(false),
        ToIdsOverride::ForceOn => Some(true),
    };
    if let Some(to_ids) = forced {
        let all = input.attributes.iter_mut().chain(
            input
                .objects
                .iter_mut()
                .flat_map(|o| o.attributes.iter_mut()),
        );
        for attribute in all {
            attribute.to_ids = Some(to_ids);
        }
    }
    for name in &settings.tags {
        let already = input
            .tags
            .iter()
            .any(|tag| tag.name.as_deref() == Some(name.as_str()));
        if !already {
            input.tags.push(TagInput {
                name: Some(name.clone()),
                ..TagInput::default()
            });
        }
    }
}

/// The attributes and objects (by position) `errors` names; None when an error is about
/// the event itself.
fn failing_items(errors: &FieldErrors) -> Option<(BTreeSet<usize>, BTreeSet<usize>)> {
    let mut attributes = BTreeSet::new();
    let mut objects = BTreeSet::new();
    for field in errors.0.keys() {
        let mut parts = field.split('.');
        let list = parts.next()?;
        let index: usize = parts.next()?.parse().ok()?;
        match list {
            "Attribute" => attributes.insert(index),
            "Object" => objects.insert(index),
            _ => return None,
        };
    }
    Some((attributes, objects))
}

/// Every problem `errors` lists for the item at `prefix` (`Attribute.3`).
fn failing_reason(errors: &FieldErrors, prefix: &str) -> String {
    errors
        .0
        .iter()
        .filter(|(field, _)| field.as_str() == prefix || field.starts_with(&format!("{prefix}.")))
        .map(|(field, problems)| format!("{field}: {}", problems.join(" ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// [`remove_failing_items`] of typed input.
fn remove_failing_inputs(
    input: &mut EventInput,
    errors: &FieldErrors,
    source: &str,
) -> Option<Vec<Rejection>> {
    let (attributes, objects) = failing_items(errors)?;
    let mut rejections = Vec::new();
    for &index in attributes.iter().rev() {
        if index >= input.attributes.len() {
            return None;
        }
        let item = input.attributes.remove(index);
        let label = format!(
            "{} {}",
            item.attr_type.as_deref().unwrap_or(""),
            item.value.as_deref().unwrap_or("")
        );
        rejections.push(
            Rejection::new(
                format!("Attribute.{index}"),
                label.trim(),
                failing_reason(errors, &format!("Attribute.{index}")),
            )
            .in_source(source),
        );
    }
    for &index in objects.iter().rev() {
        if index >= input.objects.len() {
            return None;
        }
        let item = input.objects.remove(index);
        rejections.push(
            Rejection::new(
                format!("Object.{index}"),
                item.name.unwrap_or_default(),
                failing_reason(errors, &format!("Object.{index}")),
            )
            .in_source(source),
        );
    }
    rejections.reverse();
    (!rejections.is_empty()).then_some(rejections)
}

fn input_label(input: &EventInput) -> String {
    match (
        input.uuid.as_deref().unwrap_or(""),
        input.info.as_deref().unwrap_or(""),
    ) {
        ("", info) => info.to_string(),
        (uuid, "") => uuid.to_string(),
        (uuid, info) => format!("{uuid} {info}"),
    }
}

/// Items whose errors `errors` names are taken out of `document` and reported. None when an
/// error is about the event itself (nothing can be left out to save it).
fn remove_failing_items(
    document: &mut Value,
    errors: &FieldErrors,
    source: &str,
) -> Option<Vec<Rejection>> {
    let (attributes, objects) = failing_items(errors)?;
    let reason = |prefix: String| failing_reason(errors, &prefix);
    let mut rejections = Vec::new();
    for (list, indexes) in [("Attribute", &attributes), ("Object", &objects)] {
        let Some(items) = document.get_mut(list).and_then(Value::as_array_mut) else {
            if indexes.is_empty() {
                continue;
            }
            return None;
        };
        for &index in indexes.iter().rev() {
            if index >= items.len() {
                return None;
            }
            let item = items.remove(index);
            rejections.push(
                Rejection::new(
                    format!("{list}.{index}"),
                    item_label(list, &item),
                    reason(format!("{list}.{index}")),
                )
                .in_source(source),
            );
        }
    }
    rejections.reverse();
    (!rejections.is_empty()).then_some(rejections)
}

fn item_label(list: &str, item: &Value) -> String {
    let text = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or("");
    match list {
        "Attribute" => format!("{} {}", text("type"), text("value"))
            .trim()
            .to_string(),
        _ => text("name").to_string(),
    }
}

fn event_label(document: &Value) -> String {
    let text = |key: &str| document.get(key).and_then(Value::as_str).unwrap_or("");
    match (text("uuid"), text("info")) {
        ("", info) => info.to_string(),
        (uuid, "") => uuid.to_string(),
        (uuid, info) => format!("{uuid} {info}"),
    }
}

fn count_loose_values(input: &EventInput) -> u64 {
    input
        .attributes
        .iter()
        .filter(|attribute| attribute.deleted != Some(true))
        .count() as u64
}

fn count_attributes(event: &Event) -> u64 {
    event.attributes.len() as u64
        + event
            .objects
            .iter()
            .map(|object| object.attributes.len() as u64)
            .sum::<u64>()
}

/// A sharing group id from another instance means nothing here: such items fall back to
/// "your organisation only", the safe side.
async fn drop_unknown_sharing_groups(store: &Store, event: &mut Event) -> Result<(), StoreError> {
    let mut ids: BTreeSet<i64> = BTreeSet::new();
    if event.distribution == Distribution::SharingGroup {
        ids.insert(event.sharing_group_id);
    }
    let items = event
        .attributes
        .iter()
        .chain(
            event
                .objects
                .iter()
                .flat_map(|object| object.attributes.iter()),
        )
        .filter(|attribute| attribute.distribution == Distribution::SharingGroup)
        .map(|attribute| attribute.sharing_group_id)
        .chain(
            event
                .objects
                .iter()
                .filter(|object| object.distribution == Distribution::SharingGroup)
                .map(|object| object.sharing_group_id),
        );
    ids.extend(items);
    if ids.is_empty() {
        return Ok(());
    }
    let wanted: Vec<i64> = ids.into_iter().collect();
    let known: BTreeSet<i64> = store
        .sharing_groups_by_ids(&wanted)
        .await?
        .into_iter()
        .map(|group| group.id)
        .collect();
    let fix = |distribution: &mut Distribution, group: &mut i64| {
        if *distribution == Distribution::SharingGroup && !known.contains(group) {
            *distribution = Distribution::OrganisationOnly;
            *group = 0;
        }
    };
    fix(&mut event.distribution, &mut event.sharing_group_id);
    for attribute in &mut event.attributes {
        fix(&mut attribute.distribution, &mut attribute.sharing_group_id);
    }
    for object in &mut event.objects {
        fix(&mut object.distribution, &mut object.sharing_group_id);
        for attribute in &mut object.attributes {
            fix(&mut attribute.distribution, &mut attribute.sharing_group_id);
        }
    }
    Ok(())
}

/// Where an import reads from: a local file or folder, or an http(s) URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceLocation {
    Path(std::path::PathBuf),
    Url(String),
}

/// Largest source read whole (a feed's event files are read one by one).
pub const MAX_SOURCE_BYTES: u64 = 1024 * 1024 * 1024;

impl SourceLocation {
    pub fn parse(text: &str) -> Self {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Self::Url(text.to_string())
        } else {
            Self::Path(text.strip_prefix("file://").unwrap_or(text).into())
        }
    }

    /// Whether this names a MISP feed: a folder, a `manifest.json`, or a URL ending in `/`.
    pub fn is_feed(&self) -> bool {
        match self {
            Self::Path(path) => {
                path.is_dir() || path.file_name().is_some_and(|name| name == "manifest.json")
            }
            Self::Url(url) => url.ends_with('/') || url.ends_with("/manifest.json"),
        }
    }

    /// A file of the feed this names (`manifest.json`, `<uuid>.json`, `hashes.csv`).
    pub fn feed_file(&self, name: &str) -> Self {
        match self {
            Self::Path(path) if path.is_dir() => Self::Path(path.join(name)),
            Self::Path(path) => Self::Path(
                path.parent()
                    .map_or_else(|| name.into(), |folder| folder.join(name)),
            ),
            Self::Url(url) => {
                let base = url.strip_suffix("manifest.json").unwrap_or(url);
                let separator = if base.ends_with('/') { "" } else { "/" };
                Self::Url(format!("{base}{separator}{name}"))
            }
        }
    }

    pub fn display_name(&self) -> String {
        match self {
            Self::Path(path) => path.display().to_string(),
            Self::Url(url) => url.clone(),
        }
    }
}

/// The bytes of a source, or why they cannot be read.
pub async fn read_source(location: &SourceLocation) -> Result<Vec<u8>, String> {
    match location {
        SourceLocation::Path(path) => {
            let size = tokio::fs::metadata(path)
                .await
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?
                .len();
            if size > MAX_SOURCE_BYTES {
                return Err(format!(
                    "{} is {size} bytes, more than the {MAX_SOURCE_BYTES} an import reads",
                    path.display()
                ));
            }
            tokio::fs::read(path)
                .await
                .map_err(|error| format!("cannot read {}: {error}", path.display()))
        }
        SourceLocation::Url(url) => crate::http::get_bytes(url, MAX_SOURCE_BYTES)
            .await
            .map_err(|error| format!("cannot fetch {url}: {error}")),
    }
}
/// A MISP-JSON event holding detected values: what a freetext or CSV import saves.
/// MISP's feed defaults: analysis 2 (completed), threat level 4 (undefined), dated today.
pub fn values_event(info: &str, values: &[DetectedValue], today: time::Date) -> Value {
    let attributes: Vec<Value> = values
        .iter()
        .map(|detected| {
            let mut attribute = Map::new();
            attribute.insert("type".into(), json!(detected.attr_type));
            attribute.insert("category".into(), json!(detected.category));
            attribute.insert("value".into(), json!(detected.value));
            attribute.insert("to_ids".into(), json!(detected.to_ids));
            if !detected.comment.is_empty() {
                attribute.insert("comment".into(), json!(detected.comment));
            }
            Value::Object(attribute)
        })
        .collect();
    json!({"Event": {
        "info": info,
        "date": kizuna_formats::misp::output::format_date(today),
        "analysis": "2",
        "threat_level_id": "4",
        "Attribute": attributes,
    }})
}

/// Imports a whole MISP feed (`manifest.json` and one `<uuid>.json` per event) from a
/// folder or URL. `on_event` hears how many events the manifest lists, then once per event
/// done (for a progress bar). Entries the manifest cannot use and event files that cannot
/// be read are reported; the other events are imported.
pub async fn import_misp_feed(
    store: &Store,
    location: &SourceLocation,
    settings: &ImportSettings,
    mut on_event: impl FnMut(FeedProgress<'_>),
) -> Result<ImportSummary, ImportError> {
    let manifest_location = location.feed_file("manifest.json");
    let manifest_name = manifest_location.display_name();
    let bytes = read_source(&manifest_location)
        .await
        .map_err(ImportError::Source)?;
    let manifest = kizuna_formats::misp::feed::parse_manifest(&bytes)
        .map_err(|error| ImportError::Source(format!("{manifest_name}: {error}")))?;
    let mut summary = ImportSummary {
        rejected: manifest
            .rejected
            .into_iter()
            .map(|rejection| rejection.in_source(&manifest_name))
            .collect(),
        ..ImportSummary::default()
    };
    on_event(FeedProgress::Listed(manifest.entries.len() as u64));
    let settings_shared = std::sync::Arc::new(settings.clone());
    // Reading and building run a few events ahead, on other threads, while this task
    // writes: the two halves of an import take the two cores.
    let mut ahead = std::collections::VecDeque::new();
    let mut entries = manifest.entries.iter();
    let mut pending = PendingInserts::default();
    loop {
        while ahead.len() < FEED_READ_AHEAD {
            let Some(entry) = entries.next() else { break };
            let file = location.feed_file(&format!("{}.json", entry.uuid));
            let settings = std::sync::Arc::clone(&settings_shared);
            let uuid = entry.uuid.clone();
            ahead.push_back(tokio::spawn(async move {
                let name = file.display_name();
                let bytes = read_source(&file).await;
                let now = crate::now();
                let prepared = tokio::task::spawn_blocking({
                    let name = name.clone();
                    move || {
                        bytes
                            .and_then(|bytes| {
                                kizuna_formats::misp::feed::parse_lenient_json(&bytes)
                            })
                            .map(|event| prepare_event(&name, event, &settings, now))
                    }
                })
                .await
                .unwrap_or_else(|error| Err(format!("reading the event failed: {error}")));
                (uuid, name, now, prepared)
            }));
        }
        let Some(next) = ahead.pop_front() else { break };
        let (uuid, name, now, prepared) = next
            .await
            .map_err(|error| ImportError::Source(format!("reading the feed failed: {error}")))?;
        match prepared {
            Ok(prepared) => {
                // A source naming one event twice: the first must be in the database before
                // the second is compared with it.
                if prepared.uuid().is_some_and(|uuid| pending.holds(uuid)) {
                    pending.flush(store, &mut summary).await?;
                }
                match decide(store, &name, prepared, settings, now).await? {
                    Decision::Done(done) => summary.merge(done),
                    Decision::Insert(event, added) => {
                        pending.push(*event, added);
                        if pending.is_full() {
                            pending.flush(store, &mut summary).await?;
                        }
                    }
                }
            }
            Err(error) => summary
                .rejected
                .push(Rejection::new("event", uuid.clone(), error).in_source(&name)),
        }
        on_event(FeedProgress::Done(&uuid));
    }
    pending.flush(store, &mut summary).await?;
    Ok(summary)
}

/// Event files of a feed read and built ahead of the one being written.
const FEED_READ_AHEAD: usize = 3;

/// Progress of a feed import.
#[derive(Clone, Copy, Debug)]
pub enum FeedProgress<'a> {
    /// The manifest lists this many events.
    Listed(u64),
    /// This event was handled.
    Done(&'a str),
}

/// Why an import could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Source(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

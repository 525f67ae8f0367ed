//! POST objects: a TAXII envelope becomes events of the caller's organisation, through the
//! STIX import and the one import path (`crate::import`), everything processed before the
//! answer (the status is `complete` at once).
//!
//! Each object is checked first (type, id, spec_version, timestamps, an indicator's
//! pattern); objects that fail are listed as failures and the rest imported. What the
//! import rejects becomes a failure of the objects it names.
//!
//! Objects already stored here (same uuid: an indicator posted again, an object of an
//! earlier envelope) are never duplicated: a newer version (later `modified`) updates the
//! attribute or object in place in the event holding it, with MISP's edit rules; the same
//! or an older version is a success that changes nothing. Changing another organisation's
//! event needs the right to modify it, as the MISP API asks.

use super::collections::find;
use super::media::check_content_type;
use super::objects::{may_modify_event, split_id};
use super::{TaxiiCall, TaxiiError, taxii_response};
use crate::import::{
    DROP_ASIDE_FROM, ImportSettings, ImportSummary, ToIdsOverride, import_parsed_event_with_id,
};
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use kizuna_formats::misp::input::{AttributeInput, EventInput, ObjectInput};
use kizuna_formats::report::Rejection;
use kizuna_formats::stix::import::{ParsedEvent, StixImportOptions, bundle_to_event_inputs};
use kizuna_model::Distribution;
use kizuna_store::{Key, StoreError, StoredKind, StoredUuid, TaxiiStatus};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

use kizuna_formats::stix::OBSERVABLE_TYPES as SCO_TYPES;
use kizuna_formats::stix::property;

/// One object of the envelope that passed the checks.
struct Posted {
    id: String,
    /// The uuid part of the id, lower case.
    uuid: String,
}

/// The envelope positions of the objects posted with each uuid (lower case).
type UuidPositions<'a> = HashMap<&'a str, Vec<usize>, foldhash::fast::RandomState>;

/// Outcome of each posted object, by position in the envelope.
struct Outcomes {
    failures: BTreeMap<usize, String>,
    ids: Vec<(String, String)>,
}

impl Outcomes {
    fn fail(&mut self, index: usize, message: impl Into<String>) {
        self.failures.entry(index).or_insert_with(|| message.into());
    }
}

pub async fn add_objects(call: &TaxiiCall, id: &str, body: Body) -> Result<Response, TaxiiError> {
    let access = find(call, id).await?;
    if !access.can_write {
        return Err(TaxiiError::forbidden(
            "You may read this collection but not add objects to it.",
        ));
    }
    check_content_type(&call.headers)?;
    let limit = call.state.settings.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        TaxiiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Content too large",
            format!(
                "The envelope is larger than the API root's max_content_length ({limit} bytes)."
            ),
        )
    })?;
    let envelope: Value = parse_envelope(&bytes).await.map_err(|error| {
        TaxiiError::bad_request(format!("The request body is not JSON: {error}"))
    })?;
    let Value::Object(mut envelope) = envelope else {
        return Err(TaxiiError::unprocessable(
            "The body must be a TAXII envelope: a JSON object with an \"objects\" list.",
        ));
    };
    let Some(Value::Array(objects)) = envelope.remove("objects") else {
        return Err(TaxiiError::unprocessable(
            "The envelope has no \"objects\" list of STIX objects.",
        ));
    };
    let request_timestamp = now_micros();
    let mut outcomes = Outcomes {
        failures: BTreeMap::new(),
        ids: Vec::with_capacity(objects.len()),
    };
    let mut good = Vec::with_capacity(objects.len());
    let mut posted: Vec<(usize, Posted)> = Vec::with_capacity(objects.len());
    for (index, object) in objects.into_iter().enumerate() {
        let text = |key: &str| {
            object
                .as_object()
                .and_then(|map| property(map, key))
                .and_then(Value::as_str)
        };
        let id = text("id").unwrap_or_default().to_string();
        let version = text("modified")
            .or_else(|| text("created"))
            .unwrap_or_default()
            .to_string();
        outcomes.ids.push((id.clone(), version.clone()));
        match check_object(&object) {
            Ok(uuid) => {
                posted.push((index, Posted { id, uuid }));
                good.push(object);
            }
            Err(message) => outcomes.fail(index, message),
        }
    }

    if !good.is_empty() {
        import(call, &access.collection, good, &posted, &mut outcomes).await?;
    }

    let status = status_of(call, &access.collection.id, request_timestamp, &outcomes);
    call.state.store.insert_taxii_status(&status).await?;
    Ok(taxii_response(
        call.version,
        StatusCode::ACCEPTED,
        super::status::render(&status),
    ))
}

/// Envelopes from this size on are parsed in two halves (`parse_envelope`); below it a
/// thread's start and the scan cost more than they save.
const SPLIT_BODY_BYTES: usize = 64 * 1024;

/// Nesting the scan gives up at, well below serde_json's limit (128): an object of the
/// second half is one level shallower in its own array than in the envelope, so only
/// nesting far from that limit parses the same both ways.
const SPLIT_MAX_DEPTH: usize = 64;

/// The request body as JSON. A large envelope's `objects` list is cut at an element
/// boundary near its middle and the two halves parsed at once, the second on the blocking
/// pool (a waiting thread, woken in microseconds): the client waits for the answer, so the
/// second core is otherwise idle. Anything the cut does not expect (no single top-level
/// `objects` list, deep nesting, a half that does not parse) is parsed whole, so the value
/// and any error are serde_json's own. The body is checked to be UTF-8 once, up front: the
/// parser of bytes checks every string again on its own (~2M instructions an envelope).
async fn parse_envelope(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        // Not UTF-8, so not JSON: the byte parser says where.
        return serde_json::from_slice(bytes);
    };
    if text.len() >= SPLIT_BODY_BYTES
        && let Some(value) = parse_in_halves(text).await
    {
        return Ok(value);
    }
    serde_json::from_str(text)
}

/// The envelope without the objects after the cut, and those objects as a list of their
/// own; `None` when the cut does not apply or a half does not parse.
async fn parse_in_halves(text: &str) -> Option<Value> {
    let (comma, close) = objects_cut(text.as_bytes())?;
    // Both cuts are at ASCII characters, so the pieces are whole UTF-8.
    let mut second = String::with_capacity(close - comma + 1);
    second.push('[');
    second.push_str(&text[comma + 1..close]);
    second.push(']');
    let later =
        tokio::task::spawn_blocking(move || serde_json::from_str::<Vec<Value>>(&second).ok());
    let mut first = String::with_capacity(comma + text.len() - close);
    first.push_str(&text[..comma]);
    first.push_str(&text[close..]);
    let first = serde_json::from_str::<Value>(&first).ok();
    let second = later.await.ok()??;
    let Value::Object(mut envelope) = first? else {
        return None;
    };
    let Some(Value::Array(objects)) = envelope.get_mut("objects") else {
        return None;
    };
    // Both halves hold objects, so the whole list had no empty element at the cut.
    if objects.is_empty() || second.is_empty() {
        return None;
    }
    objects.extend(second);
    Some(Value::Object(envelope))
}

/// Where to cut the envelope: the comma between two elements of the top-level `objects`
/// list nearest its middle, and the list's closing bracket. `None` for anything else: not
/// an object, no such list or two of them, fewer than two elements, nesting deeper than
/// [`SPLIT_MAX_DEPTH`], an unfinished string. The scan only finds the cut; whether the
/// text is JSON is left to the parser.
fn objects_cut(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut at = 0;
    // The last string read directly in the top-level object: a key when a colon follows.
    let mut key: Option<(usize, usize)> = None;
    let mut list: Option<(usize, usize)> = None;
    let mut in_list = false;
    let mut commas = Vec::new();
    while at < bytes.len() {
        match bytes[at] {
            b'"' => {
                let start = at + 1;
                at = start;
                // Most of an envelope is string content: skipped to the next quote or
                // backslash at once rather than byte by byte.
                loop {
                    at += memchr::memchr2(b'"', b'\\', bytes.get(at..)?)?;
                    if bytes[at] == b'"' {
                        break;
                    }
                    at += 2;
                }
                key = (depth == 1).then_some((start, at));
            }
            b':' if depth == 1 => {
                if let Some((start, end)) = key.take()
                    && &bytes[start..end] == b"objects"
                {
                    if list.is_some() || in_list {
                        return None;
                    }
                    at += 1;
                    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
                        at += 1;
                    }
                    if bytes.get(at) != Some(&b'[') {
                        return None;
                    }
                    in_list = true;
                    depth += 1;
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > SPLIT_MAX_DEPTH {
                    return None;
                }
            }
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if in_list && depth == 1 {
                    in_list = false;
                    list = Some((commas.len(), at));
                }
            }
            b',' if in_list && depth == 2 => commas.push(at),
            _ => {}
        }
        at += 1;
    }
    let (count, close) = list?;
    let commas = &commas[..count];
    let first = *commas.first()?;
    let middle = first + (close - first) / 2;
    let nearest = commas.partition_point(|&comma| comma < middle);
    let comma = commas[nearest.min(commas.len() - 1)];
    Some((comma, close))
}

fn now_micros() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000).unwrap_or(0)
}

/// The object's uuid part when it is a STIX object we may import; else why not.
fn check_object(object: &Value) -> Result<String, String> {
    let Some(map) = object.as_object() else {
        return Err("not a STIX object: expected a JSON object".into());
    };
    let get = |key: &str| property(map, key);
    let text = |key: &str| get(key).and_then(Value::as_str);
    let object_type = text("type").ok_or("the object has no \"type\"")?;
    let type_ok = (3..=250).contains(&object_type.len())
        && object_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !type_ok {
        return Err(format!("type {object_type:?} is not a STIX type name"));
    }
    let id = text("id").ok_or("the object has no \"id\"")?;
    let (id_type, uuid) = split_id(id).ok_or_else(|| format!("id {id:?} is not <type>--<uuid>"))?;
    if id_type != object_type {
        return Err(format!(
            "id {id:?} does not start with the type {object_type:?}"
        ));
    }
    match get("spec_version") {
        None => {}
        Some(Value::String(version)) if version == "2.1" || version == "2.0" => {}
        Some(other) => return Err(format!("spec_version {other} is not 2.1")),
    }
    let timestamp = |key: &str| -> Result<Option<i64>, String> {
        match get(key) {
            None => Ok(None),
            Some(Value::String(value)) => super::parse_timestamp(value)
                .map(Some)
                .ok_or_else(|| format!("{key} {value:?} is not a STIX timestamp")),
            Some(other) => Err(format!("{key} {other} is not a STIX timestamp")),
        }
    };
    let created = timestamp("created")?;
    let modified = timestamp("modified")?;
    let is_sco = SCO_TYPES.contains(&object_type);
    if !is_sco {
        let created = created.ok_or("the object has no \"created\" timestamp")?;
        if object_type != "marking-definition" {
            let modified = modified.ok_or("the object has no \"modified\" timestamp")?;
            if modified < created {
                return Err("modified is earlier than created".into());
            }
        }
    }
    if object_type == "indicator" {
        if text("pattern").is_none_or(|pattern| pattern.trim().is_empty()) {
            return Err("an indicator needs a \"pattern\"".into());
        }
        if get("spec_version").is_some() && text("pattern_type").is_none() {
            return Err("an indicator needs a \"pattern_type\"".into());
        }
        timestamp("valid_from")?;
    }
    if object_type == "relationship" {
        for key in ["source_ref", "target_ref"] {
            if text(key).and_then(split_id).is_none() {
                return Err(format!("a relationship needs a {key} naming an object"));
            }
        }
    }
    Ok(uuid)
}

/// Where an imported item goes: an existing event to update, or nothing (the stored
/// version is as new).
struct Routed {
    updates: BTreeMap<i64, (Vec<AttributeInput>, Vec<ObjectInput>)>,
    /// Stored attributes posted in a newer version: (uuid, the version's timestamp).
    newer: Vec<(String, i64)>,
}

async fn import(
    call: &TaxiiCall,
    collection: &kizuna_store::TaxiiCollection,
    good: Vec<Value>,
    posted: &[(usize, Posted)],
    outcomes: &mut Outcomes,
) -> Result<(), TaxiiError> {
    // The envelope carries no bundle id: its objects alone name the event of the loose
    // ones, so posting the same envelope again finds the same event.
    // Not `json!`: it would copy every object through serde.
    let large = good.len() >= DROP_ASIDE_FROM;
    let mut content = Map::new();
    content.insert("objects".to_string(), Value::Array(good));
    let content = Value::Object(content);
    let options = StixImportOptions {
        default_info: format!("TAXII collection {}", collection.title),
    };
    let imported = bundle_to_event_inputs(&content, &options);

    let mut by_uuid = UuidPositions::with_capacity_and_hasher(posted.len(), Default::default());
    for (index, item) in posted {
        by_uuid.entry(item.uuid.as_str()).or_default().push(*index);
    }
    let by_id: HashMap<&str, usize> = if imported.rejected.is_empty() {
        HashMap::new()
    } else {
        posted
            .iter()
            .map(|(index, item)| (item.id.as_str(), *index))
            .collect()
    };
    for rejection in &imported.rejected {
        // `objects[12] indicator--…`: the position is in the envelope without the failed
        // objects, the id names the object.
        let named = rejection
            .location
            .split_whitespace()
            .nth(1)
            .and_then(|id| by_id.get(id).copied());
        if let Some(index) = named {
            outcomes.fail(index, rejection.reason.clone());
        }
    }

    let permissions = &call.principal.role.permissions;
    let settings = ImportSettings {
        keep_creator: permissions.perm_sync,
        distribution: Some((
            Distribution::from_i64(collection.distribution)
                .unwrap_or(Distribution::OrganisationOnly),
            collection.sharing_group_id,
        )),
        publish: Some(false),
        tags: Vec::new(),
        to_ids: ToIdsOverride::Keep,
        update_existing: true,
        ..ImportSettings::owned_by(call.principal.user.org_id, call.principal.user.id)
    };

    let mut events = imported.events;
    if let Some(event) = only_new_event(call, &mut events).await? {
        match write(call, event, &settings, &by_uuid, outcomes).await? {
            Written::Saved => {
                drop_aside(content, large);
                return Ok(());
            }
            // Some object is stored already: the envelope is converted again and routed
            // item by item below. The failed insert was rolled back whole.
            Written::Conflict { .. } => {
                events = bundle_to_event_inputs(&content, &options).events;
            }
        }
    }
    drop_aside(content, large);
    route_and_save(call, events, &settings, &by_uuid, outcomes).await
}

/// Freeing a large envelope's tree (~4M instructions for 1,000 indicators) is left to the
/// blocking pool: the second core is otherwise idle while this one answers.
fn drop_aside(content: Value, large: bool) {
    if large {
        tokio::task::spawn_blocking(move || drop(content));
    } else {
        drop(content);
    }
}

/// The envelope's one event when it is not stored yet, taken out of `events`: then it is
/// written straight away. Most envelopes add objects nobody stored before, for which the
/// lookup of every uuid in `route_and_save` (three index probes per object, ~15 % of a POST
/// of 1,000 indicators) finds nothing while the insert's unique indexes check the same
/// again; an insert that meets a stored uuid fails whole and the envelope takes that route.
async fn only_new_event(
    call: &TaxiiCall,
    events: &mut Vec<ParsedEvent>,
) -> Result<Option<ParsedEvent>, TaxiiError> {
    let [event] = events.as_slice() else {
        return Ok(None);
    };
    let document = &event.input;
    let Some(uuid) = document.uuid.as_deref() else {
        return Ok(None);
    };
    if document.attributes.is_empty() && document.objects.is_empty() {
        return Ok(None);
    }
    let stored = call
        .state
        .store
        .event_id_by_uuid(&uuid.to_lowercase())
        .await?;
    Ok(if stored.is_some() { None } else { events.pop() })
}

/// Looks up every uuid the events name: objects stored in another event go to that event
/// as updates (when newer), events stored already are updated, the rest is added.
async fn route_and_save(
    call: &TaxiiCall,
    events: Vec<ParsedEvent>,
    settings: &ImportSettings,
    by_uuid: &UuidPositions<'_>,
    outcomes: &mut Outcomes,
) -> Result<(), TaxiiError> {
    let store = &call.state.store;
    let mut uuids: Vec<String> = Vec::new();
    for event in &events {
        collect_uuids(&event.input, &mut uuids);
    }
    let stored: HashMap<String, StoredUuid> = store
        .stored_uuids(&uuids)
        .await?
        .into_iter()
        .map(|item| (item.uuid.clone(), item))
        .collect();

    let mut routed = Routed {
        updates: BTreeMap::new(),
        newer: Vec::new(),
    };
    let mut event_cache: HashMap<i64, kizuna_model::Event> = HashMap::new();
    for mut event in events {
        let document = &mut event.input;
        let event_uuid = document.uuid.as_deref().unwrap_or_default().to_lowercase();
        if let Some(existing) = stored
            .get(&event_uuid)
            .filter(|item| item.kind == StoredKind::Event)
        {
            let meta = meta(call, &mut event_cache, existing.event_id).await?;
            if !may_modify_event(call, &meta) {
                fail_uuids(
                    outcomes,
                    by_uuid,
                    std::iter::once(event_uuid.as_str()),
                    "the event exists and you may not modify it",
                );
                continue;
            }
            note_newer_attributes(document, &stored, &mut routed.newer);
        } else {
            route_known_items(document, &stored, &mut routed);
            if document.attributes.is_empty() && document.objects.is_empty() {
                continue;
            }
        }
        save(call, event, settings, by_uuid, outcomes).await?;
    }

    let update_settings = ImportSettings {
        distribution: None,
        ..settings.clone()
    };
    for (event_id, (attributes, objects)) in routed.updates {
        let existing = meta(call, &mut event_cache, event_id).await?;
        let item_uuids: Vec<String> = attributes
            .iter()
            .map(|item| item.uuid.clone().unwrap_or_default())
            .chain(
                objects
                    .iter()
                    .map(|item| item.uuid.clone().unwrap_or_default()),
            )
            .collect();
        if !may_modify_event(call, &existing) {
            fail_uuids(
                outcomes,
                by_uuid,
                item_uuids.iter().map(String::as_str),
                "a newer version of an object stored in an event you may not modify",
            );
            continue;
        }
        // What parsing `{"uuid", "info", "date", "timestamp", "Attribute", "Object"}`
        // of the stored event gives.
        let update = ParsedEvent {
            input: EventInput {
                uuid: Some(existing.uuid.to_ascii_lowercase()),
                info: Some(existing.info.clone()),
                date: Some(existing.date),
                timestamp: Some((existing.timestamp + 1).max(call.now)),
                attributes,
                objects,
                ..EventInput::default()
            },
            errors: Default::default(),
        };
        save(call, update, &update_settings, by_uuid, outcomes).await?;
    }
    carry_versions(call, &routed.newer).await
}

/// MISP's edit keeps an attribute's timestamp when nothing else changed, but a STIX object
/// posted with a later `modified` is a new version and must be served as that version.
async fn carry_versions(call: &TaxiiCall, newer: &[(String, i64)]) -> Result<(), TaxiiError> {
    let store = &call.state.store;
    for (uuid, timestamp) in newer {
        let mut attribute = match store.attribute(&Key::Uuid(uuid.clone()), true).await {
            Ok(attribute) => attribute,
            Err(StoreError::NotFound) => continue,
            Err(other) => return Err(other.into()),
        };
        if attribute.timestamp < *timestamp {
            attribute.timestamp = *timestamp;
            store.update_attribute(&attribute, call.now, false).await?;
        }
    }
    Ok(())
}

/// Attributes of an incoming version of a stored event that are newer than the stored ones.
fn note_newer_attributes(
    document: &EventInput,
    stored: &HashMap<String, StoredUuid>,
    newer: &mut Vec<(String, i64)>,
) {
    let in_objects = document
        .objects
        .iter()
        .flat_map(|object| object.attributes.iter());
    for attribute in document.attributes.iter().chain(in_objects) {
        let Some(uuid) = attribute.uuid.as_deref() else {
            continue;
        };
        let uuid = uuid.to_lowercase();
        let timestamp = attribute.timestamp.unwrap_or(0);
        if let Some(found) = stored
            .get(&uuid)
            .filter(|found| found.kind == StoredKind::Attribute)
            && timestamp > found.timestamp
        {
            newer.push((uuid, timestamp));
        }
    }
}

async fn meta(
    call: &TaxiiCall,
    cache: &mut HashMap<i64, kizuna_model::Event>,
    event_id: i64,
) -> Result<kizuna_model::Event, TaxiiError> {
    if let Some(event) = cache.get(&event_id) {
        return Ok(event.clone());
    }
    let event = call.state.store.event_meta(&Key::Id(event_id)).await?;
    cache.insert(event_id, event.clone());
    Ok(event)
}

/// Saves one event through the import path; what it rejects fails the objects it names.
async fn save(
    call: &TaxiiCall,
    event: ParsedEvent,
    settings: &ImportSettings,
    by_uuid: &UuidPositions<'_>,
    outcomes: &mut Outcomes,
) -> Result<(), TaxiiError> {
    let document = &event.input;
    // The labels hold the loose attributes' and the objects' uuids; with these, every uuid
    // of the event, wanted only if it conflicts.
    let others: Vec<String> = document
        .uuid
        .iter()
        .chain(document.objects.iter().flat_map(|object| {
            object
                .attributes
                .iter()
                .filter_map(|attribute| attribute.uuid.as_ref())
        }))
        .cloned()
        .collect();
    if let Written::Conflict { message, labels } =
        write(call, event, settings, by_uuid, outcomes).await?
    {
        let uuids: Vec<String> = labels
            .values()
            .flatten()
            .chain(&others)
            .map(|uuid| uuid.to_lowercase())
            .collect();
        fail_uuids(
            outcomes,
            by_uuid,
            uuids.iter().map(String::as_str),
            &message,
        );
    }
    Ok(())
}

/// What writing one event came to.
enum Written {
    Saved,
    /// A uuid of the event is stored already; nothing was written.
    Conflict {
        message: String,
        labels: ItemLabels,
    },
}

/// Writes one event through the import path and audits it; what the import rejects fails
/// the objects it names.
async fn write(
    call: &TaxiiCall,
    event: ParsedEvent,
    settings: &ImportSettings,
    by_uuid: &UuidPositions<'_>,
    outcomes: &mut Outcomes,
) -> Result<Written, TaxiiError> {
    let document = &event.input;
    let event_uuid = document.uuid.clone().unwrap_or_default();
    let info = document.info.clone().unwrap_or_default();
    let labels = item_labels(document);
    match import_parsed_event_with_id(
        &call.state.store,
        "TAXII envelope",
        event,
        settings,
        call.now,
    )
    .await
    {
        Ok((summary, added_id)) => {
            for rejection in &summary.rejected {
                reject(rejection, &labels, &event_uuid, by_uuid, outcomes);
            }
            audit_saved(call, &info, &event_uuid, added_id, &summary).await?;
            Ok(Written::Saved)
        }
        Err(StoreError::Conflict(message)) => Ok(Written::Conflict { message, labels }),
        Err(other) => Err(other.into()),
    }
}

/// One audit entry per event a POST added or changed, as `/events/add` and `/events/edit`
/// write theirs.
async fn audit_saved(
    call: &TaxiiCall,
    info: &str,
    event_uuid: &str,
    added_id: Option<i64>,
    summary: &ImportSummary,
) -> Result<(), TaxiiError> {
    let action = match (summary.events_added, summary.events_updated) {
        (0, 0) => return Ok(()),
        (0, _) => "edit",
        _ => "add",
    };
    // An added event's id comes from its insert; an updated one is looked up.
    let event_id = match added_id {
        Some(event_id) => event_id,
        None => call
            .state
            .store
            .stored_uuids(&[event_uuid.to_string()])
            .await?
            .into_iter()
            .find(|stored| stored.kind == StoredKind::Event)
            .map_or(0, |stored| stored.event_id),
    };
    call.audit(crate::audit::DescribedWrite {
        action,
        model: "Event",
        model_id: event_id,
        model_title: format!("Event ({event_id}): {info}"),
        event_id,
        change: json!({
            "via": "TAXII 2.1 POST",
            "attributes_added": summary.attributes_added,
            "objects_added": summary.objects_added,
            "rejected": summary.rejected.len(),
        })
        .to_string(),
    })
    .await;
    Ok(())
}

/// A rejection of the import path names an item by its label (`type value`) or the event.
fn reject(
    rejection: &Rejection,
    labels: &ItemLabels,
    event_uuid: &str,
    by_uuid: &UuidPositions<'_>,
    outcomes: &mut Outcomes,
) {
    let uuids: Vec<&str> = match labels.get(&rejection.item) {
        Some(uuids) => uuids.iter().map(String::as_str).collect(),
        None if rejection.location.ends_with("event") => vec![event_uuid],
        None => Vec::new(),
    };
    fail_uuids(outcomes, by_uuid, uuids.into_iter(), &rejection.reason);
}

fn fail_uuids<'a>(
    outcomes: &mut Outcomes,
    by_uuid: &UuidPositions<'_>,
    uuids: impl Iterator<Item = &'a str>,
    message: &str,
) {
    for uuid in uuids {
        for index in by_uuid.get(uuid).into_iter().flatten() {
            outcomes.fail(*index, message.to_string());
        }
    }
}

/// `type value` (the import path's label of an attribute) → attribute uuids, and object
/// names → object uuids.
/// The uuids of an event's items by the label the import names them with.
type ItemLabels = HashMap<String, Vec<String>, foldhash::fast::RandomState>;

fn item_labels(document: &EventInput) -> ItemLabels {
    let mut labels = ItemLabels::with_capacity_and_hasher(
        document.attributes.len() + document.objects.len(),
        Default::default(),
    );
    let mut add = |uuid: &Option<String>, label: String| {
        if let Some(uuid) = uuid {
            // Most labels have nothing to trim: kept as written rather than copied.
            let label = if label.trim().len() == label.len() {
                label
            } else {
                label.trim().to_string()
            };
            labels.entry(label).or_default().push(uuid.clone());
        }
    };
    for attribute in &document.attributes {
        let attr_type = attribute.attr_type.as_deref().unwrap_or_default();
        let value = attribute.value.as_deref().unwrap_or_default();
        let mut label = String::with_capacity(attr_type.len() + 1 + value.len());
        label.push_str(attr_type);
        label.push(' ');
        label.push_str(value);
        add(&attribute.uuid, label);
    }
    for object in &document.objects {
        add(&object.uuid, object.name.clone().unwrap_or_default());
    }
    labels
}

/// Every uuid an imported event names: its own, its attributes', its objects' and theirs.
fn collect_uuids(document: &EventInput, into: &mut Vec<String>) {
    let mut push = |uuid: &Option<String>| {
        if let Some(uuid) = uuid {
            into.push(uuid.to_lowercase());
        }
    };
    push(&document.uuid);
    for attribute in &document.attributes {
        push(&attribute.uuid);
    }
    for object in &document.objects {
        push(&object.uuid);
        for attribute in &object.attributes {
            push(&attribute.uuid);
        }
    }
}

/// Takes out of a new event the attributes and objects already stored in another event:
/// newer versions go to that event's update, the others are dropped (already there).
fn route_known_items(
    document: &mut EventInput,
    stored: &HashMap<String, StoredUuid>,
    routed: &mut Routed,
) {
    let known = |uuid: &Option<String>, kind: StoredKind| {
        let uuid = uuid.as_deref()?.to_lowercase();
        stored
            .get(&uuid)
            .filter(|found| found.kind == kind)
            .cloned()
    };
    let mut kept = Vec::with_capacity(document.attributes.len());
    for attribute in document.attributes.drain(..) {
        match known(&attribute.uuid, StoredKind::Attribute) {
            None => kept.push(attribute),
            Some(found) => {
                let timestamp = attribute.timestamp.unwrap_or(0);
                if timestamp > found.timestamp {
                    routed.newer.push((found.uuid.clone(), timestamp));
                    routed
                        .updates
                        .entry(found.event_id)
                        .or_default()
                        .0
                        .push(attribute);
                }
            }
        }
    }
    document.attributes = kept;
    let mut kept = Vec::with_capacity(document.objects.len());
    for object in document.objects.drain(..) {
        match known(&object.uuid, StoredKind::Object) {
            None => kept.push(object),
            Some(found) => {
                if object.timestamp.unwrap_or(0) > found.timestamp {
                    routed
                        .updates
                        .entry(found.event_id)
                        .or_default()
                        .1
                        .push(object);
                }
            }
        }
    }
    document.objects = kept;
}

fn status_of(
    call: &TaxiiCall,
    collection_id: &str,
    request_timestamp: i64,
    outcomes: &Outcomes,
) -> TaxiiStatus {
    // The lists are written as text directly: a `json!` object per posted object, then
    // the whole list serialised, was a tree built only to be written out.
    let mut successes = Vec::with_capacity(outcomes.ids.len() * 96);
    let mut failures = Vec::new();
    let (mut success_count, mut failure_count) = (0i64, 0i64);
    for (index, (id, version)) in outcomes.ids.iter().enumerate() {
        let message = outcomes.failures.get(&index);
        let (out, count) = match message {
            Some(_) => (&mut failures, &mut failure_count),
            None => (&mut successes, &mut success_count),
        };
        out.push(if *count == 0 { b'[' } else { b',' });
        *count += 1;
        write_entry(out, id, version, message.map(String::as_str));
    }
    for list in [&mut successes, &mut failures] {
        if list.is_empty() {
            list.push(b'[');
        }
        list.push(b']');
    }
    TaxiiStatus {
        id: uuid::Uuid::new_v4().to_string(),
        collection_id: collection_id.to_string(),
        user_id: call.principal.user.id,
        request_timestamp,
        total_count: outcomes.ids.len() as i64,
        success_count,
        failure_count,
        pending_count: 0,
        successes: String::from_utf8(successes).unwrap_or_default(),
        failures: String::from_utf8(failures).unwrap_or_default(),
        pendings: "[]".into(),
        created_at: call.now,
    }
}

/// `{"id":…,"version":…}` (and `"message"` for a failure), as serde_json writes that object.
fn write_entry(out: &mut Vec<u8>, id: &str, version: &str, message: Option<&str>) {
    let field = |out: &mut Vec<u8>, name: &[u8], text: &str| {
        out.extend_from_slice(name);
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    };
    field(out, b"{\"id\":", id);
    field(out, b",\"version\":", version);
    if let Some(message) = message {
        field(out, b",\"message\":", message);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::{Value, parse_envelope, parse_in_halves, write_entry};
    use serde_json::json;

    #[test]
    fn status_entries_are_what_serde_json_writes() {
        for (id, version, message) in [
            ("indicator--1", "2026-01-05T08:00:00.000Z", None),
            ("a\"b\\c\u{1}é", "", Some("not a \"STIX\" timestamp\n")),
        ] {
            let mut out = Vec::new();
            write_entry(&mut out, id, version, message);
            let expected = match message {
                Some(message) => json!({"id": id, "version": version, "message": message}),
                None => json!({"id": id, "version": version}),
            };
            assert_eq!(String::from_utf8(out).unwrap(), expected.to_string());
        }
    }

    /// The envelope parsed in halves is what serde_json makes of it whole, and anything the
    /// cut cannot handle is left to the whole parse.
    #[tokio::test]
    async fn envelopes_parse_in_halves_as_whole() {
        let object = |n: usize| {
            json!({
                "type": "indicator", "id": format!("indicator--{n}"),
                "name": format!("a \"quoted\", [bracketed] {{braced}} \\ name {n}: \"objects\": ["),
                "pattern": format!("[ipv4-addr:value = '10.0.0.{}']", n % 256),
                "nested": {"objects": [n, [n, {"k": n}]], "list": [1.5, -2e10, null, true]},
            })
            .to_string()
        };
        let list = |count: usize, gap: &str| {
            (0..count)
                .map(object)
                .collect::<Vec<_>>()
                .join(&format!("{gap},{gap}"))
        };
        let valid = [
            format!("{{\"objects\":[{}]}}", list(500, "")),
            format!(
                " \n{{ \"more\" : false, \"objects\" :\n [ {} ] , \"next\": \"x,]\" }}\n",
                list(500, "\n ")
            ),
            format!(
                "{{\"objects\":[{}],\"id\":\"bundle--1\",\"type\":\"bundle\"}}",
                list(2, "")
            ),
            format!("{{\"objects\":[{},[],{{}},\"text\",7]}}", list(300, " ")),
            format!(
                "{{\"a\":{{\"objects\":[1,2,3]}},\"objects\":[{}]}}",
                list(300, "")
            ),
            format!("{{\"o\\\"bjects\":[1,2],\"objects\":[{}]}}", list(300, "")),
        ];
        for text in &valid {
            let whole: Value = serde_json::from_slice(text.as_bytes()).unwrap();
            let halves = parse_in_halves(text).await;
            assert!(halves.as_ref() == Some(&whole), "{}", &text[..80]);
            assert!(parse_envelope(text.as_bytes()).await.unwrap() == whole);
        }
        let big = list(400, "");
        let unusual = [
            format!("{{\"objects\":[{big},,{big}]}}"),
            format!("{{\"objects\":[{big},]}}"),
            format!("{{\"objects\":[,{big}]}}"),
            format!("{{\"objects\":[{big}]}} x"),
            format!("{{\"objects\":[{big}],\"objects\":[{big}]}}"),
            format!("{{\"objects\":{{\"a\":[{big}]}}}}"),
            format!("[{{\"objects\":[{big}]}}]"),
            format!(
                "{{\"objects\":[{big}, {}]}}",
                "[".repeat(120) + &"]".repeat(120)
            ),
            format!(
                "{{\"objects\":[{big}, {}]}}",
                "[".repeat(127) + &"]".repeat(127)
            ),
            format!("{{\"objects\":[{big}"),
            format!("{{\"objects\":[{big}, \"open]}}"),
            format!("{{\"objects\" [{big}]}}"),
        ];
        for text in &unusual {
            let whole = serde_json::from_slice::<Value>(text.as_bytes());
            if let Some(value) = parse_in_halves(text).await {
                assert!(whole.as_ref().ok() == Some(&value), "{}", &text[..60]);
            }
            let parsed = parse_envelope(text.as_bytes()).await;
            match (&whole, &parsed) {
                (Ok(one), Ok(other)) => assert!(one == other),
                (Err(one), Err(other)) => assert_eq!(one.to_string(), other.to_string()),
                _ => panic!(
                    "{}: {:?} against {:?}",
                    &text[..60],
                    whole.is_ok(),
                    parsed.is_ok()
                ),
            }
        }
    }
}

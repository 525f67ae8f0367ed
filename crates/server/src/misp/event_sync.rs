//! The parts of MISP's `EventsController` that exist for sync peers (misp-reference
//! §3.3–3.5): the event index's conditional answer (ETag / `If-None-Match`),
//! `filterEventIdsForPush`, and what an event view leaves out for a peer pulling it.

use super::{Call, json_response};
use crate::error::{ApiError, ApiResult};
use crate::import::creator_org;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kizuna_formats::misp::input::{OrgInput, lenient_bool, lenient_i64, parse_datetime_micros};
use kizuna_model::{Event, SharingGroup, SharingGroupOrg, SharingGroupServer};
use kizuna_store::{Key, StoreError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// Whether the caller is a sync user as MISP singles them out (perm_sync without site
/// admin): a peer instance reading on behalf of another organisation.
pub(super) fn is_sync_peer(call: &Call) -> bool {
    let role = &call.principal.role.permissions;
    role.perm_sync && !role.perm_site_admin
}

/// The entity tag of a JSON answer: a digest of its bytes, so an unchanged index has the
/// same tag however it was produced.
fn entity_tag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..20]))
}

/// The tags named by `If-None-Match`, without the `-gzip` / `-br` marks a compressing proxy
/// appends (MISP strips them too) and without weak-validator prefixes.
fn requested_tags(call: &Call) -> Vec<String> {
    call.headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| {
            let tag = tag.trim();
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            let bare = tag.trim_matches('"');
            let bare = bare
                .strip_suffix("-gzip")
                .or_else(|| bare.strip_suffix("-br"))
                .unwrap_or(bare);
            format!("\"{bare}\"")
        })
        .collect()
}

/// A JSON answer with an `ETag`; `304 Not Modified` (no body) when the caller already holds
/// this exact answer. MISP's pull sends `If-None-Match` with the tag of the index it cached,
/// so an unchanged remote costs it one small request.
pub(super) fn conditional_json(call: &Call, body: &Value) -> ApiResult<Response> {
    let bytes = serde_json::to_vec(body)
        .map_err(|error| ApiError::Internal(format!("the answer could not be encoded: {error}")))?;
    Ok(conditional_json_bytes(call, bytes))
}

/// [`conditional_json`] for an answer already encoded.
pub(super) fn conditional_json_bytes(call: &Call, bytes: Vec<u8>) -> Response {
    let tag = entity_tag(&bytes);
    let tag_header = HeaderValue::from_str(&tag).expect("a hex digest is a valid header");
    if requested_tags(call).contains(&tag) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, tag_header);
        return response;
    }
    let mut response = (StatusCode::OK, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response.headers_mut().insert(header::ETAG, tag_header);
    response
}

/// `POST /events/filterEventIdsForPush` with `[{"Event": {"uuid", "timestamp"}}, …]`: the
/// uuids of the offered events this instance wants, in the order offered — those it does not
/// have, and those whose copy here is older and arrived by sync (`locked`). An event whose
/// uuid is blocklisted (deleted here) is never wanted.
pub(super) async fn filter_event_ids_for_push(call: &Call) -> ApiResult<Response> {
    if call.method != Method::POST {
        return Err(ApiError::MethodNotAllowed(
            "This endpoint requires a POST request.".into(),
        ));
    }
    let role = &call.principal.role.permissions;
    if !(role.perm_sync || role.perm_site_admin) {
        return Err(ApiError::Forbidden(
            "You do not have permission to use this functionality.".into(),
        ));
    }
    let offered = offered_events(call.body.as_ref())?;
    let uuids: Vec<String> = offered.iter().map(|(uuid, _)| uuid.clone()).collect();
    let local = call.store().event_sync_states(&uuids).await?;
    let blocked = call.store().blocklisted_event_uuids(&uuids).await?;
    let wanted: Vec<Value> = offered
        .into_iter()
        .filter(|(uuid, timestamp)| {
            !blocked.contains(uuid)
                && local
                    .get(uuid)
                    .is_none_or(|state| state.locked && state.timestamp < *timestamp)
        })
        .map(|(uuid, _)| Value::String(uuid))
        .collect();
    Ok(json_response(Value::Array(wanted)))
}

/// The `(uuid, timestamp)` pairs of a push offer, each uuid once, in canonical form.
fn offered_events(body: Option<&Value>) -> ApiResult<Vec<(String, i64)>> {
    let items = match body {
        Some(Value::Array(items)) => items,
        None => return Ok(Vec::new()),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "The request body must be a list of {\"Event\": {\"uuid\", \"timestamp\"}}.".into(),
            ));
        }
    };
    let mut seen = HashSet::new();
    let mut offered = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let event = item.get("Event").unwrap_or(item);
        let uuid = event
            .get("uuid")
            .and_then(Value::as_str)
            .and_then(|text| uuid::Uuid::parse_str(text.trim()).ok())
            .map(|uuid| uuid.to_string())
            .ok_or_else(|| {
                ApiError::BadRequest(format!("{index}.Event.uuid: a valid UUID is required."))
            })?;
        let timestamp = event
            .get("timestamp")
            .and_then(kizuna_formats::misp::input::lenient_i64)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "{index}.Event.timestamp: a Unix time in seconds is required."
                ))
            })?;
        if seen.insert(uuid.clone()) {
            offered.push((uuid, timestamp));
        }
    }
    Ok(offered)
}

/// Leaves out the tags that must not reach the caller: local tags when the request says
/// `excludeLocalTags:1` (a pulling peer does), and for sync users the tags marked not
/// exportable, which never leave the instance (misp-reference §3.8).
pub(super) fn strip_unshared_tags(call: &Call, event: &mut Event) {
    let drop_local = call
        .path
        .named("excludeLocalTags")
        .is_some_and(|value| matches!(value, "1" | "true"));
    let drop_unexportable = is_sync_peer(call);
    if !(drop_local || drop_unexportable) {
        return;
    }
    let keep = |attached: &kizuna_model::AttachedTag| {
        let unshared_local = drop_local && attached.local;
        let unexportable = drop_unexportable && !attached.tag.exportable;
        !(unshared_local || unexportable)
    };
    event.tags.retain(keep);
    for attribute in event.attributes.iter_mut().chain(
        event
            .objects
            .iter_mut()
            .flat_map(|object| object.attributes.iter_mut()),
    ) {
        attribute.tags.retain(keep);
    }
}

/// What a pushed item's `SharingGroup` description resolves to on this instance.
#[derive(Clone, Copy)]
enum PushedGroup {
    /// The local group the item now names.
    Local(i64),
    /// A group the pushing sync user may not bring here: the item drops to level 0.
    Refused,
}

/// Calls `visit` on the event and each of its attributes, reports, objects and object
/// attributes.
fn visit_pushed_items(event: &mut Value, visit: &mut dyn FnMut(&mut Value)) {
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

/// The uuid of the `SharingGroup` a distribution-4 item describes.
fn described_group_uuid(item: &Value) -> Option<String> {
    if item.get("distribution").and_then(lenient_i64) != Some(4) {
        return None;
    }
    item.get("SharingGroup")?
        .get("uuid")?
        .as_str()
        .map(str::to_ascii_lowercase)
}

fn same_url(left: &str, right: &str) -> bool {
    let normalise = |text: &str| text.trim().trim_end_matches('/').to_ascii_lowercase();
    normalise(left) == normalise(right)
}

/// The servers a pushed group lists that mean something here: this instance (server 0) by
/// its base URL, and servers of the servers list by their URL; others are skipped (MISP does
/// not create servers from a group either).
async fn pushed_group_servers(call: &Call, group: &Value) -> ApiResult<Vec<SharingGroupServer>> {
    let Some(Value::Array(entries)) = group.get("SharingGroupServer") else {
        return Ok(Vec::new());
    };
    let known = call.store().servers().await?;
    let mut servers: Vec<SharingGroupServer> = Vec::new();
    for entry in entries {
        let server = entry.get("Server").unwrap_or(entry);
        let server = server.get(0).unwrap_or(server);
        let Some(url) = server.get("url").and_then(Value::as_str) else {
            continue;
        };
        let server_id = if same_url(url, &call.state.settings.base_url) {
            Some(0)
        } else {
            known
                .iter()
                .find(|candidate| same_url(&candidate.url, url))
                .map(|candidate| candidate.id)
        };
        if let Some(server_id) = server_id
            && !servers.iter().any(|known| known.server_id == server_id)
        {
            servers.push(SharingGroupServer {
                id: 0,
                server_id,
                all_orgs: entry
                    .get("all_orgs")
                    .and_then(lenient_bool)
                    .unwrap_or(false),
            });
        }
    }
    Ok(servers)
}

/// Whether a group this instance does not know yet may be brought here by the pushing sync
/// user (MISP's checkIfAuthorisedToSave for a sync user): the group must list the user's
/// organisation, or be open to every organisation of this instance.
fn may_bring_new_group(call: &Call, group: &Value, servers: &[SharingGroupServer]) -> bool {
    let own_uuid = call.principal.org.uuid.to_ascii_lowercase();
    let lists_own_org = match group.get("SharingGroupOrg") {
        Some(Value::Array(members)) => members.iter().any(|member| {
            let org = member.get("Organisation").unwrap_or(member);
            let org = org.get(0).unwrap_or(org);
            org.get("uuid")
                .and_then(Value::as_str)
                .is_some_and(|uuid| uuid.eq_ignore_ascii_case(&own_uuid))
        }),
        _ => false,
    };
    call.is_site_admin()
        || lists_own_org
        || servers
            .iter()
            .any(|server| server.server_id == 0 && server.all_orgs)
}

/// Resolves one pushed group description (MISP's SharingGroup::captureSG for a sync user).
async fn resolve_pushed_group(call: &Call, uuid: &str, group: &Value) -> ApiResult<PushedGroup> {
    let org_id = call.principal.user.org_id;
    let servers = pushed_group_servers(call, group).await?;
    match call
        .store()
        .sharing_group(&Key::Uuid(uuid.to_string()))
        .await
    {
        Ok(existing) => {
            // A group the user's organisation cannot see here stays as it is and unused:
            // a peer must not widen or borrow a group it has no part in.
            let visible = call
                .store()
                .sharing_groups_usable_by(Some(org_id))
                .await?
                .contains(&existing.id);
            if !visible {
                return Ok(PushedGroup::Refused);
            }
            update_pushed_group(call, existing, group, servers).await
        }
        Err(StoreError::NotFound) => {
            if !may_bring_new_group(call, group, &servers) {
                return Ok(PushedGroup::Refused);
            }
            let now = call.now;
            let mut carrier = json!({ "distribution": 4, "SharingGroup": group });
            crate::sync::pull::capture_sharing_groups(
                call.store(),
                &mut carrier,
                call.principal.user.id,
                now,
            )
            .await?;
            let Some(id) = carrier.get("sharing_group_id").and_then(lenient_i64) else {
                return Ok(PushedGroup::Refused);
            };
            if id == 0 {
                return Ok(PushedGroup::Refused);
            }
            // The group keeps the peer's times, so that its later descriptions compare
            // with what it said rather than with when it arrived here.
            let mut captured = call.store().sharing_group(&Key::Id(id)).await?;
            if let Some(created) = group.get("created").and_then(lenient_time) {
                captured.created = created;
            }
            if let Some(modified) = group.get("modified").and_then(lenient_time) {
                captured.modified = modified;
            }
            captured.servers = servers;
            call.store().update_sharing_group(&captured).await?;
            Ok(PushedGroup::Local(id))
        }
        Err(other) => Err(other.into()),
    }
}

/// A newer description of a synced (non-local) group updates its fields and adds the
/// members it lists; nothing is removed (MISP's captureSGExisting for a sync user).
async fn update_pushed_group(
    call: &Call,
    mut existing: SharingGroup,
    group: &Value,
    servers: Vec<SharingGroupServer>,
) -> ApiResult<PushedGroup> {
    let id = existing.id;
    let pushed_modified = group.get("modified").and_then(lenient_time);
    let newer = pushed_modified.is_none_or(|modified| modified > existing.modified);
    if existing.local || !newer {
        return Ok(PushedGroup::Local(id));
    }
    let text = |name: &str| group.get(name).and_then(Value::as_str).map(str::to_string);
    if let Some(name) = text("name").filter(|name| !name.trim().is_empty()) {
        existing.name = name;
    }
    if let Some(releasability) = text("releasability") {
        existing.releasability = releasability;
    }
    if let Some(description) = text("description") {
        existing.description = description;
    }
    if let Some(roaming) = group.get("roaming").and_then(lenient_bool) {
        existing.roaming = roaming;
    }
    existing.modified = pushed_modified.unwrap_or(call.now);
    let mut orgs = Vec::new();
    if let Some(Value::Array(members)) = group.get("SharingGroupOrg") {
        for member in members {
            let org = member.get("Organisation").unwrap_or(member);
            let org = org.get(0).unwrap_or(org);
            let text = |name: &str| org.get(name).and_then(Value::as_str).map(str::to_string);
            let input = OrgInput {
                id: None,
                uuid: text("uuid"),
                name: text("name"),
            };
            if let Some(org_id) =
                creator_org(call.store(), Some(&input), call.principal.user.id, call.now).await?
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
    existing.orgs = orgs;
    existing.servers = servers;
    match call.store().update_sharing_group(&existing).await {
        // A local group holding the pushed name keeps it; the synced group keeps its own.
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(PushedGroup::Local(id)),
        Err(other) => Err(other.into()),
    }
}

/// A `modified` given as epoch seconds or as MISP's `YYYY-MM-DD HH:MM:SS`.
fn lenient_time(value: &Value) -> Option<i64> {
    if let Some(seconds) = lenient_i64(value) {
        return Some(seconds);
    }
    parse_datetime_micros(value.as_str()?).map(|micros| micros.div_euclid(1_000_000))
}

/// Before a pushed event is validated: every distribution-4 item that describes its
/// sharing group (the `SharingGroup` a peer embeds) gets the id of the local group, which
/// is created or updated from the description when the pushing sync user may bring it;
/// an item whose group it may not bring drops to distribution 0, as MISP does. Only sync
/// users' pushes are treated so; items naming a group by id only are left to validation.
/// `Err` when the event itself names a group the user may not bring on an edit (MISP
/// refuses the edit rather than downgrading the event); `Ok(true)` when the body changed.
pub(super) async fn capture_pushed_sharing_groups(
    call: &Call,
    body: &mut Value,
    editing: bool,
) -> ApiResult<bool> {
    if !call.principal.role.permissions.perm_sync {
        return Ok(false);
    }
    let event = if body.get("Event").is_some_and(Value::is_object) {
        &mut body["Event"]
    } else {
        body
    };
    let mut described: HashMap<String, Value> = HashMap::new();
    visit_pushed_items(event, &mut |item| {
        if let Some(uuid) = described_group_uuid(item)
            && let Some(group) = item.get("SharingGroup")
        {
            described.entry(uuid).or_insert_with(|| group.clone());
        }
    });
    if described.is_empty() {
        return Ok(false);
    }
    let mut resolved: HashMap<String, PushedGroup> = HashMap::new();
    for (uuid, group) in &described {
        resolved.insert(uuid.clone(), resolve_pushed_group(call, uuid, group).await?);
    }
    if editing
        && let Some(uuid) = described_group_uuid(event)
        && matches!(resolved.get(&uuid), Some(PushedGroup::Refused))
    {
        return Err(ApiError::save_refused(
            "Could not edit Event",
            "Event could not be saved: User not authorised to create the associated sharing group.",
        ));
    }
    visit_pushed_items(event, &mut |item| {
        let Some(uuid) = described_group_uuid(item) else {
            return;
        };
        match resolved.get(&uuid) {
            Some(PushedGroup::Local(id)) => {
                item["sharing_group_id"] = Value::String(id.to_string());
            }
            _ => {
                item["distribution"] = Value::String("0".into());
                item["sharing_group_id"] = Value::String("0".into());
            }
        }
        if let Value::Object(map) = item {
            map.remove("SharingGroup");
        }
    });
    Ok(true)
}

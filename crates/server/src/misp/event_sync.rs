//! The parts of MISP's `EventsController` that exist for sync peers (misp-reference
//! §3.3–3.5): the event index's conditional answer (ETag / `If-None-Match`),
//! `filterEventIdsForPush`, and what an event view leaves out for a peer pulling it.

use super::{Call, json_response};
use crate::error::{ApiError, ApiResult};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kizuna_model::Event;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

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

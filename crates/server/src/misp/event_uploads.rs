//! `/events/upload_stix`: MISP's STIX upload (PyMISP `upload_stix`). The request body is the
//! STIX 2.x content itself (a bundle, a TAXII envelope or one object), posted raw to
//! `/events/upload_stix/2`; named parameters `distribution`, `sharing_group_id` and `publish`
//! say how the events are shared and whether they are published.
//!
//! The content is converted by `kizuna_formats::stix::import` and every event is saved by
//! the import path (`crate::import`), whole or not at all. Unlike MISP, which makes one
//! event of a file, a bundle holding several reports or groupings gives one event each;
//! the answer carries the first as MISP's `{"Event": …}` and lists them all under `events`,
//! with what could not be imported under `rejected`.
//!
//! STIX 1 (XML) is refused with a 400 before the body is read as JSON: Kizuna reads
//! STIX 2 only.

use super::sharing_groups::UsableGroups;
use super::{Call, describe_endpoint, is_write, json_response};
use crate::error::{ApiError, ApiResult};
use crate::import::{ImportSettings, ToIdsOverride, import_event};
use crate::routing::MispPath;
use axum::response::Response;
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::output::render_event;
use kizuna_formats::report::Rejection;
use kizuna_formats::stix::import::{StixImportOptions, bundle_to_misp_events};
use kizuna_model::Distribution;
use kizuna_store::{Key, LoadOptions};
use serde_json::{Value, json};
use std::collections::HashMap;

/// MISP's name for a failed upload (`saveFailResponse('Events', 'upload_stix', …)`).
const FAILED: &str = "Could not upload_stix Event";

/// How many rejection reasons an error message names before summing up the rest.
const REASONS_NAMED: usize = 3;

const STIX_1_REFUSED: &str = "STIX 1 is not supported: Kizuna imports STIX 2.0 and 2.1 JSON. \
     Convert the document to STIX 2 and POST it to /events/upload_stix/2.";

/// The STIX version a request names: the first path argument (`/events/upload_stix/2`),
/// else a `stix_version` or `version` named parameter.
fn requested_version(path: &MispPath) -> Option<&str> {
    path.arg(0)
        .or_else(|| path.named("stix_version"))
        .or_else(|| path.named("version"))
}

fn is_stix_1(version: &str) -> bool {
    matches!(version, "1" | "1.0" | "1.1" | "1.1.1" | "1.2")
}

/// Refuses a STIX 1 upload before the body is parsed as JSON: one that says version 1, or
/// names no version and sends XML (MISP's default version is 1). Other requests pass.
pub(super) fn refuse_stix_1(path: &MispPath, body: &[u8]) -> ApiResult<()> {
    if path.controller != "events" || path.action != "uploadstix" {
        return Ok(());
    }
    let refused = match requested_version(path) {
        Some(version) => is_stix_1(version),
        None => body
            .strip_prefix(b"\xef\xbb\xbf".as_slice())
            .unwrap_or(body)
            .trim_ascii_start()
            .starts_with(b"<"),
    };
    if refused {
        Err(ApiError::BadRequest(STIX_1_REFUSED.into()))
    } else {
        Ok(())
    }
}

pub(super) async fn upload_stix(call: &Call) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Event upload_stix",
            &[],
            &["distribution", "sharing_group_id", "publish"],
        ));
    }
    match requested_version(&call.path) {
        None | Some("2" | "2.0" | "2.1") => {}
        Some(version) if is_stix_1(version) => {
            return Err(ApiError::BadRequest(STIX_1_REFUSED.into()));
        }
        Some(version) => {
            return Err(ApiError::BadRequest(format!(
                "Invalid STIX version {version:?}: use 2 (STIX 2.0 and 2.1 are read alike)."
            )));
        }
    }
    let content = call.body.as_ref().ok_or_else(|| {
        ApiError::BadRequest(
            "No STIX 2 content in the request body: POST the bundle as JSON.".into(),
        )
    })?;
    let settings = upload_settings(call).await?;
    let options = StixImportOptions {
        default_info: match content.get("id").and_then(Value::as_str) {
            Some(id) => format!("STIX upload of {id}"),
            None => "STIX upload".to_string(),
        },
    };
    let imported = bundle_to_misp_events(content, &options);
    if imported.events.is_empty() {
        return Err(ApiError::BadRequest(if imported.rejected.is_empty() {
            "The STIX content holds no object Kizuna can import.".to_string()
        } else {
            format!(
                "Nothing in the STIX content could be imported: {}",
                first_reasons(&imported.rejected)
            )
        }));
    }

    let mut rejected = imported.rejected;
    let mut known_tags = HashMap::new();
    let mut created = Vec::new();
    let mut first_id = None;
    let mut already_known = 0;
    let event_count = imported.events.len();
    for mut event in imported.events {
        let uuid = event_text(&event, "uuid");
        let info = event_text(&event, "info");
        let source = format!("Event {uuid}");
        if !call.principal.role.permissions.perm_tag_editor {
            drop_unknown_tags(call, &mut event, &source, &mut known_tags, &mut rejected).await?;
        }
        let summary = import_event(call.store(), &source, &event, &settings, call.now).await?;
        rejected.extend(summary.rejected);
        if summary.events_unchanged > 0 {
            already_known += 1;
            rejected.push(Rejection::new(
                source,
                info,
                "an event with this uuid already exists on this instance",
            ));
        } else if summary.events_added > 0
            && let Some(id) = call.store().event_id_by_uuid(&uuid).await?
        {
            first_id.get_or_insert(id);
            created.push(json!({"id": id.to_string(), "uuid": uuid, "info": info}));
        }
    }

    let Some(first_id) = first_id else {
        let reason = if already_known == event_count {
            "Event with the same UUID already exists.".to_string()
        } else {
            first_reasons(&rejected)
        };
        return Err(ApiError::save_refused(FAILED, reason));
    };
    let stored = call
        .store()
        .event(
            &Key::Id(first_id),
            &LoadOptions {
                include_deleted: false,
                viewer_org: call.viewer_org(),
            },
        )
        .await?;
    let mut body = json!({ "Event": render_event(&stored) });
    super::sharing_groups::embed_in_event(call, &mut body).await?;
    body["events"] = Value::Array(created);
    body["rejected"] = rejected
        .iter()
        .map(|rejection| {
            json!({
                "location": rejection.location,
                "item": rejection.item,
                "reason": rejection.reason,
            })
        })
        .collect();
    Ok(json_response(body))
}

/// The upload's events belong to the caller's organisation and are shared as the request
/// says (MISP: `distribution` named parameter, default 0, which every item inherits);
/// the creator a bundle names is kept for sync users only, as `/events/add` does.
async fn upload_settings(call: &Call) -> ApiResult<ImportSettings> {
    let permissions = &call.principal.role.permissions;
    let distribution = match call.path.named("distribution") {
        None => Distribution::OrganisationOnly,
        Some(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(Distribution::from_i64)
            .filter(|level| level.valid_for_event())
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "Wrong distribution level {text:?}: distribution must be 0-4."
                ))
            })?,
    };
    let sharing_group_id = if distribution == Distribution::SharingGroup {
        let id = call
            .path
            .named("sharing_group_id")
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "The sharing group id is needed when the distribution is set to 4 (\"Sharing group\"): give sharing_group_id."
                        .into(),
                )
            })?
            .trim()
            .parse::<i64>()
            .unwrap_or(0);
        let mut errors = FieldErrors::new();
        UsableGroups::default()
            .check(call, distribution, id, "sharing_group_id", &mut errors)
            .await?;
        if !errors.is_empty() {
            return Err(ApiError::BadRequest(
                "Please select a valid sharing group id: sharing_group_id names no sharing group you may use."
                    .into(),
            ));
        }
        id
    } else {
        0
    };
    let publish_asked = call
        .path
        .named("publish")
        .or_else(|| call.path.arg(1))
        .is_some_and(|text| matches!(text, "1" | "true" | "True"));
    Ok(ImportSettings {
        keep_creator: permissions.perm_sync,
        distribution: Some((distribution, sharing_group_id)),
        publish: Some(publish_asked && permissions.perm_publish),
        tags: Vec::new(),
        to_ids: ToIdsOverride::Keep,
        // MISP refuses an upload whose event exists; it never edits one.
        update_existing: false,
        ..ImportSettings::owned_by(call.principal.user.org_id, call.principal.user.id)
    })
}

/// Tags the instance does not know yet are left out for roles that may not create tags
/// (`perm_tag_editor`), as `/events/add` does, and reported.
async fn drop_unknown_tags(
    call: &Call,
    event: &mut Value,
    source: &str,
    known: &mut HashMap<String, bool>,
    rejected: &mut Vec<Rejection>,
) -> ApiResult<()> {
    let Some(document) = event.get_mut("Event") else {
        return Ok(());
    };
    let mut lists: Vec<(String, &mut Value)> = Vec::new();
    let (top_tags, attributes, objects) = split_tag_holders(document);
    if let Some(tags) = top_tags {
        lists.push(("Tag".into(), tags));
    }
    for (index, attribute) in attributes.into_iter().enumerate() {
        if let Some(tags) = attribute.get_mut("Tag") {
            lists.push((format!("Attribute.{index}.Tag"), tags));
        }
    }
    for (index, object) in objects.into_iter().enumerate() {
        let Some(attributes) = object.get_mut("Attribute").and_then(Value::as_array_mut) else {
            continue;
        };
        for (inner, attribute) in attributes.iter_mut().enumerate() {
            if let Some(tags) = attribute.get_mut("Tag") {
                lists.push((format!("Object.{index}.Attribute.{inner}.Tag"), tags));
            }
        }
    }
    for (location, tags) in lists {
        let Some(items) = tags.as_array_mut() else {
            continue;
        };
        let mut kept = Vec::with_capacity(items.len());
        for tag in items.drain(..) {
            let name = tag
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let exists = match known.get(&name) {
                Some(&exists) => exists,
                None => {
                    let exists = call.store().tag_by_name(&name).await?.is_some();
                    known.insert(name.clone(), exists);
                    exists
                }
            };
            if exists {
                kept.push(tag);
            } else {
                rejected.push(Rejection::new(
                    format!("{source}: {location}"),
                    name,
                    "the tag does not exist here and your role may not create tags",
                ));
            }
        }
        *items = kept;
    }
    Ok(())
}

type TagHolders<'a> = (
    Option<&'a mut Value>,
    Vec<&'a mut Value>,
    Vec<&'a mut Value>,
);

/// The event's own `Tag` list, its attributes and its objects, borrowed apart.
fn split_tag_holders(document: &mut Value) -> TagHolders<'_> {
    let Some(map) = document.as_object_mut() else {
        return (None, Vec::new(), Vec::new());
    };
    let mut tags = None;
    let mut attributes = Vec::new();
    let mut objects = Vec::new();
    for (key, value) in map.iter_mut() {
        match (key.as_str(), value) {
            ("Tag", value) => tags = Some(value),
            ("Attribute", Value::Array(items)) => attributes.extend(items.iter_mut()),
            ("Object", Value::Array(items)) => objects.extend(items.iter_mut()),
            _ => {}
        }
    }
    (tags, attributes, objects)
}

fn event_text(event: &Value, key: &str) -> String {
    event
        .get("Event")
        .unwrap_or(event)
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The first rejections, for an error message.
fn first_reasons(rejected: &[Rejection]) -> String {
    let mut text = rejected
        .iter()
        .take(REASONS_NAMED)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if rejected.len() > REASONS_NAMED {
        text.push_str(&format!(" (and {} more)", rejected.len() - REASONS_NAMED));
    }
    text
}

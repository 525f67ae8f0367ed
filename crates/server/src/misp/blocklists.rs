//! `/event_blocklists/*` and `/org_blocklists/*` (MISP's EventBlocklists and OrgBlocklists
//! controllers, which share one component in MISP as they do here): site administrators list,
//! add, edit and remove blocked event and organisation uuids. Events on either list are
//! refused on push, pull and feed fetch.

use super::{Call, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::response::Response;
use kizuna_formats::misp::output::format_datetime;
use kizuna_store::{BlocklistEntry, BlocklistKind, Key, StoreError};
use serde_json::{Map, Value, json};

/// MISP's model name, which wraps entries and names the request body.
fn model(kind: BlocklistKind) -> &'static str {
    match kind {
        BlocklistKind::Event => "EventBlocklist",
        BlocklistKind::Organisation => "OrgBlocklist",
    }
}

pub(super) async fn handle(call: &Call, kind: BlocklistKind) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "index" | "" => index(call, kind).await,
        "add" => add(call, kind).await,
        "edit" => edit(call, kind).await,
        "delete" => delete(call, kind).await,
        _ => Err(unknown_action(call)),
    }
}

fn render(kind: BlocklistKind, entry: &BlocklistEntry) -> Value {
    let created = format_datetime(entry.created);
    match kind {
        BlocklistKind::Event => json!({
            "id": entry.id.to_string(),
            "event_uuid": entry.uuid,
            "created": created,
            "event_info": entry.name,
            "comment": entry.comment,
            "event_orgc": entry.orgc,
        }),
        BlocklistKind::Organisation => json!({
            "id": entry.id.to_string(),
            "org_uuid": entry.uuid,
            "created": created,
            "org_name": entry.name,
            "comment": entry.comment,
        }),
    }
}

async fn index(call: &Call, kind: BlocklistKind) -> ApiResult<Response> {
    let entries = call.store().blocklist(kind).await?;
    Ok(json_response(Value::Array(
        entries.iter().map(|entry| render(kind, entry)).collect(),
    )))
}

/// The request's fields: MISP accepts them bare, under `request`, or under the model name.
fn fields(call: &Call, kind: BlocklistKind) -> Map<String, Value> {
    let mut body = call.body.clone().unwrap_or_else(|| json!({}));
    if let Some(inner) = body.get_mut("request").map(Value::take) {
        body = inner;
    }
    if let Some(inner) = body.get_mut(model(kind)).map(Value::take) {
        body = inner;
    }
    match body {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn text(fields: &Map<String, Value>, name: &str) -> Option<String> {
    match fields.get(name)? {
        Value::String(text) => Some(text.trim().to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn name_field(kind: BlocklistKind) -> &'static str {
    match kind {
        BlocklistKind::Event => "event_info",
        BlocklistKind::Organisation => "org_name",
    }
}

async fn add(call: &Call, kind: BlocklistKind) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(super::describe_endpoint(
            call,
            &format!("{} add", model(kind)),
            &["uuids"],
            &match kind {
                BlocklistKind::Event => vec!["comment", "event_info", "event_orgc"],
                BlocklistKind::Organisation => vec!["comment", "org_name"],
            },
        ));
    }
    let fields = fields(call, kind);
    let uuids: Vec<String> = match fields.get("uuids") {
        Some(Value::Array(values)) => values
            .iter()
            .map(|value| value.as_str().unwrap_or_default().trim().to_string())
            .collect(),
        Some(Value::String(lines)) => lines.lines().map(|line| line.trim().to_string()).collect(),
        _ => {
            return Err(ApiError::BadRequest(
                "Pass a list of uuids via the \"uuids\" key in the request object.".into(),
            ));
        }
    };
    let template = BlocklistEntry {
        created: call.now,
        name: text(&fields, name_field(kind)).unwrap_or_default(),
        comment: text(&fields, "comment").unwrap_or_default(),
        orgc: text(&fields, "event_orgc").unwrap_or_default(),
        ..BlocklistEntry::default()
    };
    let mut successes = Vec::new();
    let mut fails = Vec::new();
    for uuid in uuids {
        let well_formed = matches!(Key::parse(&uuid), Some(Key::Uuid(_))) && uuid.len() == 36;
        let added = well_formed
            && call
                .store()
                .add_to_blocklist(
                    kind,
                    &BlocklistEntry {
                        uuid: uuid.to_ascii_lowercase(),
                        ..template.clone()
                    },
                )
                .await?;
        if added {
            successes.push(uuid);
        } else {
            fails.push(uuid);
        }
    }
    let message = format!(
        "Done. Added {} new entries to the blocklist. {} entries could not be saved.",
        successes.len(),
        fails.len()
    );
    Ok(json_response(json!({
        "result": {"successes": successes, "fails": fails},
        "message": message,
    })))
}

/// The entry named by the first argument, an id or the blocked uuid.
async fn entry_of(call: &Call, kind: BlocklistKind, missing: &str) -> ApiResult<BlocklistEntry> {
    let key = call
        .path
        .arg(0)
        .and_then(Key::parse)
        .ok_or_else(|| ApiError::NotFound(missing.into()))?;
    match call.store().blocklist_entry(kind, &key).await {
        Ok(entry) => Ok(entry),
        Err(StoreError::NotFound) => Err(ApiError::NotFound(missing.into())),
        Err(other) => Err(other.into()),
    }
}

async fn edit(call: &Call, kind: BlocklistKind) -> ApiResult<Response> {
    let mut entry = entry_of(call, kind, "Blocklist item not found.").await?;
    if is_write(call, false)? {
        let fields = fields(call, kind);
        if let Some(name) = text(&fields, name_field(kind)) {
            entry.name = name;
        }
        if let Some(comment) = text(&fields, "comment") {
            entry.comment = comment;
        }
        if kind == BlocklistKind::Event
            && let Some(orgc) = text(&fields, "event_orgc")
        {
            entry.orgc = orgc;
        }
        call.store().update_blocklist_entry(kind, &entry).await?;
    }
    Ok(json_response(json!({ model(kind): render(kind, &entry) })))
}

async fn delete(call: &Call, kind: BlocklistKind) -> ApiResult<Response> {
    let entry = entry_of(call, kind, "Invalid blocklist entry").await?;
    if !is_write(call, true)? {
        return Ok(super::describe_endpoint(
            call,
            &format!("{} delete", model(kind)),
            &[],
            &[],
        ));
    }
    call.store().remove_from_blocklist(kind, entry.id).await?;
    Ok(call.success("Blocklist entry removed", Some(entry.id)))
}

//! MISP `AttributesController`: describeTypes, add (one or many), view, edit, delete, restore
//! and index.

use super::{Call, describe_endpoint, head_response, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::response::Response;
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::build::{edit_attribute, new_attribute};
use kizuna_formats::misp::input::{lenient_i64, parse_attribute, parse_attributes};
use kizuna_formats::misp::output::{describe_types, render_attribute};
use kizuna_model::access::Viewer;
use kizuna_model::{Attribute, Event};
use kizuna_store::{AttributePage, Key, StoreError};
use serde_json::{Map, Value, json};

const DUPLICATE: &str = "A similar attribute already exists for this event.";

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "describetypes" => Ok(json_response(describe_types())),
        "add" => add(call).await,
        "view" => view(call).await,
        "edit" => edit(call).await,
        "delete" => delete(call).await,
        "restore" => restore(call).await,
        "index" => index(call).await,
        "restsearch" => super::rest_search::attributes(call).await,
        _ => Err(unknown_action(call)),
    }
}

/// The attribute named by argument 0 and its event, if the caller may see both; a
/// soft-deleted one only when asked for and only if the caller may see deleted items of
/// that event (misp-reference §2.3).
async fn visible_attribute(call: &Call, include_deleted: bool) -> ApiResult<(Attribute, Event)> {
    let invalid = || ApiError::NotFound("Invalid attribute.".into());
    let key = call.key_arg(0, "attribute")?;
    let attribute = match call.store().attribute(&key, include_deleted).await {
        Ok(attribute) => attribute,
        Err(StoreError::NotFound) => return Err(invalid()),
        Err(other) => return Err(other.into()),
    };
    let event = call
        .event_of_visible_item(
            attribute.event_id,
            attribute.distribution,
            attribute.sharing_group_id,
            "attribute",
        )
        .await?;
    if attribute.deleted && !super::acl::sees_deleted_items(call, &event) {
        return Err(invalid());
    }
    let viewer = call.viewer().await?;
    if !holding_object_visible(call, &viewer, &event, attribute.object_id).await? {
        return Err(invalid());
    }
    Ok((attribute, event))
}

/// Whether the object holding an attribute, if any, is visible as well: MISP shows an
/// object's attributes only along with their object (misp-reference §2.3).
async fn holding_object_visible(
    call: &Call,
    viewer: &Viewer,
    event: &Event,
    object_id: i64,
) -> ApiResult<bool> {
    if object_id == 0 {
        return Ok(true);
    }
    match call.store().object(&Key::Id(object_id), true).await {
        Ok(object) => {
            Ok(viewer.sees_item(event.org_id, object.distribution, object.sharing_group_id))
        }
        Err(StoreError::NotFound) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

fn attribute_body(attribute: &Attribute) -> Value {
    json!({ "Attribute": render_attribute(attribute) })
}

async fn add(call: &Call) -> ApiResult<Response> {
    const NAME: &str = "Could not add Attribute";
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Attribute add",
            &["value", "type"],
            &[
                "category",
                "to_ids",
                "uuid",
                "distribution",
                "sharing_group_id",
                "timestamp",
                "comment",
                "first_seen",
                "last_seen",
                "Tag",
            ],
        ));
    }
    let event = call.visible_event_meta(0).await?;
    call.require(super::acl::may_modify_event(call, &event))?;
    let body = call.body.as_ref().ok_or_else(|| {
        ApiError::save_failed(
            NAME,
            &FieldErrors::single("value", "No attribute in the request body."),
        )
    })?;
    let inputs = parse_attributes(body).map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    if inputs.is_empty() {
        return Err(ApiError::save_failed(
            NAME,
            &FieldErrors::single("value", "No attribute in the request body."),
        ));
    }
    let many = inputs.len() > 1 || body.is_array();
    let context = call.build_context();
    let mut accepted: Vec<Attribute> = Vec::new();
    let mut failures: Vec<(usize, FieldErrors)> = Vec::new();
    let mut usable_groups = super::sharing_groups::UsableGroups::default();
    for (index, input) in inputs.iter().enumerate() {
        let built = match new_attribute(input, &context) {
            Ok(attribute) => attribute,
            Err(errors) => {
                failures.push((index, errors));
                continue;
            }
        };
        if let Some(problems) = usable_groups.problems(call, &built).await? {
            failures.push((index, problems));
            continue;
        }
        let duplicate_in_request = accepted.iter().any(|other| {
            other.attr_type == built.attr_type
                && other.category == built.category
                && other.value1 == built.value1
                && other.value2 == built.value2
        });
        if duplicate_in_request
            || call
                .store()
                .attribute_duplicate_exists(event.id, &built, 0)
                .await?
        {
            failures.push((index, FieldErrors::single("value", DUPLICATE)));
            continue;
        }
        if let Some(uuid) = input.uuid.as_deref()
            && call
                .store()
                .attribute(&Key::Uuid(uuid.to_string()), true)
                .await
                .is_ok()
        {
            failures.push((
                index,
                FieldErrors::single(
                    "uuid",
                    format!("An attribute with uuid {uuid} already exists."),
                ),
            ));
            continue;
        }
        accepted.push(built);
    }
    if accepted.is_empty() {
        let errors = if many {
            let mut all = FieldErrors::new();
            for (index, errors) in &failures {
                for (field, messages) in &errors.0 {
                    for message in messages {
                        all.add(&format!("attribute_{index}.{field}"), message.clone());
                    }
                }
            }
            all
        } else {
            failures
                .into_iter()
                .next()
                .map(|(_, errors)| errors)
                .unwrap_or_default()
        };
        return Err(ApiError::save_failed(NAME, &errors));
    }
    let may_create_tags = call.principal.role.permissions.perm_tag_editor;
    let stored = call
        .store()
        .add_attributes(event.id, &accepted, call.now, may_create_tags)
        .await?;
    if !many {
        return Ok(json_response(attribute_body(&stored[0])));
    }
    let mut body = json!({
        "Attribute": stored.iter().map(render_attribute).collect::<Vec<_>>(),
    });
    if !failures.is_empty() {
        let mut errors = Map::new();
        for (index, problems) in failures {
            let mut fields = Map::new();
            for (field, messages) in problems.0 {
                fields.insert(field, json!(messages));
            }
            errors.insert(format!("attribute_{index}"), Value::Object(fields));
        }
        body["errors"] = Value::Object(errors);
    }
    Ok(json_response(body))
}

async fn view(call: &Call) -> ApiResult<Response> {
    let found = visible_attribute(call, call.flag("deleted")).await;
    if call.is_head() {
        return Ok(head_response(found.is_ok()));
    }
    let (attribute, _) = found?;
    Ok(json_response(attribute_body(&attribute)))
}

async fn edit(call: &Call) -> ApiResult<Response> {
    const NAME: &str = "Could not edit Attribute";
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Attribute edit",
            &[],
            &[
                "value",
                "type",
                "category",
                "to_ids",
                "distribution",
                "comment",
                "first_seen",
                "last_seen",
            ],
        ));
    }
    let (mut attribute, event) = visible_attribute(call, true).await?;
    call.require(super::acl::may_modify_event(call, &event))?;
    let body = call.body.as_ref().ok_or_else(|| {
        ApiError::save_failed(
            NAME,
            &FieldErrors::single("Attribute", "No attribute in the request body."),
        )
    })?;
    let input = parse_attribute(body).map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    if let Some(timestamp) = input.timestamp
        && timestamp <= attribute.timestamp
    {
        return Err(ApiError::MethodNotAllowed(
            "Attribute could not be saved: Attribute in the request not newer than the local copy."
                .into(),
        ));
    }
    let before = attribute.clone();
    attribute.tags.clear();
    edit_attribute(&mut attribute, &input, &call.build_context())
        .map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    super::sharing_groups::require_usable(
        call,
        NAME,
        attribute.distribution,
        attribute.sharing_group_id,
        &[],
    )
    .await?;
    let identity_changed = before.attr_type != attribute.attr_type
        || before.category != attribute.category
        || before.value1 != attribute.value1
        || before.value2 != attribute.value2;
    if identity_changed
        && attribute.object_id == 0
        && call
            .store()
            .attribute_duplicate_exists(event.id, &attribute, attribute.id)
            .await?
    {
        return Err(ApiError::save_failed(
            NAME,
            &FieldErrors::single("value", DUPLICATE),
        ));
    }
    attribute.tags = super::tags::attachments(&input.tags);
    attribute.timestamp = input.timestamp.unwrap_or(call.now);
    let stored = call
        .store()
        .update_attribute(
            &attribute,
            call.now,
            call.principal.role.permissions.perm_tag_editor,
        )
        .await?;
    Ok(json_response(attribute_body(&stored)))
}

fn hard_delete_requested(call: &Call) -> bool {
    call.path.arg(1) == Some("1")
        || call.flag("hard")
        || call
            .body
            .as_ref()
            .and_then(|body| body.get("hard"))
            .and_then(lenient_i64)
            == Some(1)
}

async fn delete(call: &Call) -> ApiResult<Response> {
    if !is_write(call, true)? {
        return Ok(describe_endpoint(call, "Attribute delete", &[], &["hard"]));
    }
    let (attribute, event) = visible_attribute(call, true).await?;
    call.require(super::acl::may_delete_attribute(call, &event))?;
    // Deleting an already soft-deleted attribute removes it for good (MISP).
    let hard = hard_delete_requested(call) || attribute.deleted;
    call.store()
        .delete_attribute(&attribute, hard, call.now)
        .await?;
    Ok(json_response(json!({"message": "Attribute deleted."})))
}

async fn restore(call: &Call) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(describe_endpoint(call, "Attribute restore", &[], &[]));
    }
    let (attribute, event) = visible_attribute(call, true).await?;
    call.require(super::acl::may_modify_event(call, &event))?;
    let restored = call.store().restore_attribute(&attribute, call.now).await?;
    Ok(json_response(attribute_body(&restored)))
}

/// `GET /attributes/index`: live attributes the caller may see, paged with `limit`/`page`.
async fn index(call: &Call) -> ApiResult<Response> {
    let page = AttributePage {
        limit: call
            .path
            .named("limit")
            .and_then(|value| value.parse().ok()),
        page: call.path.named("page").and_then(|value| value.parse().ok()),
    };
    let attributes = call.store().list_attributes(&page).await?;
    // One look-up of the caller's sharing groups for the whole page, not one per attribute.
    let viewer = call.viewer().await?;
    let mut visible = Vec::with_capacity(attributes.len());
    let mut events: std::collections::HashMap<i64, Option<Event>> =
        std::collections::HashMap::new();
    let mut objects_visible: std::collections::HashMap<i64, bool> =
        std::collections::HashMap::new();
    for attribute in attributes {
        if let std::collections::hash_map::Entry::Vacant(slot) = events.entry(attribute.event_id) {
            slot.insert(
                call.visible_event_meta_by_key(&Key::Id(attribute.event_id))
                    .await
                    .ok(),
            );
        }
        let Some(Some(event)) = events.get(&attribute.event_id) else {
            continue;
        };
        if !viewer.sees_item(
            event.org_id,
            attribute.distribution,
            attribute.sharing_group_id,
        ) {
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) =
            objects_visible.entry(attribute.object_id)
        {
            slot.insert(holding_object_visible(call, &viewer, event, attribute.object_id).await?);
        }
        if objects_visible[&attribute.object_id] {
            visible.push(render_attribute(&attribute));
        }
    }
    Ok(json_response(Value::Array(visible)))
}

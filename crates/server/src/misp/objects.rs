//! MISP `ObjectsController`: add (with template name and uuid), view, delete.

use super::{Call, describe_endpoint, head_response, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::response::Response;
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::build::new_object;
use kizuna_formats::misp::input::{lenient_i64, parse_object};
use kizuna_formats::misp::output::render_object;
use kizuna_model::{Event, MispObject};
use kizuna_store::{Key, StoreError};
use serde_json::json;

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "add" => add(call).await,
        "view" => view(call).await,
        "delete" => delete(call).await,
        "restsearch" => super::rest_search::objects(call).await,
        _ => Err(unknown_action(call)),
    }
}

/// The object named by argument 0 and its event, if the caller may see both; a
/// soft-deleted one only when asked for and only if the caller may see deleted items of
/// that event (misp-reference §2.3).
async fn visible_object(call: &Call, include_deleted: bool) -> ApiResult<(MispObject, Event)> {
    let invalid = || ApiError::NotFound("Invalid object.".into());
    let key = call.key_arg(0, "object")?;
    let object = match call.store().object(&key, include_deleted).await {
        Ok(object) => object,
        Err(StoreError::NotFound) => return Err(invalid()),
        Err(other) => return Err(other.into()),
    };
    let event = call
        .event_of_visible_item(
            object.event_id,
            object.distribution,
            object.sharing_group_id,
            "object",
        )
        .await?;
    if object.deleted && !super::acl::sees_deleted_items(call, &event) {
        return Err(invalid());
    }
    Ok((object, event))
}

/// MISP's ObjectsController asks for perm_modify on top of the perm_add gate.
fn require_perm_modify(call: &Call, doing: &str) -> ApiResult<()> {
    if call.principal.role.permissions.perm_modify {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "You don't have permissions to {doing} objects."
        )))
    }
}

async fn add(call: &Call) -> ApiResult<Response> {
    const NAME: &str = "Could not add Object";
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Object add",
            &["name", "Attribute"],
            &[
                "template_uuid",
                "template_version",
                "meta-category",
                "description",
                "distribution",
                "sharing_group_id",
                "comment",
                "first_seen",
                "last_seen",
                "ObjectReference",
            ],
        ));
    }
    require_perm_modify(call, "create")?;
    let event = call.visible_event_meta(0).await?;
    call.require(super::acl::may_modify_event(call, &event))?;
    let body = call.body.as_ref().ok_or_else(|| {
        ApiError::save_failed(
            NAME,
            &FieldErrors::single("Object", "No object in the request body."),
        )
    })?;
    let input = parse_object(body).map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    if let Some(uuid) = &input.uuid
        && call
            .store()
            .object(&Key::Uuid(uuid.clone()), true)
            .await
            .is_ok()
    {
        return Err(ApiError::save_failed(
            NAME,
            &FieldErrors::single(
                "uuid",
                format!("An object with uuid {uuid} already exists."),
            ),
        ));
    }
    let object = new_object(&input, &call.build_context())
        .map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    super::sharing_groups::require_usable(
        call,
        NAME,
        object.distribution,
        object.sharing_group_id,
        &object.attributes,
    )
    .await?;
    let stored = call
        .store()
        .add_object(
            event.id,
            &object,
            call.now,
            call.principal.role.permissions.perm_tag_editor,
        )
        .await?;
    Ok(json_response(json!({ "Object": render_object(&stored) })))
}

async fn view(call: &Call) -> ApiResult<Response> {
    let found = visible_object(call, call.flag("deleted")).await;
    if call.is_head() {
        return Ok(head_response(found.is_ok()));
    }
    let (mut object, event) = found?;
    // The object being visible says nothing of each attribute in it (MISP §2.3).
    let viewer = call.viewer().await?;
    let deleted_visible = super::acl::sees_deleted_items(call, &event);
    object.attributes.retain(|attribute| {
        viewer.sees_item(
            event.org_id,
            attribute.distribution,
            attribute.sharing_group_id,
        ) && (!attribute.deleted || deleted_visible)
    });
    Ok(json_response(json!({ "Object": render_object(&object) })))
}

async fn delete(call: &Call) -> ApiResult<Response> {
    if !is_write(call, true)? {
        return Ok(describe_endpoint(call, "Object delete", &[], &["hard"]));
    }
    require_perm_modify(call, "delete")?;
    let (object, event) = visible_object(call, true).await?;
    call.require(super::acl::may_modify_event(call, &event))?;
    let hard = call.path.arg(1) == Some("1")
        || call.flag("hard")
        || call
            .body
            .as_ref()
            .and_then(|body| body.get("hard"))
            .and_then(lenient_i64)
            == Some(1)
        || object.deleted;
    call.store().delete_object(&object, hard, call.now).await?;
    Ok(call.success("Object deleted", Some(object.id)))
}

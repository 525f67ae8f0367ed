//! MISP `ObjectReferencesController`: add a reference from an object to an attribute or
//! object of the same event.

use super::{Call, describe_endpoint, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::response::Response;
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::build::new_object_reference;
use kizuna_formats::misp::input::parse_object_reference;
use kizuna_formats::misp::output::render_object_reference;
use kizuna_store::{Key, StoreError};
use serde_json::json;

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "add" => add(call).await,
        _ => Err(unknown_action(call)),
    }
}

async fn add(call: &Call) -> ApiResult<Response> {
    const NAME: &str = "Could not add ObjectReference";
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "ObjectReference add",
            &["object_uuid", "referenced_uuid", "relationship_type"],
            &["uuid", "comment"],
        ));
    }
    let body = call.body.as_ref().ok_or_else(|| {
        ApiError::save_failed(
            NAME,
            &FieldErrors::single("ObjectReference", "No reference in the request body."),
        )
    })?;
    let input =
        parse_object_reference(body).map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    let source_key = match (call.path.arg(0), &input.object_uuid, input.object_id) {
        (Some(text), _, _) => Key::parse(text),
        (None, Some(uuid), _) => Some(Key::Uuid(uuid.clone())),
        (None, None, Some(id)) => Some(Key::Id(id)),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::save_failed(
            NAME,
            &FieldErrors::single("object_uuid", "The referencing object is missing."),
        )
    })?;
    let invalid_object = || ApiError::NotFound("Invalid object.".into());
    let source = match call.store().object(&source_key, false).await {
        Ok(object) => object,
        Err(StoreError::NotFound) => return Err(invalid_object()),
        Err(other) => return Err(other.into()),
    };
    // MISP answers an object whose event the caller may not modify as if it did not exist.
    let event = match call
        .visible_event_meta_by_key(&Key::Id(source.event_id))
        .await
    {
        Ok(event) if super::acl::may_modify_event(call, &event) => event,
        Ok(_) | Err(ApiError::NotFound(_)) => return Err(invalid_object()),
        Err(other) => return Err(other),
    };
    let referenced_uuid = input.referenced_uuid.clone().unwrap_or_default();
    let target_event = match call
        .store()
        .attribute(&Key::Uuid(referenced_uuid.clone()), true)
        .await
    {
        Ok(attribute) => Some(attribute.event_id),
        Err(StoreError::NotFound) => match call
            .store()
            .object(&Key::Uuid(referenced_uuid.clone()), true)
            .await
        {
            Ok(object) => Some(object.event_id),
            Err(StoreError::NotFound) => None,
            Err(other) => return Err(other.into()),
        },
        Err(other) => return Err(other.into()),
    };
    if target_event != Some(event.id) {
        return Err(ApiError::save_failed(
            NAME,
            &FieldErrors::single(
                "referenced_uuid",
                "Invalid referenced object: it must be an attribute or object of the same event.",
            ),
        ));
    }
    let mut reference = new_object_reference(&input, &source.uuid, &call.build_context())
        .map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    reference.object_id = source.id;
    reference.event_id = event.id;
    let stored = call
        .store()
        .add_object_reference(event.id, &reference, call.now)
        .await?;
    Ok(json_response(
        json!({ "ObjectReference": render_object_reference(&stored) }),
    ))
}

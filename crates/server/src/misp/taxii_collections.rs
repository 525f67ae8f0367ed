//! `/taxii_collections/*`: administrators manage the TAXII collections (Kizuna's own
//! controller, in MISP's request and answer shapes): `index`, `view/<id>`, `add`,
//! `edit/<id>`, `delete/<id>`, site admins only (the gate in `acl`). Bodies are
//! `{"TaxiiCollection": {...}}` or the bare object; answers `{"TaxiiCollection": {...}}`.

use super::{Call, describe_endpoint, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use crate::taxii::admin::{CollectionInput, apply, new_collection, render};
use axum::response::Response;
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::input::{lenient_bool, lenient_i64};
use kizuna_store::{StoreError, TaxiiCollection};
use serde_json::{Map, Value, json};

const FIELDS: &[&str] = &[
    "title",
    "description",
    "alias",
    "writable",
    "filter",
    "read_orgs",
    "write_orgs",
    "distribution",
    "sharing_group_id",
];

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "index" => index(call).await,
        "view" => view(call).await,
        "add" => add(call).await,
        "edit" => edit(call).await,
        "delete" => delete(call).await,
        _ => Err(unknown_action(call)),
    }
}

fn envelope(collection: &TaxiiCollection) -> Value {
    json!({ "TaxiiCollection": render(collection) })
}

async fn collection_arg(call: &Call) -> ApiResult<TaxiiCollection> {
    let invalid = || ApiError::NotFound("Invalid TAXII collection.".into());
    let id = call.path.arg(0).ok_or_else(invalid)?;
    match call.store().taxii_collection(id).await {
        Ok(collection) => Ok(collection),
        Err(StoreError::NotFound) => Err(invalid()),
        Err(other) => Err(other.into()),
    }
}

async fn index(call: &Call) -> ApiResult<Response> {
    let collections: Vec<Value> = call
        .store()
        .taxii_collections()
        .await?
        .iter()
        .map(envelope)
        .collect();
    Ok(json_response(Value::Array(collections)))
}

async fn view(call: &Call) -> ApiResult<Response> {
    Ok(json_response(envelope(&collection_arg(call).await?)))
}

async fn add(call: &Call) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "TaxiiCollections add",
            &["title"],
            &FIELDS[1..],
        ));
    }
    let mut collection = new_collection(call.now);
    save(call, &mut collection, true).await?;
    Ok(json_response(envelope(&collection)))
}

async fn edit(call: &Call) -> ApiResult<Response> {
    let mut collection = collection_arg(call).await?;
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "TaxiiCollections edit",
            &[],
            FIELDS,
        ));
    }
    save(call, &mut collection, false).await?;
    Ok(json_response(envelope(&collection)))
}

async fn delete(call: &Call) -> ApiResult<Response> {
    let collection = collection_arg(call).await?;
    if !is_write(call, true)? {
        return Ok(describe_endpoint(call, "TaxiiCollections delete", &[], &[]));
    }
    call.store().delete_taxii_collection(&collection.id).await?;
    Ok(call.success("TAXII collection deleted.", None))
}

async fn save(call: &Call, collection: &mut TaxiiCollection, adding: bool) -> ApiResult<()> {
    let (input, mut errors) = read_input(call)?;
    if adding && input.title.is_none() {
        errors.add("title", "A collection needs a title.");
    }
    let more = apply(call.store(), collection, input, call.now).await?;
    for (field, messages) in more.0 {
        for message in messages {
            errors.add(&field, message);
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::save_failed("TaxiiCollection", &errors));
    }
    let stored = if adding {
        call.store().create_taxii_collection(collection).await
    } else {
        call.store().update_taxii_collection(collection).await
    };
    match stored {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(message)) => Err(ApiError::save_failed(
            "TaxiiCollection",
            &FieldErrors::single("alias", message),
        )),
        Err(other) => Err(other.into()),
    }
}

/// The body's fields, with the type errors of each.
fn read_input(call: &Call) -> ApiResult<(CollectionInput, FieldErrors)> {
    let body = match &call.body {
        Some(Value::Object(map)) => match map.get("TaxiiCollection") {
            Some(Value::Object(inner)) => inner.clone(),
            _ => map.clone(),
        },
        Some(_) => {
            return Err(ApiError::BadRequest(
                "The body must be a JSON object: {\"TaxiiCollection\": {...}}.".into(),
            ));
        }
        None => Map::new(),
    };
    let mut errors = FieldErrors::new();
    let text = |name: &str, errors: &mut FieldErrors| match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => {
            errors.add(name, "Must be text.");
            None
        }
    };
    let orgs = |name: &str, errors: &mut FieldErrors| match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let ids: Vec<Option<i64>> = items.iter().map(lenient_i64).collect();
            if ids.iter().any(Option::is_none) {
                errors.add(name, "Must be a list of organisation ids.");
                None
            } else {
                Some(ids.into_iter().flatten().collect())
            }
        }
        Some(_) => {
            errors.add(name, "Must be a list of organisation ids.");
            None
        }
    };
    let number = |name: &str, errors: &mut FieldErrors| {
        body.get(name).and_then(|value| {
            let parsed = lenient_i64(value);
            if parsed.is_none() {
                errors.add(name, "Must be a number.");
            }
            parsed
        })
    };
    let input = CollectionInput {
        title: text("title", &mut errors),
        description: text("description", &mut errors),
        alias: text("alias", &mut errors),
        writable: body.get("writable").and_then(|value| {
            let parsed = lenient_bool(value);
            if parsed.is_none() {
                errors.add("writable", "Must be true or false.");
            }
            parsed
        }),
        filter: body.get("filter").cloned(),
        read_orgs: orgs("read_orgs", &mut errors),
        write_orgs: orgs("write_orgs", &mut errors),
        distribution: number("distribution", &mut errors),
        sharing_group_id: number("sharing_group_id", &mut errors),
    };
    Ok((input, errors))
}

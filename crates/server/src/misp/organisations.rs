//! MISP `OrganisationsController`: the organisation list and view.

use super::{Call, head_response, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::response::Response;
use kizuna_formats::misp::output::render_organisation;
use kizuna_model::Organisation;
use kizuna_store::StoreError;
use serde_json::{Value, json};

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "index" => index(call).await,
        "view" => view(call).await,
        _ => Err(unknown_action(call)),
    }
}

fn with_user_count(org: &Organisation, user_count: i64) -> Value {
    let mut rendered = render_organisation(org);
    rendered["user_count"] = json!(user_count.to_string());
    json!({ "Organisation": rendered })
}

/// `scope:local` (default: organisations with users here), `external` (known from sync) or
/// `all`; `searchall:` filters by name.
async fn index(call: &Call) -> ApiResult<Response> {
    let scope = call.path.named("scope").unwrap_or("local");
    let search = call
        .path
        .named("searchall")
        .map(|text| text.trim_matches('%').to_lowercase());
    let counts = call.store().user_counts().await?;
    let orgs: Vec<Value> = call
        .store()
        .list_orgs()
        .await?
        .iter()
        .filter(|org| match scope {
            "external" => !org.local,
            "all" => true,
            _ => org.local,
        })
        .filter(|org| {
            search
                .as_deref()
                .is_none_or(|needle| org.name.to_lowercase().contains(needle))
        })
        .map(|org| with_user_count(org, counts.get(&org.id).copied().unwrap_or(0)))
        .collect();
    Ok(json_response(Value::Array(orgs)))
}

async fn view(call: &Call) -> ApiResult<Response> {
    let key = call.key_arg(0, "organisation")?;
    let found = match call.store().org(&key).await {
        Ok(org) => Ok(org),
        Err(StoreError::NotFound) => Err(ApiError::NotFound("Invalid organisation.".into())),
        Err(other) => Err(other.into()),
    };
    if call.is_head() {
        return Ok(head_response(found.is_ok()));
    }
    let org = found?;
    let counts = call.store().user_counts().await?;
    Ok(json_response(with_user_count(
        &org,
        counts.get(&org.id).copied().unwrap_or(0),
    )))
}

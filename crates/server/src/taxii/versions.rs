//! An object's versions: Kizuna keeps the current version of each object only.

use super::objects::{add_date_headers, one_object};
use super::{TaxiiCall, TaxiiError, taxii_response};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

pub async fn get(call: &TaxiiCall, id: &str, object_id: &str) -> Result<Response, TaxiiError> {
    let (_, page) = one_object(call, id, object_id, "versions").await?;
    let versions: Vec<&str> = page
        .items
        .iter()
        .map(|item| item.object().version())
        .collect();
    let body = json!({ "more": false, "versions": versions });
    let mut response = taxii_response(call.version, StatusCode::OK, body.to_string());
    add_date_headers(&mut response, &page);
    Ok(response)
}

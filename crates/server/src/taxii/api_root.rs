//! The API root resource: its versions and the largest body a POST may carry.

use super::{TaxiiCall, TaxiiError, taxii_response};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

pub fn get(call: &TaxiiCall) -> Result<Response, TaxiiError> {
    let body = json!({
        "title": "Kizuna",
        "description": "Events of this instance as STIX, read through the caller's own view.",
        "versions": [call.version.taxii_media_type()],
        "max_content_length": max_content_length(call),
    });
    Ok(taxii_response(
        call.version,
        StatusCode::OK,
        body.to_string(),
    ))
}

/// The server's body limit (counted after decompression).
pub fn max_content_length(call: &TaxiiCall) -> usize {
    call.state.settings.max_body_bytes
}

//! Server discovery (`GET /taxii2/`): the one API root this instance serves. It is answered
//! without credentials too (it names nothing but the root's URL); credentials, when sent,
//! are checked.

use super::media::TaxiiVersion;
use super::{TaxiiCall, TaxiiError, api_root_url, taxii_response};
use crate::AppState;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

pub fn get(call: &TaxiiCall) -> Result<Response, TaxiiError> {
    anonymous(&call.state, call.version)
}

pub fn anonymous(state: &AppState, version: TaxiiVersion) -> Result<Response, TaxiiError> {
    let root = api_root_url(state, version);
    let body = json!({
        "title": "Kizuna TAXII server",
        "description": "Threat intelligence of this Kizuna instance, one collection per saved view.",
        "default": root,
        "api_roots": [root],
    });
    Ok(taxii_response(version, StatusCode::OK, body.to_string()))
}

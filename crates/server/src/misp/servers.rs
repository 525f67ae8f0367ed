//! MISP `ServersController`: the handshake endpoints PyMISP and MISP peers call first.

use super::{Call, json_response, unknown_action};
use crate::error::ApiResult;
use crate::{MISP_COMPAT_VERSION, PYMISP_RECOMMENDED_VERSION};
use axum::response::Response;
use serde_json::json;

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "getversion" => get_version(call).await,
        "getpymispversion" => Ok(json_response(
            json!({"version": PYMISP_RECOMMENDED_VERSION}),
        )),
        _ => Err(unknown_action(call)),
    }
}

/// The version and the caller's sync-relevant permissions; peers decide what to push from it.
async fn get_version(call: &Call) -> ApiResult<Response> {
    let permissions = &call.principal.role.permissions;
    let uuid = if permissions.perm_sync {
        call.store().instance_uuid().await?
    } else {
        "-".to_string()
    };
    Ok(json_response(json!({
        "version": MISP_COMPAT_VERSION,
        "pymisp_recommended_version": PYMISP_RECOMMENDED_VERSION,
        "perm_sync": permissions.perm_sync,
        "perm_sighting": permissions.perm_sighting,
        "perm_galaxy_editor": permissions.perm_galaxy_editor,
        "perm_analyst_data": permissions.perm_analyst_data,
        "uuid": uuid,
        "request_encoding": ["gzip"],
        "filter_sightings": true,
    })))
}

//! MISP `UsersController`: who am I.

use super::{Call, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::response::Response;
use kizuna_formats::misp::output::{render_organisation, render_role, render_user};
use serde_json::json;

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "view" => view(call).await,
        _ => Err(unknown_action(call)),
    }
}

/// `GET /users/view/me`: the caller with role and organisation (PyMISP reads all three).
/// Other users are not visible through this endpoint yet, except one's own id.
async fn view(call: &Call) -> ApiResult<Response> {
    let principal = &call.principal;
    let own = match call.path.arg(0) {
        None | Some("me") => true,
        Some(id) => id == principal.user.id.to_string(),
    };
    if !own {
        return Err(ApiError::NotFound("Invalid user.".into()));
    }
    if call.is_head() {
        return Ok(super::head_response(true));
    }
    Ok(json_response(json!({
        "User": render_user(&principal.user),
        "Role": render_role(&principal.role),
        "UserSetting": [],
        "Organisation": render_organisation(&principal.org),
    })))
}

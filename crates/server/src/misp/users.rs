//! MISP `UsersController`: who am I.

use super::{Call, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::response::Response;
use kizuna_formats::misp::output::{render_organisation, render_role, render_user};
use serde_json::json;

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "view" => view(call).await,
        "index" => index(call).await,
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

/// `GET /admin/users/index`: every user for site admins, the own organisation's users for
/// organisation admins.
async fn index(call: &Call) -> ApiResult<Response> {
    let permissions = &call.principal.role.permissions;
    call.require(permissions.perm_site_admin || permissions.perm_admin)?;
    let scope = (!permissions.perm_site_admin).then_some(call.principal.user.org_id);
    let users = call.store().list_users(scope).await?;
    let mut rows = Vec::with_capacity(users.len());
    for user in &users {
        let role = call.store().role(user.role_id).await?;
        let org = call
            .store()
            .org(&kizuna_store::Key::Id(user.org_id))
            .await?;
        rows.push(json!({
            "User": render_user(user),
            "Role": {
                "id": role.id.to_string(),
                "name": role.name,
                "perm_auth": role.permissions.perm_auth,
                "perm_site_admin": role.permissions.perm_site_admin,
            },
            "Organisation": {
                "id": org.id.to_string(),
                "name": org.name,
                "uuid": org.uuid,
            },
        }));
    }
    Ok(json_response(serde_json::Value::Array(rows)))
}

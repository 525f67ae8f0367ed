//! MISP `RolesController`: the roles for everyone; adding, editing, deleting and choosing
//! the default role of new users for site admins.

use super::users::fields::Fields;
use super::{Call, describe_endpoint, head_response, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::http::Method;
use axum::response::Response;
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::output::render_role;
use kizuna_model::{Role, RolePermissions};
use kizuna_store::StoreError;
use serde_json::{Value, json};

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "index" => index(call).await,
        "view" => view(call).await,
        "add" => add(call).await,
        "edit" => edit(call).await,
        "delete" => delete(call).await,
        "setdefault" => set_default(call).await,
        _ => Err(unknown_action(call)),
    }
}

fn invalid_role() -> ApiError {
    ApiError::NotFound("Invalid Role.".into())
}

/// `{"Role": {...}}` as MISP renders it: no `perm_full` (a legacy column MISP hides) and
/// `default` saying whether new users get this role.
fn rendered(role: &Role) -> Value {
    let mut rendered = render_role(role);
    if let Value::Object(map) = &mut rendered {
        map.remove("perm_full");
        map.insert("default".into(), Value::Bool(role.default_role));
    }
    json!({ "Role": rendered })
}

/// `GET /roles/index[/name:…|/quickFilter:…]`, in id order as MISP's REST index gives it.
async fn index(call: &Call) -> ApiResult<Response> {
    let filter = call
        .path
        .named("name")
        .or_else(|| call.path.named("quickFilter"))
        .map(|text| text.trim_matches('%').to_lowercase())
        .filter(|text| !text.is_empty());
    let mut roles = call.store().list_roles().await?;
    roles.retain(|role| {
        filter
            .as_deref()
            .is_none_or(|needle| role.name.to_lowercase().contains(needle))
    });
    Ok(json_response(Value::Array(
        roles.iter().map(rendered).collect(),
    )))
}

async fn role_arg(call: &Call) -> ApiResult<Role> {
    let id: i64 = call
        .path
        .arg(0)
        .and_then(|text| text.parse().ok())
        .ok_or_else(invalid_role)?;
    match call.store().role(id).await {
        Ok(role) => Ok(role),
        Err(StoreError::NotFound) => Err(invalid_role()),
        Err(other) => Err(other.into()),
    }
}

async fn view(call: &Call) -> ApiResult<Response> {
    let found = role_arg(call).await;
    if call.is_head() {
        return Ok(head_response(found.is_ok()));
    }
    Ok(json_response(rendered(&found?)))
}

fn require_site_admin(call: &Call) -> ApiResult<()> {
    call.require(call.is_site_admin())
}

/// MISP's `permission` levels by name (Role::PERMISSION_CONSTANTS).
fn permission_level(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => match text.trim() {
            "read_only" => Some(0),
            "manage_own" => Some(1),
            "manage_org" => Some(2),
            "publish" => Some(3),
            other => other.parse().ok(),
        },
        Value::Number(number) => number.as_i64(),
        _ => None,
    }
    .filter(|level| (0..=3).contains(level))
}

/// Applies the role fields of the request to `role`. Individual `perm_*` flags are set
/// first; `permission` (0–3 or its name), when sent, then decides the four event flags as
/// it does in MISP (Role::beforeSave).
fn apply_fields(fields: &mut Fields, role: &mut Role) {
    if fields.has("name") {
        role.name = fields.text("name").unwrap_or_default();
    }
    let flag_names: Vec<&'static str> = RolePermissions::default()
        .flags()
        .iter()
        .map(|(name, _)| *name)
        .collect();
    for name in flag_names {
        if let Some(value) = fields.flag(name) {
            role.permissions.set(name, value);
        }
    }
    if let Some(raw) = fields.raw("permission").cloned() {
        match permission_level(&raw) {
            Some(level) => {
                role.permissions.set_permission_level(level);
            }
            None => fields.errors.add(
                "permission",
                "must be 0-3 or read_only, manage_own, manage_org, publish.",
            ),
        }
    }
    if let Some(limit) = fields.text("memory_limit") {
        let valid = limit.is_empty()
            || limit == "-1"
            || (limit.len() > 1
                && limit[..limit.len() - 1].bytes().all(|b| b.is_ascii_digit())
                && matches!(limit.as_bytes()[limit.len() - 1], b'M' | b'G' | b'm' | b'g'));
        if valid {
            role.memory_limit = limit;
        } else {
            fields.errors.add(
                "memory_limit",
                "must be empty, -1, or a size such as 512M or 2G.",
            );
        }
    }
    if let Some(time) = fields.text("max_execution_time") {
        if time.is_empty() {
            role.max_execution_time = time;
        } else {
            match time.parse::<i64>() {
                Ok(seconds) => role.max_execution_time = seconds.to_string(),
                Err(_) => fields.errors.add(
                    "max_execution_time",
                    "must be empty or a number of seconds.",
                ),
            }
        }
    }
    for (name, slot) in [
        (
            "restricted_to_site_admin",
            &mut role.restricted_to_site_admin,
        ),
        ("enforce_rate_limit", &mut role.enforce_rate_limit),
    ] {
        if let Some(value) = fields.flag(name) {
            *slot = value;
        }
    }
    if let Some(count) = fields.integer("rate_limit_count") {
        if count >= 0 {
            role.rate_limit_count = count;
        } else {
            fields
                .errors
                .add("rate_limit_count", "must not be negative.");
        }
    }
}

/// Role names are unique regardless of case.
async fn check_name(call: &Call, role: &Role, errors: &mut FieldErrors) -> ApiResult<()> {
    if role.name.trim().is_empty() {
        errors.add("name", "A role needs a name.");
    } else if let Some(other) = call.store().role_by_name(&role.name).await?
        && other.id != role.id
    {
        errors.add("name", "A role with this name already exists.");
    }
    Ok(())
}

fn conflict_as_failure(error: StoreError, failure: &str) -> ApiError {
    match error {
        StoreError::Conflict(message) => {
            ApiError::save_failed(failure, &FieldErrors::single("name", message))
        }
        other => other.into(),
    }
}

const OPTIONAL_FIELDS: &[&str] = &[
    "permission",
    "perm_*",
    "memory_limit",
    "max_execution_time",
    "restricted_to_site_admin",
    "enforce_rate_limit",
    "rate_limit_count",
];

/// `POST /admin/roles/add`: flags not sent are off.
async fn add(call: &Call) -> ApiResult<Response> {
    require_site_admin(call)?;
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Roles admin_add",
            &["name"],
            OPTIONAL_FIELDS,
        ));
    }
    const FAILURE: &str = "Could not add Role";
    let mut fields = Fields::of(call.body.as_ref(), "Role")?;
    let mut role = Role::default();
    apply_fields(&mut fields, &mut role);
    role.name = role.name.trim().to_string();
    if !fields.errors.0.contains_key("name") {
        check_name(call, &role, &mut fields.errors).await?;
    }
    fields.finish(FAILURE)?;
    let created = call
        .store()
        .create_role(&role, call.now)
        .await
        .map_err(|error| conflict_as_failure(error, FAILURE))?;
    Ok(json_response(rendered(&created)))
}

/// `POST /admin/roles/edit/{id}`: the fields sent change, the rest stay.
async fn edit(call: &Call) -> ApiResult<Response> {
    require_site_admin(call)?;
    let existing = role_arg(call).await?;
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Roles admin_edit",
            &[],
            OPTIONAL_FIELDS,
        ));
    }
    const FAILURE: &str = "Could not edit Role";
    let mut fields = Fields::of(call.body.as_ref(), "Role")?;
    let mut role = existing.clone();
    apply_fields(&mut fields, &mut role);
    role.name = role.name.trim().to_string();
    if !fields.errors.0.contains_key("name") {
        check_name(call, &role, &mut fields.errors).await?;
    }
    fields.finish(FAILURE)?;
    let updated = call
        .store()
        .update_role(&role, call.now)
        .await
        .map_err(|error| conflict_as_failure(error, FAILURE))?;
    Ok(json_response(rendered(&updated)))
}

/// `POST|DELETE /admin/roles/delete/{id}`: refused while users have the role, and for the
/// default role.
async fn delete(call: &Call) -> ApiResult<Response> {
    require_site_admin(call)?;
    if !matches!(call.method, Method::POST | Method::DELETE) {
        return Err(ApiError::MethodNotAllowed(
            "Deleting a role takes a POST or DELETE request.".into(),
        ));
    }
    let role = role_arg(call).await?;
    match call.store().delete_role(role.id).await {
        Ok(()) => Ok(call.success("Role deleted.", Some(role.id))),
        Err(StoreError::Conflict(reason)) => {
            Err(ApiError::save_refused("Could not delete Role", reason))
        }
        Err(StoreError::NotFound) => Err(invalid_role()),
        Err(other) => Err(other.into()),
    }
}

/// `POST /admin/roles/set_default/{id}`: the role new users get when none is given.
async fn set_default(call: &Call) -> ApiResult<Response> {
    require_site_admin(call)?;
    const FAILURE: &str = "Could not set_default Role";
    if call.method != Method::POST && call.method != Method::PUT {
        return Err(ApiError::save_refused(
            FAILURE,
            "This endpoint expects a POST request.",
        ));
    }
    let Some(id) = call.path.arg(0).and_then(|text| text.parse::<i64>().ok()) else {
        return Err(ApiError::save_refused(FAILURE, "Invalid Role."));
    };
    match call.store().set_default_role(id).await {
        Ok(_) => Ok(call.success("Default role set.", Some(id))),
        Err(StoreError::NotFound) => Err(ApiError::save_refused(FAILURE, "Invalid Role.")),
        Err(other) => Err(other.into()),
    }
}

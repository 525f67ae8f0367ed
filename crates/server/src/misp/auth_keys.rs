//! MISP `AuthKeysController`: a user's API keys. Everyone manages their own keys,
//! organisation admins those of their organisation's plain users, site admins all. A new
//! key's clear text is in the answer to its creation (`authkey_raw`) and nowhere else: only
//! its SHA-256 digest and first and last four characters are stored.
//!
//! Whether a key is read-only or limited to some addresses is stored here and enforced when
//! a request authenticates.

use super::users::fields::Fields;
use super::users::{account, is_admin};
use super::{Call, describe_endpoint, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use crate::keys;
use axum::http::Method;
use axum::response::Response;
use kizuna_formats::misp::output::render_auth_key;
use kizuna_model::{AuthKey, Role, User};
use kizuna_store::{Key, NewAuthKey, OwnedAuthKey, StoreError};
use serde_json::{Value, json};
use std::net::IpAddr;

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "add" => add(call).await,
        "index" => index(call).await,
        "view" => view(call).await,
        "edit" => edit(call).await,
        "delete" => delete(call).await,
        _ => Err(unknown_action(call)),
    }
}

/// Whether the caller may create, change or delete API keys of `user` (MISP's
/// AuthKeysController::__canCreateAuthKeyForUser, limited to the admin's organisation):
/// their own always; site admins anyone's; organisation admins those of enabled users of
/// their organisation who may use the API, except site admins and other organisation admins.
pub(super) fn can_manage_keys_of(call: &Call, user: &User, role: &Role) -> bool {
    if call.is_site_admin() || user.id == call.principal.user.id {
        return true;
    }
    call.principal.role.permissions.perm_admin
        && user.org_id == call.principal.user.org_id
        && !user.disabled
        && role.permissions.perm_auth
        && !role.permissions.perm_site_admin
        && !role.permissions.perm_admin
}

fn invalid_key() -> ApiError {
    ApiError::NotFound("Invalid auth key.".into())
}

fn not_allowed() -> ApiError {
    ApiError::Forbidden(
        "Invalid user or insufficient privileges to interact with an authkey for the given user."
            .into(),
    )
}

/// The keys the caller may see (MISP's __prepareConditions): all for site admins, their
/// organisation's for organisation admins, their own otherwise.
async fn visible_keys(call: &Call, user_id: Option<i64>) -> ApiResult<Vec<OwnedAuthKey>> {
    let (user_id, org_id) = if call.is_site_admin() {
        (user_id, None)
    } else if is_admin(call) {
        (user_id, Some(call.principal.user.org_id))
    } else {
        match user_id {
            Some(other) if other != call.principal.user.id => return Ok(Vec::new()),
            _ => (Some(call.principal.user.id), None),
        }
    };
    Ok(call.store().auth_keys_with_owners(user_id, org_id).await?)
}

/// The key named by positional argument 0, if the caller may see it.
async fn visible_key(call: &Call) -> ApiResult<OwnedAuthKey> {
    let id: i64 = call
        .path
        .arg(0)
        .and_then(|text| text.parse().ok())
        .ok_or_else(invalid_key)?;
    let owner = match call.store().auth_key(&Key::Id(id)).await {
        Ok(key) => key.user_id,
        Err(StoreError::NotFound) => return Err(invalid_key()),
        Err(other) => return Err(other.into()),
    };
    visible_keys(call, Some(owner))
        .await?
        .into_iter()
        .find(|owned| owned.key.id == id)
        .ok_or_else(invalid_key)
}

/// A visible key the caller may also change or delete.
async fn changeable_key(call: &Call) -> ApiResult<OwnedAuthKey> {
    let owned = visible_key(call).await?;
    let owner = account(call, owned.key.user_id).await?;
    if !can_manage_keys_of(call, &owner.user, &owner.role) {
        return Err(not_allowed());
    }
    Ok(owned)
}

fn with_owner(owned: &OwnedAuthKey) -> Value {
    json!({
        "AuthKey": render_auth_key(&owned.key),
        "User": {
            "id": owned.key.user_id.to_string(),
            "email": owned.email,
        },
    })
}

/// Whether `text` is an IPv4/IPv6 address or CIDR block.
fn is_ip_range(text: &str) -> bool {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return false;
    };
    let longest = if address.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|prefix| {
        !prefix.is_empty()
            && prefix.bytes().all(|b| b.is_ascii_digit())
            && prefix.parse::<u32>().is_ok_and(|bits| bits <= longest)
    })
}

/// The settable fields of a key: `expiration` (date, date-time or Unix seconds; empty or 0
/// = never), `comment`, `read_only`, `allowed_ips` (list, or text split on newlines and
/// commas). Fields not sent keep the values of `key`.
fn apply_key_fields(fields: &mut Fields, key: &mut AuthKey) {
    if let Some(raw) = fields.raw("expiration").cloned() {
        let text = match &raw {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        };
        match text.as_deref().and_then(keys::parse_expiration) {
            Some(expiration) => key.expiration = expiration,
            None => fields.errors.add(
                "expiration",
                "Expiration must be in YYYY-MM-DD format, a date-time or Unix seconds.",
            ),
        }
    }
    if let Some(comment) = fields.text("comment") {
        key.comment = comment;
    }
    if let Some(read_only) = fields.flag("read_only") {
        key.read_only = read_only;
    }
    if let Some(ranges) = fields.list("allowed_ips") {
        for range in ranges.iter().filter(|range| !is_ip_range(range)) {
            fields
                .errors
                .add("allowed_ips", format!("{range} is not a valid IP range."));
        }
        key.allowed_ips = ranges;
    }
}

/// `POST /auth_keys/add[/{user_id|me}]`: a new key for that user (default: the caller).
async fn add(call: &Call) -> ApiResult<Response> {
    let user_id = match call.path.arg(0) {
        None | Some("me") => call.principal.user.id,
        Some(text) => text
            .parse()
            .map_err(|_| ApiError::NotFound("Invalid user.".into()))?,
    };
    let owner = account(call, user_id).await?;
    if !can_manage_keys_of(call, &owner.user, &owner.role) {
        return Err(not_allowed());
    }
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "AuthKeys add",
            &[],
            &["expiration", "comment", "read_only", "allowed_ips"],
        ));
    }
    let mut fields = Fields::of(call.body.as_ref(), "AuthKey")?;
    let mut settings = AuthKey::default();
    apply_key_fields(&mut fields, &mut settings);
    fields.finish("Could not add AuthKey")?;

    let key = keys::generate_api_key();
    let stored = call
        .store()
        .create_auth_key(
            user_id,
            &NewAuthKey {
                expiration: settings.expiration,
                read_only: settings.read_only,
                comment: settings.comment,
                allowed_ips: settings.allowed_ips,
                ..keys::stored_form(&key)
            },
            call.now,
        )
        .await?;
    let mut rendered = render_auth_key(&stored);
    rendered["authkey_raw"] = Value::String(key);
    Ok(json_response(json!({ "AuthKey": rendered })))
}

/// `GET /auth_keys/index[/{user_id}]`: the keys the caller may see, never a digest.
async fn index(call: &Call) -> ApiResult<Response> {
    let user_filter = call
        .path
        .arg(0)
        .or_else(|| call.path.named("user_id"))
        .or_else(|| call.path.named("User.id"));
    let user_id = match user_filter {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            ApiError::BadRequest(format!("The user filter must be a user id, got {text:?}."))
        })?),
    };
    let rows: Vec<Value> = visible_keys(call, user_id)
        .await?
        .iter()
        .map(with_owner)
        .collect();
    Ok(json_response(Value::Array(rows)))
}

async fn view(call: &Call) -> ApiResult<Response> {
    let owned = visible_key(call).await;
    if call.is_head() {
        return Ok(super::head_response(owned.is_ok()));
    }
    Ok(json_response(with_owner(&owned?)))
}

/// `POST /auth_keys/edit/{id}`: comment, expiration, read-only flag and allowed addresses.
async fn edit(call: &Call) -> ApiResult<Response> {
    let owned = changeable_key(call).await?;
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "AuthKeys edit",
            &[],
            &["expiration", "comment", "read_only", "allowed_ips"],
        ));
    }
    let mut fields = Fields::of(call.body.as_ref(), "AuthKey")?;
    let mut key = owned.key.clone();
    apply_key_fields(&mut fields, &mut key);
    fields.finish("Could not edit AuthKey")?;
    let updated = call.store().update_auth_key(&key).await?;
    Ok(json_response(
        json!({ "AuthKey": render_auth_key(&updated) }),
    ))
}

/// `POST|DELETE /auth_keys/delete/{id}`.
async fn delete(call: &Call) -> ApiResult<Response> {
    if !matches!(call.method, Method::POST | Method::DELETE) {
        return Err(ApiError::MethodNotAllowed(
            "Deleting an auth key takes a POST or DELETE request.".into(),
        ));
    }
    let owned = changeable_key(call).await?;
    match call.store().delete_auth_key(owned.key.id).await {
        Ok(()) => Ok(call.success("AuthKey deleted.", Some(owned.key.id))),
        Err(StoreError::NotFound) => Err(invalid_key()),
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::is_ip_range;

    #[test]
    fn ip_ranges() {
        for good in [
            "10.0.0.1",
            "10.0.0.0/8",
            "0.0.0.0/0",
            "::1",
            "2001:db8::/32",
        ] {
            assert!(is_ip_range(good), "{good}");
        }
        for bad in [
            "",
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0/8",
            "host.example",
            "1.2.3.4/",
        ] {
            assert!(!is_ip_range(bad), "{bad}");
        }
    }
}

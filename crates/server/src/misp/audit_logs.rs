//! The audit log read back: `/admin/audit_logs/index` in MISP's AuditLog shape and
//! `/admin/logs/index` (what PyMISP's `search_logs` posts to) in the older Log shape, both
//! newest first with filters and pages.
//!
//! Who sees what: site admins see every entry and org admins the entries of their own
//! organisation, on both paths. Without the `/admin/` prefix, `/logs/index` also lets any
//! user whose role has `perm_audit` read their own entries, as MISP does; the `/admin/`
//! paths refuse everyone else.

use super::{Call, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::http::Method;
use axum::response::Response;
use kizuna_formats::misp::filters::resolve_time;
use kizuna_formats::misp::output::format_datetime;
use kizuna_store::{AuditFilter, Key, ListedAuditEntry};
use serde_json::{Map, Value, json};

/// MISP's page size for the audit log.
const DEFAULT_LIMIT: i64 = 60;
/// MISP answers a Log search without a limit with every entry; we stop here.
const DEFAULT_LOG_LIMIT: i64 = 1000;
const MAX_LIMIT: i64 = 1000;

/// Which of the two answer shapes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    AuditLog,
    Log,
}

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    let shape = match (call.path.controller.as_str(), call.path.action.as_str()) {
        ("auditlogs", "index") => Shape::AuditLog,
        ("logs", "index") => Shape::Log,
        _ => return Err(unknown_action(call)),
    };
    if !matches!(call.method, Method::GET | Method::POST) {
        return Err(ApiError::MethodNotAllowed(format!(
            "{} is not allowed on {}.",
            call.method, call.url
        )));
    }
    let scope = scope(call)?;
    let parameters = parameters(call)?;
    let default_limit = match shape {
        Shape::AuditLog => DEFAULT_LIMIT,
        Shape::Log => DEFAULT_LOG_LIMIT,
    };
    let limit = count(&parameters, "limit")?.unwrap_or(default_limit);
    if limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "Invalid filter limit: at most {MAX_LIMIT} entries are listed at once; use page for more."
        )));
    }
    let page = count(&parameters, "page")?.unwrap_or(1);
    let Some(filter) = filter(call, &parameters, shape, scope).await? else {
        return Ok(json_response(json!([])));
    };
    let entries = call
        .store()
        .list_audit_entries(&filter, limit, (page - 1) * limit)
        .await?;
    let rendered = entries
        .iter()
        .map(|listed| match shape {
            Shape::AuditLog => render_audit_log(listed),
            Shape::Log => render_log(listed),
        })
        .collect();
    Ok(json_response(Value::Array(rendered)))
}

/// Whose entries the caller may read.
#[derive(Clone, Copy)]
enum Scope {
    Everything,
    Organisation(i64),
    OwnEntries(i64),
}

fn scope(call: &Call) -> ApiResult<Scope> {
    let permissions = &call.principal.role.permissions;
    if permissions.perm_site_admin {
        return Ok(Scope::Everything);
    }
    let refused =
        || ApiError::Forbidden("You do not have permission to use this functionality.".into());
    if !permissions.perm_audit {
        return Err(refused());
    }
    if permissions.perm_admin {
        return Ok(Scope::Organisation(call.principal.user.org_id));
    }
    if call.path.admin {
        return Err(refused());
    }
    Ok(Scope::OwnEntries(call.principal.user.id))
}

/// Named parameters, then the JSON body's fields (MISP's `request` envelope removed), the
/// body winning; nulls are dropped (PyMISP sends none, other clients do).
fn parameters(call: &Call) -> ApiResult<Map<String, Value>> {
    let mut parameters = Map::new();
    for (name, _) in &call.path.named {
        let values = call.path.named_all(name);
        let value = match values.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        parameters.insert(name.clone(), value);
    }
    if let Some(body) = &call.body {
        let body = body.get("request").unwrap_or(body);
        let Value::Object(fields) = body else {
            return Err(ApiError::BadRequest(
                "The request body must be a JSON object of filters.".into(),
            ));
        };
        for (name, value) in fields {
            parameters.insert(name.clone(), value.clone());
        }
    }
    parameters.retain(|_, value| !value.is_null());
    Ok(parameters)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.trim().to_string()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The texts of a filter: one value, a list, or MISP's `a||b`.
fn texts(parameters: &Map<String, Value>, name: &str) -> ApiResult<Vec<String>> {
    let Some(value) = parameters.get(name) else {
        return Ok(Vec::new());
    };
    let invalid =
        || ApiError::BadRequest(format!("Invalid filter {name}: {value} is not a value."));
    let scalars: Vec<String> = match value {
        Value::Array(items) => items
            .iter()
            .map(|item| scalar_text(item).ok_or_else(invalid))
            .collect::<ApiResult<_>>()?,
        other => scalar_text(other)
            .ok_or_else(invalid)?
            .split("||")
            .map(str::to_string)
            .collect(),
    };
    Ok(scalars
        .into_iter()
        .filter(|text| !text.is_empty())
        .collect())
}

fn ids(parameters: &Map<String, Value>, name: &str) -> ApiResult<Vec<i64>> {
    texts(parameters, name)?
        .into_iter()
        .map(|text| {
            text.parse::<i64>().map_err(|_| {
                ApiError::BadRequest(format!("Invalid filter {name}: {text:?} is not an id."))
            })
        })
        .collect()
}

/// `limit` or `page`: a whole number of at least 1.
fn count(parameters: &Map<String, Value>, name: &str) -> ApiResult<Option<i64>> {
    let values = ids(parameters, name)?;
    match values.as_slice() {
        [] => Ok(None),
        [value] if *value >= 1 => Ok(Some(*value)),
        _ => Err(ApiError::BadRequest(format!(
            "Invalid filter {name}: use one whole number of at least 1."
        ))),
    }
}

/// The one text of a filter, if given.
fn text(parameters: &Map<String, Value>, name: &str) -> ApiResult<Option<String>> {
    Ok(texts(parameters, name)?.into_iter().next())
}

/// Resolves users named by id, e-mail address or `SYSTEM` (0) to ids; an unknown address
/// matches no entry (-1, never an id).
async fn user_ids(call: &Call, names: Vec<String>) -> ApiResult<Vec<i64>> {
    let mut resolved = Vec::with_capacity(names.len());
    for name in names {
        let id = if name.eq_ignore_ascii_case("SYSTEM") {
            0
        } else if let Ok(id) = name.parse::<i64>() {
            id
        } else {
            match call.store().user_by_email(&name).await? {
                Some(user) => user.id,
                None => -1,
            }
        };
        resolved.push(id);
    }
    Ok(resolved)
}

/// Organisations named by id, uuid, name or `SYSTEM` (0); an unknown one matches nothing.
async fn org_ids(call: &Call, names: Vec<String>) -> ApiResult<Vec<i64>> {
    let mut resolved = Vec::with_capacity(names.len());
    for name in names {
        if name.eq_ignore_ascii_case("SYSTEM") {
            resolved.push(0);
            continue;
        }
        let by_key = match Key::parse(&name) {
            Some(key) => match call.store().org(&key).await {
                Ok(org) => Some(org.id),
                Err(kizuna_store::StoreError::NotFound) => None,
                Err(other) => return Err(other.into()),
            },
            None => None,
        };
        let id = match by_key {
            Some(id) => Some(id),
            None => call.store().org_by_name(&name).await?.map(|org| org.id),
        };
        resolved.push(id.unwrap_or(-1));
    }
    Ok(resolved)
}

/// Narrows `requested` to the one value the caller may see; false when nothing is left.
fn restrict(requested: &mut Vec<i64>, allowed: i64) -> bool {
    if !requested.is_empty() && !requested.contains(&allowed) {
        return false;
    }
    *requested = vec![allowed];
    true
}

/// A LIKE pattern: the value as given when it holds `%` (MISP's substring syntax), else
/// `%value%` when `substring`, else the value itself.
fn like(value: String, substring: bool) -> String {
    if value.contains('%') || !substring {
        value
    } else {
        format!("%{value}%")
    }
}

/// The store filter for the request, or None when the caller's scope rules out every entry.
async fn filter(
    call: &Call,
    parameters: &Map<String, Value>,
    shape: Shape,
    scope: Scope,
) -> ApiResult<Option<AuditFilter>> {
    let mut filter = AuditFilter {
        ids: ids(parameters, "id")?,
        ips: texts(parameters, "ip")?,
        actions: texts(parameters, "action")?,
        model_ids: ids(parameters, "model_id")?,
        org_ids: org_ids(call, texts(parameters, "org")?).await?,
        ..AuditFilter::default()
    };
    for model in texts(parameters, "model")? {
        // The audit log's `Model:id` form.
        match model.split_once(':') {
            Some((name, id)) => {
                filter.models.push(name.to_string());
                filter.model_ids.push(id.parse().map_err(|_| {
                    ApiError::BadRequest(format!("Invalid filter model: {id:?} is not an id."))
                })?);
            }
            None => filter.models.push(model),
        }
    }
    match shape {
        Shape::AuditLog => {
            filter.user_ids = user_ids(call, texts(parameters, "user")?).await?;
            filter.authkey_ids = ids(parameters, "authkey_id")?;
            filter.request_ids = texts(parameters, "request_id")?;
            filter.request_types = ids(parameters, "request_type")?;
            filter.event_ids = ids(parameters, "event_id")?;
            filter.model_title_like =
                text(parameters, "model_title")?.map(|title| like(title, true));
        }
        Shape::Log => {
            filter.user_ids = ids(parameters, "user_id")?;
            filter
                .user_ids
                .extend(user_ids(call, texts(parameters, "email")?).await?);
            filter.model_title_like = text(parameters, "title")?
                .or(text(parameters, "description")?)
                .map(|title| like(title, false));
            filter.change_like = text(parameters, "change")?.map(|change| like(change, false));
        }
    }
    if let Some(created) = parameters.get("created") {
        let (from, to) = resolve_time("created", created, call.now)
            .map_err(|error| ApiError::BadRequest(error.to_string()))?
            .bounds();
        filter.created_from = from;
        filter.created_to = to;
    }
    let visible = match scope {
        Scope::Everything => true,
        Scope::Organisation(org_id) => restrict(&mut filter.org_ids, org_id),
        Scope::OwnEntries(user_id) => restrict(&mut filter.user_ids, user_id),
    };
    Ok(visible.then_some(filter))
}

fn int(value: i64) -> Value {
    Value::String(value.to_string())
}

/// A readable one-line title of an entry.
fn title(listed: &ListedAuditEntry) -> String {
    let entry = &listed.entry;
    match entry.action.as_str() {
        "login" | "login_fail" => entry.model_title.clone(),
        "tag" | "tag_local" => format!(
            "Tag \"{}\" attached to {} #{}",
            entry.model_title, entry.model, entry.model_id
        ),
        "remove_tag" | "remove_local_tag" => format!(
            "Tag \"{}\" detached from {} #{}",
            entry.model_title, entry.model, entry.model_id
        ),
        action => {
            let mut title = format!("{action} {}", entry.model);
            if entry.model_id != 0 {
                title.push_str(&format!(" #{}", entry.model_id));
            }
            if !entry.model_title.is_empty() {
                title.push_str(&format!(": {}", entry.model_title));
            }
            title
        }
    }
}

fn render_audit_log(listed: &ListedAuditEntry) -> Value {
    let entry = &listed.entry;
    let change = if entry.change.is_empty() {
        Value::String(String::new())
    } else {
        serde_json::from_str(&entry.change).unwrap_or_else(|_| Value::String(entry.change.clone()))
    };
    let mut rendered = json!({
        "AuditLog": {
            "id": int(entry.id),
            "created": format_datetime(entry.created),
            "user_id": int(entry.user_id),
            "org_id": int(entry.org_id),
            "authkey_id": int(entry.authkey_id),
            "ip": entry.ip,
            "request_type": int(entry.request_type),
            "request_id": entry.request_id,
            "action": entry.action,
            "model": entry.model,
            "model_id": int(entry.model_id),
            "model_title": entry.model_title,
            "event_id": int(entry.event_id),
            "change": change,
            "title": title(listed),
        }
    });
    if let Some(email) = &listed.user_email {
        rendered["User"] = json!({
            "id": int(entry.user_id),
            "email": email,
            "org_id": int(listed.user_org_id.unwrap_or(0)),
        });
    }
    if let Some(name) = &listed.org_name {
        rendered["Organisation"] = json!({
            "id": int(entry.org_id),
            "name": name,
            "uuid": listed.org_uuid.clone().unwrap_or_default(),
        });
    }
    rendered
}

fn render_log(listed: &ListedAuditEntry) -> Value {
    let entry = &listed.entry;
    let system_or = |known: &Option<String>, id: i64| match (known, id) {
        (Some(text), _) => text.clone(),
        (None, 0) => "SYSTEM".to_string(),
        (None, _) => String::new(),
    };
    let title = title(listed);
    json!({
        "Log": {
            "id": int(entry.id),
            "title": title,
            "created": format_datetime(entry.created),
            "model": entry.model,
            "model_id": int(entry.model_id),
            "action": entry.action,
            "user_id": int(entry.user_id),
            "change": entry.change,
            "email": system_or(&listed.user_email, entry.user_id),
            "org": system_or(&listed.org_name, entry.org_id),
            "description": title,
            "ip": entry.ip,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_narrow_filters_or_rule_them_out() {
        let mut none = Vec::new();
        assert!(restrict(&mut none, 4));
        assert_eq!(none, [4]);
        let mut matching = vec![3, 4];
        assert!(restrict(&mut matching, 4));
        assert_eq!(matching, [4]);
        let mut other = vec![3];
        assert!(!restrict(&mut other, 4));
    }

    #[test]
    fn like_patterns_follow_misp() {
        assert_eq!(like("abc".into(), true), "%abc%");
        assert_eq!(like("ab%".into(), true), "ab%");
        assert_eq!(like("abc".into(), false), "abc");
    }
}

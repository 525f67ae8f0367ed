//! MISP `ServersController`: the handshake endpoints PyMISP and MISP peers call first
//! (getVersion, postTest), the sync links of this instance (index, view, add, edit, delete,
//! import, createSync, testConnection) and pulls and pushes run on request.
//!
//! Rights are MISP's: site admins manage servers and run syncs; createSync is for sync
//! users (never site admins); getVersion and postTest answer anyone authenticated. A
//! server's key is never shown back in full (first and last four characters).

use super::{Call, describe_endpoint, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use crate::import::creator_org;
use crate::sync::remote::{Remote, RemoteError};
use crate::sync::rules::rules_error;
use crate::sync::{self, PullTechnique, PushTechnique};
use crate::{MISP_COMPAT_VERSION, PYMISP_RECOMMENDED_VERSION, keys};
use axum::http::Method;
use axum::response::Response;
use base64::Engine;
use kizuna_formats::misp::input::{OrgInput, is_uuid, lenient_bool, lenient_i64};
use kizuna_formats::misp::output::render_org_stub;
use kizuna_store::{FeedCacheEntry, Key, NewAuthKey, Server, StoreError};
use serde_json::{Map, Value, json};

/// MISP's default rules of a server added through the API.
const DEFAULT_PUSH_RULES: &str = r#"{"tags":{"OR":[],"NOT":[]},"orgs":{"OR":[],"NOT":[]}}"#;
const DEFAULT_PULL_RULES: &str = r#"{"tags":{"OR":[],"NOT":[]},"orgs":{"OR":[],"NOT":[]},"type_attributes":{"NOT":[]},"type_objects":{"NOT":[]},"url_params":""}"#;

/// The text the connection test sends: non-ASCII letters, escapes, line breaks and
/// spacing that a proxy re-encoding or trimming bodies would change.
const POST_TEST_PAYLOAD: &str = "Kizuna sync test / 絆 — Ünïcödé, \"quotes\", \\backslash\\,\ttab,\r\nCRLF and\n  indented lines\n";

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "getversion" => get_version(call).await,
        "getpymispversion" => Ok(json_response(
            json!({"version": PYMISP_RECOMMENDED_VERSION}),
        )),
        "posttest" => post_test(call),
        "createsync" => create_sync(call).await,
        "index" => {
            require_site_admin(call)?;
            index(call).await
        }
        "view" => {
            require_site_admin(call)?;
            view(call).await
        }
        "add" => {
            require_site_admin(call)?;
            add(call).await
        }
        "edit" => {
            require_site_admin(call)?;
            edit(call).await
        }
        "delete" => {
            require_site_admin(call)?;
            delete(call).await
        }
        "import" => {
            require_site_admin(call)?;
            import(call).await
        }
        "testconnection" => {
            require_site_admin(call)?;
            test_connection(call).await
        }
        "pull" => {
            require_site_admin(call)?;
            pull(call).await
        }
        "push" => {
            require_site_admin(call)?;
            push(call).await
        }
        "cache" => {
            require_site_admin(call)?;
            cache(call).await
        }
        _ => Err(unknown_action(call)),
    }
}

fn require_site_admin(call: &Call) -> ApiResult<()> {
    call.require(call.is_site_admin())
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

/// The echo a peer's connection test checks: the body as parsed and whether the headers
/// that matter arrived.
fn post_test(call: &Call) -> ApiResult<Response> {
    if call.method != Method::POST {
        return Err(ApiError::MethodNotAllowed(
            "Invalid request, expecting a POST request.".into(),
        ));
    }
    let header = |name: &str| {
        call.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map_or(json!(0), |value| json!(value))
    };
    Ok(json_response(json!({
        "body": call.body.clone().unwrap_or_else(|| json!([])),
        "headers": {
            "Content-type": header("content-type"),
            "Accept": header("accept"),
            "Authorization": if call.headers.contains_key("authorization") { json!("OK") } else { json!(0) },
        },
    })))
}

// ---------------------------------------------------------------------------------------
// rendering

fn int(value: i64) -> Value {
    Value::String(value.to_string())
}

fn render_server(server: &Server) -> Value {
    json!({
        "id": int(server.id),
        "name": server.name,
        "url": server.url,
        "authkey": keys::hint(&server.authkey),
        "org_id": int(server.org_id),
        "push": server.push,
        "pull": server.pull,
        "push_sightings": server.push_sightings,
        "push_galaxy_clusters": server.push_galaxy_clusters,
        "pull_galaxy_clusters": server.pull_galaxy_clusters,
        "push_analyst_data": server.push_analyst_data,
        "pull_analyst_data": server.pull_analyst_data,
        "lastpulledid": int(server.lastpulledid),
        "lastpushedid": int(server.lastpushedid),
        "organization": null,
        "remote_org_id": int(server.remote_org_id),
        "publish_without_email": server.publish_without_email,
        "unpublish_event": server.unpublish_event,
        "self_signed": server.self_signed,
        "pull_rules": server.pull_rules,
        "push_rules": server.push_rules,
        "cert_file": certificate_name(server, &server.cert_pem, ""),
        "client_cert_file": certificate_name(server, &server.client_cert_pem, "_client"),
        "internal": server.internal,
        "skip_proxy": server.skip_proxy,
        "remove_missing_tags": server.remove_missing_tags,
        "caching_enabled": server.caching_enabled,
        "priority": int(server.priority),
        "timeout_seconds": int(server.timeout_seconds),
        "federated_search": server.federated_search,
        "federated_orgs": server.federated_orgs().into_iter().map(int).collect::<Vec<_>>(),
        "last_pull_at": int(server.state.last_pull_at),
        "last_pull_ok": server.state.last_pull_ok,
        "last_pull_result": server.state.last_pull_result,
        "last_push_at": int(server.state.last_push_at),
        "last_push_ok": server.state.last_push_ok,
        "last_push_result": server.state.last_push_result,
        "cache_timestamp": match server.state.cache_timestamp {
            0 => json!(false),
            stamp => int(stamp),
        },
    })
}

/// The file name MISP would show for a stored certificate (`<id>.pem`, `<id>_client.pem`);
/// the certificate itself is never shown.
fn certificate_name(server: &Server, pem: &str, suffix: &str) -> Value {
    if pem.is_empty() {
        Value::Null
    } else {
        Value::String(format!("{}{suffix}.pem", server.id))
    }
}

/// `{"Server", "Organisation", "RemoteOrg", "User"}` as MISP's index lists a server.
async fn server_entry(call: &Call, server: &Server) -> ApiResult<Value> {
    let org = |id: i64| async move {
        match call.store().org(&Key::Id(id)).await {
            Ok(org) => Ok(render_org_stub(&org)),
            Err(StoreError::NotFound) => Ok(json!({})),
            Err(other) => Err(ApiError::from(other)),
        }
    };
    Ok(json!({
        "Server": render_server(server),
        "Organisation": org(server.org_id).await?,
        "RemoteOrg": org(server.remote_org_id).await?,
        "User": [],
    }))
}

async fn index(call: &Call) -> ApiResult<Response> {
    let search = call
        .path
        .named("search")
        .map(str::to_string)
        .or_else(|| {
            call.body
                .as_ref()
                .and_then(|body| body.get("search"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .map(|text| text.trim().to_lowercase());
    let mut rows = Vec::new();
    for server in call.store().servers().await? {
        if let Some(needle) = &search
            && !server.name.to_lowercase().contains(needle.as_str())
            && !server.url.to_lowercase().contains(needle.as_str())
        {
            continue;
        }
        let mut entry = server_entry(call, &server).await?;
        // The index never carries the key, not even masked (MISP leaves the column out).
        if let Some(Value::Object(fields)) = entry.get_mut("Server") {
            fields.remove("authkey");
        }
        rows.push(entry);
    }
    Ok(json_response(Value::Array(rows)))
}

async fn server_arg(call: &Call) -> ApiResult<Server> {
    let id = call
        .path
        .arg(0)
        .and_then(|text| text.parse::<i64>().ok())
        .or_else(|| {
            call.body
                .as_ref()
                .and_then(|body| body.get("id"))
                .and_then(lenient_i64)
        })
        .ok_or_else(|| ApiError::NotFound("Invalid server".into()))?;
    match call.store().server(id).await {
        Ok(server) => Ok(server),
        Err(StoreError::NotFound) => Err(ApiError::NotFound("Invalid server".into())),
        Err(other) => Err(other.into()),
    }
}

async fn view(call: &Call) -> ApiResult<Response> {
    let server = server_arg(call).await?;
    Ok(json_response(server_entry(call, &server).await?))
}

// ---------------------------------------------------------------------------------------
// add, edit, delete, import

/// The request's server fields: `{"Server": {...}}` or the bare object.
fn server_fields(call: &Call) -> Map<String, Value> {
    let body = call.body.clone().unwrap_or(Value::Null);
    let inner = match body {
        Value::Object(mut map) if map.get("Server").is_some_and(Value::is_object) => {
            map.remove("Server").unwrap_or(Value::Null)
        }
        other => other,
    };
    match inner {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn text_field(fields: &Map<String, Value>, name: &str) -> Option<String> {
    match fields.get(name)? {
        Value::String(text) => Some(text.trim().to_string()),
        Value::Number(number) => Some(number.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// Writes the fields the request gives onto `server`, collecting what is wrong.
fn apply_fields(server: &mut Server, fields: &Map<String, Value>, errors: &mut Map<String, Value>) {
    if let Some(name) = text_field(fields, "name") {
        server.name = name;
    }
    if let Some(url) = text_field(fields, "url") {
        server.url = url.trim_end_matches('/').to_string();
    }
    if let Some(authkey) = text_field(fields, "authkey")
        && !authkey.is_empty()
    {
        server.authkey = authkey;
    }
    let flags: [(&str, &mut bool); 14] = [
        ("push", &mut server.push),
        ("pull", &mut server.pull),
        ("push_sightings", &mut server.push_sightings),
        ("push_galaxy_clusters", &mut server.push_galaxy_clusters),
        ("pull_galaxy_clusters", &mut server.pull_galaxy_clusters),
        ("push_analyst_data", &mut server.push_analyst_data),
        ("pull_analyst_data", &mut server.pull_analyst_data),
        ("publish_without_email", &mut server.publish_without_email),
        ("unpublish_event", &mut server.unpublish_event),
        ("self_signed", &mut server.self_signed),
        ("internal", &mut server.internal),
        ("skip_proxy", &mut server.skip_proxy),
        ("caching_enabled", &mut server.caching_enabled),
        ("remove_missing_tags", &mut server.remove_missing_tags),
    ];
    for (name, flag) in flags {
        match fields.get(name) {
            None | Some(Value::Null) => {}
            Some(value) => match lenient_bool(value) {
                Some(set) => *flag = set,
                None => {
                    errors.insert(name.into(), json!([format!("{name} must be a boolean.")]));
                }
            },
        }
    }
    for (name, rules) in [
        ("pull_rules", &mut server.pull_rules),
        ("push_rules", &mut server.push_rules),
    ] {
        let text = match fields.get(name) {
            None | Some(Value::Null) => continue,
            Some(Value::String(text)) => text.clone(),
            Some(other @ Value::Object(_)) => other.to_string(),
            Some(_) => {
                errors.insert(
                    name.into(),
                    json!(["The filter rules must be a JSON object."]),
                );
                continue;
            }
        };
        let direction = name.trim_end_matches("_rules");
        match rules_error(direction, &text) {
            Some(problem) => {
                errors.insert(name.into(), json!([problem]));
            }
            None => *rules = text,
        }
    }
    for (name, number, least) in [
        ("priority", &mut server.priority, 0),
        ("timeout_seconds", &mut server.timeout_seconds, 1),
    ] {
        match fields.get(name) {
            None | Some(Value::Null) => {}
            Some(value) => match lenient_i64(value) {
                Some(set) if set >= least => *number = set,
                _ => {
                    errors.insert(
                        name.into(),
                        json!([format!(
                            "{name} must be a whole number of at least {least}."
                        )]),
                    );
                }
            },
        }
    }
    let flags: [(&str, &mut bool); 1] = [("federated_search", &mut server.federated_search)];
    for (name, flag) in flags {
        match fields.get(name) {
            None | Some(Value::Null) => {}
            Some(value) => match lenient_bool(value) {
                Some(set) => *flag = set,
                None => {
                    errors.insert(name.into(), json!([format!("{name} must be a boolean.")]));
                }
            },
        }
    }
    apply_certificates(server, fields, errors);
}

/// Whether PEM text is usable, or why not.
type PemCheck = fn(&str) -> Result<(), String>;

/// MISP's certificate fields: `submitted_cert` (the remote's CA, PEM or base64 of PEM) and
/// `submitted_client_cert` (our certificate and private key), removed with `delete_cert` /
/// `delete_client_cert`. Each is checked by building a client with it.
fn apply_certificates(
    server: &mut Server,
    fields: &Map<String, Value>,
    errors: &mut Map<String, Value>,
) {
    let kinds: [(&str, &str, &mut String, PemCheck); 2] = [
        (
            "submitted_cert",
            "delete_cert",
            &mut server.cert_pem,
            crate::http::check_ca_pem,
        ),
        (
            "submitted_client_cert",
            "delete_client_cert",
            &mut server.client_cert_pem,
            crate::http::check_client_pem,
        ),
    ];
    for (field, delete_field, pem, check) in kinds {
        if fields.get(delete_field).and_then(lenient_bool) == Some(true) {
            pem.clear();
            continue;
        }
        let submitted = match fields.get(field) {
            None | Some(Value::Null) => continue,
            Some(Value::String(text)) if text.trim().is_empty() => continue,
            Some(Value::String(text)) => text.trim(),
            Some(_) => {
                errors.insert(
                    field.into(),
                    json!(["Expected the PEM text or its base64."]),
                );
                continue;
            }
        };
        let Some(text) = pem_text(submitted) else {
            errors.insert(
                field.into(),
                json!(["Expected a PEM certificate, as text or base64."]),
            );
            continue;
        };
        match check(&text) {
            Ok(()) => *pem = text,
            Err(problem) => {
                errors.insert(
                    field.into(),
                    json!([format!("Invalid certificate: {problem}.")]),
                );
            }
        }
    }
}

/// PEM text as given, or decoded from base64 (what MISP's API takes).
fn pem_text(submitted: &str) -> Option<String> {
    if submitted.contains("-----BEGIN ") {
        return Some(format!("{}\n", submitted.trim_end()));
    }
    let compact: String = submitted.split_whitespace().collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.contains("-----BEGIN ")
        .then(|| format!("{}\n", text.trim_end()))
}

/// `federated_orgs`: local organisations (ids or uuids) whose users may ask this server in a
/// federated search; an empty list opens it to every user.
async fn apply_federated_orgs(
    call: &Call,
    server: &mut Server,
    fields: &Map<String, Value>,
    errors: &mut Map<String, Value>,
) -> ApiResult<()> {
    let given = match fields.get("federated_orgs") {
        None => return Ok(()),
        Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(single @ (Value::String(_) | Value::Number(_))) => vec![single.clone()],
        Some(_) => {
            errors.insert(
                "federated_orgs".into(),
                json!(["Expected a list of organisation ids or uuids."]),
            );
            return Ok(());
        }
    };
    let mut ids = Vec::new();
    for item in given {
        let text = match &item {
            Value::String(text) => text.trim().to_string(),
            Value::Number(number) => number.to_string(),
            _ => String::new(),
        };
        let key = if is_uuid(&text) {
            Some(Key::Uuid(text.to_ascii_lowercase()))
        } else {
            text.parse::<i64>().ok().map(Key::Id)
        };
        let found = match key {
            Some(key) => match call.store().org(&key).await {
                Ok(org) => Some(org.id),
                Err(StoreError::NotFound) => None,
                Err(other) => return Err(other.into()),
            },
            None => None,
        };
        match found {
            Some(id) => ids.push(id),
            None => {
                errors.insert(
                    "federated_orgs".into(),
                    json!([format!("There is no organisation {item}.")]),
                );
                return Ok(());
            }
        }
    }
    server.set_federated_orgs(&ids);
    Ok(())
}

fn check_required(server: &Server, errors: &mut Map<String, Value>) {
    let url = server.url.to_ascii_lowercase();
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
        errors.insert(
            "url".into(),
            json!(["Please provide a valid http(s) base URL for the remote instance."]),
        );
    }
    if server.authkey.trim().is_empty() {
        errors.insert(
            "authkey".into(),
            json!(["Please provide the API key of a sync user on the remote instance."]),
        );
    }
    if server.name.trim().is_empty() {
        errors.insert(
            "name".into(),
            json!(["Please provide a name for the server."]),
        );
    }
}

fn save_failed(action: &str, errors: Map<String, Value>) -> ApiError {
    let summary: Vec<String> = errors
        .iter()
        .map(|(field, problems)| {
            let first = problems.get(0).and_then(Value::as_str).unwrap_or("invalid");
            format!("{field}: {first}")
        })
        .collect();
    ApiError::SaveFailed {
        name: format!("Could not {action} Server"),
        message: format!("Could not {action} Server: {}", summary.join("; ")),
        errors: Value::Object(errors),
    }
}

/// The remote organisation the request names: `remote_org_id` (local id or uuid) or an
/// `Organisation`/`RemoteOrg` object captured by uuid, then name.
async fn remote_org(
    call: &Call,
    fields: &Map<String, Value>,
    errors: &mut Map<String, Value>,
) -> ApiResult<Option<i64>> {
    if let Some(given) = text_field(fields, "remote_org_id").filter(|text| !text.is_empty()) {
        let key = if is_uuid(&given) {
            Key::Uuid(given.to_ascii_lowercase())
        } else {
            match given.parse::<i64>() {
                Ok(id) => Key::Id(id),
                Err(_) => {
                    errors.insert("Organisation".into(), json!("Invalid Remote Organisation"));
                    return Ok(None);
                }
            }
        };
        return match call.store().org(&key).await {
            Ok(org) => Ok(Some(org.id)),
            Err(StoreError::NotFound) => {
                errors.insert("Organisation".into(), json!("Invalid Remote Organisation"));
                Ok(None)
            }
            Err(other) => Err(other.into()),
        };
    }
    let described = fields
        .get("RemoteOrg")
        .or_else(|| fields.get("Organisation"))
        .filter(|value| value.is_object());
    if let Some(org) = described {
        let text = |name: &str| org.get(name).and_then(Value::as_str).map(str::to_string);
        let input = OrgInput {
            id: None,
            uuid: text("uuid"),
            name: text("name"),
        };
        return Ok(
            creator_org(call.store(), Some(&input), call.principal.user.id, call.now).await?,
        );
    }
    Ok(None)
}

async fn add(call: &Call) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Servers add",
            &["url", "name", "authkey", "remote_org_id"],
            &[
                "push",
                "pull",
                "push_sightings",
                "push_galaxy_clusters",
                "pull_galaxy_clusters",
                "push_analyst_data",
                "pull_analyst_data",
                "caching_enabled",
                "unpublish_event",
                "publish_without_email",
                "self_signed",
                "internal",
                "skip_proxy",
                "remove_missing_tags",
                "push_rules",
                "pull_rules",
                "priority",
                "timeout_seconds",
                "submitted_cert",
                "submitted_client_cert",
                "federated_search",
                "federated_orgs",
            ],
        ));
    }
    let fields = server_fields(call);
    let mut errors = Map::new();
    let Some(remote_org_id) = remote_org(call, &fields, &mut errors).await? else {
        if errors.is_empty() {
            return Err(ApiError::MethodNotAllowed(
                "No remote org ID set. Please pass it as remote_org_id".into(),
            ));
        }
        return Err(save_failed("add", errors));
    };
    let mut server = Server::new("", "", "", call.principal.user.org_id);
    server.push_rules = DEFAULT_PUSH_RULES.into();
    server.pull_rules = DEFAULT_PULL_RULES.into();
    apply_fields(&mut server, &fields, &mut errors);
    apply_federated_orgs(call, &mut server, &fields, &mut errors).await?;
    if server.name.is_empty() {
        server.name = server.url.clone();
    }
    server.remote_org_id = remote_org_id;
    if server.internal && !internal_allowed(call, remote_org_id).await? {
        server.internal = false;
    }
    check_required(&server, &mut errors);
    if !errors.is_empty() {
        return Err(save_failed("add", errors));
    }
    let stored = call.store().create_server(&server).await?;
    Ok(json_response(json!({"Server": render_server(&stored)})))
}

/// MISP keeps `internal` only for links to the instance's own (host) organisation.
async fn internal_allowed(call: &Call, remote_org_id: i64) -> ApiResult<bool> {
    Ok(sync::host_org_id(call.store()).await? == Some(remote_org_id))
}

async fn edit(call: &Call) -> ApiResult<Response> {
    let mut server = server_arg(call).await?;
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Servers edit",
            &[],
            &[
                "url",
                "name",
                "authkey",
                "remote_org_id",
                "push",
                "pull",
                "push_sightings",
                "push_rules",
                "pull_rules",
                "internal",
                "priority",
                "timeout_seconds",
                "self_signed",
                "skip_proxy",
                "submitted_cert",
                "submitted_client_cert",
                "delete_cert",
                "delete_client_cert",
                "federated_search",
                "federated_orgs",
            ],
        ));
    }
    let fields = server_fields(call);
    let mut errors = Map::new();
    let named_org = fields.contains_key("remote_org_id")
        || fields.contains_key("RemoteOrg")
        || fields.contains_key("Organisation");
    if named_org && let Some(remote) = remote_org(call, &fields, &mut errors).await? {
        server.remote_org_id = remote;
    }
    apply_fields(&mut server, &fields, &mut errors);
    apply_federated_orgs(call, &mut server, &fields, &mut errors).await?;
    if server.internal && !internal_allowed(call, server.remote_org_id).await? {
        server.internal = false;
    }
    check_required(&server, &mut errors);
    if !errors.is_empty() {
        return Err(save_failed("edit", errors));
    }
    let stored = call.store().update_server(&server).await?;
    Ok(json_response(json!({"Server": render_server(&stored)})))
}

async fn delete(call: &Call) -> ApiResult<Response> {
    if !matches!(call.method, Method::POST | Method::DELETE) {
        return Err(ApiError::MethodNotAllowed(
            "This endpoint expects POST requests.".into(),
        ));
    }
    let server = server_arg(call).await?;
    call.store().delete_server(server.id).await?;
    Ok(call.success("Server deleted", Some(server.id)))
}

/// `POST /servers/import`: a link from the configuration a remote's createSync gave.
async fn import(call: &Call) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Servers import",
            &["url", "authkey", "Organisation"],
            &["name", "uuid"],
        ));
    }
    let mut fields = server_fields(call);
    if let Some(Value::String(text)) = fields.get("json") {
        let parsed: Value = serde_json::from_str(text).map_err(|error| {
            ApiError::BadRequest(format!("json: the configuration is not JSON: {error}"))
        })?;
        fields = match parsed.get("Server").unwrap_or(&parsed) {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
    }
    let mut errors = Map::new();
    let remote_org_id = remote_org(call, &fields, &mut errors).await?;
    let mut server = Server::new("", "", "", call.principal.user.org_id);
    apply_fields(&mut server, &fields, &mut errors);
    // A configuration starts with sync off: the administrator enables it knowingly.
    server.push = false;
    server.pull = false;
    server.internal = false;
    if server.name.is_empty() {
        server.name = server.url.clone();
    }
    match remote_org_id {
        Some(id) => server.remote_org_id = id,
        None if errors.is_empty() => {
            errors.insert(
                "Organisation".into(),
                json!("The configuration names no remote organisation (Organisation.uuid/name)."),
            );
        }
        None => {}
    }
    check_required(&server, &mut errors);
    if !errors.is_empty() {
        return Err(save_failed("addFromJson", errors));
    }
    let stored = call.store().create_server(&server).await?;
    Ok(json_response(json!({"Server": render_server(&stored)})))
}

/// `GET /servers/createSync`: what a peer's administrator imports to reach this instance
/// as the calling sync user, with a fresh key of that user.
async fn create_sync(call: &Call) -> ApiResult<Response> {
    if call.is_site_admin() {
        return Err(ApiError::MethodNotAllowed(
            "Site admin accounts cannot be used to create server sync configurations.".into(),
        ));
    }
    call.require(call.principal.role.permissions.perm_sync)?;
    let host = sync::host_org_id(call.store()).await?.ok_or_else(|| {
        ApiError::MethodNotAllowed(
            "Cannot create sync config - no host org ID configured for the instance.".into(),
        )
    })?;
    let host_org = match call.store().org(&Key::Id(host)).await {
        Ok(org) => org,
        Err(StoreError::NotFound) => {
            return Err(ApiError::MethodNotAllowed(
                "Configured host org not found. Please make sure that the setting is current on the instance.".into(),
            ));
        }
        Err(other) => return Err(other.into()),
    };
    let key = keys::generate_api_key();
    let moment = time::OffsetDateTime::from_unix_timestamp(call.now)
        .map(|at| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                at.year(),
                at.month() as u8,
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            )
        })
        .unwrap_or_default();
    call.store()
        .create_auth_key(
            call.principal.user.id,
            &NewAuthKey {
                comment: format!("Sync key created by createSync - {moment}"),
                ..keys::stored_form(&key)
            },
            call.now,
        )
        .await?;
    Ok(json_response(json!({
        "Server": {
            "url": call.state.settings.base_url,
            "uuid": call.store().instance_uuid().await?,
            "authkey": key,
            "Organisation": {"name": host_org.name, "uuid": host_org.uuid},
        }
    })))
}

// ---------------------------------------------------------------------------------------
// testConnection

/// `/servers/testConnection/<id>`: MISP's statuses — 1 ok, 2 unreachable, 3 unexpected
/// answer, 4 key refused, 7 no sync or sighting permission, 8 sighting permission only.
async fn test_connection(call: &Call) -> ApiResult<Response> {
    let server = server_arg(call).await?;
    let remote = match Remote::new(&server) {
        Ok(remote) => remote,
        Err(error) => return Ok(connection_failure(2, &error.to_string())),
    };
    let version = match remote.version().await {
        Ok(version) => version,
        Err(RemoteError::Refused { .. }) => {
            return Ok(connection_failure(4, "the remote refused the key"));
        }
        Err(error @ RemoteError::Unreachable { .. }) => {
            return Ok(connection_failure(2, &error.to_string()));
        }
        Err(error) => return Ok(connection_failure(3, &error.to_string())),
    };
    let Some((major, minor, hotfix)) = version.parts() else {
        return Ok(connection_failure(
            3,
            &format!("the remote reports the version {:?}", version.version),
        ));
    };
    if !version.perm_sync {
        let status = if version.perm_sighting { 8 } else { 7 };
        return Ok(json_response(json!({
            "status": status,
            "info": {"version": version.version, "perm_sync": false, "perm_sighting": version.perm_sighting},
            "client_certificate": null,
        })));
    }
    let local = parse_version(MISP_COMPAT_VERSION);
    let remote_parts = [major, minor, hotfix];
    let mut mismatch = json!(false);
    let mut newer = json!(false);
    for (index, part) in ["major", "minor", "hotfix"].iter().enumerate() {
        if remote_parts[index] != local[index] {
            mismatch = json!(part);
            newer = json!(if remote_parts[index] > local[index] {
                "remote"
            } else {
                "local"
            });
            break;
        }
    }
    let (post, response_encoding) = match remote.post_test(POST_TEST_PAYLOAD).await {
        Ok((answer, encoding)) => (post_test_status(&answer), encoding),
        Err(_) => (8, None),
    };
    Ok(json_response(json!({
        "status": 1,
        "local_version": MISP_COMPAT_VERSION,
        "version": version.version,
        "mismatch": mismatch,
        "newer": newer,
        "post": post,
        "response_encoding": response_encoding,
        "request_encoding": version.request_encoding,
        "client_certificate": null,
        "uuid": version.uuid,
    })))
}

fn connection_failure(status: u8, reason: &str) -> Response {
    json_response(json!({"status": status, "message": reason, "client_certificate": null}))
}

fn parse_version(text: &str) -> [u64; 3] {
    let mut parts = text.split('.').map(|part| part.parse().unwrap_or(0));
    [
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    ]
}

/// 1 when the echo is exact, 9 when the body was changed on the way, 10 when a header was.
fn post_test_status(answer: &Value) -> u8 {
    if answer
        .get("body")
        .and_then(|body| body.get("testString"))
        .and_then(Value::as_str)
        != Some(POST_TEST_PAYLOAD)
    {
        return 9;
    }
    let headers = answer.get("headers");
    for name in ["Accept", "Content-type"] {
        if headers
            .and_then(|headers| headers.get(name))
            .and_then(Value::as_str)
            != Some("application/json")
        {
            return 10;
        }
    }
    1
}

// ---------------------------------------------------------------------------------------
// pull, push

/// `/servers/pull/<id>[/<full|incremental|update|event id or uuid>]`, run while the
/// request waits.
async fn pull(call: &Call) -> ApiResult<Response> {
    let server = server_arg(call).await?;
    let given = call.path.arg(1).unwrap_or("full");
    let technique = PullTechnique::parse(given).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "technique: {given:?} is not full, incremental, update or an event id or uuid"
        ))
    })?;
    if !server.pull && matches!(technique, PullTechnique::Full | PullTechnique::Incremental) {
        return Err(ApiError::save_refused(
            "Could not pull Server",
            "Pull setting not enabled for this server.",
        ));
    }
    match sync::run_pull(call.store(), server.id, &technique, call.principal.user.id).await {
        Ok(report) => {
            sync::pass_along_pulled(
                call.store().clone(),
                server.id,
                &report,
                call.state.settings.base_url.clone(),
            );
            let message = format!(
                "Pull completed. {} events pulled, {} events could not be pulled, 0 proposals pulled, {} sightings pulled, 0 clusters pulled, 0 analyst data pulled.",
                report.added.len() + report.updated.len(),
                report.failed.len(),
                report.sightings_added
            );
            Ok(sync_success(
                call,
                &message,
                server.id,
                sync::pull::report_json(&report),
            ))
        }
        Err(error) => Err(ApiError::save_refused(
            "Could not pull Server",
            error.to_string(),
        )),
    }
}

/// `/servers/push/<id>[/<full|incremental|event id or uuid>]` (or `technique` in the
/// body), run while the request waits.
async fn push(call: &Call) -> ApiResult<Response> {
    let server = server_arg(call).await?;
    let given = call
        .body
        .as_ref()
        .and_then(|body| body.get("technique"))
        .and_then(|value| match value {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        })
        .or_else(|| call.path.arg(1).map(str::to_string))
        .unwrap_or_else(|| "full".into());
    let technique = PushTechnique::parse(&given).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "technique: {given:?} is not full, incremental or an event id or uuid"
        ))
    })?;
    let base_url = call.state.settings.base_url.clone();
    match sync::run_push(call.store(), server.id, &technique, &base_url).await {
        Ok(report) => {
            let message = format!(
                "Push complete. {} events pushed, {} events could not be pushed.",
                report.pushed.len(),
                report.failed.len()
            );
            Ok(sync_success(
                call,
                &message,
                server.id,
                sync::push::report_json(&report),
            ))
        }
        Err(error) => Err(ApiError::save_refused(
            "Could not push Server",
            error.to_string(),
        )),
    }
}

/// MISP's success answer with its message; Kizuna adds what the run did under `report`.
fn sync_success(call: &Call, message: &str, id: i64, report: Value) -> Response {
    json_response(json!({
        "saved": true,
        "success": true,
        "name": message,
        "message": message,
        "url": call.url,
        "id": id.to_string(),
        "report": report,
    }))
}

// ---------------------------------------------------------------------------------------
// cache

/// Values asked of a remote per cache page (MISP's chunk size).
const CACHE_PAGE: u64 = 50_000;
/// Pages read from one remote at most: 50 million values.
const MAX_CACHE_PAGES: u64 = 1_000;

/// `/servers/cache/<id|all>`: rebuilds the value cache of the servers with caching enabled
/// (all of them, or the one named) from their restSearch `cache` format, as MISP does. A
/// server that fails keeps its previous cache and is named in the answer.
async fn cache(call: &Call) -> ApiResult<Response> {
    let scope = call.path.arg(0).unwrap_or("all").to_ascii_lowercase();
    let servers = call.store().servers().await?;
    let chosen: Vec<Server> = if scope == "all" {
        servers
    } else {
        let id = scope
            .parse::<i64>()
            .map_err(|_| ApiError::NotFound("Invalid server".into()))?;
        let server = servers
            .into_iter()
            .find(|server| server.id == id)
            .ok_or_else(|| ApiError::NotFound("Invalid server".into()))?;
        vec![server]
    };
    let mut failures = Vec::new();
    for server in chosen.iter().filter(|server| server.caching_enabled) {
        if let Err(problem) = cache_server(call, server).await? {
            failures.push(format!("server {} ({}): {problem}", server.id, server.name));
        }
    }
    if failures.is_empty() {
        return Ok(call.success("Caching the servers has successfully completed.", None));
    }
    Ok(super::feeds::feed_failed(
        call,
        format!("Caching the servers has failed: {}", failures.join("; ")),
    ))
}

/// Reads every page of one server's cache and replaces ours; the remote's failure is the
/// inner error, ours the outer.
async fn cache_server(call: &Call, server: &Server) -> ApiResult<Result<u64, String>> {
    let remote = match Remote::new(server) {
        Ok(remote) => remote,
        Err(error) => return Ok(Err(error.to_string())),
    };
    let mut entries = Vec::new();
    let mut previous_page: Option<Vec<(String, String)>> = None;
    for page in 1..=MAX_CACHE_PAGES {
        let rows = match remote.attribute_cache_page(page, CACHE_PAGE).await {
            Ok(rows) => rows,
            Err(error) => return Ok(Err(error.to_string())),
        };
        // A remote that ignores paging answers the same rows again (or everything at
        // once); either way nothing more will come.
        if rows.is_empty() || previous_page.as_ref() == Some(&rows) {
            break;
        }
        let last = (rows.len() as u64) < CACHE_PAGE || rows.len() as u64 > CACHE_PAGE;
        entries.extend(rows.iter().map(|(value_md5, event_uuid)| FeedCacheEntry {
            value_md5: value_md5.clone(),
            event_uuid: event_uuid.clone(),
        }));
        if last {
            break;
        }
        previous_page = Some(rows);
    }
    entries
        .sort_unstable_by(|a, b| (&a.value_md5, &a.event_uuid).cmp(&(&b.value_md5, &b.event_uuid)));
    entries.dedup();
    call.store()
        .replace_server_cache(server.id, &entries, call.now)
        .await?;
    Ok(Ok(entries.len() as u64))
}

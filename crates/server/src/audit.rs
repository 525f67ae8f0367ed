//! What the audit log records: failed authentications, logins, and every successful write
//! request, each as one entry in MISP's AuditLog terms (action, model, model id, title and a
//! summary of the request with its secrets removed). Recording never fails a request: the
//! answer is already decided when the entry is written, so a store error is only logged.

use crate::AppState;
use crate::auth::is_read_request;
use crate::client::ClientAddress;
use crate::keys;
use crate::misp::Call;
use axum::body::Body;
use axum::body::HttpBody;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use http_body_util::BodyExt;
use kizuna_store::{AuditEntry, Principal, REQUEST_TYPE_API};
use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value, json};
use std::fmt;

/// API keys have no sessions. The nearest thing to a login is a key coming back after a
/// quiet hour: that is logged as `login`, which also keeps busy keys from writing an entry
/// per request.
const SESSION_GAP_SECONDS: i64 = 3600;

/// MISP keeps at most 64 KiB of `change`; a larger request is summarised.
const CHANGE_MAX_BYTES: usize = 64 * 1024;
const SUMMARY_TEXT_MAX_CHARS: usize = 256;
const SUMMARY_DEPTH: usize = 3;

/// The longest `X-Request-Id` kept.
const REQUEST_ID_MAX_CHARS: usize = 255;

/// Writes `entry`, logging (not returning) a failure.
async fn insert(state: &AppState, entry: AuditEntry) {
    if let Err(error) = state.store.insert_audit_entry(&entry).await {
        tracing::error!(
            action = entry.action,
            model = entry.model,
            "cannot write the audit log: {error}"
        );
    }
}

fn entry_of(principal: &Principal, client: ClientAddress, now: i64) -> AuditEntry {
    AuditEntry {
        created: now,
        user_id: principal.user.id,
        org_id: principal.user.org_id,
        authkey_id: principal.auth_key.id,
        ip: client.text(),
        request_type: REQUEST_TYPE_API,
        ..AuditEntry::default()
    }
}

/// A `login` entry when the key was last used over an hour ago (or never).
pub(crate) async fn record_login_if_new_session(
    state: &AppState,
    principal: &Principal,
    client: ClientAddress,
    previous_use: i64,
    now: i64,
) {
    if now - previous_use <= SESSION_GAP_SECONDS {
        return;
    }
    let entry = AuditEntry {
        action: "login".into(),
        model: "User".into(),
        model_id: principal.user.id,
        model_title: format!(
            "API key {}… of {} in use",
            principal.auth_key.authkey_start, principal.user.email
        ),
        ..entry_of(principal, client, now)
    };
    insert(state, entry).await;
}

/// A `login_fail` entry. Of the offered keys only the first four characters of the first
/// well-formed one are kept (what MISP shows of a stored key anyway); text of another shape
/// might be a password typed into the wrong field and is not kept at all.
pub(crate) async fn record_failed_login(
    state: &AppState,
    offered: &[String],
    client: ClientAddress,
    principal: Option<&Principal>,
    now: i64,
) {
    let entry = match principal {
        Some(principal) => AuditEntry {
            action: "login_fail".into(),
            model: "User".into(),
            model_id: principal.user.id,
            model_title: format!(
                "API key {}… used from an address it is not allowed from",
                principal.auth_key.authkey_start
            ),
            ..entry_of(principal, client, now)
        },
        None => {
            let start = offered
                .iter()
                .find(|key| keys::is_well_formed(key))
                .and_then(|key| key.get(..4));
            AuditEntry {
                created: now,
                ip: client.text(),
                request_type: REQUEST_TYPE_API,
                action: "login_fail".into(),
                model: "User".into(),
                model_title: match start {
                    Some(start) => format!("Failed authentication with API key {start}…"),
                    None => "Failed authentication with a malformed API key".into(),
                },
                ..AuditEntry::default()
            }
        }
    };
    insert(state, entry).await;
}

/// Records `response` to `call` when it is a successful write, and hands it back.
pub(crate) async fn record_write(
    call: &Call,
    headers: &HeaderMap,
    client: ClientAddress,
    response: Response,
) -> Response {
    if is_read_request(&call.method, &call.path) || !response.status().is_success() {
        return response;
    }
    let model = model_name(&call.path.controller);
    let action = audit_action(call, &model);
    // An add names its parent in the path (`attributes/add/<event id>`); its own id is in
    // the answer. Other writes name their record first.
    let path_id = call.path.arg(0).and_then(|arg| arg.parse::<i64>().ok());
    let (response, answer) = read_answer(response, &model).await;
    let creates = action == "add";
    let model_id = if creates {
        answer.id
    } else {
        path_id.or(answer.id)
    }
    .unwrap_or(0);
    let event_id = match model.as_str() {
        "Event" => model_id,
        "Attribute" | "Object" if creates => answer.event_id.or(path_id).unwrap_or(0),
        _ => answer.event_id.unwrap_or(0),
    };
    let model_title = if is_tag_action(&call.path.action) {
        tag_named(call)
    } else {
        answer.title.unwrap_or_default()
    };
    let entry = AuditEntry {
        request_id: request_id(headers),
        action,
        model,
        model_id,
        model_title,
        event_id,
        change: change_summary(call.body.as_ref()),
        ..entry_of(&call.principal, client, call.now)
    };
    insert(&call.state, entry).await;
    response
}

/// A write made outside the MISP API (TAXII), described by its handler: the MISP API's
/// writes are described from their path and answer instead ([`record_write`]).
pub(crate) struct DescribedWrite {
    pub action: &'static str,
    pub model: &'static str,
    pub model_id: i64,
    pub model_title: String,
    pub event_id: i64,
    /// A JSON text of what was done; no secrets.
    pub change: String,
}

/// Records a successful write of another API than MISP's.
pub(crate) async fn record_described_write(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    client: ClientAddress,
    now: i64,
    write: DescribedWrite,
) {
    let entry = AuditEntry {
        request_id: request_id(headers),
        action: write.action.to_string(),
        model: write.model.to_string(),
        model_id: write.model_id,
        model_title: write.model_title,
        event_id: write.event_id,
        change: write.change,
        ..entry_of(principal, client, now)
    };
    insert(state, entry).await;
}

/// MISP's model name for a controller.
fn model_name(controller: &str) -> String {
    let known = match controller {
        "events" => "Event",
        "attributes" => "Attribute",
        "objects" => "Object",
        "objectreferences" => "ObjectReference",
        "tags" => "Tag",
        "sightings" => "Sighting",
        "organisations" => "Organisation",
        "users" => "User",
        "roles" => "Role",
        "sharinggroups" => "SharingGroup",
        "authkeys" => "AuthKey",
        "warninglists" => "Warninglist",
        "servers" => "Server",
        "feeds" => "Feed",
        "galaxies" => "Galaxy",
        "galaxyclusters" => "GalaxyCluster",
        "taxonomies" => "Taxonomy",
        "eventreports" => "EventReport",
        "shadowattributes" => "ShadowAttribute",
        "tagcollections" => "TagCollection",
        "noticelists" => "Noticelist",
        "objecttemplates" => "ObjectTemplate",
        "usersettings" => "UserSetting",
        "eventblocklists" => "EventBlocklist",
        "orgblocklists" => "OrgBlocklist",
        "correlationexclusions" => "CorrelationExclusion",
        "decayingmodel" => "DecayingModel",
        other => {
            let singular = other.strip_suffix('s').unwrap_or(other);
            let mut letters = singular.chars();
            return letters
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + letters.as_str())
                .unwrap_or_default();
        }
    };
    known.to_string()
}

fn is_tag_action(action: &str) -> bool {
    matches!(
        action,
        "addtag" | "removetag" | "attachtagtoobject" | "removetagfromobject"
    )
}

/// MISP's AuditLog action for a write: add, edit, delete, soft_delete, undelete, publish,
/// tag, remove_tag and their local forms.
fn audit_action(call: &Call, model: &str) -> String {
    let action = call.path.action.as_str();
    let local = call.flag("local");
    let named = match action {
        "addtag" | "attachtagtoobject" if local => "tag_local",
        "addtag" | "attachtagtoobject" => "tag",
        "removetag" | "removetagfromobject" if local => "remove_local_tag",
        "removetag" | "removetagfromobject" => "remove_tag",
        "publish" | "alert" => "publish",
        "publishsightings" => "publish_sightings",
        "restore" | "undelete" => "undelete",
        // MISP logs an upload as the events it adds; the path's argument is the STIX version.
        "uploadstix" => "add",
        // Attributes and objects are only flagged deleted unless asked otherwise.
        "delete" if matches!(model, "Attribute" | "Object") && !call.flag("hard") => "soft_delete",
        action if action.starts_with("add") || action == "import" => "add",
        action if action.starts_with("delete") || action.starts_with("remove") => "delete",
        _ => "edit",
    };
    named.to_string()
}

/// The tag a tag action names: second path argument or the body's `tag`.
fn tag_named(call: &Call) -> String {
    if let Some(tag) = call.path.arg(1) {
        return tag.to_string();
    }
    match call.body.as_ref().and_then(|body| body.get("tag")) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => String::new(),
    }
}

/// The client's `X-Request-Id`, when it is short printable text.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|id| id.len() <= REQUEST_ID_MAX_CHARS && id.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or_default()
        .to_string()
}

/// Whether a field holds a secret that must never reach the log.
fn is_secret(field: &str) -> bool {
    let name: String = field
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    [
        "password",
        "passphrase",
        "authkey",
        "apikey",
        "secret",
        "token",
    ]
    .iter()
    .any(|secret| name.contains(secret))
        || matches!(name.as_str(), "key" | "otp" | "totp" | "hotp")
}

fn holds_records(value: &Value) -> bool {
    match value {
        Value::Object(_) => true,
        Value::Array(items) => items.iter().any(Value::is_object),
        _ => false,
    }
}

/// Removes every secret field. An object under a secret-sounding name (MISP's `AuthKey`
/// envelope) is searched rather than dropped: only values can be secrets.
fn without_secrets(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(name, inner)| holds_records(inner) || !is_secret(name))
                .map(|(name, inner)| (name.clone(), without_secrets(inner)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_secrets).collect()),
        other => other.clone(),
    }
}

/// A cut-down copy for bodies too large to keep: long texts shortened, lists replaced by
/// their length, deep objects by their field count.
fn shrink(value: &Value, depth: usize) -> Value {
    match value {
        Value::String(text) if text.chars().count() > SUMMARY_TEXT_MAX_CHARS => Value::String(
            text.chars()
                .take(SUMMARY_TEXT_MAX_CHARS)
                .collect::<String>()
                + "…",
        ),
        Value::Array(items) => json!(format!("[{} items]", items.len())),
        Value::Object(fields) if depth >= SUMMARY_DEPTH => {
            json!(format!("{{{} fields}}", fields.len()))
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, inner)| (name.clone(), shrink(inner, depth + 1)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// The request body as JSON text, secrets removed, summarised when over MISP's limit.
fn change_summary(body: Option<&Value>) -> String {
    let Some(body) = body else {
        return String::new();
    };
    let clean = without_secrets(body);
    let full = clean.to_string();
    if full.len() <= CHANGE_MAX_BYTES {
        return full;
    }
    let summary = shrink(&clean, 0).to_string();
    if summary.len() <= CHANGE_MAX_BYTES {
        return summary;
    }
    json!({"summary": format!("a request body of {} bytes", full.len())}).to_string()
}

/// What the answer to a write says about the record it wrote.
#[derive(Debug, Default, PartialEq, Eq)]
struct Answer {
    id: Option<i64>,
    event_id: Option<i64>,
    title: Option<String>,
}

/// Reads the JSON answer (kept whole for the client) for the record's id, event and title.
/// Answers that are not JSON of a known size are left alone.
async fn read_answer(response: Response, model: &str) -> (Response, Answer) {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json"));
    let sized = response.body().size_hint().exact().is_some();
    if !is_json || !sized {
        return (response, Answer::default());
    }
    let (parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            tracing::error!("cannot read an answer for the audit log: {error}");
            return (
                Response::from_parts(parts, Body::empty()),
                Answer::default(),
            );
        }
    };
    let answer = answer_of(&bytes, model);
    (Response::from_parts(parts, Body::from(bytes)), answer)
}

/// Parses only what [`Answer`] needs, skipping everything else (an event's attributes)
/// without building it.
fn answer_of(bytes: &[u8], model: &str) -> Answer {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    AnswerSeed { model }
        .deserialize(&mut deserializer)
        .unwrap_or_default()
}

struct AnswerSeed<'a> {
    model: &'a str,
}

impl<'de> DeserializeSeed<'de> for AnswerSeed<'_> {
    type Value = Answer;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Answer, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnswerSeed<'_> {
    type Value = Answer;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON answer")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Answer, A::Error> {
        let mut answer = Answer::default();
        let mut top_id = None;
        while let Some(field) = map.next_key::<String>()? {
            if field == self.model {
                let record: Record = map.next_value()?;
                answer = Answer {
                    id: record.id.and_then(Scalar::into_id),
                    event_id: record.event_id.and_then(Scalar::into_id),
                    title: [
                        record.info,
                        record.name,
                        record.email,
                        record.value,
                        record.title,
                    ]
                    .into_iter()
                    .flatten()
                    .find(|title| !title.is_empty()),
                };
            } else if field == "id" {
                top_id = map.next_value::<Scalar>()?.into_id();
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        answer.id = answer.id.or(top_id);
        Ok(answer)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Answer, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Answer::default())
    }
}

/// The fields of an answer's record that name it; all others are skipped unread.
#[derive(Deserialize)]
struct Record {
    id: Option<Scalar>,
    event_id: Option<Scalar>,
    info: Option<String>,
    name: Option<String>,
    email: Option<String>,
    value: Option<String>,
    title: Option<String>,
}

/// MISP writes ids as strings, sometimes as numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Number(i64),
    Other(IgnoredAny),
}

impl Scalar {
    fn into_id(self) -> Option<i64> {
        match self {
            Scalar::Text(text) => text.parse().ok(),
            Scalar::Number(number) => Some(number),
            Scalar::Other(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_removed_at_every_depth() {
        let body = json!({
            "User": {"email": "a@b.test", "password": "hunter2hunter2", "confirm_password": "x"},
            "AuthKey": [{"authkey": "k", "comment": "kept", "authkey_raw": "r"}],
            "api_key": "k", "X-MISP-Auth": "k", "key": "k", "totp": "1", "gpg_passphrase": "p",
            "Event": {"info": "kept"},
        });
        let clean = without_secrets(&body);
        assert_eq!(
            clean,
            json!({
                "User": {"email": "a@b.test"},
                "AuthKey": [{"comment": "kept"}],
                "X-MISP-Auth": "k",
                "Event": {"info": "kept"},
            })
        );
        assert!(is_secret("X_MISP_AUTHKEY") && is_secret("new_password") && is_secret("Token"));
        assert!(!is_secret("keywords") && !is_secret("info"));
    }

    #[test]
    fn large_bodies_are_summarised_within_the_limit() {
        let attributes: Vec<Value> = (0..20_000)
            .map(|n| json!({"type": "ip-dst", "value": format!("10.0.{}.{}", n / 256, n % 256)}))
            .collect();
        let body =
            json!({"Event": {"info": "x".repeat(1000), "Attribute": attributes, "password": "p"}});
        let change = change_summary(Some(&body));
        assert!(change.len() <= CHANGE_MAX_BYTES);
        let summary: Value = serde_json::from_str(&change).unwrap();
        assert_eq!(summary["Event"]["Attribute"], json!("[20000 items]"));
        assert!(summary["Event"].get("password").is_none());
        assert_eq!(
            summary["Event"]["info"].as_str().unwrap().chars().count(),
            SUMMARY_TEXT_MAX_CHARS + 1
        );
        assert_eq!(change_summary(None), "");
    }

    #[test]
    fn answers_yield_id_event_and_title_without_reading_the_rest() {
        let event = br#"{"Event": {"id": "12", "info": "An event", "Attribute": [{"id": "99", "value": "x"}]}}"#;
        assert_eq!(
            answer_of(event, "Event"),
            Answer {
                id: Some(12),
                event_id: None,
                title: Some("An event".into())
            }
        );
        let attribute = br#"{"Attribute": {"id": 7, "event_id": "12", "value": "10.0.0.1"}}"#;
        assert_eq!(
            answer_of(attribute, "Attribute"),
            Answer {
                id: Some(7),
                event_id: Some(12),
                title: Some("10.0.0.1".into())
            }
        );
        let success = br#"{"saved": true, "success": true, "name": "Done", "id": "5"}"#;
        assert_eq!(answer_of(success, "Tag").id, Some(5));
        assert_eq!(answer_of(b"[1, 2]", "Tag"), Answer::default());
        assert_eq!(answer_of(b"not json", "Tag"), Answer::default());
    }

    #[test]
    fn models_are_named_like_misp() {
        assert_eq!(model_name("events"), "Event");
        assert_eq!(model_name("sharinggroups"), "SharingGroup");
        assert_eq!(model_name("authkeys"), "AuthKey");
        assert_eq!(model_name("widgets"), "Widget");
    }
}

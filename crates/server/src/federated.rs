//! Federated search: one attribute query asked of every sync server at once (each with its
//! own key and time limit) and of this instance, the answers merged with their provenance.
//!
//! What a requester sees: a remote answers what our sync user there may see, which is more
//! than a pull would hand to every local user. Each remote attribute is therefore judged as
//! if its event had been pulled (misp-reference §2.5): the event belongs to the server's
//! local organisation (`Server.org_id`), unpublished events are left out (a pull takes
//! published events only), distribution 1 → 0 and 2 → 1 on the event, its objects and
//! attributes (unless the server is internal and run by the host organisation), local tags
//! are dropped, and sharing-group levels are open to the owning organisation only (a
//! restSearch answer names the remote's group ids, which mean nothing here). The result then
//! passes the requester's view of that pulled copy (`Viewer`, misp-reference §2.2–2.3).
//! Site admins see every answer. Local results come from restSearch under the requester's
//! own view. Pull rules (which events an administrator chose to copy) are not applied: they
//! choose what is stored, not who may see it.

use crate::Warninglists;
use crate::error::{ApiError, ApiResult};
use crate::misp::rest_search::write_search;
use crate::misp::{Call, describe_endpoint, is_write, json_response, unknown_action};
use axum::response::Response;
use futures_util::future::{BoxFuture, join_all};
use kizuna_formats::misp::filters::{Scope, parse_search};
use kizuna_formats::misp::input::{lenient_bool, lenient_i64};
use kizuna_model::Distribution;
use kizuna_model::access::Viewer;
use kizuna_store::{Server, Store};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Results asked of each instance (and kept after merging) when the query names no limit.
pub const DEFAULT_LIMIT: u64 = 1_000;
pub const MAX_LIMIT: u64 = 100_000;
/// The longest any instance is waited for, when the query names no timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Largest answer read from one remote.
const MAX_ANSWER_BYTES: u64 = 256 * 1024 * 1024;
/// A sharing-group id no local group has: remote group ids are not ours.
const FOREIGN_SHARING_GROUP: i64 = -1;

/// One federated query, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct FederatedQuery {
    /// Values (MISP semantics: `%` wildcards, `!` negation), any of which matches.
    pub values: Vec<String>,
    pub types: Vec<String>,
    pub tags: Vec<String>,
    /// Event date bounds (a date, an epoch or a relative time such as `7d`).
    pub from: Option<String>,
    pub to: Option<String>,
    /// Events published within this period (`7d`, `12h`, …).
    pub last: Option<String>,
    /// At most this many results from each instance, and in the merged answer.
    pub limit: u64,
    /// Ask only these servers (by id); None = every configured server.
    pub servers: Option<Vec<i64>>,
    /// Search this instance too.
    pub include_local: bool,
    /// No instance is waited for longer (a server's own `timeout_seconds` may be shorter).
    pub timeout: Duration,
}

impl Default for FederatedQuery {
    fn default() -> Self {
        FederatedQuery {
            values: Vec::new(),
            types: Vec::new(),
            tags: Vec::new(),
            from: None,
            to: None,
            last: None,
            limit: DEFAULT_LIMIT,
            servers: None,
            include_local: true,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl FederatedQuery {
    /// The query of a request body: `value`, `type`, `tags` (or `tag`) as a string or a
    /// list, `from`, `to`, `last`, `limit`, `servers` (ids), `local` (bool), `timeout`
    /// (seconds). Errors name the field.
    pub fn from_json(body: &Value, now: i64) -> Result<FederatedQuery, String> {
        let Value::Object(map) = body else {
            return Err("the federated search expects a JSON object of filters".into());
        };
        let body = match map.get("request") {
            Some(Value::Object(inner)) => inner,
            _ => map,
        };
        let mut query = FederatedQuery {
            values: texts(body, "value")?,
            types: texts(body, "type")?,
            tags: match body.get("tags") {
                Some(_) => texts(body, "tags")?,
                None => texts(body, "tag")?,
            },
            from: text(body, "from")?,
            to: text(body, "to")?,
            last: text(body, "last")?,
            ..FederatedQuery::default()
        };
        if let Some(limit) = body.get("limit").filter(|value| !value.is_null()) {
            query.limit = lenient_i64(limit)
                .filter(|limit| (1..=MAX_LIMIT as i64).contains(limit))
                .ok_or_else(|| format!("limit: expected a whole number from 1 to {MAX_LIMIT}"))?
                as u64;
        }
        if let Some(servers) = body.get("servers").filter(|value| !value.is_null()) {
            let items = match servers {
                Value::Array(items) => items.clone(),
                single => vec![single.clone()],
            };
            let ids = items
                .iter()
                .map(|item| lenient_i64(item).filter(|id| *id > 0))
                .collect::<Option<Vec<i64>>>()
                .ok_or("servers: expected a list of server ids")?;
            query.servers = Some(ids);
        }
        if let Some(local) = body.get("local").filter(|value| !value.is_null()) {
            query.include_local = lenient_bool(local).ok_or("local: expected true or false")?;
        }
        if let Some(timeout) = body.get("timeout").filter(|value| !value.is_null()) {
            let seconds = match timeout {
                Value::Number(number) => number.as_f64(),
                Value::String(text) => text.trim().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|seconds| *seconds > 0.0 && *seconds <= MAX_TIMEOUT.as_secs_f64())
            .ok_or_else(|| {
                format!(
                    "timeout: expected seconds, more than 0 and at most {}",
                    MAX_TIMEOUT.as_secs()
                )
            })?;
            query.timeout = Duration::from_secs_f64(seconds);
        }
        query.check(now)?;
        Ok(query)
    }

    /// Refuses a query without criteria (it would copy every instance's whole store) and one
    /// whose filters restSearch would refuse.
    pub fn check(&self, now: i64) -> Result<(), String> {
        let has_criteria = !self.values.is_empty()
            || !self.types.is_empty()
            || !self.tags.is_empty()
            || self.from.is_some()
            || self.to.is_some()
            || self.last.is_some();
        if !has_criteria {
            return Err(
                "a federated search needs at least one of value, type, tags, from, to, last".into(),
            );
        }
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return Err(format!(
                "limit: expected a whole number from 1 to {MAX_LIMIT}"
            ));
        }
        let Value::Object(params) = self.rest_search_body() else {
            unreachable!("the body is built as an object");
        };
        parse_search(&params, Scope::Attributes, None, now)
            .map(|_| ())
            .map_err(|error| error.to_string())
    }

    /// The `/attributes/restSearch` body every instance is asked.
    pub fn rest_search_body(&self) -> Value {
        let mut body = Map::new();
        body.insert("returnFormat".into(), json!("json"));
        for (name, list) in [
            ("value", &self.values),
            ("type", &self.types),
            ("tags", &self.tags),
        ] {
            if !list.is_empty() {
                body.insert(name.into(), json!(list));
            }
        }
        for (name, bound) in [("from", &self.from), ("to", &self.to), ("last", &self.last)] {
            if let Some(bound) = bound {
                body.insert(name.into(), json!(bound));
            }
        }
        body.insert("includeEventUuid".into(), json!(1));
        body.insert("includeEventTags".into(), json!(1));
        // The event's context carries what provenance and the pull rule need: its creator
        // organisation, published flag, distribution and tags.
        body.insert("includeContext".into(), json!(1));
        body.insert("limit".into(), json!(self.limit));
        Value::Object(body)
    }
}

fn text(body: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.trim().to_string())),
        Some(Value::Number(number)) => Ok(Some(number.to_string())),
        Some(_) => Err(format!("{name}: expected a string")),
    }
}

fn texts(body: &Map<String, Value>, name: &str) -> Result<Vec<String>, String> {
    let items = match body.get(name) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(single) => vec![single.clone()],
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::String(text) if text.is_empty() => None,
            Value::String(text) => Some(Ok(text.clone())),
            Value::Number(number) => Some(Ok(number.to_string())),
            _ => Some(Err(format!(
                "{name}: expected a string or a list of strings"
            ))),
        })
        .collect()
}

/// An instance a result came from: a sync server, or this instance (`id` None, name
/// `local`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRef {
    pub id: Option<i64>,
    pub name: String,
    pub url: String,
}

impl InstanceRef {
    pub const LOCAL_NAME: &'static str = "local";

    fn of_server(server: &Server) -> InstanceRef {
        InstanceRef {
            id: Some(server.id),
            name: server.name.clone(),
            url: server.url.clone(),
        }
    }
}

/// One instance holding a result, and the timestamp of its copy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    #[serde(flatten)]
    pub instance: InstanceRef,
    pub timestamp: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRef {
    pub name: String,
    pub uuid: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HitEvent {
    pub uuid: String,
    pub info: String,
    pub orgc: OrgRef,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HitAttribute {
    pub uuid: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub category: String,
    pub value: String,
    pub to_ids: bool,
    pub timestamp: i64,
    pub tags: Vec<String>,
}

/// One attribute, as the newest copy shows it, with every instance holding it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederatedHit {
    pub attribute: HitAttribute,
    pub event: HitEvent,
    pub instances: Vec<Provenance>,
}

/// How one instance answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceReport {
    #[serde(flatten)]
    pub instance: InstanceRef,
    pub ok: bool,
    /// Results this instance gave that the requester may see.
    pub count: u64,
    pub error: Option<String>,
    /// `timeout`, `connection`, `http_status`, `invalid_json`, `invalid_answer`,
    /// `too_large`, `transport` or `local`.
    pub error_kind: Option<String>,
    pub elapsed_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederatedAnswer {
    pub results: Vec<FederatedHit>,
    pub instances: Vec<InstanceReport>,
    /// Some instance failed or ran out of time: the results are those of the others.
    pub partial: bool,
}

/// What a federated search reads: the store (servers, settings, local data) and the
/// warninglists restSearch consults.
#[derive(Clone)]
pub struct Federation {
    pub store: Store,
    pub warninglists: Arc<Warninglists>,
    /// This instance's URL, shown as the local instance's.
    pub local_url: String,
}

/// Why one instance gave nothing.
#[derive(Debug)]
struct InstanceFailure {
    kind: &'static str,
    message: String,
}

impl InstanceFailure {
    fn new(kind: &'static str, message: impl Into<String>) -> Self {
        InstanceFailure {
            kind,
            message: message.into(),
        }
    }
}

/// One instance's answer: hits the requester may see, or why there are none.
struct InstanceOutcome {
    instance: InstanceRef,
    hits: Result<Vec<(HitAttribute, HitEvent)>, InstanceFailure>,
    elapsed: Duration,
}

/// Runs `query` on this instance (under `viewer`) and every chosen server at once.
pub async fn search(
    federation: &Federation,
    viewer: &Viewer,
    query: &FederatedQuery,
    now: i64,
) -> ApiResult<FederatedAnswer> {
    query.check(now).map_err(ApiError::BadRequest)?;
    let mut servers = federation.store.servers().await?;
    if let Some(wanted) = &query.servers {
        for id in wanted {
            match servers.iter().find(|server| server.id == *id) {
                None => {
                    return Err(ApiError::BadRequest(format!(
                        "servers: there is no server {id}"
                    )));
                }
                Some(server) if !may_ask(viewer, server) => {
                    return Err(ApiError::Forbidden(format!(
                        "servers: server {id} is not open to your organisation for \
                         federated search"
                    )));
                }
                Some(_) => {}
            }
        }
        servers.retain(|server| wanted.contains(&server.id));
    }
    servers.retain(|server| may_ask(viewer, server));
    let host_org_id = federation
        .store
        .setting("host_org_id")
        .await?
        .and_then(|text| text.parse::<i64>().ok());
    let body = query.rest_search_body();
    let mut asks: Vec<BoxFuture<'_, InstanceOutcome>> = Vec::new();
    if query.include_local {
        asks.push(Box::pin(ask_local(federation, viewer, &body, query, now)));
    }
    for server in servers {
        let keep_levels = server.internal && host_org_id == Some(server.org_id);
        let body = &body;
        asks.push(Box::pin(async move {
            let started = Instant::now();
            let hits = ask_remote(&server, body, query.timeout)
                .await
                .map(|attributes| pulled_view(viewer, &server, keep_levels, &attributes));
            InstanceOutcome {
                instance: InstanceRef::of_server(&server),
                hits,
                elapsed: started.elapsed(),
            }
        }));
    }
    Ok(merge(join_all(asks).await, query.limit))
}

/// Whether a federated search by `viewer` asks `server`: never when the server is kept out
/// of federated search, else for site admins and for users of the organisations it is open
/// to (every organisation when it names none).
pub fn may_ask(viewer: &Viewer, server: &Server) -> bool {
    if !server.federated_search {
        return false;
    }
    let open_to = server.federated_orgs();
    match viewer.org_id() {
        None => true,
        Some(org_id) => open_to.is_empty() || open_to.contains(&org_id),
    }
}

async fn ask_local(
    federation: &Federation,
    viewer: &Viewer,
    body: &Value,
    query: &FederatedQuery,
    now: i64,
) -> InstanceOutcome {
    let started = Instant::now();
    let instance = InstanceRef {
        id: None,
        name: InstanceRef::LOCAL_NAME.to_string(),
        url: federation.local_url.clone(),
    };
    let search = async {
        let Value::Object(params) = body else {
            unreachable!("the body is built as an object");
        };
        let request = parse_search(params, Scope::Attributes, None, now)
            .map_err(|error| InstanceFailure::new("local", error.to_string()))?;
        let mut answer = String::new();
        write_search(
            &federation.store,
            &federation.warninglists,
            viewer.clone(),
            request,
            Scope::Attributes,
            |chunk| {
                answer.push_str(chunk);
                Ok(())
            },
        )
        .await
        .map_err(|error| InstanceFailure::new("local", error.to_string()))?;
        let attributes = attributes_of(answer.as_bytes())?;
        Ok(attributes
            .iter()
            .filter_map(|attribute| read_hit(attribute, false))
            .collect())
    };
    let hits = match tokio::time::timeout(query.timeout, search).await {
        Ok(hits) => hits,
        Err(_) => Err(InstanceFailure::new(
            "timeout",
            format!("no answer within {}", seconds(query.timeout)),
        )),
    };
    InstanceOutcome {
        instance,
        hits,
        elapsed: started.elapsed(),
    }
}

/// POSTs the query to a server's `/attributes/restSearch` and returns its attributes.
async fn ask_remote(
    server: &Server,
    body: &Value,
    request_timeout: Duration,
) -> Result<Vec<Value>, InstanceFailure> {
    let limit = match u64::try_from(server.timeout_seconds) {
        Ok(seconds) if seconds > 0 => request_timeout.min(Duration::from_secs(seconds)),
        _ => request_timeout,
    };
    let exchange = async {
        let client = crate::http::client_for(&crate::http::RemoteTls::of(server))
            .map_err(|error| InstanceFailure::new("transport", error))?;
        let url = format!("{}/attributes/restSearch", server.url.trim_end_matches('/'));
        let response = client
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, &server.authkey)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(limit)
            .body(body.to_string())
            .send()
            .await
            .map_err(|error| transport_failure(&error, limit))?;
        let status = response.status();
        let bytes = crate::http::read_limited(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|error| {
                if error.starts_with("the answer is larger") {
                    InstanceFailure::new("too_large", error)
                } else {
                    InstanceFailure::new("transport", format!("the answer broke off: {error}"))
                }
            })?;
        if !status.is_success() {
            return Err(InstanceFailure::new(
                "http_status",
                format!("HTTP {status}{}", misp_message(&bytes)),
            ));
        }
        attributes_of(&bytes)
    };
    match tokio::time::timeout(limit, exchange).await {
        Ok(result) => result,
        Err(_) => Err(InstanceFailure::new(
            "timeout",
            format!("no answer within {}", seconds(limit)),
        )),
    }
}

fn seconds(duration: Duration) -> String {
    format!("{} s", (duration.as_secs_f64() * 1000.0).round() / 1000.0)
}

fn transport_failure(error: &reqwest::Error, limit: Duration) -> InstanceFailure {
    // reqwest's own text stops at "error sending request"; the cause says what happened.
    let detail = crate::http::error_chain(error);
    if error.is_timeout() {
        InstanceFailure::new("timeout", format!("no answer within {}", seconds(limit)))
    } else if error.is_connect() {
        let reason = if detail.contains("refused") {
            "connection refused"
        } else {
            "cannot connect"
        };
        InstanceFailure::new("connection", format!("{reason} ({detail})"))
    } else {
        InstanceFailure::new("transport", detail)
    }
}

/// `: <message>` of a MISP-shaped error body, if there is one.
fn misp_message(body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body).ok().and_then(|json| {
        json.get("message")
            .or_else(|| json.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    match message {
        Some(message) => format!(": {}", message.chars().take(300).collect::<String>()),
        None => String::new(),
    }
}

/// The attributes of an attribute restSearch answer (`{"response": {"Attribute": […]}}`;
/// an empty search may answer `{"response": []}`).
fn attributes_of(body: &[u8]) -> Result<Vec<Value>, InstanceFailure> {
    let json: Value = serde_json::from_slice(body).map_err(|error| {
        let start: String = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        InstanceFailure::new(
            "invalid_json",
            format!("the answer is not JSON ({error}); it starts with {start:?}"),
        )
    })?;
    match json.get("response") {
        Some(Value::Object(response)) => match response.get("Attribute") {
            Some(Value::Array(attributes)) => Ok(attributes.clone()),
            None => Ok(Vec::new()),
            Some(_) => Err(InstanceFailure::new(
                "invalid_answer",
                "response.Attribute is not a list",
            )),
        },
        Some(Value::Array(items)) if items.is_empty() => Ok(Vec::new()),
        _ => Err(InstanceFailure::new(
            "invalid_answer",
            "the answer is JSON but not an attribute restSearch result (no response.Attribute)",
        )),
    }
}

/// The remote attributes the requester would see once their events were pulled.
fn pulled_view(
    viewer: &Viewer,
    server: &Server,
    keep_levels: bool,
    attributes: &[Value],
) -> Vec<(HitAttribute, HitEvent)> {
    attributes
        .iter()
        .filter(|attribute| sees_pulled_copy(viewer, server.org_id, keep_levels, attribute))
        .filter_map(|attribute| read_hit(attribute, true))
        .collect()
}

/// Whether `viewer` would see this attribute after a pull through a server owned locally by
/// `owner_org_id` (the rule in the module documentation).
fn sees_pulled_copy(
    viewer: &Viewer,
    owner_org_id: i64,
    keep_levels: bool,
    attribute: &Value,
) -> bool {
    if matches!(viewer, Viewer::SiteAdmin) {
        return true;
    }
    let event = attribute.get("Event").unwrap_or(&Value::Null);
    let published = event
        .get("published")
        .and_then(lenient_bool)
        .unwrap_or(false);
    if !published {
        return false;
    }
    let pulled_level = |item: &Value| {
        let level = item
            .get("distribution")
            .and_then(lenient_i64)
            .and_then(Distribution::from_i64)
            .unwrap_or(Distribution::OrganisationOnly);
        match level {
            Distribution::CommunityOnly if !keep_levels => Distribution::OrganisationOnly,
            Distribution::ConnectedCommunities if !keep_levels => Distribution::CommunityOnly,
            other => other,
        }
    };
    let event_level = match pulled_level(event) {
        Distribution::InheritEvent => Distribution::OrganisationOnly,
        level => level,
    };
    if !viewer.sees_event(owner_org_id, event_level, FOREIGN_SHARING_GROUP, true) {
        return false;
    }
    let object = attribute
        .get("Object")
        .filter(|object| object.is_object())
        .map(|object| (pulled_level(object), FOREIGN_SHARING_GROUP));
    viewer.sees_attribute(
        owner_org_id,
        pulled_level(attribute),
        FOREIGN_SHARING_GROUP,
        object,
    )
}

/// The shown fields of one restSearch attribute; None without a uuid. `remote`: local tags
/// of another instance never travel (a pull drops them).
fn read_hit(attribute: &Value, remote: bool) -> Option<(HitAttribute, HitEvent)> {
    let field = |item: &Value, name: &str| {
        item.get(name)
            .map(|value| match value {
                Value::String(text) => text.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    let uuid = field(attribute, "uuid");
    if uuid.is_empty() {
        return None;
    }
    let event = attribute.get("Event").unwrap_or(&Value::Null);
    let mut attribute_tags = Vec::new();
    let mut event_tags = Vec::new();
    let travels = |tag: &Value| !(remote && tag.get("local").and_then(lenient_bool) == Some(true));
    if let Some(Value::Array(tags)) = attribute.get("Tag") {
        for tag in tags.iter().filter(|tag| travels(tag)) {
            let name = field(tag, "name");
            let inherited = tag.get("inherited").and_then(lenient_bool) == Some(true);
            let list = if inherited {
                &mut event_tags
            } else {
                &mut attribute_tags
            };
            if !name.is_empty() && !list.contains(&name) {
                list.push(name);
            }
        }
    }
    if let Some(Value::Array(tags)) = event.get("Tag") {
        for tag in tags.iter().filter(|tag| travels(tag)) {
            let name = field(tag, "name");
            if !name.is_empty() && !event_tags.contains(&name) {
                event_tags.push(name);
            }
        }
    }
    let orgc = event.get("Orgc").unwrap_or(&Value::Null);
    let event_uuid = match field(event, "uuid") {
        uuid if uuid.is_empty() => field(attribute, "event_uuid"),
        uuid => uuid,
    };
    Some((
        HitAttribute {
            uuid: uuid.to_ascii_lowercase(),
            kind: field(attribute, "type"),
            category: field(attribute, "category"),
            value: field(attribute, "value"),
            to_ids: attribute
                .get("to_ids")
                .and_then(lenient_bool)
                .unwrap_or(false),
            timestamp: attribute
                .get("timestamp")
                .and_then(lenient_i64)
                .unwrap_or(0),
            tags: attribute_tags,
        },
        HitEvent {
            uuid: event_uuid.to_ascii_lowercase(),
            info: field(event, "info"),
            orgc: OrgRef {
                name: field(orgc, "name"),
                uuid: field(orgc, "uuid"),
            },
            tags: event_tags,
        },
    ))
}

/// Folds the answers by attribute uuid (the newest copy is shown), newest first, at most
/// `limit` results.
fn merge(outcomes: Vec<InstanceOutcome>, limit: u64) -> FederatedAnswer {
    let mut results: Vec<FederatedHit> = Vec::new();
    let mut by_uuid: HashMap<String, usize> = HashMap::new();
    let mut instances = Vec::with_capacity(outcomes.len());
    let mut partial = false;
    for outcome in outcomes {
        let elapsed_ms = u64::try_from(outcome.elapsed.as_millis()).unwrap_or(u64::MAX);
        match outcome.hits {
            Ok(hits) => {
                instances.push(InstanceReport {
                    instance: outcome.instance.clone(),
                    ok: true,
                    count: hits.len() as u64,
                    error: None,
                    error_kind: None,
                    elapsed_ms,
                });
                for (attribute, event) in hits {
                    let provenance = Provenance {
                        instance: outcome.instance.clone(),
                        timestamp: attribute.timestamp,
                    };
                    match by_uuid.get(&attribute.uuid) {
                        Some(&index) => {
                            let hit = &mut results[index];
                            if attribute.timestamp > hit.attribute.timestamp {
                                hit.attribute = attribute;
                                hit.event = event;
                            }
                            if !hit.instances.contains(&provenance) {
                                hit.instances.push(provenance);
                            }
                        }
                        None => {
                            by_uuid.insert(attribute.uuid.clone(), results.len());
                            results.push(FederatedHit {
                                attribute,
                                event,
                                instances: vec![provenance],
                            });
                        }
                    }
                }
            }
            Err(failure) => {
                partial = true;
                instances.push(InstanceReport {
                    instance: outcome.instance,
                    ok: false,
                    count: 0,
                    error: Some(failure.message),
                    error_kind: Some(failure.kind.to_string()),
                    elapsed_ms,
                });
            }
        }
    }
    results.sort_by(|left, right| {
        right
            .attribute
            .timestamp
            .cmp(&left.attribute.timestamp)
            .then_with(|| left.attribute.value.cmp(&right.attribute.value))
            .then_with(|| left.attribute.uuid.cmp(&right.attribute.uuid))
    });
    results.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    FederatedAnswer {
        results,
        instances,
        partial,
    }
}

/// `POST /kizuna/federated_search` (a Kizuna extension, outside MISP's controllers).
pub(crate) async fn handle(call: &Call) -> ApiResult<Response> {
    if call.path.action != "federatedsearch" {
        return Err(unknown_action(call));
    }
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Federated search",
            &[],
            &[
                "value", "type", "tags", "from", "to", "last", "limit", "servers", "local",
                "timeout",
            ],
        ));
    }
    let body = call.body.clone().unwrap_or_else(|| json!({}));
    let query = FederatedQuery::from_json(&body, call.now).map_err(ApiError::BadRequest)?;
    let viewer = call.viewer().await?;
    let federation = Federation {
        store: call.store().clone(),
        warninglists: call.state.warninglists.clone(),
        local_url: call.state.settings.base_url.clone(),
    };
    let answer = search(&federation, &viewer, &query, call.now).await?;
    let body = serde_json::to_value(&answer)
        .map_err(|error| ApiError::Internal(format!("cannot render the answer: {error}")))?;
    Ok(json_response(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote_attribute(event_distribution: i64, distribution: i64, published: bool) -> Value {
        json!({
            "uuid": "AAAAAAAA-0000-4000-8000-000000000001",
            "type": "domain",
            "category": "Network activity",
            "value": "evil.example",
            "to_ids": true,
            "timestamp": "100",
            "distribution": distribution.to_string(),
            "sharing_group_id": "0",
            "Tag": [
                {"name": "tlp:green"},
                {"name": "remote-local", "local": 1},
                {"name": "campaign", "inherited": 1},
            ],
            "Event": {
                "uuid": "bbbbbbbb-0000-4000-8000-000000000002",
                "info": "E",
                "published": published,
                "distribution": event_distribution.to_string(),
                "sharing_group_id": "0",
                "Orgc": {"name": "CREATOR", "uuid": "cccccccc-0000-4000-8000-000000000003"},
                "Tag": [{"name": "campaign"}],
            },
        })
    }

    #[test]
    fn pulled_copies_follow_the_pull_downgrade_and_the_viewer() {
        let owner = 7;
        let other = Viewer::organisation(8, []);
        let member = Viewer::organisation(owner, []);
        // Level 2 → 1: every local organisation.
        assert!(sees_pulled_copy(
            &other,
            owner,
            false,
            &remote_attribute(2, 5, true)
        ));
        // Level 1 → 0: the owning organisation only, unless the levels are kept.
        assert!(!sees_pulled_copy(
            &other,
            owner,
            false,
            &remote_attribute(1, 5, true)
        ));
        assert!(sees_pulled_copy(
            &other,
            owner,
            true,
            &remote_attribute(1, 5, true)
        ));
        assert!(sees_pulled_copy(
            &member,
            owner,
            false,
            &remote_attribute(1, 5, true)
        ));
        // An attribute of level 0 or 1 inside a shared event is the owner's alone.
        assert!(!sees_pulled_copy(
            &other,
            owner,
            false,
            &remote_attribute(3, 1, true)
        ));
        assert!(sees_pulled_copy(
            &other,
            owner,
            false,
            &remote_attribute(3, 2, true)
        ));
        // Sharing groups of the remote are not ours; unpublished events are never pulled.
        assert!(!sees_pulled_copy(
            &other,
            owner,
            false,
            &remote_attribute(4, 5, true)
        ));
        assert!(sees_pulled_copy(
            &member,
            owner,
            false,
            &remote_attribute(4, 5, true)
        ));
        assert!(!sees_pulled_copy(
            &member,
            owner,
            false,
            &remote_attribute(3, 5, false)
        ));
        assert!(sees_pulled_copy(
            &Viewer::SiteAdmin,
            owner,
            false,
            &remote_attribute(0, 0, false)
        ));
    }

    #[test]
    fn hits_read_tags_and_drop_remote_local_ones() {
        let (attribute, event) = read_hit(&remote_attribute(3, 5, true), true).unwrap();
        assert_eq!(attribute.uuid, "aaaaaaaa-0000-4000-8000-000000000001");
        assert_eq!(attribute.tags, ["tlp:green"]);
        assert_eq!(attribute.timestamp, 100);
        assert!(attribute.to_ids);
        assert_eq!(event.tags, ["campaign"]);
        assert_eq!(event.orgc.name, "CREATOR");
        let (attribute, _) = read_hit(&remote_attribute(3, 5, true), false).unwrap();
        assert_eq!(attribute.tags, ["tlp:green", "remote-local"]);
    }

    #[test]
    fn queries_name_their_bad_fields() {
        let now = 1_700_000_000;
        let error = |body: Value| FederatedQuery::from_json(&body, now).unwrap_err();
        assert!(error(json!({})).contains("at least one of value"));
        assert!(error(json!({"value": "x", "limit": 0})).starts_with("limit"));
        assert!(error(json!({"value": "x", "timeout": "soon"})).starts_with("timeout"));
        assert!(error(json!({"value": "x", "servers": ["a"]})).starts_with("servers"));
        assert!(error(json!({"value": {"a": 1}})).starts_with("value"));
        assert!(error(json!({"value": "x", "from": "not a date"})).contains("from"));
        let query = FederatedQuery::from_json(
            &json!({"value": "%.example", "tag": "tlp:green", "last": "7d", "limit": "5",
                    "servers": [2], "local": false, "timeout": 1.5}),
            now,
        )
        .unwrap();
        assert_eq!(query.values, ["%.example"]);
        assert_eq!(query.tags, ["tlp:green"]);
        assert_eq!(query.limit, 5);
        assert_eq!(query.servers, Some(vec![2]));
        assert!(!query.include_local);
        assert_eq!(query.timeout, Duration::from_millis(1500));
        let body = query.rest_search_body();
        assert_eq!(body["value"], json!(["%.example"]));
        assert_eq!(body["includeEventUuid"], json!(1));
        assert_eq!(body["limit"], json!(5));
    }

    #[test]
    fn merging_folds_by_uuid_and_shows_the_newest_copy() {
        let instance = |name: &str| InstanceRef {
            id: Some(name.len() as i64),
            name: name.into(),
            url: format!("http://{name}"),
        };
        let hit = |timestamp: i64, info: &str| {
            let (mut attribute, mut event) = read_hit(&remote_attribute(3, 5, true), true).unwrap();
            attribute.timestamp = timestamp;
            event.info = info.into();
            (attribute, event)
        };
        let outcomes = vec![
            InstanceOutcome {
                instance: instance("a"),
                hits: Ok(vec![hit(100, "old")]),
                elapsed: Duration::from_millis(3),
            },
            InstanceOutcome {
                instance: instance("bb"),
                hits: Ok(vec![hit(200, "new")]),
                elapsed: Duration::from_millis(4),
            },
            InstanceOutcome {
                instance: instance("ccc"),
                hits: Err(InstanceFailure::new("timeout", "no answer within 1 s")),
                elapsed: Duration::from_millis(1000),
            },
        ];
        let answer = merge(outcomes, 10);
        assert!(answer.partial);
        assert_eq!(answer.results.len(), 1);
        let folded = &answer.results[0];
        assert_eq!(folded.event.info, "new");
        assert_eq!(folded.attribute.timestamp, 200);
        let names: Vec<&str> = folded
            .instances
            .iter()
            .map(|p| p.instance.name.as_str())
            .collect();
        assert_eq!(names, ["a", "bb"]);
        assert_eq!(answer.instances[2].error_kind.as_deref(), Some("timeout"));
    }
}

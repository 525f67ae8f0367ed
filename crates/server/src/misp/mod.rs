//! The MISP REST API: one module per MISP controller, reached through [`dispatch`], which
//! parses MISP's URL grammar, authenticates, parses the body and renders errors in MISP's
//! shape.

mod acl;
mod attributes;
mod audit_logs;
mod auth_keys;
mod blocklists;
mod correlations;
pub(crate) mod event_reports;
mod event_sync;
mod event_uploads;
mod events;
mod feeds;
mod object_references;
mod objects;
mod organisations;
pub mod rest_search;
mod roles;
mod servers;
mod sharing_groups;
mod sightings;
pub(crate) mod tags;
mod taxii_collections;
mod users;
pub(crate) mod warninglists;

use crate::auth::authenticate;
use crate::error::{ApiError, ApiResult};
use crate::routing::MispPath;
use crate::{AppState, now};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use kizuna_formats::misp::build::BuildContext;
use kizuna_formats::misp::input::lenient_bool;
use kizuna_model::access::Viewer;
use kizuna_model::{Distribution, Event};
use kizuna_store::{Key, Principal};
use serde_json::{Value, json};

/// One authenticated MISP API call.
pub(crate) struct Call {
    pub state: AppState,
    pub method: Method,
    pub path: MispPath,
    /// The request path as sent, for `url` in answers.
    pub url: String,
    pub body: Option<Value>,
    pub principal: Principal,
    pub now: i64,
    /// The request headers (conditional requests such as a sync peer's `If-None-Match`).
    pub headers: HeaderMap,
}

impl Call {
    pub fn store(&self) -> &kizuna_store::Store {
        &self.state.store
    }

    pub fn build_context(&self) -> BuildContext {
        let today = time::OffsetDateTime::from_unix_timestamp(self.now)
            .map(|moment| moment.date())
            .unwrap_or(time::macros::date!(1970 - 01 - 01));
        BuildContext {
            now: self.now,
            today,
        }
    }

    pub fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }

    pub fn is_site_admin(&self) -> bool {
        self.principal.role.permissions.perm_site_admin
    }

    /// The organisation whose view applies: None for site admins, who see everything.
    pub fn viewer_org(&self) -> Option<i64> {
        (!self.is_site_admin()).then_some(self.principal.user.org_id)
    }

    /// A flag given as a named parameter or as a key of the JSON body.
    pub fn flag(&self, name: &str) -> bool {
        if let Some(value) = self.path.named(name) {
            return matches!(value, "1" | "true" | "True");
        }
        self.body
            .as_ref()
            .and_then(|body| body.get(name))
            .and_then(lenient_bool)
            .unwrap_or(false)
    }

    /// The required positional argument `index`, as an id or uuid.
    pub fn key_arg(&self, index: usize, what: &str) -> ApiResult<Key> {
        let text = self
            .path
            .arg(index)
            .ok_or_else(|| ApiError::NotFound(format!("Invalid {what}.")))?;
        Key::parse(text).ok_or_else(|| ApiError::NotFound(format!("Invalid {what}.")))
    }

    pub fn require(&self, allowed: bool) -> ApiResult<()> {
        if allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "You do not have permission to do that.".into(),
            ))
        }
    }

    /// The caller as MISP's access rules see it.
    pub async fn viewer(&self) -> ApiResult<Viewer> {
        if self.is_site_admin() {
            return Ok(Viewer::SiteAdmin);
        }
        let org_id = self.principal.user.org_id;
        Ok(Viewer::organisation(
            org_id,
            self.store().authorised_sharing_groups(org_id).await?,
        )
        .with_unpublished_private(self.state.settings.unpublished_private))
    }

    /// MISP's event visibility (misp-reference §2.2).
    pub async fn can_see_event(&self, event: &Event) -> ApiResult<bool> {
        Ok(self.viewer().await?.sees_event(
            event.org_id,
            event.distribution,
            event.sharing_group_id,
            event.published,
        ))
    }

    /// MISP's item rule inside a visible event (misp-reference §2.3).
    pub async fn can_see_item(
        &self,
        event: &Event,
        distribution: Distribution,
        sharing_group_id: i64,
    ) -> ApiResult<bool> {
        Ok(self
            .viewer()
            .await?
            .sees_item(event.org_id, distribution, sharing_group_id))
    }

    /// The event holding an item, if the caller may see both the event and the item;
    /// otherwise MISP's 404 `Invalid <what>.` (missing and invisible look the same).
    pub async fn event_of_visible_item(
        &self,
        event_id: i64,
        distribution: Distribution,
        sharing_group_id: i64,
        what: &str,
    ) -> ApiResult<Event> {
        let invalid = || ApiError::NotFound(format!("Invalid {what}."));
        let event = self
            .visible_event_meta_by_key(&Key::Id(event_id))
            .await
            .map_err(|_| invalid())?;
        if self
            .can_see_item(&event, distribution, sharing_group_id)
            .await?
        {
            Ok(event)
        } else {
            Err(invalid())
        }
    }

    /// The event named by positional argument `index`, if the caller may see it; MISP answers
    /// 404 "Invalid event." for both missing and invisible events.
    pub async fn visible_event_meta(&self, index: usize) -> ApiResult<Event> {
        let key = self.key_arg(index, "event")?;
        self.visible_event_meta_by_key(&key).await
    }

    pub async fn visible_event_meta_by_key(&self, key: &Key) -> ApiResult<Event> {
        match self.store().event_meta(key).await {
            Ok(event) if self.can_see_event(&event).await? => Ok(event),
            Ok(_) | Err(kizuna_store::StoreError::NotFound) => {
                Err(ApiError::NotFound("Invalid event.".into()))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// MISP's success body for actions that do not return an object.
    pub fn success(&self, message: &str, id: Option<i64>) -> Response {
        let mut body = json!({
            "saved": true,
            "success": true,
            "name": message,
            "message": message,
            "url": self.url,
        });
        if let Some(id) = id {
            body["id"] = json!(id.to_string());
        }
        json_response(body)
    }
}

pub(crate) fn json_response(body: Value) -> Response {
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}

/// The answer to a HEAD request: the status alone.
pub(crate) fn head_response(found: bool) -> Response {
    if found {
        StatusCode::OK.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// Entry point for every MISP API request.
pub async fn dispatch(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    client: crate::client::ClientAddress,
    body: Bytes,
) -> Response {
    let url = uri.path().to_string();
    let head = method == Method::HEAD;
    match handle(state, method, &url, &headers, client, body).await {
        Ok(response) => response,
        Err(error) if head => error.status().into_response(),
        Err(error) => error.into_misp_response(&url),
    }
}

async fn handle(
    state: AppState,
    method: Method,
    url: &str,
    headers: &HeaderMap,
    client: crate::client::ClientAddress,
    body: Bytes,
) -> ApiResult<Response> {
    let path = MispPath::parse(&method, url)
        .ok_or_else(|| ApiError::NotFound(format!("Could not find {url}.")))?;
    let now = now();
    let principal = authenticate(&state, headers, client, now).await?;
    crate::auth::refuse_writes_of_read_only_key(&principal, &method, &path)?;
    event_uploads::refuse_stix_1(&path, &body)?;
    let body = parse_body(&body)?;
    let call = Call {
        state,
        method,
        path,
        url: url.to_string(),
        body,
        principal,
        now,
        headers: headers.clone(),
    };
    if call.is_head()
        && !matches!(
            call.path.action.as_str(),
            "view" | "getversion" | "getpymispversion"
        )
    {
        return Err(ApiError::MethodNotAllowed(
            "HEAD is only supported on view actions.".into(),
        ));
    }
    acl::check(&call)?;
    let response = match call.path.controller.as_str() {
        "servers" => servers::handle(&call).await,
        "users" => users::handle(&call).await,
        "events" => events::handle(&call).await,
        "attributes" => attributes::handle(&call).await,
        "objects" => objects::handle(&call).await,
        "eventreports" => event_reports::handle(&call).await,
        "objectreferences" => object_references::handle(&call).await,
        "tags" => tags::handle(&call).await,
        "organisations" => organisations::handle(&call).await,
        "warninglists" => warninglists::handle(&call).await,
        "sightings" => sightings::handle(&call).await,
        "sharinggroups" => sharing_groups::handle(&call).await,
        "roles" => roles::handle(&call).await,
        "feeds" => feeds::handle(&call).await,
        "authkeys" => auth_keys::handle(&call).await,
        "logs" | "auditlogs" => audit_logs::handle(&call).await,
        // Kizuna's own endpoints: a controller name MISP does not have.
        "kizuna" => crate::federated::handle(&call).await,
        "taxiicollections" => taxii_collections::handle(&call).await,
        "eventblocklists" => blocklists::handle(&call, kizuna_store::BlocklistKind::Event).await,
        "orgblocklists" => {
            blocklists::handle(&call, kizuna_store::BlocklistKind::Organisation).await
        }
        _ => Err(unknown_action(&call)),
    }?;
    Ok(crate::audit::record_write(&call, headers, client, response).await)
}

pub(crate) fn unknown_action(call: &Call) -> ApiError {
    ApiError::NotFound(format!(
        "The requested action {} was not found on this server.",
        call.url
    ))
}

/// Requests with no body, or whitespace only, have none; anything else must be JSON.
fn parse_body(body: &Bytes) -> ApiResult<Option<Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|error| {
        ApiError::BadRequest(format!("Malformed JSON in the request body: {error}"))
    })
}

/// Answer to a GET on a write endpoint: MISP describes the endpoint instead of acting.
pub(crate) fn describe_endpoint(
    call: &Call,
    name: &str,
    mandatory: &[&str],
    optional: &[&str],
) -> Response {
    json_response(json!({
        "name": format!("{name} API description"),
        "description": format!("POST a JSON body to {} to use this endpoint.", call.url),
        "mandatory_fields": mandatory,
        "optional_fields": optional,
        "url": call.url,
    }))
}

/// The method check of write actions: GET describes, POST/PUT (and DELETE where allowed)
/// act, anything else is refused.
pub(crate) fn is_write(call: &Call, allow_delete: bool) -> ApiResult<bool> {
    match call.method {
        Method::POST | Method::PUT => Ok(true),
        Method::DELETE if allow_delete => Ok(true),
        Method::GET => Ok(false),
        _ => Err(ApiError::MethodNotAllowed(format!(
            "{} is not allowed on {}.",
            call.method, call.url
        ))),
    }
}

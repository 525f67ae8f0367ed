//! TAXII 2.1 (and 2.0) server: discovery, API roots, collections, objects, manifest,
//! versions and status resources under `/taxii2/` (2.0 under `/taxii/`).
//!
//! Collections are views over events (`view`): a saved restSearch filter read under the
//! caller's own visibility, each event rendered on its own with the STIX 2.1 export, in the
//! order this instance stored the events' changes (`events.local_change_us`, TAXII's
//! `date_added`). A writable collection turns POSTed objects into events of the caller's
//! organisation through the STIX import (`post`). Every failure answers with TAXII's error
//! resource (`error`), never MISP's shape.

pub mod admin;
mod api_root;
mod auth;
mod collections;
mod discovery;
mod error;
mod manifest;
mod media;
mod objects;
mod paging;
mod post;
mod status;
mod v20;
mod versions;
mod view;

use crate::AppState;
use crate::client::ClientAddress;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
pub use error::TaxiiError;
use kizuna_model::access::Viewer;
use kizuna_store::Principal;
use media::TaxiiVersion;
use std::collections::BTreeMap;

/// Adds the TAXII routes to the application's router.
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    router
        .route("/taxii2", any(handle_21))
        .route("/taxii2/", any(handle_21))
        .route("/taxii2/{*rest}", any(handle_21))
        .route("/taxii", any(handle_20))
        .route("/taxii/", any(handle_20))
        .route("/taxii/{*rest}", any(handle_20))
}

async fn handle_21(
    state: State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    client: ClientAddress,
    body: Body,
) -> Response {
    handle(state, TaxiiVersion::V21, method, uri, headers, client, body).await
}

async fn handle_20(
    state: State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    client: ClientAddress,
    body: Body,
) -> Response {
    handle(state, TaxiiVersion::V20, method, uri, headers, client, body).await
}

async fn handle(
    State(state): State<AppState>,
    version: TaxiiVersion,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    client: ClientAddress,
    body: Body,
) -> Response {
    let head = method == Method::HEAD;
    let result = route(state, version, method, &uri, &headers, client, body).await;
    let mut response = match result {
        Ok(response) => response,
        Err(error) => error.into_response_for(version),
    };
    if head {
        *response.body_mut() = Body::empty();
    }
    response
}

/// One TAXII resource a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Resource {
    Discovery,
    ApiRoot,
    Status(String),
    Collections,
    Collection(String),
    Objects(String),
    Object(String, String),
    Versions(String, String),
    Manifest(String),
}

/// The API root's name in URLs (one root per version).
pub(crate) const API_ROOT: &str = "root";

fn parse_path(version: TaxiiVersion, path: &str) -> Option<Resource> {
    let prefix = version.prefix();
    let rest = if path == prefix.trim_end_matches('/') {
        ""
    } else {
        path.strip_prefix(prefix)?
    };
    let parts: Vec<&str> = rest.split('/').filter(|part| !part.is_empty()).collect();
    let owned = |text: &str| text.to_string();
    Some(match parts[..] {
        [] => Resource::Discovery,
        [API_ROOT] => Resource::ApiRoot,
        [API_ROOT, "status", id] if version == TaxiiVersion::V21 => Resource::Status(owned(id)),
        [API_ROOT, "collections"] => Resource::Collections,
        [API_ROOT, "collections", id] => Resource::Collection(owned(id)),
        [API_ROOT, "collections", id, "objects"] => Resource::Objects(owned(id)),
        [API_ROOT, "collections", id, "manifest"] => Resource::Manifest(owned(id)),
        [API_ROOT, "collections", id, "objects", object] => {
            Resource::Object(owned(id), owned(object))
        }
        [API_ROOT, "collections", id, "objects", object, "versions"]
            if version == TaxiiVersion::V21 =>
        {
            Resource::Versions(owned(id), owned(object))
        }
        _ => return None,
    })
}

/// The methods a resource answers.
fn allowed_methods(version: TaxiiVersion, resource: &Resource) -> &'static [Method] {
    match (version, resource) {
        (TaxiiVersion::V21, Resource::Objects(_)) => &[Method::GET, Method::HEAD, Method::POST],
        (TaxiiVersion::V21, Resource::Object(..)) => &[Method::GET, Method::HEAD, Method::DELETE],
        _ => &[Method::GET, Method::HEAD],
    }
}

/// One authenticated TAXII request.
pub(crate) struct TaxiiCall {
    pub state: AppState,
    pub version: TaxiiVersion,
    pub principal: Principal,
    pub viewer: Viewer,
    pub headers: HeaderMap,
    pub client: ClientAddress,
    /// Query parameters by name (the last value of a repeated one wins).
    pub query: BTreeMap<String, String>,
    pub now: i64,
}

impl TaxiiCall {
    pub fn is_site_admin(&self) -> bool {
        self.principal.role.permissions.perm_site_admin
    }

    /// Writes the audit log entry of a successful TAXII write (as the MISP API's writes
    /// are audited).
    pub async fn audit(&self, write: crate::audit::DescribedWrite) {
        crate::audit::record_described_write(
            &self.state,
            &self.principal,
            &self.headers,
            self.client,
            self.now,
            write,
        )
        .await;
    }
}

/// `<base_url>/taxii2/root/` (or the 2.0 root).
pub(crate) fn api_root_url(state: &AppState, version: TaxiiVersion) -> String {
    format!(
        "{}{}{API_ROOT}/",
        state.settings.base_url.trim_end_matches('/'),
        version.prefix()
    )
}

async fn route(
    state: AppState,
    version: TaxiiVersion,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    client: ClientAddress,
    body: Body,
) -> Result<Response, TaxiiError> {
    let resource = parse_path(version, uri.path())
        .ok_or_else(|| TaxiiError::not_found(format!("{} names no TAXII resource.", uri.path())))?;
    let allowed = allowed_methods(version, &resource);
    if !allowed.contains(&method) {
        return Err(TaxiiError::method_not_allowed(&method, allowed));
    }
    media::check_accept(version, &resource, headers)?;
    let now = crate::now();
    let query = parse_query(uri.query().unwrap_or(""))?;
    if resource == Resource::Discovery && !auth::offers_credentials(headers) {
        return discovery::anonymous(&state, version);
    }
    let principal = auth::authenticate(&state, headers, client, now).await?;
    let viewer = viewer_of(&state, &principal).await?;
    let call = TaxiiCall {
        state,
        version,
        principal,
        viewer,
        headers: headers.clone(),
        client,
        query,
        now,
    };
    match (version, resource, method) {
        (_, Resource::Discovery, _) => discovery::get(&call),
        (_, Resource::ApiRoot, _) => api_root::get(&call),
        (_, Resource::Status(id), _) => status::get(&call, &id).await,
        (_, Resource::Collections, _) => collections::list(&call).await,
        (_, Resource::Collection(id), _) => collections::get(&call, &id).await,
        (TaxiiVersion::V20, Resource::Objects(id), _) => v20::objects(&call, &id).await,
        (TaxiiVersion::V20, Resource::Manifest(id), _) => v20::manifest(&call, &id).await,
        (TaxiiVersion::V20, Resource::Object(id, object), _) => {
            v20::object(&call, &id, &object).await
        }
        (_, Resource::Objects(id), Method::POST) => post::add_objects(&call, &id, body).await,
        (_, Resource::Objects(id), _) => objects::list(&call, &id).await,
        (_, Resource::Object(id, object), Method::DELETE) => {
            objects::delete(&call, &id, &object).await
        }
        (_, Resource::Object(id, object), _) => objects::get(&call, &id, &object).await,
        (_, Resource::Versions(id, object), _) => versions::get(&call, &id, &object).await,
        (_, Resource::Manifest(id), _) => manifest::get(&call, &id).await,
    }
}

/// The caller as MISP's access rules see it (the same rule restSearch applies).
async fn viewer_of(state: &AppState, principal: &Principal) -> Result<Viewer, TaxiiError> {
    if principal.role.permissions.perm_site_admin {
        return Ok(Viewer::SiteAdmin);
    }
    let org_id = principal.user.org_id;
    Ok(
        Viewer::organisation(org_id, state.store.authorised_sharing_groups(org_id).await?)
            .with_unpublished_private(state.settings.unpublished_private),
    )
}

/// Query parameters, percent-decoded (`match[type]=indicator,malware`).
fn parse_query(query: &str) -> Result<BTreeMap<String, String>, TaxiiError> {
    let mut parameters = BTreeMap::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |text: &str| {
            percent_decode(text).ok_or_else(|| {
                TaxiiError::bad_request(format!("The query parameter {name:?} is not valid UTF-8."))
            })
        };
        parameters.insert(decode(name)?, decode(value)?);
    }
    Ok(parameters)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                index += 3;
            }
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A TAXII answer: `body` with the version's TAXII media type and `status`.
pub(crate) fn taxii_response(version: TaxiiVersion, status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(version.taxii_media_type()),
    );
    response
}

/// RFC 3339 with microseconds, as TAXII's `date_added` and its headers carry it.
pub(crate) fn timestamp_text(micros: i64) -> String {
    let moment = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        moment.year(),
        u8::from(moment.month()),
        moment.day(),
        moment.hour(),
        moment.minute(),
        moment.second(),
        moment.microsecond()
    )
}

/// A STIX/TAXII timestamp (RFC 3339, any fraction) as microseconds since the epoch.
/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`
const MAX_PLAIN_TIMESTAMP_BYTES: usize = 27;

pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    // The form nearly every STIX timestamp has, `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (at most
    // six fraction digits, so no rounding question), read without the general parser.
    if text.len() <= MAX_PLAIN_TIMESTAMP_BYTES
        && let Some(micros) = kizuna_formats::misp::input::utc_timestamp_micros(text.as_bytes())
    {
        return Some(micros);
    }
    let moment =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .ok()?;
    i64::try_from(moment.unix_timestamp_nanos() / 1000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_the_same_with_or_without_the_fast_path() {
        let general = |text: &str| {
            let moment = time::OffsetDateTime::parse(
                text.trim(),
                &time::format_description::well_known::Rfc3339,
            )
            .ok()?;
            i64::try_from(moment.unix_timestamp_nanos() / 1000).ok()
        };
        for text in [
            "2026-01-05T08:00:50.000Z",
            "2026-01-05T08:00:50Z",
            "2026-01-05T08:00:50.1Z",
            "2026-01-05T08:00:50.123456Z",
            "2026-01-05T08:00:50.1234567Z",
            "1969-12-31T23:59:59.5Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "2024-02-29T12:00:00Z",
            "2023-02-29T12:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-05T24:00:00Z",
            "2026-01-05T23:60:00Z",
            "2016-12-31T23:59:60Z",
            "2026-01-05t08:00:50z",
            "2026-01-05T08:00:50+00:00",
            "2026-01-05T08:00:50.Z",
            " 2026-01-05T08:00:50Z ",
            "2026-01-05 08:00:50Z",
            "+2026-01-05T08:00:50Z",
        ] {
            assert_eq!(parse_timestamp(text), general(text), "{text:?}");
        }
    }

    #[test]
    fn paths_name_resources_with_or_without_the_trailing_slash() {
        let v21 = TaxiiVersion::V21;
        assert_eq!(parse_path(v21, "/taxii2/"), Some(Resource::Discovery));
        assert_eq!(parse_path(v21, "/taxii2"), Some(Resource::Discovery));
        assert_eq!(parse_path(v21, "/taxii2/root"), Some(Resource::ApiRoot));
        assert_eq!(
            parse_path(
                v21,
                "/taxii2/root/collections/c1/objects/indicator--x/versions/"
            ),
            Some(Resource::Versions("c1".into(), "indicator--x".into()))
        );
        assert_eq!(parse_path(v21, "/taxii2/other/"), None);
        assert_eq!(parse_path(TaxiiVersion::V20, "/taxii/root/status/x/"), None);
        assert_eq!(
            parse_path(TaxiiVersion::V20, "/taxii/root/collections/c/manifest/"),
            Some(Resource::Manifest("c".into()))
        );
    }

    #[test]
    fn query_parameters_are_decoded() {
        let query = parse_query("match%5Btype%5D=indicator%2Cmalware&limit=5").unwrap();
        assert_eq!(query["match[type]"], "indicator,malware");
        assert_eq!(query["limit"], "5");
    }

    #[test]
    fn timestamps_keep_microseconds() {
        let micros = 1_795_000_000_123_456;
        let text = timestamp_text(micros);
        assert!(text.ends_with(".123456Z"), "{text}");
        assert_eq!(parse_timestamp(&text), Some(micros));
        assert_eq!(
            parse_timestamp("2026-11-22T10:00:00Z"),
            Some(1_795_341_600_000_000)
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}

//! The calls a sync client makes to a remote MISP-compatible instance (MISP's
//! ServerSyncTool): every request carries the sync user's key, asks for JSON, is bounded in
//! time by the server's timeout and in size by [`MAX_EVENT_BYTES`], and fails with a
//! [`RemoteError`] that says what went wrong in words an administrator can act on.

use kizuna_formats::misp::input::{lenient_bool, lenient_i64};
use kizuna_store::Server;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use std::time::Duration;

/// The largest answer read from a remote: a whole event with its attachments.
pub const MAX_EVENT_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} refused the sync user's key (HTTP {status}): {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} answered HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
        /// The `Location` header, which an add of a known event carries.
        location: Option<String>,
    },
    #[error("{url} did not answer JSON of the expected shape: {reason}")]
    Garbage { url: String, reason: String },
    #[error("{url}: {reason}")]
    TooLarge { url: String, reason: String },
}

impl RemoteError {
    pub fn status(&self) -> Option<u16> {
        match self {
            RemoteError::Refused { status, .. } | RemoteError::Status { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// What `/servers/getVersion` said about the remote and our sync user there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteVersion {
    pub version: String,
    pub perm_sync: bool,
    pub perm_sighting: bool,
    pub uuid: String,
    pub request_encoding: Option<Value>,
}

impl RemoteVersion {
    /// (major, minor, hotfix) when the version is `^\d+\.\d+\.\d+$`, as MISP requires.
    pub fn parts(&self) -> Option<(u64, u64, u64)> {
        let mut numbers = self.version.split('.').map(|part| {
            (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
                .then(|| part.parse::<u64>().ok())
                .flatten()
        });
        let parts = (numbers.next()??, numbers.next()??, numbers.next()??);
        numbers.next().is_none().then_some(parts)
    }

    /// Sync speaks MISP 2.x's protocol: another major version is refused.
    pub fn check_compatible(&self) -> Result<(), String> {
        match self.parts() {
            Some((2, _, _)) => Ok(()),
            Some(_) => Err(format!(
                "the remote runs version {}, which does not speak MISP 2.x's sync protocol",
                self.version
            )),
            None => Err(format!(
                "the remote reports the version {:?}, not MAJOR.MINOR.HOTFIX",
                self.version
            )),
        }
    }
}

/// One row of the remote's minimal event index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub id: i64,
    pub uuid: String,
    pub timestamp: i64,
    pub sighting_timestamp: i64,
    pub published: bool,
    pub orgc_uuid: String,
}

/// The remote's event index, or its word that it has not changed.
#[derive(Clone, Debug)]
pub enum IndexAnswer {
    NotModified,
    Fresh {
        entries: Vec<IndexEntry>,
        etag: Option<String>,
    },
}

/// How the remote took an event we sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upload {
    Saved,
    /// Its copy is as new as ours (MISP's benign 403 "not newer").
    AlreadyCurrent,
}

/// A connection to one remote.
#[derive(Clone, Debug)]
pub struct Remote {
    base_url: String,
    authkey: String,
    timeout: Duration,
    client: reqwest::Client,
}

impl Remote {
    pub fn new(server: &Server) -> Result<Remote, RemoteError> {
        let base_url = server.url.trim_end_matches('/').to_string();
        let client =
            crate::http::client_for(&crate::http::RemoteTls::of(server)).map_err(|reason| {
                RemoteError::Unreachable {
                    url: base_url.clone(),
                    reason,
                }
            })?;
        Ok(Remote {
            base_url,
            authkey: server.authkey.clone(),
            timeout: Duration::from_secs(server.timeout_seconds.clamp(1, 3600) as u64),
            client,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_none_match: Option<&str>,
    ) -> Result<reqwest::Response, RemoteError> {
        let url = self.url(path);
        let mut request = self
            .client
            .request(method, &url)
            .timeout(self.timeout)
            .header(header::AUTHORIZATION, &self.authkey)
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(etag) = if_none_match.filter(|etag| !etag.is_empty()) {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        request
            .send()
            .await
            .map_err(|error| RemoteError::Unreachable {
                url,
                reason: describe_transport_error(&error),
            })
    }

    /// The body of a successful answer as JSON; other statuses become errors.
    async fn json_of(&self, path: &str, response: reqwest::Response) -> Result<Value, RemoteError> {
        let bytes = self.body_of(path, response).await?;
        serde_json::from_slice(&bytes).map_err(|error| RemoteError::Garbage {
            url: self.url(path),
            reason: error.to_string(),
        })
    }

    /// The body of a successful answer; other statuses become errors.
    async fn body_of(
        &self,
        path: &str,
        response: reqwest::Response,
    ) -> Result<Vec<u8>, RemoteError> {
        let url = self.url(path);
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let bytes = crate::http::read_limited(response, MAX_EVENT_BYTES)
            .await
            .map_err(|reason| {
                if reason.contains("larger than") {
                    RemoteError::TooLarge {
                        url: url.clone(),
                        reason,
                    }
                } else {
                    RemoteError::Unreachable {
                        url: url.clone(),
                        reason,
                    }
                }
            })?;
        if !status.is_success() {
            let message = error_message(&bytes);
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                    if path == "/servers/getVersion" =>
                {
                    RemoteError::Refused {
                        url,
                        status: status.as_u16(),
                        message,
                    }
                }
                _ => RemoteError::Status {
                    url,
                    status: status.as_u16(),
                    message,
                    location,
                },
            });
        }
        Ok(bytes)
    }

    async fn get_json(&self, path: &str) -> Result<Value, RemoteError> {
        let response = self.send(Method::GET, path, None, None).await?;
        self.json_of(path, response).await
    }

    async fn post_json(&self, path: &str, body: &Value) -> Result<Value, RemoteError> {
        let response = self.send(Method::POST, path, Some(body), None).await?;
        self.json_of(path, response).await
    }

    fn garbage(&self, path: &str, reason: impl Into<String>) -> RemoteError {
        RemoteError::Garbage {
            url: self.url(path),
            reason: reason.into(),
        }
    }

    pub async fn version(&self) -> Result<RemoteVersion, RemoteError> {
        const PATH: &str = "/servers/getVersion";
        let body = self.get_json(PATH).await?;
        let version = body
            .get("version")
            .and_then(Value::as_str)
            .ok_or_else(|| self.garbage(PATH, "no `version`"))?
            .to_string();
        let flag = |name: &str| body.get(name).and_then(lenient_bool).unwrap_or(false);
        Ok(RemoteVersion {
            version,
            perm_sync: flag("perm_sync"),
            perm_sighting: flag("perm_sighting"),
            uuid: body
                .get("uuid")
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_string(),
            request_encoding: body.get("request_encoding").cloned(),
        })
    }

    /// `POST /events/index` with `filters`, sending `etag` back as `If-None-Match`.
    pub async fn event_index(
        &self,
        filters: &Value,
        etag: Option<&str>,
    ) -> Result<IndexAnswer, RemoteError> {
        const PATH: &str = "/events/index";
        let response = self.send(Method::POST, PATH, Some(filters), etag).await?;
        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(IndexAnswer::NotModified);
        }
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let body = self.json_of(PATH, response).await?;
        let Value::Array(rows) = body else {
            return Err(self.garbage(PATH, "the index is not a JSON array"));
        };
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            let row = row.get("Event").unwrap_or(row);
            let uuid = row
                .get("uuid")
                .and_then(Value::as_str)
                .filter(|uuid| kizuna_formats::misp::input::is_uuid(uuid))
                .ok_or_else(|| self.garbage(PATH, "an index row has no valid `uuid`"))?;
            let number = |name: &str| row.get(name).and_then(lenient_i64).unwrap_or(0);
            entries.push(IndexEntry {
                id: number("id"),
                uuid: uuid.to_ascii_lowercase(),
                timestamp: number("timestamp"),
                sighting_timestamp: number("sighting_timestamp"),
                published: row.get("published").and_then(lenient_bool).unwrap_or(false),
                orgc_uuid: row
                    .get("orgc_uuid")
                    .or_else(|| row.get("Orgc").and_then(|orgc| orgc.get("uuid")))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        Ok(IndexAnswer::Fresh { entries, etag })
    }

    /// One event as a pulling peer asks for it: deleted items included (soft deletion
    /// travels), no galaxies or correlations, no local tags.
    pub async fn event(&self, uuid: &str) -> Result<Value, RemoteError> {
        let path = format!(
            "/events/view/{uuid}/deleted[]:0/deleted[]:1/excludeGalaxy:1/includeEventCorrelations:0/includeFeedCorrelations:0/includeWarninglistHits:0/excludeLocalTags:1"
        );
        let body = self.get_json(&path).await?;
        match body.get("Event") {
            Some(Value::Object(_)) => Ok(body),
            _ => Err(self.garbage(&path, "no `Event` object")),
        }
    }

    /// The uuids among `offers` (uuid, timestamp) the remote wants.
    pub async fn filter_event_ids_for_push(
        &self,
        offers: &[(String, i64)],
    ) -> Result<Vec<String>, RemoteError> {
        const PATH: &str = "/events/filterEventIdsForPush";
        let body: Vec<Value> = offers
            .iter()
            .map(|(uuid, timestamp)| {
                json!({"Event": {"uuid": uuid, "timestamp": timestamp.to_string()}})
            })
            .collect();
        let answer = self.post_json(PATH, &Value::Array(body)).await?;
        let Value::Array(uuids) = answer else {
            return Err(self.garbage(PATH, "the answer is not a JSON array of uuids"));
        };
        Ok(uuids
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .collect())
    }

    /// Whether the remote holds the event (`HEAD /events/view/<uuid>`).
    pub async fn has_event(&self, uuid: &str) -> Result<bool, RemoteError> {
        let path = format!("/events/view/{uuid}");
        let response = self.send(Method::HEAD, &path, None, None).await?;
        match response.status() {
            status if status.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(RemoteError::Status {
                url: self.url(&path),
                status: status.as_u16(),
                message: "HEAD on the event failed".into(),
                location: None,
            }),
        }
    }

    /// Sends a whole event: edit when the remote has it, add otherwise (retrying as an edit
    /// when the add finds it after all).
    pub async fn upload_event(&self, uuid: &str, event: &Value) -> Result<Upload, RemoteError> {
        let outcome = if self.has_event(uuid).await? {
            self.post_json(&format!("/events/edit/{uuid}/metadata:1"), event)
                .await
        } else {
            match self.post_json("/events/add/metadata:1", event).await {
                Err(RemoteError::Status {
                    status: 404,
                    location: Some(_),
                    ..
                }) => {
                    self.post_json(&format!("/events/edit/{uuid}/metadata:1"), event)
                        .await
                }
                other => other,
            }
        };
        match outcome {
            Ok(_) => Ok(Upload::Saved),
            Err(RemoteError::Status {
                status: 403,
                ref message,
                ..
            }) if message.contains("not newer") => Ok(Upload::AlreadyCurrent),
            Err(other) => Err(other),
        }
    }

    /// The sightings of these events that the remote lets us see.
    pub async fn sightings_of_events(&self, uuids: &[String]) -> Result<Vec<Value>, RemoteError> {
        const PATH: &str = "/sightings/restSearch/event";
        let body = json!({
            "returnFormat": "json",
            "last": 0,
            "includeUuid": true,
            "uuid": uuids,
        });
        let answer = self.post_json(PATH, &body).await?;
        let rows = match answer.get("response").unwrap_or(&answer) {
            Value::Array(rows) => rows.clone(),
            _ => return Err(self.garbage(PATH, "no `response` array")),
        };
        Ok(rows
            .into_iter()
            .map(|row| match row {
                Value::Object(mut map) if map.contains_key("Sighting") => {
                    map.remove("Sighting").unwrap_or(Value::Null)
                }
                other => other,
            })
            .collect())
    }

    /// Which of these sighting uuids the remote already holds for the event.
    pub async fn known_sightings(
        &self,
        event_uuid: &str,
        uuids: &[String],
    ) -> Result<Vec<String>, RemoteError> {
        let path = format!("/sightings/filterSightingUuidsForPush/{event_uuid}");
        let answer = self.post_json(&path, &json!(uuids)).await?;
        let Value::Array(known) = answer else {
            return Err(self.garbage(&path, "the answer is not a JSON array of uuids"));
        };
        Ok(known
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect())
    }

    pub async fn save_sightings(
        &self,
        event_uuid: &str,
        sightings: &[Value],
    ) -> Result<(), RemoteError> {
        let path = format!("/sightings/bulkSaveSightings/{event_uuid}");
        self.post_json(&path, &Value::Array(sightings.to_vec()))
            .await
            .map(|_| ())
    }

    /// One page of the remote's attribute cache (MISP's restSearch `returnFormat: cache` with
    /// event uuids): `md5,event uuid` lines; an empty page is the end.
    pub async fn attribute_cache_page(
        &self,
        page: u64,
        limit: u64,
    ) -> Result<Vec<(String, String)>, RemoteError> {
        const PATH: &str = "/attributes/restSearch";
        let body = json!({
            "returnFormat": "cache",
            "includeEventUuid": 1,
            "page": page,
            "limit": limit,
        });
        let response = self.send(Method::POST, PATH, Some(&body), None).await?;
        let bytes = self.body_of(PATH, response).await?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| self.garbage(PATH, "the cache page is not UTF-8 text"))?;
        let mut entries = Vec::new();
        for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
            let (digest, event_uuid) = line.split_once(',').unwrap_or((line, ""));
            let digest = digest.trim().to_ascii_lowercase();
            if digest.len() != 32 || !digest.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                let shown: String = line.chars().take(80).collect();
                return Err(self.garbage(
                    PATH,
                    format!("a cache line is not `md5,event uuid`: {shown:?}"),
                ));
            }
            entries.push((digest, event_uuid.trim().to_ascii_lowercase()));
        }
        Ok(entries)
    }

    /// `POST /servers/postTest`: the answer (and its `Content-Encoding`) to the test text.
    pub async fn post_test(&self, payload: &str) -> Result<(Value, Option<String>), RemoteError> {
        const PATH: &str = "/servers/postTest";
        let response = self
            .send(
                Method::POST,
                PATH,
                Some(&json!({"testString": payload})),
                None,
            )
            .await?;
        let encoding = response
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        Ok((self.json_of(PATH, response).await?, encoding))
    }
}

fn describe_transport_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "the request timed out".into()
    } else if error.is_connect() {
        // The causes say whether nothing listened or the TLS handshake failed, and why
        // (an unknown issuer, a refused client certificate).
        let causes = std::error::Error::source(error)
            .map(crate::http::error_chain)
            .unwrap_or_default();
        if causes.is_empty() {
            "the connection failed".into()
        } else {
            format!("the connection failed: {causes}")
        }
    } else {
        crate::http::error_chain(error)
    }
}

/// MISP's `message` (or `name`) of an error body; the start of the text otherwise.
fn error_message(bytes: &[u8]) -> String {
    if let Ok(body) = serde_json::from_slice::<Value>(bytes) {
        let mut message = body
            .get("message")
            .or_else(|| body.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some(errors) = body.get("errors") {
            message.push(' ');
            message.push_str(&errors.to_string());
        }
        if !message.trim().is_empty() {
            return message.trim().to_string();
        }
    }
    let text = String::from_utf8_lossy(bytes);
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> RemoteVersion {
        RemoteVersion {
            version: text.into(),
            perm_sync: true,
            perm_sighting: true,
            uuid: "-".into(),
            request_encoding: None,
        }
    }

    #[test]
    fn only_misp_2_versions_are_compatible() {
        assert!(version("2.5.1").check_compatible().is_ok());
        assert!(version("2.4.180").check_compatible().is_ok());
        assert!(version("3.0.0").check_compatible().is_err());
        assert!(version("1.0.0").check_compatible().is_err());
        assert!(version("2.5").check_compatible().is_err());
        assert!(version("2.5.1-rc1").check_compatible().is_err());
    }

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(
            error_message(br#"{"name":"x","message":"Event blocked","url":"/"}"#),
            "Event blocked"
        );
        assert_eq!(error_message(b"<html>oops</html>"), "<html>oops</html>");
    }
}

//! TAXII 2.1 (and 2.0) client: reads a remote collection page by page into local events, for
//! `kizuna taxii pull` and feeds with `source_format: "taxii"`.
//!
//! Paging: 2.1 follows `more`/`next`; a server that says `more` without a `next` is followed
//! by `added_after` = the page's `X-TAXII-Date-Added-Last`. 2.0 pages with `Range: items a-b`
//! until `Content-Range` reaches the total or the server answers 416. A repeated `next`, an
//! `added_after` that does not advance, an empty page that claims more, or more pages than
//! allowed stop the run with an error, so a broken server cannot keep it going forever.
//!
//! Incremental runs: the cursor is the greatest `X-TAXII-Date-Added-Last` seen, sent as
//! `added_after` next time. A server without that header gives no cursor, and every run
//! reads the whole collection (the report says so); what is already stored is then left
//! unchanged.
//!
//! Import: pages are imported as they arrive through the STIX import and
//! [`crate::import::import_event`], so memory stays bounded over any number of pages. One
//! report's objects may be spread over several pages, in either order, so objects wait in an
//! [`Assembly`] before import: a report or grouping waits until every object it refers to
//! has arrived (or the run ends), and objects no report has claimed yet wait for two pages'
//! worth of later objects, so that a report arriving just after its members still gets them.
//! Everything released together becomes one STIX bundle: one event per report, one event
//! for the objects no report holds.
//!
//! Identifiers: the STIX import names attributes after their STIX ids, and attribute uuids
//! are unique across events. An object seen again in a later run (a new version, or a page
//! cut differently) is therefore applied to the event already holding it when it comes
//! without a report, and gets a uuid of its own (derived from the report's event) when a
//! second report holds it too, as within one bundle.

use crate::import::{ImportSettings, ImportSummary, import_event};
use kizuna_formats::misp::input::{is_uuid, parse_datetime_micros};
use kizuna_formats::stix::import::{StixImportOptions, bundle_to_misp_events};
use kizuna_model::access::Viewer;
use kizuna_store::{Key, Store, StoreError, redact_url};
use reqwest::header::{ACCEPT, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;

/// TAXII 2.1 resources (discovery, collections, envelopes, errors).
pub const TAXII_21: &str = "application/taxii+json;version=2.1";
/// TAXII 2.0 resources.
pub const TAXII_20: &str = "application/vnd.oasis.taxii+json; version=2.0";
/// TAXII 2.0 objects: a STIX bundle.
pub const STIX_20: &str = "application/vnd.oasis.stix+json; version=2.0";

/// Objects asked for per page unless told otherwise.
pub const DEFAULT_LIMIT: u32 = 1000;
/// Largest page size a client may ask for.
pub const MAX_LIMIT: u32 = 10_000;
/// Pages one run reads at most (a hundred million objects at the default page size).
pub const DEFAULT_MAX_PAGES: u64 = 100_000;
/// Largest page body accepted.
pub const DEFAULT_MAX_PAGE_BYTES: u64 = 256 * 1024 * 1024;
/// Error bodies are read this far only.
const MAX_ERROR_BYTES: u64 = 64 * 1024;
/// Rejections kept in a report; the rest are counted.
const KEPT_REJECTIONS: usize = 100;
/// Objects waiting for their report, or claimed by none yet, beyond which everything waiting
/// is imported as it is.
const MAX_HELD_OBJECTS: usize = 50_000;
/// Identities, marking definitions and relationships remembered for the objects of later
/// pages that refer to them.
const MAX_SUPPORT_OBJECTS: usize = 20_000;

/// Namespace of the uuids given to objects a second report holds.
const TAXII_NAMESPACE: uuid::Uuid = uuid::uuid!("5d0e8f51-3a53-4b8e-9a43-6a1c2f0c7e21");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaxiiVersion {
    V21,
    V20,
}

impl TaxiiVersion {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "2.1" => Some(TaxiiVersion::V21),
            "2.0" => Some(TaxiiVersion::V20),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaxiiVersion::V21 => "2.1",
            TaxiiVersion::V20 => "2.0",
        }
    }
}

/// How the client proves who it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Credentials {
    #[default]
    None,
    /// HTTP Basic (Kizuna: the user's e-mail and an API key).
    Basic { user: String, password: String },
    /// A whole `Authorization` value: a MISP key, `Bearer …`, `Basic …`.
    Authorization(String),
}

/// What to read and how.
#[derive(Clone, Debug)]
pub struct PullOptions {
    /// An API root (`https://host/taxii2/root/`) or a discovery URL (`https://host/taxii2/`)
    /// whose default API root is used.
    pub url: String,
    /// The collection's id, or its alias or title.
    pub collection: String,
    /// None: TAXII 2.1, switching to 2.0 when the server answers with 2.0 media types.
    pub version: Option<TaxiiVersion>,
    pub credentials: Credentials,
    /// More request headers (a feed's `headers` lines).
    pub headers: Vec<(String, String)>,
    /// Only objects the server added after this timestamp.
    pub added_after: Option<String>,
    pub limit: u32,
    /// `match[type]`: only these STIX types.
    pub match_types: Vec<String>,
    pub max_pages: u64,
    pub max_page_bytes: u64,
    /// The server's CA instead of the system roots, a client certificate, any
    /// certificate accepted, the environment's proxy bypassed.
    pub tls: crate::http::RemoteTls,
}

impl PullOptions {
    pub fn new(url: impl Into<String>, collection: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            collection: collection.into(),
            version: None,
            credentials: Credentials::None,
            headers: Vec::new(),
            added_after: None,
            limit: DEFAULT_LIMIT,
            match_types: Vec::new(),
            max_pages: DEFAULT_MAX_PAGES,
            max_page_bytes: DEFAULT_MAX_PAGE_BYTES,
            tls: crate::http::RemoteTls::default(),
        }
    }
}

/// Why a pull could not start or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum TaxiiError {
    /// The options make no sense (a bad URL, limit or timestamp).
    #[error("{0}")]
    Invalid(String),
    /// No answer: connection refused, DNS, TLS, timeout.
    #[error("{0}")]
    Unreachable(String),
    /// The server refused, with its error resource when it sent one.
    #[error("{request}: HTTP {status}{}", describe_refusal(title, description))]
    Refused {
        request: String,
        status: u16,
        title: String,
        description: String,
    },
    /// The collection does not exist or these credentials may not read it.
    #[error("{0}")]
    Collection(String),
    /// The answer is not TAXII: wrong media type, not JSON, not the expected resource.
    #[error("{0}")]
    NotTaxii(String),
    /// The server's paging cannot be followed to the end.
    #[error("{0}")]
    Paging(String),
    #[error("database error: {0}")]
    Store(#[from] StoreError),
}

fn describe_refusal(title: &str, description: &str) -> String {
    match (title.is_empty(), description.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(" ({title})"),
        (true, false) => format!(" ({description})"),
        (false, false) => format!(" ({title}: {description})"),
    }
}

/// The collection read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteCollection {
    pub api_root: String,
    pub id: String,
    pub title: String,
    pub version: TaxiiVersion,
}

/// What one pull did.
#[derive(Debug)]
pub struct PullReport {
    pub collection: RemoteCollection,
    pub pages: u64,
    pub objects: u64,
    pub import: ImportSummary,
    /// Rejections in all; `import.rejected` keeps the first ones.
    pub rejected_total: u64,
    /// The next run's `added_after`: the greatest `X-TAXII-Date-Added-Last` seen, else the
    /// `added_after` this run was given.
    pub cursor: Option<String>,
    /// The server sent `X-TAXII-Date-Added-Last` on every page.
    pub server_dates: bool,
    /// The run stopped early; what was read before is imported.
    pub error: Option<TaxiiError>,
}

impl PullReport {
    /// One sentence on what was read and what the next run starts from.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "Read {} object(s) in {} page(s) of TAXII {} collection {:?} ({}).",
            self.objects,
            self.pages,
            self.collection.version.as_str(),
            self.collection.title,
            self.collection.id
        );
        if self.rejected_total > 0 {
            text.push_str(&format!(" {} item(s) rejected", self.rejected_total));
            if let Some(first) = self.import.rejected.first() {
                text.push_str(&format!(", first: {first}"));
            }
            text.push('.');
        }
        if !self.server_dates && self.pages > 0 {
            text.push_str(
                " The server sends no X-TAXII-Date-Added-Last, so every run reads the whole collection.",
            );
        } else if let Some(cursor) = &self.cursor {
            text.push_str(&format!(" Next run: added_after={cursor}."));
        }
        text
    }
}

/// Reads the collection `options` names into `store` as `settings` say. `creator`, when
/// given, is the `Orgc` of every event (a feed's `orgc_id`). Errors before the first page
/// are returned as such; an error later is in the report, after what was read is imported.
pub async fn pull_collection(
    store: &Store,
    options: &PullOptions,
    settings: &ImportSettings,
    creator: Option<Value>,
    now: i64,
) -> Result<PullReport, TaxiiError> {
    if !(1..=MAX_LIMIT).contains(&options.limit) {
        return Err(TaxiiError::Invalid(format!(
            "limit must be 1 to {MAX_LIMIT}, not {}",
            options.limit
        )));
    }
    if let Some(after) = &options.added_after
        && parse_datetime_micros(after).is_none()
    {
        return Err(TaxiiError::Invalid(format!(
            "added_after {after:?} is not a timestamp (e.g. 2024-05-01T12:00:00.000Z)"
        )));
    }
    let mut session = Session::new(options)?;
    let root = session.api_root(&options.url).await?;
    let collection = session.collection(&root, &options.collection).await?;
    let mut pager = Pager::new(&root, &collection.id, options)?;
    let source = format!(
        "TAXII collection {} at {}",
        collection.id,
        redact_url(root.as_str())
    );
    let mut report = PullReport {
        collection,
        pages: 0,
        objects: 0,
        import: ImportSummary::default(),
        rejected_total: 0,
        cursor: options.added_after.clone(),
        server_dates: true,
        error: None,
    };
    let importer = BatchImporter {
        store,
        settings,
        creator,
        source: &source,
        default_info: format!("TAXII collection {}", report.collection.title),
        now,
    };
    let window = (2 * options.limit as usize).max(1000);
    let mut assembly = Assembly::default();
    loop {
        let page = match pager.next_page(&mut session).await {
            Ok(Some(page)) => page,
            Ok(None) => break,
            Err(error) => {
                report.error = Some(error);
                break;
            }
        };
        report.pages += 1;
        report.objects += page.objects.len() as u64;
        match page.date_added_last {
            Some(last) => advance_cursor(&mut report.cursor, last),
            None => report.server_dates = false,
        }
        assembly.add(page.objects);
        let batch = assembly.release(false, window);
        if let Err(error) = importer.import(batch, &mut report).await {
            report.error = Some(error);
            break;
        }
    }
    let rest = assembly.release(true, 0);
    importer.import(rest, &mut report).await?;
    if !report.server_dates {
        // A cursor from some pages only would skip what the others held.
        report.cursor = options.added_after.clone();
    }
    Ok(report)
}

fn advance_cursor(cursor: &mut Option<String>, candidate: String) {
    let Some(candidate_at) = parse_datetime_micros(&candidate) else {
        return;
    };
    let newer = cursor
        .as_deref()
        .and_then(parse_datetime_micros)
        .is_none_or(|current| candidate_at > current);
    if newer {
        *cursor = Some(candidate);
    }
}

// ---------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------

/// What a request expects back.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Discovery, API root, collections: TAXII resources.
    Resource,
    /// Objects: an envelope (2.1) or a bundle (2.0).
    Objects,
}

struct Session {
    http: reqwest::Client,
    headers: HeaderMap,
    credentials: Credentials,
    version: TaxiiVersion,
    /// The version was not given and may still switch to 2.0.
    may_switch: bool,
    max_bytes: u64,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// The TAXII version a Content-Type names, if it is a TAXII (or, for 2.0, STIX) media type.
fn media_version(content_type: &str) -> Option<TaxiiVersion> {
    let compact: String = content_type
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let mut parts = compact.split(';');
    let essence = parts.next().unwrap_or_default();
    let version = parts.find_map(|part| part.strip_prefix("version="));
    match essence {
        "application/taxii+json" if version.is_none_or(|v| v == "2.1") => Some(TaxiiVersion::V21),
        "application/vnd.oasis.taxii+json" | "application/vnd.oasis.stix+json"
            if version.is_none_or(|v| v == "2.0") =>
        {
            Some(TaxiiVersion::V20)
        }
        _ => None,
    }
}

impl Session {
    fn new(options: &PullOptions) -> Result<Self, TaxiiError> {
        let mut headers = HeaderMap::new();
        for (name, value) in &options.headers {
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| TaxiiError::Invalid(format!("{name:?} is not a header name")))?;
            let value = HeaderValue::from_str(value.trim())
                .map_err(|_| TaxiiError::Invalid(format!("the value of {name} is not valid")))?;
            headers.append(name, value);
        }
        if let Credentials::Authorization(value) = &options.credentials {
            let value = HeaderValue::from_str(value.trim()).map_err(|_| {
                TaxiiError::Invalid("the Authorization value is not a valid header".into())
            })?;
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        Ok(Self {
            http: crate::http::client_for(&options.tls).map_err(TaxiiError::Invalid)?,
            headers,
            credentials: options.credentials.clone(),
            version: options.version.unwrap_or(TaxiiVersion::V21),
            may_switch: options.version.is_none(),
            max_bytes: options.max_page_bytes,
        })
    }

    fn accept(&self, expect: Expect) -> &'static str {
        match (self.version, expect) {
            (TaxiiVersion::V21, _) => TAXII_21,
            (TaxiiVersion::V20, Expect::Resource) => TAXII_20,
            (TaxiiVersion::V20, Expect::Objects) => STIX_20,
        }
    }

    /// GETs `url`; with a 2.1 request refused as 406 or answered in 2.0 media types and no
    /// version forced, the session speaks 2.0 from then on.
    async fn get(
        &mut self,
        url: &Url,
        expect: Expect,
        range: Option<(u64, u64)>,
    ) -> Result<Answer, TaxiiError> {
        loop {
            let shown = format!("GET {}", redact_url(url.as_str()));
            let mut request = self
                .http
                .get(url.clone())
                .headers(self.headers.clone())
                .header(ACCEPT, self.accept(expect));
            if let Credentials::Basic { user, password } = &self.credentials {
                request = request.basic_auth(user, Some(password));
            }
            if let Some((first, last)) = range {
                request = request.header(reqwest::header::RANGE, format!("items {first}-{last}"));
            }
            let response = request.send().await.map_err(|error| {
                TaxiiError::Unreachable(format!("{shown}: {}", error_chain(error)))
            })?;
            let status = response.status();
            let headers = response.headers().clone();
            let content_type = headers
                .get(CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if status == StatusCode::RANGE_NOT_SATISFIABLE && range.is_some() {
                return Ok(Answer {
                    status,
                    headers,
                    body: Value::Null,
                });
            }
            if !status.is_success() {
                if status == StatusCode::NOT_ACCEPTABLE && self.switch_to_20() {
                    continue;
                }
                let body = crate::http::read_limited(response, MAX_ERROR_BYTES)
                    .await
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
                    .unwrap_or(Value::Null);
                return Err(refusal(shown, status, &body));
            }
            let answered = media_version(&content_type);
            if answered != Some(self.version) {
                if answered == Some(TaxiiVersion::V20) && self.switch_to_20() {
                    continue;
                }
                let shown_type = if content_type.is_empty() {
                    "no Content-Type".to_string()
                } else {
                    format!("Content-Type {content_type:?}")
                };
                return Err(TaxiiError::NotTaxii(format!(
                    "{shown}: the server answered with {shown_type}, not {} (is this a TAXII {} server?)",
                    self.accept(expect),
                    self.version.as_str()
                )));
            }
            let bytes = crate::http::read_limited(response, self.max_bytes)
                .await
                .map_err(|problem| TaxiiError::Unreachable(format!("{shown}: {problem}")))?;
            let body: Value = serde_json::from_slice(&bytes).map_err(|error| {
                TaxiiError::NotTaxii(format!("{shown}: the answer is not valid JSON: {error}"))
            })?;
            if !body.is_object() {
                return Err(TaxiiError::NotTaxii(format!(
                    "{shown}: the answer is not a JSON object"
                )));
            }
            return Ok(Answer {
                status,
                headers,
                body,
            });
        }
    }

    fn switch_to_20(&mut self) -> bool {
        if self.may_switch && self.version == TaxiiVersion::V21 {
            self.version = TaxiiVersion::V20;
            self.may_switch = false;
            return true;
        }
        false
    }

    /// The API root `url` is, or the default one of the discovery resource it is.
    async fn api_root(&mut self, url: &str) -> Result<Url, TaxiiError> {
        let url = directory_url(url)?;
        let answer = self.get(&url, Expect::Resource, None).await?;
        let body = &answer.body;
        if body.get("api_roots").is_some() || body.get("default").is_some() {
            let chosen = body
                .get("default")
                .and_then(Value::as_str)
                .or_else(|| {
                    body.get("api_roots")
                        .and_then(Value::as_array)
                        .and_then(|roots| roots.first())
                        .and_then(Value::as_str)
                })
                .ok_or_else(|| {
                    TaxiiError::NotTaxii(format!(
                        "{}: the discovery resource names no API root; give an API root URL",
                        redact_url(url.as_str())
                    ))
                })?;
            let root = url.join(chosen).map_err(|error| {
                TaxiiError::NotTaxii(format!("the API root {chosen:?} is not a URL: {error}"))
            })?;
            return directory_url(root.as_str());
        }
        if body.get("title").is_some()
            && (body.get("versions").is_some() || body.get("max_content_length").is_some())
        {
            return Ok(url);
        }
        Err(TaxiiError::NotTaxii(format!(
            "{}: neither a TAXII discovery nor an API root resource",
            redact_url(url.as_str())
        )))
    }

    /// The collection `wanted` names (id, else alias or title), checked readable.
    async fn collection(
        &mut self,
        root: &Url,
        wanted: &str,
    ) -> Result<RemoteCollection, TaxiiError> {
        let wanted = wanted.trim();
        if wanted.is_empty() {
            return Err(TaxiiError::Invalid("no collection given".into()));
        }
        let direct = child_url(root, &["collections", wanted])?;
        let resource = match self.get(&direct, Expect::Resource, None).await {
            Ok(answer) if answer.body.get("id").is_some() => Some(answer.body),
            Ok(_) => None,
            Err(TaxiiError::Refused { status: 404, .. }) if !is_uuid(wanted) => None,
            Err(TaxiiError::Refused { status: 404, .. }) => {
                return Err(TaxiiError::Collection(format!(
                    "no collection {wanted} at {} (or these credentials may not see it)",
                    redact_url(root.as_str())
                )));
            }
            Err(other) => return Err(other),
        };
        let resource = match resource {
            Some(resource) => resource,
            None => {
                let list = child_url(root, &["collections"])?;
                let answer = self.get(&list, Expect::Resource, None).await?;
                let same = |value: Option<&Value>| {
                    value
                        .and_then(Value::as_str)
                        .is_some_and(|text| text.trim().eq_ignore_ascii_case(wanted))
                };
                answer
                    .body
                    .get("collections")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|collection| {
                        same(collection.get("id"))
                            || same(collection.get("alias"))
                            || same(collection.get("title"))
                    })
                    .cloned()
                    .ok_or_else(|| {
                        TaxiiError::Collection(format!(
                            "no collection with the id, alias or title {wanted:?} at {}",
                            redact_url(root.as_str())
                        ))
                    })?
            }
        };
        let text = |key: &str| {
            resource
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let id = text("id");
        if id.is_empty() {
            return Err(TaxiiError::NotTaxii(format!(
                "the collection {wanted:?} has no id"
            )));
        }
        if resource.get("can_read").and_then(Value::as_bool) != Some(true) {
            return Err(TaxiiError::Collection(format!(
                "collection {id} ({:?}) is not readable with these credentials (can_read is not true)",
                text("title")
            )));
        }
        Ok(RemoteCollection {
            api_root: root.to_string(),
            id,
            title: text("title"),
            version: self.version,
        })
    }
}

/// A transport error with its causes (the URL is shown once, redacted, by the caller).
fn error_chain(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// A refusal with the server's error resource (the spec's `title`/`description`, or
/// OpenTAXII's `name`/`description`).
fn refusal(request: String, status: StatusCode, body: &Value) -> TaxiiError {
    let text = |key: &str| match body.get(key) {
        Some(Value::String(text)) => text.trim().to_string(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let title = match text("title") {
        title if title.is_empty() => text("name"),
        title => title,
    };
    TaxiiError::Refused {
        request,
        status: status.as_u16(),
        title,
        description: text("description"),
    }
}

/// `url` parsed, http(s) only, its path ending in `/` (TAXII's URLs all do).
fn directory_url(url: &str) -> Result<Url, TaxiiError> {
    let mut parsed = Url::parse(url.trim()).map_err(|error| {
        TaxiiError::Invalid(format!("{:?} is not a URL: {error}", redact_url(url)))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(TaxiiError::Invalid(format!(
            "{} is not an http(s) URL",
            redact_url(url)
        )));
    }
    if !parsed.path().ends_with('/') {
        let path = format!("{}/", parsed.path());
        parsed.set_path(&path);
    }
    Ok(parsed)
}

/// `root` + the segments (each escaped) + a trailing slash.
fn child_url(root: &Url, segments: &[&str]) -> Result<Url, TaxiiError> {
    let mut url = root.clone();
    {
        let mut path = url
            .path_segments_mut()
            .map_err(|()| TaxiiError::Invalid(format!("{root} cannot hold a path")))?;
        path.pop_if_empty();
        path.extend(segments);
        path.push("");
    }
    Ok(url)
}

// ---------------------------------------------------------------------------------------
// Paging
// ---------------------------------------------------------------------------------------

struct Page {
    objects: Vec<Value>,
    date_added_last: Option<String>,
}

struct Pager {
    objects_url: Url,
    limit: u64,
    match_types: String,
    added_after: Option<String>,
    next: Option<String>,
    seen_next: HashSet<String>,
    /// 2.0: the first item of the next range.
    range_start: u64,
    pages: u64,
    max_pages: u64,
    done: bool,
    /// Why paging cannot go on, reported after the page that revealed it is imported.
    failure: Option<TaxiiError>,
}

impl Pager {
    fn new(root: &Url, collection_id: &str, options: &PullOptions) -> Result<Self, TaxiiError> {
        Ok(Self {
            objects_url: child_url(root, &["collections", collection_id, "objects"])?,
            limit: u64::from(options.limit),
            match_types: options
                .match_types
                .iter()
                .map(|kind| kind.trim())
                .filter(|kind| !kind.is_empty())
                .collect::<Vec<_>>()
                .join(","),
            added_after: options.added_after.clone(),
            next: None,
            seen_next: HashSet::new(),
            range_start: 0,
            pages: 0,
            max_pages: options.max_pages.max(1),
            done: false,
            failure: None,
        })
    }

    async fn next_page(&mut self, session: &mut Session) -> Result<Option<Page>, TaxiiError> {
        if let Some(failure) = self.failure.take() {
            self.done = true;
            return Err(failure);
        }
        if self.done {
            return Ok(None);
        }
        if self.pages >= self.max_pages {
            self.done = true;
            return Err(TaxiiError::Paging(format!(
                "stopped after {} pages, the most one run reads; run again from the cursor",
                self.max_pages
            )));
        }
        self.pages += 1;
        match session.version {
            TaxiiVersion::V21 => self.next_page_21(session).await.map(Some),
            TaxiiVersion::V20 => self.next_page_20(session).await,
        }
    }

    fn url(&self, with_paging: bool) -> Url {
        let mut url = self.objects_url.clone();
        {
            let mut query = url.query_pairs_mut();
            if with_paging {
                query.append_pair("limit", &self.limit.to_string());
            }
            if let Some(after) = &self.added_after {
                query.append_pair("added_after", after);
            }
            if !self.match_types.is_empty() {
                query.append_pair("match[type]", &self.match_types);
            }
            if with_paging && let Some(next) = &self.next {
                query.append_pair("next", next);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }

    async fn next_page_21(&mut self, session: &mut Session) -> Result<Page, TaxiiError> {
        let url = self.url(true);
        let answer = session.get(&url, Expect::Objects, None).await?;
        let mut body = answer.body;
        let objects = objects_of(&mut body, "objects", &url)?;
        let more = body.get("more").and_then(Value::as_bool).unwrap_or(false);
        let next = body
            .get("next")
            .and_then(Value::as_str)
            .filter(|next| !next.is_empty())
            .map(str::to_string);
        let date_added_last = header_text(&answer.headers, "x-taxii-date-added-last");
        if !more {
            self.done = true;
        } else if objects.is_empty() {
            self.failure = Some(TaxiiError::Paging(format!(
                "GET {}: the server says more objects follow but sent an empty page",
                redact_url(url.as_str())
            )));
        } else if let Some(next) = next {
            if self.seen_next.insert(next.clone()) {
                self.next = Some(next);
            } else {
                self.failure = Some(TaxiiError::Paging(format!(
                    "the server gave the same `next` ({next}) twice; stopped so as not to read the same pages forever"
                )));
            }
        } else if let Some(last) = &date_added_last {
            if self.added_after.as_deref() == Some(last.as_str()) {
                self.failure = Some(TaxiiError::Paging(format!(
                    "the server says more objects follow but added_after={last} does not move on"
                )));
            } else {
                self.added_after = Some(last.clone());
                self.next = None;
            }
        } else {
            self.failure = Some(TaxiiError::Paging(
                "the server says more objects follow but gives neither `next` nor X-TAXII-Date-Added-Last to continue from".into(),
            ));
        }
        Ok(Page {
            objects,
            date_added_last,
        })
    }

    async fn next_page_20(&mut self, session: &mut Session) -> Result<Option<Page>, TaxiiError> {
        let url = self.url(false);
        let first = self.range_start;
        let last = first + self.limit - 1;
        let answer = session
            .get(&url, Expect::Objects, Some((first, last)))
            .await?;
        if answer.status == StatusCode::RANGE_NOT_SATISFIABLE {
            self.done = true;
            return Ok(None);
        }
        let mut body = answer.body;
        let objects = objects_of(&mut body, "objects", &url)?;
        let date_added_last = header_text(&answer.headers, "x-taxii-date-added-last");
        let content_range = header_text(&answer.headers, CONTENT_RANGE.as_str());
        match (
            answer.status,
            content_range.as_deref().and_then(parse_content_range),
        ) {
            (StatusCode::PARTIAL_CONTENT, Some((_, end, total))) => {
                if end < first {
                    self.failure = Some(TaxiiError::Paging(format!(
                        "the server answered the range {first}-{last} with items ending at {end}"
                    )));
                } else {
                    self.range_start = end + 1;
                    if objects.is_empty() || total.is_some_and(|total| end + 1 >= total) {
                        self.done = true;
                    }
                }
            }
            // Everything at once, or a partial answer that does not say where it ends.
            _ => self.done = true,
        }
        Ok(Some(Page {
            objects,
            date_added_last,
        }))
    }
}

/// `items a-b/total` (total may be `*`).
fn parse_content_range(text: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = text.trim().strip_prefix("items")?.trim();
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.trim().split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        number => Some(number.parse().ok()?),
    };
    Some((start.trim().parse().ok()?, end.trim().parse().ok()?, total))
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_string)
}

/// The `objects` list of an envelope or bundle (an empty envelope is `{}`), taken out of it.
fn objects_of(body: &mut Value, key: &str, url: &Url) -> Result<Vec<Value>, TaxiiError> {
    match body.get_mut(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(std::mem::take(items)),
        Some(_) => Err(TaxiiError::NotTaxii(format!(
            "GET {}: `{key}` is not a list",
            redact_url(url.as_str())
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// Assembling reports across pages
// ---------------------------------------------------------------------------------------

fn kind_of(object: &Value) -> &str {
    object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn id_of(object: &Value) -> &str {
    object.get("id").and_then(Value::as_str).unwrap_or_default()
}

fn is_container(object: &Value) -> bool {
    matches!(kind_of(object), "report" | "grouping")
}

/// Objects other objects point at, kept aside and added to every batch that refers to them.
fn is_support(object: &Value) -> bool {
    matches!(
        kind_of(object),
        "identity" | "marking-definition" | "relationship"
    )
}

fn modified_of(object: &Value) -> Option<i64> {
    object
        .get("modified")
        .or_else(|| object.get("created"))
        .and_then(Value::as_str)
        .and_then(parse_datetime_micros)
}

/// Every id a value refers to through `*_ref` / `*_refs` keys, at any depth.
fn references(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key.ends_with("_ref") {
                    if let Some(id) = inner.as_str() {
                        into.push(id.to_string());
                    }
                } else if key.ends_with("_refs") {
                    into.extend(
                        inner
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(str::to_string),
                    );
                } else {
                    references(inner, into);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, into)),
        _ => {}
    }
}

use kizuna_formats::stix::OBSERVABLE_TYPES;

/// What a report's member brings into the report with it, as the STIX import reads it:
/// observed-data its observables, observables the observables they point at. Creators and
/// markings are not content (and are often not in the collection at all).
fn member_references(member: &Value, into: &mut Vec<String>) {
    let kind = kind_of(member);
    if kind == "observed-data" {
        into.extend(
            member
                .get("object_refs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string),
        );
    } else if OBSERVABLE_TYPES.contains(&kind) {
        let mut found = Vec::new();
        references(member, &mut found);
        into.extend(
            found.into_iter().filter(|id| {
                !id.starts_with("marking-definition--") && !id.starts_with("identity--")
            }),
        );
    }
}

/// Objects read but not imported yet (see the module documentation).
#[derive(Default)]
struct Assembly {
    /// In arrival order.
    pending: Vec<Value>,
    support: HashMap<String, Value>,
    support_order: VecDeque<String>,
}

impl Assembly {
    fn add(&mut self, objects: Vec<Value>) {
        let mut positions: HashMap<String, usize> = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, object)| !id_of(object).is_empty())
            .map(|(index, object)| (id_of(object).to_string(), index))
            .collect();
        for object in objects {
            let id = id_of(&object).to_string();
            if is_support(&object) && !id.is_empty() {
                if self.support.insert(id.clone(), object).is_none() {
                    self.support_order.push_back(id);
                }
                while self.support_order.len() > MAX_SUPPORT_OBJECTS {
                    if let Some(oldest) = self.support_order.pop_front() {
                        self.support.remove(&oldest);
                    }
                }
                continue;
            }
            match positions.get(&id) {
                // Versions share an id: the most recently modified one counts.
                Some(&index) if !id.is_empty() => {
                    if modified_of(&object) >= modified_of(&self.pending[index]) {
                        self.pending[index] = object;
                    }
                }
                _ => {
                    if !id.is_empty() {
                        positions.insert(id, self.pending.len());
                    }
                    self.pending.push(object);
                }
            }
        }
    }

    /// The objects to import now: reports whose objects have all arrived, with them, and
    /// unclaimed objects older than the last `window` ones. `all`: everything.
    fn release(&mut self, all: bool, window: usize) -> Vec<Value> {
        let all = all || self.pending.len() > MAX_HELD_OBJECTS;
        let positions: HashMap<&str, usize> = self
            .pending
            .iter()
            .enumerate()
            .map(|(index, object)| (id_of(object), index))
            .filter(|(id, _)| !id.is_empty())
            .collect();
        let mut released: HashSet<usize> = HashSet::new();
        let mut waiting: HashSet<usize> = HashSet::new();
        for (container, object) in self.pending.iter().enumerate() {
            if !is_container(object) {
                continue;
            }
            let mut members = vec![container];
            let mut complete = true;
            let mut queue: Vec<String> = object
                .get("object_refs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            let mut seen = HashSet::new();
            while let Some(id) = queue.pop() {
                if !seen.insert(id.clone()) {
                    continue;
                }
                match positions.get(id.as_str()) {
                    Some(&index) => {
                        members.push(index);
                        member_references(&self.pending[index], &mut queue);
                    }
                    None if self.support.contains_key(&id) => {}
                    None => complete = false,
                }
            }
            if complete || all {
                released.extend(members);
            } else {
                waiting.extend(members);
            }
        }
        let unclaimed: Vec<usize> = (0..self.pending.len())
            .filter(|index| !released.contains(index) && !waiting.contains(index))
            .collect();
        let keep_unclaimed = if all { 0 } else { window };
        let old = unclaimed.len().saturating_sub(keep_unclaimed);
        released.extend(&unclaimed[..old]);

        let mut batch = Vec::new();
        let mut kept = Vec::new();
        for (index, object) in std::mem::take(&mut self.pending).into_iter().enumerate() {
            match (released.contains(&index), waiting.contains(&index)) {
                (true, true) => {
                    batch.push(object.clone());
                    kept.push(object);
                }
                (true, false) => batch.push(object),
                (false, _) => kept.push(object),
            }
        }
        self.pending = kept;
        if batch.is_empty() {
            return batch;
        }
        // The identities, markings and relationships the batch refers to.
        let ids: HashSet<&str> = batch.iter().map(id_of).collect();
        let mut wanted: Vec<String> = Vec::new();
        for object in &batch {
            references(object, &mut wanted);
        }
        let mut added = HashSet::new();
        let mut support = Vec::new();
        for id in wanted {
            if let Some(object) = self.support.get(&id)
                && added.insert(id)
                && kind_of(object) != "relationship"
            {
                support.push(object.clone());
            }
        }
        for object in self.support.values() {
            if kind_of(object) != "relationship" {
                continue;
            }
            let touches = |key: &str| {
                object
                    .get(key)
                    .and_then(Value::as_str)
                    .is_some_and(|id| ids.contains(id))
            };
            if touches("source_ref") && touches("target_ref") {
                support.push(object.clone());
            }
        }
        support.extend(batch);
        support
    }
}

// ---------------------------------------------------------------------------------------
// Importing a batch
// ---------------------------------------------------------------------------------------

struct BatchImporter<'a> {
    store: &'a Store,
    settings: &'a ImportSettings,
    creator: Option<Value>,
    source: &'a str,
    default_info: String,
    now: i64,
}

/// Items of a pulled event that belong to an event stored before.
#[derive(Default)]
struct Moved {
    attributes: Vec<Value>,
    objects: Vec<Value>,
}

impl BatchImporter<'_> {
    async fn import(&self, batch: Vec<Value>, report: &mut PullReport) -> Result<(), TaxiiError> {
        if batch.is_empty() {
            return Ok(());
        }
        let containers = batch.iter().filter(|object| is_container(object)).count();
        let content = json!({"type": "bundle", "objects": batch});
        let converted = bundle_to_misp_events(
            &content,
            &StixImportOptions {
                default_info: self.default_info.clone(),
            },
        );
        drop(content);
        let mut summary = ImportSummary {
            rejected: converted
                .rejected
                .into_iter()
                .map(|rejection| rejection.in_source(self.source))
                .collect(),
            ..ImportSummary::default()
        };
        for (index, mut event) in converted.events.into_iter().enumerate() {
            // The importer puts the objects no report holds into one last event.
            let unclaimed = index >= containers;
            if let Some(creator) = &self.creator {
                event["Event"]["Orgc"] = creator.clone();
            }
            let moved = self.settle_identifiers(&mut event, unclaimed).await?;
            let holds_items = ["Attribute", "Object"].iter().any(|key| {
                event["Event"][*key]
                    .as_array()
                    .is_some_and(|items| !items.is_empty())
            });
            if holds_items || !unclaimed {
                summary.merge(
                    import_event(self.store, self.source, &event, self.settings, self.now).await?,
                );
            }
            for (event_id, items) in moved {
                summary.merge(self.update_stored(event_id, items).await?);
            }
        }
        report.rejected_total += summary.rejected.len() as u64;
        report.import.merge(summary);
        report.import.rejected.truncate(KEPT_REJECTIONS);
        Ok(())
    }

    /// Gives the pulled event's items whose uuids another stored event holds a place: the
    /// unclaimed event hands them to that event, a report's event gives them uuids of its
    /// own. Returns what goes to which stored event.
    async fn settle_identifiers(
        &self,
        event: &mut Value,
        unclaimed: bool,
    ) -> Result<BTreeMap<i64, Moved>, StoreError> {
        let mut moved: BTreeMap<i64, Moved> = BTreeMap::new();
        let Some(body) = event.get_mut("Event").and_then(Value::as_object_mut) else {
            return Ok(moved);
        };
        let event_uuid = body
            .get("uuid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let own = self.store.event_id_by_uuid(&event_uuid).await?;
        let uuid_of = |item: &Value| {
            item.get("uuid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let items = |body: &Map<String, Value>, key: &str| -> Vec<Value> {
            body.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let attributes = items(body, "Attribute");
        let objects = items(body, "Object");
        let mut uuids: Vec<String> = attributes.iter().map(uuid_of).collect();
        for object in &objects {
            uuids.extend(items_of(object, "Attribute").iter().map(uuid_of));
        }
        uuids.retain(|uuid| !uuid.is_empty());
        if uuids.is_empty() && objects.is_empty() {
            return Ok(moved);
        }
        let attribute_homes: HashMap<String, i64> = self
            .store
            .attributes_for_sightings(&uuids, &Viewer::SiteAdmin)
            .await?
            .into_iter()
            .map(|(uuid, found)| (uuid, found.event_id))
            .collect();
        let elsewhere = |home: Option<i64>, than: Option<i64>| home.is_some() && home != than;
        let renamed = |uuid: &str| {
            uuid::Uuid::new_v5(&TAXII_NAMESPACE, format!("{event_uuid}/{uuid}").as_bytes())
                .to_string()
        };
        let mut renames: HashMap<String, String> = HashMap::new();

        let mut kept_attributes = Vec::new();
        for mut attribute in attributes {
            let uuid = uuid_of(&attribute);
            let home = attribute_homes.get(&uuid).copied();
            if !elsewhere(home, own) {
                kept_attributes.push(attribute);
            } else if let (true, Some(home)) = (unclaimed, home) {
                moved.entry(home).or_default().attributes.push(attribute);
            } else {
                let fresh = renamed(&uuid);
                attribute["uuid"] = json!(fresh);
                renames.insert(uuid, fresh);
                kept_attributes.push(attribute);
            }
        }
        let mut kept_objects = Vec::new();
        for mut object in objects {
            let uuid = uuid_of(&object);
            let home = match self.store.object(&Key::Uuid(uuid.clone()), true).await {
                Ok(stored) => Some(stored.event_id),
                Err(StoreError::NotFound) => None,
                Err(other) => return Err(other),
            };
            let target = if !elsewhere(home, own) {
                None
            } else if unclaimed {
                home
            } else {
                let fresh = renamed(&uuid);
                object["uuid"] = json!(fresh);
                renames.insert(uuid, fresh);
                None
            };
            let holder = target.or(own);
            if let Some(inner) = object.get_mut("Attribute").and_then(Value::as_array_mut) {
                for attribute in inner {
                    let uuid = uuid_of(attribute);
                    if elsewhere(attribute_homes.get(&uuid).copied(), holder) {
                        let fresh = renamed(&uuid);
                        attribute["uuid"] = json!(fresh);
                        renames.insert(uuid, fresh);
                    }
                }
            }
            match target {
                Some(home) => moved.entry(home).or_default().objects.push(object),
                None => kept_objects.push(object),
            }
        }
        if !renames.is_empty() {
            let retarget = |objects: &mut Vec<Value>| {
                for object in objects {
                    for reference in object
                        .get_mut("ObjectReference")
                        .and_then(Value::as_array_mut)
                        .into_iter()
                        .flatten()
                    {
                        let target = reference["referenced_uuid"].as_str().unwrap_or_default();
                        if let Some(fresh) = renames.get(target) {
                            reference["referenced_uuid"] = json!(fresh);
                        }
                    }
                }
            };
            retarget(&mut kept_objects);
            for items in moved.values_mut() {
                retarget(&mut items.objects);
            }
        }
        body.insert("Attribute".into(), Value::Array(kept_attributes));
        body.insert("Object".into(), Value::Array(kept_objects));
        Ok(moved)
    }

    /// Applies newer versions of items to the stored event holding them; the event keeps
    /// its own distribution, publication and tags. Items no newer than the stored ones are
    /// left out, so a pull that brings nothing new writes nothing.
    async fn update_stored(
        &self,
        event_id: i64,
        items: Moved,
    ) -> Result<ImportSummary, StoreError> {
        let options = kizuna_store::LoadOptions {
            include_deleted: true,
            viewer_org: None,
        };
        let existing = match self.store.event(&Key::Id(event_id), &options).await {
            Ok(existing) => existing,
            Err(StoreError::NotFound) => return Ok(ImportSummary::default()),
            Err(other) => return Err(other),
        };
        let mut stored: HashMap<&str, i64> = existing
            .attributes
            .iter()
            .map(|attribute| (attribute.uuid.as_str(), attribute.timestamp))
            .collect();
        for object in &existing.objects {
            stored.insert(object.uuid.as_str(), object.timestamp);
            for attribute in &object.attributes {
                stored.insert(attribute.uuid.as_str(), attribute.timestamp);
            }
        }
        let newer = |item: &Value| {
            let uuid = item.get("uuid").and_then(Value::as_str).unwrap_or_default();
            let timestamp = match item.get("timestamp") {
                Some(Value::String(text)) => text.trim().parse::<i64>().ok(),
                Some(Value::Number(number)) => number.as_i64(),
                _ => None,
            };
            match stored.get(uuid) {
                None => true,
                Some(&at) => timestamp.is_some_and(|timestamp| timestamp > at),
            }
        };
        let attributes: Vec<Value> = items.attributes.into_iter().filter(|a| newer(a)).collect();
        let objects: Vec<Value> = items
            .objects
            .into_iter()
            .filter(|object| newer(object) || items_of(object, "Attribute").iter().any(newer))
            .collect();
        if attributes.is_empty() && objects.is_empty() {
            return Ok(ImportSummary {
                events_unchanged: 1,
                ..ImportSummary::default()
            });
        }
        let update = json!({
            "Event": {
                "uuid": existing.uuid,
                "info": existing.info,
                "date": kizuna_formats::misp::output::format_date(existing.date),
                "analysis": existing.analysis.as_i64().to_string(),
                "threat_level_id": existing.threat_level.as_i64().to_string(),
                "distribution": existing.distribution.as_i64().to_string(),
                "sharing_group_id": existing.sharing_group_id.to_string(),
                "published": existing.published,
                // Newer than the stored version, so that the items are compared at all.
                "timestamp": self.now.max(existing.timestamp + 1).to_string(),
                "Attribute": attributes,
                "Object": objects,
            }
        });
        let settings = ImportSettings {
            distribution: None,
            publish: None,
            tags: Vec::new(),
            ..self.settings.clone()
        };
        import_event(self.store, self.source, &update, &settings, self.now).await
    }
}

fn items_of(object: &Value, key: &str) -> Vec<Value> {
    object
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

impl fmt::Display for RemoteCollection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} ({}) at {}",
            self.title,
            self.id,
            redact_url(&self.api_root)
        )
    }
}

// ---------------------------------------------------------------------------------------
// Feeds
// ---------------------------------------------------------------------------------------

/// The `taxii` member of a TAXII feed's `settings`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedTaxiiSettings {
    pub collection: String,
    pub version: TaxiiVersion,
    pub limit: u32,
    pub match_types: Vec<String>,
    pub tls: crate::http::RemoteTls,
}

/// The members of `settings.taxii` that hold a private key: shown to site admins only.
pub const FEED_SECRET_SETTINGS: &[&str] = &["client_cert"];

/// Reads and checks a TAXII feed's settings (`{"taxii": {"collection": …, "version":
/// "2.1"|"2.0", "limit": 1..=10000, "match_type": [...], "ca_cert": PEM, "client_cert":
/// PEM certificate and key, "self_signed": bool, "skip_proxy": bool}}`); the error names
/// the field.
pub fn feed_settings(settings: &Value) -> Result<FeedTaxiiSettings, String> {
    let taxii = settings.get("taxii").and_then(Value::as_object).ok_or(
        "settings.taxii is required for a TAXII feed: {\"taxii\": {\"collection\": \"<id>\"}}",
    )?;
    let collection = taxii
        .get("collection")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|collection| !collection.is_empty())
        .ok_or("settings.taxii.collection is required: the collection's id (or alias)")?
        .to_string();
    let version = match taxii.get("version") {
        None | Some(Value::Null) => TaxiiVersion::V21,
        Some(value) => {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                _ => String::new(),
            };
            TaxiiVersion::parse(&text).ok_or("settings.taxii.version must be \"2.1\" or \"2.0\"")?
        }
    };
    let limit = match taxii.get("limit") {
        None | Some(Value::Null) => DEFAULT_LIMIT,
        Some(value) => value
            .as_u64()
            .or_else(|| value.as_str().and_then(|text| text.trim().parse().ok()))
            .filter(|limit| (1..=u64::from(MAX_LIMIT)).contains(limit))
            .and_then(|limit| u32::try_from(limit).ok())
            .ok_or(format!(
                "settings.taxii.limit must be a whole number from 1 to {MAX_LIMIT}"
            ))?,
    };
    let match_types = match taxii.get("match_type") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => text
            .split(',')
            .map(str::trim)
            .filter(|kind| !kind.is_empty())
            .map(str::to_string)
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::trim)
                    .filter(|kind| !kind.is_empty())
                    .map(str::to_string)
                    .ok_or("settings.taxii.match_type must list STIX type names")
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("settings.taxii.match_type must list STIX type names".into()),
    };
    let text_setting = |name: &str| -> Result<String, String> {
        match taxii.get(name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(text)) => Ok(text.trim().to_string()),
            Some(_) => Err(format!("settings.taxii.{name} must be PEM text")),
        }
    };
    let flag_setting = |name: &str| -> Result<bool, String> {
        match taxii.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(value) => kizuna_formats::misp::input::lenient_bool(value)
                .ok_or(format!("settings.taxii.{name} must be true or false")),
        }
    };
    let tls = crate::http::RemoteTls {
        self_signed: flag_setting("self_signed")?,
        ca_pem: text_setting("ca_cert")?,
        client_pem: text_setting("client_cert")?,
        skip_proxy: flag_setting("skip_proxy")?,
    };
    if !tls.ca_pem.is_empty() {
        crate::http::check_ca_pem(&tls.ca_pem)
            .map_err(|problem| format!("settings.taxii.ca_cert: {problem}"))?;
    }
    if !tls.client_pem.is_empty() {
        crate::http::check_client_pem(&tls.client_pem)
            .map_err(|problem| format!("settings.taxii.client_cert: {problem}"))?;
    }
    Ok(FeedTaxiiSettings {
        collection,
        version,
        limit,
        match_types,
        tls,
    })
}

/// What a feed's run reads: its URL (the API root), `settings.taxii`, its header lines
/// (authorization included) and the cursor kept from the last run.
pub fn feed_pull_options(
    url: &str,
    settings: &Value,
    headers: Vec<(String, String)>,
    cursor: &str,
    max_page_bytes: u64,
) -> Result<PullOptions, String> {
    let taxii = feed_settings(settings)?;
    let mut options = PullOptions::new(url, taxii.collection);
    options.version = Some(taxii.version);
    options.limit = taxii.limit;
    options.match_types = taxii.match_types;
    options.tls = taxii.tls;
    options.headers = headers;
    options.max_page_bytes = max_page_bytes;
    // The column also holds HTTP dates while the feed was of another format.
    options.added_after = Some(cursor.trim().to_string())
        .filter(|cursor| !cursor.is_empty() && cursor.contains('T'))
        .filter(|cursor| parse_datetime_micros(cursor).is_some());
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_name_their_version() {
        assert_eq!(media_version(TAXII_21), Some(TaxiiVersion::V21));
        assert_eq!(
            media_version("application/taxii+json; version=2.1; charset=utf-8"),
            Some(TaxiiVersion::V21)
        );
        assert_eq!(
            media_version("application/taxii+json"),
            Some(TaxiiVersion::V21)
        );
        assert_eq!(media_version(TAXII_20), Some(TaxiiVersion::V20));
        assert_eq!(media_version(STIX_20), Some(TaxiiVersion::V20));
        assert_eq!(media_version("application/taxii+json;version=2.0"), None);
        assert_eq!(media_version("application/json"), None);
        assert_eq!(media_version(""), None);
    }

    #[test]
    fn content_ranges_are_read() {
        assert_eq!(
            parse_content_range("items 0-99/250"),
            Some((0, 99, Some(250)))
        );
        assert_eq!(
            parse_content_range("items 100-199/*"),
            Some((100, 199, None))
        );
        assert_eq!(parse_content_range("bytes 0-1/2"), None);
    }

    #[test]
    fn urls_end_in_a_slash_and_children_are_escaped() {
        let root = directory_url("https://host.test/taxii2/root").unwrap();
        assert_eq!(root.as_str(), "https://host.test/taxii2/root/");
        let child = child_url(&root, &["collections", "a b", "objects"]).unwrap();
        assert_eq!(
            child.as_str(),
            "https://host.test/taxii2/root/collections/a%20b/objects/"
        );
        assert!(directory_url("ftp://host.test/").is_err());
    }

    #[test]
    fn the_cursor_only_moves_forward() {
        let mut cursor = Some("2024-01-02T00:00:00.000Z".to_string());
        advance_cursor(&mut cursor, "2024-01-01T00:00:00Z".into());
        assert_eq!(cursor.as_deref(), Some("2024-01-02T00:00:00.000Z"));
        advance_cursor(&mut cursor, "2024-01-02T00:00:00.000001Z".into());
        assert_eq!(cursor.as_deref(), Some("2024-01-02T00:00:00.000001Z"));
        advance_cursor(&mut cursor, "garbage".into());
        assert_eq!(cursor.as_deref(), Some("2024-01-02T00:00:00.000001Z"));
    }

    fn indicator(id: &str) -> Value {
        json!({"type": "indicator", "id": id, "created": "2024-01-01T00:00:00Z"})
    }

    #[test]
    fn a_report_waits_for_its_members_and_takes_earlier_ones() {
        let mut assembly = Assembly::default();
        assembly.add(vec![indicator("indicator--1"), indicator("indicator--2")]);
        assert!(
            assembly.release(false, 10).is_empty(),
            "unclaimed, within the window"
        );
        assembly.add(vec![
            json!({
                "type": "report", "id": "report--r",
                "object_refs": ["indicator--1", "indicator--3", "identity--i"],
            }),
            json!({"type": "identity", "id": "identity--i"}),
        ]);
        assert!(
            assembly.release(false, 10).is_empty(),
            "indicator--3 has not come"
        );
        assembly.add(vec![indicator("indicator--3")]);
        let batch = assembly.release(false, 10);
        let ids: HashSet<&str> = batch.iter().map(id_of).collect();
        assert_eq!(
            ids,
            HashSet::from(["report--r", "indicator--1", "indicator--3", "identity--i"])
        );
        let rest = assembly.release(true, 0);
        assert_eq!(rest.iter().map(id_of).collect::<Vec<_>>(), ["indicator--2"]);
    }

    #[test]
    fn unclaimed_objects_leave_beyond_the_window() {
        let mut assembly = Assembly::default();
        assembly.add(
            (0..5)
                .map(|n| indicator(&format!("indicator--{n}")))
                .collect(),
        );
        let batch = assembly.release(false, 2);
        assert_eq!(
            batch.iter().map(id_of).collect::<Vec<_>>(),
            ["indicator--0", "indicator--1", "indicator--2"]
        );
        assert_eq!(assembly.pending.len(), 2);
    }

    #[test]
    fn feed_settings_are_checked_field_by_field() {
        let good = feed_settings(&json!({"taxii": {"collection": "c", "version": "2.0", "limit": 50, "match_type": ["indicator"]}})).unwrap();
        assert_eq!(good.version, TaxiiVersion::V20);
        assert_eq!(good.limit, 50);
        assert_eq!(good.match_types, ["indicator"]);
        for (bad, field) in [
            (json!({}), "settings.taxii"),
            (json!({"taxii": {}}), "settings.taxii.collection"),
            (
                json!({"taxii": {"collection": "c", "version": "3"}}),
                "settings.taxii.version",
            ),
            (
                json!({"taxii": {"collection": "c", "limit": 0}}),
                "settings.taxii.limit",
            ),
            (
                json!({"taxii": {"collection": "c", "limit": 10001}}),
                "settings.taxii.limit",
            ),
            (
                json!({"taxii": {"collection": "c", "match_type": [1]}}),
                "settings.taxii.match_type",
            ),
        ] {
            let problem = feed_settings(&bad).unwrap_err();
            assert!(problem.starts_with(field), "{problem}");
        }
    }
}

//! The TAXII client against a fake TAXII server on 127.0.0.1 (TAXII 2.1 with `next` paging
//! and `X-TAXII-Date-Added-Last`, TAXII 2.0 with `Range`), and TAXII feeds through
//! `/feeds/add` + `/feeds/fetchFromFeed`.
//!
//! The collection is made of real data: one indicator per address of the ipsum lists and
//! the objects of the ESET "Zebrocy" grouping as Kizuna's STIX export writes it (both in
//! `crates/formats/tests/data`, attributed in its SOURCES.md files there).

use crate::support::{Server, int, text};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use kizuna_formats::stix::import::{StixImportOptions, bundle_to_misp_events};
use kizuna_server::import::ImportSettings;
use kizuna_server::taxii_client::{
    Credentials, PullOptions, PullReport, STIX_20, TAXII_20, TAXII_21, TaxiiError, TaxiiVersion,
    pull_collection,
};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use time::format_description::well_known::Rfc3339;

const COLLECTION: &str = "9cfa669c-ee94-4ece-afd2-f8edac37d8fd";
const HIDDEN_COLLECTION: &str = "52892447-4d7e-4f70-b94d-d7f22742ff63";
const USER: &str = "reader@test.example";
const PASSWORD: &str = "k3y-of-the-reader";
/// `Basic` + base64 of `USER:PASSWORD`.
const BASIC: &str = "Basic cmVhZGVyQHRlc3QuZXhhbXBsZTprM3ktb2YtdGhlLXJlYWRlcg==";
/// Unix time of the first object's `date_added`; each next object one second later.
const FIRST_ADDED: i64 = 1_714_521_600;

fn formats_data(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../formats/tests/data")
        .join(relative)
}

fn data_lines(relative: &str) -> Vec<String> {
    std::fs::read_to_string(formats_data(relative))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The addresses of ipsum's level 5 (each once).
fn addresses() -> Vec<String> {
    data_lines("feeds/ipsum/level5.txt")
}

/// The plain domain names of Maltrail's DanaBot trail, each once, in file order.
fn domains() -> Vec<String> {
    let mut seen = HashSet::new();
    data_lines("feeds/maltrail/malware_danabot.txt")
        .into_iter()
        .filter(|line| {
            line.contains('.')
                && line.bytes().any(|b| b.is_ascii_lowercase())
                && line
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        })
        .filter(|domain| seen.insert(domain.clone()))
        .collect()
}

/// Domains held back for objects added to the collection later.
const LATER_DOMAINS: usize = 300;

/// An indicator of one address or domain name, its id derived from the value.
fn indicator(value: &str) -> Value {
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, value.as_bytes());
    let kind = if value.parse::<std::net::Ipv4Addr>().is_ok() {
        "ipv4-addr"
    } else {
        "domain-name"
    };
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--{id}"),
        "created": "2024-05-01T00:00:00.000Z",
        "modified": "2024-05-01T00:00:00.000Z",
        "name": format!("{kind} {value}"),
        "pattern": format!("[{kind}:value = '{value}']"),
        "pattern_type": "stix",
        "valid_from": "2024-05-01T00:00:00Z",
    })
}

/// The values of the collection's first indicators.
fn initial_values() -> Vec<String> {
    let mut values = addresses();
    values.extend(domains().into_iter().skip(LATER_DOMAINS));
    values
}

fn later_values() -> Vec<String> {
    domains().into_iter().take(LATER_DOMAINS).collect()
}

fn zebrocy() -> Value {
    serde_json::from_slice(
        &std::fs::read(formats_data(
            "stix-golden/eset_sednit_2018-11-20_Zebrocy.json",
        ))
        .unwrap(),
    )
    .unwrap()
}

/// The grouping's objects with the grouping itself last, so that its members come on the
/// page before it.
fn zebrocy_members_first() -> Vec<Value> {
    let bundle = zebrocy();
    let (mut groupings, mut rest): (Vec<Value>, Vec<Value>) = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .partition(|object| object["type"] == "grouping");
    rest.append(&mut groupings);
    rest
}

/// 200 indicators, the Zebrocy objects (crossing the first page boundary at limit 250),
/// then the other indicators.
fn collection_objects() -> Vec<Value> {
    let values = initial_values();
    let mut objects: Vec<Value> = values[..200].iter().map(|v| indicator(v)).collect();
    objects.extend(zebrocy_members_first());
    objects.extend(values[200..].iter().map(|v| indicator(v)));
    objects
}

// ---------------------------------------------------------------------------------------
// The fake TAXII server
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Default)]
struct Behaviour {
    /// Every request needs `Authorization: BASIC`.
    basic_auth: bool,
    /// Every objects page says `more` and gives the same `next`.
    repeat_next: bool,
    /// The second objects page is not JSON.
    broken_second_page: bool,
    /// Answers as `application/json`.
    plain_json: bool,
    /// Only TAXII 2.0 (406 to any 2.1 request).
    only_20: bool,
}

struct Fake {
    behaviour: Behaviour,
    /// (date_added as Unix seconds, object), in the order added.
    objects: Mutex<Vec<(i64, Value)>>,
    /// Query strings of the objects requests (2.1) or their Range headers (2.0).
    requests: Mutex<Vec<String>>,
}

impl Fake {
    fn add(&self, objects: Vec<Value>) {
        let mut stored = self.objects.lock().unwrap();
        for object in objects {
            let added = FIRST_ADDED + stored.len() as i64;
            stored.push((added, object));
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// A running fake server; it stops with the test's runtime.
struct Remote {
    fake: Arc<Fake>,
    base: String,
}

impl Remote {
    async fn start(behaviour: Behaviour, objects: Vec<Value>) -> Remote {
        let fake = Arc::new(Fake {
            behaviour,
            objects: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
        });
        fake.add(objects);
        let router = Router::new().fallback(serve).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Remote {
            fake,
            base: format!("http://{address}"),
        }
    }

    fn root(&self) -> String {
        format!("{}/taxii2/root/", self.base)
    }

    fn root_20(&self) -> String {
        format!("{}/taxii/root/", self.base)
    }
}

fn date_added(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

fn answer(status: StatusCode, media: &str, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_str(media).unwrap());
    response
}

fn error_resource(status: StatusCode, media: &str, title: &str, description: &str) -> Response {
    answer(
        status,
        media,
        json!({"title": title, "description": description, "http_status": status.as_u16().to_string()}),
    )
}

/// The decoded query parameters, and the same as `name=value&…` text.
fn query_pairs(uri: &Uri) -> (HashMap<String, String>, String) {
    let url = reqwest::Url::parse(&format!("http://fake{uri}")).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let shown = pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    (pairs.into_iter().collect(), shown)
}

fn collection_resource(id: &str, title: &str, readable: bool, media: &str) -> Value {
    json!({
        "id": id, "title": title, "alias": title.to_lowercase().replace(' ', "-"),
        "can_read": readable, "can_write": false, "media_types": [media],
    })
}

async fn serve(State(fake): State<Arc<Fake>>, uri: Uri, headers: HeaderMap) -> Response {
    let behaviour = fake.behaviour;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .replace(' ', "");
    let path = uri.path();
    let v20 = path.starts_with("/taxii/");
    let media = if behaviour.plain_json {
        "application/json"
    } else if v20 {
        TAXII_20
    } else {
        TAXII_21
    };
    if behaviour.only_20 && !accept.contains("version=2.0") {
        return error_resource(
            StatusCode::NOT_ACCEPTABLE,
            TAXII_20,
            "Not Acceptable",
            "this server speaks TAXII 2.0 only",
        );
    }
    if behaviour.basic_auth
        && headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            != Some(BASIC)
    {
        let mut response = error_resource(
            StatusCode::UNAUTHORIZED,
            media,
            "Authentication required",
            "give the reader's e-mail and API key",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"fake\""),
        );
        return response;
    }
    let prefix = if v20 { "/taxii" } else { "/taxii2" };
    let rest = path.strip_prefix(prefix).unwrap_or_default();
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match segments[..] {
        [] => answer(
            StatusCode::OK,
            media,
            json!({"title": "Fake TAXII", "default": format!("{prefix}/root/"), "api_roots": [format!("{prefix}/root/")]}),
        ),
        ["root"] => answer(
            StatusCode::OK,
            media,
            json!({"title": "Root", "versions": [media], "max_content_length": 10_485_760}),
        ),
        ["root", "collections"] => answer(
            StatusCode::OK,
            media,
            json!({"collections": [
                collection_resource(COLLECTION, "Ipsum and Zebrocy", true, media),
                collection_resource(HIDDEN_COLLECTION, "Write only", false, media),
            ]}),
        ),
        ["root", "collections", COLLECTION] => answer(
            StatusCode::OK,
            media,
            collection_resource(COLLECTION, "Ipsum and Zebrocy", true, media),
        ),
        ["root", "collections", HIDDEN_COLLECTION] => answer(
            StatusCode::OK,
            media,
            collection_resource(HIDDEN_COLLECTION, "Write only", false, media),
        ),
        ["root", "collections", COLLECTION, "objects"] if v20 => objects_20(&fake, &uri, &headers),
        ["root", "collections", COLLECTION, "objects"] => objects_21(&fake, &uri, media),
        _ => error_resource(
            StatusCode::NOT_FOUND,
            media,
            "Not found",
            "no such collection",
        ),
    }
}

/// The objects the filters select, in date_added order.
fn selected(fake: &Fake, query: &HashMap<String, String>) -> Vec<(i64, Value)> {
    let after = query.get("added_after").map(|text| {
        time::OffsetDateTime::parse(text, &Rfc3339)
            .unwrap()
            .unix_timestamp()
    });
    let types: Option<HashSet<&str>> = query
        .get("match[type]")
        .map(|text| text.split(',').collect());
    fake.objects
        .lock()
        .unwrap()
        .iter()
        .filter(|(added, _)| after.is_none_or(|after| *added > after))
        .filter(|(_, object)| {
            types
                .as_ref()
                .is_none_or(|types| types.contains(object["type"].as_str().unwrap()))
        })
        .cloned()
        .collect()
}

fn date_headers(response: &mut Response, page: &[(i64, Value)]) {
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        let headers = response.headers_mut();
        headers.insert(
            "x-taxii-date-added-first",
            HeaderValue::from_str(&date_added(first.0)).unwrap(),
        );
        headers.insert(
            "x-taxii-date-added-last",
            HeaderValue::from_str(&date_added(last.0)).unwrap(),
        );
    }
}

fn objects_21(fake: &Fake, uri: &Uri, media: &str) -> Response {
    let behaviour = fake.behaviour;
    let (query, shown) = query_pairs(uri);
    fake.requests.lock().unwrap().push(shown);
    let served = fake.requests.lock().unwrap().len();
    if behaviour.broken_second_page && served == 2 {
        let mut response = (StatusCode::OK, "{\"more\": true, \"objects\": [").into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_str(media).unwrap());
        return response;
    }
    let all = selected(fake, &query);
    let limit: usize = query
        .get("limit")
        .map_or(100, |limit| limit.parse().unwrap());
    let offset: usize = match query.get("next") {
        Some(_) if behaviour.repeat_next => 0,
        Some(next) => next.strip_prefix("offset-").unwrap().parse().unwrap(),
        None => 0,
    };
    let end = (offset + limit).min(all.len());
    let page = &all[offset.min(end)..end];
    let more = behaviour.repeat_next || end < all.len();
    let body = if page.is_empty() && !more {
        json!({})
    } else {
        let next = if behaviour.repeat_next {
            "again".to_string()
        } else {
            format!("offset-{end}")
        };
        json!({
            "more": more,
            "next": if more { json!(next) } else { Value::Null },
            "objects": page.iter().map(|(_, object)| object.clone()).collect::<Vec<_>>(),
        })
    };
    let mut response = answer(StatusCode::OK, media, body);
    date_headers(&mut response, page);
    response
}

fn objects_20(fake: &Fake, uri: &Uri, headers: &HeaderMap) -> Response {
    let range = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    fake.requests.lock().unwrap().push(range.clone());
    let all = selected(fake, &query_pairs(uri).0);
    let (first, last) = range
        .strip_prefix("items ")
        .and_then(|span| span.split_once('-'))
        .map(|(a, b)| (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()))
        .unwrap_or((0, usize::MAX - 1));
    if first >= all.len() && !all.is_empty() {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
        response.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("items */{}", all.len())).unwrap(),
        );
        return response;
    }
    let end = (last + 1).min(all.len());
    let page = &all[first.min(end)..end];
    let bundle = json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid::Uuid::new_v4()),
        "spec_version": "2.0",
        "objects": page.iter().map(|(_, object)| object.clone()).collect::<Vec<_>>(),
    });
    let mut response = answer(StatusCode::PARTIAL_CONTENT, STIX_20, bundle);
    if !page.is_empty() {
        response.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("items {first}-{}/{}", end - 1, all.len())).unwrap(),
        );
    }
    date_headers(&mut response, page);
    response
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

async fn settings(server: &Server) -> ImportSettings {
    let host: i64 = server
        .store
        .setting("host_org_id")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    ImportSettings::owned_by(host, 1)
}

async fn pull(server: &Server, options: &PullOptions) -> Result<PullReport, TaxiiError> {
    pull_collection(
        &server.store,
        options,
        &settings(server).await,
        None,
        kizuna_server::now(),
    )
    .await
}

fn options(url: &str, limit: u32) -> PullOptions {
    let mut options = PullOptions::new(url, COLLECTION);
    options.limit = limit;
    options
}

/// Every stored event, whole.
async fn stored_events(server: &Server) -> Vec<Value> {
    let (status, _, index) = server.get("/events/index").await;
    assert_eq!(status, StatusCode::OK);
    let mut events = Vec::new();
    for entry in index.as_array().unwrap() {
        events.push(server.view_event(text(&entry["uuid"])).await);
    }
    events
}

/// How often each value is stored, loose and in objects.
fn value_counts(events: &[Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event in events {
        let loose = event["Attribute"].as_array().into_iter().flatten();
        let inner = event["Object"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|object| object["Attribute"].as_array().into_iter().flatten());
        for attribute in loose.chain(inner) {
            *counts
                .entry(text(&attribute["value"]).to_string())
                .or_default() += 1;
        }
    }
    counts
}

fn item_counts(event: &Value) -> (usize, usize) {
    let count = |key: &str| event[key].as_array().map_or(0, Vec::len);
    (count("Attribute"), count("Object"))
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_collection_is_read_through_next_then_incrementally_from_the_cursor() {
    let server = Server::start().await;
    let objects = collection_objects();
    let total = objects.len() as u64;
    let remote = Remote::start(
        Behaviour {
            basic_auth: true,
            ..Behaviour::default()
        },
        objects,
    )
    .await;
    let mut first = options(&format!("{}/taxii2/", remote.base), 250);
    first.credentials = Credentials::Basic {
        user: USER.into(),
        password: PASSWORD.into(),
    };
    let report = pull(&server, &first).await.expect("the first pull");
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.objects, total);
    assert_eq!(report.pages, total.div_ceil(250));
    assert_eq!(report.collection.id, COLLECTION);
    assert_eq!(report.collection.version, TaxiiVersion::V21);
    let requests = remote.fake.requests();
    assert!(
        requests[1..]
            .iter()
            .all(|query| query.contains("next=offset-"))
    );
    let last_added = date_added(FIRST_ADDED + total as i64 - 1);
    assert_eq!(report.cursor.as_deref(), Some(last_added.as_str()));
    assert!(report.server_dates);

    let events = stored_events(&server).await;
    let counts = value_counts(&events);
    for value in initial_values() {
        assert_eq!(counts.get(&value), Some(&1), "{value} stored once");
    }
    // The grouping whose members came on the page before it holds all of them.
    let expected = bundle_to_misp_events(&zebrocy(), &StixImportOptions::default());
    let expected_event = expected
        .events
        .iter()
        .find(|event| event["Event"]["info"] == "Zebrocy blogpost November 2018")
        .expect("the grouping's event");
    let stored = events
        .iter()
        .find(|event| event["info"] == "Zebrocy blogpost November 2018")
        .expect("the grouping was imported");
    assert_eq!(item_counts(stored), item_counts(&expected_event["Event"]));
    assert!(item_counts(stored).0 > 20, "{:?}", item_counts(stored));

    // Nothing new since the cursor.
    let mut second = first.clone();
    second.added_after = report.cursor.clone();
    let again = pull(&server, &second).await.expect("the second pull");
    assert_eq!((again.objects, again.import.events_added), (0, 0));
    assert_eq!(again.cursor, report.cursor);
    assert!(
        remote
            .fake
            .requests()
            .last()
            .unwrap()
            .contains("added_after="),
        "the cursor was sent"
    );

    // Objects added later are all the third pull reads.
    let later = later_values();
    remote
        .fake
        .add(later.iter().map(|address| indicator(address)).collect());
    let third = pull(&server, &second).await.expect("the third pull");
    assert_eq!(third.objects, later.len() as u64);
    assert_eq!(third.import.events_added, 1);
    let counts = value_counts(&stored_events(&server).await);
    for address in &later {
        assert_eq!(counts.get(address), Some(&1), "{address} stored once");
    }

    // A full pull, cut into other pages now, adds nothing and duplicates nothing.
    let whole = pull(&server, &first).await.expect("a full pull");
    assert!(whole.error.is_none(), "{:?}", whole.error);
    assert_eq!(whole.import.events_added, 0, "{:?}", whole.import);
    assert!(
        whole.import.rejected.is_empty(),
        "{:?}",
        whole.import.rejected
    );
    let counts = value_counts(&stored_events(&server).await);
    assert!(counts.values().all(|&count| count == 1));
}

#[tokio::test]
async fn a_taxii_20_server_is_paged_with_range() {
    let server = Server::start().await;
    let objects = collection_objects();
    let total = objects.len() as u64;
    let remote = Remote::start(
        Behaviour {
            only_20: true,
            ..Behaviour::default()
        },
        objects,
    )
    .await;
    // Not told: the 406 to a 2.1 request switches the client to 2.0.
    let report = pull(&server, &options(&remote.root_20(), 400))
        .await
        .expect("a 2.0 pull");
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.collection.version, TaxiiVersion::V20);
    assert_eq!(report.objects, total);
    assert_eq!(report.pages, total.div_ceil(400));
    let ranges = remote.fake.requests();
    assert_eq!(ranges[0], "items 0-399");
    assert_eq!(ranges[1], "items 400-799");
    let counts = value_counts(&stored_events(&server).await);
    for value in initial_values() {
        assert_eq!(counts.get(&value), Some(&1), "{value} stored once");
    }

    let mut told = options(&remote.root_20(), 1000);
    told.version = Some(TaxiiVersion::V20);
    told.added_after = report.cursor.clone();
    let again = pull(&server, &told).await.expect("a second 2.0 pull");
    assert_eq!(again.objects, 0);
}

#[tokio::test]
async fn refusals_and_missing_collections_are_reported_with_the_error_resource() {
    let server = Server::start().await;
    let remote = Remote::start(
        Behaviour {
            basic_auth: true,
            ..Behaviour::default()
        },
        vec![indicator("192.0.2.1")],
    )
    .await;
    let error = pull(&server, &options(&remote.root(), 10))
        .await
        .expect_err("no credentials");
    match &error {
        TaxiiError::Refused {
            status,
            title,
            description,
            ..
        } => {
            assert_eq!(*status, 401);
            assert_eq!(title, "Authentication required");
            assert_eq!(description, "give the reader's e-mail and API key");
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("HTTP 401"), "{error}");

    let mut keyed = options(&remote.root(), 10);
    keyed.credentials = Credentials::Authorization(BASIC.into());
    keyed.collection = "0d9c7e5b-4c27-4f55-9d0e-0a7a1c1f3b11".into();
    let missing = pull(&server, &keyed)
        .await
        .expect_err("an unknown collection");
    assert!(matches!(missing, TaxiiError::Collection(_)), "{missing:?}");

    keyed.collection = HIDDEN_COLLECTION.into();
    let unreadable = pull(&server, &keyed).await.expect_err("can_read false");
    assert!(
        unreadable.to_string().contains("not readable"),
        "{unreadable}"
    );

    // By alias, through the collections list.
    keyed.collection = "ipsum-and-zebrocy".into();
    let by_alias = pull(&server, &keyed).await.expect("by alias");
    assert_eq!(
        (by_alias.collection.id.as_str(), by_alias.objects),
        (COLLECTION, 1)
    );

    let nobody = pull(&server, &options("http://127.0.0.1:1/taxii2/root/", 10))
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(nobody, TaxiiError::Unreachable(_)), "{nobody:?}");
}

#[tokio::test]
async fn answers_that_are_not_taxii_stop_the_pull() {
    let server = Server::start().await;
    let plain = Remote::start(
        Behaviour {
            plain_json: true,
            ..Behaviour::default()
        },
        vec![indicator("192.0.2.1")],
    )
    .await;
    let error = pull(&server, &options(&plain.root(), 10))
        .await
        .expect_err("application/json");
    assert!(matches!(error, TaxiiError::NotTaxii(_)), "{error:?}");
    assert!(error.to_string().contains("application/json"), "{error}");

    let broken = Remote::start(
        Behaviour {
            broken_second_page: true,
            ..Behaviour::default()
        },
        collection_objects(),
    )
    .await;
    let report = pull(&server, &options(&broken.root(), 100))
        .await
        .expect("the first page is read");
    assert_eq!(report.pages, 1);
    assert!(
        matches!(&report.error, Some(TaxiiError::NotTaxii(text)) if text.contains("not valid JSON")),
        "{:?}",
        report.error
    );
    // What came before the broken page is imported.
    assert!(report.import.events_added >= 1, "{:?}", report.import);
}

#[tokio::test]
async fn a_server_repeating_next_is_stopped() {
    let server = Server::start().await;
    let remote = Remote::start(
        Behaviour {
            repeat_next: true,
            ..Behaviour::default()
        },
        collection_objects(),
    )
    .await;
    let report = pull(&server, &options(&remote.root(), 100))
        .await
        .expect("pages were read");
    assert!(
        matches!(&report.error, Some(TaxiiError::Paging(text)) if text.contains("same `next`")),
        "{:?}",
        report.error
    );
    assert_eq!(report.pages, 2);
    assert_eq!(remote.fake.requests().len(), 2);
}

#[tokio::test]
async fn a_taxii_feed_is_added_fetched_and_resumed_from_its_cursor() {
    let server = Server::start().await;
    let objects = collection_objects();
    let total = objects.len();
    let remote = Remote::start(
        Behaviour {
            basic_auth: true,
            ..Behaviour::default()
        },
        objects,
    )
    .await;
    let feed = |settings: Value| {
        json!({"Feed": {
            "name": "Fake TAXII",
            "provider": "test",
            "url": remote.root(),
            "source_format": "taxii",
            "input_source": "network",
            "enabled": true,
            "distribution": "1",
            "headers": format!("Authorization: {BASIC}"),
            "settings": settings,
        }})
    };
    let (status, _, body) = server
        .post("/feeds/add", feed(json!({"taxii": {"limit": 500}})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body:#}");
    assert!(
        body.to_string().contains("settings.taxii.collection"),
        "{body:#}"
    );
    let (status, _, body) = server
        .post(
            "/feeds/add",
            feed(json!({"taxii": {"collection": COLLECTION, "version": "1.1"}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body:#}");
    assert!(
        body.to_string().contains("settings.taxii.version"),
        "{body:#}"
    );

    let (status, _, body) = server
        .post(
            "/feeds/add",
            feed(json!({"taxii": {"collection": COLLECTION, "version": "2.1", "limit": 500}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["Feed"]["source_format"], "taxii");
    let id = int(&body["Feed"]["id"]);

    let (status, _, body) = server.get(&format!("/feeds/fetchFromFeed/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let (_, _, view) = server.get(&format!("/feeds/view/{id}")).await;
    let result = text(&view["Feed"]["last_fetch_result"]).to_string();
    assert_eq!(view["Feed"]["last_fetch_success"], true, "{view:#}");
    assert!(
        result.contains(&format!(
            "Read {total} object(s) in {} page(s)",
            total.div_ceil(500)
        )),
        "{result}"
    );
    let events = stored_events(&server).await;
    assert!(
        events
            .iter()
            .all(|event| text(&event["distribution"]) == "1")
    );
    let counts = value_counts(&events);
    for value in initial_values() {
        assert_eq!(counts.get(&value), Some(&1), "{value} stored once");
    }

    // The next fetch starts from the cursor and finds nothing new.
    let (status, _, _) = server.get(&format!("/feeds/fetchFromFeed/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let last = remote.fake.requests().last().unwrap().clone();
    let cursor = date_added(FIRST_ADDED + total as i64 - 1);
    assert!(last.contains(&format!("added_after={cursor}")), "{last}");
    let (_, _, view) = server.get(&format!("/feeds/view/{id}")).await;
    assert!(
        text(&view["Feed"]["last_fetch_result"]).contains("Read 0 object(s)"),
        "{view:#}"
    );

    // A wrong key is recorded as the feed's failure.
    let (status, _, _) = server
        .post(
            &format!("/feeds/edit/{id}"),
            json!({"Feed": {"headers": "Authorization: Basic d3Jvbmc6d3Jvbmc="}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, _) = server.get(&format!("/feeds/fetchFromFeed/{id}")).await;
    let (_, _, view) = server.get(&format!("/feeds/view/{id}")).await;
    assert_eq!(view["Feed"]["last_fetch_success"], false, "{view:#}");
    assert!(
        text(&view["Feed"]["last_fetch_result"]).contains("HTTP 401"),
        "{view:#}"
    );
}

/// Every value stored (loose and in objects) of an instance, by event title.
async fn values_by_event(client: &crate::support::Client) -> HashMap<String, Vec<String>> {
    let (status, _, index) = client.get("/events/index").await;
    assert_eq!(status, StatusCode::OK);
    let mut found = HashMap::new();
    for entry in index.as_array().unwrap() {
        let (_, _, body) = client
            .get(&format!("/events/view/{}", text(&entry["uuid"])))
            .await;
        let mut values: Vec<String> = value_counts(std::slice::from_ref(&body["Event"]))
            .into_keys()
            .collect();
        values.sort();
        found.insert(text(&body["Event"]["info"]).to_string(), values);
    }
    found
}

#[tokio::test]
async fn a_kizuna_taxii_collection_is_pulled_whole_and_then_incrementally() {
    let source = crate::support::TcpInstance::start("SOURCE").await;
    let (status, _, body) = source.admin.post("/events/upload_stix/2", zebrocy()).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let loose: Vec<Value> = addresses()[..300].iter().map(|a| indicator(a)).collect();
    let (status, _, body) = source
        .admin
        .post(
            "/events/upload_stix/2",
            json!({"type": "bundle", "id": format!("bundle--{}", uuid::Uuid::new_v4()), "objects": loose}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let collection = kizuna_store::TaxiiCollection {
        id: uuid::Uuid::new_v4().to_string(),
        title: "Everything".into(),
        created: kizuna_server::now(),
        modified: kizuna_server::now(),
        ..kizuna_store::TaxiiCollection::default()
    };
    source
        .store
        .create_taxii_collection(&collection)
        .await
        .unwrap();

    let server = Server::start().await;
    let mut wanted = PullOptions::new(format!("{}/taxii2/", source.url), &collection.id);
    wanted.limit = 50;
    wanted.credentials = Credentials::Basic {
        user: "admin@source.test".into(),
        password: source.admin.key.clone(),
    };
    let report = pull(&server, &wanted).await.expect("a pull from Kizuna");
    assert!(report.error.is_none(), "{:?}", report.error);
    assert!(report.pages > 6, "{report:?}");
    assert!(report.server_dates);
    assert!(
        report.import.rejected.is_empty(),
        "{:?}",
        report.import.rejected
    );
    let here = values_by_event(&server.admin).await;
    let there = values_by_event(&source.admin).await;
    let zebrocy_title = "Zebrocy blogpost November 2018";
    assert_eq!(here.get(zebrocy_title), there.get(zebrocy_title));
    let all_here: HashSet<&String> = here.values().flatten().collect();
    let all_there: HashSet<&String> = there.values().flatten().collect();
    assert_eq!(all_here, all_there);

    wanted.added_after = report.cursor.clone();
    let again = pull(&server, &wanted).await.expect("a second pull");
    assert_eq!((again.objects, again.import.events_added), (0, 0));
}

//! `/feeds/*`: feed settings in MISP's shapes and rights; fetching MISP feeds (local and
//! over HTTP, incrementally, with rules and bad files), csv and freetext feeds (new event per
//! fetch, fixed event with delta merge); failures recorded on the feed; the scheduler; the
//! value cache; and the feed this instance serves, subscribed to by a second instance.

use crate::support::{
    ROLE_USER, Server, assert_misp_error, assert_save_failed, int, tag_names, text,
};
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kizuna_server::feed_fetch::{FeedSettings, fetch_due_feeds};
use kizuna_server::{AppState, ServerSettings, app};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const INFOBLOX_EVENTS: [&str; 4] = [
    "24e799ca-aad8-4244-8005-90b3ceb44540",
    "6c1c6c4f-5cde-474f-bb69-8e5b8b041f81",
    "dad88707-beb8-4a14-94e2-5ffecf5a5f85",
    "f02183b6-33a0-4a69-bc22-7a0d5b034ab6",
];

fn infoblox_source() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/feeds/infoblox")
}

/// A writable copy of the Infoblox feed folder.
fn infoblox_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for entry in std::fs::read_dir(infoblox_source()).unwrap() {
        let entry = entry.unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        std::fs::write(dir.path().join(entry.file_name()), bytes).unwrap();
    }
    dir
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, value.to_string()).unwrap();
}

/// Adds a feed and returns its id.
async fn add_feed(server: &Server, feed: Value) -> i64 {
    let (status, _, body) = server.post("/feeds/add", json!({ "Feed": feed })).await;
    assert_eq!(status, StatusCode::OK, "feeds/add: {body:#}");
    int(&body["Feed"]["id"])
}

async fn local_misp_feed(server: &Server, dir: &Path, extra: Value) -> i64 {
    let mut feed = json!({
        "name": "Infoblox",
        "provider": "Infoblox Threat Intel",
        "url": dir.display().to_string(),
        "source_format": "misp",
        "input_source": "local",
        "enabled": true,
        "distribution": "3",
    });
    for (key, value) in extra.as_object().unwrap() {
        feed[key] = value.clone();
    }
    add_feed(server, feed).await
}

async fn fetch(server: &Server, id: i64) -> (StatusCode, Value) {
    let (status, _, body) = server.get(&format!("/feeds/fetchFromFeed/{id}")).await;
    (status, body)
}

async fn view_feed(server: &Server, id: i64) -> Value {
    let (status, _, body) = server.get(&format!("/feeds/view/{id}")).await;
    assert_eq!(status, StatusCode::OK, "feeds/view: {body:#}");
    body["Feed"].clone()
}

async fn event_or_none(server: &Server, uuid: &str) -> Option<Value> {
    let (status, _, body) = server.get(&format!("/events/view/{uuid}")).await;
    (status == StatusCode::OK).then(|| body["Event"].clone())
}

#[tokio::test]
async fn feeds_are_added_viewed_listed_edited_and_deleted_in_misp_shapes() {
    let server = Server::start().await;
    // What PyMISP's add_feed sends for a bare MISPFeed (MISP's REST defaults apply).
    let (status, _, body) = server
        .post(
            "/feeds/add",
            json!({"Feed": {"name": "TestFeed", "provider": "TestFeed - Provider", "url": "http://example.com"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let feed = &body["Feed"];
    let id = int(&feed["id"]);
    assert_eq!(feed["name"], "TestFeed");
    assert_eq!(feed["url"], "http://example.com");
    assert_eq!(feed["source_format"], "freetext");
    assert_eq!(feed["fixed_event"], true);
    assert_eq!(feed["enabled"], false);
    assert_eq!(feed["distribution"], "0");
    assert_eq!(feed["input_source"], "network");
    assert_eq!(feed["settings"], "{}");
    assert_eq!(feed["fetch_interval"], "0");
    assert!(body.get("Tag").is_none());

    // PyMISP's update_feed sends back what it read, settings decoded.
    let mut edited = view_feed(&server, id).await;
    assert_eq!(edited["cached_elements"], 0);
    edited["name"] = json!("TestFeed - Update");
    edited["settings"] = json!({"common": {"excluderegex": "/^10\\./"}});
    edited["rules"] = json!({"tags": {"OR": ["tlp:clear"], "NOT": []}, "orgs": {"OR": [], "NOT": []}, "url_params": ""});
    edited["fetch_interval"] = json!(3600);
    let (status, _, body) = server
        .post(&format!("/feeds/edit/{id}"), json!({ "Feed": edited }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["Feed"]["name"], "TestFeed - Update");
    assert_eq!(body["Feed"]["fetch_interval"], "3600");
    let settings: Value = serde_json::from_str(text(&body["Feed"]["settings"])).unwrap();
    assert_eq!(settings["common"]["excluderegex"], "/^10\\./");
    let rules: Value = serde_json::from_str(text(&body["Feed"]["rules"])).unwrap();
    assert_eq!(rules["tags"]["OR"], json!(["tlp:clear"]));

    // PyMISP's enable_feed: an edit with the id and the flag only.
    let (status, _, body) = server
        .post(
            &format!("/feeds/edit/{id}"),
            json!({"Feed": {"id": id.to_string(), "enabled": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["Feed"]["enabled"], true);
    assert_eq!(
        body["Feed"]["name"], "TestFeed - Update",
        "other fields kept"
    );

    let (status, _, body) = server.post_empty(&format!("/feeds/disable/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["message"], "Feed disabled.");
    assert_eq!(view_feed(&server, id).await["enabled"], false);
    let (_, _, body) = server.get(&format!("/feeds/enable/{id}")).await;
    assert_eq!(body["message"], "Feed enabled.");
    let (status, _, body) = server.post_empty("/feeds/enable/999").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_misp_error(&body, "/feeds/enable/999");

    let (status, _, body) = server.get("/feeds/index").await;
    assert_eq!(status, StatusCode::OK);
    let listed = body.as_array().expect("a bare list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["Feed"]["id"], id.to_string());
    let (_, _, body) = server.get("/feeds/index/scope:default").await;
    assert!(body.as_array().unwrap().is_empty());

    let (status, _, body) = server.post_empty(&format!("/feeds/delete/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["message"], "Feed deleted.");
    let (status, _, body) = server.get(&format!("/feeds/view/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Invalid feed.");
}

#[tokio::test]
async fn bad_feed_settings_are_refused_naming_the_field() {
    let server = Server::start().await;
    let cases = [
        (json!({"name": "x", "url": "ftp://example.com/feed"}), "url"),
        (json!({"url": "https://example.com/feed"}), "name"),
        (
            json!({"name": "x", "url": "https://example.com", "distribution": 7}),
            "distribution",
        ),
        (
            json!({"name": "x", "url": "https://example.com", "distribution": 4, "sharing_group_id": 99}),
            "sharing_group_id",
        ),
        (
            json!({"name": "x", "url": "https://example.com", "source_format": "stix"}),
            "source_format",
        ),
        (
            json!({"name": "x", "url": "https://example.com", "source_format": "csv", "settings": {"csv": {"value": "zero"}}}),
            "settings",
        ),
        (
            json!({"name": "x", "url": "https://example.com", "settings": "{not json"}),
            "settings",
        ),
        (
            json!({"name": "x", "url": "https://example.com", "rules": {"tags": {"OR": {"a": 1}}}}),
            "rules",
        ),
        (
            json!({"name": "x", "url": "https://example.com", "tag_id": 42}),
            "tag_id",
        ),
        (
            json!({"name": "x", "url": "https://example.com", "tag_collection_id": 3}),
            "tag_collection_id",
        ),
        (
            json!({"name": "x", "url": "https://example.com", "fetch_interval": 5}),
            "fetch_interval",
        ),
        (
            json!({"name": "x", "url": "https://example.com", "headers": "no colon here"}),
            "headers",
        ),
        (
            json!({"name": "x", "url": "/nonexistent/feed", "input_source": "local", "source_format": "misp"}),
            "url",
        ),
        (
            json!({"name": "x", "url": "https://example.com", "enabled": "maybe"}),
            "enabled",
        ),
    ];
    for (feed, field) in cases {
        let reply = server.post("/feeds/add", json!({ "Feed": feed })).await;
        assert_save_failed(&reply, "/feeds/add");
        assert!(
            reply.2["errors"].get(field).is_some(),
            "{field} not named for {feed}: {:#}",
            reply.2
        );
    }
    let (status, _, body) = server.get("/feeds/index").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.as_array().unwrap().is_empty(), "nothing was saved");
}

#[tokio::test]
async fn only_site_admins_configure_feeds_and_others_see_open_ones() {
    let server = Server::start().await;
    let open = add_feed(
        &server,
        json!({"name": "Open", "provider": "p", "url": "https://example.com/open", "lookup_visible": true, "headers": "Authorization: secret"}),
    )
    .await;
    add_feed(
        &server,
        json!({"name": "Closed", "provider": "p", "url": "https://example.com/closed"}),
    )
    .await;
    let user = server.user_in_new_org("Elsewhere", ROLE_USER).await;
    let (status, _, body) = user.get("/feeds/index").await;
    assert_eq!(status, StatusCode::OK);
    let listed = body.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["Feed"]["id"], open.to_string());
    assert!(listed[0]["Feed"].get("headers").is_none(), "no secrets");
    for (method, path) in [
        ("post", "/feeds/add".to_string()),
        ("post", format!("/feeds/edit/{open}")),
        ("post", format!("/feeds/delete/{open}")),
        ("get", format!("/feeds/enable/{open}")),
        ("get", format!("/feeds/fetchFromFeed/{open}")),
        ("get", "/feeds/fetchFromAllFeeds".to_string()),
        ("get", "/feeds/cacheFeeds/all".to_string()),
        ("get", format!("/feeds/view/{open}")),
    ] {
        let (status, _, body) = if method == "post" {
            user.post(&path, json!({"Feed": {"name": "x"}})).await
        } else {
            user.get(&path).await
        };
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body:#}");
        assert_misp_error(&body, &path);
    }
    assert_eq!(view_feed(&server, open).await["name"], "Open");
}

#[tokio::test]
async fn a_local_misp_feed_is_fetched_incrementally() {
    let server = Server::start().await;
    let (_, _, tag) = server
        .post(
            "/tags/add",
            json!({"Tag": {"name": "source:infoblox-feed"}}),
        )
        .await;
    let tag_id = int(&tag["Tag"]["id"]);
    let dir = infoblox_copy();
    let id = local_misp_feed(&server, dir.path(), json!({"tag_id": tag_id})).await;

    let (status, body) = fetch(&server, id).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(
        body["result"],
        "Fetching the feed has successfully completed. Downloaded 4 new event(s). Updated 0 event(s)."
    );
    assert_eq!(body["summary"]["events_added"], 4);
    assert_eq!(body["summary"]["attributes_added"], 47);
    let mut counted = 0;
    for uuid in INFOBLOX_EVENTS {
        let event = event_or_none(&server, uuid).await.expect("imported");
        assert_eq!(event["Orgc"]["name"], "Infoblox");
        assert_eq!(event["distribution"], "3");
        assert!(tag_names(&event).contains(&"source:infoblox-feed".to_string()));
        assert!(
            event["Attribute"]
                .as_array()
                .unwrap()
                .iter()
                .all(|attribute| attribute["distribution"] == "5")
        );
        counted += event["Attribute"].as_array().unwrap().len();
    }
    assert_eq!(counted, 47);
    let state = view_feed(&server, id).await;
    assert_eq!(state["last_fetch_success"], true);
    assert_ne!(state["last_fetch_timestamp"], "0");

    // Unchanged folder: the manifest is not even parsed again.
    let (_, body) = fetch(&server, id).await;
    assert_eq!(
        body["result"],
        "Fetching the feed has successfully completed. The feed has not changed since the last fetch."
    );

    // One event changes: only it is downloaded again. Another event's file is deleted from
    // the folder but not from the manifest: it is unchanged, so it is not asked for.
    let changed = INFOBLOX_EVENTS[0];
    let path = dir.path().join(format!("{changed}.json"));
    let mut event = read_json(&path);
    event["Event"]["timestamp"] = json!("1800000000");
    event["Event"]["Attribute"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "domain", "category": "Network activity", "value": "added-later.test", "to_ids": true, "uuid": "7f0c7a1e-0000-4000-8000-000000000001", "timestamp": "1800000000"}));
    write_json(&path, &event);
    let manifest_path = dir.path().join("manifest.json");
    let mut manifest = read_json(&manifest_path);
    manifest[changed]["timestamp"] = json!(1_800_000_000);
    write_json(&manifest_path, &manifest);
    std::fs::remove_file(dir.path().join(format!("{}.json", INFOBLOX_EVENTS[1]))).unwrap();
    let (status, body) = fetch(&server, id).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(
        body["result"],
        "Fetching the feed has successfully completed. Downloaded 0 new event(s). Updated 1 event(s). 3 event(s) unchanged."
    );
    let updated = event_or_none(&server, changed).await.unwrap();
    assert_eq!(updated["timestamp"], "1800000000");
    assert!(
        updated["Attribute"]
            .as_array()
            .unwrap()
            .iter()
            .any(|attribute| attribute["value"] == "added-later.test")
    );
}

#[tokio::test]
async fn lenient_manifests_rules_and_broken_event_files() {
    let server = Server::start().await;
    let dir = infoblox_copy();
    // The manifest as a list with a trailing comma; one entry is not a uuid.
    let manifest = read_json(&dir.path().join("manifest.json"));
    let mut entries: Vec<String> = manifest
        .as_object()
        .unwrap()
        .iter()
        .map(|(uuid, entry)| {
            let mut entry = entry.clone();
            entry["uuid"] = json!(uuid);
            entry.to_string()
        })
        .collect();
    entries.push(json!({"uuid": "not-a-uuid", "info": "junk"}).to_string());
    std::fs::write(
        dir.path().join("manifest.json"),
        format!("[{},\n]", entries.join(",\n")),
    )
    .unwrap();
    // A broken event file (not JSON at all) and one with a trailing comma (tolerated).
    std::fs::write(
        dir.path().join(format!("{}.json", INFOBLOX_EVENTS[2])),
        "{\"Event\": {",
    )
    .unwrap();
    let tolerated = dir.path().join(format!("{}.json", INFOBLOX_EVENTS[3]));
    let original = std::fs::read_to_string(&tolerated).unwrap();
    let with_comma = original
        .trim_end()
        .trim_end_matches('}')
        .trim_end()
        .trim_end_matches('}')
        .to_string()
        + ",}}";
    std::fs::write(&tolerated, with_comma).unwrap();
    // Rules leave out tlp:white events (dad88707 and 6c1c6c4f are tlp:white in the manifest).
    let id = local_misp_feed(
        &server,
        dir.path(),
        json!({"rules": "{\"tags\":{\"OR\":[],\"NOT\":[\"tlp:white\"]},\"orgs\":{\"OR\":[],\"NOT\":[]},\"url_params\":\"\"}"}),
    )
    .await;
    let (status, body) = fetch(&server, id).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["summary"]["events_added"], 2, "{body:#}");
    assert_eq!(body["summary"]["events_filtered"], 2);
    let rejected = body["summary"]["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{body:#}");
    assert!(text(&rejected[0]["location"]).contains("manifest entry 4"));
    assert!(event_or_none(&server, INFOBLOX_EVENTS[0]).await.is_some());
    assert!(
        event_or_none(&server, INFOBLOX_EVENTS[3]).await.is_some(),
        "trailing comma tolerated"
    );
    assert!(
        event_or_none(&server, INFOBLOX_EVENTS[1]).await.is_none(),
        "filtered"
    );

    // Without the rules the broken file is reported on its own, the good one imported.
    let (status, _, _) = server
        .post(&format!("/feeds/edit/{id}"), json!({"Feed": {"rules": ""}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = fetch(&server, id).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["summary"]["events_added"], 1, "{body:#}");
    let rejected: Vec<String> = body["summary"]["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rejection| {
            format!(
                "{} {} {}",
                text(&rejection["location"]),
                text(&rejection["item"]),
                text(&rejection["reason"])
            )
        })
        .collect();
    assert!(
        rejected
            .iter()
            .any(|line| line.contains(INFOBLOX_EVENTS[2]) && line.contains("not valid JSON")),
        "{rejected:?}"
    );
    assert!(event_or_none(&server, INFOBLOX_EVENTS[1]).await.is_some());
    assert!(event_or_none(&server, INFOBLOX_EVENTS[2]).await.is_none());
    // The broken version is not downloaded again until the feed changes it.
    std::fs::write(
        dir.path().join("manifest.json"),
        format!("[{}]", entries[..4].join(",")),
    )
    .unwrap();
    let (_, body) = fetch(&server, id).await;
    assert_eq!(body["summary"]["events_added"], 0, "{body:#}");
    assert!(
        body["summary"]["rejected"].as_array().unwrap().is_empty(),
        "{body:#}"
    );
}

#[tokio::test]
async fn fetch_failures_are_answered_and_recorded() {
    let server = Server::start().await;
    let unreachable = add_feed(
        &server,
        json!({"name": "Down", "provider": "p", "url": "http://127.0.0.1:9/feed", "source_format": "misp", "enabled": true}),
    )
    .await;
    let (status, body) = fetch(&server, unreachable).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:#}");
    assert_misp_error(&body, &format!("/feeds/fetchFromFeed/{unreachable}"));
    assert_eq!(
        body["result"], body["message"],
        "MISP's key of fetch answers"
    );
    let message = text(&body["message"]);
    assert!(
        message
            .starts_with("Fetching the feed has failed: GET http://127.0.0.1:9/feed/manifest.json"),
        "{message}"
    );
    let state = view_feed(&server, unreachable).await;
    assert_eq!(state["last_fetch_success"], false);
    assert!(text(&state["last_fetch_result"]).contains("manifest.json"));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("manifest.json"), "{\"a\": [1, 2}").unwrap();
    let broken = local_misp_feed(&server, dir.path(), json!({})).await;
    let (status, body) = fetch(&server, broken).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text(&body["message"]).contains("manifest.json: "),
        "{body:#}"
    );

    let disabled = local_misp_feed(&server, dir.path(), json!({"enabled": false})).await;
    let (status, body) = fetch(&server, disabled).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["result"],
        "Feed is currently not enabled. Make sure you enable it."
    );
    let (status, _) = fetch(&server, 999).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _, body) = server.get("/feeds/fetchFromAllFeeds").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["feeds"].as_array().unwrap().len(), 2);
    assert!(
        text(&body["result"]).starts_with("Fetching 2 of 2 feed(s) has failed"),
        "{body:#}"
    );
}

#[tokio::test]
async fn local_feeds_can_be_switched_off() {
    let dir = infoblox_copy();
    let server = Server::start().await;
    let id = local_misp_feed(&server, dir.path(), json!({})).await;
    let state = AppState::new(server.store.clone(), ServerSettings::default()).with_feed_settings(
        FeedSettings {
            allow_local: false,
            ..FeedSettings::default()
        },
    );
    let locked = crate::support::Client {
        app: app(state),
        key: server.key.clone(),
    };
    let (status, _, body) = locked.get(&format!("/feeds/fetchFromFeed/{id}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text(&body["message"]).contains("local feeds are disabled"),
        "{body:#}"
    );
    let reply = locked
        .post(
            "/feeds/add",
            json!({"Feed": {"name": "x", "url": dir.path().display().to_string(), "input_source": "local", "source_format": "misp"}}),
        )
        .await;
    assert_save_failed(&reply, "/feeds/add");
    assert!(reply.2["errors"].get("input_source").is_some());
}

/// A static file server that counts requests and answers `If-None-Match` with 304.
#[derive(Clone)]
struct FileServer {
    root: PathBuf,
    requests: Arc<AtomicUsize>,
    not_modified: Arc<AtomicUsize>,
}

async fn serve_file(
    State(files): State<FileServer>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    files.requests.fetch_add(1, Ordering::SeqCst);
    let Ok(bytes) = std::fs::read(files.root.join(&name)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!(
        "\"{}-{}\"",
        bytes.len(),
        bytes.iter().map(|&b| u64::from(b)).sum::<u64>()
    );
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|sent| sent.as_bytes() == etag.as_bytes())
    {
        files.not_modified.fetch_add(1, Ordering::SeqCst);
        return StatusCode::NOT_MODIFIED.into_response();
    }
    ([(header::ETAG, etag)], bytes).into_response()
}

async fn start_file_server(root: PathBuf) -> (String, FileServer) {
    let files = FileServer {
        root,
        requests: Arc::new(AtomicUsize::new(0)),
        not_modified: Arc::new(AtomicUsize::new(0)),
    };
    let router = Router::new()
        .route("/feed/{name}", axum::routing::get(serve_file))
        .with_state(files.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{address}/feed"), files)
}

#[tokio::test]
async fn an_http_misp_feed_is_fetched_with_conditional_requests() {
    let server = Server::start().await;
    let (url, files) = start_file_server(infoblox_source()).await;
    let id = add_feed(
        &server,
        json!({"name": "Infoblox", "provider": "Infoblox", "url": url, "source_format": "misp", "enabled": true, "distribution": 1, "headers": "X-Feed-Token: abc"}),
    )
    .await;
    let (status, body) = fetch(&server, id).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["summary"]["events_added"], 4);
    assert_eq!(
        files.requests.load(Ordering::SeqCst),
        5,
        "manifest and four events"
    );
    let (_, body) = fetch(&server, id).await;
    assert_eq!(body["summary"]["not_modified"], true);
    assert_eq!(files.requests.load(Ordering::SeqCst), 6);
    assert_eq!(files.not_modified.load(Ordering::SeqCst), 1);

    let missing = add_feed(
        &server,
        json!({"name": "Missing", "provider": "p", "url": format!("{url}/missing.csv"), "source_format": "csv", "enabled": true}),
    )
    .await;
    let (status, body) = fetch(&server, missing).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&body["message"]).contains("HTTP 404"), "{body:#}");
}

#[tokio::test]
async fn freetext_and_csv_feeds_write_values_into_events() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("blocklist.txt");
    std::fs::write(
        &list,
        "# blocklist\n198.51.100.7\nevil[.]example[.]com\n198.51.100.7\n10.1.1.1\n",
    )
    .unwrap();
    let freetext = add_feed(
        &server,
        json!({"name": "Blocklist", "provider": "p", "url": list.display().to_string(), "input_source": "local", "source_format": "freetext", "fixed_event": false, "enabled": true, "publish": true, "override_ids": true, "settings": {"common": {"excluderegex": "/^10\\./"}}}),
    )
    .await;
    let (status, body) = fetch(&server, freetext).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["summary"]["attributes_added"], 2, "{body:#}");
    assert_eq!(body["summary"]["duplicates"], 1);
    let event_id = text(&body["summary"]["event_id"]).to_string();
    let event = server.view_event(&event_id).await;
    assert_eq!(event["info"], "Blocklist feed");
    assert_eq!(event["analysis"], "2");
    assert_eq!(event["threat_level_id"], "4");
    assert_eq!(event["published"], true);
    let values: Vec<(&str, bool)> = event["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attribute| {
            (
                text(&attribute["value"]),
                attribute["to_ids"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        values,
        [("198.51.100.7", false), ("evil.example.com", false)]
    );

    // A fixed event with delta merge: the first fetch creates it, later ones add what is
    // new and soft-delete what left the feed.
    let csv = dir.path().join("list.csv");
    std::fs::write(
        &csv,
        "id,value,reason\n1,198.51.100.1,c2\n2,198.51.100.2,c2\n",
    )
    .unwrap();
    let fixed = add_feed(
        &server,
        json!({"name": "C2 list", "provider": "p", "url": csv.display().to_string(), "input_source": "local", "source_format": "csv", "fixed_event": true, "delta_merge": true, "enabled": true, "settings": "{\"csv\":{\"value\":\"2\",\"delimiter\":\",\"}}"}),
    )
    .await;
    let (status, body) = fetch(&server, fixed).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["summary"]["attributes_added"], 2, "{body:#}");
    let event_id = view_feed(&server, fixed).await["event_id"].clone();
    assert_eq!(event_id, body["summary"]["event_id"]);
    std::fs::write(
        &csv,
        "id,value,reason\n2,198.51.100.2,c2\n3,198.51.100.3,c2\n",
    )
    .unwrap();
    let (status, body) = fetch(&server, fixed).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(
        body["result"],
        "Fetching the feed has successfully completed. Added 1 value(s). Deleted 1 value(s) no longer in the feed."
    );
    let event = server.view_event(text(&event_id)).await;
    let mut live: Vec<&str> = event["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|attribute| attribute["deleted"] == false)
        .map(|attribute| text(&attribute["value"]))
        .collect();
    live.sort_unstable();
    assert_eq!(live, ["198.51.100.2", "198.51.100.3"]);
    let (_, body) = fetch(&server, fixed).await;
    assert_eq!(body["summary"]["not_modified"], true, "{body:#}");
}

#[tokio::test]
async fn due_feeds_are_fetched_by_the_scheduler() {
    let server = Server::start().await;
    let dir = infoblox_copy();
    let due = local_misp_feed(&server, dir.path(), json!({"fetch_interval": 3600})).await;
    local_misp_feed(&server, dir.path(), json!({"name": "Manual"})).await;
    let state = AppState::new(server.store.clone(), ServerSettings::default());
    let now = kizuna_server::now();
    let outcomes = fetch_due_feeds(&state, now).await;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].0, due);
    assert_eq!(outcomes[0].1.as_ref().unwrap().import.events_added, 4);
    assert!(
        fetch_due_feeds(&state, now + 60).await.is_empty(),
        "not due again yet"
    );
    let later = fetch_due_feeds(&state, now + 3600).await;
    assert_eq!(later.len(), 1);
    assert!(later[0].1.as_ref().unwrap().not_modified);
}

#[tokio::test]
async fn feed_caches_are_built_and_searched() {
    let server = Server::start().await;
    let dir = infoblox_copy();
    let misp = local_misp_feed(
        &server,
        dir.path(),
        json!({"caching_enabled": true, "lookup_visible": true}),
    )
    .await;
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "ticketsparis24.com\n198.51.100.9\n").unwrap();
    let freetext = add_feed(
        &server,
        json!({"name": "List", "provider": "p", "url": list.display().to_string(), "input_source": "local", "caching_enabled": true}),
    )
    .await;
    let (status, _, body) = server.get("/feeds/cacheFeeds/all").await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(
        body["message"],
        "Caching the feeds has successfully completed."
    );
    // 47 attributes, 41 distinct values.
    assert_eq!(view_feed(&server, misp).await["cached_elements"], 41);
    assert_eq!(view_feed(&server, freetext).await["cached_elements"], 2);

    let (status, _, body) = server
        .post(
            "/feeds/searchCaches",
            json!({"value": "TicketsParis24.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let hits = body.as_array().unwrap();
    assert_eq!(hits.len(), 2, "{body:#}");
    assert_eq!(hits[0]["Feed"]["id"], misp.to_string());
    assert_eq!(hits[0]["Feed"]["type"], "MISP Feed");
    assert_eq!(hits[0]["Feed"]["uuid"], json!([INFOBLOX_EVENTS[0]]));
    assert_eq!(hits[1]["Feed"]["type"], "Feed");
    let (_, _, body) = server
        .post(
            "/feeds/searchCaches",
            json!({"value": ["198.51.100.9", "nothing.test"]}),
        )
        .await;
    assert_eq!(body["198.51.100.9"][0]["Feed"]["id"], freetext.to_string());
    assert!(body.get("nothing.test").is_none());
    let user = server.user_in_new_org("Elsewhere", ROLE_USER).await;
    let (status, _, body) = user
        .post(
            "/feeds/searchCaches",
            json!({"value": "ticketsparis24.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body.as_array().unwrap().len(),
        1,
        "only the lookup-visible feed: {body:#}"
    );
    let (status, _, _) = server.post("/feeds/searchCaches", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = server.get("/feeds/cacheFeeds/everything").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_served_feed_holds_what_the_caller_may_see_and_another_instance_subscribes() {
    // Instance A serves its events on a real socket.
    let source = Server::start().await;
    let published = source
        .add_event(json!({"info": "Shared", "distribution": 1, "Attribute": [{"type": "domain", "value": "shared.test", "to_ids": true}], "Tag": [{"name": "tlp:clear"}]}))
        .await;
    let shared_uuid = text(&published["uuid"]).to_string();
    let (status, _, body) = source
        .post(&format!("/events/publish/{shared_uuid}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let private = source
        .add_event(json!({"info": "Ours only", "distribution": 0, "Attribute": [{"type": "ip-dst", "value": "198.51.100.50"}]}))
        .await;
    let private_uuid = text(&private["uuid"]).to_string();
    source
        .post(&format!("/events/publish/{private_uuid}"), json!({}))
        .await;
    source
        .add_event(json!({"info": "Draft", "distribution": 1, "Attribute": [{"type": "domain", "value": "draft.test"}]}))
        .await;

    let reader = source.user_in_new_org("Reader", ROLE_USER).await;
    let (status, headers, manifest) = reader.get("/feeds/export/manifest.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let uuids: Vec<&String> = manifest.as_object().unwrap().keys().collect();
    assert_eq!(uuids, [&shared_uuid], "published and visible only");
    assert_eq!(manifest[&shared_uuid]["info"], "Shared");
    let (status, _, event) = reader
        .get(&format!("/feeds/export/{shared_uuid}.json"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(event["Event"]["Attribute"][0]["value"], "shared.test");
    assert!(event["Event"].get("id").is_none());
    let (status, _, _) = reader
        .get(&format!("/feeds/export/{private_uuid}.json"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, headers, hashes) = reader.get("/feeds/export/hashes.csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        text(&hashes),
        format!(
            "{},{shared_uuid}\n",
            kizuna_formats::misp::feed::value_md5("shared.test")
        )
    );
    let (status, _, body) = reader.get("/feeds/export/other.txt").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body:#}");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let served = AppState::new(source.store.clone(), ServerSettings::default());
    tokio::spawn(kizuna_server::serve(
        listener,
        served,
        std::future::pending(),
    ));

    // Instance B subscribes with the reader's key, as a MISP instance would.
    let subscriber = Server::start().await;
    let id = add_feed(
        &subscriber,
        json!({"name": "Partner", "provider": "A", "url": format!("http://{address}/feeds/export"), "source_format": "misp", "enabled": true, "headers": format!("Authorization: {}", reader.key)}),
    )
    .await;
    let (status, body) = fetch(&subscriber, id).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["summary"]["events_added"], 1, "{body:#}");
    let copy = event_or_none(&subscriber, &shared_uuid).await.unwrap();
    assert_eq!(copy["Attribute"][0]["value"], "shared.test");
    assert_eq!(copy["Orgc"]["name"], "HOST-ORG");
    assert!(tag_names(&copy).contains(&"tlp:clear".to_string()));

    let wrong_key = add_feed(
        &subscriber,
        json!({"name": "Bad key", "provider": "A", "url": format!("http://{address}/feeds/export"), "source_format": "misp", "enabled": true, "headers": "Authorization: 0000000000000000000000000000000000000000"}),
    )
    .await;
    let (status, body) = fetch(&subscriber, wrong_key).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(&body["message"]).contains("HTTP 403"), "{body:#}");
}

//! Federated search (`POST /kizuna/federated_search`): the portal is called in-process;
//! the remotes are real instances served over loopback TCP by this test process, next to
//! a closed port, a listener answering junk and one that never answers.

use crate::support::{Client, ROLE_USER, Server, TcpInstance as Remote, new_uuid, now};
use axum::http::StatusCode;
use kizuna_model::{Organisation, User};
use kizuna_server::keys;
use kizuna_store::Store;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const SEARCH: &str = "/kizuna/federated_search";
/// Role id of MISP's stock "Sync user".
const ROLE_SYNC: i64 = 5;

impl Remote {
    /// A new organisation with one user of `role_id`; returns the user's key.
    async fn user_in_new_org(&self, org_name: &str, role_id: i64) -> String {
        user_in_new_org(&self.store, org_name, role_id).await.1
    }
}

/// A new organisation (its id) with one user of `role_id` (its key).
async fn user_in_new_org(store: &Store, org_name: &str, role_id: i64) -> (i64, String) {
    let now = now();
    let org = store
        .create_org(&Organisation {
            uuid: new_uuid(),
            name: org_name.to_string(),
            local: true,
            date_created: now,
            date_modified: now,
            ..Organisation::default()
        })
        .await
        .unwrap();
    let key = keys::generate_api_key();
    store
        .create_user(
            &User {
                email: format!("user@{}.test", org_name.to_lowercase()),
                org_id: org.id,
                role_id,
                termsaccepted: true,
                date_created: now,
                date_modified: now,
                ..User::default()
            },
            Some(&keys::stored_form(&key)),
        )
        .await
        .unwrap();
    (org.id, key)
}

async fn add_event(client: &Client, event: Value) -> Value {
    let (status, _, body) = client.post("/events/add", json!({ "Event": event })).await;
    assert_eq!(status, StatusCode::OK, "events/add: {body:#}");
    body["Event"].clone()
}

/// A published event with one domain attribute per `(uuid, value)`.
fn event_json(uuid: &str, info: &str, distribution: i64, attributes: &[(&str, &str)]) -> Value {
    json!({
        "uuid": uuid,
        "info": info,
        "distribution": distribution.to_string(),
        "threat_level_id": "2",
        "analysis": "1",
        "date": "2024-05-01",
        "published": true,
        "Tag": [{"name": "tlp:green"}],
        "Attribute": attributes.iter().map(|(uuid, value)| json!({
            "uuid": uuid,
            "type": "domain",
            "category": "Network activity",
            "value": value,
            "to_ids": true,
            "distribution": "5",
        })).collect::<Vec<_>>(),
    })
}

async fn add_server(portal: &Server, name: &str, url: &str, key: &str, timeout: i64) -> i64 {
    let host_org = portal
        .store
        .setting("host_org_id")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    let mut server = kizuna_store::Server::new(name, url, key, host_org);
    server.timeout_seconds = timeout;
    portal.store.create_server(&server).await.unwrap().id
}

/// A port nobody listens on: port 1 (tcpmux) is privileged and never handed out by
/// `bind(0)`, so unlike a just-released ephemeral port no other test can take it over while
/// the search runs.
fn closed_port() -> u16 {
    1
}

/// A listener that reads each request whole and answers `answer`, for `lifetime`.
fn junk_server(answer: &'static [u8], lifetime: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + lifetime;
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = answer_once(stream, answer);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    address
}

fn answer_once(mut stream: TcpStream, answer: &[u8]) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    let body_start = loop {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buffer[..read]);
        if let Some(end) = request.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..body_start]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while request.len() < body_start + length {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        request.extend_from_slice(&buffer[..read]);
    }
    stream.write_all(answer)?;
    stream.flush()
}

/// A listener that accepts connections and never answers them, for `lifetime`.
fn silent_server(lifetime: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + lifetime;
        let mut held = Vec::new();
        while Instant::now() < deadline {
            if let Ok((stream, _)) = listener.accept() {
                held.push(stream);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    address
}

/// The instance report named `name`.
fn report<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|instance| instance["name"] == json!(name))
        .unwrap_or_else(|| panic!("no instance {name} in {answer:#}"))
}

/// The result for `value`, if any.
fn result<'a>(answer: &'a Value, value: &str) -> Option<&'a Value> {
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|hit| hit["attribute"]["value"] == json!(value))
}

fn instance_names(hit: &Value) -> Vec<String> {
    let mut names: Vec<String> = hit["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|instance| instance["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

async fn search(client: &Client, query: Value) -> Value {
    let (status, _, body) = client.post(SEARCH, query).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federated_search_folds_copies_and_flags_failed_remotes() {
    let remote_a = Remote::start("ORG-A").await;
    let remote_b = Remote::start("ORG-B").await;
    let shared_event = new_uuid();
    let shared_attribute = new_uuid();
    let mut shared = event_json(
        &shared_event,
        "Shared campaign",
        3,
        &[(&shared_attribute, "shared.federated.example")],
    );
    // Both copies carry one timestamp, so neither is newer when the clock ticks between the two
    // adds and the fold keeps the copy answered first.
    shared["timestamp"] = json!("1714521600");
    shared["Attribute"][0]["timestamp"] = json!("1714521600");
    add_event(&remote_a.admin, shared.clone()).await;
    add_event(&remote_b.admin, shared).await;
    add_event(
        &remote_b.admin,
        event_json(
            &new_uuid(),
            "Only at B",
            3,
            &[(&new_uuid(), "only-b.federated.example")],
        ),
    )
    .await;
    let portal = Server::start().await;
    add_event(
        &portal.admin,
        event_json(
            &new_uuid(),
            "Local one",
            0,
            &[(&new_uuid(), "local.federated.example")],
        ),
    )
    .await;
    let a_id = add_server(&portal, "remote-a", &remote_a.url, &remote_a.admin.key, 10).await;
    add_server(&portal, "remote-b", &remote_b.url, &remote_b.admin.key, 10).await;
    let down = format!("http://127.0.0.1:{}", closed_port());
    add_server(&portal, "down", &down, "x".repeat(40).as_str(), 10).await;
    let junk = junk_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\n\r\n<html>oops</",
        Duration::from_secs(30),
    );
    add_server(
        &portal,
        "junk",
        &format!("http://{junk}"),
        "y".repeat(40).as_str(),
        10,
    )
    .await;
    add_server(
        &portal,
        "wrong-key",
        &remote_a.url,
        "z".repeat(40).as_str(),
        10,
    )
    .await;

    let answer = search(&portal.admin, json!({"value": "%.federated.example"})).await;
    assert_eq!(answer["partial"], json!(true), "{answer:#}");
    let folded = result(&answer, "shared.federated.example").expect("the shared value");
    assert_eq!(
        instance_names(folded),
        ["remote-a", "remote-b"],
        "{folded:#}"
    );
    assert_eq!(folded["attribute"]["uuid"], json!(shared_attribute));
    assert_eq!(folded["event"]["uuid"], json!(shared_event));
    assert_eq!(folded["event"]["info"], json!("Shared campaign"));
    assert_eq!(folded["attribute"]["timestamp"], json!(1714521600));
    assert_eq!(
        folded["event"]["orgc"]["name"],
        json!("ORG-A"),
        "{folded:#}"
    );
    assert_eq!(folded["event"]["tags"], json!(["tlp:green"]));
    assert_eq!(folded["attribute"]["type"], json!("domain"));
    assert_eq!(folded["attribute"]["to_ids"], json!(true));
    let only_b = result(&answer, "only-b.federated.example").expect("B's value");
    assert_eq!(instance_names(only_b), ["remote-b"]);
    let local = result(&answer, "local.federated.example").expect("the local value");
    assert_eq!(instance_names(local), ["local"]);
    assert_eq!(answer["results"].as_array().unwrap().len(), 3, "{answer:#}");

    assert_eq!(report(&answer, "local")["ok"], json!(true));
    assert_eq!(report(&answer, "local")["count"], json!(1));
    assert_eq!(report(&answer, "remote-a")["count"], json!(1));
    assert_eq!(report(&answer, "remote-b")["count"], json!(2));
    for (name, kind) in [
        ("down", "connection"),
        ("junk", "invalid_json"),
        ("wrong-key", "http_status"),
    ] {
        let failed = report(&answer, name);
        assert_eq!(failed["ok"], json!(false), "{failed:#}");
        assert_eq!(failed["error_kind"], json!(kind), "{failed:#}");
        assert!(failed["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    assert!(
        report(&answer, "down")["error"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{answer:#}"
    );
    assert!(
        report(&answer, "wrong-key")["error"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 403"),
        "{answer:#}"
    );

    // One server, without the local instance: nothing failed.
    let answer = search(
        &portal.admin,
        json!({"value": "shared.federated.example", "servers": [a_id], "local": false}),
    )
    .await;
    assert_eq!(answer["partial"], json!(false), "{answer:#}");
    assert_eq!(answer["instances"].as_array().unwrap().len(), 1);
    assert_eq!(answer["results"].as_array().unwrap().len(), 1);

    // A value nobody has; a type filter.
    let answer = search(
        &portal.admin,
        json!({"value": "nowhere.example", "servers": [a_id]}),
    )
    .await;
    assert_eq!(answer["results"], json!([]));
    let answer = search(
        &portal.admin,
        json!({"type": "ip-dst", "value": "%.federated.example", "servers": [a_id]}),
    )
    .await;
    assert_eq!(answer["results"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_results_are_shown_as_a_pull_would_show_them() {
    let remote = Remote::start("ORG-R").await;
    // Our sync user on the remote, in the organisation standing for the portal there.
    let sync_key = remote.user_in_new_org("PORTAL-THERE", ROLE_SYNC).await;
    let sync_user = Client {
        app: remote.admin.app.clone(),
        key: sync_key.clone(),
    };
    for (level, value) in [
        (0, "org-only.pull.example"),
        (1, "community.pull.example"),
        (2, "connected.pull.example"),
    ] {
        add_event(
            &sync_user,
            event_json(&new_uuid(), value, level, &[(&new_uuid(), value)]),
        )
        .await;
    }
    let mut unpublished = event_json(
        &new_uuid(),
        "draft",
        3,
        &[(&new_uuid(), "draft.pull.example")],
    );
    unpublished["published"] = json!(false);
    add_event(&remote.admin, unpublished).await;

    let portal = Server::start().await;
    add_server(&portal, "remote", &remote.url, &sync_key, 10).await;
    let host_org: i64 = portal
        .store
        .setting("host_org_id")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    let other_org = portal.user_in_new_org("OTHER", ROLE_USER).await;
    let (_, host_user_key) = {
        // A plain user of the organisation owning the server link.
        let key = keys::generate_api_key();
        portal
            .store
            .create_user(
                &User {
                    email: "analyst@host.test".into(),
                    org_id: host_org,
                    role_id: ROLE_USER,
                    termsaccepted: true,
                    date_created: now(),
                    date_modified: now(),
                    ..User::default()
                },
                Some(&keys::stored_form(&key)),
            )
            .await
            .unwrap();
        (host_org, key)
    };
    let host_user = portal.client(&host_user_key);
    let query = json!({"value": "%.pull.example", "local": false});
    let values = |answer: &Value| {
        let mut values: Vec<String> = answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hit| hit["attribute"]["value"].as_str().unwrap().to_string())
            .collect();
        values.sort();
        values
    };

    let admin = search(&portal.admin, query.clone()).await;
    assert_eq!(
        values(&admin),
        [
            "community.pull.example",
            "connected.pull.example",
            "draft.pull.example",
            "org-only.pull.example",
        ],
        "{admin:#}"
    );
    // Another organisation: only what a pull turns into community content (2 → 1).
    let other = search(&other_org, query.clone()).await;
    assert_eq!(values(&other), ["connected.pull.example"], "{other:#}");
    assert_eq!(report(&other, "remote")["count"], json!(1));
    assert_eq!(other["partial"], json!(false));
    // The organisation owning the link owns pulled events: 0 and 1 (→ 0) too, never drafts.
    let owner = search(&host_user, query).await;
    assert_eq!(
        values(&owner),
        [
            "community.pull.example",
            "connected.pull.example",
            "org-only.pull.example",
        ],
        "{owner:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_that_never_answers_is_cut_at_its_timeout() {
    let remote = Remote::start("ORG-T").await;
    add_event(
        &remote.admin,
        event_json(
            &new_uuid(),
            "fast",
            3,
            &[(&new_uuid(), "fast.timeout.example")],
        ),
    )
    .await;
    let portal = Server::start().await;
    add_server(&portal, "fast", &remote.url, &remote.admin.key, 10).await;
    let silent = silent_server(Duration::from_secs(20));
    let slow_id = add_server(&portal, "silent", &format!("http://{silent}"), "k", 1).await;

    let started = Instant::now();
    let answer = search(&portal.admin, json!({"value": "fast.timeout.example"})).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(answer["partial"], json!(true));
    let silent_report = report(&answer, "silent");
    assert_eq!(silent_report["error_kind"], json!("timeout"), "{answer:#}");
    assert!(silent_report["elapsed_ms"].as_u64().unwrap() >= 900);
    assert!(
        silent_report["error"]
            .as_str()
            .unwrap()
            .contains("no answer within 1 s")
    );
    assert_eq!(report(&answer, "fast")["ok"], json!(true));
    assert!(result(&answer, "fast.timeout.example").is_some());

    // The request's own limit caps a server's longer one.
    let mut server = portal.store.server(slow_id).await.unwrap();
    server.timeout_seconds = 60;
    portal.store.update_server(&server).await.unwrap();
    let started = Instant::now();
    let answer = search(
        &portal.admin,
        json!({"value": "fast.timeout.example", "servers": [slow_id], "timeout": 0.5}),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(report(&answer, "silent")["error_kind"], json!("timeout"));
}

#[tokio::test]
async fn bad_federated_queries_name_the_field() {
    let portal = Server::start().await;
    for (body, field) in [
        (json!({}), "at least one of value"),
        (json!({"value": "x", "limit": -3}), "limit"),
        (json!({"value": "x", "from": "yesterday-ish"}), "from"),
        (json!({"value": "x", "servers": [99]}), "servers"),
        (json!({"value": "x", "timeout": 0}), "timeout"),
        (json!(["x"]), "JSON object"),
    ] {
        let (status, _, reply) = portal.post(SEARCH, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {reply:#}");
        assert!(
            reply["message"].as_str().unwrap().contains(field),
            "{body} → {reply:#}"
        );
    }
    let (status, _, description) = portal.get(SEARCH).await;
    assert_eq!(status, StatusCode::OK);
    assert!(description["optional_fields"].to_string().contains("value"));
    // A read-only key may search: the search changes nothing.
    let (_, _, me) = portal.get("/users/view/me").await;
    let admin_id = me["User"]["id"].as_str().unwrap().to_string();
    let (status, _, added) = portal
        .post(
            &format!("/auth_keys/add/{admin_id}"),
            json!({"AuthKey": {"comment": "reader", "read_only": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added:#}");
    let reader = portal.client(added["AuthKey"]["authkey_raw"].as_str().unwrap());
    let (status, _, reply) = reader.post(SEARCH, json!({"value": "x"})).await;
    assert_eq!(status, StatusCode::OK, "{reply:#}");
    assert_eq!(reply["partial"], json!(false));
}

#[tokio::test]
async fn a_server_is_asked_only_for_the_organisations_it_is_open_to() {
    let portal = Server::start().await;
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let open = add_server(&portal, "open", &dead, "k", 5).await;
    let restricted = add_server(&portal, "restricted", &dead, "k", 5).await;
    let kept_out = add_server(&portal, "kept out", &dead, "k", 5).await;
    let (insiders, insider_key) = user_in_new_org(&portal.store, "INSIDERS", ROLE_USER).await;
    let (_, outsider_key) = user_in_new_org(&portal.store, "OUTSIDERS", ROLE_USER).await;
    let (status, _, edited) = portal
        .post(
            &format!("/servers/edit/{restricted}"),
            json!({"Server": {"federated_orgs": [insiders]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited:#}");
    assert_eq!(
        edited["Server"]["federated_orgs"],
        json!([insiders.to_string()])
    );
    let (status, _, edited) = portal
        .post(
            &format!("/servers/edit/{kept_out}"),
            json!({"federated_search": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited:#}");
    assert_eq!(edited["Server"]["federated_search"], json!(false));

    let asked = |answer: &Value| -> Vec<String> {
        let mut names: Vec<String> = answer["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|instance| instance["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    let query = json!({"value": "x", "local": false, "timeout": 5});
    let insider = portal.client(&insider_key);
    let outsider = portal.client(&outsider_key);
    assert_eq!(
        asked(&search(&insider, query.clone()).await),
        ["open", "restricted"]
    );
    assert_eq!(asked(&search(&outsider, query.clone()).await), ["open"]);
    assert_eq!(
        asked(&search(&portal.admin, query.clone()).await),
        ["open", "restricted"]
    );

    // Naming a server one may not ask is refused, not silently dropped.
    for (client, server) in [(&outsider, restricted), (&insider, kept_out)] {
        let (status, _, reply) = client
            .post(SEARCH, json!({"value": "x", "servers": [server]}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{reply:#}");
        assert!(
            reply["message"].as_str().unwrap().contains("servers"),
            "{reply:#}"
        );
    }
    let (status, _, reply) = outsider
        .post(
            SEARCH,
            json!({"value": "x", "servers": [open], "local": false, "timeout": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply:#}");

    // An unknown organisation is named in the error.
    let (status, _, reply) = portal
        .post(
            &format!("/servers/edit/{open}"),
            json!({"federated_orgs": [987654]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply:#}");
    assert!(reply["errors"]["federated_orgs"].is_array(), "{reply:#}");
}

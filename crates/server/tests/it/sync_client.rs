//! Being a sync client: `/servers/*` and the pull and push engines against peers served
//! on loopback from this process (each peer is the whole app over its own SQLite store),
//! and against fake remotes that answer garbage, refuse the key or die half-way.

use crate::support::{Client, TcpInstance as Peer, new_uuid, now};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::any;
use kizuna_model::{Organisation, User};
use kizuna_server::sync::{self, PullTechnique, PushTechnique};
use kizuna_server::{AppState, ServerSettings, keys};
use kizuna_store::Key;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// MISP's stock role ids.
const ROLE_SYNC: i64 = 5;

impl Peer {
    /// An organisation here named and identified as `other`'s host organisation.
    async fn know_org(&self, name: &str, uuid: &str) -> i64 {
        if let Ok(org) = self.store.org(&Key::Uuid(uuid.to_string())).await {
            return org.id;
        }
        self.store
            .create_org(&Organisation {
                uuid: uuid.to_string(),
                name: name.to_string(),
                local: false,
                date_created: now(),
                date_modified: now(),
                ..Organisation::default()
            })
            .await
            .unwrap()
            .id
    }

    /// A sync user here for the organisation `name`/`uuid`; returns its key.
    async fn sync_user_for(&self, name: &str, uuid: &str) -> String {
        let org_id = self.know_org(name, uuid).await;
        let key = keys::generate_api_key();
        self.store
            .create_user(
                &User {
                    email: format!("sync-{}@{}.test", new_uuid(), name.to_lowercase()),
                    org_id,
                    role_id: ROLE_SYNC,
                    termsaccepted: true,
                    date_created: now(),
                    date_modified: now(),
                    ..User::default()
                },
                Some(&keys::stored_form(&key)),
            )
            .await
            .unwrap();
        key
    }

    /// Adds through `/servers/add` a link to `remote` (as its sync user) and returns its id.
    async fn link_to(&self, remote: &Peer, remote_name: &str, settings: Value) -> i64 {
        let key = remote.sync_user_for("here", &self.org_uuid).await;
        let remote_org = self.know_org(remote_name, &remote.org_uuid).await;
        let mut body = json!({
            "name": remote_name,
            "url": remote.url,
            "authkey": key,
            "remote_org_id": remote_org,
        });
        for (field, value) in settings.as_object().unwrap() {
            body[field] = value.clone();
        }
        let (status, _, answer) = self.admin.post("/servers/add", body).await;
        assert_eq!(status, StatusCode::OK, "{answer:#}");
        answer["Server"]["id"].as_str().unwrap().parse().unwrap()
    }

    async fn add_published(&self, info: &str, distribution: i64, values: &[&str]) -> String {
        let uuid = new_uuid();
        let attributes: Vec<Value> = values
            .iter()
            .map(|value| json!({"type": "domain", "category": "Network activity", "value": value}))
            .collect();
        let (status, _, body) = self
            .admin
            .post(
                "/events/add",
                json!({"Event": {"uuid": uuid, "info": info, "distribution": distribution,
                                 "published": true, "Attribute": attributes}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        uuid
    }

    async fn event(&self, uuid: &str) -> Option<Value> {
        let (status, _, body) = self.admin.get(&format!("/events/view/{uuid}")).await;
        (status == StatusCode::OK).then(|| body["Event"].clone())
    }
}

fn distribution(event: &Value) -> i64 {
    event["distribution"]
        .as_str()
        .map(|text| text.parse().unwrap())
        .or_else(|| event["distribution"].as_i64())
        .unwrap()
}

#[tokio::test]
async fn servers_are_added_listed_edited_and_deleted_with_the_key_masked() {
    let here = Peer::start("HERE").await;
    let there = Peer::start("THERE").await;
    let id = here.link_to(&there, "THERE", json!({"pull": true})).await;

    let (status, _, listed) = here.admin.get("/servers/index").await;
    assert_eq!(status, StatusCode::OK);
    let entry = &listed.as_array().unwrap()[0];
    assert_eq!(entry["Server"]["name"], "THERE");
    assert_eq!(entry["Server"]["pull"], true);
    assert!(entry["Server"].get("authkey").is_none(), "{entry:#}");
    assert_eq!(entry["RemoteOrg"]["uuid"], there.org_uuid.as_str());
    let stored = here.store.server(id).await.unwrap();
    let (_, _, viewed) = here.admin.get(&format!("/servers/view/{id}")).await;
    let shown = viewed["Server"]["authkey"].as_str().unwrap();
    assert_ne!(shown, stored.authkey);
    assert!(shown.contains("****"), "{shown}");

    // Without remote_org_id MISP answers 405; bad rules are named.
    let (status, _, _) = here
        .admin
        .post("/servers/add", json!({"url": there.url, "authkey": "x"}))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, body) = here
        .admin
        .post(
            &format!("/servers/edit/{id}"),
            json!({"Server": {"pull_rules": "{nope"}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["errors"]["pull_rules"].is_array(), "{body:#}");

    let (status, _, edited) = here
        .admin
        .post(
            &format!("/servers/edit/{id}"),
            json!({"push": true, "authkey": "", "priority": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited:#}");
    assert_eq!(edited["Server"]["push"], true);
    assert_eq!(here.store.server(id).await.unwrap().authkey, stored.authkey);

    let (status, _, _) = here
        .admin
        .post(&format!("/servers/delete/{id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = here.admin.get(&format!("/servers/view/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn connection_tests_report_misps_statuses() {
    let here = Peer::start("HERE").await;
    let there = Peer::start("THERE").await;
    let id = here.link_to(&there, "THERE", json!({})).await;
    let (status, _, answer) = here
        .admin
        .post(&format!("/servers/testConnection/{id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["status"], 1, "{answer:#}");
    assert_eq!(answer["post"], 1, "{answer:#}");
    assert_eq!(answer["mismatch"], false);

    let (_, _, _) = here
        .admin
        .post(
            &format!("/servers/edit/{id}"),
            json!({"authkey": "A".repeat(40)}),
        )
        .await;
    let (_, _, refused) = here
        .admin
        .post(&format!("/servers/testConnection/{id}"), json!({}))
        .await;
    assert_eq!(refused["status"], 4, "{refused:#}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    here.admin
        .post(&format!("/servers/edit/{id}"), json!({"url": gone}))
        .await;
    let (_, _, unreachable) = here
        .admin
        .post(&format!("/servers/testConnection/{id}"), json!({}))
        .await;
    assert_eq!(unreachable["status"], 2, "{unreachable:#}");
}

#[tokio::test]
async fn post_test_echoes_the_body_and_headers() {
    let here = Peer::start("HERE").await;
    let (status, _, answer) = here
        .admin
        .post("/servers/postTest", json!({"testString": "a\r\nb ü"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["body"]["testString"], "a\r\nb ü");
    assert_eq!(answer["headers"]["Accept"], "application/json");
    assert_eq!(answer["headers"]["Content-type"], "application/json");
    assert_eq!(answer["headers"]["Authorization"], "OK");
}

#[tokio::test]
async fn a_pull_downgrades_levels_and_a_second_pull_fetches_nothing() {
    let remote = Peer::start("REMOTE").await;
    let here = Peer::start("HERE").await;
    let org_only = remote.add_published("org only", 0, &["zero.example"]).await;
    let community = remote.add_published("community", 1, &["one.example"]).await;
    let connected = remote.add_published("connected", 2, &["two.example"]).await;
    let everyone = remote.add_published("all", 3, &["three.example"]).await;
    let id = here.link_to(&remote, "REMOTE", json!({"pull": true})).await;

    let (status, _, answer) = here
        .admin
        .post(&format!("/servers/pull/{id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("Pull completed. 3 events pulled, 0 events could not be pulled"),
        "{answer:#}"
    );
    assert!(here.event(&org_only).await.is_none());
    let pulled = here.event(&community).await.unwrap();
    assert_eq!(distribution(&pulled), 0);
    assert_eq!(pulled["locked"], true);
    assert_eq!(pulled["Orgc"]["uuid"], remote.org_uuid.as_str());
    assert_eq!(distribution(&here.event(&connected).await.unwrap()), 1);
    assert_eq!(distribution(&here.event(&everyone).await.unwrap()), 3);

    let started = std::time::Instant::now();
    let again = sync::run_pull(&here.store, id, &PullTechnique::Full, 1)
        .await
        .unwrap();
    assert_eq!(again.fetched, 0, "{again:?}");
    assert!(again.ok());
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let server = here.store.server(id).await.unwrap();
    assert!(server.state.last_pull_ok, "{:?}", server.state);
}

#[tokio::test]
async fn newer_remote_versions_replace_synced_copies_but_never_local_events() {
    let remote = Peer::start("REMOTE").await;
    let here = Peer::start("HERE").await;
    let shared = remote.add_published("v1", 3, &["a.example"]).await;
    let id = here.link_to(&remote, "REMOTE", json!({"pull": true})).await;
    sync::run_pull(&here.store, id, &PullTechnique::Full, 1)
        .await
        .unwrap();

    // The same uuid created locally here first: sync must not overwrite it.
    let clash = new_uuid();
    here.admin
        .post(
            "/events/add",
            json!({"Event": {"uuid": clash, "info": "mine", "distribution": 0,
                             "Attribute": [{"type": "domain", "value": "mine.example"}]}}),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    remote
        .admin
        .post(
            "/events/add",
            json!({"Event": {"uuid": clash, "info": "theirs", "distribution": 3, "published": true,
                             "Attribute": [{"type": "domain", "value": "theirs.example"}]}}),
        )
        .await;
    let (status, _, edited) = remote
        .admin
        .post(
            &format!("/events/edit/{shared}"),
            json!({"Event": {"info": "v2", "published": true,
                             "Attribute": [{"type": "domain", "value": "b.example"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited:#}");
    remote
        .admin
        .post(&format!("/events/publish/{shared}"), json!({}))
        .await;

    let report = sync::run_pull(&here.store, id, &PullTechnique::Full, 1)
        .await
        .unwrap();
    assert_eq!(report.updated, vec![shared.clone()], "{report:?}");
    assert_eq!(report.kept_local, vec![clash.clone()], "{report:?}");
    let updated = here.event(&shared).await.unwrap();
    assert_eq!(updated["info"], "v2");
    assert_eq!(updated["Attribute"].as_array().unwrap().len(), 2);
    assert_eq!(here.event(&clash).await.unwrap()["info"], "mine");
}

#[tokio::test]
async fn a_push_sends_what_the_remote_may_receive_downgraded() {
    let here = Peer::start("HERE").await;
    let remote = Peer::start("REMOTE").await;
    let community = here.add_published("community", 1, &["one.example"]).await;
    let connected = here.add_published("connected", 2, &["two.example"]).await;
    let everyone = here.add_published("all", 3, &["three.example"]).await;
    // Items of level 0 stay here even inside a shared event.
    let (status, _, _) = here
        .admin
        .post(
            &format!("/attributes/add/{everyone}"),
            json!({"type": "domain", "value": "private.example", "distribution": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    here.admin
        .post(&format!("/events/publish/{everyone}"), json!({}))
        .await;
    let id = here.link_to(&remote, "REMOTE", json!({"push": true})).await;

    let (status, _, answer) = here
        .admin
        .post(&format!("/servers/push/{id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("Push complete. 2 events pushed, 0 events could not be pushed"),
        "{answer:#}"
    );
    assert!(remote.event(&community).await.is_none());
    assert_eq!(distribution(&remote.event(&connected).await.unwrap()), 1);
    let received = remote.event(&everyone).await.unwrap();
    assert_eq!(distribution(&received), 3);
    let values: Vec<&str> = received["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attribute| attribute["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, vec!["three.example"]);

    // Nothing newer: the remote wants nothing, lastpushedid moved on.
    let again = sync::run_push(&here.store, id, &PushTechnique::Full, &here.url)
        .await
        .unwrap();
    assert!(again.pushed.is_empty(), "{again:?}");
    assert!(here.store.server(id).await.unwrap().lastpushedid > 0);
}

/// How a fake remote answers an event view: (status, body) given the views so far.
type ViewAnswer = Arc<dyn Fn(usize, &str) -> (u16, String) + Send + Sync>;

/// A fake remote: getVersion as MISP 2.5, an index of `uuids`, and event views answered by
/// `view` (given the request count so far).
fn fake_remote(version: &'static str, index: Value, view: ViewAnswer) -> Router {
    let views = Arc::new(AtomicUsize::new(0));
    Router::new().fallback(any(move |uri: axum::http::Uri| {
        let index = index.clone();
        let view = view.clone();
        let views = views.clone();
        async move {
            let path = uri.path().to_string();
            let (status, body) = if path == "/servers/getVersion" {
                (200, json!({"version": version, "perm_sync": true, "perm_sighting": true, "uuid": new_uuid()}).to_string())
            } else if path == "/events/index" {
                (200, index.to_string())
            } else if let Some(rest) = path.strip_prefix("/events/view/") {
                let uuid = rest.split('/').next().unwrap_or_default().to_string();
                view(views.fetch_add(1, Ordering::SeqCst), &uuid)
            } else if path == "/sightings/restSearch/event" {
                (200, json!({"response": []}).to_string())
            } else {
                (404, "{}".into())
            };
            (
                StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                body,
            )
        }
    }))
}

async fn serve_fake(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

fn remote_event(uuid: &str, value: &str) -> String {
    json!({"Event": {"uuid": uuid, "info": format!("event {value}"), "distribution": "3",
        "published": true, "timestamp": "1700000000", "date": "2024-01-01",
        "Orgc": {"uuid": "5f0c7a1e-0000-4000-8000-00000000000a", "name": "FAKE"},
        "Attribute": [{"uuid": new_uuid(), "type": "domain", "category": "Network activity",
                       "value": value, "distribution": "5", "timestamp": "1700000000"}]}})
    .to_string()
}

async fn link_fake(here: &Peer, url: &str) -> i64 {
    let org = here
        .know_org("FAKE", "5f0c7a1e-0000-4000-8000-00000000000a")
        .await;
    let (status, _, answer) = here
        .admin
        .post(
            "/servers/add",
            json!({"name": "fake", "url": url, "authkey": "k".repeat(40), "remote_org_id": org, "pull": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    answer["Server"]["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_remote_failing_half_way_leaves_whole_events_and_the_next_pull_converges() {
    let uuids: Vec<String> = (0..6).map(|_| new_uuid()).collect();
    let index = Value::Array(
        uuids
            .iter()
            .enumerate()
            .map(|(id, uuid)| {
                json!({"id": (id + 1).to_string(), "uuid": uuid, "timestamp": "1700000000",
                                     "sighting_timestamp": "0", "published": true, "orgc_uuid": ""})
            })
            .collect(),
    );
    // The first run's downloads after the third fail; later ones all work.
    let view = Arc::new(|count: usize, uuid: &str| {
        if (3..6).contains(&count) {
            (502, "<html>bad gateway</html>".to_string())
        } else {
            (200, remote_event(uuid, &format!("{uuid}.example")))
        }
    });
    let url = serve_fake(fake_remote("2.5.1", index, view)).await;
    let here = Peer::start("HERE").await;
    let id = link_fake(&here, &url).await;

    let first = sync::run_pull(&here.store, id, &PullTechnique::Full, 1)
        .await
        .unwrap();
    assert_eq!(first.added.len(), 3, "{first:?}");
    assert_eq!(first.failed.len(), 3, "{first:?}");
    let server = here.store.server(id).await.unwrap();
    assert!(!server.state.last_pull_ok);
    assert!(
        server.state.last_pull_result.contains("HTTP 502"),
        "{}",
        server.state.last_pull_result
    );
    for uuid in &first.added {
        let event = here.event(uuid).await.unwrap();
        assert_eq!(event["Attribute"].as_array().unwrap().len(), 1);
    }

    let second = sync::run_pull(&here.store, id, &PullTechnique::Full, 1)
        .await
        .unwrap();
    assert_eq!(second.fetched, 3, "only the missing ones: {second:?}");
    assert_eq!(second.added.len(), 3);
    assert!(second.ok());
    for uuid in &uuids {
        assert!(here.event(uuid).await.is_some(), "{uuid} missing");
    }
}

#[tokio::test]
async fn bad_remotes_fail_with_a_clear_error_and_other_servers_carry_on() {
    let here = Peer::start("HERE").await;
    let good_remote = Peer::start("GOOD").await;
    let shared = good_remote
        .add_published("fine", 3, &["fine.example"])
        .await;
    let good = here
        .link_to(&good_remote, "GOOD", json!({"pull": true}))
        .await;

    let garbage = serve_fake(Router::new().fallback(any(|| async { "this is not json" }))).await;
    let garbage_id = link_fake(&here, &garbage).await;
    let future = serve_fake(fake_remote(
        "3.0.0",
        json!([]),
        Arc::new(|_, _| (404, "{}".to_string())),
    ))
    .await;
    let future_id = link_fake(&here, &future).await;
    let bad_index = serve_fake(fake_remote(
        "2.5.1",
        json!({"not": "a list"}),
        Arc::new(|_, _| (404, "{}".to_string())),
    ))
    .await;
    let bad_index_id = link_fake(&here, &bad_index).await;
    let wrong_key = here
        .link_to(&good_remote, "GOOD again", json!({"pull": true}))
        .await;
    here.admin
        .post(
            &format!("/servers/edit/{wrong_key}"),
            json!({"authkey": "B".repeat(40)}),
        )
        .await;

    let servers = here.store.servers().await.unwrap();
    let runs = sync::run_enabled(
        &here.store,
        servers,
        sync::Directions {
            pull: true,
            push: false,
        },
        &PullTechnique::Full,
        &PushTechnique::Incremental,
        1,
        &here.url,
    )
    .await;
    let outcome = |id: i64| {
        runs.iter()
            .find(|run| run.server.id == id)
            .unwrap()
            .pull
            .as_ref()
            .unwrap()
    };
    assert!(outcome(good).is_ok());
    assert!(here.event(&shared).await.is_some());
    let message = |id: i64| outcome(id).as_ref().unwrap_err().to_string();
    assert!(
        message(garbage_id).contains("did not answer JSON"),
        "{}",
        message(garbage_id)
    );
    assert!(
        message(future_id).contains("3.0.0"),
        "{}",
        message(future_id)
    );
    assert!(
        message(bad_index_id).contains("not a JSON array"),
        "{}",
        message(bad_index_id)
    );
    assert!(
        message(wrong_key).contains("refused the sync user's key"),
        "{}",
        message(wrong_key)
    );
    for id in [garbage_id, future_id, bad_index_id, wrong_key] {
        let server = here.store.server(id).await.unwrap();
        assert!(!server.state.last_pull_ok);
        assert!(!server.state.last_pull_result.is_empty());
    }
    // The API answers a failed pull with MISP's failure shape.
    let (status, _, answer) = here
        .admin
        .post(&format!("/servers/pull/{garbage_id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(answer["saved"], false, "{answer:#}");
}

#[tokio::test]
async fn a_broken_event_is_refused_alone() {
    let uuid = new_uuid();
    let small = new_uuid();
    let index = json!([
        {"id": "1", "uuid": uuid, "timestamp": "1700000000", "sighting_timestamp": "0", "published": true},
        {"id": "2", "uuid": small, "timestamp": "1700000000", "sighting_timestamp": "0", "published": true},
    ]);
    let target = uuid.clone();
    let view = Arc::new(move |_: usize, asked: &str| {
        if asked == target {
            (
                200,
                format!("{{\"Event\": {{\"uuid\": \"{asked}\", \"info\": \"cut"),
            )
        } else {
            (200, remote_event(asked, "small.example"))
        }
    });
    let url = serve_fake(fake_remote("2.5.1", index, view)).await;
    let here = Peer::start("HERE").await;
    let id = link_fake(&here, &url).await;
    let report = sync::run_pull(&here.store, id, &PullTechnique::Full, 1)
        .await
        .unwrap();
    assert_eq!(report.added, vec![small.clone()], "{report:?}");
    assert_eq!(report.failed.len(), 1);
    assert!(here.event(&uuid).await.is_none());
}

#[tokio::test]
async fn a_sync_configuration_from_create_sync_imports_and_connects() {
    let here = Peer::start("HERE").await;
    let there = Peer::start("THERE").await;
    let sync_key = there.sync_user_for("HERE", &here.org_uuid).await;
    let sync_user = Client {
        app: there.admin.app.clone(),
        key: sync_key,
    };
    let (status, _, config) = sync_user.get("/servers/createSync").await;
    assert_eq!(status, StatusCode::OK, "{config:#}");
    assert_eq!(config["Server"]["url"], there.url.as_str());
    assert_eq!(
        config["Server"]["Organisation"]["uuid"],
        there.org_uuid.as_str()
    );
    // Site admins may not hand out their own key this way.
    let (status, _, _) = there.admin.get("/servers/createSync").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    let (status, _, imported) = here.admin.post("/servers/import", config).await;
    assert_eq!(status, StatusCode::OK, "{imported:#}");
    assert_eq!(imported["Server"]["pull"], false);
    let id = imported["Server"]["id"].as_str().unwrap();
    let remote_org = here
        .store
        .org(&Key::Uuid(there.org_uuid.clone()))
        .await
        .unwrap();
    assert_eq!(
        imported["Server"]["remote_org_id"],
        remote_org.id.to_string()
    );
    let (_, _, tested) = here
        .admin
        .post(&format!("/servers/testConnection/{id}"), json!({}))
        .await;
    assert_eq!(tested["status"], 1, "{tested:#}");
}

#[tokio::test]
async fn the_scheduler_pulls_servers_with_pull_enabled() {
    let remote = Peer::start("REMOTE").await;
    let here = Peer::start("HERE").await;
    let shared = remote.add_published("scheduled", 3, &["s.example"]).await;
    let id = here.link_to(&remote, "REMOTE", json!({"pull": true})).await;
    let state = AppState::new(here.store.clone(), ServerSettings::default());
    let (stop, stopping) = tokio::sync::oneshot::channel::<()>();
    let scheduler =
        sync::spawn_sync_scheduler(state, std::time::Duration::from_millis(200), async move {
            let _ = stopping.await;
        });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while here.event(&shared).await.is_none() {
        assert!(std::time::Instant::now() < deadline, "not pulled in time");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    scheduler.await.unwrap();
    assert!(here.store.server(id).await.unwrap().state.last_pull_at > 0);
}

#[tokio::test]
async fn publishing_pushes_the_event_to_servers_with_push_on() {
    let remote = Peer::start("REMOTE").await;
    let here = Peer::start("HERE").await;
    here.link_to(&remote, "REMOTE", json!({"push": true})).await;
    let uuid = new_uuid();
    let (status, _, added) = here
        .admin
        .post(
            "/events/add",
            json!({"Event": {"uuid": uuid, "info": "published later", "distribution": 3,
                             "Attribute": [{"type": "domain", "category": "Network activity",
                                            "value": "published-later.example"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added:#}");
    assert!(remote.event(&uuid).await.is_none());

    let id = added["Event"]["id"].as_str().unwrap();
    let (status, _, answer) = here
        .admin
        .post(&format!("/events/publish/{id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    // The push runs in the background: wait for it, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while remote.event(&uuid).await.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the published event never reached the remote"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let pushed = remote.event(&uuid).await.unwrap();
    assert_eq!(pushed["Orgc"]["uuid"], here.org_uuid.as_str());
}

/// Waits (bounded) until `peer` holds the event.
async fn wait_for_event(peer: &Peer, uuid: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(event) = peer.event(uuid).await {
            return event;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "event {uuid} never reached {}",
            peer.url
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn events_pulled_or_pushed_here_are_passed_along_to_the_other_push_servers() {
    let origin = Peer::start("ORIGIN").await;
    let here = Peer::start("HERE").await;
    let onward = Peer::start("ONWARD").await;
    let everyone = origin
        .add_published("all", 3, &["passed-along.example"])
        .await;
    let pull_from = here
        .link_to(&origin, "ORIGIN", json!({"pull": true, "push": true}))
        .await;
    here.link_to(&onward, "ONWARD", json!({"push": true})).await;

    let (status, _, answer) = here
        .admin
        .post(&format!("/servers/pull/{pull_from}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    let passed = wait_for_event(&onward, &everyone).await;
    assert_eq!(passed["Orgc"]["uuid"], origin.org_uuid.as_str());
    assert_eq!(distribution(&passed), 3);

    // A peer pushing a published event here: it goes on as MISP's _add publishes it.
    let pushed_uuid = new_uuid();
    let key = here.sync_user_for("ORIGIN", &origin.org_uuid).await;
    let sync_client = Client {
        app: here.admin.app.clone(),
        key,
    };
    let (status, _, body) = sync_client
        .post(
            "/events/add",
            json!({"Event": {"uuid": pushed_uuid, "info": "pushed", "distribution": 3,
                             "published": true, "locked": true,
                             "Orgc": {"uuid": origin.org_uuid, "name": "ORIGIN"},
                             "Attribute": [{"type": "domain", "category": "Network activity",
                                            "value": "pushed-along.example"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    wait_for_event(&onward, &pushed_uuid).await;
    // Never back to the origin as a second copy: it still has exactly its own event.
    let (_, _, index) = origin.admin.get("/events/index").await;
    let copies = index
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["uuid"] == everyone.as_str())
        .count();
    assert_eq!(copies, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_reports_travel_on_push_by_their_own_level() {
    let here = Peer::start("HERE").await;
    let remote = Peer::start("REMOTE").await;
    let uuid = new_uuid();
    let (status, _, body) = here
        .admin
        .post(
            "/events/add",
            json!({"Event": {"uuid": uuid, "info": "with reports", "distribution": 3,
                "Attribute": [{"type": "domain", "category": "Network activity",
                               "value": "reported.example"}],
                "EventReport": [
                    {"name": "inherit", "content": "goes", "distribution": 5},
                    {"name": "connected", "content": "goes as community", "distribution": 2},
                    {"name": "org only", "content": "stays", "distribution": 0},
                    {"name": "community", "content": "stays", "distribution": 1}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let (status, _, _) = here
        .admin
        .post(&format!("/events/publish/{uuid}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let id = here.link_to(&remote, "REMOTE", json!({"push": true})).await;
    let (status, _, answer) = here
        .admin
        .post(&format!("/servers/push/{id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");

    let received = remote.event(&uuid).await.expect("the event was pushed");
    let mut reports: Vec<(String, String)> = received["EventReport"]
        .as_array()
        .unwrap()
        .iter()
        .map(|report| {
            (
                report["name"].as_str().unwrap().to_string(),
                report["distribution"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    reports.sort();
    assert_eq!(
        reports,
        [
            ("connected".to_string(), "1".to_string()),
            ("inherit".to_string(), "5".to_string())
        ]
    );
}

#[tokio::test]
async fn event_reports_are_pulled_downgraded_and_their_edits_follow() {
    let remote = Peer::start("REMOTE").await;
    let here = Peer::start("HERE").await;
    let uuid = new_uuid();
    let (status, _, body) = remote
        .admin
        .post(
            "/events/add",
            json!({"Event": {"uuid": uuid, "info": "reports to pull", "distribution": 3,
                "Attribute": [{"type": "domain", "category": "Network activity",
                               "value": "pulled-report.example"}],
                "EventReport": [
                    {"name": "inherit", "content": "v1", "distribution": 5},
                    {"name": "connected", "content": "c", "distribution": 2},
                    {"name": "community", "content": "c", "distribution": 1},
                    {"name": "org only", "content": "secret", "distribution": 0}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    publish(&remote, &uuid).await;
    let id = here.link_to(&remote, "REMOTE", json!({"pull": true})).await;
    let (status, _, answer) = here
        .admin
        .post(&format!("/servers/pull/{id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");

    let reports_here = |event: &Value| {
        let mut reports: Vec<(String, String, String)> = event["EventReport"]
            .as_array()
            .unwrap()
            .iter()
            .map(|report| {
                (
                    report["name"].as_str().unwrap().to_string(),
                    report["distribution"].as_str().unwrap().to_string(),
                    report["content"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        reports.sort();
        reports
    };
    let pulled = here.event(&uuid).await.expect("the event was pulled");
    let row = |name: &str, level: &str, content: &str| {
        (name.to_string(), level.to_string(), content.to_string())
    };
    assert_eq!(
        reports_here(&pulled),
        [
            row("community", "0", "c"),
            row("connected", "1", "c"),
            row("inherit", "5", "v1")
        ]
    );

    let inherit_uuid = pulled["EventReport"]
        .as_array()
        .unwrap()
        .iter()
        .find(|report| report["name"] == "inherit")
        .unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    // A later second on the remote, so the edited report is strictly newer.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _, body) = remote
        .admin
        .post(
            &format!("/eventReports/edit/{inherit_uuid}"),
            json!({"EventReport": {"content": "v2"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    publish(&remote, &uuid).await;
    let again = sync::run_pull(&here.store, id, &PullTechnique::Full, 1)
        .await
        .unwrap();
    assert!(again.ok(), "{again:?}");
    assert_eq!(again.updated, vec![uuid.clone()], "{again:?}");
    let updated = here.event(&uuid).await.unwrap();
    assert_eq!(
        reports_here(&updated),
        [
            row("community", "0", "c"),
            row("connected", "1", "c"),
            row("inherit", "5", "v2")
        ]
    );
}

async fn publish(peer: &Peer, uuid: &str) {
    let (status, _, body) = peer
        .admin
        .post(&format!("/events/publish/{uuid}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
}

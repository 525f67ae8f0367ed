//! The audit log: failed authentications, logins and successful writes are recorded (never
//! a key or password), and read back by administrators through /admin/audit_logs/index and
//! /admin/logs/index with filters and pages.

use crate::hardening::Harness;
use crate::support::{Server, assert_misp_error, int, now, text};
use axum::http::{Method, StatusCode};
use kizuna_server::{ServerSettings, keys};
use kizuna_store::{AuditFilter, Store};
use serde_json::{Value, json};

/// (action, model, model_id) of every entry with one of `actions` (all when empty), oldest
/// first.
async fn recorded(store: &Store, actions: &[&str]) -> Vec<(String, String, i64)> {
    let filter = AuditFilter {
        actions: actions.iter().map(|action| action.to_string()).collect(),
        ..AuditFilter::default()
    };
    let mut entries = store.list_audit_entries(&filter, 1000, 0).await.unwrap();
    entries.reverse();
    entries
        .into_iter()
        .map(|listed| {
            (
                listed.entry.action,
                listed.entry.model,
                listed.entry.model_id,
            )
        })
        .collect()
}

fn entry(action: &str, model: &str, model_id: i64) -> (String, String, i64) {
    (action.to_string(), model.to_string(), model_id)
}

const WRITES: &[&str] = &[
    "add",
    "edit",
    "delete",
    "soft_delete",
    "publish",
    "tag",
    "remove_tag",
];

#[tokio::test]
async fn failed_authentications_are_logged_without_the_key() {
    let harness = Harness::start(ServerSettings::default()).await;
    let wrong = keys::generate_api_key();
    let (status, _, _) = harness
        .send(
            Some("192.0.2.1"),
            Method::GET,
            "/servers/getVersion",
            &wrong,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = harness
        .send(
            Some("192.0.2.1"),
            Method::GET,
            "/servers/getVersion",
            "my password",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, _, listed) = harness
        .send(
            None,
            Method::POST,
            "/admin/audit_logs/index",
            &harness.admin_key,
            Some(json!({"action": "login_fail"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed:#}");
    let failures = listed.as_array().unwrap();
    assert_eq!(failures.len(), 2, "{listed:#}");
    let [malformed, wrong_key] = [&failures[0]["AuditLog"], &failures[1]["AuditLog"]];
    assert_eq!(wrong_key["ip"], "192.0.2.1");
    assert_eq!(wrong_key["user_id"], "0");
    assert_eq!(wrong_key["model"], "User");
    let title = text(&wrong_key["model_title"]);
    assert!(title.contains(&wrong[..4]), "{title}");
    assert!(
        !title.contains(&wrong[..5]),
        "at most four characters: {title}"
    );
    assert!(!text(&malformed["model_title"]).contains("password"));
    let everything = listed.to_string();
    assert!(!everything.contains(&wrong) && !everything.contains("my password"));

    let (status, _, logs) = harness
        .send(
            None,
            Method::POST,
            "/admin/logs/index",
            &harness.admin_key,
            Some(json!({"action": "login_fail", "limit": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{logs:#}");
    let log = &logs[0]["Log"];
    assert_eq!(logs.as_array().unwrap().len(), 1);
    assert_eq!(log["email"], "SYSTEM");
    assert_eq!(log["org"], "SYSTEM");
    assert_eq!(log["action"], "login_fail");
    assert_eq!(log["ip"], "192.0.2.1");
}

#[tokio::test]
async fn a_key_back_after_an_hour_of_silence_logs_a_login() {
    let server = Server::start().await;
    let admin = server
        .store
        .user_by_email("admin@host.test")
        .await
        .unwrap()
        .unwrap();
    server.get("/servers/getVersion").await;
    server.get("/servers/getVersion").await;
    assert_eq!(
        recorded(&server.store, &["login"]).await,
        [entry("login", "User", admin.id)]
    );
    let key = &server.store.list_auth_keys(Some(admin.id)).await.unwrap()[0];
    server
        .store
        .touch_auth_key(key.id, admin.id, now() - 2 * 3600)
        .await
        .unwrap();
    server.get("/servers/getVersion").await;
    assert_eq!(recorded(&server.store, &["login"]).await.len(), 2);
}

#[tokio::test]
async fn successful_writes_are_logged_with_their_model_and_id() {
    let server = Server::start().await;
    let (status, _, added) = server
        .post(
            "/events/add",
            json!({
                "Event": {"info": "audited event", "password": "hunter2hunter2"},
                "authkey": "0123456789abcdef0123456789abcdef01234567",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added:#}");
    let event_id = int(&added["Event"]["id"]);
    let ok = |reply: (StatusCode, _, Value)| {
        assert_eq!(reply.0, StatusCode::OK, "{:#}", reply.2);
        reply.2
    };
    let attribute = ok(server
        .post(
            &format!("/attributes/add/{event_id}"),
            json!({"type": "ip-dst", "value": "198.51.100.5"}),
        )
        .await);
    let attribute_id = int(&attribute["Attribute"]["id"]);
    ok(server
        .post(
            &format!("/events/edit/{event_id}"),
            json!({"Event": {"info": "renamed event"}}),
        )
        .await);
    let tag = ok(server
        .post("/tags/add", json!({"Tag": {"name": "audit:tag"}}))
        .await);
    let tag_id = int(&tag["Tag"]["id"]);
    ok(server
        .post_empty(&format!("/events/addTag/{event_id}/audit%3Atag"))
        .await);
    ok(server
        .post_empty(&format!("/events/publish/{event_id}"))
        .await);
    ok(server
        .post_empty(&format!("/attributes/delete/{attribute_id}"))
        .await);
    // Reads and failed writes leave no trace.
    ok(server
        .post("/events/restSearch", json!({"eventid": event_id}))
        .await);
    ok(server.get(&format!("/events/view/{event_id}")).await);
    let (status, _, _) = server.post("/events/add", json!("not an event")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = server
        .post("/events/edit/999999", json!({"Event": {"info": "x"}}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    ok(server.delete(&format!("/events/{event_id}")).await);

    assert_eq!(
        recorded(&server.store, WRITES).await,
        [
            entry("add", "Event", event_id),
            entry("add", "Attribute", attribute_id),
            entry("edit", "Event", event_id),
            entry("add", "Tag", tag_id),
            entry("tag", "Event", event_id),
            entry("publish", "Event", event_id),
            entry("soft_delete", "Attribute", attribute_id),
            entry("delete", "Event", event_id),
        ]
    );

    let (status, _, listed) = server
        .get("/admin/audit_logs/index/model:Event/action:add")
        .await;
    assert_eq!(status, StatusCode::OK);
    let added = &listed[0]["AuditLog"];
    assert_eq!(int(&added["event_id"]), event_id);
    assert_eq!(added["model_title"], "audited event");
    assert_eq!(added["change"]["Event"]["info"], "audited event");
    assert!(added["change"]["Event"].get("password").is_none());
    assert!(added["change"].get("authkey").is_none());
    assert_eq!(listed[0]["User"]["email"], "admin@host.test");
    assert_eq!(listed[0]["Organisation"]["name"], "HOST-ORG");
    let (_, _, attribute_entries) = server
        .get(&format!(
            "/admin/audit_logs/index/model:Attribute:{attribute_id}"
        ))
        .await;
    let entries = attribute_entries.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(int(&entries[1]["AuditLog"]["event_id"]), event_id);
    assert_eq!(entries[1]["AuditLog"]["model_title"], "198.51.100.5");
    let (_, _, tagged) = server.get("/admin/audit_logs/index/action:tag").await;
    assert_eq!(tagged[0]["AuditLog"]["model_title"], "audit:tag");

    let (_, _, everything) = server.get("/admin/audit_logs/index/limit:1000").await;
    let (_, _, logs) = server.post("/admin/logs/index", json!({})).await;
    for text in [everything.to_string(), logs.to_string()] {
        assert!(!text.contains("hunter2hunter2"));
        assert!(!text.contains("0123456789abcdef0123456789abcdef01234567"));
        assert!(!text.contains(&server.key));
    }
}

#[tokio::test]
async fn the_logs_are_read_by_administrators() {
    let server = Server::start().await;
    server.add_event(json!({"info": "by the site admin"})).await;
    let user = server
        .user_in_new_org("Plain", crate::support::ROLE_USER)
        .await;
    let org_admin = server.user_in_new_org("Team", 2).await;
    let (status, _, _) = org_admin.get("/servers/getVersion").await;
    assert_eq!(status, StatusCode::OK);

    for path in ["/admin/audit_logs/index", "/admin/logs/index"] {
        let (status, _, body) = user.get(path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body:#}");
        assert_misp_error(&body, path);
        let (status, _, body) = user.post(path, json!({"model": "Event"})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body:#}");
    }
    // Without the prefix a user reads their own entries, as MISP lets them.
    let (status, _, own) = user.get("/logs/index").await;
    assert_eq!(status, StatusCode::OK, "{own:#}");
    let own = own.as_array().unwrap();
    assert!(!own.is_empty());
    assert!(
        own.iter()
            .all(|log| log["Log"]["email"] == "user@plain.test")
    );

    let team = server.store.org_by_name("Team").await.unwrap().unwrap();
    let (status, _, team_entries) = org_admin.get("/admin/audit_logs/index").await;
    assert_eq!(status, StatusCode::OK, "{team_entries:#}");
    let team_entries = team_entries.as_array().unwrap();
    assert!(!team_entries.is_empty());
    assert!(
        team_entries
            .iter()
            .all(|listed| int(&listed["AuditLog"]["org_id"]) == team.id)
    );
    let (_, _, asked_for_others) = org_admin.get("/admin/audit_logs/index/org:HOST-ORG").await;
    assert_eq!(asked_for_others, json!([]));

    let (_, _, everything) = server.get("/admin/audit_logs/index").await;
    let orgs: Vec<i64> = everything
        .as_array()
        .unwrap()
        .iter()
        .map(|listed| int(&listed["AuditLog"]["org_id"]))
        .collect();
    assert!(orgs.contains(&team.id) && orgs.len() > team_entries.len());
}

#[tokio::test]
async fn the_logs_are_filtered_and_paged() {
    let server = Server::start().await;
    let mut ids = Vec::new();
    for info in ["first", "second", "third"] {
        ids.push(int(&server.add_event(json!({ "info": info })).await["id"]));
    }
    let model_ids = |listed: &Value, envelope: &str| -> Vec<i64> {
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|item| int(&item[envelope]["model_id"]))
            .collect()
    };
    let (_, _, page_one) = server
        .get("/admin/audit_logs/index/model:Event/action:add/limit:2/page:1")
        .await;
    assert_eq!(model_ids(&page_one, "AuditLog"), [ids[2], ids[1]]);
    let (_, _, page_two) = server
        .post(
            "/admin/audit_logs/index",
            json!({"model": "Event", "action": "add", "limit": 2, "page": 2}),
        )
        .await;
    assert_eq!(model_ids(&page_two, "AuditLog"), [ids[0]]);
    let (_, _, one) = server
        .get(&format!("/admin/audit_logs/index/model:Event:{}", ids[1]))
        .await;
    assert_eq!(model_ids(&one, "AuditLog"), [ids[1]]);
    let (_, _, by_user) = server
        .post(
            "/admin/audit_logs/index",
            json!({"user": "admin@host.test", "org": "HOST-ORG", "action": ["add", "edit"]}),
        )
        .await;
    assert_eq!(model_ids(&by_user, "AuditLog"), [ids[2], ids[1], ids[0]]);
    let (_, _, nobody) = server
        .post(
            "/admin/audit_logs/index",
            json!({"user": "nobody@host.test"}),
        )
        .await;
    assert_eq!(nobody, json!([]));
    let now = now();
    let (_, _, in_range) = server
        .post(
            "/admin/audit_logs/index",
            json!({"model": "Event", "created": [now - 600, now + 600]}),
        )
        .await;
    assert_eq!(in_range.as_array().unwrap().len(), 3);
    let (_, _, future) = server
        .post("/admin/audit_logs/index", json!({"created": now + 3600}))
        .await;
    assert_eq!(future, json!([]));

    // PyMISP's search_logs.
    let (status, _, logs) = server
        .post(
            "/admin/logs/index",
            json!({"model": "Event", "action": "add", "limit": 10, "page": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{logs:#}");
    assert_eq!(model_ids(&logs, "Log"), [ids[2], ids[1], ids[0]]);
    let log = &logs[0]["Log"];
    assert_eq!(log["email"], "admin@host.test");
    assert_eq!(log["org"], "HOST-ORG");
    assert_eq!(log["title"], format!("add Event #{}: third", ids[2]));
    let created = text(&log["created"]);
    assert_eq!(created.len(), "2024-01-01 00:00:00".len(), "{created}");
    let (_, _, titled) = server
        .post("/admin/logs/index", json!({"title": "%second%"}))
        .await;
    assert_eq!(model_ids(&titled, "Log"), [ids[1]]);

    for (body, field) in [
        (json!({"limit": "many"}), "limit"),
        (json!({"limit": 5000}), "limit"),
        (json!({"page": 0}), "page"),
        (json!({"model_id": "abc"}), "model_id"),
        (json!({"created": "someday"}), "created"),
    ] {
        let (status, _, answer) = server.post("/admin/audit_logs/index", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer:#}");
        assert!(text(&answer["message"]).contains(field), "{answer:#}");
    }
    let (status, _, _) = server.delete("/admin/audit_logs/index").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

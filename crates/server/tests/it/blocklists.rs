//! MISP's event and organisation blocklists: `/event_blocklists/*`, `/org_blocklists/*`
//! (site admins only) and their effect on added, pushed and pulled events.

use crate::support::{ROLE_USER, Server, TcpInstance, new_uuid};
use axum::http::StatusCode;
use kizuna_server::sync::{self, PullTechnique};
use serde_json::{Value, json};

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn event_blocklist_entries_are_added_listed_edited_and_removed_in_misps_shapes() {
    let server = Server::start().await;
    let blocked = new_uuid();
    let (status, _, added) = server
        .post(
            "/eventBlocklists/add",
            json!({"uuids": [blocked, "not-a-uuid"], "comment": "bad data",
                   "event_info": "spam", "event_orgc": "SPAMMER"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added:#}");
    assert_eq!(
        strings(&added["result"]["successes"]),
        vec![blocked.clone()]
    );
    assert_eq!(strings(&added["result"]["fails"]), vec!["not-a-uuid"]);
    assert_eq!(
        added["message"],
        "Done. Added 1 new entries to the blocklist. 1 entries could not be saved."
    );
    // The same uuid again is a failure, not a second entry.
    let (_, _, again) = server
        .post(
            "/event_blocklists/add",
            json!({"EventBlocklist": {"uuids": blocked}}),
        )
        .await;
    assert_eq!(strings(&again["result"]["fails"]), vec![blocked.clone()]);

    let (_, _, index) = server.get("/eventBlocklists/index").await;
    let entries = index.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{index:#}");
    assert_eq!(entries[0]["event_uuid"], blocked.as_str());
    assert_eq!(entries[0]["event_info"], "spam");
    assert_eq!(entries[0]["event_orgc"], "SPAMMER");
    assert_eq!(entries[0]["comment"], "bad data");
    let id = entries[0]["id"].as_str().unwrap().to_string();

    let (status, _, edited) = server
        .post(
            &format!("/eventBlocklists/edit/{blocked}"),
            json!({"comment": "reviewed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited:#}");
    assert_eq!(edited["EventBlocklist"]["comment"], "reviewed");
    assert_eq!(edited["EventBlocklist"]["event_info"], "spam");

    // A blocked uuid is refused on add.
    let (status, _, refused) = server
        .post(
            "/events/add",
            json!({"Event": {"uuid": blocked, "info": "comes back",
                             "Attribute": [{"type": "ip-dst", "value": "198.51.100.7"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused:#}");

    let (status, _, removed) = server
        .post(&format!("/eventBlocklists/delete/{id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{removed:#}");
    assert_eq!(removed["message"], "Blocklist entry removed");
    let (status, _, _) = server
        .post(&format!("/eventBlocklists/delete/{id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = server
        .post(&format!("/eventBlocklists/edit/{}", new_uuid()), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_site_admins_manage_blocklists() {
    let server = Server::start().await;
    let user = server.user_in_new_org("OTHER", ROLE_USER).await;
    for path in ["/eventBlocklists/index", "/orgBlocklists/index"] {
        let (status, _, _) = user.get(path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, _, _) = user
        .post("/orgBlocklists/add", json!({"uuids": [new_uuid()]}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, index) = server.get("/orgBlocklists/index").await;
    assert_eq!(index, json!([]));
    let (status, _, missing) = server.post("/orgBlocklists/add", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{missing:#}");
}

#[tokio::test]
async fn events_of_a_blocked_organisation_are_refused_on_add_and_on_pull() {
    let remote = TcpInstance::start("REMOTE").await;
    let here = Server::start().await;
    let spammer_uuid = new_uuid();
    let (status, _, added) = here
        .post(
            "/orgBlocklists/add",
            json!({"uuids": [spammer_uuid.clone(), remote.org_uuid.clone()],
                   "org_name": "SPAMMER", "comment": "noise"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added:#}");
    let (_, _, index) = here.get("/orgBlocklists/index").await;
    assert_eq!(index.as_array().unwrap().len(), 2);
    assert_eq!(index[0]["org_name"], "SPAMMER");

    // An event naming the blocked organisation as its creator (as a sync user's push
    // would) is refused.
    let (status, _, refused) = here
        .post(
            "/events/add",
            json!({"Event": {"info": "from the spammer",
                             "Orgc": {"uuid": spammer_uuid, "name": "SPAMMER"},
                             "Attribute": [{"type": "domain", "value": "spam.example"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused:#}");

    // A pull skips the remote's events: their creator is blocked.
    let (status, _, _) = remote
        .admin
        .post(
            "/events/add",
            json!({"Event": {"info": "published there", "distribution": 3, "published": true,
                             "Attribute": [{"type": "domain", "value": "there.example"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let key = {
        let (_, _, user) = remote
            .admin
            .post(
                "/admin/users/add",
                json!({"email": "sync@here.test", "org_id": 1, "role_id": 5}),
            )
            .await;
        user["User"]["authkey"].as_str().unwrap().to_string()
    };
    let (status, _, server) = here
        .post(
            "/servers/add",
            json!({"name": "remote", "url": remote.url, "authkey": key,
                   "remote_org_id": 1, "pull": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{server:#}");
    let id: i64 = server["Server"]["id"].as_str().unwrap().parse().unwrap();
    let report = sync::run_pull(&here.store, id, &PullTechnique::Full, 1)
        .await
        .unwrap();
    assert_eq!(report.fetched, 0, "{report:?}");
    assert_eq!(report.blocklisted, 1, "{report:?}");

    // Unblocked, the next pull takes it.
    let (status, _, _) = here
        .post(
            &format!("/orgBlocklists/delete/{}", remote.org_uuid),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let report = sync::run_pull(&here.store, id, &PullTechnique::Full, 1)
        .await
        .unwrap();
    assert_eq!(report.added.len(), 1, "{report:?}");
}

//! Pull techniques and server options that change what a pull does: `incremental` (which
//! MISP refuses) and `remove_missing_tags`, against a peer served on loopback.

use crate::support::{TcpInstance as Peer, new_uuid, now};
use axum::http::StatusCode;
use kizuna_model::{AttachedTag, Organisation, Tag, User};
use kizuna_server::keys;
use kizuna_server::sync::{self, PullTechnique};
use kizuna_store::{Key, LoadOptions};
use serde_json::{Value, json};

/// MISP's stock role of sync users.
const ROLE_SYNC: i64 = 5;

async fn know_org(peer: &Peer, name: &str, uuid: &str) -> i64 {
    if let Ok(org) = peer.store.org(&Key::Uuid(uuid.to_string())).await {
        return org.id;
    }
    peer.store
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

/// A server entry at `here` pulling from `remote` as a sync user of `here`'s organisation.
async fn link(here: &Peer, remote: &Peer, settings: Value) -> i64 {
    let org_id = know_org(remote, "HERE", &here.org_uuid).await;
    let key = keys::generate_api_key();
    remote
        .store
        .create_user(
            &User {
                email: format!("sync-{}@here.test", new_uuid()),
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
    let remote_org = know_org(here, "REMOTE", &remote.org_uuid).await;
    let mut body = json!({"name": "REMOTE", "url": remote.url, "authkey": key,
                          "remote_org_id": remote_org});
    for (field, value) in settings.as_object().unwrap() {
        body[field] = value.clone();
    }
    let (status, _, answer) = here.admin.post("/servers/add", body).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    answer["Server"]["id"].as_str().unwrap().parse().unwrap()
}

/// Tag names of the event's first loose attribute and of the event, each sorted.
async fn tag_names(peer: &Peer, event_uuid: &str) -> (Vec<String>, Vec<String>) {
    let event = peer
        .store
        .event(&Key::Uuid(event_uuid.to_string()), &LoadOptions::default())
        .await
        .unwrap();
    let names = |tags: &[AttachedTag]| {
        let mut names: Vec<String> = tags.iter().map(|tag| tag.tag.name.clone()).collect();
        names.sort();
        names
    };
    (names(&event.attributes[0].tags), names(&event.tags))
}

/// Takes `tag` off the remote event's first attribute, which moves the attribute and the
/// event to `at`, and publishes the event again.
async fn remove_remote_tag(remote: &Peer, event_uuid: &str, tag: &str, at: i64) {
    let event = remote
        .store
        .event(&Key::Uuid(event_uuid.to_string()), &LoadOptions::default())
        .await
        .unwrap();
    let tag_id = remote.store.tag_by_name(tag).await.unwrap().unwrap().id;
    let attribute_id = event.attributes[0].id;
    assert!(
        remote
            .store
            .detach_attribute_tag(event.id, attribute_id, tag_id, at)
            .await
            .unwrap()
    );
    remote
        .store
        .set_published(event.id, true, at)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_incremental_pull_is_refused_as_misp_refuses_it_and_recorded() {
    let remote = Peer::start("REMOTE").await;
    let here = Peer::start("HERE").await;
    let (status, _, _) = remote
        .admin
        .post(
            "/events/add",
            json!({"Event": {"info": "offered", "distribution": 3, "published": true,
                             "Attribute": [{"type": "domain", "value": "offered.example"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let id = link(&here, &remote, json!({"pull": true})).await;

    let (status, _, answer) = here
        .admin
        .post(&format!("/servers/pull/{id}/incremental"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer:#}");
    assert_eq!(answer["name"], "Could not pull Server", "{answer:#}");
    assert!(
        answer.to_string().contains("no incremental pull"),
        "{answer:#}"
    );
    let (_, _, index) = here.admin.get("/events/index").await;
    assert_eq!(index.as_array().unwrap().len(), 0, "{index:#}");
    let server = here.store.server(id).await.unwrap();
    assert!(!server.state.last_pull_ok, "{:?}", server.state);
    assert!(
        server.state.last_pull_result.contains("incremental"),
        "{:?}",
        server.state
    );

    // MISP checks the pull setting first, and so does Kizuna.
    here.admin
        .post(&format!("/servers/edit/{id}"), json!({"pull": false}))
        .await;
    let (status, _, answer) = here
        .admin
        .post(&format!("/servers/pull/{id}/incremental"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer:#}");
    assert!(
        answer.to_string().contains("Pull setting not enabled"),
        "{answer:#}"
    );

    // A full pull still takes the event.
    here.admin
        .post(&format!("/servers/edit/{id}"), json!({"pull": true}))
        .await;
    let report = sync::run_pull(&here.store, id, &PullTechnique::Full, 1)
        .await
        .unwrap();
    assert_eq!(report.added.len(), 1, "{report:?}");
}

#[tokio::test]
async fn remove_missing_tags_prunes_global_attribute_tags_the_remote_dropped() {
    let remote = Peer::start("REMOTE").await;
    let here = Peer::start("HERE").await;
    let uuid = new_uuid();
    let (status, _, body) = remote
        .admin
        .post(
            "/events/add",
            json!({"Event": {"uuid": uuid, "info": "tagged", "distribution": 3,
                             "published": true,
                             "Tag": [{"name": "event:kept"}],
                             "Attribute": [{"type": "domain", "value": "tagged.example",
                                            "Tag": [{"name": "remote:a"}, {"name": "Remote:B"},
                                                    {"name": "remote:c"}]}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let id = link(&here, &remote, json!({"pull": true})).await;
    sync::run_pull(&here.store, id, &PullTechnique::Full, 1)
        .await
        .unwrap();
    assert_eq!(
        tag_names(&here, &uuid).await.0,
        ["Remote:B", "remote:a", "remote:c"]
    );

    // A local tag here, which the remote never knew.
    let pulled = here
        .store
        .event(&Key::Uuid(uuid.clone()), &LoadOptions::default())
        .await
        .unwrap();
    let local = here
        .store
        .create_tag(&Tag {
            name: "here:local".into(),
            colour: "#000000".into(),
            exportable: true,
            ..Tag::default()
        })
        .await
        .unwrap();
    here.store
        .attach_attribute_tag(
            pulled.id,
            pulled.attributes[0].id,
            &AttachedTag {
                tag: local,
                local: true,
                relationship_type: None,
            },
            now(),
        )
        .await
        .unwrap();

    // Setting off (MISP's default): a newer version without a tag leaves it here.
    let later = now() + 10;
    remove_remote_tag(&remote, &uuid, "remote:a", later).await;
    let report = sync::run_pull(&here.store, id, &PullTechnique::Full, 1)
        .await
        .unwrap();
    assert_eq!(report.updated, vec![uuid.clone()], "{report:?}");
    assert_eq!(
        tag_names(&here, &uuid).await.0,
        ["Remote:B", "here:local", "remote:a", "remote:c"]
    );

    // Setting on: the global tags the newer version does not name go, the local one stays,
    // and so do event tags.
    let (status, _, answer) = here
        .admin
        .post(
            &format!("/servers/edit/{id}"),
            json!({"remove_missing_tags": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    remove_remote_tag(&remote, &uuid, "remote:b", later + 10).await;
    let remote_event = remote
        .store
        .event(&Key::Uuid(uuid.clone()), &LoadOptions::default())
        .await
        .unwrap();
    remote
        .store
        .detach_event_tag(remote_event.id, remote_event.tags[0].tag.id, later + 20)
        .await
        .unwrap();
    remote
        .store
        .set_published(remote_event.id, true, later + 20)
        .await
        .unwrap();
    let report = sync::run_pull(&here.store, id, &PullTechnique::Full, 1)
        .await
        .unwrap();
    assert_eq!(report.updated, vec![uuid.clone()], "{report:?}");
    let (attribute_tags, event_tags) = tag_names(&here, &uuid).await;
    assert_eq!(attribute_tags, ["here:local", "remote:c"]);
    assert_eq!(event_tags, ["event:kept"]);
    let stored = here
        .store
        .event(&Key::Uuid(uuid.clone()), &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(
        stored.timestamp,
        later + 20,
        "pruning keeps the source's timestamp"
    );
}

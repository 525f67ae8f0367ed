//! Kizuna as the remote of a MISP instance (misp-reference §3.3–3.6): every request a MISP
//! peer makes when it pulls from us or pushes to us, in the shapes MISP's ServerSyncTool
//! sends, and the answers its Server/Event/Sighting models read.

use crate::support::{
    Client, ROLE_USER, Server, find_attribute, int, new_uuid, now, raw, tag_names, text,
};
use axum::http::{Method, StatusCode};
use kizuna_model::{Attribute, Distribution, Event};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// MISP's stock "Sync user" role.
const ROLE_SYNC: i64 = 5;
/// MISP's stock "Read Only" role.
const ROLE_READ_ONLY: i64 = 6;

/// The event view a MISP pull requests (Server::pull, §3.3 step 5).
const PULL_VIEW_PARAMETERS: &str = "/deleted[]:0/deleted[]:1/excludeGalaxy:1/includeEventCorrelations:0/includeFeedCorrelations:0/includeWarninglistHits:0/excludeLocalTags:1";

const NOT_NEWER: &str =
    "Event could not be saved: Event in the request not newer than the local copy.";

fn uuids(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap_or_else(|| panic!("a list, got {body}"))
        .iter()
        .map(|entry| text(&entry["uuid"]).to_string())
        .collect()
}

/// An event as a MISP instance pushes it after __updateEventForSync: its own id, `locked`,
/// `Orgc` without `Org`/`org_id`/`orgc_id`, every integer a string.
fn pushed_event(uuid: &str, timestamp: i64, orgc: (&str, &str), attributes: Value) -> Value {
    json!({"Event": {
        "id": "9071",
        "uuid": uuid,
        "info": "pushed by a peer",
        "date": "2026-01-15",
        "threat_level_id": "2",
        "analysis": "1",
        "distribution": "1",
        "sharing_group_id": "0",
        "published": true,
        "timestamp": timestamp.to_string(),
        "publish_timestamp": timestamp.to_string(),
        "attribute_count": "1",
        "proposal_email_lock": false,
        "locked": true,
        "disable_correlation": false,
        "extends_uuid": "",
        "Orgc": {"id": "12", "name": orgc.1, "uuid": orgc.0, "local": true},
        "Attribute": attributes,
        "Object": [],
        "Tag": [{"name": "tlp:green", "colour": "#339900", "exportable": true, "local": false}],
    }})
}

fn pushed_attribute(uuid: &str, value: &str, timestamp: i64) -> Value {
    json!({
        "uuid": uuid,
        "type": "ip-dst",
        "category": "Network activity",
        "value": value,
        "to_ids": true,
        "distribution": "5",
        "sharing_group_id": "0",
        "timestamp": timestamp.to_string(),
        "comment": "",
        "deleted": false,
        "disable_correlation": false,
        "first_seen": null,
        "last_seen": null,
    })
}

async fn publish(client: &Client, event_id: &str) {
    let (status, _, body) = client
        .post_empty(&format!("/events/publish/{event_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// `POST /events/index` as MISP's pull sends it, with `If-None-Match`.
async fn pull_index(
    server: &Server,
    peer: &Client,
    filters: Value,
    etag: &str,
) -> (StatusCode, Option<String>, Value) {
    let (status, headers, body) = raw(
        &server.app,
        Method::POST,
        "/events/index",
        &[
            ("authorization", peer.key.as_str()),
            ("if-none-match", etag),
        ],
        Some(filters.to_string()),
    )
    .await;
    let tag = headers
        .get("etag")
        .map(|value| value.to_str().expect("ascii").to_string());
    (status, tag, body)
}

#[tokio::test]
async fn the_minimal_index_answers_a_pull_with_sync_fields_and_an_etag() {
    let server = Server::start().await;
    let peer = server.user_in_new_org("PEER", ROLE_SYNC).await;
    let shared = server
        .add_event(
            json!({"info": "with content", "distribution": "1", "published": true,
            "Attribute": [{"type": "ip-dst", "value": "203.0.113.1"}]}),
        )
        .await;
    let draft = server
        .add_event(json!({"info": "draft", "distribution": "1",
            "Attribute": [{"type": "ip-dst", "value": "203.0.113.2"}]}))
        .await;
    let empty = server
        .add_event(json!({"info": "no content", "distribution": "1"}))
        .await;
    publish(&server, text(&empty["id"])).await;
    let own_org_only = server
        .add_event(
            json!({"info": "host only", "distribution": "0", "published": true,
            "Attribute": [{"type": "ip-dst", "value": "203.0.113.3"}]}),
        )
        .await;

    let filters = json!({"minimal": 1, "published": 1, "tag": [], "org": []});
    let (status, etag, body) = pull_index(&server, &peer, filters.clone(), "\"\"").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(uuids(&body), [text(&shared["uuid"])]);
    let entry = body[0].as_object().unwrap();
    let keys: Vec<&str> = entry.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "timestamp",
            "sighting_timestamp",
            "published",
            "uuid",
            "orgc_uuid"
        ]
    );
    assert_eq!(entry["id"], shared["id"]);
    assert_eq!(entry["timestamp"], shared["timestamp"]);
    assert_eq!(entry["sighting_timestamp"], json!("0"));
    assert_eq!(entry["published"], json!(true));
    assert_eq!(entry["orgc_uuid"], shared["Orgc"]["uuid"]);

    // The host organisation sees its own event too, never the unpublished or empty ones.
    let (_, _, mine) = server.post("/events/index", filters.clone()).await;
    let mut listed = uuids(&mine);
    listed.sort();
    let mut expected = vec![
        text(&shared["uuid"]).to_string(),
        text(&own_org_only["uuid"]).to_string(),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    assert!(!listed.contains(&text(&draft["uuid"]).to_string()));
    let (_, _, with_unpublished) = server
        .post("/events/index", json!({"minimal": 1, "published": 2}))
        .await;
    assert_eq!(uuids(&with_unpublished).len(), 3);
    // The same index again: 304 without a body; Apache's compression mark is ignored.
    let etag = etag.expect("an ETag on the index");
    let (status, again, body) = pull_index(&server, &peer, filters.clone(), &etag).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.as_deref(), Some(etag.as_str()));
    assert_eq!(body, Value::Null);
    let gzip_marked = format!("{}-gzip\"", etag.trim_end_matches('"'));
    let (status, _, _) = pull_index(&server, &peer, filters.clone(), &gzip_marked).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    // A change the index shows (another event published) changes the tag.
    publish(&server, text(&draft["id"])).await;
    let (status, changed, body) = pull_index(&server, &peer, filters.clone(), &etag).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(changed.as_deref(), Some(etag.as_str()));
    assert_eq!(uuids(&body), [text(&shared["uuid"]), text(&draft["uuid"])]);

    // eventid, timestamp and named parameters work in the minimal form as well.
    let (_, _, by_id) = server
        .post(
            "/events/index",
            json!({"minimal": 1, "eventid": text(&own_org_only["id"])}),
        )
        .await;
    assert_eq!(uuids(&by_id), [text(&own_org_only["uuid"])]);
    let (_, _, future) = server
        .post(
            "/events/index",
            json!({"minimal": 1, "timestamp": now() + 3600}),
        )
        .await;
    assert_eq!(future, json!([]));
    let (status, _, named) = peer.get("/events/index/minimal:1/published:1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(uuids(&named), [text(&shared["uuid"]), text(&draft["uuid"])]);
}

#[tokio::test]
async fn a_no_op_re_pull_of_ten_thousand_events_takes_well_under_a_second() {
    const EVENTS: usize = 10_000;
    let server = Server::start().await;
    let peer = server.user_in_new_org("PEER", ROLE_SYNC).await;
    let host = server
        .store
        .org_by_name("HOST-ORG")
        .await
        .unwrap()
        .expect("the host organisation");
    let moment = now();
    let events: Vec<Event> = (0..EVENTS)
        .map(|index| {
            let mut event = Event::new(
                new_uuid(),
                format!("bulk {index}"),
                time::macros::date!(2026 - 01 - 15),
                host.id,
                moment,
            );
            event.orgc_id = host.id;
            event.distribution = Distribution::CommunityOnly;
            event.published = true;
            event.publish_timestamp = moment;
            let mut attribute = Attribute::new(
                new_uuid(),
                "ip-dst".into(),
                "Network activity".into(),
                format!(
                    "10.{}.{}.{}",
                    index / 65_536,
                    (index / 256) % 256,
                    index % 256
                ),
                String::new(),
            );
            attribute.timestamp = moment;
            event.attributes.push(attribute);
            event
        })
        .collect();
    server.store.insert_events(&events, false).await.unwrap();

    let filters = json!({"minimal": 1, "published": 1});
    let started = Instant::now();
    let (status, etag, body) = pull_index(&server, &peer, filters.clone(), "\"\"").await;
    let first = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_array().unwrap().len(), EVENTS);
    let started = Instant::now();
    let (status, _, _) = pull_index(&server, &peer, filters, &etag.unwrap()).await;
    let again = started.elapsed();
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    eprintln!("minimal index of {EVENTS} events: {first:?}; unchanged (304): {again:?}");
    assert!(first < Duration::from_secs(1), "{first:?}");
    assert!(again < Duration::from_secs(1), "{again:?}");
}

#[tokio::test]
async fn the_pull_view_has_deleted_items_and_no_local_or_unexportable_tags() {
    let server = Server::start().await;
    let peer = server.user_in_new_org("PEER", ROLE_SYNC).await;
    let (status, _, body) = server
        .post(
            "/tags/add",
            json!({"name": "internal:do-not-share", "exportable": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let kept = new_uuid();
    let removed = new_uuid();
    let event = server
        .add_event(
            json!({"info": "to pull", "distribution": "1", "published": true,
            "Tag": [{"name": "tlp:green"}, {"name": "internal:do-not-share"}],
            "Attribute": [
                {"uuid": kept, "type": "ip-dst", "value": "198.51.100.1",
                 "Tag": [{"name": "internal:do-not-share"}, {"name": "tlp:amber"}]},
                {"uuid": removed, "type": "ip-dst", "value": "198.51.100.2"},
            ]}),
        )
        .await;
    let uuid = text(&event["uuid"]).to_string();
    for target in [&uuid, &kept] {
        let (status, _, body) = server
            .post(
                "/tags/attachTagToObject",
                json!({"uuid": target, "tag": "kizuna:local-note", "local": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let removed_id =
        text(&find_attribute(&server.view_event(&uuid).await, &removed).unwrap()["id"]).to_string();
    let (status, _, _) = server
        .post_empty(&format!("/attributes/delete/{removed_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, _, body) = peer
        .get(&format!("/events/view/{uuid}{PULL_VIEW_PARAMETERS}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pulled = &body["Event"];
    assert_eq!(tag_names(pulled), ["tlp:green"]);
    assert_eq!(
        tag_names(find_attribute(pulled, &kept).unwrap()),
        ["tlp:amber"]
    );
    let deleted = find_attribute(pulled, &removed).expect("the soft-deleted attribute");
    assert_eq!(deleted["deleted"], json!(true));

    // Without excludeLocalTags a sync user sees local tags, never unexportable ones.
    let (_, _, body) = peer.get(&format!("/events/view/{uuid}")).await;
    let mut names = tag_names(&body["Event"]);
    names.sort();
    assert_eq!(names, ["kizuna:local-note", "tlp:green"]);
    assert!(find_attribute(&body["Event"], &removed).is_none());
    // Other users see every tag.
    let mut names = tag_names(&server.view_event(&uuid).await);
    names.sort();
    assert_eq!(
        names,
        ["internal:do-not-share", "kizuna:local-note", "tlp:green"]
    );

    // HEAD tells a pushing peer whether the event is there for it.
    let (status, _, _) = peer.head(&format!("/events/view/{uuid}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = peer.head(&format!("/events/view/{}", new_uuid())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let private = server
        .add_event(json!({"info": "host only", "distribution": "0"}))
        .await;
    let (status, _, _) = peer
        .head(&format!("/events/view/{}", text(&private["uuid"])))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn filter_event_ids_for_push_wants_unknown_and_older_locked_events() {
    let server = Server::start().await;
    let peer = server.user_in_new_org("PEER", ROLE_SYNC).await;
    let moment = now() - 1_000;
    let remote_org = (new_uuid(), "REMOTE-ORG".to_string());

    let locked_uuid = new_uuid();
    let (status, _, body) = peer
        .post(
            "/events/add/metadata:1",
            pushed_event(
                &locked_uuid,
                moment,
                (&remote_org.0, &remote_org.1),
                json!([pushed_attribute(&new_uuid(), "192.0.2.1", moment)]),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let local = server
        .add_event(json!({"info": "ours", "distribution": "1", "timestamp": moment}))
        .await;
    let local_timestamp = int(&local["timestamp"]);
    let deleted = server
        .add_event(json!({"info": "deleted here", "distribution": "1"}))
        .await;
    let (status, _, _) = server
        .post_empty(&format!("/events/delete/{}", text(&deleted["id"])))
        .await;
    assert_eq!(status, StatusCode::OK);
    let unknown = new_uuid();

    let offer = |uuid: &str, timestamp: i64| json!({"Event": {"uuid": uuid, "timestamp": timestamp.to_string()}});
    let body = json!([
        offer(&unknown, moment),
        offer(&locked_uuid, moment + 10),
        offer(text(&local["uuid"]), local_timestamp + 10),
        offer(&locked_uuid, moment),
        offer(text(&deleted["uuid"]), now() + 10),
    ]);
    let (status, _, wanted) = peer.post("/events/filterEventIdsForPush", body).await;
    assert_eq!(status, StatusCode::OK, "{wanted}");
    assert_eq!(wanted, json!([unknown, locked_uuid]));

    // Same or older than the copy here: not wanted.
    for timestamp in [moment, moment - 5] {
        let (_, _, wanted) = peer
            .post(
                "/events/filterEventIdsForPush",
                json!([offer(&locked_uuid, timestamp)]),
            )
            .await;
        assert_eq!(wanted, json!([]));
    }
    let (status, _, _) = peer.post("/events/filterEventIdsForPush", json!([])).await;
    assert_eq!(status, StatusCode::OK);

    let user = server.user_in_new_org("USERS", ROLE_USER).await;
    let (status, _, _) = user
        .post(
            "/events/filterEventIdsForPush",
            json!([offer(&unknown, moment)]),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = peer.get("/events/filterEventIdsForPush").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, body) = peer
        .post(
            "/events/filterEventIdsForPush",
            json!([{"Event": {"uuid": "not-a-uuid", "timestamp": "1"}}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text(&body["message"]).contains("0.Event.uuid"), "{body}");
}

#[tokio::test]
async fn a_pushed_add_keeps_the_creator_locks_and_answers_metadata() {
    let server = Server::start().await;
    let peer = server.user_in_new_org("PEER", ROLE_SYNC).await;
    let (_, _, me) = peer.get("/users/view/me").await;
    let peer_org = me["Organisation"].clone();
    let remote_org = new_uuid();
    let uuid = new_uuid();
    let moment = now() - 100;
    let attribute = new_uuid();
    let (status, _, body) = peer
        .post(
            "/events/add/metadata:1",
            pushed_event(
                &uuid,
                moment,
                (&remote_org, "REMOTE-ORG"),
                json!([pushed_attribute(&attribute, "192.0.2.10", moment)]),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = &body["Event"];
    assert!(
        stored.get("Attribute").is_none(),
        "metadata:1 leaves attributes out"
    );
    assert_eq!(stored["uuid"], json!(uuid));
    assert_eq!(stored["Orgc"]["uuid"], json!(remote_org));
    assert_eq!(stored["Orgc"]["name"], json!("REMOTE-ORG"));
    assert_eq!(stored["Org"]["uuid"], peer_org["uuid"]);
    assert_eq!(stored["locked"], json!(true));
    assert_eq!(stored["published"], json!(true));
    assert_eq!(int(&stored["timestamp"]), moment);
    assert_eq!(
        stored["distribution"],
        json!("1"),
        "no downgrade on receipt"
    );
    let full = server.view_event(&uuid).await;
    assert_eq!(int(&full["attribute_count"]), 1);
    assert!(find_attribute(&full, &attribute).is_some());

    // The same uuid again: 404 with the Location a pusher retries an edit at.
    let (status, headers, body) = peer
        .post(
            "/events/add/metadata:1",
            pushed_event(&uuid, moment + 5, (&remote_org, "REMOTE-ORG"), json!([])),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        headers["location"],
        format!("/events/view/{}", text(&full["id"]))
    );

    // Deleted here: blocklisted, refused whoever pushes it.
    let (status, _, _) = server.post_empty(&format!("/events/delete/{uuid}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = peer
        .post(
            "/events/add/metadata:1",
            pushed_event(
                &uuid,
                moment + 10,
                (&remote_org, "REMOTE-ORG"),
                json!([pushed_attribute(&attribute, "192.0.2.10", moment)]),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(text(&body["message"]).contains("blocklist"), "{body}");

    // A published event with nothing in it is refused.
    let (status, _, body) = peer
        .post(
            "/events/add/metadata:1",
            pushed_event(&new_uuid(), moment, (&remote_org, "REMOTE-ORG"), json!([])),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["saved"], json!(false));

    // A user without perm_sync or perm_publish: own organisation as creator, unpublished,
    // not locked.
    let user = server.user_in_new_org("PLAIN", ROLE_USER).await;
    let (_, _, plain_me) = user.get("/users/view/me").await;
    let plain_uuid = new_uuid();
    let (status, _, body) = user
        .post(
            "/events/add/metadata:1",
            pushed_event(
                &plain_uuid,
                moment,
                (&remote_org, "REMOTE-ORG"),
                json!([pushed_attribute(&new_uuid(), "192.0.2.11", moment)]),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["Event"]["Orgc"]["uuid"],
        plain_me["Organisation"]["uuid"]
    );
    assert_eq!(body["Event"]["published"], json!(false));
    assert_eq!(body["Event"]["locked"], json!(false));
}

#[tokio::test]
async fn a_pushed_edit_follows_misp_receiving_rules() {
    let server = Server::start().await;
    let peer = server.user_in_new_org("PEER", ROLE_SYNC).await;
    let remote_org = new_uuid();
    let uuid = new_uuid();
    let moment = now() - 1_000;
    let (first, second, third) = (new_uuid(), new_uuid(), new_uuid());
    let (status, _, body) = peer
        .post(
            "/events/add/metadata:1",
            pushed_event(
                &uuid,
                moment,
                (&remote_org, "REMOTE-ORG"),
                json!([
                    pushed_attribute(&first, "192.0.2.1", moment),
                    pushed_attribute(&second, "192.0.2.2", moment),
                    pushed_attribute(&third, "192.0.2.3", moment),
                ]),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let edit_path = format!("/events/edit/{uuid}/metadata:1");

    // A tie loses with exactly the text a pushing MISP treats as benign.
    let (status, _, body) = peer
        .post(
            &edit_path,
            pushed_event(&uuid, moment, (&remote_org, "REMOTE-ORG"), json!([])),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["errors"], json!(NOT_NEWER));
    assert_eq!(body["saved"], json!(false));

    // Newer: the first attribute changes (newer), the second does not (its timestamp is
    // not newer), the third is absent and stays, a new one arrives soft-deleted, a tag is
    // added and none removed.
    let fourth = new_uuid();
    let mut changed_first = pushed_attribute(&first, "192.0.2.100", moment + 50);
    changed_first["comment"] = json!("revised upstream");
    let stale_second = pushed_attribute(&second, "192.0.2.200", moment);
    let mut deleted_fourth = pushed_attribute(&fourth, "192.0.2.4", moment + 50);
    deleted_fourth["deleted"] = json!(true);
    let mut edit = pushed_event(
        &uuid,
        moment + 50,
        (&remote_org, "REMOTE-ORG"),
        json!([changed_first, stale_second, deleted_fourth]),
    );
    edit["Event"]["info"] = json!("pushed by a peer, revised");
    edit["Event"]["Tag"] = json!([{"name": "tlp:amber", "exportable": true, "local": false}]);
    let (status, _, body) = peer.post(&edit_path, edit).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["Event"].get("Attribute").is_none());
    assert_eq!(int(&body["Event"]["timestamp"]), moment + 50);
    assert_eq!(body["Event"]["published"], json!(true));

    let (_, _, viewed) = server
        .get(&format!("/events/view/{uuid}/deleted[]:0/deleted[]:1"))
        .await;
    let stored = &viewed["Event"];
    assert_eq!(stored["info"], json!("pushed by a peer, revised"));
    let first_stored = find_attribute(stored, &first).unwrap();
    assert_eq!(first_stored["value"], json!("192.0.2.100"));
    assert_eq!(first_stored["comment"], json!("revised upstream"));
    assert_eq!(
        find_attribute(stored, &second).unwrap()["value"],
        json!("192.0.2.2")
    );
    assert!(find_attribute(stored, &third).is_some());
    assert_eq!(
        find_attribute(stored, &fourth).unwrap()["deleted"],
        json!(true)
    );
    let mut names = tag_names(stored);
    names.sort();
    assert_eq!(names, ["tlp:amber", "tlp:green"]);
    assert_eq!(stored["locked"], json!(true));

    // A soft delete upstream travels as a newer attribute with `deleted`.
    let mut deleted_third = pushed_attribute(&third, "192.0.2.3", moment + 80);
    deleted_third["deleted"] = json!(true);
    let (status, _, body) = peer
        .post(
            &edit_path,
            pushed_event(
                &uuid,
                moment + 80,
                (&remote_org, "REMOTE-ORG"),
                json!([deleted_third]),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let live = server.view_event(&uuid).await;
    assert!(find_attribute(&live, &third).is_none());
    assert!(find_attribute(&live, &first).is_some());

    // A sync user never overwrites an event created here (not locked), even when newer.
    let ours = server
        .add_event(json!({"info": "ours", "distribution": "1", "timestamp": moment}))
        .await;
    let ours_uuid = text(&ours["uuid"]).to_string();
    let (status, _, body) = peer
        .post(
            &format!("/events/edit/{ours_uuid}/metadata:1"),
            pushed_event(
                &ours_uuid,
                now() + 10,
                (&remote_org, "REMOTE-ORG"),
                json!([]),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_ne!(body["errors"], json!(NOT_NEWER));
    assert_eq!(server.view_event(&ours_uuid).await["info"], json!("ours"));
    // …and the tie rule is judged first, so an older offer still reads as benign.
    let (_, _, body) = peer
        .post(
            &format!("/events/edit/{ours_uuid}/metadata:1"),
            pushed_event(
                &ours_uuid,
                moment - 1,
                (&remote_org, "REMOTE-ORG"),
                json!([]),
            ),
        )
        .await;
    assert_eq!(body["errors"], json!(NOT_NEWER));

    // A user of another organisation without perm_sync may not edit at all.
    let user = server.user_in_new_org("PLAIN", ROLE_USER).await;
    let (status, _, _) = user
        .post(
            &edit_path,
            pushed_event(&uuid, now() + 20, (&remote_org, "REMOTE-ORG"), json!([])),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// A sighting as MISP's push sends it to bulkSaveSightings.
fn pushed_sighting(uuid: &str, attribute_uuid: &str, org: Option<(&str, &str)>) -> Value {
    let mut sighting = json!({
        "id": "77",
        "attribute_id": "501",
        "event_id": "33",
        "uuid": uuid,
        "attribute_uuid": attribute_uuid,
        "date_sighting": (now() - 60).to_string(),
        "type": "0",
        "source": "peer sensor",
    });
    match org {
        Some((org_uuid, name)) => {
            sighting["org_id"] = json!("4");
            sighting["Organisation"] = json!({"id": "4", "uuid": org_uuid, "name": name});
        }
        None => sighting["org_id"] = json!("0"),
    }
    sighting
}

/// The event's `sighting_timestamp` as the minimal index reports it to peers.
async fn sighting_timestamp(server: &Server, uuid: &str) -> i64 {
    let (status, _, body) = server
        .post("/events/index", json!({"minimal": 1, "published": 2}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entry = body
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["uuid"] == uuid)
        .unwrap_or_else(|| panic!("{uuid} in {body:#}"));
    int(&entry["sighting_timestamp"])
}

#[tokio::test]
async fn sightings_travel_through_the_sync_endpoints() {
    let server = Server::start().await;
    let peer = server.user_in_new_org("PEER", ROLE_SYNC).await;
    let (_, _, me) = peer.get("/users/view/me").await;
    let peer_org_uuid = text(&me["Organisation"]["uuid"]).to_string();
    let (visible, hidden) = (new_uuid(), new_uuid());
    let event = server
        .add_event(
            json!({"info": "sighted", "distribution": "1", "published": true,
            "Attribute": [
                {"uuid": visible, "type": "ip-dst", "value": "198.51.100.20"},
                {"uuid": hidden, "type": "ip-dst", "value": "198.51.100.21", "distribution": "0"},
            ]}),
        )
        .await;
    let event_uuid = text(&event["uuid"]).to_string();
    assert_eq!(sighting_timestamp(&server, &event_uuid).await, 0);

    let reporter = new_uuid();
    let (on_behalf, anonymous, own, invisible) = (new_uuid(), new_uuid(), new_uuid(), new_uuid());
    let mut from_peer_itself = pushed_sighting(&own, &visible, None);
    from_peer_itself.as_object_mut().unwrap().remove("org_id");
    let batch = json!([
        pushed_sighting(&on_behalf, &visible, Some((&reporter, "FAR-AWAY-CERT"))),
        pushed_sighting(&anonymous, &visible, None),
        from_peer_itself,
        pushed_sighting(&invisible, &hidden, Some((&reporter, "FAR-AWAY-CERT"))),
    ]);

    // What the peer would push: nothing held yet.
    let offered = json!([on_behalf, anonymous, own, invisible]);
    let filter_path = format!("/sightings/filterSightingUuidsForPush/{event_uuid}");
    let (status, _, held) = peer.post(&filter_path, offered.clone()).await;
    assert_eq!(status, StatusCode::OK, "{held}");
    assert_eq!(held, json!([]));

    let save_path = format!("/sightings/bulkSaveSightings/{event_uuid}");
    let (status, _, body) = peer.post(&save_path, batch.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"saved": true, "success": "3 sightings added."})
    );
    // Idempotent: the same batch again adds nothing.
    let (status, _, body) = peer.post(&save_path, batch).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"saved": false, "success": "No sightings added."})
    );
    let (_, _, held) = peer.post(&filter_path, offered).await;
    let mut held: Vec<String> = held
        .as_array()
        .unwrap()
        .iter()
        .map(|uuid| text(uuid).to_string())
        .collect();
    held.sort();
    let mut expected = vec![on_behalf.clone(), anonymous.clone(), own.clone()];
    expected.sort();
    assert_eq!(held, expected);

    // Stored under the reporting organisation (captured as a new one), anonymously, or
    // as the peer's own; and the event's sighting_timestamp moved so it travels on.
    let (_, _, listed) = server.get(&format!("/sightings/index/{event_uuid}")).await;
    let by_uuid = |uuid: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|sighting| sighting["uuid"] == uuid)
            .unwrap_or_else(|| panic!("sighting {uuid} in {listed:#}"))
            .clone()
    };
    assert_eq!(by_uuid(&on_behalf)["Organisation"]["uuid"], json!(reporter));
    assert_eq!(
        by_uuid(&on_behalf)["Organisation"]["name"],
        json!("FAR-AWAY-CERT")
    );
    assert_eq!(by_uuid(&anonymous)["org_id"], json!("0"));
    assert_eq!(by_uuid(&own)["Organisation"]["uuid"], json!(peer_org_uuid));
    assert_eq!(by_uuid(&own)["source"], json!("peer sensor"));
    assert!(sighting_timestamp(&server, &event_uuid).await >= now() - 5);

    // A sighting recorded here moves it as well, and a pulling peer reads it through the
    // sightings restSearch MISP's pull sends.
    let pushed_uuid = new_uuid();
    let (status, _, body) = peer
        .post(
            "/events/add/metadata:1",
            pushed_event(
                &pushed_uuid,
                now() - 500,
                (&new_uuid(), "ORIGIN-ORG"),
                json!([pushed_attribute(&new_uuid(), "192.0.2.50", now() - 500)]),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pushed = server.view_event(&pushed_uuid).await;
    let attribute_uuid = text(&pushed["Attribute"][0]["uuid"]).to_string();
    let (status, _, body) = server
        .post(
            "/sightings/add",
            json!({"uuid": attribute_uuid, "source": "host"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(sighting_timestamp(&server, &pushed_uuid).await >= now() - 5);
    let (status, _, body) = peer
        .post(
            "/sightings/restSearch/event",
            json!({"returnFormat": "json", "last": 0, "includeUuid": true,
                "uuid": [pushed_uuid, event_uuid], "org_id": [format!("!{}", new_uuid())]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let found = body["response"].as_array().unwrap();
    let from_host = found
        .iter()
        .map(|entry| &entry["Sighting"])
        .find(|sighting| sighting["source"] == "host")
        .unwrap_or_else(|| panic!("the host's sighting in {body:#}"));
    assert_eq!(from_host["event_uuid"], json!(pushed_uuid));
    assert_eq!(from_host["attribute_uuid"], json!(attribute_uuid));
    assert!(from_host["Organisation"]["uuid"].is_string());
    assert!(from_host["Organisation"]["name"].is_string());
    assert!(from_host["date_sighting"].is_string());
    // Blocking the reporting organisation leaves its sightings out.
    let (_, _, host_me) = server.get("/users/view/me").await;
    let (_, _, body) = peer
        .post(
            "/sightings/restSearch/event",
            json!({"returnFormat": "json", "last": 0, "includeUuid": true,
                "uuid": [pushed_uuid],
                "org_id": [format!("!{}", text(&host_me["Organisation"]["uuid"]))]}),
        )
        .await;
    assert_eq!(body["response"], json!([]));
}

#[tokio::test]
async fn sighting_sync_endpoints_refuse_what_misp_refuses() {
    let server = Server::start().await;
    let peer = server.user_in_new_org("PEER", ROLE_SYNC).await;
    let reader = server.user_in_new_org("READERS", ROLE_READ_ONLY).await;
    let user = server.user_in_new_org("USERS", ROLE_USER).await;
    let attribute = new_uuid();
    let event = server
        .add_event(json!({"info": "sighted", "distribution": "1",
            "Attribute": [{"uuid": attribute, "type": "ip-dst", "value": "198.51.100.30"}]}))
        .await;
    let event_uuid = text(&event["uuid"]).to_string();
    let filter_path = format!("/sightings/filterSightingUuidsForPush/{event_uuid}");
    let save_path = format!("/sightings/bulkSaveSightings/{event_uuid}");
    let batch = json!([pushed_sighting(
        &new_uuid(),
        &attribute,
        Some((&new_uuid(), "ELSEWHERE"))
    )]);

    // filterSightingUuidsForPush needs perm_sync; bulkSaveSightings perm_sync or
    // perm_sighting.
    let (status, _, _) = user.post(&filter_path, json!([new_uuid()])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = reader.post(&save_path, batch.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A user with perm_sighting may save, but only as its own organisation.
    let (status, _, body) = user.post(&save_path, batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, me) = user.get("/users/view/me").await;
    let (_, _, listed) = server.get(&format!("/sightings/index/{event_uuid}")).await;
    assert_eq!(
        listed[0]["Organisation"]["uuid"],
        me["Organisation"]["uuid"]
    );

    // POST only; unknown or invisible events; malformed sightings name the field.
    let (status, _, _) = peer.get(&save_path).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, _) = peer.get(&filter_path).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let private = server
        .add_event(json!({"info": "host only", "distribution": "0"}))
        .await;
    let (status, _, _) = peer
        .post(
            &format!(
                "/sightings/filterSightingUuidsForPush/{}",
                text(&private["uuid"])
            ),
            json!([]),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = peer
        .post(
            &format!("/sightings/bulkSaveSightings/{}", new_uuid()),
            json!([]),
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, body) = peer
        .post(
            &save_path,
            json!([{"uuid": new_uuid(), "attribute_uuid": attribute, "date_sighting": "soon"}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text(&body["message"]).contains("0.date_sighting"), "{body}");
    let (status, _, body) = peer.post(&filter_path, json!(["nope"])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// A `SharingGroup` as MISP embeds it in a pushed event.
fn pushed_group(uuid: &str, name: &str, modified: &str, members: &[(&str, &str)]) -> Value {
    json!({
        "uuid": uuid,
        "name": name,
        "releasability": "peers",
        "description": "",
        "organisation_uuid": members[0].0,
        "created": "2026-01-01 00:00:00",
        "modified": modified,
        "roaming": false,
        "Organisation": {"uuid": members[0].0, "name": members[0].1},
        "SharingGroupOrg": members.iter().map(|(uuid, name)| json!({
            "extend": false,
            "Organisation": {"uuid": uuid, "name": name},
        })).collect::<Vec<_>>(),
        "SharingGroupServer": [
            {"all_orgs": false, "Server": {"url": "https://remote.example", "name": "remote"}},
        ],
    })
}

fn with_group(mut event: Value, group: Value) -> Value {
    event["Event"]["distribution"] = json!("4");
    event["Event"]["sharing_group_id"] = json!("77");
    event["Event"]["SharingGroup"] = group;
    event
}

async fn org_of(client: &Client) -> (String, String) {
    let (_, _, me) = client.get("/users/view/me").await;
    (
        text(&me["Organisation"]["uuid"]).to_string(),
        text(&me["Organisation"]["name"]).to_string(),
    )
}

#[tokio::test]
async fn a_pushed_sharing_group_is_captured_for_sync_users_only() {
    let server = Server::start().await;
    let peer = server.user_in_new_org("PEER", ROLE_SYNC).await;
    let outsider = server.user_in_new_org("OUTSIDER", ROLE_USER).await;
    let (peer_uuid, peer_name) = org_of(&peer).await;
    let (outsider_uuid, outsider_name) = org_of(&outsider).await;
    let remote_org = new_uuid();
    let group_uuid = new_uuid();
    let moment = now() - 1_000;
    let uuid = new_uuid();
    let strange_group = new_uuid();
    let mut strange_attribute = pushed_attribute(&new_uuid(), "192.0.2.21", moment);
    strange_attribute["distribution"] = json!("4");
    strange_attribute["SharingGroup"] = pushed_group(
        &strange_group,
        "NOT FOR PEER",
        "2026-01-01 00:00:00",
        &[(&remote_org, "REMOTE-ORG")],
    );
    let kept_attribute = new_uuid();
    let event = with_group(
        pushed_event(
            &uuid,
            moment,
            (&remote_org, "REMOTE-ORG"),
            json!([
                pushed_attribute(&kept_attribute, "192.0.2.20", moment),
                strange_attribute.clone()
            ]),
        ),
        pushed_group(
            &group_uuid,
            "PUSHED GROUP",
            "2026-01-01 00:00:00",
            &[(&remote_org, "REMOTE-ORG"), (&peer_uuid, &peer_name)],
        ),
    );

    // A user without perm_sync cannot bring a group: MISP-shaped refusal as before.
    let plain = server.user_in_new_org("PLAIN", ROLE_USER).await;
    let (status, _, body) = plain.post("/events/add/metadata:1", event.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, _) = server
        .get(&format!("/sharing_groups/view/{group_uuid}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing captured");

    let (status, _, body) = peer.post("/events/add/metadata:1", event).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Event"]["distribution"], json!("4"));
    let (status, _, group) = server
        .get(&format!("/sharing_groups/view/{group_uuid}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{group}");
    assert_eq!(group["SharingGroup"]["name"], json!("PUSHED GROUP"));
    assert_eq!(
        text(&body["Event"]["sharing_group_id"]),
        text(&group["SharingGroup"]["id"])
    );
    let member_uuids: Vec<&str> = group["SharingGroupOrg"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| text(&member["Organisation"]["uuid"]))
        .collect();
    assert!(member_uuids.contains(&peer_uuid.as_str()), "{group}");
    assert!(member_uuids.contains(&remote_org.as_str()), "{group}");
    let viewed = server.view_event(&uuid).await;
    assert_eq!(viewed["SharingGroup"]["uuid"], json!(group_uuid));
    let strange = find_attribute(&viewed, text(&strange_attribute["uuid"])).unwrap();
    assert_eq!(
        strange["distribution"],
        json!("0"),
        "a group without the peer"
    );
    let (status, _, _) = server
        .get(&format!("/sharing_groups/view/{strange_group}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not created");
    let (status, _, _) = outsider.get(&format!("/events/view/{uuid}")).await;
    assert_ne!(status, StatusCode::OK, "outside the group");

    // A newer description on an edit renames the group and adds the member it lists.
    let edited = with_group(
        pushed_event(
            &uuid,
            moment + 10,
            (&remote_org, "REMOTE-ORG"),
            json!([pushed_attribute(&kept_attribute, "192.0.2.20", moment)]),
        ),
        pushed_group(
            &group_uuid,
            "PUSHED GROUP RENAMED",
            "2026-02-01 00:00:00",
            &[
                (&remote_org, "REMOTE-ORG"),
                (&peer_uuid, &peer_name),
                (&outsider_uuid, &outsider_name),
            ],
        ),
    );
    let (status, _, body) = peer
        .post(&format!("/events/edit/{uuid}/metadata:1"), edited)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, group) = server
        .get(&format!("/sharing_groups/view/{group_uuid}"))
        .await;
    assert_eq!(group["SharingGroup"]["name"], json!("PUSHED GROUP RENAMED"));
    assert_eq!(group["SharingGroupOrg"].as_array().unwrap().len(), 3);
    let (status, _, _) = outsider.get(&format!("/events/view/{uuid}")).await;
    assert_eq!(status, StatusCode::OK, "now a member");

    // An edit moving the event into a group the peer may not bring is refused (MISP).
    let refused = with_group(
        pushed_event(&uuid, moment + 20, (&remote_org, "REMOTE-ORG"), json!([])),
        pushed_group(
            &new_uuid(),
            "ELSEWHERE",
            "2026-01-01 00:00:00",
            &[(&remote_org, "REMOTE-ORG")],
        ),
    );
    let (status, _, body) = peer
        .post(&format!("/events/edit/{uuid}/metadata:1"), refused)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(text(&body["message"]).contains("not authorised"), "{body}");

    // A local group the peer's organisation cannot see is neither used nor widened.
    let (status, _, local) = outsider.get("/users/view/me").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, hidden) = server
        .post(
            "/sharing_groups/add",
            json!({"name": "HIDDEN", "releasability": "", "organisation_uuid": local["Organisation"]["uuid"],
                   "SharingGroupOrg": [{"uuid": outsider_uuid, "extend": false}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{hidden}");
    let hidden_uuid = text(&hidden["SharingGroup"]["uuid"]).to_string();
    let before = server
        .get(&format!("/sharing_groups/view/{hidden_uuid}"))
        .await
        .2;
    let other = new_uuid();
    let borrowing = with_group(
        pushed_event(
            &other,
            moment,
            (&remote_org, "REMOTE-ORG"),
            json!([pushed_attribute(&new_uuid(), "192.0.2.22", moment)]),
        ),
        pushed_group(
            &hidden_uuid,
            "HIDDEN",
            "2027-01-01 00:00:00",
            &[(&remote_org, "REMOTE-ORG"), (&peer_uuid, &peer_name)],
        ),
    );
    let (status, _, body) = peer.post("/events/add/metadata:1", borrowing).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Event"]["distribution"], json!("0"));
    let after = server
        .get(&format!("/sharing_groups/view/{hidden_uuid}"))
        .await
        .2;
    assert_eq!(before["SharingGroupOrg"], after["SharingGroupOrg"]);
}

//! EventsController (misp-reference §4.2, receiving rules §3.5).

use crate::support::{
    ROLE_USER, Server, assert_misp_error, assert_save_failed, find_attribute, int, new_uuid, now,
    tag_names, text,
};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

fn today() -> String {
    let date = time::OffsetDateTime::now_utc().date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// An old, fixed event timestamp, so "newer" comparisons never depend on the clock.
const T0: i64 = 1_600_000_000;

#[tokio::test]
async fn add_applies_misp_defaults_and_typing() {
    let server = Server::start().await;
    let before = now();
    let event = server.add_event(json!({"info": "  defaults  "})).await;
    let after = now();
    assert!(int(&event["id"]) > 0);
    assert!(uuid::Uuid::parse_str(text(&event["uuid"])).is_ok());
    assert_eq!(event["info"], json!("defaults"), "info is trimmed");
    assert_eq!(event["date"], json!(today()));
    assert_eq!(event["threat_level_id"], json!("4"));
    assert_eq!(event["analysis"], json!("0"));
    assert_eq!(event["distribution"], json!("0"));
    assert_eq!(event["sharing_group_id"], json!("0"));
    assert_eq!(event["published"], json!(false));
    assert_eq!(event["publish_timestamp"], json!("0"));
    assert_eq!(event["attribute_count"], json!("0"));
    assert_eq!(event["locked"], json!(false));
    assert_eq!(event["proposal_email_lock"], json!(false));
    assert_eq!(event["disable_correlation"], json!(false));
    assert_eq!(event["extends_uuid"], json!(""));
    assert_eq!(event["protected"], Value::Null);
    let timestamp = int(&event["timestamp"]);
    assert!((before..=after).contains(&timestamp), "{timestamp}");
    assert_eq!(event["org_id"], event["orgc_id"]);
    assert_eq!(event["Org"]["name"], json!("HOST-ORG"));
    assert_eq!(event["Orgc"]["name"], json!("HOST-ORG"));
    assert_eq!(event["Org"]["id"], event["org_id"]);
    assert!(event.get("user_id").is_none(), "user_id is never shown");
    for list in [
        "Attribute",
        "ShadowAttribute",
        "RelatedEvent",
        "Galaxy",
        "Object",
        "EventReport",
    ] {
        assert_eq!(event[list], json!([]), "{list}");
    }
    assert!(event.get("Tag").is_none(), "no Tag key without tags");
}

#[tokio::test]
async fn add_accepts_every_envelope_and_the_rest_verb() {
    let server = Server::start().await;
    let bodies = [
        json!({"Event": {"info": "wrapped"}}),
        json!({"info": "bare"}),
        json!({"request": {"Event": {"info": "request"}}}),
        json!({"response": [{"Event": {"info": "response"}}]}),
    ];
    for body in bodies {
        let (status, _, reply) = server.post("/events/add", body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}: {reply}");
        assert!(reply["Event"]["info"].is_string());
    }
    let (status, _, reply) = server.post("/events", json!({"info": "REST"})).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["Event"]["info"], json!("REST"));
    let (status, _, reply) = server
        .post("/events/add.json", json!({"info": "suffix"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    // metadata:1 leaves attributes and objects out.
    let (status, _, reply) = server
        .post(
            "/events/add/metadata:1",
            json!({"info": "metadata", "Attribute": [{"type": "domain", "value": "example.com"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(reply["Event"].get("Attribute").is_none(), "{reply}");
    assert_eq!(reply["Event"]["attribute_count"], json!("1"));
}

#[tokio::test]
async fn add_keeps_the_client_uuid_lower_cased() {
    let server = Server::start().await;
    let uuid = new_uuid();
    let event = server
        .add_event(json!({"info": "mine", "uuid": uuid.to_uppercase()}))
        .await;
    assert_eq!(event["uuid"], json!(uuid));
    let viewed = server.view_event(&uuid).await;
    assert_eq!(viewed["info"], json!("mine"));
}

#[tokio::test]
async fn adding_an_existing_uuid_is_404_with_a_location() {
    let server = Server::start().await;
    let uuid = new_uuid();
    let first = server
        .add_event(json!({"info": "first", "uuid": uuid}))
        .await;
    let (status, headers, body) = server
        .post(
            "/events/add",
            json!({"Event": {"info": "again", "uuid": uuid}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_misp_error(&body, "/events/add");
    assert!(
        text(&body["message"]).starts_with("Event already exists"),
        "{body}"
    );
    let location = headers["location"].to_str().unwrap().to_string();
    assert!(
        location.ends_with(&format!("/{}", text(&first["id"]))),
        "{location}"
    );
    // The location leads to the existing event.
    let path = location.trim_start_matches(crate::support::BASE_URL);
    let (status, _, existing) = server.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}");
    assert_eq!(existing["Event"]["info"], json!("first"));
}

#[tokio::test]
async fn adding_an_existing_uuid_in_upper_case_is_404_too() {
    let server = Server::start().await;
    let uuid = new_uuid();
    server
        .add_event(json!({"info": "first", "uuid": uuid}))
        .await;
    let (status, headers, body) = server
        .post(
            "/events/add",
            json!({"info": "again", "uuid": uuid.to_uppercase()}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(headers.contains_key("location"));
}

#[tokio::test]
async fn a_sync_user_keeps_the_creator_org() {
    // The site admin role has perm_sync: Orgc is captured (created when unknown).
    let server = Server::start().await;
    let partner = new_uuid();
    let event = server
        .add_event(json!({
            "info": "from a partner",
            "Orgc": {"name": "PARTNER-CERT", "uuid": partner},
        }))
        .await;
    assert_eq!(event["Orgc"]["name"], json!("PARTNER-CERT"));
    assert_eq!(event["Orgc"]["uuid"], json!(partner));
    assert_eq!(event["Orgc"]["local"], json!(false));
    assert_eq!(event["Org"]["name"], json!("HOST-ORG"));
    assert_ne!(event["orgc_id"], event["org_id"]);
    assert_eq!(event["locked"], json!(true), "arrived by sync");

    // The same partner again, by uuid only: the same organisation.
    let again = server
        .add_event(json!({"info": "again", "Orgc": {"uuid": partner, "name": "renamed"}}))
        .await;
    assert_eq!(again["orgc_id"], event["orgc_id"]);
}

#[tokio::test]
async fn a_non_sync_user_cannot_set_the_creator_org() {
    let server = Server::start().await;
    let user = server.user_in_new_org("USERORG", ROLE_USER).await;
    let (status, _, body) = user
        .post(
            "/events/add",
            json!({"info": "mine", "Orgc": {"name": "SOMEONE-ELSE", "uuid": new_uuid()}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let event = &body["Event"];
    assert_eq!(event["Orgc"]["name"], json!("USERORG"));
    assert_eq!(event["orgc_id"], event["org_id"]);
    assert_eq!(event["locked"], json!(false));
}

#[tokio::test]
async fn inline_tags_are_created_and_attached() {
    let server = Server::start().await;
    let event = server
        .add_event(json!({
            "info": "tagged",
            "Tag": [{"name": "tlp:green"}, {"name": "kizuna:new-tag", "colour": "#123456"}],
            "Attribute": [{
                "type": "domain", "value": "example.com",
                "Tag": [{"name": "kizuna:attribute-tag", "local": 1}],
            }],
        }))
        .await;
    let mut names = tag_names(&event);
    names.sort();
    assert_eq!(names, ["kizuna:new-tag", "tlp:green"]);
    let custom = event["Tag"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tag| tag["name"] == "kizuna:new-tag")
        .unwrap();
    assert_eq!(custom["colour"], json!("#123456"));
    assert_eq!(custom["local"], json!(false));
    assert!(int(&custom["id"]) > 0);
    let attribute = &event["Attribute"][0];
    assert_eq!(tag_names(attribute), ["kizuna:attribute-tag"]);
    assert_eq!(attribute["Tag"][0]["local"], json!(true));
    // They exist as tags now.
    let (_, _, index) = server.get("/tags/index").await;
    let all: Vec<&str> = index["Tag"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| text(&tag["name"]))
        .collect();
    for name in ["tlp:green", "kizuna:new-tag", "kizuna:attribute-tag"] {
        assert!(all.contains(&name), "{name} not in {all:?}");
    }
}

#[tokio::test]
async fn attributes_are_normalised_defaulted_and_deduplicated() {
    let server = Server::start().await;
    let event = server
        .add_event(json!({
            "info": "normalise",
            "Attribute": [
                {"type": "ip-dst|port", "value": "1.2.3.4:80"},
                {"type": "md5", "value": "D41D8CD98F00B204E9800998ECF8427E"},
                {"type": "domain", "value": "example.com"},
                {"type": "domain", "value": "example.com"},
                {"type": "domain", "value": " example.com "},
                {"type": "url", "value": "hxxp://evil[.]example/x"},
            ],
        }))
        .await;
    let attributes = event["Attribute"].as_array().unwrap();
    let values: Vec<(&str, &str)> = attributes
        .iter()
        .map(|a| (text(&a["type"]), text(&a["value"])))
        .collect();
    assert_eq!(
        values,
        [
            ("ip-dst|port", "1.2.3.4|80"),
            ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
            ("domain", "example.com"),
            ("url", "http://evil.example/x"),
        ]
    );
    assert_eq!(event["attribute_count"], json!("4"));
    let ip = &attributes[0];
    assert_eq!(ip["category"], json!("Network activity"));
    assert_eq!(ip["to_ids"], json!(true));
    assert_eq!(ip["distribution"], json!("5"));
    assert_eq!(ip["deleted"], json!(false));
    assert_eq!(ip["disable_correlation"], json!(false));
    assert_eq!(ip["object_id"], json!("0"));
    assert_eq!(ip["object_relation"], Value::Null);
    assert_eq!(ip["first_seen"], Value::Null);
    assert_eq!(ip["comment"], json!(""));
    assert_eq!(ip["event_id"], event["id"]);
    assert_eq!(ip["sharing_group_id"], json!("0"));
    assert!(int(&ip["id"]) > 0);
    assert!(int(&ip["timestamp"]) > 0);
    assert_eq!(attributes[1]["category"], json!("Payload delivery"));
}

#[tokio::test]
async fn add_refuses_an_event_without_info() {
    let server = Server::start().await;
    for body in [
        json!({"Event": {"info": ""}}),
        json!({"Event": {"date": "2020-01-01"}}),
    ] {
        let reply = server.post("/events/add", body).await;
        assert_save_failed(&reply, "/events/add");
        assert!(reply.2["errors"].get("info").is_some(), "{}", reply.2);
    }
    let (_, headers, _) = server.get("/events/index").await;
    assert_eq!(headers["x-result-count"], "0");
}

/// MISP's Event::_add saves the event and drops the attributes and objects that fail
/// validation with a log line. Kizuna departs from that on purpose (docs/MISP-COMPAT.md):
/// it refuses the whole event, names every bad field, and stores nothing.
#[tokio::test]
async fn add_refuses_an_event_with_invalid_items_whole() {
    let server = Server::start().await;
    let (status, _, body) = server
        .post(
            "/events/add",
            json!({"info": "one bad attribute", "uuid": "0b7c6f51-7f5e-4d0a-9a43-0a4a3b1f0d11", "Attribute": [
                {"type": "ip-dst", "value": "not-an-ip"},
                {"type": "domain", "value": "good.example"},
            ], "Object": [
                {"name": "bad", "uuid": "a", "Attribute": [
                    {"object_relation": "text", "type": "text", "value": "x"}]},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["saved"], json!(false));
    // Malformed JSON fields (the object's uuid) are refused while parsing, before values
    // are checked, so the first problem reported is the uuid.
    assert!(body["errors"]["Object.0.uuid"].is_array(), "{body}");
    let (status, _, _) = server
        .get("/events/view/0b7c6f51-7f5e-4d0a-9a43-0a4a3b1f0d11")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = server
        .post(
            "/events/add",
            json!({"info": "one bad value", "Attribute": [
                {"type": "domain", "value": "good.example"},
                {"type": "ip-dst", "value": "not-an-ip"},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["errors"]["Attribute.1.value"].is_array(), "{body}");
    let (_, headers, _) = server.get("/events/index").await;
    assert_eq!(headers["x-result-count"], "0");
}

#[tokio::test]
async fn first_and_last_seen_are_rendered_with_microseconds() {
    let server = Server::start().await;
    let event = server
        .add_event(json!({
            "info": "seen",
            "Attribute": [{
                "type": "domain", "value": "seen.example",
                "first_seen": "2019-06-25T15:26:00.123456+00:00",
                "last_seen": 1_561_476_400_000_000_i64,
            }],
        }))
        .await;
    let attribute = &event["Attribute"][0];
    assert_eq!(
        attribute["first_seen"],
        json!("2019-06-25T15:26:00.123456+00:00")
    );
    assert_eq!(
        attribute["last_seen"],
        json!("2019-06-25T15:26:40.000000+00:00")
    );
}

#[tokio::test]
async fn view_by_id_uuid_rest_verb_suffix_and_named_parameters() {
    let server = Server::start().await;
    let event = server.add_event(json!({"info": "view me"})).await;
    let id = text(&event["id"]).to_string();
    let uuid = text(&event["uuid"]).to_string();
    for path in [
        format!("/events/view/{id}"),
        format!("/events/view/{uuid}"),
        format!("/events/view/{id}.json"),
        format!("/events/{id}"),
        format!("/events/{uuid}"),
        format!(
            "/events/view/{uuid}/deleted[]:0/deleted[]:1/excludeGalaxy:1/includeEventCorrelations:0/excludeLocalTags:1"
        ),
    ] {
        let (status, headers, body) = server.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        assert_eq!(body["Event"]["uuid"], json!(uuid), "{path}");
        assert_eq!(body["Event"]["id"], json!(id), "{path}");
    }
}

#[tokio::test]
async fn view_of_an_unknown_event_is_404_invalid_event() {
    let server = Server::start().await;
    let unknown_uuid = new_uuid();
    for path in [
        "/events/view/999999".to_string(),
        format!("/events/view/{unknown_uuid}"),
        "/events/view/not-a-key".to_string(),
    ] {
        let (status, _, body) = server.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_misp_error(&body, &path);
        assert_eq!(body["message"], json!("Invalid event."), "{path}");
    }
}

#[tokio::test]
async fn head_on_events_is_a_bare_200_or_404() {
    let server = Server::start().await;
    let event = server.add_event(json!({"info": "head"})).await;
    let (status, _, body) = server
        .head(&format!("/events/view/{}", text(&event["uuid"])))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_null(), "{body}");
    let (status, _, body) = server
        .head(&format!("/events/{}", text(&event["id"])))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_null());
    let (status, _, body) = server.head(&format!("/events/view/{}", new_uuid())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.is_null(), "{body}");
}

#[tokio::test]
async fn edit_changes_fields_and_needs_a_newer_timestamp() {
    let server = Server::start().await;
    let event = server
        .add_event(json!({"info": "before", "timestamp": T0}))
        .await;
    assert_eq!(event["timestamp"], json!(T0.to_string()));
    let id = text(&event["id"]).to_string();

    // Without a timestamp: accepted, the timestamp becomes now.
    let before = now();
    let (status, _, body) = server
        .post(
            &format!("/events/edit/{id}"),
            json!({"Event": {"info": "after", "threat_level_id": "1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Event"]["info"], json!("after"));
    assert_eq!(body["Event"]["threat_level_id"], json!("1"));
    assert_eq!(body["Event"]["uuid"], event["uuid"]);
    let stamped = int(&body["Event"]["timestamp"]);
    assert!(stamped >= before, "{stamped} < {before}");

    // An equal or older timestamp loses.
    for timestamp in [stamped, T0] {
        let url = format!("/events/edit/{id}");
        let reply = server
            .post(
                &url,
                json!({"Event": {"info": "stale", "timestamp": timestamp.to_string()}}),
            )
            .await;
        assert_save_failed(&reply, &url);
        assert!(
            text(&reply.2["message"]).contains("not newer than the local copy"),
            "{}",
            reply.2
        );
    }
    assert_eq!(server.view_event(&id).await["info"], json!("after"));

    // PUT on the REST resource, by uuid.
    let (status, _, body) = server
        .put(
            &format!("/events/{}", text(&event["uuid"])),
            json!({"Event": {"info": "put", "timestamp": (stamped + 1).to_string()}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Event"]["info"], json!("put"));
    assert_eq!(body["Event"]["timestamp"], json!((stamped + 1).to_string()));
}

#[tokio::test]
async fn edit_updates_attributes_by_uuid_only_when_newer_and_adds_new_ones() {
    let server = Server::start().await;
    let known = new_uuid();
    let event = server
        .add_event(json!({
            "info": "attributes",
            "timestamp": T0,
            "Attribute": [{"uuid": known, "type": "domain", "value": "known.example",
                           "comment": "original", "timestamp": T0}],
        }))
        .await;
    let id = text(&event["id"]).to_string();
    let added = new_uuid();

    // The known attribute is not newer: ignored. The unknown one is added.
    let (status, _, body) = server
        .post(
            &format!("/events/edit/{id}"),
            json!({"Event": {
                "timestamp": T0 + 10,
                "Attribute": [
                    {"uuid": known, "type": "domain", "value": "known.example",
                     "comment": "not newer", "timestamp": T0},
                    {"uuid": added, "type": "ip-src", "value": "192.0.2.1", "timestamp": T0 + 10},
                ],
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let event = server.view_event(&id).await;
    assert_eq!(
        find_attribute(&event, &known).unwrap()["comment"],
        json!("original")
    );
    let new_one = find_attribute(&event, &added).expect("the new attribute");
    assert_eq!(new_one["value"], json!("192.0.2.1"));
    assert_eq!(event["attribute_count"], json!("2"));

    // Newer: updated.
    let (status, _, body) = server
        .post(
            &format!("/events/edit/{id}"),
            json!({"Event": {
                "timestamp": T0 + 20,
                "Attribute": [{"uuid": known, "type": "domain", "value": "known.example",
                               "comment": "newer", "to_ids": false, "timestamp": T0 + 20}],
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let event = server.view_event(&id).await;
    let updated = find_attribute(&event, &known).unwrap();
    assert_eq!(updated["comment"], json!("newer"));
    assert_eq!(updated["to_ids"], json!(false));
    assert_eq!(updated["timestamp"], json!((T0 + 20).to_string()));
    // Attributes absent from the edit are not deleted.
    assert!(find_attribute(&event, &added).is_some());
    assert_eq!(event["Attribute"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn edit_unpublishes_the_event() {
    let server = Server::start().await;
    let event = server.add_event(json!({"info": "published"})).await;
    let id = text(&event["id"]).to_string();
    let (status, _, _) = server.post_empty(&format!("/events/publish/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.view_event(&id).await["published"], json!(true));
    let (status, _, body) = server
        .post(
            &format!("/events/edit/{id}"),
            json!({"Event": {"info": "changed"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Event"]["published"], json!(false));
    assert_eq!(server.view_event(&id).await["published"], json!(false));
}

#[tokio::test]
async fn edit_of_an_unknown_event_is_404() {
    let server = Server::start().await;
    let (status, _, body) = server
        .post("/events/edit/424242", json!({"Event": {"info": "x"}}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_misp_error(&body, "/events/edit/424242");
}

#[tokio::test]
async fn publish_and_unpublish() {
    let server = Server::start().await;
    let event = server.add_event(json!({"info": "to publish"})).await;
    let id = text(&event["id"]).to_string();
    let before = now();
    let url = format!("/events/publish/{id}");
    let (status, _, body) = server.post_empty(&url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["saved"], json!(true));
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["id"], json!(id));
    assert_eq!(body["url"], json!(url));
    assert!(body["message"].is_string());
    let viewed = server.view_event(&id).await;
    assert_eq!(viewed["published"], json!(true));
    assert!(int(&viewed["publish_timestamp"]) >= before);

    let (status, _, body) = server.post_empty(&format!("/events/unpublish/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["saved"], json!(true));
    let viewed = server.view_event(&id).await;
    assert_eq!(viewed["published"], json!(false));

    // Added published by a publisher: published, with a publish timestamp.
    let published = server
        .add_event(json!({"info": "born published", "published": true,
                          "Attribute": [{"type": "domain", "value": "p.example"}]}))
        .await;
    assert_eq!(published["published"], json!(true));
    assert!(int(&published["publish_timestamp"]) >= before);

    // MISP refuses a published event with nothing in it.
    let reply = server
        .post("/events/add", json!({"info": "empty", "published": true}))
        .await;
    assert_save_failed(&reply, "/events/add");

    let (status, _, body) = server.post_empty("/events/publish/987654").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn delete_removes_the_event_and_blocklists_its_uuid() {
    let server = Server::start().await;
    let uuid = new_uuid();
    let event = server
        .add_event(json!({"info": "doomed", "uuid": uuid,
                          "Attribute": [{"type": "domain", "value": "doomed.example"}]}))
        .await;
    let id = text(&event["id"]).to_string();
    let url = format!("/events/delete/{id}");
    let (status, _, body) = server.post_empty(&url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["saved"], json!(true));
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["message"], json!("Event deleted."));
    assert_eq!(body["name"], json!("Event deleted."));
    assert_eq!(body["url"], json!(url));
    assert_eq!(body["id"], json!(id));

    let (status, _, body) = server.get(&format!("/events/view/{uuid}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, _) = server.post_empty(&url).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The same uuid cannot come back.
    let (status, _, body) = server
        .post(
            "/events/add",
            json!({"Event": {"info": "back", "uuid": uuid}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_misp_error(&body, "/events/add");
    assert!(
        text(&body["message"]).starts_with("Event blocked by event blocklist"),
        "{body}"
    );
}

#[tokio::test]
async fn delete_by_rest_verb_and_in_bulk() {
    let server = Server::start().await;
    let one = server.add_event(json!({"info": "one"})).await;
    let (status, _, body) = server
        .delete(&format!("/events/{}", text(&one["uuid"])))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = server.get(&format!("/events/{}", text(&one["id"]))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let two = server.add_event(json!({"info": "two"})).await;
    let three = server.add_event(json!({"info": "three"})).await;
    let (status, _, body) = server
        .post("/events/delete", json!({"id": [two["id"], three["uuid"]]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["saved"], json!(true));
    let (_, headers, _) = server.get("/events/index").await;
    assert_eq!(headers["x-result-count"], "0");
}

/// Three events: "alpha one", "beta two" (published), "alpha three".
async fn three_events(server: &Server) -> Vec<Value> {
    let mut events = Vec::new();
    for info in ["alpha one", "beta two", "alpha three"] {
        events.push(server.add_event(json!({"info": info})).await);
    }
    let (status, _, _) = server
        .post_empty(&format!("/events/publish/{}", text(&events[1]["id"])))
        .await;
    assert_eq!(status, StatusCode::OK);
    events
}

fn infos(body: &Value) -> Vec<&str> {
    body.as_array()
        .unwrap_or_else(|| panic!("an array, got {body}"))
        .iter()
        .map(|event| text(&event["info"]))
        .collect()
}

#[tokio::test]
async fn index_lists_flat_events_with_a_result_count() {
    let server = Server::start().await;
    let events = three_events(&server).await;
    server
        .post(
            "/tags/attachTagToObject",
            json!({"uuid": events[0]["uuid"], "tag": "tlp:white"}),
        )
        .await;
    for (method, path) in [
        (Method::GET, "/events/index"),
        (Method::GET, "/events"),
        (Method::GET, "/events/index.json"),
        (Method::POST, "/events/index"),
    ] {
        let (status, headers, body) = server.send(method.clone(), path, None).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
        assert_eq!(headers["x-result-count"], "3", "{path}");
        assert_eq!(infos(&body), ["alpha one", "beta two", "alpha three"]);
    }
    let (_, _, body) = server.get("/events/index").await;
    let first = &body[0];
    assert_eq!(first["id"], events[0]["id"]);
    assert_eq!(first["published"], json!(false));
    assert_eq!(body[1]["published"], json!(true));
    assert!(first["timestamp"].is_string());
    assert_eq!(first["Org"]["name"], json!("HOST-ORG"));
    assert_eq!(first["Orgc"]["name"], json!("HOST-ORG"));
    assert!(first.get("Attribute").is_none(), "the index is flat");
    assert!(first.get("user_id").is_none());
    let event_tag = &first["EventTag"][0];
    assert_eq!(event_tag["Tag"]["name"], json!("tlp:white"));
    assert_eq!(event_tag["event_id"], first["id"]);
    assert_eq!(event_tag["local"], json!(false));
    assert_eq!(body[1]["EventTag"], json!([]));
}

#[tokio::test]
async fn index_filters_on_info_and_published() {
    let server = Server::start().await;
    three_events(&server).await;
    let (_, headers, body) = server.get("/events/index/eventinfo:alpha").await;
    assert_eq!(infos(&body), ["alpha one", "alpha three"]);
    assert_eq!(headers["x-result-count"], "2");
    let (_, _, body) = server
        .post("/events/index", json!({"eventinfo": "ALPHA"}))
        .await;
    assert_eq!(infos(&body), ["alpha one", "alpha three"]);
    let (_, _, body) = server
        .post("/events/index", json!({"searcheventinfo": "beta"}))
        .await;
    assert_eq!(infos(&body), ["beta two"]);

    let (_, _, body) = server.post("/events/index", json!({"published": 1})).await;
    assert_eq!(infos(&body), ["beta two"]);
    let (_, _, body) = server
        .post("/events/index", json!({"published": "0"}))
        .await;
    assert_eq!(infos(&body), ["alpha one", "alpha three"]);
    let (_, _, body) = server.get("/events/index/searchpublished:1").await;
    assert_eq!(infos(&body), ["beta two"]);
}

#[tokio::test]
async fn index_pages_and_sorts() {
    let server = Server::start().await;
    three_events(&server).await;
    let (_, _, body) = server
        .post("/events/index", json!({"limit": 2, "page": 1}))
        .await;
    assert_eq!(infos(&body), ["alpha one", "beta two"]);
    let (_, _, body) = server
        .post("/events/index", json!({"limit": "2", "page": "2"}))
        .await;
    assert_eq!(infos(&body), ["alpha three"]);
    let (_, _, body) = server.get("/events/index/limit:1/page:3").await;
    assert_eq!(infos(&body), ["alpha three"]);

    let (_, _, body) = server
        .post(
            "/events/index",
            json!({"sort": "info", "direction": "desc"}),
        )
        .await;
    assert_eq!(infos(&body), ["beta two", "alpha three", "alpha one"]);
    let (_, _, body) = server.get("/events/index/sort:info/direction:asc").await;
    assert_eq!(infos(&body), ["alpha one", "alpha three", "beta two"]);
    let (_, _, body) = server
        .post("/events/index", json!({"sort": "id", "direction": "desc"}))
        .await;
    assert_eq!(infos(&body), ["alpha three", "beta two", "alpha one"]);
}

/// MISP (EventsController::__indexRestResponse) sets `X-Result-Count` to the number of
/// matching events before paging (`$absoluteTotal`), not to the size of the page.
#[tokio::test]
async fn index_result_count_is_the_total_before_paging() {
    let server = Server::start().await;
    three_events(&server).await;
    let (_, headers, body) = server
        .post("/events/index", json!({"limit": 2, "page": 1}))
        .await;
    assert_eq!(body.as_array().unwrap().len(), 2);
    assert_eq!(headers["x-result-count"], "3");
}

#[tokio::test]
async fn index_minimal_has_only_the_sync_fields() {
    let server = Server::start().await;
    let events = three_events(&server).await;
    // The minimal form lists only events with content (MISP); adding it unpublishes.
    for event in &events {
        let (status, _, body) = server
            .post(
                &format!("/attributes/add/{}", text(&event["id"])),
                json!({"type": "ip-dst", "value": "198.51.100.7"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, _, _) = server
        .post_empty(&format!("/events/publish/{}", text(&events[1]["id"])))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, body) = server.post("/events/index", json!({"minimal": 1})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-result-count"], "3");
    let rows = body.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let mut keys: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "id",
            "orgc_uuid",
            "published",
            "sighting_timestamp",
            "timestamp",
            "uuid"
        ]
    );
    assert_eq!(rows[0]["uuid"], events[0]["uuid"]);
    assert_eq!(rows[0]["orgc_uuid"], events[0]["Orgc"]["uuid"]);
    assert_eq!(rows[1]["published"], json!(true));
    assert!(rows[0]["timestamp"].is_string());
    let (_, _, named) = server.get("/events/index/minimal:1").await;
    assert_eq!(named.as_array().unwrap().len(), 3);
    assert!(named[0].get("info").is_none());
}

#[tokio::test]
async fn index_filters_on_event_ids_and_timestamps() {
    let server = Server::start().await;
    let events = three_events(&server).await;
    let (_, _, body) = server
        .post(
            "/events/index",
            json!({"eventid": [events[0]["id"], events[2]["uuid"]]}),
        )
        .await;
    assert_eq!(infos(&body), ["alpha one", "alpha three"]);
    let (_, _, body) = server
        .post("/events/index", json!({"timestamp": now() + 3600}))
        .await;
    assert_eq!(infos(&body), Vec::<&str>::new());
    let (_, _, body) = server
        .post("/events/index", json!({"timestamp": "1d"}))
        .await;
    assert_eq!(infos(&body).len(), 3);
}

/// A sync peer pushing several events of a creator organisation this instance has not seen
/// yet: every push must be accepted, and the organisation created once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adds_with_the_same_new_creator_org_all_succeed() {
    let server = Server::start().await;
    let orgc = json!({"name": "NEW-PARTNER", "uuid": new_uuid()});
    let mut tasks = Vec::new();
    for index in 0..16 {
        let client = server.admin.clone();
        let body = json!({"Event": {"info": format!("push {index}"), "Orgc": orgc}});
        tasks.push(tokio::spawn(async move {
            client.post("/events/add", body).await
        }));
    }
    let mut creators = std::collections::HashSet::new();
    for task in tasks {
        let (status, _, body) = task.await.expect("a request");
        assert_eq!(status, StatusCode::OK, "{body}");
        creators.insert(body["Event"]["orgc_id"].clone());
    }
    assert_eq!(creators.len(), 1, "{creators:?}");
}

#[tokio::test]
async fn edit_adds_tags_but_never_removes_them() {
    let server = Server::start().await;
    let event = server
        .add_event(json!({"info": "tags", "Tag": [{"name": "tlp:green"}]}))
        .await;
    let id = text(&event["id"]).to_string();
    let (status, _, body) = server
        .post(
            &format!("/events/edit/{id}"),
            json!({"Event": {"Tag": [{"name": "kizuna:added"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut names = tag_names(&server.view_event(&id).await);
    names.sort();
    assert_eq!(names, ["kizuna:added", "tlp:green"]);
}

#[tokio::test]
async fn edit_propagates_deletions_and_adds_objects() {
    let server = Server::start().await;
    let doomed = new_uuid();
    let event = server
        .add_event(json!({"info": "sync", "timestamp": T0, "Attribute": [
            {"uuid": doomed, "type": "domain", "value": "doomed.example", "timestamp": T0},
            {"type": "domain", "value": "kept.example", "timestamp": T0},
        ]}))
        .await;
    let id = text(&event["id"]).to_string();
    let object = new_uuid();
    let (status, _, body) = server
        .post(
            &format!("/events/edit/{id}"),
            json!({"Event": {
                "timestamp": T0 + 10,
                "Attribute": [{"uuid": doomed, "type": "domain", "value": "doomed.example",
                               "deleted": true, "timestamp": T0 + 10}],
                "Object": [{"uuid": object, "name": "domain-ip", "timestamp": T0 + 10,
                            "Attribute": [{"object_relation": "ip", "type": "ip-dst",
                                           "value": "192.0.2.99"}]}],
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let viewed = server.view_event(&id).await;
    assert!(
        find_attribute(&viewed, &doomed).is_none(),
        "soft-deleted upstream"
    );
    assert_eq!(viewed["Object"][0]["uuid"], json!(object));
    assert_eq!(
        viewed["attribute_count"],
        json!("2"),
        "kept.example and the object's ip"
    );
    let (_, _, with_deleted) = server.get(&format!("/events/view/{id}/deleted[]:1")).await;
    assert_eq!(
        find_attribute(&with_deleted["Event"], &doomed).unwrap()["deleted"],
        json!(true)
    );
}

#[tokio::test]
async fn edit_can_publish_for_a_publisher() {
    let server = Server::start().await;
    let event = server
        .add_event(json!({"info": "e", "Attribute": [{"type": "domain", "value": "e.example"}]}))
        .await;
    let before = now();
    let (status, _, body) = server
        .post(
            &format!("/events/edit/{}", text(&event["id"])),
            json!({"Event": {"info": "published by edit", "published": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Event"]["published"], json!(true));
    assert!(int(&body["Event"]["publish_timestamp"]) >= before);
}

#[tokio::test]
async fn sharing_group_distribution_needs_a_usable_group() {
    let server = Server::start().await;
    let user = server.user_in_new_org("USERORG", ROLE_USER).await;
    let reply = user
        .post(
            "/events/add",
            json!({"info": "sg", "distribution": 4, "sharing_group_id": 99}),
        )
        .await;
    assert_save_failed(&reply, "/events/add");
    assert!(
        reply.2["errors"].get("sharing_group_id").is_some(),
        "{}",
        reply.2
    );
}

#[tokio::test]
async fn index_filters_on_the_creator_org() {
    let server = Server::start().await;
    server.add_event(json!({"info": "ours"})).await;
    server
        .add_event(json!({"info": "theirs", "Orgc": {"name": "PARTNER", "uuid": new_uuid()}}))
        .await;
    let (_, _, body) = server
        .post("/events/index", json!({"org": "PARTNER"}))
        .await;
    assert_eq!(infos(&body), ["theirs"]);
    let (_, _, body) = server.get("/events/index/searchorg:HOST-ORG").await;
    assert_eq!(infos(&body), ["ours"]);
    let (_, _, body) = server.post("/events/index", json!({"org": "NOBODY"})).await;
    assert_eq!(infos(&body), Vec::<&str>::new());
}

/// MISP's typing everywhere in an event: integer columns as strings of digits, `tinyint(1)`
/// columns as booleans, `protected` null or boolean.
#[tokio::test]
async fn every_integer_is_a_string_and_every_flag_a_boolean() {
    const INTEGERS: &[&str] = &[
        "id",
        "orgc_id",
        "org_id",
        "threat_level_id",
        "attribute_count",
        "analysis",
        "timestamp",
        "distribution",
        "publish_timestamp",
        "sharing_group_id",
        "event_id",
        "object_id",
        "user_id",
        "template_version",
        "referenced_id",
        "referenced_type",
    ];
    const FLAGS: &[&str] = &[
        "published",
        "proposal_email_lock",
        "locked",
        "disable_correlation",
        "to_ids",
        "deleted",
        "exportable",
        "hide_tag",
        "is_galaxy",
        "is_custom_galaxy",
        "local_only",
        "local",
    ];
    fn walk(path: &str, value: &Value, problems: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let here = format!("{path}.{key}");
                    let integer = child
                        .as_str()
                        .is_some_and(|text| text.parse::<i64>().is_ok());
                    if INTEGERS.contains(&key.as_str()) && !integer {
                        problems.push(format!("{here} = {child} is not a string integer"));
                    }
                    if FLAGS.contains(&key.as_str()) && !child.is_boolean() {
                        problems.push(format!("{here} = {child} is not a boolean"));
                    }
                    walk(&here, child, problems);
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    walk(&format!("{path}[{index}]"), item, problems);
                }
            }
            _ => {}
        }
    }
    let server = Server::start().await;
    let target = new_uuid();
    let event = server
        .add_event(json!({
            "info": "typing", "threat_level_id": 2, "analysis": "1", "distribution": 1,
            "Tag": [{"name": "tlp:green", "local": 1}],
            "Attribute": [{"uuid": target, "type": "ip-dst", "value": "192.0.2.1",
                           "to_ids": 0, "Tag": [{"name": "tlp:amber"}]}],
            "Object": [{"name": "domain-ip", "template_version": 3,
                        "Attribute": [{"object_relation": "domain", "type": "domain",
                                       "value": "typing.example"}],
                        "ObjectReference": [{"referenced_uuid": target,
                                             "relationship_type": "resolves-to"}]}],
        }))
        .await;
    let viewed = server.view_event(text(&event["id"])).await;
    assert_eq!(viewed["threat_level_id"], json!("2"));
    assert_eq!(viewed["analysis"], json!("1"));
    assert_eq!(viewed["distribution"], json!("1"));
    assert_eq!(viewed["Attribute"][0]["to_ids"], json!(false));
    let (_, _, index) = server.get("/events/index").await;
    let mut problems = Vec::new();
    walk("add", &event, &mut problems);
    walk("view", &viewed, &mut problems);
    walk("index", &index, &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
}

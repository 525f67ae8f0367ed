//! AttributesController (misp-reference §4.3, side effects §1.5).

use crate::support::{
    Server, assert_misp_error, assert_save_failed, find_attribute, int, new_uuid, now, text,
};
use axum::http::StatusCode;
use serde_json::{Value, json};

const DUPLICATE: &str = "A similar attribute already exists for this event.";
const T0: i64 = 1_600_000_000;

/// An event with an old timestamp, published, with one domain attribute.
async fn published_event(server: &Server) -> Value {
    let event = server
        .add_event(json!({
            "info": "attributes",
            "timestamp": T0,
            "Attribute": [{"type": "domain", "value": "first.example", "timestamp": T0}],
        }))
        .await;
    let (status, _, _) = server
        .post_empty(&format!("/events/publish/{}", text(&event["id"])))
        .await;
    assert_eq!(status, StatusCode::OK);
    server.view_event(text(&event["id"])).await
}

/// Asserts the event was touched by an attribute change: timestamp moved, unpublished.
fn assert_touched(event: &Value, started: i64) {
    assert!(
        int(&event["timestamp"]) >= started,
        "event timestamp not bumped: {}",
        event["timestamp"]
    );
    assert_eq!(event["published"], json!(false), "event still published");
}

#[tokio::test]
async fn add_one_attribute() {
    let server = Server::start().await;
    let event = published_event(&server).await;
    let id = text(&event["id"]).to_string();
    let started = now();
    let uuid = new_uuid();
    let (status, _, body) = server
        .post(
            &format!("/attributes/add/{id}"),
            json!({"type": "ip-dst", "value": "198.51.100.7", "uuid": uuid, "comment": "c2",
                   "Tag": [{"name": "tlp:amber"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let attribute = &body["Attribute"];
    assert!(attribute.is_object(), "a single attribute: {body}");
    assert_eq!(attribute["uuid"], json!(uuid));
    assert_eq!(attribute["event_id"], json!(id));
    assert_eq!(attribute["category"], json!("Network activity"));
    assert_eq!(attribute["to_ids"], json!(true));
    assert_eq!(attribute["comment"], json!("c2"));
    assert_eq!(attribute["value"], json!("198.51.100.7"));
    assert!(int(&attribute["timestamp"]) >= started);

    let event = server.view_event(&id).await;
    assert_eq!(event["attribute_count"], json!("2"));
    assert_touched(&event, started);
    let stored = find_attribute(&event, &uuid).expect("stored");
    assert_eq!(crate::support::tag_names(stored), ["tlp:amber"]);

    // Also in the `{"Attribute": {...}}` envelope, and by event uuid.
    let (status, _, body) = server
        .post(
            &format!("/attributes/add/{}", text(&event["uuid"])),
            json!({"Attribute": {"type": "md5", "value": "D41D8CD98F00B204E9800998ECF8427E"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["Attribute"]["value"],
        json!("d41d8cd98f00b204e9800998ecf8427e")
    );
}

#[tokio::test]
async fn add_a_list_with_one_bad_item_is_a_partial_success() {
    let server = Server::start().await;
    let event = published_event(&server).await;
    let id = text(&event["id"]).to_string();
    let (status, _, body) = server
        .post(
            &format!("/attributes/add/{id}"),
            json!([
                {"type": "ip-dst", "value": "192.0.2.10"},
                {"type": "ip-dst", "value": "not-an-ip"},
                {"type": "domain", "value": "second.example"},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = body["Attribute"].as_array().expect("a list");
    let values: Vec<&str> = stored.iter().map(|a| text(&a["value"])).collect();
    assert_eq!(values, ["192.0.2.10", "second.example"]);
    assert!(
        body["errors"]["attribute_1"]["value"].is_array(),
        "errors name the failed item and field: {body}"
    );
    assert!(body["errors"].get("attribute_0").is_none());
    assert_eq!(server.view_event(&id).await["attribute_count"], json!("3"));
}

#[tokio::test]
async fn add_with_a_list_of_values() {
    let server = Server::start().await;
    let event = server.add_event(json!({"info": "batch"})).await;
    let id = text(&event["id"]).to_string();
    let (status, _, body) = server
        .post(
            &format!("/attributes/add/{id}"),
            json!({"type": "domain", "value": ["a.example", "b.example"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["Attribute"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
}

#[tokio::test]
async fn add_where_everything_fails_is_a_save_fail_naming_the_field() {
    let server = Server::start().await;
    let event = published_event(&server).await;
    let id = text(&event["id"]).to_string();
    let url = format!("/attributes/add/{id}");

    let reply = server
        .post(&url, json!({"type": "ip-dst", "value": "not-an-ip"}))
        .await;
    assert_save_failed(&reply, &url);
    assert!(reply.2["errors"]["value"].is_array(), "{}", reply.2);

    let reply = server
        .post(&url, json!({"type": "no-such-type", "value": "x"}))
        .await;
    assert_save_failed(&reply, &url);
    assert!(reply.2["errors"]["type"].is_array(), "{}", reply.2);

    let reply = server
        .post(&url, json!({"type": "domain", "value": "first.example"}))
        .await;
    assert_save_failed(&reply, &url);
    assert_eq!(
        reply.2["errors"]["value"],
        json!([DUPLICATE]),
        "{}",
        reply.2
    );

    let reply = server
        .post(
            &url,
            json!({"type": "ip-dst", "category": "Financial fraud", "value": "192.0.2.1"}),
        )
        .await;
    assert_save_failed(&reply, &url);
    assert!(reply.2["errors"]["category"].is_array(), "{}", reply.2);

    let reply = server
        .post(
            &url,
            json!([{"type": "ip-dst", "value": "bad"}, {"type": "domain", "value": "first.example"}]),
        )
        .await;
    assert_save_failed(&reply, &url);

    // Nothing changed: still published, one attribute.
    let event = server.view_event(&id).await;
    assert_eq!(event["attribute_count"], json!("1"));
    assert_eq!(event["published"], json!(true));

    // The same value in another category is not a duplicate.
    let (status, _, body) = server
        .post(
            &url,
            json!({"type": "domain", "category": "Payload delivery", "value": "first.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn add_to_an_unknown_event_is_404() {
    let server = Server::start().await;
    let (status, _, body) = server
        .post(
            "/attributes/add/31337",
            json!({"type": "domain", "value": "x.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["message"], json!("Invalid event."));
}

#[tokio::test]
async fn view_by_id_uuid_and_rest_verb_and_head() {
    let server = Server::start().await;
    let event = published_event(&server).await;
    let attribute = &event["Attribute"][0];
    let id = text(&attribute["id"]).to_string();
    let uuid = text(&attribute["uuid"]).to_string();
    for path in [
        format!("/attributes/view/{id}"),
        format!("/attributes/view/{uuid}"),
        format!("/attributes/view/{id}.json"),
        format!("/attributes/{id}"),
    ] {
        let (status, _, body) = server.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["Attribute"]["uuid"], json!(uuid));
        assert_eq!(body["Attribute"]["value"], json!("first.example"));
        assert_eq!(body["Attribute"]["event_id"], event["id"]);
    }
    let (status, _, body) = server.head(&format!("/attributes/view/{uuid}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_null());
    let (status, _, _) = server.head("/attributes/view/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = server.get("/attributes/view/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_misp_error(&body, "/attributes/view/999999");
    assert_eq!(body["message"], json!("Invalid attribute."));
}

#[tokio::test]
async fn edit_changes_the_attribute_and_touches_the_event() {
    let server = Server::start().await;
    let event = published_event(&server).await;
    let attribute = &event["Attribute"][0];
    let id = text(&attribute["id"]).to_string();
    let started = now();
    let (status, _, body) = server
        .post(
            &format!("/attributes/edit/{id}"),
            json!({"comment": "edited", "to_ids": "0"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Attribute"]["comment"], json!("edited"));
    assert_eq!(body["Attribute"]["to_ids"], json!(false));
    assert_eq!(body["Attribute"]["value"], json!("first.example"));
    assert!(int(&body["Attribute"]["timestamp"]) >= started);
    let event = server.view_event(text(&event["id"])).await;
    assert_touched(&event, started);

    // Value edits are normalised; REST PUT works; an edit to the same value as another
    // attribute of the event is a duplicate.
    let (status, _, body) = server
        .put(
            &format!("/attributes/{id}"),
            json!({"Attribute": {"value": "EDITED.example"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Attribute"]["value"], json!("edited.example"));
}

#[tokio::test]
async fn edit_with_an_older_timestamp_is_refused() {
    let server = Server::start().await;
    let event = published_event(&server).await;
    let attribute = &event["Attribute"][0];
    let id = text(&attribute["id"]).to_string();
    let url = format!("/attributes/edit/{id}");
    let (status, _, body) = server
        .post(&url, json!({"comment": "stale", "timestamp": T0}))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_misp_error(&body, &url);
    assert!(
        text(&body["message"]).contains("not newer than the local copy"),
        "{body}"
    );
    let (status, _, body) = server
        .post(&url, json!({"comment": "fresh", "timestamp": T0 + 1}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Attribute"]["timestamp"], json!((T0 + 1).to_string()));
}

#[tokio::test]
async fn edit_refuses_invalid_values_and_duplicates() {
    let server = Server::start().await;
    let event = server
        .add_event(json!({"info": "e", "Attribute": [
            {"type": "ip-dst", "value": "192.0.2.1"},
            {"type": "ip-dst", "value": "192.0.2.2"},
        ]}))
        .await;
    let second = text(&event["Attribute"][1]["id"]).to_string();
    let url = format!("/attributes/edit/{second}");
    let reply = server.post(&url, json!({"value": "nope"})).await;
    assert_save_failed(&reply, &url);
    assert!(reply.2["errors"]["value"].is_array(), "{}", reply.2);
    let reply = server.post(&url, json!({"value": "192.0.2.1"})).await;
    assert_save_failed(&reply, &url);
    assert_eq!(reply.2["errors"]["value"], json!([DUPLICATE]));
}

#[tokio::test]
async fn soft_delete_restore_and_hard_delete() {
    let server = Server::start().await;
    let event = published_event(&server).await;
    let event_id = text(&event["id"]).to_string();
    let attribute = &event["Attribute"][0];
    let id = text(&attribute["id"]).to_string();
    let started = now();

    let (status, _, body) = server.post_empty(&format!("/attributes/delete/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], json!("Attribute deleted."));
    let viewed = server.view_event(&event_id).await;
    assert_eq!(viewed["Attribute"], json!([]), "soft-deleted is hidden");
    assert_eq!(viewed["attribute_count"], json!("0"));
    assert_touched(&viewed, started);
    // Visible with deleted[]:1, flagged.
    let (_, _, with_deleted) = server
        .get(&format!("/events/view/{event_id}/deleted[]:0/deleted[]:1"))
        .await;
    assert_eq!(
        with_deleted["Event"]["Attribute"][0]["deleted"],
        json!(true)
    );
    let (status, _, _) = server.get(&format!("/attributes/view/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = server
        .get(&format!("/attributes/view/{id}/deleted:1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Attribute"]["deleted"], json!(true));

    let (status, _, body) = server
        .post_empty(&format!("/attributes/restore/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Attribute"]["deleted"], json!(false));
    let viewed = server.view_event(&event_id).await;
    assert_eq!(viewed["attribute_count"], json!("1"));
    assert_eq!(viewed["Attribute"][0]["id"], json!(id));

    // Hard delete through `/1`: gone even with deleted[]:1.
    let (status, _, body) = server
        .post_empty(&format!("/attributes/delete/{id}/1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, with_deleted) = server
        .get(&format!("/events/view/{event_id}/deleted[]:1"))
        .await;
    assert_eq!(with_deleted["Event"]["Attribute"], json!([]));
    let (status, _, _) = server
        .get(&format!("/attributes/view/{id}/deleted:1"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hard_delete_through_the_body_and_the_rest_verb() {
    let server = Server::start().await;
    let event = server
        .add_event(json!({"info": "e", "Attribute": [
            {"type": "domain", "value": "one.example"},
            {"type": "domain", "value": "two.example"},
        ]}))
        .await;
    let event_id = text(&event["id"]).to_string();
    let one = text(&event["Attribute"][0]["uuid"]).to_string();
    let two = text(&event["Attribute"][1]["id"]).to_string();
    let (status, _, body) = server
        .post(&format!("/attributes/delete/{one}"), json!({"hard": 1}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = server.delete(&format!("/attributes/{two}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, with_deleted) = server
        .get(&format!("/events/view/{event_id}/deleted[]:1"))
        .await;
    let remaining = with_deleted["Event"]["Attribute"].as_array().unwrap();
    assert_eq!(remaining.len(), 1, "one hard, one soft: {remaining:?}");
    assert_eq!(remaining[0]["id"], json!(two));
    assert_eq!(remaining[0]["deleted"], json!(true));
    // Deleting a soft-deleted attribute again removes it for good.
    let (status, _, _) = server
        .post_empty(&format!("/attributes/delete/{two}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, with_deleted) = server
        .get(&format!("/events/view/{event_id}/deleted[]:1"))
        .await;
    assert_eq!(with_deleted["Event"]["Attribute"], json!([]));
}

#[tokio::test]
async fn attribute_index_lists_live_attributes() {
    let server = Server::start().await;
    server
        .add_event(json!({"info": "e", "Attribute": [
            {"type": "domain", "value": "one.example"},
            {"type": "domain", "value": "two.example"},
        ]}))
        .await;
    let (status, _, body) = server.get("/attributes/index").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.as_array().map(Vec::len), Some(2), "{body}");
    let (_, _, body) = server.get("/attributes/index/limit:1/page:2").await;
    assert_eq!(body[0]["value"], json!("two.example"));
}

#[tokio::test]
async fn get_on_a_write_endpoint_describes_it() {
    let server = Server::start().await;
    let event = server.add_event(json!({"info": "e"})).await;
    let url = format!("/attributes/add/{}", text(&event["id"]));
    let (status, _, body) = server.get(&url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(text(&body["name"]).ends_with("API description"), "{body}");
    assert!(body["mandatory_fields"].is_array());
    assert_eq!(body["url"], json!(url));
}

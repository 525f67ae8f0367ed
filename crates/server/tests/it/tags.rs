//! TagsController (misp-reference §4.5) and the legacy events/addTag, events/removeTag.

use crate::support::{Server, assert_misp_error, assert_save_failed, int, now, tag_names, text};
use axum::http::StatusCode;
use serde_json::{Value, json};

const T0: i64 = 1_600_000_000;

async fn add_tag(server: &Server, body: Value) -> Value {
    let (status, _, reply) = server.post("/tags/add", body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    reply["Tag"].clone()
}

#[tokio::test]
async fn tag_crud() {
    let server = Server::start().await;
    let tag = add_tag(
        &server,
        json!({"name": "kizuna:crud", "colour": "#aabbcc", "exportable": true,
               "numerical_value": 50}),
    )
    .await;
    let id = text(&tag["id"]).to_string();
    assert!(int(&tag["id"]) > 0);
    assert_eq!(tag["name"], json!("kizuna:crud"));
    assert_eq!(tag["colour"], json!("#aabbcc"));
    assert_eq!(tag["exportable"], json!(true));
    assert_eq!(tag["hide_tag"], json!(false));
    assert_eq!(tag["org_id"], json!("0"));
    assert_eq!(tag["user_id"], json!("0"));
    assert_eq!(tag["numerical_value"], json!("50"));
    assert_eq!(tag["is_galaxy"], json!(false));
    assert_eq!(tag["local_only"], json!(false));

    // Without a colour, one is given; `{"Tag": …}` works too.
    let coloured = add_tag(&server, json!({"Tag": {"name": "kizuna:no-colour"}})).await;
    let colour = text(&coloured["colour"]);
    assert!(
        colour.len() == 7 && colour.starts_with('#'),
        "colour {colour:?}"
    );

    // The same name again is refused.
    let reply = server
        .post("/tags/add", json!({"name": "kizuna:crud"}))
        .await;
    assert_save_failed(&reply, "/tags/add");
    assert!(reply.2["errors"]["name"].is_array(), "{}", reply.2);
    let reply = server
        .post("/tags/add", json!({"name": "bad", "colour": "red"}))
        .await;
    assert_save_failed(&reply, "/tags/add");
    assert!(reply.2["errors"]["colour"].is_array(), "{}", reply.2);

    // View by id and by name.
    for path in [
        format!("/tags/view/{id}"),
        "/tags/view/kizuna%3Acrud".to_string(),
        format!("/tags/view/{id}.json"),
    ] {
        let (status, _, body) = server.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["Tag"]["name"], json!("kizuna:crud"), "{path}");
    }
    let (status, _, body) = server.get("/tags/view/987654").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_misp_error(&body, "/tags/view/987654");

    // Edit.
    let (status, _, body) = server
        .post(
            &format!("/tags/edit/{id}"),
            json!({"Tag": {"colour": "#000000", "hide_tag": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Tag"]["colour"], json!("#000000"));
    assert_eq!(body["Tag"]["hide_tag"], json!(true));
    assert_eq!(body["Tag"]["name"], json!("kizuna:crud"));
    let reply = server
        .post(
            &format!("/tags/edit/{id}"),
            json!({"name": "kizuna:no-colour"}),
        )
        .await;
    assert_save_failed(&reply, &format!("/tags/edit/{id}"));

    // Index with usage counts.
    let (status, _, body) = server.get("/tags/index").await;
    assert_eq!(status, StatusCode::OK);
    let all = body["Tag"].as_array().unwrap();
    assert_eq!(all.len(), 2);
    let crud = all.iter().find(|tag| tag["id"] == json!(id)).unwrap();
    assert_eq!(crud["count"], json!(0));
    assert_eq!(crud["attribute_count"], json!(0));
    assert_eq!(crud["favourite"], json!(false));
    let (_, _, body) = server.get("/tags/index/searchall:no-col").await;
    assert_eq!(body["Tag"].as_array().unwrap().len(), 1);

    // Delete.
    let url = format!("/tags/delete/{id}");
    let (status, _, body) = server.post_empty(&url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["saved"], json!(true));
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["url"], json!(url));
    let (status, _, _) = server.get(&format!("/tags/view/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tag_search_matches_like_patterns() {
    let server = Server::start().await;
    for name in ["tlp:green", "tlp:amber", "kizuna:other"] {
        add_tag(&server, json!({"name": name})).await;
    }
    let (status, _, body) = server
        .post("/tags/search", json!({"tagname": "tlp:%"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut names: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|row| text(&row["Tag"]["name"]))
        .collect();
    names.sort();
    assert_eq!(names, ["tlp:amber", "tlp:green"]);
    assert_eq!(body[0]["Taxonomy"], json!([]));
    let (_, _, body) = server.get("/tags/search/kizuna%3Aother").await;
    assert_eq!(body.as_array().map(Vec::len), Some(1), "{body}");
    let (_, _, body) = server
        .post("/tags/search", json!({"tagname": "nothing%"}))
        .await;
    assert_eq!(body, json!([]));
}

#[tokio::test]
async fn attach_and_remove_on_events() {
    let server = Server::start().await;
    let event = server
        .add_event(json!({"info": "tag me", "timestamp": T0}))
        .await;
    let id = text(&event["id"]).to_string();
    server.post_empty(&format!("/events/publish/{id}")).await;
    let tag = add_tag(&server, json!({"name": "tlp:green"})).await;

    let started = now();
    let (status, _, body) = server
        .post(
            "/tags/attachTagToObject",
            json!({"uuid": event["uuid"], "tag": "tlp:green"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["saved"], json!(true));
    assert_eq!(body["url"], json!("/tags/attachTagToObject"));
    let viewed = server.view_event(&id).await;
    assert_eq!(tag_names(&viewed), ["tlp:green"]);
    assert_eq!(viewed["Tag"][0]["local"], json!(false));
    assert_eq!(viewed["Tag"][0]["id"], tag["id"]);
    assert!(
        int(&viewed["timestamp"]) >= started,
        "a global tag touches the event"
    );
    assert_eq!(viewed["published"], json!(false), "and unpublishes it");

    // By id, local, and an unknown name (created for a tag editor), as a list.
    let (status, _, body) = server
        .post(
            "/tags/attach_tag_to_object",
            json!({"uuid": event["uuid"], "tag": ["kizuna:created-on-the-fly"], "local": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let viewed = server.view_event(&id).await;
    let created = viewed["Tag"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tag| tag["name"] == "kizuna:created-on-the-fly")
        .expect("created and attached");
    assert_eq!(created["local"], json!(true));
    let (status, _, _) = server.get("/tags/view/kizuna%3Acreated-on-the-fly").await;
    assert_eq!(status, StatusCode::OK);

    // Remove.
    let (status, _, body) = server
        .post(
            "/tags/removeTagFromObject",
            json!({"uuid": event["uuid"], "tag": text(&tag["id"])}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["saved"], json!(true));
    let viewed = server.view_event(&id).await;
    assert_eq!(tag_names(&viewed), ["kizuna:created-on-the-fly"]);
    // Removing what is not attached is refused.
    let (status, _, body) = server
        .post(
            "/tags/removeTagFromObject",
            json!({"uuid": event["uuid"], "tag": "tlp:green"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn attach_and_remove_on_attributes() {
    let server = Server::start().await;
    let event = server
        .add_event(json!({"info": "attributes", "timestamp": T0,
            "Attribute": [{"type": "domain", "value": "t.example", "timestamp": T0}]}))
        .await;
    let attribute_uuid = text(&event["Attribute"][0]["uuid"]).to_string();
    let started = now();
    let (status, _, body) = server
        .post(
            "/tags/attachTagToObject",
            json!({"uuid": attribute_uuid, "tag": "tlp:amber"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, body) = server
        .get(&format!("/attributes/view/{attribute_uuid}"))
        .await;
    assert_eq!(tag_names(&body["Attribute"]), ["tlp:amber"]);
    assert!(int(&body["Attribute"]["timestamp"]) >= started);
    let viewed = server.view_event(text(&event["id"])).await;
    assert!(int(&viewed["timestamp"]) >= started);
    assert!(
        viewed.get("Tag").is_none(),
        "the event itself is not tagged"
    );
    assert_eq!(tag_names(&viewed["Attribute"][0]), ["tlp:amber"]);

    let (status, _, body) = server
        .post(
            "/tags/removeTagFromObject",
            json!({"uuid": attribute_uuid, "tag": "tlp:amber"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, body) = server
        .get(&format!("/attributes/view/{attribute_uuid}"))
        .await;
    assert!(body["Attribute"].get("Tag").is_none(), "{body}");

    // Unknown targets and missing fields.
    let (status, _, _) = server
        .post(
            "/tags/attachTagToObject",
            json!({"uuid": crate::support::new_uuid(), "tag": "tlp:amber"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = server
        .post("/tags/attachTagToObject", json!({"uuid": attribute_uuid}))
        .await;
    // MISP throws MethodNotAllowed("Invalid tag") here (405); Kizuna says 400. Either way
    // a client error in MISP's shape.
    assert!(status.is_client_error(), "{status}: {body}");
    assert_misp_error(&body, "/tags/attachTagToObject");
}

#[tokio::test]
async fn legacy_events_add_tag_and_remove_tag() {
    let server = Server::start().await;
    let event = server.add_event(json!({"info": "legacy"})).await;
    let id = text(&event["id"]).to_string();
    let tag = add_tag(&server, json!({"name": "tlp:red"})).await;
    let tag_id = text(&tag["id"]).to_string();

    let url = format!("/events/addTag/{id}/{tag_id}");
    let (status, _, body) = server.post_empty(&url).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["saved"], json!(true));
    assert_eq!(tag_names(&server.view_event(&id).await), ["tlp:red"]);

    let (status, _, body) = server
        .post_empty(&format!("/events/removeTag/{id}/{tag_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(server.view_event(&id).await.get("Tag").is_none());

    // By (encoded) name, local.
    let (status, _, body) = server
        .post_empty(&format!("/events/add_tag/{id}/tlp%3Ared/local:1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let viewed = server.view_event(&id).await;
    assert_eq!(tag_names(&viewed), ["tlp:red"]);
    assert_eq!(viewed["Tag"][0]["local"], json!(true));

    let (status, _, body) = server
        .post_empty(&format!("/events/addTag/{id}/no-such-tag"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, _) = server
        .post_empty(&format!("/events/addTag/999999/{tag_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

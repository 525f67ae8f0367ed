//! MISP's access rules (misp-reference §2.2, §2.3): a plain user (role 3 "User") of another
//! organisation.

use crate::support::{ROLE_USER, Server, assert_misp_error, assert_save_failed, text};
use axum::http::StatusCode;
use serde_json::{Value, json};

/// The admin's org-only event and community event, and a user of another org.
async fn setup() -> (Server, Value, Value, crate::support::Client) {
    let server = Server::start().await;
    let private = server
        .add_event(json!({"info": "org only", "distribution": 0,
            "Attribute": [{"type": "domain", "value": "private.example"}]}))
        .await;
    let community = server
        .add_event(json!({"info": "community", "distribution": 1,
        "Attribute": [
            {"type": "domain", "value": "shared.example", "distribution": 5},
            {"type": "domain", "value": "hidden.example", "distribution": 0},
        ]}))
        .await;
    let user = server.user_in_new_org("OTHER-ORG", ROLE_USER).await;
    (server, private, community, user)
}

#[tokio::test]
async fn another_org_cannot_see_an_org_only_event() {
    let (_server, private, _, user) = setup().await;
    for key in [text(&private["id"]), text(&private["uuid"])] {
        let path = format!("/events/view/{key}");
        let (status, _, body) = user.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_misp_error(&body, &path);
        assert_eq!(body["message"], json!("Invalid event."));
        let (status, _, _) = user.head(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let attribute = text(&private["Attribute"][0]["id"]);
    let (status, _, _) = user.get(&format!("/attributes/view/{attribute}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_org_sees_a_community_event_without_org_only_attributes() {
    let (_server, _, community, user) = setup().await;
    let (status, _, body) = user
        .get(&format!("/events/view/{}", text(&community["uuid"])))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let values: Vec<&str> = body["Event"]["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attribute| text(&attribute["value"]))
        .collect();
    assert_eq!(values, ["shared.example"]);
    let hidden = text(&community["Attribute"][1]["id"]);
    let (status, _, _) = user.get(&format!("/attributes/view/{hidden}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_index_shows_another_org_only_what_it_may_see() {
    let (server, _, _, user) = setup().await;
    let (_, headers, body) = user.get("/events/index").await;
    let infos: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|event| text(&event["info"]))
        .collect();
    assert_eq!(infos, ["community"]);
    assert_eq!(headers["x-result-count"], "1");
    let (_, _, all) = server.get("/events/index").await;
    assert_eq!(all.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn another_org_cannot_modify_a_visible_event() {
    let (server, _, community, user) = setup().await;
    let id = text(&community["id"]).to_string();
    let (status, _, body) = user
        .post(
            &format!("/events/edit/{id}"),
            json!({"Event": {"info": "hijacked"}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_misp_error(&body, &format!("/events/edit/{id}"));
    let (status, _, _) = user
        .post(
            &format!("/attributes/add/{id}"),
            json!({"type": "domain", "value": "intruder.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let attribute = text(&community["Attribute"][0]["id"]);
    let (status, _, _) = user
        .post(
            &format!("/attributes/edit/{attribute}"),
            json!({"comment": "mine now"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = user
        .post_empty(&format!("/attributes/delete/{attribute}"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = user.post_empty(&format!("/events/delete/{id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = server.post("/tags/add", json!({"name": "tlp:white"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = user
        .post(
            "/tags/attachTagToObject",
            json!({"uuid": community["uuid"], "tag": "tlp:white"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(server.view_event(&id).await["info"], json!("community"));
}

#[tokio::test]
async fn a_user_without_perm_publish_cannot_publish() {
    let (_server, _, community, user) = setup().await;
    let (status, _, body) = user
        .post_empty(&format!("/events/publish/{}", text(&community["id"])))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Not even their own event; and `published: true` on add is ignored.
    let (status, _, body) = user
        .post(
            "/events/add",
            json!({"info": "own", "published": true,
                   "Attribute": [{"type": "domain", "value": "own.example"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Event"]["published"], json!(false));
    let own = text(&body["Event"]["id"]).to_string();
    let (status, _, _) = user.post_empty(&format!("/events/publish/{own}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // They can edit their own event, though.
    let (status, _, body) = user
        .post(
            &format!("/events/edit/{own}"),
            json!({"Event": {"info": "own, edited"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Event"]["info"], json!("own, edited"));
}

#[tokio::test]
async fn a_user_without_perm_tag_editor_cannot_create_tags() {
    let (server, _, _, user) = setup().await;
    let (status, _, body) = user.post("/tags/add", json!({"name": "nope"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, body) = user.post("/events/add", json!({"info": "own"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, reply) = user
        .post(
            "/tags/attachTagToObject",
            json!({"uuid": body["Event"]["uuid"], "tag": "kizuna:unknown"}),
        )
        .await;
    assert!(status.is_client_error(), "{status}: {reply}");
    let (status, _, _) = server.get("/tags/view/kizuna%3Aunknown").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// MISP's TagsController::attachTagToObject: "Local tags can only be added by users of the
/// host organisation." — whatever the event. The failure ends in
/// RestResponse::saveFailResponse: 403 with `saved: false`.
#[tokio::test]
async fn local_tags_are_for_the_host_organisation_only() {
    let (server, _, _, user) = setup().await;
    let (status, _, _) = server
        .post("/tags/add", json!({"name": "kizuna:local"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = user.post("/events/add", json!({"info": "own"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reply = user
        .post(
            "/tags/attachTagToObject",
            json!({"uuid": body["Event"]["uuid"], "tag": "kizuna:local", "local": 1}),
        )
        .await;
    assert_save_failed(&reply, "/tags/attachTagToObject");
    let viewed = server.view_event(text(&body["Event"]["id"])).await;
    assert!(viewed.get("Tag").is_none(), "{viewed}");
}

/// MISP answers an unknown tag name from a user without perm_tag_editor with a failed save
/// ("Tag not found and insufficient privileges to create it."): 403, `saved: false`.
#[tokio::test]
async fn an_unknown_tag_without_perm_tag_editor_is_a_save_fail() {
    let (_server, _, _, user) = setup().await;
    let (status, _, body) = user.post("/events/add", json!({"info": "own"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reply = user
        .post(
            "/tags/attachTagToObject",
            json!({"uuid": body["Event"]["uuid"], "tag": "kizuna:does-not-exist"}),
        )
        .await;
    assert_save_failed(&reply, "/tags/attachTagToObject");
}

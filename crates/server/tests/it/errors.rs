//! Error shapes for malformed requests (misp-reference §0).

use crate::support::{Server, assert_misp_error, assert_save_failed, raw, text};
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_400_in_misp_shape() {
    let server = Server::start().await;
    let auth = [("authorization", server.key.as_str())];
    for path in ["/events/add", "/attributes/add/1", "/tags/add"] {
        let (status, _, body) = raw(
            &server.app,
            Method::POST,
            path,
            &auth,
            Some("{\"info\": ".to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_misp_error(&body, path);
    }
}

#[tokio::test]
async fn a_missing_body_on_add_is_a_save_fail() {
    let server = Server::start().await;
    let reply = server.post_empty("/events/add").await;
    assert_save_failed(&reply, "/events/add");
    let reply = server.post_empty("/tags/add").await;
    assert_save_failed(&reply, "/tags/add");
    let event = server.add_event(json!({"info": "e"})).await;
    let url = format!("/attributes/add/{}", text(&event["id"]));
    let reply = server.post_empty(&url).await;
    assert_save_failed(&reply, &url);
    let url = format!("/objects/add/{}", text(&event["id"]));
    let reply = server.post_empty(&url).await;
    assert_save_failed(&reply, &url);
    // Whitespace is no body either.
    let auth = [("authorization", server.key.as_str())];
    let reply = raw(
        &server.app,
        Method::POST,
        "/events/add",
        &auth,
        Some(" \n".to_string()),
    )
    .await;
    assert_save_failed(&reply, "/events/add");
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_a_save_fail() {
    let server = Server::start().await;
    let reply = server.post("/events/add", json!("a string")).await;
    assert_save_failed(&reply, "/events/add");
    let reply = server.post("/events/add", json!([1, 2])).await;
    assert_save_failed(&reply, "/events/add");
}

#[tokio::test]
async fn get_on_events_add_describes_the_endpoint() {
    let server = Server::start().await;
    let (status, _, body) = server.get("/events/add").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], json!("Event add API description"));
    assert_eq!(body["mandatory_fields"], json!(["info"]));
    assert_eq!(body["url"], json!("/events/add"));
}

#[tokio::test]
async fn head_on_a_write_action_is_refused() {
    let server = Server::start().await;
    let (status, _, body) = server.head("/events/add").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body.is_null());
}

#[tokio::test]
async fn unauthenticated_requests_to_unknown_paths_are_still_refused() {
    let server = Server::start().await;
    let (status, _, body) = raw(&server.app, Method::GET, "/nothing/here", &[], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_misp_error(&body, "/nothing/here");
    let (status, _, body) = raw(&server.app, Method::GET, "/", &[], None).await;
    assert!(status.is_client_error(), "{status}: {body}");
}

//! Exports for devices through restSearch: only what is valid now by default, MISP's
//! published/IDS defaults, and each device format.

use crate::support::{Server, text};
use axum::http::StatusCode;
use serde_json::{Value, json};

/// A published event whose IDS attributes cover every validity case.
async fn validity_fixture() -> Server {
    let server = Server::start().await;
    let event = server
        .add_event(json!({
            "info": "Validity cases",
            "published": true,
            "Attribute": [
                {"type": "domain", "value": "always.example", "to_ids": true},
                {"type": "domain", "value": "window-open.example", "to_ids": true,
                 "first_seen": "2020-01-01T00:00:00Z", "last_seen": "2999-01-01T00:00:00Z"},
                {"type": "domain", "value": "seen-long-ago.example", "to_ids": true,
                 "first_seen": "2020-01-01T00:00:00Z", "last_seen": "2020-02-01T00:00:00Z"},
                {"type": "domain", "value": "not-yet.example", "to_ids": true,
                 "first_seen": "2999-01-01T00:00:00Z"},
                {"type": "domain", "value": "expired.example", "to_ids": true,
                 "valid_until": "2021-01-01T00:00:00Z"},
                {"type": "domain", "value": "still-valid.example", "to_ids": true,
                 "valid_until": "2999-01-01T00:00:00Z"},
                {"type": "domain", "value": "withdrawn.example", "to_ids": true,
                 "status": "withdrawn"},
            ]
        }))
        .await;
    let (status, _, body) = server
        .post(
            &format!("/events/publish/{}", text(&event["id"])),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server
}

fn lines(body: &Value) -> Vec<&str> {
    let mut lines: Vec<&str> = body.as_str().expect("a text body").lines().collect();
    lines.sort_unstable();
    lines
}

#[tokio::test]
async fn device_exports_hold_only_what_is_valid_now_unless_told_otherwise() {
    let server = validity_fixture().await;
    let (status, _, body) = server
        .post("/attributes/restSearch", json!({"returnFormat": "text"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        lines(&body),
        [
            "always.example",
            "still-valid.example",
            "window-open.example"
        ]
    );

    let (_, _, body) = server
        .post(
            "/attributes/restSearch",
            json!({"returnFormat": "text", "valid_at": "all"}),
        )
        .await;
    assert_eq!(lines(&body).len(), 7);

    let (_, _, body) = server
        .post(
            "/attributes/restSearch",
            json!({"returnFormat": "text", "valid_at": "2020-01-15"}),
        )
        .await;
    assert_eq!(
        lines(&body),
        [
            "always.example",
            "expired.example",
            "seen-long-ago.example",
            "still-valid.example",
            "window-open.example"
        ]
    );

    // JSON is MISP's own format: no validity filter unless asked for.
    let (_, _, body) = server
        .post("/attributes/restSearch", json!({"returnFormat": "json"}))
        .await;
    assert_eq!(body["response"]["Attribute"].as_array().unwrap().len(), 7);
    let (_, _, body) = server
        .post(
            "/attributes/restSearch",
            json!({"returnFormat": "json", "valid_at": "now"}),
        )
        .await;
    assert_eq!(body["response"]["Attribute"].as_array().unwrap().len(), 3);
    let (_, _, body) = server
        .post("/events/restSearch", json!({"valid_at": "now"}))
        .await;
    assert_eq!(
        body["response"][0]["Event"]["Attribute"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let (status, _, body) = server
        .post(
            "/attributes/restSearch",
            json!({"returnFormat": "text", "valid_at": "next tuesday"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("valid_at"), "{body}");
}

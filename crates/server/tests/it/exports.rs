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
    assert!(
        body["message"].as_str().unwrap().contains("valid_at"),
        "{body}"
    );
}

/// A published event with one IDS attribute of each kind the device formats handle, and
/// one attribute not for IDS.
async fn device_fixture() -> (Server, Value) {
    let server = Server::start().await;
    let event = server
        .add_event(json!({
            "info": "Device formats",
            "published": true,
            "threat_level_id": 2,
            "Attribute": [
                {"type": "ip-dst", "value": "198.51.100.7", "to_ids": true,
                 "intended_use": "block-inbound"},
                {"type": "domain", "value": "evil.example", "to_ids": true},
                {"type": "url", "value": "https://evil.example/gate.php", "to_ids": true},
                {"type": "sha256", "to_ids": true,
                 "value": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
                {"type": "domain", "value": "benign.example", "to_ids": false},
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
    (server, event)
}

async fn export(server: &Server, filters: Value) -> (String, String) {
    let (status, headers, body) = server.post("/attributes/restSearch", filters).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let content_type = headers["content-type"].to_str().unwrap().to_string();
    let text = body
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| body.to_string());
    (content_type, text)
}

#[tokio::test]
async fn every_device_format_is_served_by_rest_search() {
    let (server, event) = device_fixture().await;
    let event_id = text(&event["id"]);

    let (content_type, rules) = export(&server, json!({"returnFormat": "suricata"})).await;
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(rules.contains("198.51.100.7"), "{rules}");
    assert!(rules.contains("evil.example"), "{rules}");
    assert!(
        rules.contains(&format!("/events/view/{event_id}")),
        "rules link the event: {rules}"
    );
    assert!(!rules.contains("benign.example"), "IDS only: {rules}");
    let (_, snort) = export(&server, json!({"returnFormat": "snort"})).await;
    assert!(snort.contains("|04|evil|07|example|00|"), "{snort}");

    let (_, zeek) = export(&server, json!({"returnFormat": "zeek"})).await;
    assert!(
        zeek.starts_with("#fields\tindicator\tindicator_type"),
        "{zeek}"
    );
    assert!(zeek.contains("198.51.100.7\tIntel::ADDR"), "{zeek}");

    let (_, zone) = export(&server, json!({"returnFormat": "rpz"})).await;
    assert!(zone.contains("SOA"), "{zone}");
    assert!(zone.contains("evil.example"), "{zone}");
    assert!(zone.contains("7.100.51.198.rpz-ip"), "{zone}");

    let (_, hashes) = export(&server, json!({"returnFormat": "hashes"})).await;
    assert_eq!(
        hashes,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
    );
    let (_, hosts) = export(&server, json!({"returnFormat": "hosts"})).await;
    assert!(hosts.contains("0.0.0.0 evil.example"), "{hosts}");
    let (_, inbound) = export(
        &server,
        json!({"returnFormat": "edl", "edl_list": "inbound-addresses"}),
    )
    .await;
    assert_eq!(inbound, "198.51.100.7\n");
    let (_, outbound) = export(
        &server,
        json!({"returnFormat": "edl", "edl_list": "outbound-addresses"}),
    )
    .await;
    assert!(
        !outbound.contains("198.51.100.7"),
        "meant for inbound blocking only: {outbound}"
    );
    let (_, domains) = export(
        &server,
        json!({"returnFormat": "edl", "edl_list": "outbound-domains"}),
    )
    .await;
    assert_eq!(domains, "evil.example\n");
    let (_, cache) = export(&server, json!({"returnFormat": "cache"})).await;
    assert_eq!(cache.lines().count(), 4, "{cache}");

    // The format may also come from the path, as MISP's /attributes/restSearch/<format>.
    let (status, _, body) = server
        .post("/attributes/restSearch/suricata", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_str().unwrap(), rules);
}

#[tokio::test]
async fn bad_export_options_are_refused_naming_the_option() {
    let (server, _) = device_fixture().await;
    for (filters, named) in [
        (
            json!({"returnFormat": "edl", "edl_list": "sideways"}),
            "edl_list",
        ),
        (
            json!({"returnFormat": "rpz", "policy": "EXPLODE"}),
            "policy",
        ),
        (
            json!({"returnFormat": "hosts", "ip_address": "not-an-ip"}),
            "ip_address",
        ),
        (json!({"returnFormat": "yaml"}), "returnFormat"),
    ] {
        let (status, _, body) = server.post("/attributes/restSearch", filters.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filters}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(named),
            "{filters}: {body}"
        );
    }
}

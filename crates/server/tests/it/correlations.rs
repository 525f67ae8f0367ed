//! Correlations in event views: same values across events, composite halves, CIDR
//! containment, the over-correlation cap, disable_correlation and access rules.

use crate::support::{Server, text};
use serde_json::{Value, json};

fn related_uuids(event: &Value) -> Vec<String> {
    event["RelatedEvent"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|related| text(&related["Event"]["uuid"]).to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn event_with(server: &Server, info: &str, attributes: Value) -> Value {
    server
        .add_event(json!({"info": info, "distribution": 1, "Attribute": attributes}))
        .await
}

#[tokio::test]
async fn same_value_in_another_event_relates_both_ways() {
    let server = Server::start().await;
    let first = event_with(
        &server,
        "one",
        json!([{"type": "domain", "value": "bad.example"}]),
    )
    .await;
    let second = event_with(
        &server,
        "two",
        json!([{"type": "hostname", "value": "BAD.example"}, {"type": "comment", "value": "bad.example"}]),
    )
    .await;
    let viewed = server.view_event(text(&first["uuid"])).await;
    assert_eq!(related_uuids(&viewed), [text(&second["uuid"])]);
    let viewed = server.view_event(text(&second["uuid"])).await;
    assert_eq!(related_uuids(&viewed), [text(&first["uuid"])]);
    let related = &viewed["RelatedEvent"][0]["Event"];
    assert_eq!(related["info"], "one");
    assert_eq!(related["Orgc"]["name"], "HOST-ORG");

    let (_, _, body) = server
        .get(&format!(
            "/events/view/{}/includeGranularCorrelations:1",
            text(&second["id"])
        ))
        .await;
    let hostname = &body["Event"]["Attribute"][0];
    let relations = &hostname["RelatedAttribute"][0];
    assert_eq!(relations[0]["id"], first["id"]);
    assert_eq!(relations[0]["attribute_id"], first["Attribute"][0]["id"]);
    assert_eq!(relations[0]["value"], "bad.example");
    // comment is a non-correlating type.
    assert!(
        body["Event"]["Attribute"][1]
            .get("RelatedAttribute")
            .is_none()
    );
}

#[tokio::test]
async fn composite_halves_correlate_except_ports() {
    let server = Server::start().await;
    let hash = "d41d8cd98f00b204e9800998ecf8427e";
    let plain = event_with(
        &server,
        "hash",
        json!([{"type": "md5", "value": hash}, {"type": "ip-dst", "value": "203.0.113.5"}]),
    )
    .await;
    let composite = event_with(
        &server,
        "composite",
        json!([{"type": "filename|md5", "value": format!("a.exe|{hash}")}]),
    )
    .await;
    let port = event_with(&server, "port", json!([{"type": "ip-dst|port", "value": "198.51.100.1|443"}, {"type": "port", "value": "443"}])).await;
    assert_eq!(
        related_uuids(&server.view_event(text(&plain["uuid"])).await),
        [text(&composite["uuid"])]
    );
    assert!(related_uuids(&server.view_event(text(&port["uuid"])).await).is_empty());
}

#[tokio::test]
async fn cidr_blocks_contain_addresses() {
    let server = Server::start().await;
    let block = event_with(
        &server,
        "block",
        json!([{"type": "ip-dst", "value": "10.20.0.0/16"}]),
    )
    .await;
    let inside = event_with(
        &server,
        "inside",
        json!([{"type": "ip-src", "value": "10.20.30.40"}]),
    )
    .await;
    let outside = event_with(
        &server,
        "outside",
        json!([{"type": "ip-src", "value": "10.21.0.1"}]),
    )
    .await;
    assert_eq!(
        related_uuids(&server.view_event(text(&block["uuid"])).await),
        [text(&inside["uuid"])]
    );
    assert_eq!(
        related_uuids(&server.view_event(text(&inside["uuid"])).await),
        [text(&block["uuid"])]
    );
    assert!(related_uuids(&server.view_event(text(&outside["uuid"])).await).is_empty());
}

#[tokio::test]
async fn over_correlating_values_and_disabled_correlation_show_nothing() {
    let server = Server::start().await;
    let first = event_with(
        &server,
        "first",
        json!([
            {"type": "ip-dst", "value": "192.0.2.1"},
            {"type": "ip-dst", "value": "192.0.2.2"},
        ]),
    )
    .await;
    for n in 0..21 {
        event_with(
            &server,
            &format!("noise {n}"),
            json!([{"type": "ip-dst", "value": "192.0.2.1"}]),
        )
        .await;
    }
    let quiet = server
        .add_event(json!({"info": "quiet", "distribution": 1, "Attribute": [
            {"type": "ip-dst", "value": "192.0.2.2", "disable_correlation": true}
        ]}))
        .await;
    let viewed = server.view_event(text(&first["uuid"])).await;
    assert!(
        related_uuids(&viewed).is_empty(),
        "{:#}",
        viewed["RelatedEvent"]
    );
    assert!(related_uuids(&server.view_event(text(&quiet["uuid"])).await).is_empty());
}

#[tokio::test]
async fn related_events_respect_distribution() {
    let server = Server::start().await;
    let outsider = server
        .user_in_new_org("Outsider", crate::support::ROLE_USER)
        .await;
    let private = server
        .add_event(json!({"info": "private", "distribution": 0, "Attribute": [
            {"type": "domain", "value": "secret.example"}
        ]}))
        .await;
    let shared = event_with(
        &server,
        "shared",
        json!([{"type": "domain", "value": "secret.example"}]),
    )
    .await;
    let (_, _, body) = outsider
        .get(&format!("/events/view/{}", text(&shared["uuid"])))
        .await;
    assert!(
        related_uuids(&body["Event"]).is_empty(),
        "{:#}",
        body["Event"]["RelatedEvent"]
    );
    assert_eq!(
        related_uuids(&server.view_event(text(&shared["uuid"])).await),
        [text(&private["uuid"])]
    );
}

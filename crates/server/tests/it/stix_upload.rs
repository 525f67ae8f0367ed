//! `/events/upload_stix`: STIX 2 content posted raw (PyMISP `upload_stix(version='2')`)
//! becomes events owned by the caller's organisation, shared and published as the named
//! parameters say; what cannot be imported is listed; STIX 1, broken JSON, nothing
//! importable and missing rights are refused in MISP's error shape.

use crate::support::{Server, assert_misp_error, int, raw, tag_names, text};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::PathBuf;

const READ_ONLY: i64 = 6;
const ORG_ADMIN: i64 = 2;
const USER: i64 = 3;
const SYNC_USER: i64 = 5;

/// The C2 bundle's two indicators, as MISP attributes.
const C2_ATTRIBUTES: [(&str, &str); 2] = [
    ("ip-dst", "10.0.0.0"),
    (
        "sha256",
        "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c",
    ),
];

fn bundle(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/stix")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// POSTs `body` as is, the way PyMISP sends a file.
async fn upload(server: &Server, key: &str, path: &str, body: &str) -> (StatusCode, Value) {
    let headers = [("authorization", key)];
    let (status, _, answer) = raw(
        &server.app,
        Method::POST,
        path,
        &headers,
        Some(body.to_string()),
    )
    .await;
    (status, answer)
}

/// (type, value) of every attribute of an event, loose and in objects, sorted.
fn facts(event: &Value) -> Vec<(String, String)> {
    let loose = event["Attribute"].as_array().into_iter().flatten();
    let nested = event["Object"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|object| object["Attribute"].as_array().into_iter().flatten());
    let mut facts: Vec<(String, String)> = loose
        .chain(nested)
        .map(|attribute| {
            (
                text(&attribute["type"]).to_string(),
                text(&attribute["value"]).to_string(),
            )
        })
        .collect();
    facts.sort();
    facts
}

fn expected(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut facts: Vec<(String, String)> = pairs
        .iter()
        .map(|(kind, value)| (kind.to_string(), value.to_string()))
        .collect();
    facts.sort();
    facts
}

/// The organisation a caller belongs to, from `/users/view/me`.
async fn own_org_id(server: &Server, key: &str) -> String {
    let (status, _, me) = server.client(key).get("/users/view/me").await;
    assert_eq!(status, StatusCode::OK, "{me:#}");
    text(&me["User"]["org_id"]).to_string()
}

#[tokio::test]
async fn an_oasis_bundle_becomes_an_event_of_the_callers_organisation() {
    let server = Server::start().await;
    let analyst = server.user_in_new_org("Uploader", ORG_ADMIN).await;
    let (status, answer) = upload(
        &server,
        &analyst.key,
        "/events/upload_stix/2",
        &bundle("indicators-for-C2-with-COA.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    let event = &answer["Event"];
    assert_eq!(facts(event), expected(&C2_ATTRIBUTES));
    let indicators = event["Attribute"].as_array().unwrap();
    assert!(
        indicators
            .iter()
            .all(|attribute| attribute["to_ids"] == json!(true))
    );
    // The malware and the course of action mitigating it become galaxy tags.
    let tags = tag_names(event);
    assert_eq!(tags.len(), 2, "{tags:?}");
    assert!(
        tags.iter().any(|tag| tag.contains("Poison Ivy")),
        "{tags:?}"
    );
    // MISP's defaults: distribution 0 (items inherit), not published.
    assert_eq!(event["distribution"], "0");
    assert!(
        indicators
            .iter()
            .all(|attribute| attribute["distribution"] == "5")
    );
    assert_eq!(event["published"], json!(false));
    let org_id = own_org_id(&server, &analyst.key).await;
    assert_eq!(event["org_id"], json!(org_id));
    assert_eq!(
        event["orgc_id"],
        json!(org_id),
        "only sync users keep a bundle's creator"
    );

    let events = answer["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], event["id"]);
    assert_eq!(events[0]["uuid"], event["uuid"]);
    assert_eq!(answer["rejected"], json!([]));

    // Saved as answered.
    let stored = server.view_event(text(&event["id"])).await;
    assert_eq!(facts(&stored), expected(&C2_ATTRIBUTES));
}

#[tokio::test]
async fn named_parameters_share_and_publish_and_rejections_are_listed() {
    let server = Server::start().await;
    let (status, answer) = upload(
        &server,
        &server.admin.key,
        "/events/upload_stix/2/distribution:1/publish:1",
        &bundle("infrastructure.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    let event = &answer["Event"];
    assert_eq!(
        facts(event),
        expected(&[("domain", "example.com"), ("ip-dst", "198.51.100.3")])
    );
    assert_eq!(event["distribution"], "1");
    assert_eq!(event["published"], json!(true));
    // The two infrastructure objects have no MISP form.
    let rejected = answer["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{rejected:#?}");
    for rejection in rejected {
        assert!(
            text(&rejection["location"]).contains("infrastructure--"),
            "{rejection}"
        );
        assert!(!text(&rejection["reason"]).is_empty());
    }
}

#[tokio::test]
async fn the_version_may_be_named_and_publishing_needs_the_right() {
    let server = Server::start().await;
    // A plain user may add but not publish: the event stays unpublished.
    let user = server.user_in_new_org("Plain", USER).await;
    let (status, answer) = upload(
        &server,
        &user.key,
        "/events/upload_stix/stix_version:2/publish:1",
        &bundle("indicators-for-C2-with-COA.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(answer["Event"]["published"], json!(false));
    // Neither can this role create tags: the tags unknown here are left out and reported
    // (the event's two galaxy tags; on each indicator its indicator type and the malware
    // it indicates), the attributes saved.
    let event = &answer["Event"];
    assert_eq!(facts(event), expected(&C2_ATTRIBUTES));
    assert!(tag_names(event).is_empty());
    for attribute in event["Attribute"].as_array().unwrap() {
        assert!(tag_names(attribute).is_empty(), "{attribute:#}");
    }
    let rejected = answer["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 6, "{rejected:#?}");
    assert!(
        rejected
            .iter()
            .all(|rejection| text(&rejection["reason"]).contains("may not create tags"))
    );
}

#[tokio::test]
async fn sync_users_keep_the_creator_the_bundle_names() {
    let server = Server::start().await;
    let sync = server.user_in_new_org("Syncing", SYNC_USER).await;
    let content = json!({
        "type": "bundle",
        "id": "bundle--6a3f1c1e-0000-4000-8000-000000000001",
        "objects": [
            {
                "type": "identity", "spec_version": "2.1",
                "id": "identity--6a3f1c1e-0000-4000-8000-000000000002",
                "created": "2024-01-02T00:00:00.000Z", "modified": "2024-01-02T00:00:00.000Z",
                "name": "Origin CERT", "identity_class": "organization"
            },
            {
                "type": "report", "spec_version": "2.1",
                "id": "report--6a3f1c1e-0000-4000-8000-000000000003",
                "created_by_ref": "identity--6a3f1c1e-0000-4000-8000-000000000002",
                "created": "2024-01-02T00:00:00.000Z", "modified": "2024-01-02T00:00:00.000Z",
                "name": "Shared report", "published": "2024-01-02T00:00:00Z",
                "object_refs": ["indicator--6a3f1c1e-0000-4000-8000-000000000004"]
            },
            {
                "type": "indicator", "spec_version": "2.1",
                "id": "indicator--6a3f1c1e-0000-4000-8000-000000000004",
                "created_by_ref": "identity--6a3f1c1e-0000-4000-8000-000000000002",
                "created": "2024-01-02T00:00:00.000Z", "modified": "2024-01-02T00:00:00.000Z",
                "pattern": "[domain-name:value = 'c2.example.test']", "pattern_type": "stix",
                "valid_from": "2024-01-02T00:00:00Z"
            }
        ]
    });
    let (status, answer) = upload(
        &server,
        &sync.key,
        "/events/upload_stix/2",
        &content.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    let event = &answer["Event"];
    assert_eq!(event["info"], "Shared report");
    assert_eq!(event["uuid"], "6a3f1c1e-0000-4000-8000-000000000003");
    assert_eq!(event["Orgc"]["name"], "Origin CERT");
    assert_ne!(event["orgc_id"], event["org_id"]);
    assert_eq!(event["org_id"], json!(own_org_id(&server, &sync.key).await));

    // The same content again: MISP refuses an upload whose event exists.
    let (status, again) = upload(
        &server,
        &sync.key,
        "/events/upload_stix/2",
        &content.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{again:#}");
    assert_eq!(again["saved"], json!(false));
    assert_eq!(again["errors"], "Event with the same UUID already exists.");
    assert_misp_error(&again, "/events/upload_stix/2");
}

#[tokio::test]
async fn broken_or_empty_content_is_a_400_naming_the_problem() {
    let server = Server::start().await;
    let key = server.admin.key.clone();
    let path = "/events/upload_stix/2";

    let (status, answer) =
        upload(&server, &key, path, "{\"type\": \"bundle\", \"objects\": [").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer:#}");
    assert_misp_error(&answer, path);
    assert!(text(&answer["message"]).contains("JSON"), "{answer:#}");

    let (status, answer) = upload(&server, &key, path, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer:#}");
    assert_misp_error(&answer, path);

    let (status, answer) = upload(&server, &key, path, "{\"hello\": 1}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer:#}");
    assert!(
        text(&answer["message"]).contains("not STIX content"),
        "{answer:#}"
    );

    // Every object rejected: both patterns use MATCHES, which no attribute can express.
    let indicators: Vec<Value> = [1, 2]
        .map(|n| {
            json!({
                "type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--7b4e2d2f-0000-4000-8000-00000000000{n}"),
                "created": "2024-01-02T00:00:00.000Z", "modified": "2024-01-02T00:00:00.000Z",
                "pattern": format!("[file:name MATCHES '^evil{n}\\\\.exe$']"),
                "pattern_type": "stix", "valid_from": "2024-01-02T00:00:00Z"
            })
        })
        .into();
    let unmappable = json!({
        "type": "bundle",
        "id": "bundle--7b4e2d2f-0000-4000-8000-000000000001",
        "objects": indicators,
    });
    let (status, answer) = upload(&server, &key, path, &unmappable.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer:#}");
    let message = text(&answer["message"]);
    assert!(message.contains("Nothing in the STIX content"), "{message}");
    assert!(
        message.contains("indicator--7b4e2d2f-0000-4000-8000-000000000001"),
        "{message}"
    );
    assert!(
        message.contains("indicator--7b4e2d2f-0000-4000-8000-000000000002"),
        "{message}"
    );

    // Nothing was saved by any of these.
    let (_, _, index) = server.get("/events/index").await;
    assert_eq!(index, json!([]));
}

#[tokio::test]
async fn stix_1_is_refused_with_a_400() {
    let server = Server::start().await;
    let key = server.admin.key.clone();
    let xml =
        "<?xml version=\"1.0\"?>\n<stix:STIX_Package xmlns:stix=\"http://stix.mitre.org/stix-1\"/>";
    // PyMISP's upload_stix(version='1'): XML to /events/upload_stix, no version.
    for (path, body) in [
        ("/events/upload_stix", xml),
        ("/events/upload_stix/1", xml),
        ("/events/upload_stix/1.2", "{}"),
        ("/events/upload_stix/version:1", xml),
    ] {
        let (status, answer) = upload(&server, &key, path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer:#}");
        assert_misp_error(&answer, path);
        assert!(
            text(&answer["message"]).starts_with("STIX 1 is not supported"),
            "{path}: {answer:#}"
        );
    }
    let (status, answer) = upload(&server, &key, "/events/upload_stix/3", "{}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer:#}");
    assert!(
        text(&answer["message"]).contains("STIX version"),
        "{answer:#}"
    );

    // A JSON bundle without a version is STIX 2.
    let (status, answer) = upload(
        &server,
        &key,
        "/events/upload_stix",
        &bundle("indicators-for-C2-with-COA.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
}

#[tokio::test]
async fn distribution_parameters_are_checked() {
    let server = Server::start().await;
    let key = server.admin.key.clone();
    let content = bundle("indicators-for-C2-with-COA.json");
    for (path, needle) in [
        ("/events/upload_stix/2/distribution:7", "distribution"),
        ("/events/upload_stix/2/distribution:5", "distribution"),
        ("/events/upload_stix/2/distribution:abc", "distribution"),
        ("/events/upload_stix/2/distribution:4", "sharing_group_id"),
        (
            "/events/upload_stix/2/distribution:4/sharing_group_id:999",
            "sharing_group_id",
        ),
    ] {
        let (status, answer) = upload(&server, &key, path, &content).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer:#}");
        assert_misp_error(&answer, path);
        assert!(
            text(&answer["message"]).contains(needle),
            "{path}: {answer:#}"
        );
    }
}

#[tokio::test]
async fn uploading_needs_the_right_to_add_events() {
    let server = Server::start().await;
    let reader = server.user_in_new_org("Readers", READ_ONLY).await;
    let path = "/events/upload_stix/2";
    let (status, answer) = upload(
        &server,
        &reader.key,
        path,
        &bundle("indicators-for-C2-with-COA.json"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer:#}");
    assert_misp_error(&answer, path);
    let (_, _, index) = server.get("/events/index").await;
    assert_eq!(index, json!([]));

    // A GET describes the endpoint instead of acting.
    let (status, _, description) = server.get(path).await;
    assert_eq!(status, StatusCode::OK, "{description:#}");
    assert!(description["optional_fields"].as_array().is_some());
}

#[tokio::test]
async fn several_reports_give_several_events() {
    let server = Server::start().await;
    let report = |n: u32, indicator: &str| {
        json!({
            "type": "report", "spec_version": "2.1",
            "id": format!("report--8c5f3e3a-0000-4000-8000-00000000000{n}"),
            "created": "2024-01-02T00:00:00.000Z", "modified": "2024-01-02T00:00:00.000Z",
            "name": format!("Report {n}"), "published": "2024-01-02T00:00:00Z",
            "object_refs": [indicator]
        })
    };
    let indicator = |n: u32, pattern: &str| {
        json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--8c5f3e3a-0000-4000-8000-00000000001{n}"),
            "created": "2024-01-02T00:00:00.000Z", "modified": "2024-01-02T00:00:00.000Z",
            "pattern": pattern, "pattern_type": "stix", "valid_from": "2024-01-02T00:00:00Z"
        })
    };
    let content = json!({
        "type": "bundle",
        "id": "bundle--8c5f3e3a-0000-4000-8000-000000000000",
        "objects": [
            report(1, "indicator--8c5f3e3a-0000-4000-8000-000000000011"),
            report(2, "indicator--8c5f3e3a-0000-4000-8000-000000000012"),
            indicator(1, "[ipv4-addr:value = '192.0.2.1']"),
            indicator(2, "[url:value = 'http://bad.example.test/x']"),
        ]
    });
    let (status, answer) = upload(
        &server,
        &server.admin.key,
        "/events/upload_stix/2",
        &content.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    let events = answer["events"].as_array().unwrap();
    let infos: Vec<&str> = events.iter().map(|entry| text(&entry["info"])).collect();
    assert_eq!(infos, ["Report 1", "Report 2"]);
    assert_eq!(answer["Event"]["info"], "Report 1");
    let second = server.view_event(text(&events[1]["id"])).await;
    assert_eq!(
        facts(&second),
        expected(&[("url", "http://bad.example.test/x")])
    );
    assert!(int(&events[1]["id"]) > int(&events[0]["id"]));
}

//! ObjectsController and ObjectReferencesController.

use crate::support::{Server, assert_misp_error, assert_save_failed, int, new_uuid, now, text};
use axum::http::StatusCode;
use serde_json::{Value, json};

const DOMAIN_IP_TEMPLATE: &str = "43b3b146-77eb-4931-b4cc-b66c60f28734";

fn domain_ip(uuid: &str) -> Value {
    json!({
        "name": "domain-ip",
        "meta-category": "network",
        "description": "A domain and its IP addresses",
        "template_uuid": DOMAIN_IP_TEMPLATE,
        "template_version": "9",
        "uuid": uuid,
        "comment": "resolution",
        "Attribute": [
            {"object_relation": "domain", "type": "domain", "value": "Obj.Example"},
            {"object_relation": "ip", "type": "ip-dst", "value": "203.0.113.5"},
        ],
    })
}

#[tokio::test]
async fn add_view_and_soft_and_hard_delete_an_object() {
    let server = Server::start().await;
    let event = server
        .add_event(json!({"info": "objects", "timestamp": 1_600_000_000}))
        .await;
    let event_id = text(&event["id"]).to_string();
    let object_uuid = new_uuid();
    let started = now();
    let url = format!("/objects/add/{event_id}");
    let (status, _, body) = server.post(&url, domain_ip(&object_uuid)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let object = &body["Object"];
    assert_eq!(object["uuid"], json!(object_uuid));
    assert_eq!(object["name"], json!("domain-ip"));
    assert_eq!(object["meta-category"], json!("network"));
    assert_eq!(object["template_uuid"], json!(DOMAIN_IP_TEMPLATE));
    assert_eq!(object["template_version"], json!("9"));
    assert_eq!(object["comment"], json!("resolution"));
    assert_eq!(object["event_id"], json!(event_id));
    assert_eq!(object["distribution"], json!("5"));
    assert_eq!(object["deleted"], json!(false));
    let attributes = object["Attribute"].as_array().unwrap();
    assert_eq!(attributes.len(), 2);
    assert_eq!(attributes[0]["object_relation"], json!("domain"));
    assert_eq!(attributes[0]["value"], json!("obj.example"));
    assert_eq!(attributes[0]["object_id"], object["id"]);
    assert_eq!(attributes[1]["object_relation"], json!("ip"));

    let viewed = server.view_event(&event_id).await;
    assert_eq!(viewed["attribute_count"], json!("2"));
    assert_eq!(
        viewed["Attribute"],
        json!([]),
        "object attributes stay nested"
    );
    assert_eq!(viewed["Object"][0]["uuid"], json!(object_uuid));
    assert!(int(&viewed["timestamp"]) >= started);

    // Also by wrapped body and with the `Object` envelope; without template uuid one is
    // derived from the name.
    let (status, _, body) = server
        .post(
            &url,
            json!({"Object": {"name": "file", "Attribute": [
                {"object_relation": "filename", "type": "filename", "value": "a.exe"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(uuid::Uuid::parse_str(text(&body["Object"]["template_uuid"])).is_ok());

    for path in [
        format!("/objects/view/{object_uuid}"),
        format!("/objects/view/{}", text(&object["id"])),
    ] {
        let (status, _, body) = server.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["Object"]["uuid"], json!(object_uuid));
        assert_eq!(body["Object"]["Attribute"].as_array().unwrap().len(), 2);
    }
    let (status, _, _) = server.head(&format!("/objects/view/{object_uuid}")).await;
    assert_eq!(status, StatusCode::OK);

    // Soft delete: hidden, attributes too.
    let (status, _, body) = server
        .post_empty(&format!("/objects/delete/{object_uuid}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["saved"], json!(true));
    let viewed = server.view_event(&event_id).await;
    assert_eq!(
        viewed["Object"].as_array().unwrap().len(),
        1,
        "only `file` left"
    );
    assert_eq!(viewed["attribute_count"], json!("1"));
    let (status, _, _) = server.get(&format!("/objects/view/{object_uuid}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, with_deleted) = server
        .get(&format!("/events/view/{event_id}/deleted[]:1"))
        .await;
    let deleted = with_deleted["Event"]["Object"]
        .as_array()
        .unwrap()
        .iter()
        .find(|object| object["uuid"] == object_uuid)
        .expect("the soft-deleted object");
    assert_eq!(deleted["deleted"], json!(true));

    // Hard delete.
    let (status, _, body) = server
        .post_empty(&format!("/objects/delete/{object_uuid}/1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, with_deleted) = server
        .get(&format!("/events/view/{event_id}/deleted[]:1"))
        .await;
    assert!(
        with_deleted["Event"]["Object"]
            .as_array()
            .unwrap()
            .iter()
            .all(|object| object["uuid"] != object_uuid)
    );
}

#[tokio::test]
async fn objects_arrive_inside_events_with_their_references() {
    let server = Server::start().await;
    let object_uuid = new_uuid();
    let target = new_uuid();
    let reference_uuid = new_uuid();
    let mut object = domain_ip(&object_uuid);
    object["ObjectReference"] = json!([{
        "uuid": reference_uuid,
        "referenced_uuid": target,
        "relationship_type": "resolves-to",
        "comment": "seen",
    }]);
    let event = server
        .add_event(json!({
            "info": "with objects",
            "Attribute": [{"uuid": target, "type": "ip-src", "value": "198.51.100.1"}],
            "Object": [object],
        }))
        .await;
    assert_eq!(event["attribute_count"], json!("3"));
    let object = &event["Object"][0];
    let reference = &object["ObjectReference"][0];
    assert_eq!(reference["uuid"], json!(reference_uuid));
    assert_eq!(reference["referenced_uuid"], json!(target));
    assert_eq!(reference["relationship_type"], json!("resolves-to"));
    assert_eq!(reference["comment"], json!("seen"));
    assert_eq!(reference["referenced_type"], json!("0"));
    assert_eq!(reference["object_id"], object["id"]);
    assert_eq!(reference["source_uuid"], json!(object_uuid));
    assert_eq!(reference["referenced_id"], event["Attribute"][0]["id"]);
}

#[tokio::test]
async fn object_attributes_need_a_relation() {
    let server = Server::start().await;
    let event = server.add_event(json!({"info": "objects"})).await;
    let url = format!("/objects/add/{}", text(&event["id"]));
    let reply = server
        .post(
            &url,
            json!({"name": "domain-ip", "Attribute": [{"type": "domain", "value": "x.example"}]}),
        )
        .await;
    assert_save_failed(&reply, &url);
    let (status, _, body) = server
        .post("/objects/add/999999", domain_ip(&new_uuid()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, body) = server.get(&format!("/objects/view/{}", new_uuid())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], json!("Invalid object."));
}

#[tokio::test]
async fn object_references_add() {
    let server = Server::start().await;
    let first = new_uuid();
    let second = new_uuid();
    let event = server
        .add_event(json!({
            "info": "references",
            "Attribute": [{"type": "domain", "value": "standalone.example"}],
            "Object": [domain_ip(&first), domain_ip(&second)],
        }))
        .await;
    let attribute_uuid = text(&event["Attribute"][0]["uuid"]).to_string();

    // To an object, by the source object's uuid in the path.
    let (status, _, body) = server
        .post(
            &format!("/objectReferences/add/{first}"),
            json!({"referenced_uuid": second, "relationship_type": "related-to"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reference = &body["ObjectReference"];
    assert_eq!(reference["referenced_uuid"], json!(second));
    assert_eq!(reference["referenced_type"], json!("1"));
    assert_eq!(reference["relationship_type"], json!("related-to"));
    assert_eq!(reference["source_uuid"], json!(first));
    assert!(int(&reference["id"]) > 0);

    // To an attribute, source named in the body (snake_case controller).
    let (status, _, body) = server
        .post(
            "/object_references/add",
            json!({"ObjectReference": {"object_uuid": second, "referenced_uuid": attribute_uuid,
                                       "relationship_type": "mentions"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ObjectReference"]["referenced_type"], json!("0"));

    let viewed = server.view_event(text(&event["id"])).await;
    let objects = viewed["Object"].as_array().unwrap();
    let by_uuid = |uuid: &str| {
        objects
            .iter()
            .find(|object| object["uuid"] == uuid)
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_uuid(&first)["ObjectReference"][0]["referenced_uuid"],
        json!(second)
    );
    assert_eq!(
        by_uuid(&second)["ObjectReference"][0]["referenced_uuid"],
        json!(attribute_uuid)
    );
}

#[tokio::test]
async fn object_references_to_unknown_or_foreign_items_are_refused() {
    let server = Server::start().await;
    let source = new_uuid();
    server
        .add_event(json!({"info": "one", "Object": [domain_ip(&source)]}))
        .await;
    let other = server
        .add_event(json!({"info": "two", "Attribute": [{"type": "domain", "value": "o.example"}]}))
        .await;
    let url = format!("/objectReferences/add/{source}");
    for referenced in [new_uuid(), text(&other["Attribute"][0]["uuid"]).to_string()] {
        let reply = server
            .post(
                &url,
                json!({"referenced_uuid": referenced, "relationship_type": "x"}),
            )
            .await;
        assert_save_failed(&reply, &url);
        assert!(
            reply.2["errors"]["referenced_uuid"].is_array(),
            "{}",
            reply.2
        );
    }
    let reply = server
        .post(
            &url,
            json!({"referenced_uuid": "not-a-uuid", "relationship_type": "x"}),
        )
        .await;
    assert_save_failed(&reply, &url);
    let unknown_source = format!("/objectReferences/add/{}", new_uuid());
    let (status, _, body) = server
        .post(
            &unknown_source,
            json!({"referenced_uuid": new_uuid(), "relationship_type": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_misp_error(&body, &unknown_source);
}

//! SightingsController (misp-reference §1.9, §4.6) and the sightings of the event view.

use crate::support::{
    Client, ROLE_USER, Server, assert_misp_error, find_attribute, int, new_uuid, now, text,
};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

const ROLE_READ_ONLY: i64 = 6;

/// The keys of MISP's sighting row, in its column order.
const ROW_KEYS: [&str; 8] = [
    "id",
    "attribute_id",
    "event_id",
    "org_id",
    "date_sighting",
    "uuid",
    "source",
    "type",
];

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("expected an object, got {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

async fn add_event_as(client: &Client, event: Value) -> Value {
    let (status, _, body) = client.post("/events/add", json!({ "Event": event })).await;
    assert_eq!(status, StatusCode::OK, "events/add failed: {body:#}");
    body["Event"].clone()
}

/// The caller's organisation id (as MISP's string) and name.
async fn org_of(client: &Client) -> (String, String) {
    let (status, _, me) = client.get("/users/view/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    (
        text(&me["User"]["org_id"]).to_string(),
        text(&me["Organisation"]["name"]).to_string(),
    )
}

async fn add_sighting(client: &Client, path: &str, body: Value) -> Value {
    let (status, _, reply) = client.post(path, body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {reply:#}");
    reply["Sighting"].clone()
}

/// `(attribute_id, org name)` of every sighting of a listSightings answer.
fn listed(reply: &Value) -> Vec<(String, String)> {
    reply
        .as_array()
        .unwrap_or_else(|| panic!("expected a list, got {reply}"))
        .iter()
        .map(|entry| {
            (
                text(&entry["Sighting"]["attribute_id"]).to_string(),
                entry["Organisation"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

async fn search(client: &Client, path: &str, body: Value) -> Vec<Value> {
    let (status, _, reply) = client.post(path, body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {reply:#}");
    reply["response"]
        .as_array()
        .unwrap_or_else(|| panic!("no response list in {reply}"))
        .iter()
        .map(|hit| hit["Sighting"].clone())
        .collect()
}

#[tokio::test]
async fn adding_by_attribute_and_by_value() {
    let server = Server::start().await;
    let first = server
        .add_event(json!({"info": "first", "distribution": 1, "Attribute": [
            {"type": "domain", "value": "sighted.example"},
            {"type": "ip-dst|port", "value": "192.0.2.10|8443"},
        ]}))
        .await;
    let second = server
        .add_event(json!({"info": "second", "distribution": 1,
            "Attribute": [{"type": "hostname", "value": "SIGHTED.example"}]}))
        .await;
    let (org_id, _) = org_of(&server).await;
    let domain = &first["Attribute"][0];
    let started = now();

    let row = add_sighting(
        &server,
        &format!("/sightings/add/{}", text(&domain["id"])),
        json!({"type": "1", "source": "  honeypot  "}),
    )
    .await;
    assert_eq!(keys(&row), ROW_KEYS, "MISP's row, nothing more: {row}");
    assert_eq!(row["attribute_id"], domain["id"]);
    assert_eq!(row["event_id"], first["id"]);
    assert_eq!(row["org_id"], json!(org_id));
    assert_eq!(row["type"], json!("1"));
    assert_eq!(row["source"], json!("honeypot"));
    assert!(int(&row["date_sighting"]) >= started);
    assert!(uuid::Uuid::parse_str(text(&row["uuid"])).is_ok());

    let row = add_sighting(
        &server,
        "/sightings/add",
        json!({"Sighting": {"uuid": text(&domain["uuid"]), "timestamp": 1_700_000_000}}),
    )
    .await;
    assert_eq!(row["attribute_id"], domain["id"]);
    assert_eq!(row["date_sighting"], json!("1700000000"));
    assert_eq!(row["type"], json!("0"));

    let row = add_sighting(
        &server,
        "/sightings/add",
        json!({"id": text(&domain["id"]), "date": "2024-05-17", "time": "13:14:15"}),
    )
    .await;
    assert_eq!(row["date_sighting"], json!("1715951655"));

    // By value: value1 or value2, case-insensitively, in every visible event; the answer is
    // the last sighting stored.
    let row = add_sighting(
        &server,
        "/sightings/add",
        json!({"value": "sighted.EXAMPLE", "source": "feed"}),
    )
    .await;
    assert_eq!(row["attribute_id"], second["Attribute"][0]["id"]);
    let row = add_sighting(&server, "/sightings/add", json!({"values": ["8443"]})).await;
    assert_eq!(row["attribute_id"], first["Attribute"][1]["id"]);

    let (_, _, reply) = server
        .post(
            "/sightings/listSightings",
            json!({"context": "attribute", "id": text(&domain["id"])}),
        )
        .await;
    let entries = reply.as_array().unwrap();
    assert_eq!(entries.len(), 4, "{reply:#}");
    assert_eq!(keys(&entries[0]), ["Sighting", "Organisation"]);
    assert_eq!(keys(&entries[0]["Sighting"]), ROW_KEYS);
    assert_eq!(entries[0]["Organisation"], json!({"name": "HOST-ORG"}));
    let dates: Vec<i64> = entries
        .iter()
        .map(|entry| int(&entry["Sighting"]["date_sighting"]))
        .collect();
    assert!(
        dates.windows(2).all(|pair| pair[0] >= pair[1]),
        "newest first: {dates:?}"
    );
}

#[tokio::test]
async fn an_expiration_replaces_the_organisations_previous_one() {
    let server = Server::start().await;
    let event = server
        .add_event(json!({"info": "expiring",
            "Attribute": [{"type": "domain", "value": "expiring.example"}]}))
        .await;
    let id = text(&event["Attribute"][0]["id"]).to_string();
    let path = format!("/sightings/add/{id}");
    add_sighting(&server, &path, json!({"type": 2, "timestamp": 100})).await;
    add_sighting(&server, &path, json!({"type": 0})).await;
    let last = add_sighting(&server, &path, json!({"type": "2", "timestamp": 200})).await;
    let (_, _, reply) = server
        .post("/sightings/listSightings", json!({"id": id}))
        .await;
    let expirations: Vec<&Value> = reply
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["Sighting"]["type"] == "2")
        .collect();
    assert_eq!(expirations.len(), 1, "{reply:#}");
    assert_eq!(expirations[0]["Sighting"]["uuid"], last["uuid"]);
    assert_eq!(reply.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_input_is_refused_naming_what_is_wrong() {
    let server = Server::start().await;
    let event = server
        .add_event(json!({"info": "target",
            "Attribute": [{"type": "domain", "value": "target.example"}]}))
        .await;
    let id = text(&event["Attribute"][0]["id"]).to_string();

    let missing = new_uuid();
    for (path, body, named) in [
        ("/sightings/add/999999".to_string(), json!({}), "999999"),
        (
            "/sightings/add".to_string(),
            json!({"uuid": missing}),
            missing.as_str(),
        ),
        (
            "/sightings/add".to_string(),
            json!({"value": "nowhere.example"}),
            "nowhere.example",
        ),
    ] {
        let (status, _, reply) = server.post(&path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {reply:#}");
        assert_misp_error(&reply, &path);
        assert!(
            text(&reply["message"]).contains(named),
            "the message names {named}: {reply}"
        );
    }
    let path = format!("/sightings/add/{id}");
    for (body, field) in [
        (json!({"type": 3}), "type"),
        (json!({"type": "often"}), "type"),
        (json!({"timestamp": "yesterday-ish"}), "timestamp"),
        (json!({"date": "17/05/2024", "time": "10:00:00"}), "date"),
        (json!({"source": "x".repeat(256)}), "source"),
        (json!({"filters": {"type": "domain"}}), "filters"),
    ] {
        let (status, _, reply) = server.post(&path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply:#}");
        assert_misp_error(&reply, &path);
        assert!(text(&reply["message"]).contains(field), "{field}: {reply}");
    }
    let (status, _, reply) = server.post("/sightings/add", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(text(&reply["message"]).contains("value"), "{reply}");

    let (status, _, reply) = server.get("/sightings/add").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["name"], json!("Sighting add API description"));

    let reader = server.user_in_new_org("READERS", ROLE_READ_ONLY).await;
    let (status, _, reply) = reader.post(&path, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    assert_misp_error(&reply, &path);

    let (status, _, reply) = server
        .post(
            "/sightings/restSearch/event",
            json!({"returnFormat": "json"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(text(&reply["message"]).contains("ID or UUID"), "{reply}");
    for body in [
        json!({"context": "object", "id": 1}),
        json!({"context": "event", "id": "one"}),
        json!({"type": 5}),
        json!({"last": "soon"}),
        json!({"returnFormat": "stix"}),
    ] {
        let (status, _, reply) = server.post("/sightings/restSearch", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert_misp_error(&reply, "/sightings/restSearch");
    }
    let (status, _, reply) = server
        .post(
            "/sightings/listSightings",
            json!({"context": "attribute", "id": 999999}),
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{reply}");
    assert_eq!(reply["message"], json!("Invalid object."));
}

/// OWNER's community event with a second, org-only attribute; REPORTER and THIRD are two
/// other organisations.
struct Orgs {
    server: Server,
    owner: Client,
    reporter: Client,
    third: Client,
    event: Value,
}

async fn three_orgs() -> Orgs {
    let server = Server::start().await;
    let owner = server.user_in_new_org("OWNER", ROLE_USER).await;
    let reporter = server.user_in_new_org("REPORTER", ROLE_USER).await;
    let third = server.user_in_new_org("THIRD", ROLE_USER).await;
    let event = add_event_as(
        &owner,
        json!({"info": "owned", "distribution": 1, "Attribute": [
            {"type": "ip-dst", "value": "198.51.100.20"},
            {"type": "ip-dst", "value": "198.51.100.20", "category": "External analysis",
             "distribution": 0},
        ], "Object": [{"name": "domain-ip", "meta-category": "network",
            "template_uuid": "43b3b146-77eb-4931-b4cc-b66c60f28734", "template_version": "9",
            "Attribute": [{"type": "domain", "object_relation": "domain",
                "value": "object.example"}]}]}),
    )
    .await;
    Orgs {
        server,
        owner,
        reporter,
        third,
        event,
    }
}

#[tokio::test]
async fn each_organisation_sees_what_the_default_policy_allows() {
    let Orgs {
        server,
        owner,
        reporter,
        third,
        event,
    } = three_orgs().await;
    let event_id = text(&event["id"]).to_string();
    let public = text(&event["Attribute"][0]["id"]).to_string();
    let private = text(&event["Attribute"][1]["id"]).to_string();
    let in_object = text(&event["Object"][0]["Attribute"][0]["id"]).to_string();

    // By value, REPORTER reaches only the attribute it may see.
    let row = add_sighting(
        &reporter,
        "/sightings/add",
        json!({"value": "198.51.100.20", "source": "reporter"}),
    )
    .await;
    assert_eq!(text(&row["attribute_id"]), public);
    let (status, _, reply) = reporter
        .post(&format!("/sightings/add/{private}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
    // By value, OWNER reaches both.
    add_sighting(&owner, "/sightings/add", json!({"value": "198.51.100.20"})).await;
    add_sighting(&third, &format!("/sightings/add/{in_object}"), json!({})).await;

    let list = |client: Client, context: &'static str, id: String| async move {
        let (status, _, reply) = client
            .post(
                "/sightings/listSightings",
                json!({"context": context, "id": id}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        let mut entries = listed(&reply);
        entries.sort();
        entries
    };
    let everything = vec![
        (public.clone(), "OWNER".to_string()),
        (public.clone(), "REPORTER".to_string()),
        (private.clone(), "OWNER".to_string()),
        (in_object.clone(), "THIRD".to_string()),
    ];
    let mut sorted = everything.clone();
    sorted.sort();
    assert_eq!(list(owner.clone(), "event", event_id.clone()).await, sorted);
    assert_eq!(
        list(server.admin.clone(), "event", event_id.clone()).await,
        sorted
    );
    assert_eq!(
        list(reporter.clone(), "event", event_id.clone()).await,
        [(public.clone(), "REPORTER".to_string())]
    );
    assert_eq!(
        list(third.clone(), "event", event_id.clone()).await,
        [(in_object.clone(), "THIRD".to_string())]
    );
    assert_eq!(
        list(third.clone(), "attribute", public.clone()).await,
        Vec::<(String, String)>::new()
    );

    // listSightings by org (id or uuid).
    let (reporter_org, _) = org_of(&reporter).await;
    let (_, _, reply) = owner
        .post(
            "/sightings/listSightings",
            json!({"context": "event", "id": event_id, "org_id": reporter_org}),
        )
        .await;
    assert_eq!(listed(&reply), [(public.clone(), "REPORTER".to_string())]);

    // The event view carries the same, per attribute.
    let sighting_orgs = |event: &Value, attribute: &str| -> Vec<String> {
        let found = event["Attribute"]
            .as_array()
            .unwrap()
            .iter()
            .chain(event["Object"][0]["Attribute"].as_array().unwrap())
            .find(|candidate| candidate["id"] == attribute)
            .cloned()
            .unwrap_or(Value::Null);
        found["Sighting"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|sighting| text(&sighting["Organisation"]["name"]).to_string())
            .collect()
    };
    let seen = owner.get(&format!("/events/view/{event_id}")).await.2["Event"].clone();
    assert_eq!(sighting_orgs(&seen, &public), ["REPORTER", "OWNER"]);
    assert_eq!(sighting_orgs(&seen, &private), ["OWNER"]);
    assert_eq!(sighting_orgs(&seen, &in_object), ["THIRD"]);
    let seen = reporter.get(&format!("/events/view/{event_id}")).await.2["Event"].clone();
    assert_eq!(sighting_orgs(&seen, &public), ["REPORTER"]);
    assert_eq!(sighting_orgs(&seen, &in_object), Vec::<String>::new());
    assert!(
        seen["Attribute"]
            .as_array()
            .unwrap()
            .iter()
            .all(|attribute| attribute["id"] != private.as_str()),
        "the org-only attribute stays hidden"
    );

    // restSearch and index apply the same rules.
    let hits = search(
        &reporter,
        "/sightings/restSearch/event",
        json!({"id": event_id}),
    )
    .await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["Organisation"]["name"], json!("REPORTER"));
    assert_eq!(
        search(
            &owner,
            "/sightings/restSearch/event",
            json!({"id": event_id})
        )
        .await
        .len(),
        4
    );
    let (_, _, index) = third.get(&format!("/sightings/index/{event_id}")).await;
    assert_eq!(index.as_array().unwrap().len(), 1, "{index}");
    let (_, _, index) = owner.post_empty("/sightings/index").await;
    assert_eq!(index.as_array().unwrap().len(), 4, "{index}");
}

#[tokio::test]
async fn the_event_view_carries_sightings_unless_asked_not_to() {
    let Orgs {
        server,
        owner,
        reporter,
        event,
        ..
    } = three_orgs().await;
    let event_id = text(&event["id"]).to_string();
    let public = &event["Attribute"][0];
    add_sighting(
        &reporter,
        &format!("/sightings/add/{}", text(&public["uuid"])),
        json!({"source": "sensor", "timestamp": 1_700_000_000}),
    )
    .await;
    let (reporter_org, reporter_name) = org_of(&reporter).await;

    let seen = server.view_event(&event_id).await;
    let attribute = find_attribute(&seen, text(&public["uuid"])).unwrap();
    let sighting = &attribute["Sighting"][0];
    assert_eq!(
        keys(sighting),
        [
            "id",
            "attribute_id",
            "event_id",
            "org_id",
            "date_sighting",
            "uuid",
            "source",
            "type",
            "attribute_uuid",
            "Organisation"
        ]
    );
    assert_eq!(sighting["attribute_id"], public["id"]);
    assert_eq!(sighting["event_id"], json!(event_id));
    assert_eq!(sighting["org_id"], json!(reporter_org));
    assert_eq!(sighting["date_sighting"], json!("1700000000"));
    assert_eq!(sighting["source"], json!("sensor"));
    assert_eq!(sighting["type"], json!("0"));
    assert_eq!(sighting["attribute_uuid"], public["uuid"]);
    assert_eq!(keys(&sighting["Organisation"]), ["id", "uuid", "name"]);
    assert_eq!(sighting["Organisation"]["name"], json!(reporter_name));
    assert!(
        seen.get("Sighting").is_none(),
        "MISP moves event-level sightings onto the attributes"
    );
    let quiet = find_attribute(&seen, text(&event["Attribute"][1]["uuid"])).unwrap();
    assert!(quiet.get("Sighting").is_none(), "no key without sightings");

    for path in [
        format!("/events/view/{event_id}/noSightings:1"),
        format!("/events/view/{event_id}/noSightings:true"),
    ] {
        let (status, _, reply) = owner.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        let attribute = find_attribute(&reply["Event"], text(&public["uuid"])).unwrap();
        assert!(attribute.get("Sighting").is_none(), "{path}: {attribute}");
    }
    let (_, _, reply) = owner
        .send(
            Method::POST,
            &format!("/events/view/{event_id}"),
            Some(json!({"noSightings": 1})),
        )
        .await;
    let attribute = find_attribute(&reply["Event"], text(&public["uuid"])).unwrap();
    assert!(attribute.get("Sighting").is_none(), "{attribute}");
}

#[tokio::test]
async fn rest_search_filters_and_shapes() {
    let server = Server::start().await;
    let event = server
        .add_event(json!({"info": "searched", "distribution": 1, "Attribute": [
            {"type": "domain", "value": "one.example"},
            {"type": "domain", "value": "two.example", "to_ids": false},
        ]}))
        .await;
    let event_id = text(&event["id"]).to_string();
    let one = text(&event["Attribute"][0]["id"]).to_string();
    let two = text(&event["Attribute"][1]["id"]).to_string();
    let recent = now() - 3_600;
    let old = now() - 40 * 86_400;
    add_sighting(
        &server,
        &format!("/sightings/add/{one}"),
        json!({"source": "Sensor-A", "timestamp": recent}),
    )
    .await;
    let false_positive = add_sighting(
        &server,
        &format!("/sightings/add/{two}"),
        json!({"type": 1, "timestamp": recent}),
    )
    .await;
    add_sighting(
        &server,
        &format!("/sightings/add/{one}"),
        json!({"source": "archive", "timestamp": old}),
    )
    .await;
    let reporter = server.user_in_new_org("REPORTER", ROLE_USER).await;
    add_sighting(
        &reporter,
        &format!("/sightings/add/{one}"),
        json!({"timestamp": recent}),
    )
    .await;
    let (reporter_org, _) = org_of(&reporter).await;
    let (_, _, me) = reporter.get("/users/view/me").await;
    let reporter_uuid = text(&me["Organisation"]["uuid"]).to_string();

    let count = |body: Value| {
        let server = &server;
        async move { search(server, "/sightings/restSearch", body).await.len() }
    };
    assert_eq!(
        count(json!({"returnFormat": "json"})).await,
        3,
        "30 days by default"
    );
    assert_eq!(count(json!({"last": 0})).await, 4, "0 opens the window");
    assert_eq!(count(json!({"last": "50d"})).await, 4);
    assert_eq!(count(json!({"from": old - 10, "to": old + 10})).await, 1);
    assert_eq!(count(json!({"type": 1})).await, 1);
    assert_eq!(count(json!({"type": ["0", "1"]})).await, 3);
    assert_eq!(count(json!({"source": "sensor-a"})).await, 1);
    assert_eq!(count(json!({"org_id": reporter_org})).await, 1);
    assert_eq!(count(json!({"org_id": reporter_uuid})).await, 1);
    assert_eq!(
        count(json!({"org_id": format!("!{reporter_org}")})).await,
        2
    );

    let hits = search(
        &server,
        &format!("/sightings/restSearch/attribute/json/{two}"),
        json!({}),
    )
    .await;
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    let mut expected_keys = ROW_KEYS.to_vec();
    expected_keys.extend(["value", "Organisation"]);
    assert_eq!(keys(hit), expected_keys);
    assert_eq!(hit["value"], json!("two.example"));
    assert_eq!(hit["attribute_id"], json!(two));

    let hits = search(
        &server,
        "/sightings/restSearch/event",
        json!({"uuid": text(&event["uuid"]), "includeAttribute": 1, "includeEvent": true,
               "includeUuid": "1", "type": 1}),
    )
    .await;
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit["attribute_uuid"], event["Attribute"][1]["uuid"]);
    assert_eq!(hit["event_uuid"], event["uuid"]);
    assert_eq!(
        hit["Attribute"],
        json!({"id": two, "value": "two.example", "uuid": event["Attribute"][1]["uuid"],
               "type": "domain", "category": "Network activity", "to_ids": false})
    );
    assert_eq!(hit["Event"]["id"], json!(event_id));
    assert_eq!(hit["Event"]["info"], json!("searched"));
    assert_eq!(hit["Event"]["Orgc"], json!({"name": "HOST-ORG"}));

    let (status, headers, csv) = server
        .post(
            "/sightings/restSearch",
            json!({"returnFormat": "csv", "type": 1, "includeAttribute": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[axum::http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = text(&csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,attribute_id,event_id,org_id,date_sighting,uuid,source,type,attribute_uuid,\
         attribute_type,attribute_category,attribute_to_ids,attribute_value"
    );
    let tail = format!(
        ",\"\",1,\"{}\",\"domain\",\"Network activity\",0,\"two.example\"",
        text(&event["Attribute"][1]["uuid"])
    );
    assert!(lines[1].ends_with(&tail), "{csv}");
    let head = format!("{},{two},{event_id},", text(&false_positive["id"]));
    assert!(lines[1].starts_with(&head), "{csv}");
}

#[tokio::test]
async fn deleting_follows_misp_rules() {
    let Orgs {
        server,
        owner,
        reporter,
        event,
        ..
    } = three_orgs().await;
    let public = text(&event["Attribute"][0]["id"]).to_string();
    let path = format!("/sightings/add/{public}");
    let owners = add_sighting(&owner, &path, json!({})).await;
    let reporters = add_sighting(&reporter, &path, json!({})).await;

    // Someone else's sighting looks like a missing one.
    let url = format!("/sightings/delete/{}", text(&owners["id"]));
    let (status, _, reply) = reporter.post_empty(&url).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
    assert_misp_error(&reply, &url);
    assert_eq!(reply["message"], json!("Invalid sighting."));

    let url = format!("/sightings/delete/{}", text(&reporters["uuid"]));
    let (status, _, reply) = reporter.get(&url).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{reply}");
    let (status, _, reply) = reporter.post_empty(&url).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["message"], json!("Sighting successfully deleted."));
    assert_eq!(reply["success"], json!(true));
    assert_eq!(reply["id"], reporters["id"]);
    let (status, _, _) = reporter.post_empty(&url).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let reader = server.user_in_new_org("READERS", ROLE_READ_ONLY).await;
    let url = format!("/sightings/delete/{}", text(&owners["id"]));
    let (status, _, _) = reader.post_empty(&url).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, reply) = server.post_empty(&url).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the site admin deletes any: {reply}"
    );
    let (_, _, reply) = owner
        .post("/sightings/listSightings", json!({"id": public}))
        .await;
    assert_eq!(reply, json!([]));

    // A sighting can be viewed while it exists.
    let again = add_sighting(&owner, &path, json!({})).await;
    let (status, _, reply) = owner
        .get(&format!("/sightings/view/{}", text(&again["uuid"])))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["Sighting"]["id"], again["id"]);
    let (status, _, _) = reporter
        .get(&format!("/sightings/view/{}", text(&again["id"])))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "policy hides the owner's");
}

//! restSearch on attributes and events: filters, formats, paging, access.

use crate::support::{Server, int, text};
use axum::http::StatusCode;
use serde_json::{Value, json};

/// Two events: a published one with an IP, a domain and a composite, tagged tlp:green; an
/// unpublished one with the same IP (not for IDS) and a hash in an object.
async fn fixture() -> (Server, Value, Value) {
    let server = Server::start().await;
    let first = server
        .add_event(json!({
            "info": "Phishing wave",
            "date": "2024-03-01",
            "published": true,
            "Tag": [{"name": "tlp:green"}],
            "Attribute": [
                {"type": "ip-dst", "value": "198.51.100.7", "to_ids": true},
                {"type": "domain", "value": "Evil.Example.com", "to_ids": true, "comment": "C2"},
                {"type": "ip-dst|port", "value": "203.0.113.9|8443", "to_ids": true,
                 "Tag": [{"name": "kill-chain:c2"}]},
            ]
        }))
        .await;
    let (status, _, _) = server
        .post(
            &format!("/events/publish/{}", text(&first["id"])),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let second = server
        .add_event(json!({
            "info": "Scan report",
            "date": "2024-05-10",
            "Attribute": [
                {"type": "ip-dst", "value": "198.51.100.7", "to_ids": false},
            ],
            "Object": [{
                "name": "file",
                "meta-category": "file",
                "Attribute": [
                    {"type": "md5", "object_relation": "md5",
                     "value": "D41D8CD98F00B204E9800998ECF8427E"},
                ]
            }]
        }))
        .await;
    (server, first, second)
}

async fn attributes(server: &Server, filters: Value) -> Vec<Value> {
    let (status, headers, body) = server.post("/attributes/restSearch", filters.clone()).await;
    assert_eq!(status, StatusCode::OK, "{filters}: {body:#}");
    let found = body["response"]["Attribute"]
        .as_array()
        .unwrap_or_else(|| panic!("no Attribute list for {filters}: {body:#}"))
        .clone();
    let count: usize = headers["x-result-count"].to_str().unwrap().parse().unwrap();
    assert_eq!(count, found.len(), "X-Result-Count for {filters}");
    found
}

fn values(found: &[Value]) -> Vec<String> {
    found
        .iter()
        .map(|attribute| text(&attribute["value"]).to_string())
        .collect()
}

#[tokio::test]
async fn attribute_values_match_either_half_case_insensitively() {
    let (server, first, second) = fixture().await;
    let found = attributes(&server, json!({"value": "198.51.100.7"})).await;
    assert_eq!(found.len(), 2);
    assert_eq!(text(&found[0]["Event"]["uuid"]), text(&first["uuid"]));
    assert_eq!(text(&found[1]["Event"]["id"]), text(&second["id"]));
    assert_eq!(
        values(&attributes(&server, json!({"value": "evil.example.com"})).await),
        ["evil.example.com"]
    );
    assert_eq!(
        values(&attributes(&server, json!({"value": "8443"})).await),
        ["203.0.113.9|8443"]
    );
    assert_eq!(
        values(&attributes(&server, json!({"value": "%example%"})).await),
        ["evil.example.com"]
    );
    let md5 = attributes(
        &server,
        json!({"value": "d41d8cd98f00b204e9800998ecf8427e"}),
    )
    .await;
    assert_eq!(md5.len(), 1);
    assert!(
        md5[0]["Object"]["id"].is_string(),
        "object stub: {:#}",
        md5[0]
    );
}

#[tokio::test]
async fn filter_grammar_lists_negation_and_operators() {
    let (server, _, _) = fixture().await;
    let found = attributes(
        &server,
        json!({"type": ["ip-dst", "domain"], "value": "!198.51.100.7"}),
    )
    .await;
    assert_eq!(values(&found), ["evil.example.com"]);
    let found = attributes(&server, json!({"type": {"OR": ["md5"], "NOT": ["ip-dst"]}})).await;
    assert_eq!(found.len(), 1);
    let found = attributes(&server, json!({"type": "ip-dst&&!domain", "to_ids": 1})).await;
    assert_eq!(found.len(), 1);
    let found = attributes(&server, json!({"to_ids": "exclude"})).await;
    assert_eq!(values(&found), ["198.51.100.7"]);
    let found = attributes(
        &server,
        json!({"category": "Network activity", "comment": "C2"}),
    )
    .await;
    assert_eq!(values(&found), ["evil.example.com"]);
}

#[tokio::test]
async fn tags_match_event_or_attribute_and_unknown_and_tags_match_nothing() {
    let (server, _, _) = fixture().await;
    assert_eq!(
        attributes(&server, json!({"tags": "tlp:green"}))
            .await
            .len(),
        3
    );
    assert_eq!(
        attributes(&server, json!({"tags": "kill-chain:%"}))
            .await
            .len(),
        1
    );
    assert_eq!(
        attributes(&server, json!({"tags": ["!kill-chain:c2"]}))
            .await
            .len(),
        4
    );
    assert_eq!(
        attributes(
            &server,
            json!({"tags": {"AND": ["tlp:green", "no-such-tag"]}})
        )
        .await
        .len(),
        0
    );
    assert_eq!(
        attributes(&server, json!({"tags": "no-such-tag"}))
            .await
            .len(),
        0
    );
    let found = attributes(
        &server,
        json!({"tags": "tlp:green", "includeEventTags": 1, "type": "domain"}),
    )
    .await;
    let inherited: Vec<&Value> = found[0]["Tag"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|tag| tag["inherited"] == json!(1))
        .collect();
    assert_eq!(inherited.len(), 1);
}

#[tokio::test]
async fn dates_and_publication() {
    let (server, _, _) = fixture().await;
    assert_eq!(
        attributes(&server, json!({"from": "2024-04-01"}))
            .await
            .len(),
        2
    );
    assert_eq!(
        attributes(&server, json!({"to": "2024-04-01"})).await.len(),
        3
    );
    assert_eq!(attributes(&server, json!({"published": 1})).await.len(), 3);
    assert_eq!(
        attributes(&server, json!({"timestamp": "1d"})).await.len(),
        5
    );
    assert_eq!(
        attributes(&server, json!({"timestamp": ["2d", "1d"]}))
            .await
            .len(),
        0
    );
    assert_eq!(attributes(&server, json!({"last": "1d"})).await.len(), 3);
}

#[tokio::test]
async fn paging_limits_and_counts_the_page() {
    let (server, _, _) = fixture().await;
    let page1 = attributes(&server, json!({"limit": 2, "page": 1})).await;
    let page2 = attributes(&server, json!({"limit": 2, "page": 2})).await;
    let page3 = attributes(&server, json!({"limit": 2, "page": 3})).await;
    assert_eq!((page1.len(), page2.len(), page3.len()), (2, 2, 1));
    assert!(int(&page1[1]["id"]) < int(&page2[0]["id"]));
}

#[tokio::test]
async fn csv_and_text_formats() {
    let (server, _, _) = fixture().await;
    let (status, headers, body) = server
        .post(
            "/attributes/restSearch",
            json!({"returnFormat": "csv", "type": "domain"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = body.as_str().unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "uuid,event_id,category,type,value,comment,to_ids,date,object_relation,attribute_tag,object_uuid,object_name,object_meta_category"
    );
    assert!(
        lines[1].contains(",\"Network activity\",\"domain\",\"evil.example.com\",\"C2\",1,"),
        "{csv}"
    );
    assert!(
        csv.ends_with("\n\n"),
        "MISP ends CSV with an empty line: {csv:?}"
    );

    // text: distinct values, published IDS data only unless told otherwise.
    let (_, _, body) = server.post("/attributes/restSearch/text", json!({})).await;
    assert_eq!(
        body.as_str().unwrap(),
        "198.51.100.7\nevil.example.com\n203.0.113.9|8443\n"
    );
    let (_, _, body) = server
        .post(
            "/attributes/restSearch",
            json!({"returnFormat": "text", "to_ids": [0, 1], "published": [0, 1]}),
        )
        .await;
    assert_eq!(body.as_str().unwrap().lines().count(), 4);
    let (_, _, body) = server
        .post(
            "/attributes/restSearch",
            json!({"returnFormat": "text", "value": "nothing"}),
        )
        .await;
    assert_eq!(body.as_str().unwrap(), "\n");
}

#[tokio::test]
async fn event_scope_returns_whole_events_that_contain_a_match() {
    let (server, first, _) = fixture().await;
    let (status, headers, body) = server
        .post("/events/restSearch", json!({"value": "evil.example.com"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(headers["x-result-count"], "1");
    let events = body["response"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["Event"]["uuid"], first["uuid"]);
    assert_eq!(events[0]["Event"]["Attribute"].as_array().unwrap().len(), 3);

    let (_, _, body) = server
        .post(
            "/events/restSearch",
            json!({"value": "198.51.100.7", "metadata": 1}),
        )
        .await;
    let events = body["response"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|event| event["Event"]["Attribute"] == json!([]))
    );

    let (_, _, body) = server
        .post("/events/restSearch", json!({"eventinfo": "%scan%"}))
        .await;
    assert_eq!(body["response"].as_array().unwrap().len(), 1);
    let (_, _, body) = server
        .post(
            "/events/restSearch",
            json!({"uuid": text(&first["Attribute"][0]["uuid"])}),
        )
        .await;
    assert_eq!(body["response"][0]["Event"]["uuid"], first["uuid"]);
}

#[tokio::test]
async fn other_organisations_see_only_what_distribution_allows() {
    let (server, _, _) = fixture().await;
    let outsider = server
        .user_in_new_org("Outsider", crate::support::ROLE_USER)
        .await;
    let (status, _, body) = outsider
        .post("/attributes/restSearch", json!({"value": "198.51.100.7"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    // Both fixture events use the default distribution (your organisation only).
    assert_eq!(body["response"]["Attribute"], json!([]));
    let (_, _, body) = outsider.post("/events/restSearch", json!({})).await;
    assert_eq!(body["response"], json!([]));
}

#[tokio::test]
async fn bad_filters_get_a_misp_error_naming_them() {
    let (server, _, _) = fixture().await;
    for (filters, name) in [
        (json!({"limit": "many"}), "limit"),
        (json!({"timestamp": "yesterday-ish"}), "timestamp"),
        (json!({"returnFormat": "pdf"}), "returnFormat"),
    ] {
        let (status, _, body) = server.post("/attributes/restSearch", filters).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text(&body["message"]).contains(name), "{body:#}");
        assert_eq!(text(&body["url"]), "/attributes/restSearch");
    }
    let (status, _, _) = server.get("/attributes/restSearch").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, body) = server
        .get("/attributes/restSearch/value:evil.example.com")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["response"]["Attribute"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn warninglists_sightings_and_correlations_enrich_attributes() {
    let (server, first, _) = fixture().await;
    server
        .add_event(json!({
            "info": "internal noise",
            "Attribute": [
                {"type": "ip-dst", "value": "10.1.2.3", "to_ids": true},
                {"type": "domain", "value": "evil.example.com", "to_ids": true},
                {"type": "md5", "value": "0123456789abcdef0123456789abcdef"},
            ]
        }))
        .await;
    // rfc1918 (a shipped list, on by default) holds 10.0.0.0/8.
    let found = attributes(
        &server,
        json!({"value": "10.1.2.3", "includeWarninglistHits": 1}),
    )
    .await;
    assert_eq!(found.len(), 1);
    assert!(
        found[0]["warnings"]
            .as_array()
            .is_some_and(|warnings| !warnings.is_empty()),
        "{:#}",
        found[0]
    );
    assert_eq!(
        attributes(
            &server,
            json!({"value": "10.1.2.3", "enforceWarninglist": 1})
        )
        .await
        .len(),
        0
    );
    let (_, _, body) = server
        .post(
            "/events/restSearch",
            json!({"value": "10.1.2.3", "enforceWarninglist": 1}),
        )
        .await;
    // The address (rfc1918) and example.com (tranco top sites) are on lists; the hash is not.
    let event = &body["response"][0]["Event"];
    assert_eq!(event["Attribute"].as_array().unwrap().len(), 1, "{event:#}");
    assert_eq!(event["Attribute"][0]["type"], "md5");

    let domain_id = text(&first["Attribute"][1]["id"]).to_string();
    let (status, _, _) = server
        .post(
            "/sightings/add",
            json!({"id": domain_id, "source": "sensor-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let found = attributes(
        &server,
        json!({"eventid": text(&first["id"]), "type": "domain", "includeSightings": 1, "includeCorrelations": 1}),
    )
    .await;
    assert_eq!(found[0]["Sighting"][0]["source"], "sensor-1");
    let related = found[0]["RelatedAttribute"].as_array().unwrap();
    assert_eq!(related.len(), 1);
    assert_eq!(related[0]["Event"]["info"], "internal noise");
}

#[tokio::test]
async fn object_scope_returns_objects_holding_a_match() {
    let (server, _, second) = fixture().await;
    let (status, headers, body) = server
        .post(
            "/objects/restSearch",
            json!({"value": "d41d8cd98f00b204e9800998ecf8427e"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(headers["x-result-count"], "1");
    let objects = body["response"].as_array().unwrap();
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["Object"]["name"], "file");
    assert_eq!(objects[0]["Object"]["Event"]["uuid"], second["uuid"]);
    assert_eq!(
        objects[0]["Object"]["Attribute"].as_array().unwrap().len(),
        1
    );
    let (_, _, body) = server
        .post("/objects/restSearch", json!({"object_name": "domain-ip"}))
        .await;
    assert_eq!(body["response"], json!([]));
}

/// Every live attribute of the stored real events, with its event's uuid.
fn live_attributes(events: &[Value]) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for event in events {
        let event_uuid = text(&event["uuid"]).to_string();
        let objects = event["Object"].as_array().cloned().unwrap_or_default();
        let attributes =
            event["Attribute"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .chain(objects.into_iter().flat_map(|object| {
                    object["Attribute"].as_array().cloned().unwrap_or_default()
                }));
        for attribute in attributes {
            if attribute["deleted"] != json!(true) {
                found.push((event_uuid.clone(), attribute));
            }
        }
    }
    found
}

/// value1 and value2 as MISP splits a stored value (composite types at the first `|`).
fn halves(attribute: &Value) -> (String, String) {
    let value = text(&attribute["value"]);
    if text(&attribute["type"]).contains('|') || text(&attribute["type"]) == "malware-sample" {
        match value.split_once('|') {
            Some((first, second)) => (first.to_string(), second.to_string()),
            None => (value.to_string(), String::new()),
        }
    } else {
        (value.to_string(), String::new())
    }
}

fn uuids_of(found: &[Value]) -> std::collections::BTreeSet<String> {
    found
        .iter()
        .map(|attribute| text(&attribute["uuid"]).to_string())
        .collect()
}

/// restSearch over the real MISP events against a brute-force reading of the same events:
/// by value (either half, case-insensitively), by type, and events by tag.
#[tokio::test]
async fn searches_over_real_events_match_a_brute_force_oracle() {
    let server = Server::start().await;
    let mut events = Vec::new();
    for path in crate::roundtrip::event_files() {
        let document: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("event file"))
                .expect("event JSON");
        for event in crate::roundtrip::events_of(&document) {
            let added = server.add_event(crate::roundtrip::prepare(&event)).await;
            events.push(server.view_event(text(&added["uuid"])).await);
        }
    }
    let attributes = live_attributes(&events);
    assert!(attributes.len() > 1_000, "{} attributes", attributes.len());

    let mut checked = 0;
    for (_, sample) in attributes.iter().step_by(23) {
        let (value1, _) = halves(sample);
        let expected: std::collections::BTreeSet<String> = attributes
            .iter()
            .filter(|(_, attribute)| {
                let (first, second) = halves(attribute);
                first.eq_ignore_ascii_case(&value1)
                    || (!second.is_empty() && second.eq_ignore_ascii_case(&value1))
            })
            .map(|(_, attribute)| text(&attribute["uuid"]).to_string())
            .collect();
        let found = attributes_matching(&server, json!({"value": value1})).await;
        assert_eq!(uuids_of(&found), expected, "value {value1:?}");
        checked += 1;
    }
    assert!(checked > 40);

    let types: std::collections::BTreeSet<String> = attributes
        .iter()
        .map(|(_, attribute)| text(&attribute["type"]).to_string())
        .collect();
    for attr_type in &types {
        let expected: std::collections::BTreeSet<String> = attributes
            .iter()
            .filter(|(_, attribute)| text(&attribute["type"]) == attr_type)
            .map(|(_, attribute)| text(&attribute["uuid"]).to_string())
            .collect();
        let mut filters = json!({"type": attr_type});
        if attr_type == "email-src" || attr_type == "email-dst" {
            // MISP adds the generic `email` type to these.
            filters = json!({"type": [attr_type, "!email"]});
        }
        let found = attributes_matching(&server, filters).await;
        let found = uuids_of(&found);
        if attr_type != "email-src" && attr_type != "email-dst" {
            assert_eq!(found, expected, "type {attr_type}");
        }
    }

    let mut tag_names = std::collections::BTreeSet::new();
    for event in &events {
        for tag in event["Tag"].as_array().into_iter().flatten() {
            tag_names.insert(text(&tag["name"]).to_string());
        }
    }
    for name in tag_names.iter().filter(|name| !name.contains(['%', '_'])) {
        let expected: std::collections::BTreeSet<String> = events
            .iter()
            .filter(|event| {
                let tagged = |item: &Value| {
                    item["Tag"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|tag| text(&tag["name"]) == name)
                };
                tagged(event)
                    || live_attributes(std::slice::from_ref(event))
                        .iter()
                        .any(|(_, attribute)| tagged(attribute))
            })
            .map(|event| text(&event["uuid"]).to_string())
            .collect();
        let (status, _, body) = server
            .post("/events/restSearch", json!({"tags": name, "metadata": 1}))
            .await;
        assert_eq!(status, StatusCode::OK);
        let found: std::collections::BTreeSet<String> = body["response"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| text(&event["Event"]["uuid"]).to_string())
            .collect();
        assert_eq!(found, expected, "tag {name}");
    }
}

async fn attributes_matching(server: &Server, filters: Value) -> Vec<Value> {
    let (status, _, body) = server.post("/attributes/restSearch", filters.clone()).await;
    assert_eq!(status, StatusCode::OK, "{filters}: {body:#}");
    body["response"]["Attribute"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn order_and_include_context() {
    let (server, first, _) = fixture().await;
    let found = attributes(
        &server,
        json!({"order": "Attribute.value DESC", "type": ["ip-dst", "domain", "md5"]}),
    )
    .await;
    let mut sorted = values(&found);
    assert_eq!(sorted[0], "evil.example.com");
    sorted.sort();
    sorted.reverse();
    assert_eq!(values(&found), sorted);
    let mut paged = Vec::new();
    for page in 1..=3 {
        let found = attributes(
            &server,
            json!({"order": "Event.date DESC", "limit": 2, "page": page}),
        )
        .await;
        paged.extend(values(&found));
    }
    // The 2024-05 event first; ties broken by id in the same direction.
    assert_eq!(
        paged,
        [
            "d41d8cd98f00b204e9800998ecf8427e",
            "198.51.100.7",
            "203.0.113.9|8443",
            "evil.example.com",
            "198.51.100.7"
        ]
    );
    let (status, _, body) = server
        .post(
            "/attributes/restSearch",
            json!({"order": "Attribute.colour"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text(&body["message"]).contains("order"));

    let found = attributes(
        &server,
        json!({"eventid": text(&first["id"]), "includeContext": 1, "type": "domain"}),
    )
    .await;
    let context = &found[0]["Event"];
    assert_eq!(context["info"], "Phishing wave");
    assert_eq!(context["Tag"][0]["name"], "tlp:green");
    assert!(context.get("Attribute").is_none());
}

#[tokio::test]
async fn event_index_filters_by_creator_email_and_proposals() {
    let (server, _, _) = fixture().await;
    let count = |body: &Value| body.as_array().map_or(0, Vec::len);
    let (status, _, body) = server
        .post("/events/index", json!({"email": "admin@host"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(count(&body), 2);
    let (_, _, body) = server
        .post("/events/index", json!({"email": "!admin@host"}))
        .await;
    assert_eq!(count(&body), 0);
    let (_, _, body) = server.get("/events/index/searchhasproposal:1").await;
    assert_eq!(count(&body), 0);
    let (_, headers, body) = server
        .post(
            "/events/index",
            json!({"hasproposal": 0, "datefrom": "2024-04-01"}),
        )
        .await;
    assert_eq!(count(&body), 1);
    assert_eq!(headers["x-result-count"], "1");
    // Another organisation's user may only name their own address.
    let outsider = server
        .user_in_new_org("Outsider", crate::support::ROLE_USER)
        .await;
    let (_, _, body) = outsider
        .post("/events/index", json!({"email": "admin@host.test"}))
        .await;
    assert_eq!(count(&body), 0);
}

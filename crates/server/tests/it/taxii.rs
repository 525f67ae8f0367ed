//! The TAXII 2.1 server (and its 2.0 root): resource shapes and media types, the error
//! resource for every refusal, POST → status → GET round trips, paging, filters,
//! visibility through collections, and the 2.0 `Range` paging.

use crate::support::{BASE_URL, Client, ROLE_USER, Server, new_uuid, now};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use kizuna_server::{AppState, ServerSettings, app};
use kizuna_store::TaxiiCollection;
use serde_json::{Value, json};
use std::collections::HashSet;
use tower::ServiceExt;

const TAXII: &str = "application/taxii+json;version=2.1";

type Reply = (StatusCode, HeaderMap, Value);

/// One TAXII request with exactly these headers.
async fn send(
    app: &Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Reply {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, headers, body)
}

async fn get(client: &Client, path: &str) -> Reply {
    send(
        &client.app,
        Method::GET,
        path,
        &[("authorization", &client.key), ("accept", TAXII)],
        None,
    )
    .await
}

async fn post(client: &Client, path: &str, body: &Value) -> Reply {
    send(
        &client.app,
        Method::POST,
        path,
        &[
            ("authorization", &client.key),
            ("accept", TAXII),
            ("content-type", TAXII),
        ],
        Some(body.to_string()),
    )
    .await
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// The reply is TAXII's error resource with this status.
fn assert_taxii_error(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.0, status, "{:#}", reply.2);
    assert_eq!(content_type(&reply.1), TAXII);
    assert_eq!(reply.2["http_status"], status.as_u16().to_string());
    assert!(reply.2["title"].as_str().is_some_and(|t| !t.is_empty()));
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn add_collection(server: &Server, collection: TaxiiCollection) -> String {
    server
        .store
        .create_taxii_collection(&collection)
        .await
        .unwrap();
    collection.id
}

fn collection(title: &str, writable: bool, filter: &str) -> TaxiiCollection {
    TaxiiCollection {
        id: new_uuid(),
        title: title.into(),
        writable,
        filter: filter.into(),
        created: now(),
        modified: now(),
        ..TaxiiCollection::default()
    }
}

fn indicator(value: &str, modified: &str) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--{}", new_uuid()),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": modified,
        "name": value,
        "pattern": format!("[ipv4-addr:value = '{value}']"),
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        "indicator_types": ["malicious-activity"],
    })
}

fn indicators(count: usize, prefix: u8) -> Vec<Value> {
    (0..count)
        .map(|n| {
            indicator(
                &format!("10.{prefix}.{}.{}", n / 250, n % 250 + 1),
                "2026-01-02T00:00:00.000Z",
            )
        })
        .collect()
}

fn objects_of(body: &Value) -> Vec<Value> {
    body["objects"].as_array().cloned().unwrap_or_default()
}

fn ids_of(body: &Value) -> Vec<String> {
    objects_of(body)
        .iter()
        .map(|object| object["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn discovery_api_root_and_collections_have_the_spec_shapes() {
    let server = Server::start().await;
    let anonymous = send(
        &server.app,
        Method::GET,
        "/taxii2/",
        &[("accept", TAXII)],
        None,
    )
    .await;
    assert_eq!(anonymous.0, StatusCode::OK);
    assert_eq!(content_type(&anonymous.1), TAXII);
    assert_eq!(anonymous.2["default"], format!("{BASE_URL}/taxii2/root/"));
    assert_eq!(
        anonymous.2["api_roots"],
        json!([format!("{BASE_URL}/taxii2/root/")])
    );
    assert!(anonymous.2["title"].is_string());

    let basic = format!(
        "Basic {}",
        base64(format!("ADMIN@host.test:{}", server.admin.key).as_bytes())
    );
    let root = send(
        &server.app,
        Method::GET,
        "/taxii2/root",
        &[
            ("authorization", &basic),
            ("accept", "application/taxii+json"),
        ],
        None,
    )
    .await;
    assert_eq!(root.0, StatusCode::OK, "{:#}", root.2);
    assert_eq!(root.2["versions"], json!([TAXII]));
    assert!(root.2["max_content_length"].as_u64().unwrap() > 1_000_000);

    let empty = get(&server.admin, "/taxii2/root/collections/").await;
    assert_eq!((empty.0, &empty.2), (StatusCode::OK, &json!({})));
    let mut feed = collection("Feed", true, "");
    feed.alias = "feed".into();
    feed.description = "all of it".into();
    let id = add_collection(&server, feed).await;
    let listed = get(&server.admin, "/taxii2/root/collections/").await;
    assert_eq!(
        listed.2["collections"],
        json!([{
            "id": id, "title": "Feed", "description": "all of it", "alias": "feed",
            "can_read": true, "can_write": true,
            "media_types": ["application/stix+json;version=2.1"],
        }])
    );
    let by_alias = get(&server.admin, "/taxii2/root/collections/feed/").await;
    assert_eq!(by_alias.2["id"], id);
    let unknown_path = get(&server.admin, "/taxii2/root/nothing/here/").await;
    assert_taxii_error(&unknown_path, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn refusals_answer_with_the_error_resource() {
    let server = Server::start().await;
    let id = add_collection(&server, collection("Feed", true, "")).await;
    let objects = format!("/taxii2/root/collections/{id}/objects/");
    let key = server.admin.key.clone();

    let wrong_accept = send(
        &server.app,
        Method::GET,
        &objects,
        &[("authorization", &key), ("accept", "application/json")],
        None,
    )
    .await;
    assert_taxii_error(&wrong_accept, StatusCode::NOT_ACCEPTABLE);

    let nobody = send(
        &server.app,
        Method::GET,
        &objects,
        &[("accept", TAXII)],
        None,
    )
    .await;
    assert_taxii_error(&nobody, StatusCode::UNAUTHORIZED);
    assert_eq!(nobody.1["www-authenticate"], "Basic realm=\"kizuna\"");
    let wrong_user = format!(
        "Basic {}",
        base64(format!("someone@else.test:{key}").as_bytes())
    );
    let wrong = send(
        &server.app,
        Method::GET,
        &objects,
        &[("authorization", &wrong_user), ("accept", TAXII)],
        None,
    )
    .await;
    assert_taxii_error(&wrong, StatusCode::UNAUTHORIZED);

    let unknown = get(
        &server.admin,
        &format!("/taxii2/root/collections/{}/objects/", new_uuid()),
    )
    .await;
    assert_taxii_error(&unknown, StatusCode::NOT_FOUND);

    let as_json = send(
        &server.app,
        Method::POST,
        &objects,
        &[
            ("authorization", &key),
            ("accept", TAXII),
            ("content-type", "application/json"),
        ],
        Some(json!({"objects": []}).to_string()),
    )
    .await;
    assert_taxii_error(&as_json, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let bare_object = post(
        &server.admin,
        &objects,
        &indicator("192.0.2.1", "2026-01-02T00:00:00Z"),
    )
    .await;
    assert_taxii_error(&bare_object, StatusCode::UNPROCESSABLE_ENTITY);
    let not_json = send(
        &server.app,
        Method::POST,
        &objects,
        &[
            ("authorization", &key),
            ("accept", TAXII),
            ("content-type", TAXII),
        ],
        Some("{\"objects\": [".into()),
    )
    .await;
    assert_taxii_error(&not_json, StatusCode::BAD_REQUEST);
    let put = send(
        &server.app,
        Method::PUT,
        &objects,
        &[("authorization", &key)],
        None,
    )
    .await;
    assert_taxii_error(&put, StatusCode::METHOD_NOT_ALLOWED);
    let bad_limit = get(&server.admin, &format!("{objects}?limit=0")).await;
    assert_taxii_error(&bad_limit, StatusCode::BAD_REQUEST);
    let bad_next = get(&server.admin, &format!("{objects}?next=garbage")).await;
    assert_taxii_error(&bad_next, StatusCode::BAD_REQUEST);
    let bad_date = get(&server.admin, &format!("{objects}?added_after=yesterday")).await;
    assert_taxii_error(&bad_date, StatusCode::BAD_REQUEST);

    // A small body limit: the API root says it and POSTs beyond it get 413.
    let small = app(AppState::new(
        server.store.clone(),
        ServerSettings {
            base_url: BASE_URL.into(),
            max_body_bytes: 2_000,
            ..ServerSettings::default()
        },
    ));
    let envelope = json!({ "objects": indicators(20, 1) }).to_string();
    let too_large = send(
        &small,
        Method::POST,
        &objects,
        &[
            ("authorization", &key),
            ("accept", TAXII),
            ("content-type", TAXII),
        ],
        Some(envelope),
    )
    .await;
    assert_taxii_error(&too_large, StatusCode::PAYLOAD_TOO_LARGE);

    // Rights: read-only users may not post; a collection read by others only is 403 to
    // writers and unknown to everyone else.
    let reader = server.user_in_new_org("READERS", 6).await;
    let refused = post(&reader, &objects, &json!({"objects": []})).await;
    assert_taxii_error(&refused, StatusCode::FORBIDDEN);
    let writer = server.user_in_new_org("WRITERS", ROLE_USER).await;
    let mut write_only = collection("Drop box", true, "");
    write_only.read_orgs = vec![1];
    let drop_box = add_collection(&server, write_only).await;
    let listed = get(&writer, "/taxii2/root/collections/").await;
    let drop_box_entry = listed.2["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["id"] == drop_box.as_str())
        .cloned()
        .unwrap();
    assert_eq!(
        (
            drop_box_entry["can_read"].clone(),
            drop_box_entry["can_write"].clone()
        ),
        (json!(false), json!(true))
    );
    let no_read = get(
        &writer,
        &format!("/taxii2/root/collections/{drop_box}/objects/"),
    )
    .await;
    assert_taxii_error(&no_read, StatusCode::FORBIDDEN);
    let invisible = get(&reader, &format!("/taxii2/root/collections/{drop_box}/")).await;
    assert_taxii_error(&invisible, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn posted_objects_come_back_with_status_manifest_and_versions() {
    let server = Server::start().await;
    let id = add_collection(&server, collection("Feed", true, "")).await;
    let objects_url = format!("/taxii2/root/collections/{id}/objects/");
    let mut posted = indicators(3, 7);
    posted.push(json!({"type": "indicator", "id": "indicator--not-a-uuid", "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z"}));
    posted.push(json!({"type": "malware", "spec_version": "2.1", "id": format!("malware--{}", new_uuid()), "name": "no dates"}));
    let (status, headers, body) =
        post(&server.admin, &objects_url, &json!({ "objects": posted })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body:#}");
    assert_eq!(content_type(&headers), TAXII);
    assert_eq!(body["status"], "complete");
    assert_eq!(body["total_count"], 5);
    assert_eq!(body["success_count"], 3, "{body:#}");
    assert_eq!(body["failure_count"], 2);
    assert_eq!(body["pending_count"], 0);
    assert_eq!(body["failures"][0]["id"], "indicator--not-a-uuid");
    assert!(
        body["failures"][1]["message"]
            .as_str()
            .unwrap()
            .contains("created")
    );

    let status_id = body["id"].as_str().unwrap();
    let again = get(&server.admin, &format!("/taxii2/root/status/{status_id}/")).await;
    assert_eq!(again.2, body);
    let other = server.user_in_new_org("OTHER", ROLE_USER).await;
    let hidden = get(&other, &format!("/taxii2/root/status/{status_id}/")).await;
    assert_taxii_error(&hidden, StatusCode::NOT_FOUND);

    let (status, headers, listing) = get(&server.admin, &objects_url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listing["more"], false);
    assert!(listing.get("next").is_none());
    let returned = objects_of(&listing);
    for sent in &posted[..3] {
        let found = returned
            .iter()
            .find(|object| object["id"] == sent["id"])
            .unwrap_or_else(|| panic!("{} not returned", sent["id"]));
        assert_eq!(found["pattern"], sent["pattern"]);
    }
    let types: HashSet<&str> = returned
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains("grouping") && types.contains("identity"),
        "{types:?}"
    );
    let first = headers["x-taxii-date-added-first"]
        .to_str()
        .unwrap()
        .to_string();
    let last = headers["x-taxii-date-added-last"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        first.ends_with('Z') && first.len() == "2026-11-22T10:00:00.123456Z".len(),
        "{first}"
    );

    let (_, manifest_headers, manifest) = get(
        &server.admin,
        &format!("/taxii2/root/collections/{id}/manifest/"),
    )
    .await;
    let records = objects_of(&manifest);
    assert_eq!(records.len(), returned.len());
    assert_eq!(
        records[0]["media_type"],
        "application/stix+json;version=2.1"
    );
    assert_eq!(records[0]["date_added"], first.as_str());
    assert_eq!(manifest_headers["x-taxii-date-added-last"], last.as_str());

    let wanted = posted[0]["id"].as_str().unwrap();
    let (status, _, one) = get(&server.admin, &format!("{objects_url}{wanted}/")).await;
    assert_eq!(status, StatusCode::OK, "{one:#}");
    assert_eq!(ids_of(&one), [wanted]);
    let (_, _, versions) = get(&server.admin, &format!("{objects_url}{wanted}/versions/")).await;
    assert_eq!(versions["versions"], json!([one["objects"][0]["modified"]]));
    assert_eq!(versions["more"], false);
    let missing = get(
        &server.admin,
        &format!("{objects_url}indicator--{}/", new_uuid()),
    )
    .await;
    assert_taxii_error(&missing, StatusCode::NOT_FOUND);

    // Nothing after the last date; filters.
    let after = get(&server.admin, &format!("{objects_url}?added_after={last}")).await;
    assert_eq!(after.2, json!({}));
    let only_indicators = get(
        &server.admin,
        &format!("{objects_url}?match[type]=indicator"),
    )
    .await;
    assert_eq!(ids_of(&only_indicators.2).len(), 3);
    let by_id = get(
        &server.admin,
        &format!(
            "{objects_url}?match[id]={},{}",
            posted[1]["id"].as_str().unwrap(),
            posted[2]["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(ids_of(&by_id.2).len(), 2);
    let first_version = get(
        &server.admin,
        &format!("{objects_url}?match[type]=indicator&match[version]=first"),
    )
    .await;
    assert_eq!(ids_of(&first_version.2).len(), 3);
    let exact = get(
        &server.admin,
        &format!(
            "{objects_url}?match[id]={wanted}&match[version]={}",
            one["objects"][0]["modified"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(ids_of(&exact.2), [wanted]);
    let old_spec = get(
        &server.admin,
        &format!("{objects_url}?match[spec_version]=2.0"),
    )
    .await;
    assert_eq!(old_spec.2, json!({}));
}

#[tokio::test]
async fn paging_walks_thousands_of_objects_without_gaps_or_repeats() {
    let server = Server::start().await;
    let id = add_collection(&server, collection("Feed", true, "")).await;
    let objects_url = format!("/taxii2/root/collections/{id}/objects/");
    for prefix in 1..=2 {
        let (status, _, body) = post(
            &server.admin,
            &objects_url,
            &json!({ "objects": indicators(500, prefix) }),
        )
        .await;
        assert_eq!(
            (status, body["success_count"].clone()),
            (StatusCode::ACCEPTED, json!(500))
        );
    }
    let (_, _, whole) = get(&server.admin, &format!("{objects_url}?limit=10000")).await;
    let everything = ids_of(&whole);
    assert!(everything.len() >= 3_000, "{}", everything.len());
    assert_eq!(whole["more"], false);

    let mut walked: Vec<String> = Vec::new();
    let mut url = format!("{objects_url}?limit=700");
    let mut pages = 0;
    let mut previous_last = String::new();
    loop {
        let (status, headers, page) = get(&server.admin, &url).await;
        assert_eq!(status, StatusCode::OK, "{page:#}");
        pages += 1;
        let ids = ids_of(&page);
        let first = headers["x-taxii-date-added-first"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(first >= previous_last);
        previous_last = headers["x-taxii-date-added-last"]
            .to_str()
            .unwrap()
            .to_string();
        if page["more"] == true {
            assert_eq!(ids.len(), 700);
            walked.extend(ids);
            let next = page["next"].as_str().unwrap();
            url = format!("{objects_url}?limit=700&next={next}");
            let changed = get(
                &server.admin,
                &format!("{objects_url}?limit=700&next={next}&match[type]=indicator"),
            )
            .await;
            assert_taxii_error(&changed, StatusCode::BAD_REQUEST);
        } else {
            walked.extend(ids);
            break;
        }
    }
    assert!(pages >= 5);
    // Every object once over the chain, the identity both events share included.
    let walked_unique: HashSet<&String> = walked.iter().collect();
    assert_eq!(walked_unique.len(), walked.len(), "a repeat");
    let expected: HashSet<&String> = everything.iter().collect();
    assert_eq!(walked_unique, expected);
    assert_eq!(
        walked
            .iter()
            .filter(|id| id.starts_with("identity--"))
            .count(),
        1
    );

    // Shared objects stay once per chain when the match filters select only them.
    let mut identities = Vec::new();
    let mut url = format!("{objects_url}?limit=100&match[type]=identity,indicator");
    loop {
        let (status, _, page) = get(&server.admin, &url).await;
        assert_eq!(status, StatusCode::OK, "{page:#}");
        identities.extend(
            ids_of(&page)
                .into_iter()
                .filter(|id| id.starts_with("identity--")),
        );
        match page["next"].as_str() {
            Some(next) if page["more"] == true => {
                url = format!("{objects_url}?limit=100&match[type]=identity,indicator&next={next}")
            }
            _ => break,
        }
    }
    assert_eq!(identities.len(), 1, "{identities:?}");

    // added_after is exclusive: after the first envelope's date only the second comes.
    let (_, headers, first_indicators) = get(
        &server.admin,
        &format!("{objects_url}?match[type]=indicator&limit=500"),
    )
    .await;
    assert_eq!(ids_of(&first_indicators).len(), 500);
    let boundary = headers["x-taxii-date-added-last"].to_str().unwrap();
    let (_, _, rest) = get(
        &server.admin,
        &format!("{objects_url}?match[type]=indicator&limit=10000&added_after={boundary}"),
    )
    .await;
    let rest_ids: HashSet<String> = ids_of(&rest).into_iter().collect();
    assert_eq!(rest_ids.len(), 500);
    assert!(
        ids_of(&first_indicators)
            .iter()
            .all(|id| !rest_ids.contains(id))
    );
}

#[tokio::test]
async fn collections_show_only_what_the_reader_may_see_and_what_the_filter_selects() {
    let server = Server::start().await;
    let everything = add_collection(&server, collection("All", true, "")).await;
    let ip_only = add_collection(
        &server,
        collection("IPs", false, r#"{"type":["ip-dst"],"to_ids":true}"#),
    )
    .await;
    let published = add_collection(
        &server,
        collection("Published", false, r#"{"published":true}"#),
    )
    .await;
    let tagged = add_collection(
        &server,
        collection("Clear", false, r#"{"tags":["tlp:clear"]}"#),
    )
    .await;
    let uuid_of = |value: &Value| value["uuid"].as_str().unwrap().to_string();

    let private = server
        .add_event(json!({
            "info": "org only", "distribution": "0",
            "Attribute": [
                {"type": "ip-dst", "category": "Network activity", "value": "198.51.100.7", "to_ids": true},
                {"type": "domain", "category": "Network activity", "value": "private.example", "to_ids": true},
                {"type": "ip-dst", "category": "Network activity", "value": "198.51.100.8", "to_ids": false},
            ],
        }))
        .await;
    let shared = server
        .add_event(json!({
            "info": "community", "distribution": "1", "published": true,
            "Tag": [{"name": "tlp:clear"}],
            "Attribute": [{"type": "domain", "category": "Network activity", "value": "shared.example", "to_ids": true}],
        }))
        .await;
    let (status, _, _) = server
        .post(
            &format!("/events/publish/{}", shared["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let grouping_of = |body: &Value, uuid: &str| {
        objects_of(body).iter().any(|object| {
            object["id"] == format!("grouping--{uuid}").as_str()
                || object["id"] == format!("report--{uuid}").as_str()
        })
    };
    let list = |client: Client, id: String| async move {
        get(
            &client,
            &format!("/taxii2/root/collections/{id}/objects/?limit=10000"),
        )
        .await
        .2
    };

    let admin_view = list(server.admin.clone(), everything.clone()).await;
    assert!(grouping_of(&admin_view, &uuid_of(&private)));
    assert!(grouping_of(&admin_view, &uuid_of(&shared)));
    let outsider = server.user_in_new_org("OUTSIDE", ROLE_USER).await;
    let outsider_view = list(outsider.clone(), everything.clone()).await;
    assert!(
        !grouping_of(&outsider_view, &uuid_of(&private)),
        "an org-only event leaked"
    );
    assert!(grouping_of(&outsider_view, &uuid_of(&shared)));

    let ips = list(server.admin.clone(), ip_only).await;
    let patterns: Vec<String> = objects_of(&ips)
        .iter()
        .filter(|object| object["type"] == "indicator")
        .map(|object| object["pattern"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(patterns, ["[ipv4-addr:value = '198.51.100.7']"], "{ips:#}");
    let published_view = list(server.admin.clone(), published).await;
    assert!(
        grouping_of(&published_view, &uuid_of(&shared))
            && !grouping_of(&published_view, &uuid_of(&private))
    );
    let tagged_view = list(server.admin.clone(), tagged).await;
    assert!(
        grouping_of(&tagged_view, &uuid_of(&shared))
            && !grouping_of(&tagged_view, &uuid_of(&private))
    );
}

#[tokio::test]
async fn reposted_objects_update_in_place_when_newer_and_deletes_follow_misp_rules() {
    let server = Server::start().await;
    let id = add_collection(&server, collection("Feed", true, "")).await;
    let objects_url = format!("/taxii2/root/collections/{id}/objects/");
    let first = indicator("203.0.113.5", "2026-01-02T00:00:00.000Z");
    let wanted = first["id"].as_str().unwrap().to_string();
    let (_, _, body) = post(&server.admin, &objects_url, &json!({ "objects": [first.clone(), indicator("203.0.113.6", "2026-01-02T00:00:00.000Z")] })).await;
    assert_eq!(body["success_count"], 2);

    // The same indicator alone in another envelope: no duplicate, no error.
    let (_, _, same) = post(
        &server.admin,
        &objects_url,
        &json!({ "objects": [first.clone()] }),
    )
    .await;
    assert_eq!(
        (same["success_count"].clone(), same["failure_count"].clone()),
        (json!(1), json!(0)),
        "{same:#}"
    );
    let mut newer = first.clone();
    newer["modified"] = json!("2026-03-01T00:00:00.000Z");
    newer["pattern"] = json!("[ipv4-addr:value = '203.0.113.99']");
    let (_, _, updated) = post(&server.admin, &objects_url, &json!({ "objects": [newer] })).await;
    assert_eq!(updated["success_count"], 1, "{updated:#}");
    let (_, _, listing) = get(
        &server.admin,
        &format!("{objects_url}?match[type]=indicator"),
    )
    .await;
    let found: Vec<Value> = objects_of(&listing)
        .into_iter()
        .filter(|object| object["id"] == wanted.as_str())
        .collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["pattern"], "[ipv4-addr:value = '203.0.113.99']");
    assert_eq!(found[0]["modified"], "2026-03-01T00:00:00.000Z");
    assert_eq!(ids_of(&listing).len(), 2);
    let mut older = first.clone();
    older["pattern"] = json!("[ipv4-addr:value = '203.0.113.1']");
    post(&server.admin, &objects_url, &json!({ "objects": [older] })).await;
    let (_, _, unchanged) = get(&server.admin, &format!("{objects_url}{wanted}/")).await;
    assert_eq!(
        unchanged["objects"][0]["pattern"],
        "[ipv4-addr:value = '203.0.113.99']"
    );

    // Another organisation may not change or delete it.
    let other = server.user_in_new_org("OTHER", ROLE_USER).await;
    let visible_to_other = get(&other, &format!("{objects_url}{wanted}/")).await;
    assert_taxii_error(&visible_to_other, StatusCode::NOT_FOUND);

    // DELETE: the attribute is soft-deleted and gone from the collection.
    let (status, _, _) = send(
        &server.app,
        Method::DELETE,
        &format!("{objects_url}{wanted}/"),
        &[("authorization", &server.admin.key), ("accept", TAXII)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let gone = get(&server.admin, &format!("{objects_url}{wanted}/")).await;
    assert_taxii_error(&gone, StatusCode::NOT_FOUND);
    let (_, _, identities) = get(
        &server.admin,
        &format!("{objects_url}?match[type]=identity"),
    )
    .await;
    let identity = ids_of(&identities).remove(0);
    let refused = send(
        &server.app,
        Method::DELETE,
        &format!("{objects_url}{identity}/"),
        &[("authorization", &server.admin.key), ("accept", TAXII)],
        None,
    )
    .await;
    assert_taxii_error(&refused, StatusCode::FORBIDDEN);

    // Every write is in the audit log, as the MISP API's are: the first POST added the
    // event, the newer version edited it, the DELETE soft-deleted the attribute; the
    // repeated and the older envelope changed nothing and left no entry.
    let mut entries = server
        .store
        .list_audit_entries(&kizuna_store::AuditFilter::default(), 1000, 0)
        .await
        .unwrap();
    entries.reverse();
    let taxii_writes: Vec<(String, String)> = entries
        .iter()
        .filter(|listed| listed.entry.change.contains("TAXII 2.1"))
        .map(|listed| (listed.entry.action.clone(), listed.entry.model.clone()))
        .collect();
    let expected: Vec<(String, String)> = [
        ("add", "Event"),
        ("edit", "Event"),
        ("soft_delete", "Attribute"),
    ]
    .iter()
    .map(|(action, model)| (action.to_string(), model.to_string()))
    .collect();
    assert_eq!(taxii_writes, expected);
    let event_ids: HashSet<i64> = entries
        .iter()
        .filter(|listed| listed.entry.change.contains("TAXII 2.1"))
        .map(|listed| listed.entry.event_id)
        .collect();
    assert_eq!(event_ids.len(), 1);
    assert!(!event_ids.contains(&0));
}

#[tokio::test]
async fn the_taxii_20_root_serves_bundles_paged_by_range() {
    let server = Server::start().await;
    let id = add_collection(&server, collection("Feed", true, "")).await;
    post(
        &server.admin,
        &format!("/taxii2/root/collections/{id}/objects/"),
        &json!({ "objects": indicators(5, 3) }),
    )
    .await;
    let taxii_20 = "application/vnd.oasis.taxii+json; version=2.0";
    let stix_20 = "application/vnd.oasis.stix+json; version=2.0";
    let key = server.admin.key.clone();
    let (status, headers, root) = send(
        &server.app,
        Method::GET,
        "/taxii/",
        &[("authorization", &key), ("accept", taxii_20)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type(&headers), taxii_20);
    assert_eq!(root["default"], format!("{BASE_URL}/taxii/root/"));
    let (_, _, collections) = send(
        &server.app,
        Method::GET,
        "/taxii/root/collections/",
        &[("authorization", &key), ("accept", taxii_20)],
        None,
    )
    .await;
    assert_eq!(
        collections["collections"][0]["media_types"],
        json!([stix_20])
    );

    let url = format!("/taxii/root/collections/{id}/objects/");
    let (status, headers, bundle) = send(
        &server.app,
        Method::GET,
        &url,
        &[("authorization", &key), ("accept", stix_20)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type(&headers), stix_20);
    assert_eq!(bundle["type"], "bundle");
    assert_eq!(bundle["spec_version"], "2.0");
    let objects = objects_of(&bundle);
    assert!(objects.iter().all(|o| o.get("spec_version").is_none()));
    assert!(
        objects
            .iter()
            .all(|o| o["type"] != "ipv4-addr" && o["type"] != "grouping")
    );
    let indicators: Vec<&Value> = objects
        .iter()
        .filter(|o| o["type"] == "indicator")
        .collect();
    assert_eq!(indicators.len(), 5);
    assert!(
        indicators
            .iter()
            .all(|i| i["labels"].is_array() && i.get("pattern_type").is_none())
    );
    let observed = objects
        .iter()
        .find(|o| o["type"] == "observed-data")
        .unwrap();
    let embedded: Vec<&Value> = observed["objects"].as_object().unwrap().values().collect();
    assert!(
        embedded.iter().any(|o| o["type"] == "ipv4-addr"),
        "{observed:#}"
    );
    assert!(embedded.iter().all(|o| o.get("id").is_none()));

    let total = objects.len();
    let (status, headers, first_two) = send(
        &server.app,
        Method::GET,
        &url,
        &[
            ("authorization", &key),
            ("accept", stix_20),
            ("range", "items 0-1"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        headers["content-range"],
        format!("items 0-1/{total}").as_str()
    );
    assert_eq!(objects_of(&first_two).len(), 2);
    let past = send(
        &server.app,
        Method::GET,
        &url,
        &[
            ("authorization", &key),
            ("accept", stix_20),
            ("range", &format!("items {total}-{}", total + 5)),
        ],
        None,
    )
    .await;
    assert_eq!(past.0, StatusCode::RANGE_NOT_SATISFIABLE);
    let (status, _, manifest) = send(
        &server.app,
        Method::GET,
        &format!("/taxii/root/collections/{id}/manifest/"),
        &[("authorization", &key), ("accept", taxii_20)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(objects_of(&manifest).len(), total);
    assert_eq!(manifest["objects"][0]["media_types"], json!([stix_20]));
    let post_20 = send(
        &server.app,
        Method::POST,
        &url,
        &[("authorization", &key)],
        Some("{}".into()),
    )
    .await;
    assert_eq!(post_20.0, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn administrators_manage_collections_through_the_api() {
    let server = Server::start().await;
    let (status, _, added) = server
        .post(
            "/taxii_collections/add",
            json!({"TaxiiCollection": {
                "title": "Clear indicators", "alias": "clear", "writable": true,
                "filter": {"tags": ["tlp:clear"], "to_ids": true}, "read_orgs": [1],
                "distribution": 1,
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added:#}");
    let collection = &added["TaxiiCollection"];
    let id = collection["id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert_eq!(collection["filter"]["to_ids"], true);
    assert_eq!(collection["read_orgs"], json!([1]));
    assert_eq!(collection["write_orgs"], json!([]));

    let (_, _, index) = server.get("/taxii_collections/index").await;
    assert_eq!(index.as_array().unwrap().len(), 1);
    let (_, _, viewed) = server.get(&format!("/taxii_collections/view/{id}")).await;
    assert_eq!(viewed, added);
    let (status, _, edited) = server
        .post(
            &format!("/taxii_collections/edit/{id}"),
            json!({"title": "Renamed", "writable": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited:#}");
    assert_eq!(edited["TaxiiCollection"]["title"], "Renamed");
    assert_eq!(edited["TaxiiCollection"]["alias"], "clear");
    let listed = get(&server.admin, "/taxii2/root/collections/clear/").await;
    assert_eq!(
        (listed.2["title"].clone(), listed.2["can_write"].clone()),
        (json!("Renamed"), json!(false))
    );

    for (body, field) in [
        (json!({"title": ""}), "title"),
        (
            json!({"title": "x", "filter": {"published": "sometimes"}, "alias": "a b"}),
            "alias",
        ),
        (json!({"title": "x", "distribution": 9}), "distribution"),
        (
            json!({"title": "x", "distribution": 4, "sharing_group_id": 999}),
            "sharing_group_id",
        ),
        (json!({"title": "x", "read_orgs": [12345]}), "read_orgs"),
        (json!({"title": "x", "alias": "clear"}), "alias"),
        (json!({"title": "x", "filter": "not json"}), "filter"),
    ] {
        let (status, _, refused) = server.post("/taxii_collections/add", body.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}: {refused:#}");
        assert!(
            refused["errors"].get(field).is_some(),
            "{body}: {refused:#}"
        );
    }
    let user = server.user_in_new_org("USERS", ROLE_USER).await;
    let (status, _, _) = user.get("/taxii_collections/index").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = server
        .post(&format!("/taxii_collections/delete/{id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let gone = get(&server.admin, &format!("/taxii2/root/collections/{id}/")).await;
    assert_taxii_error(&gone, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_single_object_envelope_posted_again_newer_replaces_the_served_version() {
    // Only `modified` changes: the new version must still be the one served.
    let server = Server::start().await;
    let id = add_collection(&server, collection("Feed", true, "")).await;
    let objects_url = format!("/taxii2/root/collections/{id}/objects/");
    // As python-stix2 makes them: domain patterns, an hour ago, microseconds.
    let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let stamp = |moment: time::OffsetDateTime| {
        moment
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let mut old = indicator("203.0.113.50", &stamp(hour_ago));
    old["created"] = json!(stamp(hour_ago));
    old["pattern"] = json!("[domain-name:value = 'revised.example']");
    let wanted = old["id"].as_str().unwrap().to_string();
    let (_, _, first) = post(
        &server.admin,
        &objects_url,
        &json!({ "objects": [old.clone()] }),
    )
    .await;
    assert_eq!(first["success_count"], 1, "{first:#}");
    let mut newer = old.clone();
    let newer_stamp = stamp(hour_ago + time::Duration::seconds(30));
    newer["modified"] = json!(newer_stamp);
    let (_, _, status) = post(&server.admin, &objects_url, &json!({ "objects": [newer] })).await;
    assert_eq!(status["success_count"], 1, "{status:#}");
    let (_, _, served) = get(&server.admin, &format!("{objects_url}{wanted}/")).await;
    let served_at = served["objects"][0]["modified"].as_str().unwrap();
    assert_eq!(served_at[..19], newer_stamp[..19], "{served:#}");
}

#[tokio::test]
async fn an_envelope_mixing_stored_and_new_objects_adds_the_new_ones_once() {
    let server = Server::start().await;
    let id = add_collection(&server, collection("Feed", true, "")).await;
    let objects_url = format!("/taxii2/root/collections/{id}/objects/");
    let stored = indicators(3, 7);
    let (_, _, first) = post(&server.admin, &objects_url, &json!({ "objects": stored })).await;
    assert_eq!(first["success_count"], 3, "{first:#}");

    // One of them again, unchanged, one newer, between two new ones: the envelope is a new
    // event, but its stored objects stay where they are.
    let mut newer = stored[1].clone();
    newer["modified"] = json!("2026-02-01T00:00:00.000Z");
    newer["pattern"] = json!("[ipv4-addr:value = '10.7.9.9']");
    let fresh = indicators(2, 8);
    let envelope =
        json!({ "objects": [fresh[0].clone(), stored[0].clone(), newer, fresh[1].clone()] });
    let (_, _, mixed) = post(&server.admin, &objects_url, &envelope).await;
    assert_eq!(
        (
            mixed["success_count"].clone(),
            mixed["failure_count"].clone()
        ),
        (json!(4), json!(0)),
        "{mixed:#}"
    );

    let (_, _, listing) = get(
        &server.admin,
        &format!("{objects_url}?match[type]=indicator"),
    )
    .await;
    let mut served = ids_of(&listing);
    served.sort();
    let mut expected: Vec<String> = stored
        .iter()
        .chain(&fresh)
        .map(|object| object["id"].as_str().unwrap().to_string())
        .collect();
    expected.sort();
    assert_eq!(served, expected, "{listing:#}");
    let updated = objects_of(&listing)
        .into_iter()
        .find(|object| object["id"] == stored[1]["id"])
        .unwrap();
    assert_eq!(updated["pattern"], "[ipv4-addr:value = '10.7.9.9']");
    assert_eq!(updated["modified"], "2026-02-01T00:00:00.000Z");

    // The whole envelope again: nothing new, nothing duplicated.
    let (_, _, again) = post(&server.admin, &objects_url, &envelope).await;
    assert_eq!(again["success_count"], 4, "{again:#}");
    let (_, _, listing) = get(
        &server.admin,
        &format!("{objects_url}?match[type]=indicator"),
    )
    .await;
    assert_eq!(ids_of(&listing).len(), 5, "{listing:#}");
}

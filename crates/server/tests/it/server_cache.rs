//! MISP's server cache (`caching_enabled`, `/servers/cache/<id|all>`): the md5 of every value
//! a remote offers, read from its restSearch `cache` format over loopback TCP, then found by
//! `/feeds/searchCaches` among the feed hits, for users who see every feed.

use crate::support::{ROLE_USER, Server as Portal, TcpInstance, int, new_uuid};
use axum::http::StatusCode;
use kizuna_store::Server;
use serde_json::{Value, json};

async fn published_event(remote: &TcpInstance, values: &[&str]) -> String {
    let uuid = new_uuid();
    let attributes: Vec<Value> = values
        .iter()
        .map(|value| {
            json!({"type": "domain", "category": "Network activity", "value": value,
                   "to_ids": true})
        })
        .collect();
    let (status, _, body) = remote
        .admin
        .post(
            "/events/add",
            json!({"Event": {"uuid": uuid, "info": "cached", "distribution": 3,
                             "published": true, "Attribute": attributes}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    uuid
}

async fn add_server(portal: &Portal, name: &str, url: &str, key: &str, caching: bool) -> i64 {
    let mut server = Server::new(name, url, key, 1);
    server.caching_enabled = caching;
    server.timeout_seconds = 10;
    portal.store.create_server(&server).await.unwrap().id
}

async fn search_caches(client: &crate::support::Client, value: &str) -> Value {
    let (status, _, body) = client
        .post("/feeds/searchCaches", json!({"value": value}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    body
}

fn server_hits(answer: &Value) -> Vec<(String, Value)> {
    answer
        .as_array()
        .unwrap()
        .iter()
        .filter(|hit| hit["Feed"]["type"] == "MISP Server")
        .map(|hit| {
            (
                hit["Feed"]["name"].as_str().unwrap().to_string(),
                hit["Feed"]["uuid"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_servers_values_are_cached_and_found_among_feed_hits() {
    let remote = TcpInstance::start("REMOTE").await;
    let first = published_event(&remote, &["cached-one.example", "Shared.Example"]).await;
    let second = published_event(&remote, &["shared.example"]).await;
    let portal = Portal::start().await;
    let cached = add_server(&portal, "remote", &remote.url, &remote.admin.key, true).await;
    let not_cached = add_server(&portal, "quiet", &remote.url, &remote.admin.key, false).await;

    let (status, _, answer) = portal.post("/servers/cache/all", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    assert_eq!(answer["success"], true, "{answer:#}");
    let (_, _, view) = portal.get(&format!("/servers/view/{cached}")).await;
    assert!(int(&view["Server"]["cache_timestamp"]) > 0, "{view:#}");
    let (_, _, view) = portal.get(&format!("/servers/view/{not_cached}")).await;
    assert_eq!(view["Server"]["cache_timestamp"], false);

    assert_eq!(
        server_hits(&search_caches(&portal.admin, "cached-one.example").await),
        [("remote".to_string(), json!([first]))]
    );
    let shared = server_hits(&search_caches(&portal.admin, "shared.example").await);
    assert_eq!(shared.len(), 1, "{shared:?}");
    let mut uuids: Vec<String> = shared[0]
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|uuid| uuid.as_str().unwrap().to_string())
        .collect();
    uuids.sort();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(uuids, expected);
    assert!(server_hits(&search_caches(&portal.admin, "absent.example").await).is_empty());

    // A user of another organisation does not see what our sync users see remotely.
    let outsider = portal.user_in_new_org("OUTSIDERS", ROLE_USER).await;
    assert!(server_hits(&search_caches(&outsider, "cached-one.example").await).is_empty());
    let (status, _, _) = outsider.post("/servers/cache/all", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A remote that cannot be reached is named, and the cache it had stays.
    let mut broken = portal.store.server(cached).await.unwrap();
    broken.url = "http://127.0.0.1:1".into();
    portal.store.update_server(&broken).await.unwrap();
    let (status, _, answer) = portal
        .post(&format!("/servers/cache/{cached}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer:#}");
    assert!(
        answer["message"].as_str().unwrap().contains("server"),
        "{answer:#}"
    );
    assert_eq!(
        server_hits(&search_caches(&portal.admin, "cached-one.example").await).len(),
        1
    );
    let (status, _, _) = portal.post("/servers/cache/999", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting the server forgets its cache.
    let (status, _, _) = portal
        .post(&format!("/servers/delete/{cached}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(server_hits(&search_caches(&portal.admin, "cached-one.example").await).is_empty());
}

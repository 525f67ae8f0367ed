//! WarninglistsController (misp-reference §7.2) over the shipped lists.

use crate::support::{BASE_URL, Client, ROLE_USER, Server, assert_misp_error, int, text};
use axum::http::StatusCode;
use kizuna_server::{AppState, ServerSettings, app};
use serde_json::{Value, json};

/// Shipped list ids (directory names in order, counted from 1).
const EMPTY_HASHES: u32 = 6;
const RFC1918: u32 = 14;
const RFC1918_NAME: &str = "List of RFC 1918 CIDR blocks";
const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

async fn index(client: &Client) -> Vec<Value> {
    let (status, _, body) = client.get("/warninglists/index").await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    body["Warninglists"]
        .as_array()
        .unwrap_or_else(|| panic!("no Warninglists in {body:#}"))
        .iter()
        .map(|row| row["Warninglist"].clone())
        .collect()
}

async fn enabled(client: &Client, id: u32) -> bool {
    let (status, _, body) = client.get(&format!("/warninglists/view/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    body["Warninglist"]["enabled"].as_bool().unwrap()
}

#[tokio::test]
async fn index_lists_every_shipped_list_newest_first() {
    let server = Server::start().await;
    let lists = index(&server).await;
    assert_eq!(lists.len(), 21);
    let ids: Vec<i64> = lists.iter().map(|list| int(&list["id"])).collect();
    assert_eq!(ids, (1..=21).rev().collect::<Vec<_>>());
    let rfc1918 = lists
        .iter()
        .find(|list| list["name"] == RFC1918_NAME)
        .unwrap();
    let keys: Vec<&str> = rfc1918
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "name",
            "type",
            "description",
            "version",
            "enabled",
            "default",
            "category",
            "warninglist_entry_count",
            "valid_attributes"
        ]
    );
    assert_eq!(rfc1918["id"], json!(RFC1918.to_string()));
    assert_eq!(rfc1918["type"], "cidr");
    assert_eq!(rfc1918["version"], "5");
    assert_eq!(rfc1918["enabled"], true);
    assert_eq!(rfc1918["default"], true);
    assert_eq!(rfc1918["category"], "false_positive");
    assert_eq!(rfc1918["warninglist_entry_count"], "3");
    assert_eq!(
        rfc1918["valid_attributes"],
        "ip-src, ip-dst, domain|ip, ip-dst|port, ip-src|port"
    );

    // Filters: a word of the name or description, the exact type, the enabled state.
    let (_, _, body) = server.get("/warninglists/index/value:rfc").await;
    assert_eq!(body["Warninglists"].as_array().unwrap().len(), 7);
    let (_, _, body) = server
        .post("/warninglists/index", json!({"value": "regex"}))
        .await;
    assert_eq!(
        body["Warninglists"][0]["Warninglist"]["name"],
        "Common contact e-mail addresses"
    );
    let (_, _, body) = server.get("/warninglists/index/enabled:0").await;
    assert_eq!(body["Warninglists"], json!([]));
    let (status, _, body) = server.get("/warninglists/index/enabled:maybe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body:#}");
    assert_misp_error(&body, "/warninglists/index/enabled:maybe");

    // Any user may read them; the bare controller path is the index.
    let user = server.user_in_new_org("Reader", ROLE_USER).await;
    assert_eq!(index(&user).await.len(), 21);
    let (status, _, body) = user.get("/warninglists").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["Warninglists"].as_array().unwrap().len(), 21);
}

#[tokio::test]
async fn view_shows_entries_and_types() {
    let server = Server::start().await;
    let (status, _, body) = server.get(&format!("/warninglists/view/{RFC1918}")).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let list = &body["Warninglist"];
    assert_eq!(list["name"], RFC1918_NAME);
    assert!(list.get("warninglist_entry_count").is_none());
    let entries = list["WarninglistEntry"].as_array().unwrap();
    let values: Vec<&str> = entries.iter().map(|entry| text(&entry["value"])).collect();
    assert_eq!(values, ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]);
    assert_eq!(entries[0]["warninglist_id"], json!(RFC1918.to_string()));
    assert_eq!(entries[0]["comment"], Value::Null);
    assert!(int(&entries[1]["id"]) == int(&entries[0]["id"]) + 1);
    let types: Vec<&str> = list["WarninglistType"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| text(&row["type"]))
        .collect();
    assert_eq!(
        types,
        [
            "ip-src",
            "ip-dst",
            "domain|ip",
            "ip-dst|port",
            "ip-src|port"
        ]
    );

    // Entry ids are unique across lists.
    let (_, _, first) = server.get("/warninglists/view/1").await;
    let first_entries = first["Warninglist"]["WarninglistEntry"].as_array().unwrap();
    let last_of_first = int(&first_entries[first_entries.len() - 1]["id"]);
    let (_, _, second) = server.get("/warninglists/view/2").await;
    assert_eq!(
        int(&second["Warninglist"]["WarninglistEntry"][0]["id"]),
        last_of_first + 1
    );

    let (status, _, body) = server.get("/warninglists/view/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Warninglist not found.");
    assert_misp_error(&body, "/warninglists/view/999");
    let (status, _, body) = server.get("/warninglists/view/rfc1918").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Invalid ID.");
    let (status, _, _) = server.head(&format!("/warninglists/view/{RFC1918}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = server.head("/warninglists/view/999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, headers, body) = server
        .get(&format!("/warninglists/view/{RFC1918}.csv"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(body, json!("10.0.0.0/8\n172.16.0.0/12\n192.168.0.0/16"));

    let (status, _, body) = server.get(&format!("/warninglists/export/{RFC1918}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], RFC1918_NAME);
    assert_eq!(body["version"], 5);
    assert_eq!(body["list"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn toggle_enable_like_misp() {
    let server = Server::start().await;
    let toggle = |body: Value| {
        let client = server.admin.clone();
        async move {
            let (status, _, reply) = client.post("/warninglists/toggleEnable", body).await;
            assert_eq!(status, StatusCode::OK, "{reply:#}");
            reply
        }
    };
    // PyMISP's disable_warninglist / enable_warninglist.
    assert_eq!(
        toggle(json!({"id": [RFC1918], "enabled": false})).await,
        json!({"saved": true, "success": "1 warninglist(s) disabled"})
    );
    assert!(!enabled(&server, RFC1918).await);
    assert_eq!(
        toggle(json!({"id": [RFC1918.to_string()], "enabled": true})).await,
        json!({"saved": true, "success": "1 warninglist(s) enabled"})
    );
    // Without `enabled`, each list flips.
    assert_eq!(
        toggle(json!({"id": RFC1918})).await["success"],
        "1 warninglist(s) disabled"
    );
    assert_eq!(
        toggle(json!({"name": "%RFC%"})).await["success"],
        "5 warninglist(s) toggled"
    );
    assert!(enabled(&server, RFC1918).await);
    assert_eq!(
        toggle(json!({"name": ["%rfc%", "tlds as known by iana"], "enabled": 0})).await["success"],
        "6 warninglist(s) disabled"
    );
    let (_, _, body) = server.get("/warninglists/index/enabled:0").await;
    assert_eq!(body["Warninglists"].as_array().unwrap().len(), 6);
    assert_eq!(
        toggle(json!({"Warninglist": {"data": RFC1918}, "enabled": "1"})).await["success"],
        "1 warninglist(s) enabled"
    );

    // MISP answers 200 with saved: false for these.
    assert_eq!(
        toggle(json!({"name": "%no such list%"})).await,
        json!({"saved": false, "errors": "Warninglist not found."})
    );
    assert_eq!(
        toggle(json!({"id": [999]})).await,
        json!({"saved": false, "errors": "Warninglist(s) not found."})
    );
    assert_eq!(toggle(json!({})).await["saved"], false);
    let (status, _, body) = server.get("/warninglists/toggleEnable").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["saved"], false);

    // Only holders of perm_warninglist may switch lists.
    let user = server.user_in_new_org("Plain", ROLE_USER).await;
    let (status, _, body) = user
        .post("/warninglists/toggleEnable", json!({"id": [RFC1918]}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body:#}");
    assert_misp_error(&body, "/warninglists/toggleEnable");
}

#[tokio::test]
async fn switches_survive_a_restart() {
    let server = Server::start().await;
    let (_, _, reply) = server
        .post(
            "/warninglists/toggleEnable",
            json!({"id": [RFC1918, EMPTY_HASHES], "enabled": false}),
        )
        .await;
    assert_eq!(reply["success"], "2 warninglist(s) disabled");
    let (_, _, reply) = server
        .post(
            &format!("/warninglists/enableWarninglist/{EMPTY_HASHES}/1"),
            json!({}),
        )
        .await;
    assert_eq!(reply["message"], "Warninglist enabled");

    let restarted_state = AppState::new(
        server.store.clone(),
        ServerSettings {
            base_url: BASE_URL.to_string(),
            ..ServerSettings::default()
        },
    );
    let restarted = Client {
        app: app(restarted_state.clone()),
        key: server.admin.key.clone(),
    };
    assert!(!enabled(&restarted, RFC1918).await);
    assert!(enabled(&restarted, EMPTY_HASHES).await);

    // What restSearch consults sees the same switches.
    let set = restarted_state.warninglist_set().await.unwrap();
    assert!(
        set.check("ip-dst", "10.0.0.1")
            .iter()
            .all(|hit| hit.list_id != RFC1918)
    );
    let hits = set.check("md5", EMPTY_MD5);
    assert_eq!(hits.len(), 1);
    assert_eq!(
        hits[0].to_misp_warning(),
        json!({
            "match": EMPTY_MD5,
            "value": EMPTY_MD5,
            "warninglist_id": EMPTY_HASHES.to_string(),
            "warninglist_name": "List of known hashes for empty files",
            "warninglist_category": "false_positive",
        })
    );
}

#[tokio::test]
async fn enable_warninglist_by_path() {
    let server = Server::start().await;
    let path = format!("/warninglists/enableWarninglist/{RFC1918}");
    let (status, _, body) = server.post(&path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["message"], "Warninglist disabled");
    assert_eq!(body["id"], json!(RFC1918.to_string()));
    assert!(!enabled(&server, RFC1918).await);
    let (_, _, body) = server.post(&format!("{path}/1"), json!({})).await;
    assert_eq!(body["message"], "Warninglist enabled");
    assert!(enabled(&server, RFC1918).await);
    let (status, _, body) = server
        .post("/warninglists/enableWarninglist/999/1", json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Invalid Warninglist.");
    let user = server.user_in_new_org("Plain", ROLE_USER).await;
    let (status, _, _) = user.post(&format!("{path}/0"), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn check_value_reports_hits_per_value() {
    let server = Server::start().await;
    let user = server.user_in_new_org("Checker", ROLE_USER).await;
    // PyMISP's values_in_warninglist sends a JSON list.
    let (status, _, body) = user
        .post(
            "/warninglists/checkValue",
            json!([EMPTY_MD5, " 10.1.2.3 ", "8.8.8.8", "https://bit.ly/x"]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(
        body[EMPTY_MD5],
        json!([{"id": EMPTY_HASHES.to_string(), "name": "List of known hashes for empty files",
                "matched": EMPTY_MD5}])
    );
    let private: Vec<&str> = body["10.1.2.3"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| text(&hit["name"]))
        .collect();
    assert_eq!(private, [RFC1918_NAME, "List of RFC 5735 CIDR blocks"]);
    assert_eq!(body["10.1.2.3"][0]["matched"], "10.0.0.0/8");
    assert!(body.get("8.8.8.8").is_none());
    assert_eq!(body["https://bit.ly/x"].as_array().unwrap().len(), 2);

    // Other accepted shapes.
    for shape in [
        json!({"value": EMPTY_MD5}),
        json!({"Warninglist": [EMPTY_MD5]}),
        json!({"[]": [EMPTY_MD5]}),
        json!(EMPTY_MD5),
    ] {
        let (status, _, body) = user.post("/warninglists/checkValue", shape.clone()).await;
        assert_eq!(status, StatusCode::OK, "{shape}: {body:#}");
        assert_eq!(
            body[EMPTY_MD5][0]["name"], "List of known hashes for empty files",
            "{shape}"
        );
    }

    // No hit at all: MISP's empty array. Disabled lists are not consulted.
    let (_, _, body) = user
        .post("/warninglists/checkValue", json!(["8.8.8.8"]))
        .await;
    assert_eq!(body, json!([]));
    server
        .post(
            "/warninglists/toggleEnable",
            json!({"id": [EMPTY_HASHES], "enabled": false}),
        )
        .await;
    let (_, _, body) = user
        .post("/warninglists/checkValue", json!([EMPTY_MD5]))
        .await;
    assert_eq!(body, json!([]));

    let (status, _, body) = user.post_empty("/warninglists/checkValue").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "No valid data received.");
    let (status, _, body) = user
        .post("/warninglists/checkValue", json!([["nested"]]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_misp_error(&body, "/warninglists/checkValue");
    let (status, _, body) = user.get("/warninglists/checkValue").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&body["name"]).contains("API description"), "{body:#}");
}

#[tokio::test]
async fn update_and_edits() {
    let server = Server::start().await;
    let (status, _, body) = server.post_empty("/warninglists/update").await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["name"], "All warninglists are up to date already.");
    assert_eq!(body["saved"], true);
    let (status, _, _) = server.get("/warninglists/update").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let user = server.user_in_new_org("Plain", ROLE_USER).await;
    let (status, _, _) = user.post_empty("/warninglists/update").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    for path in [
        "/warninglists/add",
        "/warninglists/import",
        "/warninglists/edit/1",
    ] {
        let (status, _, body) = server.post(path, json!({"name": "x"})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_misp_error(&body, path);
    }
    let (status, _, _) = server.get("/warninglists/frobnicate").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_operators_directory_adds_and_replaces_lists() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let write = |slug: &str, json: Value| {
        std::fs::create_dir_all(dir.path().join(slug)).unwrap();
        std::fs::write(dir.path().join(slug).join("list.json"), json.to_string()).unwrap();
    };
    write(
        "rfc1918",
        json!({"name": RFC1918_NAME, "description": "10/8 only", "version": 6, "type": "cidr",
               "list": ["10.0.0.0/8"], "matching_attributes": ["ip-dst"]}),
    );
    write(
        "corp",
        json!({"name": "Corporate hosts", "description": "ours", "type": "hostname",
               "list": ["corp.example"], "matching_attributes": ["domain"],
               "category": "known"}),
    );
    let state = AppState::new(
        server.store.clone(),
        ServerSettings {
            base_url: BASE_URL.to_string(),
            ..ServerSettings::default()
        },
    )
    .with_warninglists_dir(dir.path())
    .unwrap();
    let client = Client {
        app: app(state),
        key: server.admin.key.clone(),
    };
    let lists = index(&client).await;
    assert_eq!(lists.len(), 22);
    assert_eq!(lists[0]["name"], "Corporate hosts");
    assert_eq!(lists[0]["default"], false);
    assert_eq!(lists[0]["category"], "known");
    let replaced = lists
        .iter()
        .find(|list| list["name"] == RFC1918_NAME)
        .unwrap();
    assert_eq!(replaced["id"], json!(RFC1918.to_string()));
    assert_eq!(replaced["version"], "6");
    let (_, _, body) = client
        .post(
            "/warninglists/checkValue",
            json!(["vpn.corp.example", "192.168.1.1"]),
        )
        .await;
    assert_eq!(body["vpn.corp.example"][0]["matched"], "corp.example");
    assert!(
        body["192.168.1.1"]
            .as_array()
            .unwrap()
            .iter()
            .all(|hit| hit["name"] != RFC1918_NAME)
    );

    write(
        "broken",
        json!({"name": "Broken", "description": "d", "type": "regex", "list": ["/(/"]}),
    );
    let error = AppState::new(
        server.store.clone(),
        ServerSettings {
            base_url: BASE_URL.to_string(),
            ..ServerSettings::default()
        },
    )
    .with_warninglists_dir(dir.path())
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("broken") && error.contains("entry 1"),
        "{error}"
    );
}

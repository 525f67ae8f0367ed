//! What PyMISP and MISP peers call first (misp-reference §4.1), and authentication (§0).

use crate::support::{Server, assert_misp_error, int, raw, text};
use axum::http::{Method, StatusCode};
use serde_json::json;

const AUTH_FAILED: &str = "Authentication failed.";

#[tokio::test]
async fn get_version_reports_a_2_5_version_and_the_callers_permissions() {
    let server = Server::start().await;
    let (status, headers, body) = server.get("/servers/getVersion").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(text(&body["version"]).starts_with("2.5."), "{body}");
    assert!(body["pymisp_recommended_version"].is_string());
    for flag in [
        "perm_sync",
        "perm_sighting",
        "perm_galaxy_editor",
        "perm_analyst_data",
    ] {
        assert_eq!(body[flag], json!(true), "{flag} of the site admin: {body}");
    }
    // A sync-capable caller learns the instance uuid.
    assert!(uuid::Uuid::parse_str(text(&body["uuid"])).is_ok(), "{body}");
    assert_eq!(body["request_encoding"], json!(["gzip"]));

    // Also with the `.json` suffix, and as HEAD.
    let (status, _, suffixed) = server.get("/servers/getVersion.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(suffixed["version"], body["version"]);
    let (status, _, empty) = server.head("/servers/getVersion").await;
    assert_eq!(status, StatusCode::OK);
    assert!(empty.is_null());
}

#[tokio::test]
async fn get_version_of_a_plain_user_has_no_sync_permission() {
    let server = Server::start().await;
    let user = server
        .user_in_new_org("OTHER", crate::support::ROLE_USER)
        .await;
    let (status, _, body) = user.get("/servers/getVersion").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["perm_sync"], json!(false));
    assert_eq!(body["perm_sighting"], json!(true));
    assert_eq!(body["uuid"], json!("-"), "only sync users see the uuid");
}

#[tokio::test]
async fn get_pymisp_version() {
    let server = Server::start().await;
    let (status, _, body) = server.get("/servers/getPyMISPVersion.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&body["version"]).starts_with("2.5."), "{body}");
}

#[tokio::test]
async fn users_view_me_has_user_role_settings_and_organisation() {
    let server = Server::start().await;
    for path in ["/users/view/me", "/users/view/me.json"] {
        let (status, _, body) = server.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let user = &body["User"];
        assert_eq!(user["email"], json!("admin@host.test"));
        assert!(int(&user["id"]) > 0);
        assert_eq!(user["role_id"], json!("1"));
        assert_eq!(user["disabled"], json!(false));
        assert_eq!(user["termsaccepted"], json!(true));
        assert!(
            user.get("authkey").is_none(),
            "the key is never shown: {user}"
        );
        let role = &body["Role"];
        assert_eq!(role["id"], json!("1"));
        assert_eq!(role["perm_site_admin"], json!(true));
        assert_eq!(role["perm_auth"], json!(true));
        assert_eq!(body["UserSetting"], json!([]));
        let org = &body["Organisation"];
        assert_eq!(org["name"], json!("HOST-ORG"));
        assert_eq!(org["local"], json!(true));
        assert_eq!(org["id"], user["org_id"]);
    }
    // One's own numeric id works, another's does not.
    let (_, _, me) = server.get("/users/view/me").await;
    let id = text(&me["User"]["id"]).to_string();
    let (status, _, _) = server.get(&format!("/users/view/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = server.get("/users/view/9999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_misp_error(&body, "/users/view/9999");
}

#[tokio::test]
async fn describe_types_lists_all_194_types() {
    let server = Server::start().await;
    let (status, _, body) = server.get("/attributes/describeTypes.json").await;
    assert_eq!(status, StatusCode::OK);
    let result = &body["result"];
    let types = result["types"].as_array().expect("types");
    assert_eq!(types.len(), 194);
    let defaults = result["sane_defaults"].as_object().expect("sane_defaults");
    assert_eq!(defaults.len(), 194);
    assert_eq!(
        defaults["ip-dst"],
        json!({"default_category": "Network activity", "to_ids": 1})
    );
    assert_eq!(defaults["comment"]["to_ids"], json!(0));
    let categories = result["categories"].as_array().expect("categories");
    assert_eq!(categories.len(), 16);
    let mappings = result["category_type_mappings"]
        .as_object()
        .expect("mappings");
    assert_eq!(mappings.len(), 16);
    assert!(
        mappings["Network activity"]
            .as_array()
            .unwrap()
            .contains(&json!("ip-dst"))
    );
    // Every mapped type is a known type.
    for (category, mapped) in mappings {
        for attr_type in mapped.as_array().unwrap() {
            assert!(types.contains(attr_type), "{category}: {attr_type}");
        }
    }
}

#[tokio::test]
async fn a_missing_key_is_refused() {
    let server = Server::start().await;
    let reply = raw(&server.app, Method::GET, "/servers/getVersion", &[], None).await;
    let (status, _, body) = reply;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_misp_error(&body, "/servers/getVersion");
    assert!(text(&body["message"]).starts_with(AUTH_FAILED), "{body}");
    assert!(text(&body["name"]).starts_with(AUTH_FAILED), "{body}");
}

#[tokio::test]
async fn malformed_and_unknown_keys_are_refused() {
    let server = Server::start().await;
    let unknown = "A".repeat(40);
    let bearer = format!("Bearer {}", server.key);
    for key in [
        "short",
        "!".repeat(40).as_str(),
        unknown.as_str(),
        bearer.as_str(),
    ] {
        let (status, _, body) = raw(
            &server.app,
            Method::GET,
            "/users/view/me",
            &[("authorization", key)],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "key {key:?}: {body}");
        assert!(text(&body["message"]).starts_with(AUTH_FAILED), "{body}");
        assert_misp_error(&body, "/users/view/me");
    }
}

#[tokio::test]
async fn keys_are_accepted_in_x_misp_auth_and_in_lists() {
    let server = Server::start().await;
    let (status, _, body) = raw(
        &server.app,
        Method::GET,
        "/users/view/me",
        &[("x-misp-auth", server.key.as_str())],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["User"]["email"], json!("admin@host.test"));

    // A comma-separated list: the first valid key wins; `Basic …` is skipped.
    let listed = format!("Basic dXNlcjpwdw==, {}, {}", "B".repeat(40), server.key);
    let (status, _, _) = raw(
        &server.app,
        Method::GET,
        "/users/view/me",
        &[("authorization", listed.as_str())],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_controllers_and_actions_are_404_in_misp_shape() {
    let server = Server::start().await;
    for path in [
        "/nothing/here",
        "/events/noSuchAction",
        "/servers/noSuchAction",
    ] {
        let (status, _, body) = server.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_misp_error(&body, path);
    }
}

//! Organisations, users, roles and API keys (MISP's Organisations, Users, Roles and
//! AuthKeys controllers): every endpoint, every escalation an organisation admin or a plain
//! user might try, and keys that are shown once and stored only as a digest.

use crate::support::{Client, Reply, assert_misp_error, assert_save_failed, int, text};
use axum::Router;
use axum::http::StatusCode;
use kizuna_server::{AppState, ServerSettings, app, bootstrap, keys};
use kizuna_store::Store;
use serde_json::{Value, json};
use sqlx::Connection;
use std::path::PathBuf;

/// A fresh instance whose database file the test may read directly.
struct Instance {
    admin: Client,
    store: Store,
    app: Router,
    dir: tempfile::TempDir,
}

impl std::ops::Deref for Instance {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.admin
    }
}

const STRONG_PASSWORD: &str = "Correct1Horse!Staple";

impl Instance {
    async fn start() -> Instance {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("k.db").display()))
            .await
            .expect("a fresh store");
        let key = bootstrap::create_first_admin(
            &store,
            "HOST-ORG",
            "admin@host.test",
            kizuna_server::now(),
        )
        .await
        .expect("the first admin");
        let app = app(AppState::new(store.clone(), ServerSettings::default()));
        Instance {
            admin: Client {
                app: app.clone(),
                key,
            },
            store,
            app,
            dir,
        }
    }

    fn client(&self, key: &str) -> Client {
        Client {
            app: self.app.clone(),
            key: key.to_string(),
        }
    }

    fn database(&self) -> PathBuf {
        self.dir.path().join("k.db")
    }

    /// One raw query's rows, as text columns.
    async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        use sqlx::Row;
        let mut connection =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", self.database().display()))
                .await
                .expect("a second connection");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(&mut connection)
            .await
            .expect("the query runs");
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|index| {
                        row.try_get::<String, _>(index)
                            .or_else(|_| row.try_get::<i64, _>(index).map(|n| n.to_string()))
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .collect()
    }

    /// Every byte the database keeps on disk (main file and write-ahead log).
    fn database_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).expect("the data directory") {
            let path = entry.expect("an entry").path();
            bytes.extend(std::fs::read(path).unwrap_or_default());
        }
        bytes
    }

    async fn add_org(&self, name: &str) -> i64 {
        let (status, _, body) = self
            .post(
                "/admin/organisations/add",
                json!({"Organisation": {"name": name}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        int(&body["Organisation"]["id"])
    }

    /// A new user through the API; returns (user id, their key).
    async fn add_user(&self, by: &Client, email: &str, org_id: i64, role_id: i64) -> (i64, Client) {
        let (status, _, body) = by
            .post(
                "/admin/users/add",
                json!({"User": {"email": email, "org_id": org_id.to_string(), "role_id": role_id}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        let key = text(&body["User"]["authkey"]).to_string();
        (int(&body["User"]["id"]), self.client(&key))
    }

    async fn user_count(&self) -> usize {
        self.store.list_users(None).await.unwrap().len()
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

fn assert_status(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.0, status, "{:#}", reply.2);
}

fn message(reply: &Reply) -> String {
    reply.2["message"].as_str().unwrap_or_default().to_string()
}

// ---------------------------------------------------------------------------------------
// Organisations
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn site_admins_add_edit_and_delete_organisations() {
    let k = Instance::start().await;
    let uuid = "5F0C7A1E-0000-4000-8000-00000000AB01";
    let (status, _, body) = k
        .post(
            "/admin/organisations/add",
            json!({"Organisation": {
                "name": "CIRCL-test", "uuid": uuid, "description": "A CSIRT",
                "type": "CSIRT", "nationality": "Luxembourg", "sector": "Government",
                "contacts": "info@circl.test", "restricted_to_domain": "circl.test\n example.lu ",
                "local": false
            }}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let org = &body["Organisation"];
    let id = int(&org["id"]);
    assert_eq!(org["uuid"], uuid.to_lowercase());
    assert_eq!(org["name"], "CIRCL-test");
    assert_eq!(org["type"], "CSIRT");
    assert_eq!(org["local"], false);
    assert_eq!(
        org["restricted_to_domain"],
        json!(["circl.test", "example.lu"])
    );
    assert_eq!(org["created_by"], "1");

    // A bare body, generated uuid, local by default.
    let (status, _, bare) = k
        .post("/admin/organisations/add", json!({"name": "Bare"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{bare:#}");
    assert_eq!(bare["Organisation"]["local"], true);
    assert_eq!(text(&bare["Organisation"]["uuid"]).len(), 36);

    // Duplicate name (any case), duplicate uuid, bad uuid, no name: MISP's failed save.
    for (sent, field) in [
        (json!({"name": "circl-TEST"}), "name"),
        (json!({"name": "Other", "uuid": uuid}), "uuid"),
        (json!({"name": "Other", "uuid": "not-a-uuid"}), "uuid"),
        (json!({"description": "nameless"}), "name"),
    ] {
        let reply = k
            .post("/admin/organisations/add", json!({"Organisation": sent}))
            .await;
        assert_save_failed(&reply, "/admin/organisations/add");
        assert!(
            reply.2["errors"].get(field).is_some(),
            "{field}: {:#}",
            reply.2
        );
    }

    // View by id, uuid and name; HEAD; index scopes and search.
    for key in [
        id.to_string(),
        uuid.to_lowercase(),
        "CIRCL-test".to_string(),
    ] {
        let (status, _, body) = k.get(&format!("/organisations/view/{key}")).await;
        assert_eq!(status, StatusCode::OK, "{key}: {body:#}");
        assert_eq!(int(&body["Organisation"]["id"]), id);
        assert_eq!(body["Organisation"]["user_count"], "0");
        assert_eq!(body["Organisation"]["created_by_email"], "admin@host.test");
    }
    assert_eq!(
        k.head(&format!("/organisations/view/{id}")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        k.head("/organisations/view/999").await.0,
        StatusCode::NOT_FOUND
    );
    let names = |body: &Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|row| text(&row["Organisation"]["name"]).to_string())
            .collect()
    };
    let (_, _, local) = k.get("/organisations/index").await;
    assert_eq!(names(&local), ["Bare", "HOST-ORG"]);
    let (_, _, external) = k.get("/organisations/index/scope:external").await;
    assert_eq!(names(&external), ["CIRCL-test"]);
    let (_, _, all) = k
        .get("/organisations/index/scope:all/searchall:luxem")
        .await;
    assert_eq!(names(&all), ["CIRCL-test"]);

    // Edit: only what is sent changes.
    let (status, _, edited) = k
        .post(
            &format!("/admin/organisations/edit/{id}"),
            json!({"Organisation": {"name": "CIRCL renamed", "sector": "Research"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited:#}");
    assert_eq!(edited["Organisation"]["name"], "CIRCL renamed");
    assert_eq!(edited["Organisation"]["sector"], "Research");
    assert_eq!(edited["Organisation"]["nationality"], "Luxembourg");
    let reply = k
        .post(
            &format!("/admin/organisations/edit/{id}"),
            json!({"name": "HOST-ORG"}),
        )
        .await;
    assert_save_failed(&reply, &format!("/admin/organisations/edit/{id}"));
    assert_status(
        &k.post("/admin/organisations/edit/999", json!({"name": "x"}))
            .await,
        StatusCode::NOT_FOUND,
    );

    // Delete: refused while the organisation has users, then allowed.
    let (user_id, _) = k.add_user(&k.admin, "member@circl.test", id, 3).await;
    let refused = k
        .post_empty(&format!("/admin/organisations/delete/{id}"))
        .await;
    assert_save_failed(&refused, &format!("/admin/organisations/delete/{id}"));
    assert!(message(&refused).contains("user"), "{}", message(&refused));
    assert_status(
        &k.post_empty(&format!("/admin/users/delete/{user_id}"))
            .await,
        StatusCode::OK,
    );
    let (status, _, deleted) = k
        .post_empty(&format!("/admin/organisations/delete/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted:#}");
    assert_eq!(deleted["message"], "Organisation deleted");
    assert_eq!(deleted["id"], id.to_string());
    assert_status(
        &k.get(&format!("/organisations/view/{id}")).await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &k.post_empty("/admin/organisations/delete/999").await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &k.get(&format!(
            "/admin/organisations/delete/{}",
            int(&bare["Organisation"]["id"])
        ))
        .await,
        StatusCode::METHOD_NOT_ALLOWED,
    );
}

#[tokio::test]
async fn organisations_owning_events_are_not_deleted() {
    let k = Instance::start().await;
    let org_id = k.add_org("Publisher Org").await;
    let (_, publisher) = k.add_user(&k.admin, "pub@pub.test", org_id, 4).await;
    let (status, _, event) = publisher
        .post(
            "/events/add",
            json!({"Event": {"info": "owned", "distribution": 0}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{event:#}");
    let user_id = k
        .store
        .user_by_email("pub@pub.test")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_status(
        &k.post_empty(&format!("/admin/users/delete/{user_id}"))
            .await,
        StatusCode::OK,
    );
    let refused = k
        .post_empty(&format!("/admin/organisations/delete/{org_id}"))
        .await;
    assert_save_failed(&refused, &format!("/admin/organisations/delete/{org_id}"));
    assert!(message(&refused).contains("event"), "{}", message(&refused));
    assert!(k.store.org(&kizuna_store::Key::Id(org_id)).await.is_ok());
}

#[tokio::test]
async fn only_site_admins_change_organisations_and_others_see_less() {
    let k = Instance::start().await;
    let org_id = k.add_org("Members").await;
    let (_, org_admin) = k.add_user(&k.admin, "boss@members.test", org_id, 2).await;
    let (_, user) = k.add_user(&k.admin, "user@members.test", org_id, 3).await;
    for client in [&org_admin, &user] {
        let reply = client
            .post("/admin/organisations/add", json!({"name": "Sneaky"}))
            .await;
        assert_status(&reply, StatusCode::FORBIDDEN);
        assert_misp_error(&reply.2, "/admin/organisations/add");
        assert_status(
            &client
                .post(
                    &format!("/admin/organisations/edit/{org_id}"),
                    json!({"name": "Mine"}),
                )
                .await,
            StatusCode::FORBIDDEN,
        );
        assert_status(
            &client.post_empty("/admin/organisations/delete/1").await,
            StatusCode::FORBIDDEN,
        );
    }
    assert!(k.store.org_by_name("Sneaky").await.unwrap().is_none());
    assert!(k.store.org_by_name("Members").await.unwrap().is_some());

    // Plain users do not learn who created an organisation; its own admins do.
    let (_, _, seen) = user.get(&format!("/organisations/view/{org_id}")).await;
    assert!(seen["Organisation"].get("created_by").is_none(), "{seen:#}");
    assert!(seen["Organisation"].get("created_by_email").is_none());
    let (_, _, seen) = org_admin
        .get(&format!("/organisations/view/{org_id}"))
        .await;
    assert_eq!(seen["Organisation"]["created_by_email"], "admin@host.test");
    // The index shows creators to site admins only (MISP's OrganisationsController::index).
    let (_, _, listed) = org_admin.get("/organisations/index").await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|row| row["Organisation"].get("created_by").is_none())
    );
    let (_, _, listed) = user.get("/organisations/index").await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|row| row["Organisation"].get("created_by").is_none())
    );
}

// ---------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn added_users_get_a_key_shown_once_and_stored_as_a_digest() {
    let k = Instance::start().await;
    let org_id = k.add_org("Analysts").await;
    let (status, _, body) = k
        .post(
            "/admin/users/add",
            json!({"User": {"email": "ana@analysts.test", "org_id": org_id.to_string(),
                            "role_id": "3", "password": STRONG_PASSWORD, "autoalert": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let user = &body["User"];
    let key = text(&user["authkey"]).to_string();
    assert!(keys::is_well_formed(&key), "{key}");
    assert_eq!(user["password"], "*****");
    assert_eq!(user["email"], "ana@analysts.test");
    assert_eq!(user["org_id"], org_id.to_string());
    assert_eq!(user["role_id"], "3");
    assert_eq!(user["autoalert"], true);
    assert_eq!(user["invited_by"], "1");
    let id = int(&user["id"]);

    // The key works at once and belongs to the new user.
    let ana = k.client(&key);
    let (status, _, me) = ana.get("/users/view/me").await;
    assert_eq!(status, StatusCode::OK, "{me:#}");
    assert_eq!(int(&me["User"]["id"]), id);
    assert_eq!(me["Role"]["name"], "User");
    assert_eq!(me["Organisation"]["name"], "Analysts");

    // Stored: the SHA-256 digest and four characters at each end; the password as argon2id.
    let stored = k
        .rows(&format!(
            "SELECT authkey_hash, authkey_start, authkey_end FROM auth_keys WHERE user_id = {id}"
        ))
        .await;
    assert_eq!(
        stored,
        [vec![
            keys::digest(&key),
            key[..4].to_string(),
            key[36..].to_string()
        ]]
    );
    let password = k
        .rows(&format!("SELECT password FROM users WHERE id = {id}"))
        .await;
    assert!(password[0][0].starts_with("$argon2id$"), "{password:?}");
    let bytes = k.database_bytes();
    assert!(!contains(&bytes, &key), "the clear key is in the database");
    assert!(
        !contains(&bytes, STRONG_PASSWORD),
        "the clear password is in the database"
    );

    // Never shown again.
    for path in [
        format!("/users/view/{id}"),
        format!("/admin/users/view/{id}"),
        "/admin/users/index".to_string(),
        "/auth_keys/index".to_string(),
    ] {
        let (status, _, body) = k.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body:#}");
        let dump = body.to_string();
        assert!(!dump.contains(&key), "{path} shows the key");
        assert!(
            !dump.contains(&keys::digest(&key)),
            "{path} shows the digest"
        );
        assert!(!dump.contains("argon2"), "{path} shows the password hash");
    }
}

#[tokio::test]
async fn bad_user_input_names_the_field_and_changes_nothing() {
    let k = Instance::start().await;
    let before = k.user_count().await;
    for (sent, field) in [
        (json!({"role_id": 3}), "email"),
        (json!({"email": "not an address", "role_id": 3}), "email"),
        (json!({"email": "admin@HOST.test", "role_id": 3}), "email"),
        (json!({"email": "a@b.test", "role_id": 99}), "role_id"),
        (
            json!({"email": "a@b.test", "role_id": 3, "org_id": 99}),
            "org_id",
        ),
        (
            json!({"email": "a@b.test", "password": "short1A"}),
            "password",
        ),
        (
            json!({"email": "a@b.test", "password": "alllowercase1"}),
            "password",
        ),
        (json!({"email": "a@b.test", "nids_sid": "many"}), "nids_sid"),
        (
            json!({"email": "a@b.test", "expiration": "someday"}),
            "expiration",
        ),
    ] {
        let reply = k
            .post("/admin/users/add", json!({"User": sent.clone()}))
            .await;
        assert_save_failed(&reply, "/admin/users/add");
        assert!(
            reply.2["errors"].get(field).is_some(),
            "{sent}: {:#}",
            reply.2
        );
        assert!(
            message(&reply).contains(field),
            "{sent}: {}",
            message(&reply)
        );
    }
    assert_eq!(k.user_count().await, before);
    assert!(
        k.rows("SELECT id FROM auth_keys").await.len() == 1,
        "no stray keys"
    );

    // Malformed JSON is a 400, a GET describes the endpoint.
    let (status, _, body) = crate::support::raw(
        &k.app,
        axum::http::Method::POST,
        "/admin/users/add",
        &[("authorization", k.key.as_str())],
        Some("{".into()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body:#}");
    let (status, _, described) = k.get("/admin/users/add").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(described["mandatory_fields"], json!(["email"]));
}

#[tokio::test]
async fn the_default_role_applies_when_none_is_given() {
    let k = Instance::start().await;
    let (status, _, body) = k
        .post("/admin/users/add", json!({"email": "plain@host.test"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["User"]["role_id"], "3", "MISP's stock default role");
    assert_eq!(body["User"]["org_id"], "1", "the admin's organisation");
    let (status, _, set) = k.post_empty("/admin/roles/set_default/4").await;
    assert_eq!(status, StatusCode::OK, "{set:#}");
    assert_eq!(set["message"], "Default role set.");
    let (_, _, body) = k
        .post("/admin/users/add", json!({"email": "pub@host.test"}))
        .await;
    assert_eq!(body["User"]["role_id"], "4");
}

#[tokio::test]
async fn admins_edit_view_list_and_delete_users() {
    let k = Instance::start().await;
    let org_id = k.add_org("Team").await;
    let (id, member) = k.add_user(&k.admin, "member@team.test", org_id, 3).await;

    let (status, _, edited) = k
        .post(
            &format!("/admin/users/edit/{id}"),
            json!({"User": {"email": "renamed@team.test", "role_id": "4", "disabled": false,
                            "termsaccepted": true, "gpgkey": "-----BEGIN PGP-----",
                            "password": STRONG_PASSWORD, "date_created": "1", "id": "999"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited:#}");
    assert_eq!(edited["User"]["id"], id.to_string());
    assert_eq!(edited["User"]["email"], "renamed@team.test");
    assert_eq!(edited["User"]["role_id"], "4");
    assert_eq!(edited["User"]["termsaccepted"], true);
    assert_eq!(edited["User"]["gpgkey"], "-----BEGIN PGP-----");
    assert_eq!(edited["User"]["password"], "*****");
    assert!(edited["User"]["last_pw_change"].is_string());
    // A masked password sent back changes nothing.
    let hash = k
        .rows(&format!("SELECT password FROM users WHERE id = {id}"))
        .await;
    assert_status(
        &k.post(
            &format!("/admin/users/edit/{id}"),
            json!({"password": "*****"}),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(
        k.rows(&format!("SELECT password FROM users WHERE id = {id}"))
            .await,
        hash
    );
    let reply = k
        .post(
            &format!("/admin/users/edit/{id}"),
            json!({"password": "weak"}),
        )
        .await;
    assert_save_failed(&reply, &format!("/admin/users/edit/{id}"));
    assert!(reply.2["errors"]["password"].is_array(), "{:#}", reply.2);

    // Views.
    let (status, _, viewed) = k.get(&format!("/admin/users/view/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{viewed:#}");
    assert_eq!(viewed["Role"]["name"], "Publisher");
    assert_eq!(viewed["Organisation"]["name"], "Team");
    assert!(viewed["UserSetting"].is_array());
    let (status, _, viewed) = k.get(&format!("/users/view/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(viewed["User"]["email"], "renamed@team.test");
    assert_status(&k.get("/users/view/999").await, StatusCode::NOT_FOUND);
    assert_status(&k.get("/admin/users/view/999").await, StatusCode::NOT_FOUND);
    assert_status(
        &k.post("/admin/users/edit/999", json!({"disabled": true}))
            .await,
        StatusCode::NOT_FOUND,
    );

    // Index filters as PyMISP sends them.
    let emails = |body: &Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|row| text(&row["User"]["email"]).to_string())
            .collect()
    };
    let (_, _, all) = k.get("/admin/users/index").await;
    assert_eq!(emails(&all), ["admin@host.test", "renamed@team.test"]);
    assert!(all[0]["User"].get("password").is_none());
    assert_eq!(all[1]["Role"]["name"], "Publisher");
    assert_eq!(all[1]["Organisation"]["name"], "Team");
    let (_, _, found) = k.get("/admin/users/index/value:renamed@team").await;
    assert_eq!(emails(&found), ["renamed@team.test"]);
    let (_, _, found) = k.get("/admin/users/index/value:publisher").await;
    assert_eq!(
        emails(&found),
        ["renamed@team.test"],
        "role names match too"
    );
    let (_, _, found) = k
        .get(&format!("/admin/users/index/value:team/searchorg:{org_id}"))
        .await;
    assert_eq!(emails(&found), ["renamed@team.test"]);
    let (_, _, found) = k.get("/admin/users/index/searchorg:1").await;
    assert_eq!(emails(&found), ["admin@host.test"]);
    let (_, _, found) = k.get("/admin/users/index/searchorg:!1").await;
    assert_eq!(emails(&found), ["renamed@team.test"]);

    // Disabling stops the key; deleting removes the user and their keys.
    assert_status(
        &k.post(
            &format!("/admin/users/edit/{id}"),
            json!({"disabled": true}),
        )
        .await,
        StatusCode::OK,
    );
    assert_status(&member.get("/users/view/me").await, StatusCode::FORBIDDEN);
    assert_status(
        &k.post(&format!("/admin/users/edit/{id}"), json!({"disabled": "0"}))
            .await,
        StatusCode::OK,
    );
    assert_status(&member.get("/users/view/me").await, StatusCode::OK);
    let (status, _, deleted) = k.post_empty(&format!("/admin/users/delete/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{deleted:#}");
    assert_eq!(deleted["message"], "User deleted.");
    assert_eq!(deleted["saved"], true);
    assert_status(&member.get("/users/view/me").await, StatusCode::FORBIDDEN);
    assert!(
        k.rows(&format!("SELECT id FROM auth_keys WHERE user_id = {id}"))
            .await
            .is_empty()
    );
    assert_status(
        &k.post_empty(&format!("/admin/users/delete/{id}")).await,
        StatusCode::NOT_FOUND,
    );

    // Nobody deletes themselves.
    let reply = k.post_empty("/admin/users/delete/1").await;
    assert_status(&reply, StatusCode::FORBIDDEN);
    assert!(k.store.user(1).await.is_ok());
}

#[tokio::test]
async fn organisation_admins_cannot_escalate() {
    let k = Instance::start().await;
    let org_id = k.add_org("Branch").await;
    let other_org = k.add_org("Elsewhere").await;
    let (admin_id, org_admin) = k.add_user(&k.admin, "boss@branch.test", org_id, 2).await;
    let (stranger_id, _) = k
        .add_user(&k.admin, "someone@elsewhere.test", other_org, 3)
        .await;
    let (site_admin_id, _) = k.add_user(&k.admin, "root@branch.test", org_id, 1).await;
    // A custom role granting more than Org Admin has (perm_sync aside): perm_regexp_access
    // would be reserved anyway, so grant perm_site_admin-free extras instead.
    let (status, _, custom) = k
        .post("/admin/roles/add", json!({"Role": {"name": "Warninglist keeper", "perm_auth": true, "perm_warninglist": true}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{custom:#}");
    let custom_role = int(&custom["Role"]["id"]);
    let before = k.user_count().await;

    for (role_id, why) in [
        (1, "site admin"),
        (5, "sync user"),
        (custom_role, "perm_warninglist"),
    ] {
        let reply = org_admin
            .post(
                "/admin/users/add",
                json!({"User": {"email": format!("new{role_id}@branch.test"), "role_id": role_id}}),
            )
            .await;
        assert_status(&reply, StatusCode::FORBIDDEN);
        assert_misp_error(&reply.2, "/admin/users/add");
        if role_id == custom_role {
            assert!(message(&reply).contains(why), "{}", message(&reply));
        }
    }
    let reply = org_admin
        .post(
            "/admin/users/add",
            json!({"User": {"email": "new@elsewhere.test", "org_id": other_org, "role_id": 3}}),
        )
        .await;
    assert_status(&reply, StatusCode::FORBIDDEN);
    assert_eq!(k.user_count().await, before, "nothing was created");

    // What an organisation admin may do: users of their own organisation.
    let (status, _, created) = org_admin
        .post(
            "/admin/users/add",
            json!({"email": "helper@branch.test", "role_id": 4}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created:#}");
    assert_eq!(created["User"]["org_id"], org_id.to_string());
    let helper = int(&created["User"]["id"]);

    // Raising a user to site admin, moving them away: refused, unchanged.
    let reply = org_admin
        .post(
            &format!("/admin/users/edit/{helper}"),
            json!({"role_id": 1}),
        )
        .await;
    assert_status(&reply, StatusCode::FORBIDDEN);
    let reply = org_admin
        .post(
            &format!("/admin/users/edit/{helper}"),
            json!({"org_id": other_org}),
        )
        .await;
    assert_status(&reply, StatusCode::FORBIDDEN);
    let reply = org_admin
        .post(
            &format!("/admin/users/edit/{admin_id}"),
            json!({"role_id": 1}),
        )
        .await;
    assert_status(&reply, StatusCode::FORBIDDEN);
    let helper_now = k.store.user(helper).await.unwrap();
    assert_eq!((helper_now.role_id, helper_now.org_id), (4, org_id));
    assert_eq!(k.store.user(admin_id).await.unwrap().role_id, 2);
    // Keeping the role the user has is fine, as is an unchanged organisation.
    let (status, _, kept) = org_admin
        .post(
            &format!("/admin/users/edit/{helper}"),
            json!({"role_id": 4, "org_id": org_id, "autoalert": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{kept:#}");

    // Users out of reach look missing: another organisation's, and site admins for changes.
    for path in [
        format!("/admin/users/view/{stranger_id}"),
        format!("/users/view/{stranger_id}"),
    ] {
        assert_status(&org_admin.get(&path).await, StatusCode::NOT_FOUND);
    }
    assert_status(
        &org_admin
            .post(
                &format!("/admin/users/edit/{stranger_id}"),
                json!({"disabled": true}),
            )
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &org_admin
            .post_empty(&format!("/admin/users/delete/{stranger_id}"))
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &org_admin
            .post(
                &format!("/admin/users/edit/{site_admin_id}"),
                json!({"disabled": true}),
            )
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &org_admin
            .post_empty(&format!("/admin/users/delete/{site_admin_id}"))
            .await,
        StatusCode::NOT_FOUND,
    );
    assert!(!k.store.user(stranger_id).await.unwrap().disabled);
    assert!(!k.store.user(site_admin_id).await.unwrap().disabled);
    // The index shows their own organisation only, whatever the filter.
    let (_, _, listed) = org_admin
        .get(&format!("/admin/users/index/searchorg:{other_org}"))
        .await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|row| row["User"]["org_id"].as_str() == Some(org_id.to_string().as_str())),
        "{listed:#}"
    );
    assert_status(
        &org_admin
            .post_empty(&format!("/admin/users/delete/{helper}"))
            .await,
        StatusCode::OK,
    );
}

#[tokio::test]
async fn users_edit_their_own_profile_only() {
    let k = Instance::start().await;
    let org_id = k.add_org("Self").await;
    let (id, user) = k.add_user(&k.admin, "me@self.test", org_id, 3).await;
    let (other_id, _) = k.add_user(&k.admin, "other@self.test", org_id, 3).await;

    let (status, _, edited) = user
        .post(
            &format!("/users/edit/{id}"),
            json!({"User": {"email": "me2@self.test", "autoalert": true,
            "nids_sid": 5_000_000, "role_id": "3", "org_id": org_id, "termsaccepted": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited:#}");
    assert_eq!(edited["User"]["email"], "me2@self.test");
    assert_eq!(edited["User"]["autoalert"], true);
    assert_eq!(edited["User"]["nids_sid"], "5000000");
    assert_eq!(
        edited["User"]["termsaccepted"], false,
        "not a self-service field"
    );
    assert_eq!(edited["Role"]["name"], "User");

    // Raising one's own role, moving organisation, editing someone else: refused, unchanged.
    for (path, body) in [
        (format!("/users/edit/{id}"), json!({"role_id": 1})),
        ("/users/edit".to_string(), json!({"org_id": 1})),
        (
            format!("/users/edit/{other_id}"),
            json!({"email": "hijack@self.test"}),
        ),
        (
            format!("/admin/users/edit/{other_id}"),
            json!({"email": "hijack@self.test"}),
        ),
        (format!("/admin/users/edit/{id}"), json!({"role_id": 1})),
        (
            "/admin/users/add".to_string(),
            json!({"email": "friend@self.test"}),
        ),
        (format!("/admin/users/delete/{other_id}"), Value::Null),
    ] {
        let reply = user.post(&path, body.clone()).await;
        assert_status(&reply, StatusCode::FORBIDDEN);
        assert_misp_error(&reply.2, &path);
    }
    assert_eq!(k.store.user(id).await.unwrap().role_id, 3);
    assert_eq!(
        k.store.user(other_id).await.unwrap().email,
        "other@self.test"
    );
    assert!(
        k.store
            .user_by_email("friend@self.test")
            .await
            .unwrap()
            .is_none()
    );
    // Others' accounts are not visible either.
    assert_status(
        &user.get(&format!("/users/view/{other_id}")).await,
        StatusCode::NOT_FOUND,
    );
    assert_status(&user.get("/admin/users/index").await, StatusCode::FORBIDDEN);

    // A password through edit or change_pw, under the policy.
    let reply = user
        .post("/users/edit", json!({"password": "weakpass"}))
        .await;
    assert_save_failed(&reply, "/users/edit");
    assert_status(
        &user
            .post("/users/edit", json!({"password": STRONG_PASSWORD}))
            .await,
        StatusCode::OK,
    );
    let same = user
        .post("/users/change_pw", json!({"password": STRONG_PASSWORD}))
        .await;
    assert_save_failed(&same, "/users/change_pw");
    let (status, _, changed) = user
        .post("/users/change_pw", json!({"password": "Another2Password"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{changed:#}");
    assert_eq!(changed["message"], "Password Changed.");
}

// ---------------------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn roles_are_listed_added_edited_and_deleted() {
    let k = Instance::start().await;
    let (status, _, roles) = k.get("/roles/index").await;
    assert_eq!(status, StatusCode::OK);
    let roles = roles.as_array().unwrap();
    assert_eq!(roles.len(), 6);
    let user_role = roles
        .iter()
        .map(|row| &row["Role"])
        .find(|role| role["id"] == "3")
        .unwrap();
    assert_eq!(user_role["name"], "User");
    assert_eq!(user_role["permission"], "2");
    assert_eq!(user_role["permission_description"], "manage_org");
    assert_eq!(user_role["default"], true);
    assert_eq!(user_role["default_role"], true);
    assert!(user_role.get("perm_full").is_none());
    let (_, _, one) = k.get("/roles/view/4").await;
    assert_eq!(one["Role"]["permission_description"], "publish");
    assert_status(&k.get("/roles/view/99").await, StatusCode::NOT_FOUND);

    // Added with a name only: every flag off.
    let (status, _, added) = k
        .post("/admin/roles/add", json!({"name": "testrole"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{added:#}");
    let role = &added["Role"];
    let id = int(&role["id"]);
    assert_eq!(role["perm_sighting"], false);
    assert_eq!(role["permission"], "0");
    // PyMISP sends the whole role back with one change.
    let mut sent = role.clone();
    sent["perm_sighting"] = json!(true);
    sent["max_execution_time"] = json!("1234");
    let (status, _, updated) = k
        .post(&format!("/admin/roles/edit/{id}"), json!({"Role": sent}))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated:#}");
    assert_eq!(updated["Role"]["perm_sighting"], true);
    assert_eq!(updated["Role"]["max_execution_time"], "1234");
    // `permission` sets the four event flags.
    let (_, _, leveled) = k
        .post(
            &format!("/admin/roles/edit/{id}"),
            json!({"permission": "publish"}),
        )
        .await;
    assert_eq!(leveled["Role"]["perm_publish"], true);
    assert_eq!(leveled["Role"]["perm_modify_org"], true);
    assert_eq!(leveled["Role"]["permission"], "3");

    // Bad input names the field.
    for (sent, field) in [
        (json!({"name": "user"}), "name"),
        (json!({"name": "x", "permission": 7}), "permission"),
        (json!({"name": "x", "perm_add": "perhaps"}), "perm_add"),
        (json!({"name": "x", "memory_limit": "lots"}), "memory_limit"),
        (
            json!({"name": "x", "max_execution_time": "long"}),
            "max_execution_time",
        ),
        (json!({"perm_add": true}), "name"),
    ] {
        let reply = k
            .post("/admin/roles/add", json!({"Role": sent.clone()}))
            .await;
        assert_save_failed(&reply, "/admin/roles/add");
        assert!(
            reply.2["errors"].get(field).is_some(),
            "{sent}: {:#}",
            reply.2
        );
    }

    // In use or default: not deleted.
    let refused = k.post_empty("/admin/roles/delete/1").await;
    assert_save_failed(&refused, "/admin/roles/delete/1");
    assert!(
        message(&refused).contains("assigned to users"),
        "{}",
        message(&refused)
    );
    let refused = k.post_empty("/admin/roles/delete/3").await;
    assert!(
        message(&refused).contains("default"),
        "{}",
        message(&refused)
    );
    let (status, _, deleted) = k.post_empty(&format!("/admin/roles/delete/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{deleted:#}");
    assert_eq!(deleted["message"], "Role deleted.");
    assert_status(
        &k.post_empty(&format!("/admin/roles/delete/{id}")).await,
        StatusCode::NOT_FOUND,
    );

    // set_default: POST only, known roles only.
    let (status, _, set) = k.post_empty("/admin/roles/set_default/6").await;
    assert_eq!(status, StatusCode::OK, "{set:#}");
    assert_eq!(set["message"], "Default role set.");
    assert_eq!(k.store.default_role().await.unwrap().unwrap().id, 6);
    assert_save_failed(
        &k.post_empty("/admin/roles/set_default/99").await,
        "/admin/roles/set_default/99",
    );
    assert_save_failed(
        &k.get("/admin/roles/set_default/3").await,
        "/admin/roles/set_default/3",
    );
    assert_eq!(k.store.default_role().await.unwrap().unwrap().id, 6);

    // Only site admins change roles; everyone lists them.
    let org_id = k.add_org("Roleless").await;
    let (_, org_admin) = k.add_user(&k.admin, "boss@roleless.test", org_id, 2).await;
    assert_status(&org_admin.get("/roles/index").await, StatusCode::OK);
    for (path, body) in [
        ("/admin/roles/add", json!({"name": "mine"})),
        ("/admin/roles/edit/3", json!({"perm_site_admin": true})),
        ("/admin/roles/delete/6", Value::Null),
        ("/admin/roles/set_default/2", Value::Null),
    ] {
        assert_status(&org_admin.post(path, body).await, StatusCode::FORBIDDEN);
    }
    assert!(!k.store.role(3).await.unwrap().permissions.perm_site_admin);
    assert!(k.store.role_by_name("mine").await.unwrap().is_none());
}

// ---------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn users_manage_several_keys_of_their_own() {
    let k = Instance::start().await;
    let org_id = k.add_org("Keys").await;
    let (id, user) = k.add_user(&k.admin, "keys@keys.test", org_id, 3).await;
    let (other_id, _) = k.add_user(&k.admin, "other@keys.test", org_id, 3).await;

    let (status, _, added) = user
        .post(&format!("/auth_keys/add/{id}"), json!({"AuthKey": {"comment": "laptop",
            "expiration": "2099-01-01", "allowed_ips": "10.0.0.0/8\n127.0.0.1", "read_only": false}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{added:#}");
    let key = &added["AuthKey"];
    let second = text(&key["authkey_raw"]).to_string();
    assert!(keys::is_well_formed(&second));
    assert_eq!(key["comment"], "laptop");
    assert_eq!(key["expiration"], "4070908800");
    assert_eq!(key["allowed_ips"], json!(["10.0.0.0/8", "127.0.0.1"]));
    assert_eq!(key["user_id"], id.to_string());
    assert_eq!(key["authkey_start"], &second[..4]);
    assert!(key.get("authkey").is_none());
    let key_id = int(&key["id"]);
    let stored = k
        .rows(&format!(
            "SELECT authkey_hash FROM auth_keys WHERE id = {key_id}"
        ))
        .await;
    assert_eq!(stored[0][0], keys::digest(&second));
    assert!(!contains(&k.database_bytes(), &second));

    // `me` and no argument mean the caller; PyMISP's get_new_authkey posts {}.
    let (status, _, third) = user.post("/auth_keys/add/me", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{third:#}");
    let third = text(&third["AuthKey"]["authkey_raw"]).to_string();
    let (_, _, mine) = k.client(&third).get("/users/view/me").await;
    assert_eq!(int(&mine["User"]["id"]), id);

    // The index lists the caller's keys only, never a key or digest.
    let (status, _, listed) = user.get("/auth_keys/index").await;
    assert_eq!(status, StatusCode::OK);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed
            .iter()
            .all(|row| row["User"]["email"] == "keys@keys.test")
    );
    let dump = Value::Array(listed.clone()).to_string();
    assert!(!dump.contains(&third) && !dump.contains(&keys::digest(&third)));
    let (status, _, viewed) = user.get(&format!("/auth_keys/view/{key_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(viewed["AuthKey"]["comment"], "laptop");

    // Edit: comment, expiry, read-only, addresses; bad addresses name the field.
    let (status, _, edited) = user
        .post(&format!("/auth_keys/edit/{key_id}"), json!({"AuthKey": {"comment": "old laptop", "read_only": true, "expiration": 0, "allowed_ips": []}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited:#}");
    assert_eq!(edited["AuthKey"]["comment"], "old laptop");
    assert_eq!(edited["AuthKey"]["read_only"], true);
    assert_eq!(edited["AuthKey"]["expiration"], "0");
    assert_eq!(edited["AuthKey"]["allowed_ips"], Value::Null);
    for (sent, field) in [
        (json!({"allowed_ips": ["10.0.0.0/40"]}), "allowed_ips"),
        (json!({"expiration": "whenever"}), "expiration"),
        (json!({"read_only": "maybe"}), "read_only"),
    ] {
        let reply = user
            .post(&format!("/auth_keys/edit/{key_id}"), sent.clone())
            .await;
        assert_save_failed(&reply, &format!("/auth_keys/edit/{key_id}"));
        assert!(
            reply.2["errors"].get(field).is_some(),
            "{sent}: {:#}",
            reply.2
        );
        let reply = user.post("/auth_keys/add", sent.clone()).await;
        assert_save_failed(&reply, "/auth_keys/add");
    }
    assert_eq!(
        k.store.list_auth_keys(Some(id)).await.unwrap().len(),
        3,
        "no key from the failed adds"
    );

    // Someone else's keys: neither created, seen, changed nor deleted.
    let other_key = k.store.list_auth_keys(Some(other_id)).await.unwrap()[0].id;
    assert_status(
        &user
            .post(&format!("/auth_keys/add/{other_id}"), json!({}))
            .await,
        StatusCode::FORBIDDEN,
    );
    assert_status(
        &user.get(&format!("/auth_keys/view/{other_key}")).await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &user
            .post(
                &format!("/auth_keys/edit/{other_key}"),
                json!({"comment": "x"}),
            )
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &user
            .post_empty(&format!("/auth_keys/delete/{other_key}"))
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_status(
        &user.get("/auth_keys/view/9999").await,
        StatusCode::NOT_FOUND,
    );
    assert_eq!(
        k.store.list_auth_keys(Some(other_id)).await.unwrap().len(),
        1
    );

    // Delete one key: the others keep working.
    let (status, _, deleted) = user
        .post_empty(&format!("/auth_keys/delete/{key_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted:#}");
    assert_eq!(deleted["message"], "AuthKey deleted.");
    assert_status(
        &k.client(&second).get("/users/view/me").await,
        StatusCode::FORBIDDEN,
    );
    assert_status(
        &k.client(&third).get("/users/view/me").await,
        StatusCode::OK,
    );
    assert_status(&user.get("/users/view/me").await, StatusCode::OK);
}

#[tokio::test]
async fn expired_keys_stop_working() {
    let k = Instance::start().await;
    let (status, _, added) = k
        .post(
            "/auth_keys/add/me",
            json!({"expiration": kizuna_server::now() - 10}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added:#}");
    let expired = text(&added["AuthKey"]["authkey_raw"]).to_string();
    assert_status(
        &k.client(&expired).get("/users/view/me").await,
        StatusCode::FORBIDDEN,
    );
    let (_, _, added) = k
        .post(
            "/auth_keys/add/me",
            json!({"expiration": kizuna_server::now() + 3600}),
        )
        .await;
    let fresh = text(&added["AuthKey"]["authkey_raw"]).to_string();
    assert_status(
        &k.client(&fresh).get("/users/view/me").await,
        StatusCode::OK,
    );
}

#[tokio::test]
async fn organisation_admins_manage_keys_of_their_plain_users_only() {
    let k = Instance::start().await;
    let org_id = k.add_org("Managed").await;
    let other_org = k.add_org("Unmanaged").await;
    let (_, org_admin) = k.add_user(&k.admin, "boss@managed.test", org_id, 2).await;
    let (member_id, _) = k.add_user(&k.admin, "member@managed.test", org_id, 3).await;
    let (peer_id, _) = k.add_user(&k.admin, "peer@managed.test", org_id, 2).await;
    let (root_id, _) = k.add_user(&k.admin, "root@managed.test", org_id, 1).await;
    let (stranger_id, _) = k.add_user(&k.admin, "x@unmanaged.test", other_org, 3).await;

    let (status, _, added) = org_admin
        .post(&format!("/auth_keys/add/{member_id}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{added:#}");
    for target in [peer_id, root_id, stranger_id] {
        let reply = org_admin
            .post(&format!("/auth_keys/add/{target}"), json!({}))
            .await;
        assert_status(&reply, StatusCode::FORBIDDEN);
        let reply = org_admin
            .post_empty(&format!("/users/resetauthkey/{target}"))
            .await;
        assert_status(&reply, StatusCode::FORBIDDEN);
    }
    assert_status(
        &org_admin.post("/auth_keys/add/9999", json!({})).await,
        StatusCode::NOT_FOUND,
    );
    let (_, _, listed) = org_admin.get("/auth_keys/index").await;
    let owners: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|row| text(&row["User"]["email"]))
        .collect();
    assert!(
        owners.iter().all(|email| email.ends_with("@managed.test")),
        "{owners:?}"
    );
    assert!(owners.contains(&"member@managed.test"));
    // A site admin's key is visible in the organisation's list but not deletable.
    let root_key = k.store.list_auth_keys(Some(root_id)).await.unwrap()[0].id;
    assert_status(
        &org_admin
            .post_empty(&format!("/auth_keys/delete/{root_key}"))
            .await,
        StatusCode::FORBIDDEN,
    );
    assert_eq!(
        k.store.list_auth_keys(Some(root_id)).await.unwrap().len(),
        1
    );
    let (_, _, everything) = k.get("/auth_keys/index").await;
    assert_eq!(
        everything.as_array().unwrap().len(),
        7,
        "site admins see every key"
    );
}

#[tokio::test]
async fn resetting_a_key_expires_the_old_one() {
    let k = Instance::start().await;
    let org_id = k.add_org("Sync").await;
    let (sync_id, sync_user) = k.add_user(&k.admin, "sync@sync.test", org_id, 5).await;
    let (_, _, spare) = sync_user
        .post("/auth_keys/add/me", json!({"comment": "spare"}))
        .await;
    let spare = k.client(text(&spare["AuthKey"]["authkey_raw"]));

    // `me`: only the key of the request is replaced, as MISP's sync expects.
    let (status, _, reset) = sync_user.post_empty("/users/resetauthkey/me").await;
    assert_eq!(status, StatusCode::OK, "{reset:#}");
    let new_key = text(&reset["message"])
        .strip_prefix("Authkey updated: ")
        .expect("MISP's message")
        .to_string();
    assert!(keys::is_well_formed(&new_key));
    assert_eq!(reset["id"], sync_id.to_string());
    assert_status(
        &sync_user.get("/users/view/me").await,
        StatusCode::FORBIDDEN,
    );
    assert_status(&spare.get("/users/view/me").await, StatusCode::OK);
    let renewed = k.client(&new_key);
    assert_status(&renewed.get("/users/view/me").await, StatusCode::OK);
    let keys_now = k.store.list_auth_keys(Some(sync_id)).await.unwrap();
    assert!(
        keys_now
            .last()
            .unwrap()
            .comment
            .starts_with("Created by resetting auth key")
    );

    // By id (an admin): every live key of the user expires.
    let (status, _, reset) = k
        .post_empty(&format!("/users/resetauthkey/{sync_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{reset:#}");
    let newest = text(&reset["message"])
        .strip_prefix("Authkey updated: ")
        .unwrap()
        .to_string();
    assert_status(&spare.get("/users/view/me").await, StatusCode::FORBIDDEN);
    assert_status(&renewed.get("/users/view/me").await, StatusCode::FORBIDDEN);
    assert_status(
        &k.client(&newest).get("/users/view/me").await,
        StatusCode::OK,
    );
    assert_status(
        &k.get(&format!("/users/resetauthkey/{sync_id}")).await,
        StatusCode::METHOD_NOT_ALLOWED,
    );
    assert_status(
        &k.post_empty("/users/resetauthkey/9999").await,
        StatusCode::NOT_FOUND,
    );
    // A plain user may not reset someone else's keys.
    let (_, plain) = k.add_user(&k.admin, "plain@sync.test", org_id, 3).await;
    assert_status(
        &plain
            .post_empty(&format!("/users/resetauthkey/{sync_id}"))
            .await,
        StatusCode::FORBIDDEN,
    );
}

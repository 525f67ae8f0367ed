//! The test server: the whole app over a fresh SQLite store in a temporary directory, called
//! in-process with `tower::ServiceExt::oneshot` (no socket).

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use kizuna_model::{Organisation, User};
use kizuna_server::{AppState, ServerSettings, app, bootstrap, keys};
use kizuna_store::{Key, Store};
use serde_json::{Value, json};
use std::path::PathBuf;
use tower::ServiceExt;

/// What every helper returns: status, headers, and the body as JSON (`Null` when empty,
/// a JSON string holding the raw text when it is not JSON).
pub type Reply = (StatusCode, HeaderMap, Value);

/// MISP's role ids (stock rows of the `roles` table).
pub const ROLE_USER: i64 = 3;

/// One API caller: the app and a key.
#[derive(Clone)]
pub struct Client {
    pub app: Router,
    pub key: String,
}

impl Client {
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    pub async fn head(&self, path: &str) -> Reply {
        self.send(Method::HEAD, path, None).await
    }

    /// A POST without any body.
    pub async fn post_empty(&self, path: &str) -> Reply {
        self.send(Method::POST, path, None).await
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|value| value.to_string());
        let headers = [("authorization", self.key.as_str())];
        raw(&self.app, method, path, &headers, body).await
    }
}

/// Sends one request with exactly `headers` (plus JSON Accept/Content-Type) and `body`.
pub async fn raw(
    app: &Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Reply {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("accept", "application/json")
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .expect("a valid request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a readable body");
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, headers, json)
}

/// The app over a fresh database, with its first site admin (`admin`).
pub struct Server {
    pub admin: Client,
    pub store: Store,
    pub app: Router,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Server {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.admin
    }
}

pub const BASE_URL: &str = "https://kizuna.test";

impl Server {
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let store = Store::connect(&url).await.expect("a fresh store");
        let key = bootstrap::create_first_admin(&store, "HOST-ORG", "admin@host.test", now())
            .await
            .expect("the first admin");
        let app = app(AppState::new(
            store.clone(),
            ServerSettings {
                base_url: BASE_URL.to_string(),
                ..ServerSettings::default()
            },
        ));
        Server {
            admin: Client {
                app: app.clone(),
                key,
            },
            store,
            app,
            _dir: dir,
        }
    }

    /// A caller with `key`.
    pub fn client(&self, key: &str) -> Client {
        Client {
            app: self.app.clone(),
            key: key.to_string(),
        }
    }

    /// A new organisation with one user of `role_id`, created directly in the store.
    pub async fn user_in_new_org(&self, org_name: &str, role_id: i64) -> Client {
        let now = now();
        let org = self
            .store
            .create_org(&Organisation {
                uuid: uuid::Uuid::new_v4().to_string(),
                name: org_name.to_string(),
                local: true,
                date_created: now,
                date_modified: now,
                ..Organisation::default()
            })
            .await
            .expect("a new organisation");
        let key = keys::generate_api_key();
        self.store
            .create_user(
                &User {
                    email: format!("user@{}.test", org_name.to_lowercase()),
                    org_id: org.id,
                    role_id,
                    termsaccepted: true,
                    date_created: now,
                    date_modified: now,
                    ..User::default()
                },
                Some(&keys::stored_form(&key)),
            )
            .await
            .expect("a new user");
        self.client(&key)
    }

    /// Adds `event` (the inner object) through `/events/add` and returns the stored event.
    pub async fn add_event(&self, event: Value) -> Value {
        let (status, _, body) = self.post("/events/add", json!({ "Event": event })).await;
        assert_eq!(status, StatusCode::OK, "events/add failed: {body:#}");
        body["Event"].clone()
    }

    /// `GET /events/view/<key>` → the inner event.
    pub async fn view_event(&self, key: &str) -> Value {
        let (status, _, body) = self.get(&format!("/events/view/{key}")).await;
        assert_eq!(status, StatusCode::OK, "events/view failed: {body:#}");
        body["Event"].clone()
    }
}

pub fn now() -> i64 {
    kizuna_server::now()
}

pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The text of a JSON string (panics with the value otherwise).
pub fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a JSON string, got {value}"))
}

/// A MISP integer: a JSON string of digits.
pub fn int(value: &Value) -> i64 {
    text(value)
        .parse()
        .unwrap_or_else(|_| panic!("expected a string-typed integer, got {value}"))
}

/// Asserts MISP's error shape: `name`, `message` and `url` (the request path).
pub fn assert_misp_error(body: &Value, url: &str) {
    assert!(body["name"].is_string(), "no name in {body:#}");
    assert!(body["message"].is_string(), "no message in {body:#}");
    assert_eq!(body["url"], json!(url), "url of {body:#}");
}

/// Asserts a failed save: 403, `saved: false`, an `errors` member, the error shape.
pub fn assert_save_failed(reply: &Reply, url: &str) {
    let (status, _, body) = reply;
    assert_eq!(*status, StatusCode::FORBIDDEN, "{body:#}");
    assert_eq!(body["saved"], json!(false), "{body:#}");
    assert!(body.get("errors").is_some(), "no errors in {body:#}");
    assert_misp_error(body, url);
}

/// The attribute of `event` (top level or in an object) with this uuid.
pub fn find_attribute<'a>(event: &'a Value, uuid: &str) -> Option<&'a Value> {
    let top = event["Attribute"].as_array().into_iter().flatten();
    let nested = event["Object"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|object| object["Attribute"].as_array().into_iter().flatten());
    top.chain(nested)
        .find(|attribute| attribute["uuid"] == uuid)
}

/// The names of the tags in a `Tag` list (empty when absent).
pub fn tag_names(item: &Value) -> Vec<String> {
    item["Tag"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|tag| text(&tag["name"]).to_string())
        .collect()
}

/// `crates/model/tests/data/misp-events`.
pub fn model_event_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../model/tests/data/misp-events")
}

/// One instance reachable over TCP on 127.0.0.1, plus an in-process admin client.
pub struct TcpInstance {
    pub url: String,
    pub store: Store,
    pub admin: Client,
    pub org_uuid: String,
    _dir: tempfile::TempDir,
}

impl TcpInstance {
    pub async fn start(org_name: &str) -> TcpInstance {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("k.db").display()))
            .await
            .unwrap();
        let key = bootstrap::create_first_admin(
            &store,
            org_name,
            &format!("admin@{}.test", org_name.to_lowercase()),
            now(),
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let url = format!("http://{address}");
        let state = AppState::new(
            store.clone(),
            ServerSettings {
                base_url: url.clone(),
                ..ServerSettings::default()
            },
        );
        let admin = Client {
            app: app(state.clone()),
            key,
        };
        tokio::spawn(kizuna_server::serve(
            listener,
            state,
            std::future::pending(),
        ));
        let host: i64 = store
            .setting("host_org_id")
            .await
            .unwrap()
            .unwrap()
            .parse()
            .unwrap();
        let org_uuid = store.org(&Key::Id(host)).await.unwrap().uuid;
        TcpInstance {
            url,
            store,
            admin,
            org_uuid,
            _dir: dir,
        }
    }
}

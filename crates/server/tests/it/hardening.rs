//! Hardening: failed-authentication throttling, read-only keys, keys limited to addresses,
//! the body size limit (also after decompression), security headers, and keys kept out of
//! the logs.

use crate::support::{BASE_URL, Reply, Server, assert_misp_error, now};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use kizuna_server::{AppState, ServerSettings, ThrottleSettings, app, bootstrap, keys};
use kizuna_store::{NewAuthKey, Store};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

/// The app over a fresh database with `settings`, and its first site admin's key.
pub struct Harness {
    pub app: Router,
    pub store: Store,
    pub admin_key: String,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start(settings: ServerSettings) -> Harness {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let store = Store::connect(&url).await.expect("a fresh store");
        let admin_key = bootstrap::create_first_admin(&store, "HOST-ORG", "admin@host.test", now())
            .await
            .expect("the first admin");
        let app = app(AppState::new(store.clone(), settings));
        Harness {
            app,
            store,
            admin_key,
            _dir: dir,
        }
    }

    /// A request as if from `from` (`None`: no connection information, as in-process).
    pub async fn send(
        &self,
        from: Option<&str>,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> Reply {
        let body = body.map(|value| value.to_string().into_bytes());
        send_raw(
            &self.app,
            from,
            method,
            path,
            &[("authorization", key)],
            body,
        )
        .await
    }

    /// Adds a key to the first admin and returns it.
    pub async fn admin_key_with(&self, limits: NewAuthKey) -> String {
        let admin = self
            .store
            .user_by_email("admin@host.test")
            .await
            .unwrap()
            .expect("the first admin");
        let key = keys::generate_api_key();
        let stored = NewAuthKey {
            read_only: limits.read_only,
            allowed_ips: limits.allowed_ips,
            ..keys::stored_form(&key)
        };
        self.store
            .create_auth_key(admin.id, &stored, now())
            .await
            .expect("a new key");
        key
    }
}

/// Sends one request with `headers` (plus JSON Accept/Content-Type), from `from` when given.
pub async fn send_raw(
    app: &Router,
    from: Option<&str>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Reply {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("accept", "application/json")
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    if let Some(from) = from {
        let address: SocketAddr = format!("{from}:40000")
            .parse()
            .or_else(|_| format!("[{from}]:40000").parse())
            .expect("an address");
        builder = builder.extension(ConnectInfo(address));
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

fn throttled(per_address: u32, per_key: u32, window: Duration) -> ServerSettings {
    ServerSettings {
        base_url: BASE_URL.to_string(),
        throttle: ThrottleSettings {
            failures_per_address: per_address,
            failures_per_key: per_key,
            window,
            ..ThrottleSettings::default()
        },
        ..ServerSettings::default()
    }
}

fn assert_throttled(reply: &Reply, url: &str) {
    let (status, headers, body) = reply;
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body:#}");
    let wait: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(wait >= 1, "Retry-After {wait}");
    assert_misp_error(body, url);
}

const VERSION: &str = "/servers/getVersion";

#[tokio::test]
async fn an_address_that_keeps_failing_gets_429_until_the_window_closes() {
    let harness = Harness::start(throttled(3, 0, Duration::from_secs(1))).await;
    for _ in 0..3 {
        let wrong = keys::generate_api_key();
        let (status, _, body) = harness
            .send(Some("192.0.2.1"), Method::GET, VERSION, &wrong, None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body:#}");
    }
    // Even the right key waits now from that address …
    let reply = harness
        .send(
            Some("192.0.2.1"),
            Method::GET,
            VERSION,
            &harness.admin_key,
            None,
        )
        .await;
    assert_throttled(&reply, VERSION);
    let (status, headers, body) = harness
        .send(
            Some("192.0.2.1"),
            Method::HEAD,
            VERSION,
            &harness.admin_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key(header::RETRY_AFTER) && body.is_null());
    // … while other addresses and in-process callers are served.
    let (status, _, _) = harness
        .send(
            Some("192.0.2.2"),
            Method::GET,
            VERSION,
            &harness.admin_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = harness
        .send(None, Method::GET, VERSION, &harness.admin_key, None)
        .await;
    assert_eq!(status, StatusCode::OK);

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, _, body) = harness
        .send(
            Some("192.0.2.1"),
            Method::GET,
            VERSION,
            &harness.admin_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "after the window: {body:#}");
}

#[tokio::test]
async fn a_key_that_keeps_failing_gets_429_from_every_address() {
    let harness = Harness::start(throttled(0, 2, Duration::from_secs(300))).await;
    let revoked = keys::generate_api_key();
    for from in ["192.0.2.1", "198.51.100.1"] {
        let (status, _, _) = harness
            .send(Some(from), Method::GET, VERSION, &revoked, None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    for from in [Some("203.0.113.9"), None] {
        let reply = harness
            .send(from, Method::POST, "/events/restSearch", &revoked, None)
            .await;
        assert_throttled(&reply, "/events/restSearch");
    }
    // Offering it next to a good key does not help.
    let both = format!("{revoked},{}", harness.admin_key);
    let reply = harness
        .send(Some("203.0.113.9"), Method::GET, VERSION, &both, None)
        .await;
    assert_throttled(&reply, VERSION);
    let (status, _, _) = harness
        .send(
            Some("192.0.2.1"),
            Method::GET,
            VERSION,
            &harness.admin_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "the address itself is not blocked");
}

#[tokio::test]
async fn a_throttled_request_never_reaches_the_database() {
    let harness = Harness::start(throttled(1, 0, Duration::from_secs(300))).await;
    let wrong = keys::generate_api_key();
    let (status, _, _) = harness
        .send(Some("192.0.2.1"), Method::GET, VERSION, &wrong, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    harness.store.close().await;
    let reply = harness
        .send(Some("192.0.2.1"), Method::GET, VERSION, &wrong, None)
        .await;
    assert_throttled(&reply, VERSION);
    let (status, _, _) = harness
        .send(Some("192.0.2.2"), Method::GET, VERSION, &wrong, None)
        .await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "unthrottled requests do reach the (closed) database"
    );
}

#[tokio::test]
async fn requests_without_a_key_are_not_counted() {
    let harness = Harness::start(throttled(1, 1, Duration::from_secs(300))).await;
    for _ in 0..3 {
        let (status, _, _) = send_raw(
            &harness.app,
            Some("192.0.2.1"),
            Method::GET,
            VERSION,
            &[],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _, _) = harness
        .send(
            Some("192.0.2.1"),
            Method::GET,
            VERSION,
            &harness.admin_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_read_only_key_searches_but_does_not_write() {
    let harness = Harness::start(throttled(10, 5, Duration::from_secs(300))).await;
    let read_only = harness
        .admin_key_with(NewAuthKey {
            read_only: true,
            ..NewAuthKey::default()
        })
        .await;
    let event = json!({"Event": {"info": "written with a full key"}});
    let (status, _, body) = harness
        .send(
            None,
            Method::POST,
            "/events/add",
            &harness.admin_key,
            Some(event),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    let event_id = body["Event"]["id"].as_str().unwrap().to_string();

    for (method, path, body) in [
        (
            Method::POST,
            "/events/add".to_string(),
            json!({"Event": {"info": "x"}}),
        ),
        (
            Method::POST,
            format!("/events/edit/{event_id}"),
            json!({"Event": {"info": "y"}}),
        ),
        (Method::DELETE, format!("/events/{event_id}"), Value::Null),
        (
            Method::POST,
            "/tags/add".to_string(),
            json!({"Tag": {"name": "t"}}),
        ),
        (
            Method::POST,
            format!("/events/publish/{event_id}"),
            Value::Null,
        ),
    ] {
        let body = (!body.is_null()).then_some(body);
        let (status, _, answer) = harness
            .send(None, method.clone(), &path, &read_only, body)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer:#}");
        assert_misp_error(&answer, &path);
    }
    let (status, _, found) = harness
        .send(
            None,
            Method::POST,
            "/events/restSearch",
            &read_only,
            Some(json!({"eventid": event_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found:#}");
    for path in [
        format!("/events/view/{event_id}"),
        "/events/index".into(),
        VERSION.into(),
    ] {
        let (status, _, answer) = harness
            .send(None, Method::GET, &path, &read_only, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer:#}");
    }
    // Refusals of a read-only key are not authentication failures.
    let (status, _, _) = harness
        .send(None, Method::GET, VERSION, &read_only, None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_key_with_allowed_ips_works_only_from_them() {
    let harness = Harness::start(throttled(10, 2, Duration::from_secs(300))).await;
    let limited = harness
        .admin_key_with(NewAuthKey {
            allowed_ips: vec!["192.0.2.0/24".into(), "2001:db8::/32".into()],
            ..NewAuthKey::default()
        })
        .await;
    for from in ["192.0.2.200", "2001:db8::5"] {
        let (status, _, body) = harness
            .send(Some(from), Method::GET, VERSION, &limited, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{from}: {body:#}");
    }
    for from in [Some("198.51.100.7"), Some("2001:db9::1"), None] {
        let (status, _, body) = harness
            .send(from, Method::GET, VERSION, &limited, None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{from:?}: {body:#}");
        assert_misp_error(&body, VERSION);
    }
    // Those refusals count against the addresses, never against the (good) key, so a copy
    // of the key used elsewhere cannot lock out its owner.
    let (status, _, body) = harness
        .send(Some("192.0.2.200"), Method::GET, VERSION, &limited, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
}

fn limited_body(limit: usize) -> ServerSettings {
    ServerSettings {
        max_body_bytes: limit,
        ..ServerSettings::default()
    }
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_in_misp_shape() {
    let harness = Harness::start(limited_body(4096)).await;
    let auth = [("authorization", harness.admin_key.as_str())];
    let big = json!({"Event": {"info": "x".repeat(5000)}})
        .to_string()
        .into_bytes();
    let (status, headers, body) = send_raw(
        &harness.app,
        None,
        Method::POST,
        "/events/add",
        &auth,
        Some(big),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body:#}");
    assert_misp_error(&body, "/events/add");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let small = json!({"Event": {"info": "small"}}).to_string().into_bytes();
    let (status, _, body) = send_raw(
        &harness.app,
        None,
        Method::POST,
        "/events/add",
        &auth,
        Some(small),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_the_limit() {
    let harness = Harness::start(limited_body(64 * 1024)).await;
    let headers = [
        ("authorization", harness.admin_key.as_str()),
        ("content-encoding", "gzip"),
    ];
    // A small compressed body that is below the limit once decompressed is served …
    let search = json!({"value": "198.51.100.1"}).to_string();
    let (status, _, body) = send_raw(
        &harness.app,
        None,
        Method::POST,
        "/attributes/restSearch",
        &headers,
        Some(gzip::compress_text(&search)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    // … while 1 MiB of repeated bytes, a few KiB compressed, is not.
    let bomb = gzip::bomb(1024 * 1024);
    assert!(bomb.len() < 64 * 1024, "the bomb is {} bytes", bomb.len());
    let (status, _, body) = send_raw(
        &harness.app,
        None,
        Method::POST,
        "/events/add",
        &headers,
        Some(bomb),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body:#}");
    assert_misp_error(&body, "/events/add");
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let server = Server::start().await;
    let wrong = keys::generate_api_key();
    let replies = [
        server.get(VERSION).await,
        server.client(&wrong).get(VERSION).await,
        server.get("/no/such/thing").await,
        server
            .post("/events/add", json!({"Event": {"info": "headers"}}))
            .await,
    ];
    for (status, headers, _) in &replies {
        let expect = |name: header::HeaderName, value: &str| {
            assert_eq!(
                headers.get(&name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{name} on a {status} answer"
            );
        };
        expect(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        expect(header::X_FRAME_OPTIONS, "DENY");
        expect(header::REFERRER_POLICY, "no-referrer");
        expect(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        );
        expect(header::CACHE_CONTROL, "no-store");
        // The test server's base URL is https.
        expect(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
    let plain = Harness::start(ServerSettings {
        base_url: "http://kizuna.test".into(),
        ..ServerSettings::default()
    })
    .await;
    let (status, headers, _) = plain
        .send(None, Method::GET, VERSION, &plain.admin_key, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
}

/// Everything recorded by tracing while it is the default subscriber, as text.
mod capture {
    use super::*;
    use std::fmt::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    #[derive(Clone, Default)]
    pub struct Capture {
        pub text: Arc<Mutex<String>>,
        next_id: Arc<AtomicU64>,
    }

    struct Writer<'a>(&'a mut String);

    impl Visit for Writer<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, "{}={value:?} ", field.name());
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }

        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut text = self.text.lock().unwrap();
            let _ = write!(text, "\nspan {} ", span.metadata().name());
            span.record(&mut Writer(&mut text));
            Id::from_u64(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
        }

        fn record(&self, _: &Id, values: &Record<'_>) {
            values.record(&mut Writer(&mut self.text.lock().unwrap()));
        }

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, event: &Event<'_>) {
            let mut text = self.text.lock().unwrap();
            let _ = write!(text, "\nevent {} ", event.metadata().target());
            event.record(&mut Writer(&mut text));
        }

        fn enter(&self, _: &Id) {}

        fn exit(&self, _: &Id) {}
    }
}

#[tokio::test]
async fn keys_never_reach_the_logs() {
    let capture = capture::Capture::default();
    let _default = tracing::subscriber::set_default(capture.clone());
    let harness = Harness::start(throttled(2, 5, Duration::from_secs(300))).await;
    let wrong = keys::generate_api_key();
    let both = format!("{wrong}, {}", harness.admin_key);
    let requests: [(&str, &str); 4] = [
        (harness.admin_key.as_str(), VERSION),
        (wrong.as_str(), VERSION),
        (both.as_str(), "/events/index"),
        (wrong.as_str(), "/events/restSearch"),
    ];
    for (key, path) in requests {
        let headers = [("authorization", key), ("x-misp-auth", key)];
        send_raw(
            &harness.app,
            Some("192.0.2.1"),
            Method::POST,
            path,
            &headers,
            None,
        )
        .await;
    }
    // A throttled request (the third failure) is traced too.
    send_raw(
        &harness.app,
        Some("192.0.2.1"),
        Method::GET,
        VERSION,
        &[("authorization", &wrong)],
        None,
    )
    .await;
    let text = capture.text.lock().unwrap().clone();
    assert!(
        text.contains("/events/restSearch"),
        "nothing captured: {text}"
    );
    assert!(
        text.contains("429"),
        "the throttled answer is traced: {text}"
    );
    for key in [&harness.admin_key, &wrong] {
        assert!(!text.contains(key.as_str()), "a key in the logs: {text}");
        // Nor the middle of one (the stored start and end are shown by MISP itself).
        assert!(
            !text.contains(&key[4..36]),
            "part of a key in the logs: {text}"
        );
    }
}

/// Just enough of gzip (RFC 1952) and deflate's fixed-Huffman blocks (RFC 1951) to build
/// request bodies: plain ASCII text, and a run of one byte that expands a thousandfold.
mod gzip {
    struct Bits {
        bytes: Vec<u8>,
        used: u32,
    }

    impl Bits {
        fn new() -> Self {
            Bits {
                bytes: Vec::new(),
                used: 8,
            }
        }

        fn push(&mut self, bit: u32) {
            if self.used == 8 {
                self.bytes.push(0);
                self.used = 0;
            }
            *self.bytes.last_mut().unwrap() |= ((bit & 1) as u8) << self.used;
            self.used += 1;
        }

        /// A Huffman code: most significant bit first.
        fn code(&mut self, code: u32, length: u32) {
            for shift in (0..length).rev() {
                self.push(code >> shift);
            }
        }

        /// A literal byte below 144 (8-bit codes 0x30…).
        fn literal(&mut self, byte: u8) {
            assert!(byte < 144);
            self.code(0x30 + u32::from(byte), 8);
        }
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for byte in data {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn wrap(deflated: Vec<u8>, original: &[u8]) -> Vec<u8> {
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        out.extend(deflated);
        out.extend(crc32(original).to_le_bytes());
        out.extend((original.len() as u32).to_le_bytes());
        out
    }

    fn block(write: impl FnOnce(&mut Bits)) -> Vec<u8> {
        let mut bits = Bits::new();
        bits.push(1); // the last block
        bits.push(1); // fixed Huffman codes (type 01, low bit first)
        bits.push(0);
        write(&mut bits);
        bits.code(0, 7); // end of block
        bits.bytes
    }

    pub fn compress_text(text: &str) -> Vec<u8> {
        let deflated = block(|bits| text.bytes().for_each(|byte| bits.literal(byte)));
        wrap(deflated, text.as_bytes())
    }

    /// `size` bytes of `[` (1 literal, then copies of 258 bytes at distance 1).
    pub fn bomb(size: usize) -> Vec<u8> {
        let copies = (size - 1) / 258;
        let original = vec![b'['; 1 + copies * 258];
        let deflated = block(|bits| {
            bits.literal(b'[');
            for _ in 0..copies {
                bits.code(0b1100_0000 + (285 - 280), 8); // length 258
                bits.code(0, 5); // distance 1
            }
        });
        wrap(deflated, &original)
    }
}

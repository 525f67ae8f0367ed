//! How Kizuna reaches a sync server over TLS: MISP's `cert_file` (the remote's CA instead of
//! the system roots), `self_signed` (with a CA: any name; without one: any certificate) and
//! `client_cert_file` (a client certificate the remote may require), against a real TLS peer
//! on 127.0.0.1. The certificates are in tests/data/tls (see its README).

use crate::support::{Server as App, int, new_uuid};
use axum::http::StatusCode;
use base64::Engine;
use kizuna_server::sync::remote::Remote;
use kizuna_store::Server;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use serde_json::{Value, json};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn tls_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

const VERSION_ANSWER: &str = r#"{"version":"2.5.0","perm_sync":true,"perm_sighting":true,"uuid":"5ad3b1a8-0d9a-4b0e-9d2f-0c5b8e2a1f10","request_encoding":["gzip"]}"#;

/// A TLS peer that answers every request with MISP's getVersion body, and counts the
/// connections that presented a client certificate. It stops when dropped, or after a
/// minute whatever happens.
struct TlsPeer {
    port: u16,
    with_client_certificate: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TlsPeer {
    fn start(certificate: &str, key: &str, require_client_certificate: bool) -> TlsPeer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(tls_file(certificate).as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(tls_file(key).as_bytes()).unwrap();
        let builder = rustls::ServerConfig::builder();
        let builder = if require_client_certificate {
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_slice_iter(tls_file("ca.pem").as_bytes()) {
                roots.add(ca.unwrap()).unwrap();
            }
            builder.with_client_cert_verifier(
                WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .unwrap(),
            )
        } else {
            builder.with_no_client_auth()
        };
        let config = Arc::new(builder.with_single_cert(chain, key).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let with_client_certificate = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (counter, stop) = (with_client_certificate.clone(), stop.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => serve_one(stream, config.clone(), &counter),
                        Err(error) if error.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(_) => break,
                    }
                }
            })
        };
        TlsPeer {
            port,
            with_client_certificate,
            stop,
            thread: Some(thread),
        }
    }

    fn client_certificates_seen(&self) -> usize {
        self.with_client_certificate.load(Ordering::Relaxed)
    }
}

impl Drop for TlsPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One connection: the handshake, one request head, the answer. A failed handshake (what
/// most tests want) just ends the connection.
fn serve_one(
    stream: std::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    counter: &AtomicUsize,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let Ok(connection) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(connection, stream);
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        match tls.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    if tls
        .conn
        .peer_certificates()
        .is_some_and(|chain| !chain.is_empty())
    {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{VERSION_ANSWER}",
        VERSION_ANSWER.len()
    );
    let _ = tls.write_all(answer.as_bytes());
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn server_for(url: String, change: impl FnOnce(&mut Server)) -> Server {
    let mut server = Server::new("peer", &url, &"k".repeat(40), 1);
    server.timeout_seconds = 10;
    change(&mut server);
    server
}

async fn ask_version(server: &Server) -> Result<String, String> {
    let remote = Remote::new(server).map_err(|error| error.to_string())?;
    remote
        .version()
        .await
        .map(|version| version.version)
        .map_err(|error| error.to_string())
}

#[tokio::test]
async fn the_remote_certificate_is_checked_against_the_servers_own_ca() {
    let peer = TlsPeer::start("localhost.crt", "localhost.key", false);
    let url = format!("https://127.0.0.1:{}", peer.port);

    let refused = ask_version(&server_for(url.clone(), |_| {}))
        .await
        .unwrap_err();
    assert!(
        refused.contains("certificate") || refused.contains("UnknownIssuer"),
        "the system roots do not know the test CA, and the error says so: {refused}"
    );

    let trusted = server_for(url.clone(), |server| server.cert_pem = tls_file("ca.pem"));
    assert_eq!(ask_version(&trusted).await.unwrap(), "2.5.0");

    let wrong_ca = server_for(url.clone(), |server| {
        server.cert_pem = tls_file("other-ca.pem")
    });
    let refused = ask_version(&wrong_ca).await.unwrap_err();
    assert!(
        refused.contains("certificate") || refused.contains("UnknownIssuer"),
        "{refused}"
    );

    // MISP's self_signed without a CA file: any certificate.
    let any = server_for(url, |server| server.self_signed = true);
    assert_eq!(ask_version(&any).await.unwrap(), "2.5.0");
}

#[tokio::test]
async fn self_signed_with_a_ca_accepts_a_certificate_for_another_name() {
    let peer = TlsPeer::start("elsewhere.crt", "elsewhere.key", false);
    let url = format!("https://127.0.0.1:{}", peer.port);
    let strict = server_for(url.clone(), |server| server.cert_pem = tls_file("ca.pem"));
    let refused = ask_version(&strict).await.unwrap_err();
    assert!(
        refused.contains("NotValidForName") || refused.contains("not valid for"),
        "{refused}"
    );
    let lenient = server_for(url.clone(), |server| {
        server.cert_pem = tls_file("ca.pem");
        server.self_signed = true;
    });
    assert_eq!(ask_version(&lenient).await.unwrap(), "2.5.0");
    // The chain must still lead to the given CA.
    let unrelated = server_for(url, |server| {
        server.cert_pem = tls_file("other-ca.pem");
        server.self_signed = true;
    });
    assert!(ask_version(&unrelated).await.is_err());
}

#[tokio::test]
async fn a_remote_requiring_a_client_certificate_gets_the_servers_one() {
    let peer = TlsPeer::start("localhost.crt", "localhost.key", true);
    let url = format!("https://localhost:{}", peer.port);
    let without = server_for(url.clone(), |server| server.cert_pem = tls_file("ca.pem"));
    assert!(ask_version(&without).await.is_err());
    assert_eq!(peer.client_certificates_seen(), 0);

    let with = server_for(url, |server| {
        server.cert_pem = tls_file("ca.pem");
        server.client_cert_pem = tls_file("client.pem");
    });
    assert_eq!(ask_version(&with).await.unwrap(), "2.5.0");
    assert_eq!(peer.client_certificates_seen(), 1);
}

async fn add_server(app: &App, fields: Value) -> (StatusCode, Value) {
    let (status, _, org) = app
        .post(
            "/admin/organisations/add",
            json!({"Organisation": {"name": format!("remote {}", new_uuid()), "local": false}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{org:#}");
    let mut body = json!({
        "name": "tls peer",
        "url": "https://127.0.0.1:1",
        "authkey": "k".repeat(40),
        "remote_org_id": org["Organisation"]["id"],
    });
    for (field, value) in fields.as_object().unwrap() {
        body[field] = value.clone();
    }
    let (status, _, answer) = app.post("/servers/add", body).await;
    (status, answer)
}

#[tokio::test]
async fn certificates_are_submitted_as_misp_does_checked_and_never_shown() {
    let app = App::start().await;
    let base64 = base64::engine::general_purpose::STANDARD;

    // MISP's API takes the certificate as base64 of the PEM file.
    let (status, answer) = add_server(
        &app,
        json!({"submitted_cert": base64.encode(tls_file("ca.pem")),
               "submitted_client_cert": tls_file("client.pem")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    let id = int(&answer["Server"]["id"]);
    assert_eq!(answer["Server"]["cert_file"], format!("{id}.pem"));
    assert_eq!(
        answer["Server"]["client_cert_file"],
        format!("{id}_client.pem")
    );
    let stored = app.store.server(id).await.unwrap();
    assert_eq!(stored.cert_pem.trim(), tls_file("ca.pem").trim());
    assert!(stored.client_cert_pem.contains("PRIVATE KEY"));
    let (_, _, view) = app.get(&format!("/servers/view/{id}")).await;
    let shown = view.to_string();
    assert!(
        !shown.contains("BEGIN"),
        "no certificate or key is shown: {shown}"
    );
    assert_eq!(view["Server"]["cert_file"], format!("{id}.pem"));

    // Not a certificate; a certificate without its key; a key without its certificate.
    let bad_key = tls_file("client.pem");
    let key_only = &bad_key[bad_key.find("-----BEGIN PRIVATE KEY").unwrap()..];
    for (field, value) in [
        ("submitted_cert", "not a certificate".to_string()),
        (
            "submitted_cert",
            base64.encode("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        ),
        ("submitted_client_cert", tls_file("ca.pem")),
        ("submitted_client_cert", key_only.to_string()),
    ] {
        let (status, answer) = add_server(&app, json!({ field: value })).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{field}: {answer:#}");
        assert!(answer["errors"][field].is_array(), "{field}: {answer:#}");
    }

    // Removing them.
    let (status, _, edited) = app
        .post(
            &format!("/servers/edit/{id}"),
            json!({"Server": {"delete_cert": true, "delete_client_cert": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited:#}");
    assert_eq!(edited["Server"]["cert_file"], Value::Null);
    assert_eq!(edited["Server"]["client_cert_file"], Value::Null);
    let stored = app.store.server(id).await.unwrap();
    assert!(stored.cert_pem.is_empty() && stored.client_cert_pem.is_empty());
}

#[tokio::test]
async fn test_connection_reaches_a_tls_peer_with_the_submitted_ca() {
    let peer = TlsPeer::start("localhost.crt", "localhost.key", false);
    let app = App::start().await;
    let (status, answer) = add_server(&app, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer:#}");
    let id = int(&answer["Server"]["id"]);
    let url = format!("https://localhost:{}", peer.port);
    let (status, _, _) = app
        .post(&format!("/servers/edit/{id}"), json!({"url": url}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, _, failed) = app.get(&format!("/servers/testConnection/{id}")).await;
    assert_eq!(failed["status"], 2, "{failed:#}");
    let message = failed["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("certificate") || message.contains("UnknownIssuer"),
        "{message}"
    );

    let (status, _, _) = app
        .post(
            &format!("/servers/edit/{id}"),
            json!({"submitted_cert": tls_file("ca.pem")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, reached) = app.get(&format!("/servers/testConnection/{id}")).await;
    assert_eq!(reached["status"], 1, "{reached:#}");
    assert_eq!(reached["version"], "2.5.0");
    drop(peer);
}

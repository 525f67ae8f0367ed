//! How Kizuna reaches a sync server over TLS: MISP's `cert_file` (the remote's CA instead of
//! the system roots), `self_signed` (with a CA: any name; without one: any certificate) and
//! `client_cert_file` (a client certificate the remote may require), against a real TLS peer
//! on 127.0.0.1. The certificates are in tests/data/tls (see its README).

use crate::support::{Server as App, int, new_uuid};
use crate::tls_peer::{TlsPeer, tls_file};
use axum::http::StatusCode;
use base64::Engine;
use kizuna_server::sync::remote::Remote;
use kizuna_store::Server;
use serde_json::{Value, json};
use std::sync::Arc;

const VERSION_ANSWER: &str = r#"{"version":"2.5.0","perm_sync":true,"perm_sighting":true,"uuid":"5ad3b1a8-0d9a-4b0e-9d2f-0c5b8e2a1f10","request_encoding":["gzip"]}"#;

/// A TLS peer answering every request with MISP's getVersion body.
fn version_peer(certificate: &str, key: &str, require_client_certificate: bool) -> TlsPeer {
    TlsPeer::start(
        certificate,
        key,
        require_client_certificate,
        Arc::new(|_: &str| ("application/json".to_string(), VERSION_ANSWER.to_string())),
    )
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
    let peer = version_peer("localhost.crt", "localhost.key", false);
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
    let peer = version_peer("elsewhere.crt", "elsewhere.key", false);
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
    let peer = version_peer("localhost.crt", "localhost.key", true);
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
    let peer = version_peer("localhost.crt", "localhost.key", false);
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

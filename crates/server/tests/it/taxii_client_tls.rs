//! The TAXII client over TLS: the server's own CA instead of the system roots, a client
//! certificate for servers that require one, and feeds carrying both in their settings,
//! against a real TLS peer on 127.0.0.1 answering as a TAXII 2.1 API root.

use crate::support::{Client, ROLE_USER, Server, text};
use crate::tls_peer::{TlsPeer, tls_file};
use axum::http::StatusCode;
use kizuna_model::User;
use kizuna_server::import::ImportSettings;
use kizuna_server::keys;
use kizuna_server::taxii_client::{PullOptions, feed_settings, pull_collection};
use serde_json::json;
use std::sync::Arc;

const COLLECTION: &str = "2a6f2c43-51f3-4b6c-9d39-5a0c3b8a9e11";
const TAXII: &str = "application/taxii+json;version=2.1";

/// An API root holding one collection with one indicator.
fn taxii_peer(require_client_certificate: bool) -> TlsPeer {
    TlsPeer::start(
        "localhost.crt",
        "localhost.key",
        require_client_certificate,
        Arc::new(|path: &str| {
            let path = path.split('?').next().unwrap_or_default();
            let body = if path.ends_with("/objects/") {
                json!({"more": false, "objects": [{
                    "type": "indicator", "spec_version": "2.1",
                    "id": "indicator--0d6b0a1c-2f4e-4a57-9f0e-6f2d8a1b3c4d",
                    "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
                    "name": "mTLS-only indicator", "pattern_type": "stix",
                    "pattern": "[domain-name:value = 'behind-mtls.example']",
                    "valid_from": "2026-11-01T00:00:00Z"}]})
            } else if path.contains("/collections/") {
                json!({"id": COLLECTION, "title": "Private", "can_read": true,
                       "can_write": false, "media_types": ["application/stix+json;version=2.1"]})
            } else {
                json!({"title": "Root", "versions": ["application/taxii+json;version=2.1"],
                       "max_content_length": 10485760})
            };
            (TAXII.to_string(), body.to_string())
        }),
    )
}

async fn import_settings(server: &Server) -> ImportSettings {
    let host: i64 = server
        .store
        .setting("host_org_id")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    ImportSettings::owned_by(host, 1)
}

/// A plain user of the host organisation (who may read feeds, as in MISP).
async fn host_org_member(server: &Server) -> Client {
    let host: i64 = server
        .store
        .setting("host_org_id")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    let key = keys::generate_api_key();
    server
        .store
        .create_user(
            &User {
                email: "analyst@host.test".into(),
                org_id: host,
                role_id: ROLE_USER,
                termsaccepted: true,
                ..User::default()
            },
            Some(&keys::stored_form(&key)),
        )
        .await
        .unwrap();
    server.client(&key)
}

#[tokio::test]
async fn a_collection_behind_mutual_tls_is_read_with_the_given_ca_and_client_certificate() {
    let peer = taxii_peer(true);
    let server = Server::start().await;
    let settings = import_settings(&server).await;
    let mut options = PullOptions::new(
        format!("https://127.0.0.1:{}/taxii2/root/", peer.port),
        COLLECTION,
    );

    let refused = pull_collection(&server.store, &options, &settings, None, 0)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("certificate") || refused.contains("UnknownIssuer"),
        "the system roots do not know the test CA: {refused}"
    );

    options.tls.ca_pem = tls_file("ca.pem");
    let no_client_certificate = pull_collection(&server.store, &options, &settings, None, 0)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        peer.client_certificates_seen(),
        0,
        "{no_client_certificate}"
    );

    options.tls.client_pem = tls_file("client.pem");
    let report = pull_collection(&server.store, &options, &settings, None, 0)
        .await
        .unwrap();
    assert!(report.error.is_none(), "{report:?}");
    assert_eq!(report.objects, 1, "{report:?}");
    assert!(peer.client_certificates_seen() >= 3);
    let (status, _, found) = server
        .post(
            "/attributes/restSearch",
            json!({"value": "behind-mtls.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["response"]["Attribute"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn feeds_carry_tls_settings_checked_and_hide_the_private_key_from_non_admins() {
    let good = feed_settings(&json!({"taxii": {
        "collection": COLLECTION,
        "ca_cert": tls_file("ca.pem"),
        "client_cert": tls_file("client.pem"),
        "self_signed": "1",
        "skip_proxy": true}}))
    .unwrap();
    assert_eq!(good.tls.ca_pem, tls_file("ca.pem").trim());
    assert!(good.tls.self_signed && good.tls.skip_proxy);
    let bad_ca = feed_settings(&json!({"taxii": {"collection": "c", "ca_cert": "nope"}}));
    assert!(bad_ca.unwrap_err().contains("settings.taxii.ca_cert"));
    let certificate_only = tls_file("ca.pem");
    let bad_client =
        feed_settings(&json!({"taxii": {"collection": "c", "client_cert": certificate_only}}));
    assert!(
        bad_client
            .unwrap_err()
            .contains("settings.taxii.client_cert")
    );

    let server = Server::start().await;
    let (status, _, added) = server
        .post(
            "/feeds/add",
            json!({"Feed": {"name": "mTLS TAXII", "provider": "ISAC", "source_format": "taxii",
                "url": "https://127.0.0.1:1/taxii2/root/", "input_source": "network",
                "settings": {"taxii": {"collection": COLLECTION,
                                        "client_cert": tls_file("client.pem")}}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added:#}");
    assert!(text(&added["Feed"]["settings"]).contains("PRIVATE KEY"));
    let host_org_user = host_org_member(&server).await;
    let (status, _, seen) = host_org_user
        .get(&format!("/feeds/view/{}", text(&added["Feed"]["id"])))
        .await;
    assert_eq!(status, StatusCode::OK, "{seen:#}");
    let shown = text(&seen["Feed"]["settings"]);
    assert!(
        shown.contains(COLLECTION) && !shown.contains("PRIVATE KEY"),
        "{shown}"
    );
    let (status, _, refused) = server
        .post(
            "/feeds/add",
            json!({"Feed": {"name": "broken", "provider": "ISAC", "source_format": "taxii",
                "url": "https://127.0.0.1:1/taxii2/root/", "input_source": "network",
                "settings": {"taxii": {"collection": COLLECTION, "ca_cert": "junk"}}}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused:#}");
    assert!(refused.to_string().contains("ca_cert"), "{refused:#}");
}

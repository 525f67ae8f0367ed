//! The outgoing HTTP clients (feeds, imports, sync, federated search): rustls on ring, the
//! system's certificate roots unless a sync server names its own, bounded time and size.
//! Proxies come from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`).

use futures_util::StreamExt;
use kizuna_store::Server;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How long one request may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The process-wide client (connection pool shared by every caller).
pub fn client() -> Result<reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // Only the first installation wins; later calls find ring already in place.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .user_agent(concat!("kizuna/", env!("CARGO_PKG_VERSION")))
                .timeout(REQUEST_TIMEOUT)
                .connect_timeout(CONNECT_TIMEOUT)
                .build()
                .map_err(|error| format!("cannot build the HTTP client: {error}"))
        })
        .clone()
}

/// How one sync server is reached: MISP's `self_signed`, `cert_file`, `client_cert_file` and
/// `skip_proxy`, with the certificates themselves in place of the file names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RemoteTls {
    /// Without `ca_pem`: any certificate is accepted. With it: the chain must lead to one of
    /// its certificates, whatever name the certificate carries (MISP's self-signed setting).
    pub self_signed: bool,
    /// PEM certificates trusted instead of the system roots.
    pub ca_pem: String,
    /// PEM client certificate and private key presented to the remote.
    pub client_pem: String,
    /// Connect directly even when the environment names a proxy.
    pub skip_proxy: bool,
}

impl RemoteTls {
    pub fn of(server: &Server) -> RemoteTls {
        RemoteTls {
            self_signed: server.self_signed,
            ca_pem: server.cert_pem.clone(),
            client_pem: server.client_cert_pem.clone(),
            skip_proxy: server.skip_proxy,
        }
    }
}

/// The client for a sync server: the shared one when it asks for nothing special, else one
/// built for its settings and kept for the next run (so connections are reused).
pub fn client_for(tls: &RemoteTls) -> Result<reqwest::Client, String> {
    if *tls == RemoteTls::default() {
        return client();
    }
    static CLIENTS: OnceLock<Mutex<HashMap<RemoteTls, reqwest::Client>>> = OnceLock::new();
    let clients = CLIENTS.get_or_init(Default::default);
    if let Some(found) = clients.lock().ok().and_then(|map| map.get(tls).cloned()) {
        return Ok(found);
    }
    let built = build_remote_client(tls)?;
    if let Ok(mut map) = clients.lock() {
        // Settings change rarely; a map grown by many edits is simply started again.
        if map.len() >= 64 {
            map.clear();
        }
        map.insert(tls.clone(), built.clone());
    }
    Ok(built)
}

fn build_remote_client(tls: &RemoteTls) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("kizuna/", env!("CARGO_PKG_VERSION")))
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT);
    if !tls.ca_pem.is_empty() {
        builder = builder
            .tls_certs_only(ca_certificates(&tls.ca_pem)?)
            .tls_danger_accept_invalid_hostnames(tls.self_signed);
    } else if tls.self_signed {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    if !tls.client_pem.is_empty() {
        builder = builder.identity(client_identity(&tls.client_pem)?);
    }
    if tls.skip_proxy {
        builder = builder.no_proxy();
    }
    builder
        .build()
        .map_err(|error| format!("cannot build the HTTP client: {}", error_chain(&error)))
}

fn ca_certificates(pem: &str) -> Result<Vec<reqwest::Certificate>, String> {
    let certificates = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
        .map_err(|_| "the CA certificate is not PEM".to_string())?;
    if certificates.is_empty() {
        return Err("the CA certificate holds no PEM certificate".into());
    }
    Ok(certificates)
}

fn client_identity(pem: &str) -> Result<reqwest::Identity, String> {
    let has_key = pem.contains("PRIVATE KEY-----");
    let has_certificate = pem.contains("-----BEGIN CERTIFICATE-----");
    if !has_key || !has_certificate {
        return Err(
            "the client certificate must hold a PEM certificate and its PEM private key".into(),
        );
    }
    reqwest::Identity::from_pem(pem.as_bytes()).map_err(|error| {
        format!(
            "the client certificate is not usable: {}",
            error_chain(&error)
        )
    })
}

/// Whether `pem` can be trusted as a server's CA certificate(s); the reason when not.
pub fn check_ca_pem(pem: &str) -> Result<(), String> {
    build_remote_client(&RemoteTls {
        ca_pem: pem.to_string(),
        ..RemoteTls::default()
    })
    .map(drop)
}

/// Whether `pem` (certificate and private key) can be presented as a client certificate.
pub fn check_client_pem(pem: &str) -> Result<(), String> {
    build_remote_client(&RemoteTls {
        client_pem: pem.to_string(),
        ..RemoteTls::default()
    })
    .map(drop)
}

/// An error with its causes, which is where reqwest and rustls say what actually failed.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// GET `url` and return its body, refusing non-2xx answers and bodies over `max_bytes`.
pub async fn get_bytes(url: &str, max_bytes: u64) -> Result<Vec<u8>, String> {
    let response = client()?
        .get(url)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("the server answered {status}"));
    }
    read_limited(response, max_bytes).await
}

/// The body of `response`, or an error once it passes `max_bytes`.
pub async fn read_limited(response: reqwest::Response, max_bytes: u64) -> Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes)
    {
        return Err(format!("the answer is larger than {max_bytes} bytes"));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| error.to_string())?;
        if (body.len() + chunk.len()) as u64 > max_bytes {
            return Err(format!("the answer is larger than {max_bytes} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

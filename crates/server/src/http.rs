//! The outgoing HTTP client (feeds, imports, later sync): rustls on ring, the system's
//! certificate roots, bounded time and size.

use futures_util::StreamExt;
use std::sync::OnceLock;
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

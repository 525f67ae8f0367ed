//! The layer every request passes first: it works out the client's address, turns away
//! clients that failed to authenticate too often (before anything reads the body or the
//! database), gives an oversized body MISP's error shape, and puts the security headers on
//! every answer.

use crate::AppState;
use crate::auth::offered_keys;
use crate::client::ClientAddress;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SECURITY_HEADERS: [(HeaderName, &str); 5] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    // Answers are data, never pages: nothing in them may load or frame anything.
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    // Every answer is for one caller's eyes; no shared cache may keep it.
    (header::CACHE_CONTROL, "no-store"),
];

/// A year, the usual HSTS lifetime.
const HSTS: &str = "max-age=31536000";

pub(crate) async fn guard(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    let client = ClientAddress::resolve(peer, request.headers(), &state.settings.trusted_proxies);
    request.extensions_mut().insert(client);
    let url = request.uri().path().to_string();
    let head = request.method() == Method::HEAD;
    let offered = offered_keys(request.headers());
    let blocked = state
        .throttle
        .blocked_for(client.ip(), &offered, Instant::now());
    let mut response = match blocked {
        Some(wait) => too_many_failures(&url, wait, head),
        None => {
            let response = next.run(request).await;
            if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json(response.headers()) {
                body_too_large(&url, state.settings.max_body_bytes, head)
            } else {
                response
            }
        }
    };
    let https = state
        .settings
        .base_url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    add_security_headers(response.headers_mut(), https);
    response
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json"))
}

/// Sets each security header the answer does not set itself.
fn add_security_headers(headers: &mut HeaderMap, https: bool) {
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if https {
        headers
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static(HSTS));
    }
}

/// MISP's error body (no body for HEAD).
fn misp_error(status: StatusCode, message: &str, url: &str, head: bool) -> Response {
    if head {
        return status.into_response();
    }
    let body = json!({"name": message, "message": message, "url": url});
    (status, axum::Json(body)).into_response()
}

fn too_many_failures(url: &str, wait: Duration, head: bool) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let message =
        format!("Too many failed authentication attempts. Try again in {seconds} seconds.");
    let mut response = misp_error(StatusCode::TOO_MANY_REQUESTS, &message, url, head);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn body_too_large(url: &str, limit: usize, head: bool) -> Response {
    let message = format!(
        "The request body is larger than this server accepts ({limit} bytes once decompressed)."
    );
    misp_error(StatusCode::PAYLOAD_TOO_LARGE, &message, url, head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let response = too_many_failures("/x", Duration::from_millis(1_200), false);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let response = too_many_failures("/x", Duration::ZERO, true);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn answers_keep_their_own_cache_policy() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        add_security_headers(&mut headers, false);
        assert_eq!(headers[header::CACHE_CONTROL], "max-age=60");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert!(!headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
        add_security_headers(&mut headers, true);
        assert_eq!(headers[header::STRICT_TRANSPORT_SECURITY], HSTS);
    }
}

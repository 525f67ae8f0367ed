//! Who is calling: MISP's `Authorization: <key>` (or `X-MISP-AUTH`) header.

use crate::error::{ApiError, ApiResult};
use crate::keys;
use axum::http::HeaderMap;
use kizuna_store::{Principal, Store};

const AUTH_FAILED: &str = "Authentication failed. Please make sure you pass the API key of an \
     API enabled user along in the Authorization header.";

/// Keys offered by the request: the `Authorization` value may list several, comma-separated;
/// `Basic …` credentials are not API keys and are skipped (MISP does the same).
fn offered_keys(headers: &HeaderMap) -> Vec<String> {
    let mut offered = Vec::new();
    for name in ["authorization", "x-misp-auth"] {
        for value in headers.get_all(name) {
            let Ok(text) = value.to_str() else { continue };
            for part in text.split(',') {
                let part = part.trim();
                if part.is_empty() || part.starts_with("Basic") {
                    continue;
                }
                offered.push(part.to_string());
            }
        }
    }
    offered
}

/// The principal owning the first valid key, or MISP's 403 authentication failure.
pub async fn authenticate(store: &Store, headers: &HeaderMap, now: i64) -> ApiResult<Principal> {
    for key in offered_keys(headers) {
        if !keys::is_well_formed(&key) {
            continue;
        }
        let Some(principal) = store.principal_by_key(&keys::digest(&key)).await? else {
            continue;
        };
        if principal.user.disabled
            || !principal.role.permissions.perm_auth
            || principal.auth_key.is_expired(now)
            || principal
                .user
                .expiration
                .is_some_and(|expiry| expiry <= now)
        {
            continue;
        }
        // One write a minute is enough to show recent use without a write per request.
        if now - principal.auth_key.last_used >= 60 {
            store
                .touch_auth_key(principal.auth_key.id, principal.user.id, now)
                .await?;
        }
        return Ok(principal);
    }
    Err(ApiError::Unauthenticated(AUTH_FAILED.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn keys_come_from_both_headers_and_lists() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static("Basic abc, key1 ,key2"),
        );
        headers.insert("x-misp-auth", HeaderValue::from_static("key3"));
        assert_eq!(offered_keys(&headers), ["key1", "key2", "key3"]);
    }
}

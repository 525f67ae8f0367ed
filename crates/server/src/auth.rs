//! Who is calling: MISP's `Authorization: <key>` (or `X-MISP-AUTH`) header, checked against
//! the key's limits (expiry, source addresses, read-only) and counted by the throttle when it
//! fails.

use crate::AppState;
use crate::client::{ClientAddress, parse_blocks};
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::routing::MispPath;
use axum::http::{HeaderMap, Method};
use kizuna_model::{AuthKey, RolePermissions};
use kizuna_store::Principal;
use std::time::Instant;

const AUTH_FAILED: &str = "Authentication failed. Please make sure you pass the API key of an \
     API enabled user along in the Authorization header.";

/// Keys offered by the request: the `Authorization` value may list several, comma-separated;
/// `Basic …` credentials are not API keys and are skipped (MISP does the same).
pub(crate) fn offered_keys(headers: &HeaderMap) -> Vec<String> {
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

/// The principal owning the first valid key, or MISP's 403 authentication failure. A key
/// limited to other addresses is refused outright, as MISP does. Every failure of a request
/// that offered a key is counted by the throttle and written to the audit log.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    client: ClientAddress,
    now: i64,
) -> ApiResult<Principal> {
    let offered = offered_keys(headers);
    for key in &offered {
        if !keys::is_well_formed(key) {
            continue;
        }
        let Some(mut principal) = state.store.principal_by_key(&keys::digest(key)).await? else {
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
        if !key_allows(&principal.auth_key, client) {
            // The key itself is good: counting it would let whoever holds a copy lock out
            // its owner, so only the address is counted.
            fail(state, &[], &offered, client, Some(&principal), now).await;
            return Err(ApiError::Forbidden(
                "This API key may not be used from your address.".into(),
            ));
        }
        let previous_use = principal.auth_key.last_used;
        // One write a minute is enough to show recent use without a write per request.
        if now - previous_use >= 60 {
            state
                .store
                .touch_auth_key(principal.auth_key.id, principal.user.id, now)
                .await?;
        }
        crate::audit::record_login_if_new_session(state, &principal, client, previous_use, now)
            .await;
        if principal.auth_key.read_only {
            principal.role.permissions = reading_only(&principal.role.permissions);
        }
        return Ok(principal);
    }
    if !offered.is_empty() {
        fail(state, &offered, &offered, client, None, now).await;
    }
    Err(ApiError::Unauthenticated(AUTH_FAILED.to_string()))
}

async fn fail(
    state: &AppState,
    counted_keys: &[String],
    offered: &[String],
    client: ClientAddress,
    principal: Option<&Principal>,
    now: i64,
) {
    state
        .throttle
        .record_failure(client.ip(), counted_keys, Instant::now());
    crate::audit::record_failed_login(state, offered, client, principal, now).await;
}

/// Whether `key` may be used from `client`: any key from anywhere unless it names allowed
/// addresses, and then only from those (never from an unknown address).
fn key_allows(key: &AuthKey, client: ClientAddress) -> bool {
    let listed: Vec<&str> = key
        .allowed_ips
        .iter()
        .flat_map(|entry| entry.split([',', ' ', '\n']))
        .filter(|entry| !entry.trim().is_empty())
        .collect();
    if listed.is_empty() {
        return true;
    }
    let Some(address) = client.ip() else {
        return false;
    };
    // An entry that is not an address or block allows nothing; the rest still count.
    listed
        .into_iter()
        .filter_map(|entry| parse_blocks([entry]).ok())
        .flatten()
        .any(|block| block.contains(address))
}

/// MISP's read-only keys keep only the right to log in and to read the audit log, so every
/// permission check refuses what they may not do.
fn reading_only(permissions: &RolePermissions) -> RolePermissions {
    RolePermissions {
        perm_auth: permissions.perm_auth,
        perm_audit: permissions.perm_audit,
        ..RolePermissions::default()
    }
}

/// POST actions that only read: searches and listings that take their filters in a body,
/// and sync peers' questions about what to push.
const READING_POST_ACTIONS: &[&str] = &[
    "restsearch",
    "index",
    "search",
    "view",
    "checkvalue",
    "listsightings",
    "filtereventidsforpush",
    "filtersightinguuidsforpush",
    "getversion",
    "getpymispversion",
    "describetypes",
    "returndates",
    "federatedsearch",
];

/// Whether a request only reads: GET and HEAD (a GET on a write action only describes it),
/// and the reading POST actions.
pub fn is_read_request(method: &Method, path: &MispPath) -> bool {
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => true,
        Method::POST => READING_POST_ACTIONS.contains(&path.action.as_str()),
        _ => false,
    }
}

/// A read-only key may only read, whatever its user's role allows.
pub fn refuse_writes_of_read_only_key(
    principal: &Principal,
    method: &Method,
    path: &MispPath,
) -> ApiResult<()> {
    if principal.auth_key.read_only && !is_read_request(method, path) {
        return Err(ApiError::Forbidden(
            "This API key is read-only: it may search and view, not change anything.".into(),
        ));
    }
    Ok(())
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

    #[test]
    fn allowed_addresses_limit_a_key() {
        let anywhere = AuthKey::default();
        assert!(key_allows(&anywhere, ClientAddress(None)));
        let limited = AuthKey {
            allowed_ips: vec!["192.0.2.0/24 garbage".into(), "2001:db8::1".into()],
            ..AuthKey::default()
        };
        let from = |text: &str| ClientAddress(Some(text.parse().unwrap()));
        assert!(key_allows(&limited, from("192.0.2.77")));
        assert!(key_allows(&limited, from("2001:db8::1")));
        assert!(!key_allows(&limited, from("198.51.100.1")));
        assert!(!key_allows(&limited, ClientAddress(None)));
    }

    #[test]
    fn reads_are_gets_and_search_posts() {
        let path = |method: &Method, url: &str| MispPath::parse(method, url).unwrap();
        let read = |method: Method, url: &str| is_read_request(&method, &path(&method, url));
        assert!(read(Method::GET, "/events/add"));
        assert!(read(Method::POST, "/events/restSearch"));
        assert!(read(Method::POST, "/attributes/restSearch"));
        assert!(read(Method::POST, "/sightings/listSightings/1"));
        assert!(read(Method::POST, "/warninglists/checkValue"));
        assert!(read(Method::POST, "/admin/logs/index"));
        assert!(!read(Method::POST, "/events/add"));
        assert!(!read(Method::POST, "/events/1"), "REST edit");
        assert!(!read(Method::DELETE, "/events/1"));
        assert!(!read(Method::PUT, "/attributes/edit/1"));
        assert!(!read(Method::POST, "/events/publish/1"));
        let stripped = reading_only(&RolePermissions {
            perm_site_admin: true,
            perm_add: true,
            perm_auth: true,
            perm_audit: true,
            ..RolePermissions::default()
        });
        assert!(stripped.perm_auth && stripped.perm_audit);
        assert!(!stripped.perm_site_admin && !stripped.perm_add);
    }
}

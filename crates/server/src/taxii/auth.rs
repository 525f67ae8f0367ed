//! Who calls a TAXII resource: HTTP Basic with the user's e-mail and one of the user's API
//! keys as password (what TAXII clients send), or MISP's `Authorization: <key>` /
//! `X-MISP-AUTH`. Both go through the MISP API's key checks, throttle and login audit.

use super::TaxiiError;
use crate::AppState;
use crate::client::ClientAddress;
use axum::http::{HeaderMap, HeaderValue, header};
use kizuna_store::Principal;

/// Whether the request carries any credentials at all.
pub fn offers_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION) || headers.contains_key("x-misp-auth")
}

/// The principal the request's credentials name, or 401 (TAXII error, with
/// `WWW-Authenticate`).
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    client: ClientAddress,
    now: i64,
) -> Result<Principal, TaxiiError> {
    let basic = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(basic_credentials);
    let Some((email, key)) = basic else {
        return Ok(crate::auth::authenticate(state, headers, client, now).await?);
    };
    // The key is checked exactly as a MISP `Authorization` header would be.
    let mut as_key = HeaderMap::new();
    let value = HeaderValue::from_str(&key)
        .map_err(|_| TaxiiError::unauthorized("The Basic credentials are not valid."))?;
    as_key.insert(header::AUTHORIZATION, value);
    let principal = crate::auth::authenticate(state, &as_key, client, now).await?;
    if !principal.user.email.eq_ignore_ascii_case(email.trim()) {
        return Err(TaxiiError::unauthorized(
            "Authentication failed: give your e-mail address as user name and one of your API keys as password.",
        ));
    }
    Ok(principal)
}

/// (user, password) of a `Basic …` header value.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(decode_base64(encoded.trim())?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Standard base64 (padding optional); None on any other character.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.trim_end_matches('=').bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_decoded() {
        // "admin@example.org:key:with:colons"
        assert_eq!(
            basic_credentials("Basic YWRtaW5AZXhhbXBsZS5vcmc6a2V5OndpdGg6Y29sb25z"),
            Some(("admin@example.org".into(), "key:with:colons".into()))
        );
        assert_eq!(
            basic_credentials("basic dTpw"),
            Some(("u".into(), "p".into()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
    }
}

//! API keys: 40 random alphanumerics (MISP's format), stored only as a SHA-256 digest so
//! no slow KDF runs per request while a stolen database yields no usable key.

use kizuna_store::NewAuthKey;
use rand::Rng;
use sha2::{Digest, Sha256};

const KEY_LENGTH: usize = 40;
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

pub fn generate_api_key() -> String {
    let mut rng = rand::rng();
    (0..KEY_LENGTH)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Whether `key` has MISP's key shape (`^[a-zA-Z0-9]{40}$`).
pub fn is_well_formed(key: &str) -> bool {
    key.len() == KEY_LENGTH && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

pub fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// What is stored of a fresh `key`: its digest and first and last four characters.
pub fn stored_form(key: &str) -> NewAuthKey {
    let start = key.get(..4).unwrap_or_default().to_string();
    let end = key
        .get(key.len().saturating_sub(4)..)
        .unwrap_or_default()
        .to_string();
    NewAuthKey {
        authkey_sha256: digest(key),
        authkey_start: start,
        authkey_end: end,
        ..NewAuthKey::default()
    }
}

/// A key's expiry as MISP reads it (AuthKey::beforeValidate): empty or `0` = never, a
/// number = Unix seconds, otherwise a date (`YYYY-MM-DD`, read as midnight UTC) or an
/// ISO 8601 date-time. `None` when the text is none of these.
pub fn parse_expiration(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    kizuna_formats::misp::input::parse_datetime_micros(text)
        .map(|micros| micros.div_euclid(1_000_000))
}

/// First and last four characters, for display.
pub fn hint(key: &str) -> String {
    if key.len() < 8 {
        return "*".repeat(key.len());
    }
    format!(
        "{}{}{}",
        &key[..4],
        "*".repeat(key.len() - 8),
        &key[key.len() - 4..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_and_distinct() {
        let first = generate_api_key();
        let second = generate_api_key();
        assert!(is_well_formed(&first));
        assert_ne!(first, second);
        assert_eq!(digest(&first).len(), 64);
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(&"-".repeat(40)));
    }

    #[test]
    fn expirations_are_epochs_dates_or_never() {
        assert_eq!(parse_expiration(""), Some(0));
        assert_eq!(parse_expiration("0"), Some(0));
        assert_eq!(parse_expiration("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_expiration("2030-01-01"), Some(1_893_456_000));
        assert_eq!(parse_expiration("2030-01-01 00:00:10"), Some(1_893_456_010));
        assert_eq!(
            parse_expiration("2030-01-01T01:00:00+01:00"),
            Some(1_893_456_000)
        );
        assert_eq!(parse_expiration("next tuesday"), None);
        assert_eq!(parse_expiration("2030-13-01"), None);
    }

    #[test]
    fn hints_hide_the_middle() {
        let key = "abcd".to_string() + &"x".repeat(32) + "wxyz";
        assert_eq!(hint(&key), format!("abcd{}wxyz", "*".repeat(32)));
    }
}

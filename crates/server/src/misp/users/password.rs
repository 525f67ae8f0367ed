//! Passwords: MISP's default policy (Security.password_policy_length 12 and the default
//! Security.password_policy_complexity rule) and argon2id PHC hashes. A password is never
//! returned, logged or kept anywhere but as its hash.

use crate::error::{ApiError, ApiResult};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// MISP's default minimum length, in bytes as MISP counts it.
pub const MINIMUM_LENGTH: usize = 12;
/// Long passwords pass the complexity rule whatever their characters.
const LONG_ENOUGH_FOR_ANY_CHARACTERS: usize = 16;

/// What is wrong with `password` under MISP's default rules, in MISP's words.
pub fn policy_problems(password: &str) -> Vec<&'static str> {
    let mut problems = Vec::new();
    if password.len() < MINIMUM_LENGTH {
        problems.push("Password length requirement not met.");
    }
    if !is_complex(password) {
        problems.push("Password complexity requirement not met.");
    }
    problems
}

/// MISP's default complexity rule: one line holding an upper-case letter, a lower-case
/// letter and a digit or other non-word character; or any 16 characters on one line.
fn is_complex(password: &str) -> bool {
    let single_line = !password.trim_end_matches('\n').contains('\n');
    let bytes = password.as_bytes();
    let mixed = single_line
        && bytes.iter().any(u8::is_ascii_uppercase)
        && bytes.iter().any(u8::is_ascii_lowercase)
        && bytes
            .iter()
            .any(|b| b.is_ascii_digit() || !(b.is_ascii_alphanumeric() || *b == b'_'));
    mixed
        || password
            .split('\n')
            .any(|line| line.len() >= LONG_ENOUGH_FOR_ANY_CHARACTERS)
}

/// Whether a password field holds MISP's mask (`*****`) rather than a password: clients
/// send back what they were shown.
pub fn is_mask(password: &str) -> bool {
    !password.is_empty() && password.bytes().all(|b| b == b'*')
}

/// The argon2id PHC string of `password`, computed off the async threads (it is slow on
/// purpose).
pub async fn hash(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
    })
    .await
    .map_err(|error| ApiError::Internal(format!("password hashing task failed: {error}")))?
    .map_err(|error| ApiError::Internal(format!("password hashing failed: {error}")))
}

/// Whether `password` matches the stored PHC string (false for an empty or unreadable one).
pub async fn matches(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misps_default_policy() {
        assert!(policy_problems("Correct1Horse").is_empty());
        assert!(
            policy_problems("correct horse battery").is_empty(),
            "16+ characters"
        );
        assert!(
            policy_problems("Correct-Horse").is_empty(),
            "a symbol counts like a digit"
        );
        assert_eq!(
            policy_problems("Short1Aa"),
            ["Password length requirement not met."]
        );
        assert_eq!(
            policy_problems("alllowercase1"),
            ["Password complexity requirement not met."]
        );
        assert_eq!(
            policy_problems("NoDigitsHere"),
            ["Password complexity requirement not met."]
        );
        assert_eq!(policy_problems("").len(), 2);
    }

    #[test]
    fn masks_are_not_passwords() {
        assert!(is_mask("*****"));
        assert!(is_mask("******"));
        assert!(!is_mask(""));
        assert!(!is_mask("**x**"));
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let stored = hash("Correct1Horse".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("Correct1Horse"));
        assert!(matches("Correct1Horse".into(), stored.clone()).await);
        assert!(!matches("Correct1Horsf".into(), stored).await);
        assert!(!matches("x".into(), String::new()).await);
    }
}

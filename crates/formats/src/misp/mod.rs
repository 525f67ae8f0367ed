//! MISP JSON: lenient parsing of what clients send, exact rendering of what MISP returns.

pub mod build;
pub mod csv;
pub mod event_report;
pub mod feed;
pub mod filters;
pub mod input;
pub(crate) mod md5;
pub mod output;
pub mod sharing_groups;

use std::collections::BTreeMap;

/// Validation failures keyed by field name, rendered as MISP's `errors` object
/// (`{"value": ["..."]}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One line naming every field and its problems, for `message`.
    pub fn summary(&self) -> String {
        self.0
            .iter()
            .map(|(field, problems)| format!("{field}: {}", problems.join(" ")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

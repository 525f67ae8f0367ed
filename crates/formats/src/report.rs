//! What an import could not use, said per item so the operator can fix the source.

use std::fmt;

/// One input item that was not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Where the item is: `line 12`, `objects[3] (indicator--…)`, `Attribute.4`.
    pub location: String,
    /// The item as found (a value, a pattern), shortened for display.
    pub item: String,
    pub reason: String,
}

impl Rejection {
    pub fn new(
        location: impl Into<String>,
        item: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        let item: String = item.into();
        let item = if item.chars().count() > 120 {
            let mut short: String = item.chars().take(117).collect();
            short.push_str("...");
            short
        } else {
            item
        };
        Self {
            location: location.into(),
            item,
            reason: reason.into(),
        }
    }

    /// The location prefixed with the file or URL it came from.
    pub fn in_source(mut self, source: &str) -> Self {
        self.location = format!("{source}: {}", self.location);
        self
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.item.is_empty() {
            write!(f, "{}: {}", self.location, self.reason)
        } else {
            write!(f, "{}: {:?}: {}", self.location, self.item, self.reason)
        }
    }
}

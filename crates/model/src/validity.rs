//! When an indicator is valid: the context Kizuna carries so that devices get only what
//! applies now (product brief, problem 1).
//!
//! An attribute is valid at `t` when it is not withdrawn, its observation window
//! (`first_seen` … `last_seen`, both inclusive, as `kizuna hunt` reads it) contains `t`, and
//! its `valid_until`, when set, is not before `t`. Missing bounds do not limit. The store
//! applies the same rule in SQL (`AttributeCriteria::valid_at`); this is the reference.

use crate::{Attribute, ItemStatus};

/// Whether `attribute` is valid at `at` (Unix microseconds).
pub fn is_valid_at(attribute: &Attribute, at: i64) -> bool {
    attribute.status != Some(ItemStatus::Withdrawn)
        && attribute.first_seen.is_none_or(|first| first <= at)
        && attribute.last_seen.is_none_or(|last| at <= last)
        && attribute.valid_until.is_none_or(|until| at <= until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute() -> Attribute {
        Attribute::new(
            "u".into(),
            "domain".into(),
            "Network activity".into(),
            "evil.example".into(),
            String::new(),
        )
    }

    #[test]
    fn bounds_are_inclusive_and_missing_ones_do_not_limit() {
        let mut item = attribute();
        assert!(is_valid_at(&item, 0));
        item.first_seen = Some(10);
        item.last_seen = Some(20);
        assert!(!is_valid_at(&item, 9));
        assert!(is_valid_at(&item, 10));
        assert!(is_valid_at(&item, 20));
        assert!(!is_valid_at(&item, 21));
        item.valid_until = Some(15);
        assert!(is_valid_at(&item, 15));
        assert!(!is_valid_at(&item, 16));
    }

    #[test]
    fn withdrawn_items_are_never_valid() {
        let mut item = attribute();
        item.status = Some(ItemStatus::Withdrawn);
        assert!(!is_valid_at(&item, 0));
        item.status = Some(ItemStatus::Preliminary);
        assert!(is_valid_at(&item, 0));
    }
}

//! What a search asks for, independent of how it arrived (restSearch JSON, named parameters,
//! sightings filters) and of how it is executed (SQL on either backend).

/// MISP's filter value after `convert_filters`: values to match, values that must all match,
/// values to exclude. `%` at either end of a text term makes it a LIKE pattern.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Terms {
    pub any: Vec<String>,
    pub all: Vec<String>,
    pub none: Vec<String>,
}

impl Terms {
    pub fn is_empty(&self) -> bool {
        self.any.is_empty() && self.all.is_empty() && self.none.is_empty()
    }

    pub fn any_of<I: IntoIterator<Item = S>, S: Into<String>>(values: I) -> Terms {
        Terms {
            any: values.into_iter().map(Into::into).collect(),
            ..Terms::default()
        }
    }

    /// Every term, positive or negative, with the same change applied (e.g. IPv6 compression).
    pub fn map(self, mut change: impl FnMut(String) -> String) -> Terms {
        Terms {
            any: self.any.into_iter().map(&mut change).collect(),
            all: self.all.into_iter().map(&mut change).collect(),
            none: self.none.into_iter().map(&mut change).collect(),
        }
    }
}

/// Whether a term is a LIKE pattern rather than an exact value.
pub fn is_pattern(term: &str) -> bool {
    term.starts_with('%') || term.ends_with('%')
}

/// A time filter after MISP's `resolveTimeDelta`: a lower bound, or a closed range whose lower
/// end may be open (0 in MISP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeBound {
    Since(i64),
    Between(Option<i64>, i64),
}

impl TimeBound {
    /// (lower, upper) for SQL, `None` meaning unbounded.
    pub fn bounds(self) -> (Option<i64>, Option<i64>) {
        match self {
            TimeBound::Since(0) => (None, None),
            TimeBound::Since(from) => (Some(from), None),
            TimeBound::Between(from, to) => (from, Some(to)),
        }
    }
}

/// A range of calendar days ("YYYY-MM-DD", inclusive) on `Event.date`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DateRange {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The `deleted` filter: MISP shows live items unless asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeletedFilter {
    #[default]
    LiveOnly,
    DeletedOnly,
    Both,
}

/// Everything restSearch can filter attributes (and, through them, events) by. Empty or
/// `None` fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttributeCriteria {
    /// Against value1 or value2, case-insensitively (MISP's collation).
    pub value: Terms,
    pub value1: Terms,
    pub value2: Terms,
    pub attr_type: Terms,
    pub category: Terms,
    pub object_relation: Terms,
    pub comment: Terms,
    pub attribute_uuid: Terms,
    /// In the attribute scope `uuid` is the attribute's; in the event scope it is the event's
    /// or that of an attribute inside it.
    pub uuid: Terms,
    /// Event ids or uuids.
    pub event: Terms,
    /// Creator organisation: ids, names or uuids.
    pub orgc: Terms,
    /// Tag names (LIKE, case-sensitive) or ids, on the event or the attribute.
    pub tags: Terms,
    /// Only tags on the event itself count.
    pub event_tags_only: bool,
    pub event_info: Terms,
    pub event_date: DateRange,
    pub attribute_timestamp: Option<TimeBound>,
    pub event_timestamp: Option<TimeBound>,
    pub publish_timestamp: Option<TimeBound>,
    /// first_seen ≥ (µs) and last_seen ≤ (µs), or ranges on each.
    pub first_seen: Option<TimeBound>,
    pub last_seen: Option<TimeBound>,
    /// Only attributes valid at this moment (µs), by `validity::is_valid_at` (Kizuna).
    pub valid_at: Option<i64>,
    pub published: Option<bool>,
    pub to_ids: Option<bool>,
    pub deleted: DeletedFilter,
    pub threat_level: Vec<i64>,
    pub analysis: Vec<i64>,
    pub distribution: Vec<i64>,
    pub sharing_group: Vec<i64>,
    /// Attributes in objects with these names.
    pub object_name: Terms,
    /// Substring over value, comment, event info, tags (MISP's searchall/quickFilter).
    pub search_all: Option<String>,
    /// Result order; None = by id, ascending.
    pub order: Option<SortOrder>,
    /// Event index `email`: substrings of the creating user's e-mail (site admins).
    pub creator_email: Terms,
    /// Events created by this user (the index's `email` filter for a non-admin's own address).
    pub creator_user: Option<i64>,
    /// Event index `hasproposal`: Kizuna has no proposals, so `true` matches nothing.
    pub has_proposal: Option<bool>,
}

/// What restSearch's `order` may sort on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderField {
    AttributeId,
    AttributeTimestamp,
    AttributeValue,
    AttributeType,
    AttributeCategory,
    EventId,
    EventDate,
    EventTimestamp,
    EventPublishTimestamp,
    EventInfo,
}

/// restSearch's `order` (`"Attribute.timestamp DESC"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortOrder {
    pub field: OrderField,
    pub descending: bool,
}

/// The page of a search: MISP's 1-based `page` of `limit` items; no limit = everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Paging {
    pub limit: Option<u64>,
    pub page: Option<u64>,
}

impl Paging {
    /// Items to skip before the page starts.
    pub fn offset(self) -> u64 {
        match self.limit {
            Some(limit) => self.page.unwrap_or(1).max(1).saturating_sub(1) * limit,
            None => 0,
        }
    }
}

//! The small closed vocabularies of the MISP data model, plus the context Kizuna adds
//! (intended use and status) on top of it.

use std::fmt;

/// Who may see an event, attribute, object or report (MISP `distribution`, 0–5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Distribution {
    OrganisationOnly = 0,
    CommunityOnly = 1,
    ConnectedCommunities = 2,
    AllCommunities = 3,
    SharingGroup = 4,
    InheritEvent = 5,
}

impl Distribution {
    pub fn from_i64(value: i64) -> Option<Self> {
        Some(match value {
            0 => Self::OrganisationOnly,
            1 => Self::CommunityOnly,
            2 => Self::ConnectedCommunities,
            3 => Self::AllCommunities,
            4 => Self::SharingGroup,
            5 => Self::InheritEvent,
            _ => return None,
        })
    }

    pub fn as_i64(self) -> i64 {
        self as i64
    }

    /// Events have no parent to inherit from, so level 5 is not valid for them.
    pub fn valid_for_event(self) -> bool {
        self != Self::InheritEvent
    }
}

/// MISP `threat_level_id`: 1 High, 2 Medium, 3 Low, 4 Undefined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThreatLevel {
    High = 1,
    Medium = 2,
    Low = 3,
    Undefined = 4,
}

impl ThreatLevel {
    pub fn from_i64(value: i64) -> Option<Self> {
        Some(match value {
            1 => Self::High,
            2 => Self::Medium,
            3 => Self::Low,
            4 => Self::Undefined,
            _ => return None,
        })
    }

    /// MISP accepts the level names as well as the numbers.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "high" => Self::High,
            "medium" => Self::Medium,
            "low" => Self::Low,
            "undefined" => Self::Undefined,
            _ => return None,
        })
    }

    pub fn as_i64(self) -> i64 {
        self as i64
    }
}

/// MISP `analysis`: 0 Initial, 1 Ongoing, 2 Completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Analysis {
    Initial = 0,
    Ongoing = 1,
    Completed = 2,
}

impl Analysis {
    pub fn from_i64(value: i64) -> Option<Self> {
        Some(match value {
            0 => Self::Initial,
            1 => Self::Ongoing,
            2 => Self::Completed,
            _ => return None,
        })
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "initial" => Self::Initial,
            "ongoing" => Self::Ongoing,
            "completed" | "complete" => Self::Completed,
            _ => return None,
        })
    }

    pub fn as_i64(self) -> i64 {
        self as i64
    }
}

/// How a recipient is meant to use an indicator (product brief, problem 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntendedUse {
    BlockOutbound,
    BlockInbound,
    Detect,
    HuntOnly,
}

impl IntendedUse {
    pub const ALL: [IntendedUse; 4] = [
        Self::BlockOutbound,
        Self::BlockInbound,
        Self::Detect,
        Self::HuntOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlockOutbound => "block-outbound",
            Self::BlockInbound => "block-inbound",
            Self::Detect => "detect",
            Self::HuntOnly => "hunt-only",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|use_| use_.as_str() == text)
    }
}

impl fmt::Display for IntendedUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Confidence state of an item: early information is useful if it says it is early
/// (product brief, problem 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemStatus {
    Preliminary,
    Confirmed,
    Withdrawn,
}

impl ItemStatus {
    pub const ALL: [ItemStatus; 3] = [Self::Preliminary, Self::Confirmed, Self::Withdrawn];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preliminary => "preliminary",
            Self::Confirmed => "confirmed",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

impl fmt::Display for ItemStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// MISP sighting `type`: 0 sighting, 1 false positive, 2 expiration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SightingType {
    Sighting = 0,
    FalsePositive = 1,
    Expiration = 2,
}

impl SightingType {
    pub fn from_i64(value: i64) -> Option<Self> {
        Some(match value {
            0 => Self::Sighting,
            1 => Self::FalsePositive,
            2 => Self::Expiration,
            _ => return None,
        })
    }

    pub fn as_i64(self) -> i64 {
        self as i64
    }
}

/// What an object reference points at (MISP `referenced_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReferencedType {
    Attribute = 0,
    Object = 1,
}

impl ReferencedType {
    pub fn from_i64(value: i64) -> Option<Self> {
        match value {
            0 => Some(Self::Attribute),
            1 => Some(Self::Object),
            _ => None,
        }
    }

    pub fn as_i64(self) -> i64 {
        self as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_round_trips_and_rejects_out_of_range() {
        for level in 0..=5 {
            assert_eq!(Distribution::from_i64(level).unwrap().as_i64(), level);
        }
        assert!(Distribution::from_i64(6).is_none());
        assert!(Distribution::from_i64(-1).is_none());
        assert!(!Distribution::InheritEvent.valid_for_event());
    }

    #[test]
    fn context_vocabularies_parse_their_own_names() {
        for use_ in IntendedUse::ALL {
            assert_eq!(IntendedUse::parse(use_.as_str()), Some(use_));
        }
        for status in ItemStatus::ALL {
            assert_eq!(ItemStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(IntendedUse::parse("block"), None);
    }

    #[test]
    fn threat_level_and_analysis_accept_names() {
        assert_eq!(ThreatLevel::from_name("High"), Some(ThreatLevel::High));
        assert_eq!(Analysis::from_name("Completed"), Some(Analysis::Completed));
        assert_eq!(Analysis::from_i64(3), None);
    }
}

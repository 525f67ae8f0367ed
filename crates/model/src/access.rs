//! MISP's read-access rules (misp-reference §2.2–2.3) as pure functions, so the store's
//! loads and the API's checks cannot disagree.

use crate::enums::Distribution;
use std::collections::HashSet;

/// Who is looking: a site admin sees everything; anyone else looks as an organisation that
/// belongs to some sharing groups.
#[derive(Clone, Debug)]
pub enum Viewer {
    SiteAdmin,
    Organisation {
        org_id: i64,
        sharing_groups: HashSet<i64>,
    },
}

impl Viewer {
    /// Whether an event owned (locally) by `owner_org_id` is visible. The owner is the
    /// event's `org_id`, not its creator `orgc_id`.
    pub fn sees_event(
        &self,
        owner_org_id: i64,
        distribution: Distribution,
        sharing_group_id: i64,
    ) -> bool {
        match self {
            Viewer::SiteAdmin => true,
            Viewer::Organisation {
                org_id,
                sharing_groups,
            } => {
                *org_id == owner_org_id
                    || match distribution {
                        Distribution::CommunityOnly
                        | Distribution::ConnectedCommunities
                        | Distribution::AllCommunities => true,
                        Distribution::SharingGroup => sharing_groups.contains(&sharing_group_id),
                        Distribution::OrganisationOnly | Distribution::InheritEvent => false,
                    }
            }
        }
    }

    /// Whether an attribute, object or report of a visible event owned by `owner_org_id` is
    /// visible. Level 5 (inherit) passes: the event-level check already gated it.
    pub fn sees_item(
        &self,
        owner_org_id: i64,
        distribution: Distribution,
        sharing_group_id: i64,
    ) -> bool {
        match self {
            Viewer::SiteAdmin => true,
            Viewer::Organisation {
                org_id,
                sharing_groups,
            } => {
                *org_id == owner_org_id
                    || match distribution {
                        Distribution::OrganisationOnly => false,
                        Distribution::SharingGroup => sharing_groups.contains(&sharing_group_id),
                        _ => true,
                    }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member_of(org_id: i64, groups: &[i64]) -> Viewer {
        Viewer::Organisation {
            org_id,
            sharing_groups: groups.iter().copied().collect(),
        }
    }

    #[test]
    fn events_follow_misp_distribution_rules() {
        let viewer = member_of(2, &[7]);
        assert!(viewer.sees_event(2, Distribution::OrganisationOnly, 0));
        assert!(!viewer.sees_event(1, Distribution::OrganisationOnly, 0));
        assert!(viewer.sees_event(1, Distribution::CommunityOnly, 0));
        assert!(viewer.sees_event(1, Distribution::AllCommunities, 0));
        assert!(viewer.sees_event(1, Distribution::SharingGroup, 7));
        assert!(!viewer.sees_event(1, Distribution::SharingGroup, 8));
        assert!(Viewer::SiteAdmin.sees_event(1, Distribution::OrganisationOnly, 0));
    }

    #[test]
    fn items_inherit_and_respect_their_own_level() {
        let viewer = member_of(2, &[]);
        assert!(viewer.sees_item(1, Distribution::InheritEvent, 0));
        assert!(!viewer.sees_item(1, Distribution::OrganisationOnly, 0));
        assert!(viewer.sees_item(2, Distribution::OrganisationOnly, 0));
        assert!(!viewer.sees_item(1, Distribution::SharingGroup, 3));
    }
}

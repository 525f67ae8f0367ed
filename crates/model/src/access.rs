//! MISP's read-access rules (misp-reference §2.2–2.3) as pure functions, so the store's
//! queries, the API's checks and the tests' oracle cannot disagree. The store's SQL
//! (search, index, correlations) is a translation of [`Viewer::sees_event`] and
//! [`Viewer::sees_attribute`]; the property tests compare every read path with
//! [`Viewer::visible_event`].

use crate::entities::Event;
use crate::enums::Distribution;
use std::collections::HashSet;

/// Who is looking: a site admin sees everything; anyone else looks as an organisation that
/// belongs to some sharing groups.
#[derive(Clone, Debug)]
pub enum Viewer {
    SiteAdmin,
    Organisation {
        org_id: i64,
        /// Sharing groups listing the organisation, or open to every organisation of this
        /// instance (`all_orgs` on server 0).
        sharing_groups: HashSet<i64>,
        /// MISP's `MISP.unpublishedprivate`: unpublished events are seen by their owner
        /// organisation only.
        unpublished_private: bool,
    },
}

impl Viewer {
    /// An organisation's view with unpublished events shared as usual (MISP's default).
    pub fn organisation(org_id: i64, sharing_groups: impl IntoIterator<Item = i64>) -> Self {
        Viewer::Organisation {
            org_id,
            sharing_groups: sharing_groups.into_iter().collect(),
            unpublished_private: false,
        }
    }

    /// The same view with `MISP.unpublishedprivate` set to `on`.
    pub fn with_unpublished_private(self, on: bool) -> Self {
        match self {
            Viewer::SiteAdmin => Viewer::SiteAdmin,
            Viewer::Organisation {
                org_id,
                sharing_groups,
                ..
            } => Viewer::Organisation {
                org_id,
                sharing_groups,
                unpublished_private: on,
            },
        }
    }

    /// The viewing organisation; None for a site admin.
    pub fn org_id(&self) -> Option<i64> {
        match self {
            Viewer::SiteAdmin => None,
            Viewer::Organisation { org_id, .. } => Some(*org_id),
        }
    }

    /// Whether an event owned (locally) by `owner_org_id` is visible. The owner is the
    /// event's `org_id`, not its creator `orgc_id`.
    pub fn sees_event(
        &self,
        owner_org_id: i64,
        distribution: Distribution,
        sharing_group_id: i64,
        published: bool,
    ) -> bool {
        match self {
            Viewer::SiteAdmin => true,
            Viewer::Organisation {
                org_id,
                sharing_groups,
                unpublished_private,
            } => {
                *org_id == owner_org_id
                    || ((published || !unpublished_private)
                        && match distribution {
                            Distribution::CommunityOnly
                            | Distribution::ConnectedCommunities
                            | Distribution::AllCommunities => true,
                            Distribution::SharingGroup => {
                                sharing_groups.contains(&sharing_group_id)
                            }
                            Distribution::OrganisationOnly | Distribution::InheritEvent => false,
                        })
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
                ..
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

    /// Whether an attribute of a visible event is visible: its own level, and that of the
    /// object holding it (`object`: distribution and sharing group), if any.
    pub fn sees_attribute(
        &self,
        owner_org_id: i64,
        distribution: Distribution,
        sharing_group_id: i64,
        object: Option<(Distribution, i64)>,
    ) -> bool {
        self.sees_item(owner_org_id, distribution, sharing_group_id)
            && object.is_none_or(|(object_distribution, object_group)| {
                self.sees_item(owner_org_id, object_distribution, object_group)
            })
    }

    /// The event as this viewer may see it: None if the event is invisible, otherwise a copy
    /// without the attributes and objects (with their attributes) the viewer may not see.
    /// This is the rule every read path implements.
    pub fn visible_event(&self, event: &Event) -> Option<Event> {
        if !self.sees_event(
            event.org_id,
            event.distribution,
            event.sharing_group_id,
            event.published,
        ) {
            return None;
        }
        let owner = event.org_id;
        let mut visible = event.clone();
        visible.attributes.retain(|attribute| {
            self.sees_item(owner, attribute.distribution, attribute.sharing_group_id)
        });
        visible
            .objects
            .retain(|object| self.sees_item(owner, object.distribution, object.sharing_group_id));
        for object in &mut visible.objects {
            object.attributes.retain(|attribute| {
                self.sees_item(owner, attribute.distribution, attribute.sharing_group_id)
            });
        }
        Some(visible)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member_of(org_id: i64, groups: &[i64]) -> Viewer {
        Viewer::organisation(org_id, groups.iter().copied())
    }

    #[test]
    fn events_follow_misp_distribution_rules() {
        let viewer = member_of(2, &[7]);
        assert!(viewer.sees_event(2, Distribution::OrganisationOnly, 0, false));
        assert!(!viewer.sees_event(1, Distribution::OrganisationOnly, 0, true));
        assert!(viewer.sees_event(1, Distribution::CommunityOnly, 0, false));
        assert!(viewer.sees_event(1, Distribution::AllCommunities, 0, true));
        assert!(viewer.sees_event(1, Distribution::SharingGroup, 7, true));
        assert!(!viewer.sees_event(1, Distribution::SharingGroup, 8, true));
        assert!(Viewer::SiteAdmin.sees_event(1, Distribution::OrganisationOnly, 0, false));
    }

    #[test]
    fn unpublished_private_hides_unpublished_events_from_other_organisations() {
        let viewer = member_of(2, &[7]).with_unpublished_private(true);
        assert!(!viewer.sees_event(1, Distribution::AllCommunities, 0, false));
        assert!(!viewer.sees_event(1, Distribution::SharingGroup, 7, false));
        assert!(viewer.sees_event(1, Distribution::AllCommunities, 0, true));
        assert!(viewer.sees_event(2, Distribution::OrganisationOnly, 0, false));
        assert!(Viewer::SiteAdmin.with_unpublished_private(true).sees_event(
            1,
            Distribution::OrganisationOnly,
            0,
            false
        ));
    }

    #[test]
    fn items_inherit_and_respect_their_own_level() {
        let viewer = member_of(2, &[]);
        assert!(viewer.sees_item(1, Distribution::InheritEvent, 0));
        assert!(!viewer.sees_item(1, Distribution::OrganisationOnly, 0));
        assert!(viewer.sees_item(2, Distribution::OrganisationOnly, 0));
        assert!(!viewer.sees_item(1, Distribution::SharingGroup, 3));
        assert!(!viewer.sees_attribute(
            1,
            Distribution::CommunityOnly,
            0,
            Some((Distribution::OrganisationOnly, 0))
        ));
        assert!(viewer.sees_attribute(1, Distribution::CommunityOnly, 0, None));
    }
}

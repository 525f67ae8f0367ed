//! MISP's write rights (misp-reference §1.3) in two layers, as MISP applies them:
//!
//! 1. [`check`]: the coarse per-action gate of MISP's ACLComponent, a table of
//!    (controller, action) → the role permissions required, consulted for every request
//!    before the controller runs. Site admins pass every gate; a gated action refused here
//!    never reaches its controller, so nothing it would look up or change is touched.
//! 2. The object-level rules the controllers apply once they hold the event (or sighting):
//!    [`may_modify_event`] (canModifyEvent), [`may_edit_event`], [`may_publish_event`]
//!    (canPublishEvent), [`may_modify_tags`] (canModifyTag), [`may_delete_attribute`],
//!    [`may_delete_sighting`] (canDeleteSighting) and [`sees_deleted_items`] (§2.3).
//!
//! Controllers not listed in the gate table (and unknown actions of listed ones) are not
//! gated here: their modules apply their own rules.

use super::Call;
use crate::error::{ApiError, ApiResult};
use Permission::*;
use Rule::*;
use kizuna_model::{Event, RolePermissions};

/// A role flag a gate may require.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Permission {
    Add,
    Modify,
    ModifyOrg,
    Publish,
    Tagger,
    TagEditor,
    Sighting,
    Warninglist,
}

impl Permission {
    fn held_by(self, role: &RolePermissions) -> bool {
        match self {
            Permission::Add => role.perm_add,
            Permission::Modify => role.perm_modify,
            Permission::ModifyOrg => role.perm_modify_org,
            Permission::Publish => role.perm_publish,
            Permission::Tagger => role.perm_tagger,
            Permission::TagEditor => role.perm_tag_editor,
            Permission::Sighting => role.perm_sighting,
            Permission::Warninglist => role.perm_warninglist,
        }
    }
}

/// Who passes a gate (site admins always do).
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// Any authenticated user (`*` in MISP's table).
    Anyone,
    /// Site admins only (an empty permission list in MISP's table).
    SiteAdminOnly,
    /// A role holding every one of these flags.
    AllOf(&'static [Permission]),
}

/// The gate table for the controllers Kizuna implements here, with actions spelled as
/// routing canonicalises them (lower case, no underscores). Values are MISP's.
const GATES: &[(&str, &[(&str, Rule)])] = &[
    (
        "eventblocklists",
        &[
            ("index", SiteAdminOnly),
            ("add", SiteAdminOnly),
            ("edit", SiteAdminOnly),
            ("delete", SiteAdminOnly),
        ],
    ),
    (
        "orgblocklists",
        &[
            ("index", SiteAdminOnly),
            ("add", SiteAdminOnly),
            ("edit", SiteAdminOnly),
            ("delete", SiteAdminOnly),
        ],
    ),
    (
        "events",
        &[
            ("add", AllOf(&[Add])),
            ("edit", AllOf(&[Add])),
            ("delete", AllOf(&[Add])),
            ("publish", AllOf(&[Publish])),
            ("alert", AllOf(&[Publish])),
            ("unpublish", AllOf(&[Modify])),
            ("addtag", AllOf(&[Tagger])),
            ("removetag", AllOf(&[Tagger])),
            ("uploadstix", AllOf(&[Add, Modify])),
            ("view", Anyone),
            ("index", Anyone),
            ("restsearch", Anyone),
        ],
    ),
    (
        "attributes",
        &[
            ("add", AllOf(&[Add])),
            ("edit", AllOf(&[Add])),
            ("delete", AllOf(&[Add])),
            ("restore", AllOf(&[Add])),
            ("describetypes", Anyone),
            ("view", Anyone),
            ("index", Anyone),
            ("restsearch", Anyone),
        ],
    ),
    (
        "objects",
        &[
            ("add", AllOf(&[Add])),
            ("edit", AllOf(&[Add])),
            ("delete", AllOf(&[Add])),
            ("view", Anyone),
            ("restsearch", Anyone),
        ],
    ),
    (
        "objectreferences",
        &[
            ("add", AllOf(&[Add])),
            ("delete", AllOf(&[Add])),
            ("view", Anyone),
        ],
    ),
    (
        "tags",
        &[
            ("add", AllOf(&[TagEditor])),
            ("edit", SiteAdminOnly),
            ("delete", SiteAdminOnly),
            ("attachtagtoobject", AllOf(&[Tagger])),
            ("removetagfromobject", AllOf(&[Tagger])),
            ("index", Anyone),
            ("view", Anyone),
            ("search", Anyone),
        ],
    ),
    (
        "sightings",
        &[
            ("add", AllOf(&[Sighting])),
            ("delete", AllOf(&[Sighting, ModifyOrg])),
            ("index", Anyone),
            ("view", Anyone),
            ("listsightings", Anyone),
            ("restsearch", Anyone),
        ],
    ),
    (
        "warninglists",
        &[
            ("toggleenable", AllOf(&[Warninglist])),
            ("enablewarninglist", AllOf(&[Warninglist])),
            ("add", AllOf(&[Warninglist])),
            ("edit", AllOf(&[Warninglist])),
            ("import", AllOf(&[Warninglist])),
            ("delete", AllOf(&[Warninglist])),
            ("update", SiteAdminOnly),
            ("index", Anyone),
            ("view", Anyone),
            ("checkvalue", Anyone),
            ("export", Anyone),
        ],
    ),
    (
        "taxiicollections",
        &[
            ("index", SiteAdminOnly),
            ("view", SiteAdminOnly),
            ("add", SiteAdminOnly),
            ("edit", SiteAdminOnly),
            ("delete", SiteAdminOnly),
        ],
    ),
];

fn gate(controller: &str, action: &str) -> Option<Rule> {
    GATES
        .iter()
        .find(|(name, _)| *name == controller)
        .and_then(|(_, actions)| actions.iter().find(|(name, _)| *name == action))
        .map(|(_, rule)| *rule)
}

fn passes(rule: Rule, role: &RolePermissions) -> bool {
    role.perm_site_admin
        || match rule {
            Anyone => true,
            SiteAdminOnly => false,
            AllOf(required) => required.iter().all(|permission| permission.held_by(role)),
        }
}

/// MISP's per-action gate: 403 when the caller's role lacks what the action requires.
pub(super) fn check(call: &Call) -> ApiResult<()> {
    match gate(&call.path.controller, &call.path.action) {
        Some(rule) if !passes(rule, &call.principal.role.permissions) => Err(ApiError::Forbidden(
            "You do not have permission to use this functionality.".into(),
        )),
        _ => Ok(()),
    }
}

/// MISP's canModifyEvent: site admin; perm_modify_org in the creator organisation; the
/// creating user with perm_modify. Sync users get nothing extra on locked events here: MISP
/// extends that right to the event edit alone ([`may_edit_event`]).
pub(super) fn may_modify_event(call: &Call, event: &Event) -> bool {
    let role = &call.principal.role.permissions;
    let user = &call.principal.user;
    role.perm_site_admin
        || (role.perm_modify_org && event.orgc_id == user.org_id)
        || (role.perm_modify && event.user_id == user.id)
}

/// `events/edit`: whoever may modify the event, or any sync user (MISP lets sync users past
/// the controller check over REST); then the save itself accepts only the creator
/// organisation, site admins, and sync users on events that arrived by sync (`locked`).
pub(super) fn may_edit_event(call: &Call, event: &Event) -> bool {
    let role = &call.principal.role.permissions;
    let org_id = call.principal.user.org_id;
    (may_modify_event(call, event) || role.perm_sync)
        && (role.perm_site_admin || event.orgc_id == org_id || (role.perm_sync && event.locked))
}

/// MISP's canPublishEvent: site admin, or perm_publish in the creator organisation.
pub(super) fn may_publish_event(call: &Call, event: &Event) -> bool {
    let role = &call.principal.role.permissions;
    role.perm_site_admin || (role.perm_publish && event.orgc_id == call.principal.user.org_id)
}

/// MISP's canModifyTag for attaching or removing a tag on `event` (or one of its
/// attributes): site admins; taggers (or sync users) who may modify the event; and, for
/// local tags, taggers of the organisation that runs the instance.
pub(super) async fn may_modify_tags(call: &Call, event: &Event, local: bool) -> ApiResult<bool> {
    let role = &call.principal.role.permissions;
    if role.perm_site_admin {
        return Ok(true);
    }
    if !(role.perm_tagger || role.perm_sync) {
        return Ok(false);
    }
    if may_modify_event(call, event) {
        return Ok(true);
    }
    Ok(local && is_host_org_member(call).await?)
}

/// Whether the caller belongs to the organisation that runs this instance
/// (MISP.host_org_id), whose users alone set local tags on other organisations' data.
pub(super) async fn is_host_org_member(call: &Call) -> ApiResult<bool> {
    let host = call
        .store()
        .setting("host_org_id")
        .await?
        .and_then(|value| value.parse::<i64>().ok());
    Ok(host == Some(call.principal.user.org_id))
}

/// Deleting an attribute (MISP's MispAttribute::deleteAttribute): site admins; on an event
/// that arrived by sync, sync users of the organisation holding it; otherwise users of the
/// creator organisation.
pub(super) fn may_delete_attribute(call: &Call, event: &Event) -> bool {
    let role = &call.principal.role.permissions;
    let org_id = call.principal.user.org_id;
    role.perm_site_admin
        || if event.locked {
            role.perm_sync && event.org_id == org_id
        } else {
            event.orgc_id == org_id
        }
}

/// MISP's canDeleteSighting: site admins, or perm_modify_org in the organisation that
/// reported the sighting.
pub(super) fn may_delete_sighting(call: &Call, sighting_org_id: i64) -> bool {
    let role = &call.principal.role.permissions;
    role.perm_site_admin || (role.perm_modify_org && sighting_org_id == call.principal.user.org_id)
}

/// Whether soft-deleted attributes and objects of `event` may be shown when asked for
/// (misp-reference §2.3): to site admins and sync users always, to anyone else only on
/// their own organisation's events.
pub(super) fn sees_deleted_items(call: &Call, event: &Event) -> bool {
    let role = &call.principal.role.permissions;
    role.perm_site_admin || role.perm_sync || event.org_id == call.principal.user.org_id
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stock roles as MISP ships them (misp-reference §1.3), by id.
    fn stock_role(id: i64) -> RolePermissions {
        let mut role = RolePermissions::default();
        let granted: &[&str] = match id {
            1 => &[
                "perm_site_admin",
                "perm_add",
                "perm_modify",
                "perm_modify_org",
                "perm_publish",
                "perm_sync",
                "perm_tagger",
                "perm_tag_editor",
                "perm_sighting",
                "perm_warninglist",
            ],
            2 => &[
                "perm_add",
                "perm_modify",
                "perm_modify_org",
                "perm_publish",
                "perm_tagger",
                "perm_tag_editor",
                "perm_sighting",
            ],
            5 => &[
                "perm_add",
                "perm_modify",
                "perm_modify_org",
                "perm_publish",
                "perm_sync",
                "perm_tagger",
                "perm_tag_editor",
                "perm_sighting",
            ],
            3 => &[
                "perm_add",
                "perm_modify",
                "perm_modify_org",
                "perm_tagger",
                "perm_sighting",
            ],
            4 => &[
                "perm_add",
                "perm_modify",
                "perm_modify_org",
                "perm_publish",
                "perm_tagger",
                "perm_sighting",
            ],
            _ => &["perm_auth", "perm_audit"],
        };
        for name in granted {
            assert!(role.set(name, true), "{name}");
        }
        role
    }

    #[test]
    fn read_only_passes_only_open_gates() {
        let read_only = stock_role(6);
        for (controller, actions) in GATES {
            for (action, rule) in *actions {
                let open = matches!(rule, Anyone);
                assert_eq!(passes(*rule, &read_only), open, "{controller}/{action}");
            }
        }
    }

    #[test]
    fn site_admins_pass_every_gate() {
        let admin = stock_role(1);
        for (_, actions) in GATES {
            for (_, rule) in *actions {
                assert!(passes(*rule, &admin));
            }
        }
    }

    #[test]
    fn stock_roles_against_representative_gates() {
        let cases: &[(&str, &str, [bool; 6])] = &[
            ("events", "add", [true, true, true, true, true, false]),
            ("events", "publish", [true, true, false, true, true, false]),
            ("tags", "add", [true, true, false, false, true, false]),
            ("tags", "edit", [true, false, false, false, false, false]),
            ("sightings", "delete", [true, true, true, true, true, false]),
            (
                "warninglists",
                "toggleenable",
                [true, false, false, false, false, false],
            ),
        ];
        for (controller, action, expected) in cases {
            let rule = gate(controller, action).expect("a gated action");
            for (index, allowed) in expected.iter().enumerate() {
                let role = stock_role(index as i64 + 1);
                assert_eq!(
                    passes(rule, &role),
                    *allowed,
                    "{controller}/{action} for role {}",
                    index + 1
                );
            }
        }
    }

    #[test]
    fn unknown_controllers_and_actions_are_not_gated_here() {
        assert!(gate("servers", "getversion").is_none());
        assert!(gate("events", "nosuchaction").is_none());
    }
}

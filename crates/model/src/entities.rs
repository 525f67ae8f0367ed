//! The MISP entities as Kizuna holds them in memory.
//!
//! Conventions (the same as MISP's own storage): local ids are `i64` (0 = none), UUIDs are
//! lower-case canonical strings, `timestamp`-like fields are Unix seconds, and
//! `first_seen` / `last_seen` / `valid_until` are Unix **microseconds**.

use crate::enums::{
    Analysis, Distribution, IntendedUse, ItemStatus, ReferencedType, SightingType, ThreatLevel,
};
use time::Date;

pub type Id = i64;

/// Organisation (`organisations`). `local` = has users on this instance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Organisation {
    pub id: Id,
    pub uuid: String,
    pub name: String,
    pub local: bool,
    pub description: String,
    pub org_type: String,
    pub nationality: String,
    pub sector: String,
    pub contacts: String,
    pub created_by: Id,
    pub date_created: i64,
    pub date_modified: i64,
    pub restricted_to_domain: Vec<String>,
    pub landingpage: String,
}

/// Role permission flags, named as MISP names its `perm_*` columns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolePermissions {
    pub perm_add: bool,
    pub perm_modify: bool,
    pub perm_modify_org: bool,
    pub perm_publish: bool,
    pub perm_delegate: bool,
    pub perm_sync: bool,
    pub perm_admin: bool,
    pub perm_audit: bool,
    pub perm_full: bool,
    pub perm_auth: bool,
    pub perm_site_admin: bool,
    pub perm_regexp_access: bool,
    pub perm_tagger: bool,
    pub perm_tag_editor: bool,
    pub perm_template: bool,
    pub perm_sharing_group: bool,
    pub perm_sighting: bool,
    pub perm_object_template: bool,
    pub perm_decaying: bool,
    pub perm_publish_zmq: bool,
    pub perm_publish_kafka: bool,
    pub perm_galaxy_editor: bool,
    pub perm_warninglist: bool,
    pub perm_view_feed_correlations: bool,
    pub perm_analyst_data: bool,
    pub perm_skip_otp: bool,
}

impl RolePermissions {
    /// Every flag as `(column name, value)`, in MISP's column order.
    pub fn flags(&self) -> [(&'static str, bool); 26] {
        [
            ("perm_add", self.perm_add),
            ("perm_modify", self.perm_modify),
            ("perm_modify_org", self.perm_modify_org),
            ("perm_publish", self.perm_publish),
            ("perm_delegate", self.perm_delegate),
            ("perm_sync", self.perm_sync),
            ("perm_admin", self.perm_admin),
            ("perm_audit", self.perm_audit),
            ("perm_full", self.perm_full),
            ("perm_auth", self.perm_auth),
            ("perm_site_admin", self.perm_site_admin),
            ("perm_regexp_access", self.perm_regexp_access),
            ("perm_tagger", self.perm_tagger),
            ("perm_tag_editor", self.perm_tag_editor),
            ("perm_template", self.perm_template),
            ("perm_sharing_group", self.perm_sharing_group),
            ("perm_sighting", self.perm_sighting),
            ("perm_object_template", self.perm_object_template),
            ("perm_decaying", self.perm_decaying),
            ("perm_publish_zmq", self.perm_publish_zmq),
            ("perm_publish_kafka", self.perm_publish_kafka),
            ("perm_galaxy_editor", self.perm_galaxy_editor),
            ("perm_warninglist", self.perm_warninglist),
            (
                "perm_view_feed_correlations",
                self.perm_view_feed_correlations,
            ),
            ("perm_analyst_data", self.perm_analyst_data),
            ("perm_skip_otp", self.perm_skip_otp),
        ]
    }

    /// Sets a flag by its column name; returns false for an unknown name.
    pub fn set(&mut self, name: &str, value: bool) -> bool {
        let slot = match name {
            "perm_add" => &mut self.perm_add,
            "perm_modify" => &mut self.perm_modify,
            "perm_modify_org" => &mut self.perm_modify_org,
            "perm_publish" => &mut self.perm_publish,
            "perm_delegate" => &mut self.perm_delegate,
            "perm_sync" => &mut self.perm_sync,
            "perm_admin" => &mut self.perm_admin,
            "perm_audit" => &mut self.perm_audit,
            "perm_full" => &mut self.perm_full,
            "perm_auth" => &mut self.perm_auth,
            "perm_site_admin" => &mut self.perm_site_admin,
            "perm_regexp_access" => &mut self.perm_regexp_access,
            "perm_tagger" => &mut self.perm_tagger,
            "perm_tag_editor" => &mut self.perm_tag_editor,
            "perm_template" => &mut self.perm_template,
            "perm_sharing_group" => &mut self.perm_sharing_group,
            "perm_sighting" => &mut self.perm_sighting,
            "perm_object_template" => &mut self.perm_object_template,
            "perm_decaying" => &mut self.perm_decaying,
            "perm_publish_zmq" => &mut self.perm_publish_zmq,
            "perm_publish_kafka" => &mut self.perm_publish_kafka,
            "perm_galaxy_editor" => &mut self.perm_galaxy_editor,
            "perm_warninglist" => &mut self.perm_warninglist,
            "perm_view_feed_correlations" => &mut self.perm_view_feed_correlations,
            "perm_analyst_data" => &mut self.perm_analyst_data,
            "perm_skip_otp" => &mut self.perm_skip_otp,
            _ => return false,
        };
        *slot = value;
        true
    }

    /// Sets the four event flags from MISP's `permission` code (see
    /// [`Self::permission_level`]); false for a code outside 0–3.
    pub fn set_permission_level(&mut self, level: i64) -> bool {
        let (add, modify, modify_org, publish) = match level {
            0 => (false, false, false, false),
            1 => (true, true, false, false),
            2 => (true, true, true, false),
            3 => (true, true, true, true),
            _ => return false,
        };
        self.perm_add = add;
        self.perm_modify = modify;
        self.perm_modify_org = modify_org;
        self.perm_publish = publish;
        true
    }

    /// The flags `self` grants that `other` does not, by column name.
    pub fn beyond(&self, other: &RolePermissions) -> Vec<&'static str> {
        let theirs = other.flags();
        self.flags()
            .iter()
            .zip(theirs.iter())
            .filter(|((_, mine), (_, their))| *mine && !*their)
            .map(|((name, _), _)| *name)
            .collect()
    }

    /// MISP's derived `permission` code: 0 read only, 1 manage own, 2 manage org, 3 publish.
    pub fn permission_level(&self) -> i64 {
        if self.perm_add && self.perm_modify && self.perm_publish {
            3
        } else if self.perm_add && self.perm_modify_org {
            2
        } else if self.perm_add {
            1
        } else {
            0
        }
    }
}

/// Role (`roles`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Role {
    pub id: Id,
    pub name: String,
    pub permissions: RolePermissions,
    pub default_role: bool,
    pub memory_limit: String,
    pub max_execution_time: String,
    pub restricted_to_site_admin: bool,
    pub enforce_rate_limit: bool,
    pub rate_limit_count: i64,
    pub created: i64,
    pub modified: i64,
}

impl Role {
    /// Roles only a site admin may hand out (MISP's UsersController::admin_add and
    /// admin_edit): site admin, sync, regexp access, or marked restricted to site admins.
    pub fn is_reserved_for_site_admins(&self) -> bool {
        self.permissions.perm_site_admin
            || self.permissions.perm_sync
            || self.permissions.perm_regexp_access
            || self.restricted_to_site_admin
    }
}

impl Organisation {
    /// MISP's `restricted_to_domain` rule: with no domains listed any address is fine;
    /// otherwise the address must end in a listed domain right after `@` or `.`.
    pub fn allows_email(&self, email: &str) -> bool {
        self.restricted_to_domain.is_empty()
            || self.restricted_to_domain.iter().any(|domain| {
                email.len() > domain.len()
                    && email.ends_with(domain.as_str())
                    && matches!(
                        email.as_bytes()[email.len() - domain.len() - 1],
                        b'@' | b'.'
                    )
            })
    }
}

/// User (`users`). API keys live in [`AuthKey`]; the password only as an argon2id hash,
/// which never leaves the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub id: Id,
    pub email: String,
    pub org_id: Id,
    pub role_id: Id,
    pub disabled: bool,
    pub autoalert: bool,
    pub contactalert: bool,
    pub termsaccepted: bool,
    pub change_pw: bool,
    pub nids_sid: i64,
    pub expiration: Option<i64>,
    pub last_login: i64,
    pub current_login: i64,
    pub last_api_access: i64,
    pub date_created: i64,
    pub date_modified: i64,
    /// ASCII-armoured OpenPGP public key for encrypted e-mail; empty = none.
    pub gpgkey: String,
    /// PEM S/MIME certificate for encrypted e-mail; empty = none.
    pub certif_public: String,
    pub notification_daily: bool,
    pub notification_weekly: bool,
    pub notification_monthly: bool,
    /// The user who created this account; 0 = unknown or the command line.
    pub invited_by: Id,
    /// Unix seconds of the last password change; 0 = never set.
    pub last_pw_change: i64,
}

impl User {
    /// MISP's e-mail rule (User::validateEmail): a local part of letters, digits and
    /// `!#$%&'*+/=?^_`{|}~-` in dot-separated runs, `@`, then a domain of ASCII letters,
    /// digits, `_`, `-` and `.`.
    pub fn is_valid_email(email: &str) -> bool {
        let Some((local, domain)) = email.rsplit_once('@') else {
            return false;
        };
        let local_ok = !local.is_empty()
            && local.split('.').all(|run| {
                !run.is_empty()
                    && run
                        .chars()
                        .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c))
            });
        let domain_ok = !domain.is_empty()
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        local_ok && domain_ok
    }
}

/// One API key of a user (`auth_keys`, MISP's advanced auth keys). Only a digest of the key
/// is stored; its first and last four characters are kept for display.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthKey {
    pub id: Id,
    pub uuid: String,
    pub authkey_start: String,
    pub authkey_end: String,
    pub created: i64,
    /// Unix seconds after which the key stops working; 0 = never.
    pub expiration: i64,
    /// A read-only key may search and view but not write.
    pub read_only: bool,
    pub user_id: Id,
    pub comment: String,
    /// Source addresses or CIDR blocks the key may be used from; empty = anywhere.
    pub allowed_ips: Vec<String>,
    pub last_used: i64,
}

impl AuthKey {
    pub fn is_expired(&self, now: i64) -> bool {
        self.expiration != 0 && self.expiration <= now
    }
}

/// Tag (`tags`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tag {
    pub id: Id,
    pub name: String,
    pub colour: String,
    pub exportable: bool,
    /// 0 = any organisation may use it.
    pub org_id: Id,
    /// 0 = any user may use it.
    pub user_id: Id,
    pub hide_tag: bool,
    pub numerical_value: Option<i64>,
    pub is_galaxy: bool,
    pub is_custom_galaxy: bool,
    pub local_only: bool,
}

/// MISP's event report: a named markdown write-up attached to an event (the threat behind
/// its indicators, how to use them), with its own distribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventReport {
    pub id: Id,
    pub uuid: String,
    pub event_id: Id,
    pub name: String,
    /// Markdown.
    pub content: String,
    pub distribution: Distribution,
    pub sharing_group_id: Id,
    pub timestamp: i64,
    pub deleted: bool,
}

/// A tag as attached to an event or attribute.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttachedTag {
    pub tag: Tag,
    /// Local attachments never leave the instance.
    pub local: bool,
    pub relationship_type: Option<String>,
}

/// Event (`events`).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: Id,
    pub uuid: String,
    pub info: String,
    pub date: Date,
    pub threat_level: ThreatLevel,
    pub analysis: Analysis,
    pub distribution: Distribution,
    pub sharing_group_id: Id,
    pub published: bool,
    pub publish_timestamp: i64,
    pub timestamp: i64,
    pub sighting_timestamp: i64,
    /// Owner organisation on this instance.
    pub org_id: Id,
    /// Creator organisation, wherever the event was authored.
    pub orgc_id: Id,
    pub user_id: Id,
    pub attribute_count: i64,
    pub locked: bool,
    pub proposal_email_lock: bool,
    pub disable_correlation: bool,
    pub extends_uuid: String,
    pub protected: Option<bool>,
    pub org: Option<Organisation>,
    pub orgc: Option<Organisation>,
    pub attributes: Vec<Attribute>,
    pub objects: Vec<MispObject>,
    pub tags: Vec<AttachedTag>,
}

impl Event {
    /// A fresh event with MISP's defaults, owned and created by `org_id`.
    pub fn new(uuid: String, info: String, date: Date, org_id: Id, now: i64) -> Self {
        Self {
            id: 0,
            uuid,
            info,
            date,
            threat_level: ThreatLevel::Undefined,
            analysis: Analysis::Initial,
            distribution: Distribution::OrganisationOnly,
            sharing_group_id: 0,
            published: false,
            publish_timestamp: 0,
            timestamp: now,
            sighting_timestamp: 0,
            org_id,
            orgc_id: org_id,
            user_id: 0,
            attribute_count: 0,
            locked: false,
            proposal_email_lock: false,
            disable_correlation: false,
            extends_uuid: String::new(),
            protected: None,
            org: None,
            orgc: None,
            attributes: Vec::new(),
            objects: Vec::new(),
            tags: Vec::new(),
        }
    }
}

/// Attribute (`attributes`). Composite types (`a|b`) keep their halves in `value1`/`value2`.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    pub id: Id,
    pub uuid: String,
    pub event_id: Id,
    /// 0 = not inside an object.
    pub object_id: Id,
    pub object_relation: Option<String>,
    pub category: String,
    pub attr_type: String,
    pub value1: String,
    pub value2: String,
    pub to_ids: bool,
    pub comment: String,
    pub distribution: Distribution,
    pub sharing_group_id: Id,
    pub timestamp: i64,
    pub deleted: bool,
    pub disable_correlation: bool,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    /// Kizuna context: end of validity, in microseconds.
    pub valid_until: Option<i64>,
    pub intended_use: Option<IntendedUse>,
    pub status: Option<ItemStatus>,
    /// Base64 payload of `attachment` / `malware-sample` attributes.
    pub data: Option<String>,
    pub tags: Vec<AttachedTag>,
}

impl Attribute {
    /// The MISP `value` field: `value1|value2` for composite types, else `value1`.
    pub fn value(&self) -> String {
        if crate::attribute_types::is_composite(&self.attr_type) {
            format!("{}|{}", self.value1, self.value2)
        } else {
            self.value1.clone()
        }
    }

    /// An attribute with MISP's defaults for everything but the given fields.
    pub fn new(
        uuid: String,
        attr_type: String,
        category: String,
        value1: String,
        value2: String,
    ) -> Self {
        Self {
            id: 0,
            uuid,
            event_id: 0,
            object_id: 0,
            object_relation: None,
            category,
            attr_type,
            value1,
            value2,
            to_ids: false,
            comment: String::new(),
            distribution: Distribution::InheritEvent,
            sharing_group_id: 0,
            timestamp: 0,
            deleted: false,
            disable_correlation: false,
            first_seen: None,
            last_seen: None,
            valid_until: None,
            intended_use: None,
            status: None,
            data: None,
            tags: Vec::new(),
        }
    }
}

/// MISP object (`objects`): a template-shaped group of attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct MispObject {
    pub id: Id,
    pub uuid: String,
    pub event_id: Id,
    pub name: String,
    pub meta_category: String,
    pub description: String,
    pub template_uuid: String,
    pub template_version: String,
    pub timestamp: i64,
    pub distribution: Distribution,
    pub sharing_group_id: Id,
    pub comment: String,
    pub deleted: bool,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub attributes: Vec<Attribute>,
    pub references: Vec<ObjectReference>,
}

/// Object reference (`object_references`): a typed edge from an object to an attribute or object.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectReference {
    pub id: Id,
    pub uuid: String,
    pub object_id: Id,
    pub event_id: Id,
    pub source_uuid: String,
    pub referenced_uuid: String,
    pub referenced_id: Id,
    pub referenced_type: ReferencedType,
    pub relationship_type: String,
    pub comment: String,
    pub timestamp: i64,
    pub deleted: bool,
}

/// Sighting (`sightings`): immutable report that an attribute was seen (or was a false positive).
#[derive(Clone, Debug, PartialEq)]
pub struct Sighting {
    pub id: Id,
    pub uuid: String,
    pub attribute_id: Id,
    pub event_id: Id,
    pub org_id: Id,
    pub date_sighting: i64,
    pub source: String,
    pub sighting_type: SightingType,
}

/// The sighted attribute, as sighting listings show it next to the sighting.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SightedAttribute {
    pub uuid: String,
    pub attr_type: String,
    pub category: String,
    /// The MISP `value`: `value1|value2` for composite types.
    pub value: String,
    pub to_ids: bool,
}

/// The event of a sighted attribute, as sighting listings show it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SightedEvent {
    pub uuid: String,
    pub org_id: Id,
    pub orgc_id: Id,
    pub info: String,
    /// Name of the creator organisation (`Orgc.name`).
    pub orgc_name: String,
}

/// A sighting with what MISP joins in when listing it.
#[derive(Clone, Debug, PartialEq)]
pub struct SightingDetails {
    pub sighting: Sighting,
    pub attribute: SightedAttribute,
    pub event: SightedEvent,
    /// None for the anonymous organisation 0, or one this instance does not know.
    pub reporter: Option<Organisation>,
}

/// Sharing group (`sharing_groups`) with its member organisations and servers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SharingGroup {
    pub id: Id,
    pub uuid: String,
    pub name: String,
    pub releasability: String,
    pub description: String,
    pub org_id: Id,
    pub organisation_uuid: String,
    pub sync_user_id: Id,
    pub active: bool,
    pub local: bool,
    pub roaming: bool,
    pub created: i64,
    pub modified: i64,
    pub orgs: Vec<SharingGroupOrg>,
    pub servers: Vec<SharingGroupServer>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharingGroupOrg {
    pub id: Id,
    pub org_id: Id,
    pub extend: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharingGroupServer {
    pub id: Id,
    /// 0 = this instance.
    pub server_id: Id,
    pub all_orgs: bool,
}

#[cfg(test)]
mod account_rule_tests {
    use super::*;

    #[test]
    fn emails_follow_misps_rule() {
        for good in [
            "a@b.c",
            "first.last+tag@example.org",
            "Jörg@example.de",
            "x@localhost",
        ] {
            assert!(User::is_valid_email(good), "{good}");
        }
        for bad in [
            "",
            "plain",
            "@example.org",
            "a@",
            "a..b@example.org",
            ".a@b.c",
            "a b@c.d",
            "a@b c.d",
            "a@exämple.de",
        ] {
            assert!(!User::is_valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn restricted_domains_match_after_at_or_dot() {
        let org = Organisation {
            restricted_to_domain: vec!["example.org".into()],
            ..Organisation::default()
        };
        assert!(org.allows_email("a@example.org"));
        assert!(org.allows_email("a@mail.example.org"));
        assert!(!org.allows_email("a@badexample.org"));
        assert!(!org.allows_email("example.org"));
        assert!(!org.allows_email("a@example.com"));
        assert!(Organisation::default().allows_email("anyone@anywhere.test"));
    }

    #[test]
    fn permission_levels_set_the_event_flags() {
        let mut permissions = RolePermissions::default();
        for level in 0..=3 {
            assert!(permissions.set_permission_level(level));
            assert_eq!(permissions.permission_level(), level);
        }
        assert!(!permissions.set_permission_level(4));
        assert_eq!(permissions.permission_level(), 3);
    }

    #[test]
    fn flags_beyond_another_role_are_listed() {
        let mut mine = RolePermissions::default();
        let mut theirs = RolePermissions::default();
        mine.set("perm_add", true);
        mine.set("perm_sync", true);
        theirs.set("perm_add", true);
        theirs.set("perm_audit", true);
        assert_eq!(mine.beyond(&theirs), ["perm_sync"]);
        assert_eq!(theirs.beyond(&mine), ["perm_audit"]);
        assert!(mine.beyond(&mine).is_empty());
    }
}

//! Row structs, one per table, decoded the same way on both backends (TEXT, BIGINT and
//! BOOLEAN columns only), and their conversion into model values.

use crate::{Result, StoreError};
use kizuna_model::{
    Analysis, AttachedTag, Attribute, Distribution, Event, IntendedUse, ItemStatus, MispObject,
    ObjectReference, Organisation, ReferencedType, Role, RolePermissions, Tag, ThreatLevel, User,
};
use time::Date;
use time::macros::format_description;

pub(crate) const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]");

pub(crate) fn format_date(date: Date) -> String {
    date.format(DATE_FORMAT)
        .expect("a calendar date always formats")
}

fn distribution(value: i64, what: &str) -> Result<Distribution> {
    Distribution::from_i64(value)
        .ok_or_else(|| StoreError::Corrupt(format!("{what} has distribution {value}")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct OrganisationRow {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub local: bool,
    pub description: String,
    pub org_type: String,
    pub nationality: String,
    pub sector: String,
    pub contacts: String,
    pub created_by: i64,
    pub date_created: i64,
    pub date_modified: i64,
    pub restricted_to_domain: String,
    pub landingpage: String,
}

impl From<OrganisationRow> for Organisation {
    fn from(row: OrganisationRow) -> Self {
        Organisation {
            id: row.id,
            uuid: row.uuid,
            name: row.name,
            local: row.local,
            description: row.description,
            org_type: row.org_type,
            nationality: row.nationality,
            sector: row.sector,
            contacts: row.contacts,
            created_by: row.created_by,
            date_created: row.date_created,
            date_modified: row.date_modified,
            restricted_to_domain: row
                .restricted_to_domain
                .lines()
                .filter(|line| !line.is_empty())
                .map(str::to_string)
                .collect(),
            landingpage: row.landingpage,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RoleRow {
    pub id: i64,
    pub name: String,
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
    pub default_role: bool,
    pub memory_limit: String,
    pub max_execution_time: String,
    pub restricted_to_site_admin: bool,
    pub enforce_rate_limit: bool,
    pub rate_limit_count: i64,
    pub created: i64,
    pub modified: i64,
}

impl From<RoleRow> for Role {
    fn from(row: RoleRow) -> Self {
        Role {
            id: row.id,
            name: row.name,
            permissions: RolePermissions {
                perm_add: row.perm_add,
                perm_modify: row.perm_modify,
                perm_modify_org: row.perm_modify_org,
                perm_publish: row.perm_publish,
                perm_delegate: row.perm_delegate,
                perm_sync: row.perm_sync,
                perm_admin: row.perm_admin,
                perm_audit: row.perm_audit,
                perm_full: row.perm_full,
                perm_auth: row.perm_auth,
                perm_site_admin: row.perm_site_admin,
                perm_regexp_access: row.perm_regexp_access,
                perm_tagger: row.perm_tagger,
                perm_tag_editor: row.perm_tag_editor,
                perm_template: row.perm_template,
                perm_sharing_group: row.perm_sharing_group,
                perm_sighting: row.perm_sighting,
                perm_object_template: row.perm_object_template,
                perm_decaying: row.perm_decaying,
                perm_publish_zmq: row.perm_publish_zmq,
                perm_publish_kafka: row.perm_publish_kafka,
                perm_galaxy_editor: row.perm_galaxy_editor,
                perm_warninglist: row.perm_warninglist,
                perm_view_feed_correlations: row.perm_view_feed_correlations,
                perm_analyst_data: row.perm_analyst_data,
                perm_skip_otp: row.perm_skip_otp,
            },
            default_role: row.default_role,
            memory_limit: row.memory_limit,
            max_execution_time: row.max_execution_time,
            restricted_to_site_admin: row.restricted_to_site_admin,
            enforce_rate_limit: row.enforce_rate_limit,
            rate_limit_count: row.rate_limit_count,
            created: row.created,
            modified: row.modified,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: i64,
    pub email: String,
    pub org_id: i64,
    pub role_id: i64,
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
    pub gpgkey: String,
    pub certif_public: String,
    pub notification_daily: bool,
    pub notification_weekly: bool,
    pub notification_monthly: bool,
    pub invited_by: i64,
    pub last_pw_change: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            email: row.email,
            org_id: row.org_id,
            role_id: row.role_id,
            disabled: row.disabled,
            autoalert: row.autoalert,
            contactalert: row.contactalert,
            termsaccepted: row.termsaccepted,
            change_pw: row.change_pw,
            nids_sid: row.nids_sid,
            expiration: row.expiration,
            last_login: row.last_login,
            current_login: row.current_login,
            last_api_access: row.last_api_access,
            date_created: row.date_created,
            date_modified: row.date_modified,
            gpgkey: row.gpgkey,
            certif_public: row.certif_public,
            notification_daily: row.notification_daily,
            notification_weekly: row.notification_weekly,
            notification_monthly: row.notification_monthly,
            invited_by: row.invited_by,
            last_pw_change: row.last_pw_change,
        }
    }
}

pub(crate) const TAG_COLUMNS: &str = "tags.id, tags.name, tags.colour, tags.exportable, tags.org_id, \
     tags.user_id, tags.hide_tag, tags.numerical_value, tags.is_galaxy, tags.is_custom_galaxy, \
     tags.local_only";

#[derive(sqlx::FromRow)]
pub(crate) struct TagRow {
    pub id: i64,
    pub name: String,
    pub colour: String,
    pub exportable: bool,
    pub org_id: i64,
    pub user_id: i64,
    pub hide_tag: bool,
    pub numerical_value: Option<i64>,
    pub is_galaxy: bool,
    pub is_custom_galaxy: bool,
    pub local_only: bool,
}

impl From<TagRow> for Tag {
    fn from(row: TagRow) -> Self {
        Tag {
            id: row.id,
            name: row.name,
            colour: row.colour,
            exportable: row.exportable,
            org_id: row.org_id,
            user_id: row.user_id,
            hide_tag: row.hide_tag,
            numerical_value: row.numerical_value,
            is_galaxy: row.is_galaxy,
            is_custom_galaxy: row.is_custom_galaxy,
            local_only: row.local_only,
        }
    }
}

/// A tag attachment joined with its tag: `owner_id` is the event or attribute id.
#[derive(sqlx::FromRow)]
pub(crate) struct AttachedTagRow {
    pub owner_id: i64,
    pub local: bool,
    pub relationship_type: Option<String>,
    #[sqlx(flatten)]
    pub tag: TagRow,
}

impl AttachedTagRow {
    pub fn into_attached(self) -> AttachedTag {
        AttachedTag {
            tag: self.tag.into(),
            local: self.local,
            relationship_type: self.relationship_type,
        }
    }
}

pub(crate) const EVENT_COLUMNS: &str = "events.id, events.uuid, events.info, events.date, \
     events.threat_level_id, events.analysis, events.distribution, events.sharing_group_id, \
     events.published, events.publish_timestamp, events.timestamp, events.sighting_timestamp, \
     events.org_id, events.orgc_id, events.user_id, events.attribute_count, events.locked, \
     events.proposal_email_lock, events.disable_correlation, events.extends_uuid, \
     events.protected";

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub id: i64,
    pub uuid: String,
    pub info: String,
    pub date: String,
    pub threat_level_id: i64,
    pub analysis: i64,
    pub distribution: i64,
    pub sharing_group_id: i64,
    pub published: bool,
    pub publish_timestamp: i64,
    pub timestamp: i64,
    pub sighting_timestamp: i64,
    pub org_id: i64,
    pub orgc_id: i64,
    pub user_id: i64,
    pub attribute_count: i64,
    pub locked: bool,
    pub proposal_email_lock: bool,
    pub disable_correlation: bool,
    pub extends_uuid: String,
    pub protected: Option<bool>,
}

impl EventRow {
    pub fn into_event(self) -> Result<Event> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("event {} has {what}", self.id));
        Ok(Event {
            id: self.id,
            date: Date::parse(&self.date, DATE_FORMAT).map_err(|_| corrupt("a bad date"))?,
            threat_level: ThreatLevel::from_i64(self.threat_level_id)
                .ok_or_else(|| corrupt("a bad threat level"))?,
            analysis: Analysis::from_i64(self.analysis).ok_or_else(|| corrupt("a bad analysis"))?,
            distribution: distribution(self.distribution, "event")?,
            uuid: self.uuid,
            info: self.info,
            sharing_group_id: self.sharing_group_id,
            published: self.published,
            publish_timestamp: self.publish_timestamp,
            timestamp: self.timestamp,
            sighting_timestamp: self.sighting_timestamp,
            org_id: self.org_id,
            orgc_id: self.orgc_id,
            user_id: self.user_id,
            attribute_count: self.attribute_count,
            locked: self.locked,
            proposal_email_lock: self.proposal_email_lock,
            disable_correlation: self.disable_correlation,
            extends_uuid: self.extends_uuid,
            protected: self.protected,
            org: None,
            orgc: None,
            attributes: Vec::new(),
            objects: Vec::new(),
            tags: Vec::new(),
        })
    }
}

pub(crate) const ATTRIBUTE_COLUMNS: &str = "attributes.id, attributes.uuid, attributes.event_id, \
     attributes.object_id, attributes.object_relation, attributes.category, attributes.type, \
     attributes.value1, attributes.value2, attributes.to_ids, attributes.comment, \
     attributes.distribution, attributes.sharing_group_id, attributes.timestamp, \
     attributes.deleted, attributes.disable_correlation, attributes.first_seen, \
     attributes.last_seen, attributes.valid_until, attributes.intended_use, attributes.status, \
     attributes.data";

#[derive(sqlx::FromRow)]
pub(crate) struct AttributeRow {
    pub id: i64,
    pub uuid: String,
    pub event_id: i64,
    pub object_id: i64,
    pub object_relation: Option<String>,
    pub category: String,
    #[sqlx(rename = "type")]
    pub attr_type: String,
    pub value1: String,
    pub value2: String,
    pub to_ids: bool,
    pub comment: String,
    pub distribution: i64,
    pub sharing_group_id: i64,
    pub timestamp: i64,
    pub deleted: bool,
    pub disable_correlation: bool,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub valid_until: Option<i64>,
    pub intended_use: Option<String>,
    pub status: Option<String>,
    pub data: Option<String>,
}

impl AttributeRow {
    pub fn into_attribute(self) -> Result<Attribute> {
        Ok(Attribute {
            distribution: distribution(self.distribution, "attribute")?,
            intended_use: self.intended_use.as_deref().and_then(IntendedUse::parse),
            status: self.status.as_deref().and_then(ItemStatus::parse),
            id: self.id,
            uuid: self.uuid,
            event_id: self.event_id,
            object_id: self.object_id,
            object_relation: self.object_relation,
            category: self.category,
            attr_type: self.attr_type,
            value1: self.value1,
            value2: self.value2,
            to_ids: self.to_ids,
            comment: self.comment,
            sharing_group_id: self.sharing_group_id,
            timestamp: self.timestamp,
            deleted: self.deleted,
            disable_correlation: self.disable_correlation,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            valid_until: self.valid_until,
            data: self.data,
            tags: Vec::new(),
        })
    }
}

pub(crate) const OBJECT_COLUMNS: &str = "objects.id, objects.uuid, objects.event_id, objects.name, \
     objects.meta_category, objects.description, objects.template_uuid, \
     objects.template_version, objects.timestamp, objects.distribution, \
     objects.sharing_group_id, objects.comment, objects.deleted, objects.first_seen, \
     objects.last_seen";

#[derive(sqlx::FromRow)]
pub(crate) struct ObjectRow {
    pub id: i64,
    pub uuid: String,
    pub event_id: i64,
    pub name: String,
    pub meta_category: String,
    pub description: String,
    pub template_uuid: String,
    pub template_version: String,
    pub timestamp: i64,
    pub distribution: i64,
    pub sharing_group_id: i64,
    pub comment: String,
    pub deleted: bool,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
}

impl ObjectRow {
    pub fn into_object(self) -> Result<MispObject> {
        Ok(MispObject {
            distribution: distribution(self.distribution, "object")?,
            id: self.id,
            uuid: self.uuid,
            event_id: self.event_id,
            name: self.name,
            meta_category: self.meta_category,
            description: self.description,
            template_uuid: self.template_uuid,
            template_version: self.template_version,
            timestamp: self.timestamp,
            sharing_group_id: self.sharing_group_id,
            comment: self.comment,
            deleted: self.deleted,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            attributes: Vec::new(),
            references: Vec::new(),
        })
    }
}

pub(crate) const REFERENCE_COLUMNS: &str = "object_references.id, object_references.uuid, \
     object_references.object_id, object_references.event_id, object_references.source_uuid, \
     object_references.referenced_uuid, object_references.referenced_id, \
     object_references.referenced_type, object_references.relationship_type, \
     object_references.comment, object_references.timestamp, object_references.deleted";

#[derive(sqlx::FromRow)]
pub(crate) struct ReferenceRow {
    pub id: i64,
    pub uuid: String,
    pub object_id: i64,
    pub event_id: i64,
    pub source_uuid: String,
    pub referenced_uuid: String,
    pub referenced_id: i64,
    pub referenced_type: i64,
    pub relationship_type: String,
    pub comment: String,
    pub timestamp: i64,
    pub deleted: bool,
}

impl From<ReferenceRow> for ObjectReference {
    fn from(row: ReferenceRow) -> Self {
        ObjectReference {
            id: row.id,
            uuid: row.uuid,
            object_id: row.object_id,
            event_id: row.event_id,
            source_uuid: row.source_uuid,
            referenced_uuid: row.referenced_uuid,
            referenced_id: row.referenced_id,
            referenced_type: ReferencedType::from_i64(row.referenced_type)
                .unwrap_or(ReferencedType::Attribute),
            relationship_type: row.relationship_type,
            comment: row.comment,
            timestamp: row.timestamp,
            deleted: row.deleted,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuthKeyRow {
    pub id: i64,
    pub uuid: String,
    pub authkey_start: String,
    pub authkey_end: String,
    pub created: i64,
    pub expiration: i64,
    pub read_only: bool,
    pub user_id: i64,
    pub comment: String,
    pub allowed_ips: String,
    pub last_used: i64,
}

impl From<AuthKeyRow> for kizuna_model::AuthKey {
    fn from(row: AuthKeyRow) -> Self {
        kizuna_model::AuthKey {
            id: row.id,
            uuid: row.uuid,
            authkey_start: row.authkey_start,
            authkey_end: row.authkey_end,
            created: row.created,
            expiration: row.expiration,
            read_only: row.read_only,
            user_id: row.user_id,
            comment: row.comment,
            allowed_ips: row
                .allowed_ips
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            last_used: row.last_used,
        }
    }
}

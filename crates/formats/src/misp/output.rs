//! Rendering model values as MISP JSON, field order and typing as MISP 2.5 emits them.
//!
//! MISP's typing comes from its MySQL columns: integer columns are JSON strings
//! (`"id": "12"`), `tinyint(1)` columns are JSON booleans, nullable columns are `null`
//! when unset, `first_seen`/`last_seen` are ISO 8601 text with microseconds and offset,
//! `datetime` columns are `"YYYY-MM-DD HH:MM:SS"`. Keys are inserted in MISP's order
//! (serde_json keeps insertion order in this workspace).
//!
//! Like MISP, an event or attribute without tags has no `Tag` key at all, and an event
//! without a loaded `Org`/`Orgc` has no such key.

use kizuna_model::attribute_types::{ATTRIBUTE_TYPES, CATEGORIES};
use kizuna_model::{
    AttachedTag, Attribute, AuthKey, Event, MispObject, ObjectReference, Organisation, Role, Tag,
    User,
};
use serde_json::{Map, Value, json};
use time::{Date, OffsetDateTime};

/// The inner event object (caller wraps it as `{"Event": ...}`).
pub fn render_event(event: &Event) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), int(event.id));
    map.insert("orgc_id".into(), int(event.orgc_id));
    map.insert("org_id".into(), int(event.org_id));
    map.insert("date".into(), Value::String(format_date(event.date)));
    map.insert("threat_level_id".into(), int(event.threat_level.as_i64()));
    map.insert("info".into(), Value::String(event.info.clone()));
    map.insert("published".into(), Value::Bool(event.published));
    map.insert("uuid".into(), Value::String(event.uuid.clone()));
    map.insert("attribute_count".into(), int(event.attribute_count));
    map.insert("analysis".into(), int(event.analysis.as_i64()));
    map.insert("timestamp".into(), int(event.timestamp));
    map.insert("distribution".into(), int(event.distribution.as_i64()));
    map.insert(
        "proposal_email_lock".into(),
        Value::Bool(event.proposal_email_lock),
    );
    map.insert("locked".into(), Value::Bool(event.locked));
    map.insert("publish_timestamp".into(), int(event.publish_timestamp));
    map.insert("sharing_group_id".into(), int(event.sharing_group_id));
    map.insert(
        "disable_correlation".into(),
        Value::Bool(event.disable_correlation),
    );
    map.insert(
        "extends_uuid".into(),
        Value::String(event.extends_uuid.clone()),
    );
    map.insert(
        "protected".into(),
        event.protected.map_or(Value::Null, Value::Bool),
    );
    if let Some(org) = &event.org {
        map.insert("Org".into(), render_org_stub(org));
    }
    if let Some(orgc) = &event.orgc {
        map.insert("Orgc".into(), render_org_stub(orgc));
    }
    map.insert(
        "Attribute".into(),
        Value::Array(event.attributes.iter().map(render_attribute).collect()),
    );
    map.insert("ShadowAttribute".into(), json!([]));
    map.insert("RelatedEvent".into(), json!([]));
    map.insert("Galaxy".into(), json!([]));
    map.insert(
        "Object".into(),
        Value::Array(event.objects.iter().map(render_object).collect()),
    );
    map.insert("EventReport".into(), json!([]));
    map.insert("CryptographicKey".into(), json!([]));
    if !event.tags.is_empty() {
        map.insert(
            "Tag".into(),
            Value::Array(event.tags.iter().map(render_attached_tag).collect()),
        );
    }
    Value::Object(map)
}

/// One row of `/events/index`: flat event fields, `Org`, `Orgc`, `EventTag[]`.
pub fn render_event_index_entry(event: &Event) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), int(event.id));
    map.insert("org_id".into(), int(event.org_id));
    map.insert("date".into(), Value::String(format_date(event.date)));
    map.insert("info".into(), Value::String(event.info.clone()));
    map.insert("uuid".into(), Value::String(event.uuid.clone()));
    map.insert("published".into(), Value::Bool(event.published));
    map.insert("analysis".into(), int(event.analysis.as_i64()));
    map.insert("attribute_count".into(), int(event.attribute_count));
    map.insert("orgc_id".into(), int(event.orgc_id));
    map.insert("timestamp".into(), int(event.timestamp));
    map.insert("distribution".into(), int(event.distribution.as_i64()));
    map.insert("sharing_group_id".into(), int(event.sharing_group_id));
    map.insert(
        "proposal_email_lock".into(),
        Value::Bool(event.proposal_email_lock),
    );
    map.insert("locked".into(), Value::Bool(event.locked));
    map.insert("threat_level_id".into(), int(event.threat_level.as_i64()));
    map.insert("publish_timestamp".into(), int(event.publish_timestamp));
    map.insert("sighting_timestamp".into(), int(event.sighting_timestamp));
    map.insert(
        "disable_correlation".into(),
        Value::Bool(event.disable_correlation),
    );
    map.insert(
        "extends_uuid".into(),
        Value::String(event.extends_uuid.clone()),
    );
    map.insert(
        "protected".into(),
        event.protected.map_or(Value::Null, Value::Bool),
    );
    if let Some(org) = &event.org {
        map.insert("Org".into(), index_org(org));
    }
    if let Some(orgc) = &event.orgc {
        map.insert("Orgc".into(), index_org(orgc));
    }
    let event_tags = event
        .tags
        .iter()
        .map(|attached| {
            json!({
                "event_id": int(event.id),
                "tag_id": int(attached.tag.id),
                "local": attached.local,
                "relationship_type": attached.relationship_type,
                "Tag": {
                    "id": int(attached.tag.id),
                    "name": attached.tag.name,
                    "colour": attached.tag.colour,
                    "is_galaxy": attached.tag.is_galaxy,
                },
            })
        })
        .collect();
    map.insert("EventTag".into(), Value::Array(event_tags));
    map.insert("GalaxyCluster".into(), json!([]));
    Value::Object(map)
}

pub fn render_attribute(attribute: &Attribute) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), int(attribute.id));
    map.insert("type".into(), Value::String(attribute.attr_type.clone()));
    map.insert("category".into(), Value::String(attribute.category.clone()));
    map.insert("to_ids".into(), Value::Bool(attribute.to_ids));
    map.insert("uuid".into(), Value::String(attribute.uuid.clone()));
    map.insert("event_id".into(), int(attribute.event_id));
    map.insert("distribution".into(), int(attribute.distribution.as_i64()));
    map.insert("timestamp".into(), int(attribute.timestamp));
    map.insert("comment".into(), Value::String(attribute.comment.clone()));
    map.insert("sharing_group_id".into(), int(attribute.sharing_group_id));
    map.insert("deleted".into(), Value::Bool(attribute.deleted));
    map.insert(
        "disable_correlation".into(),
        Value::Bool(attribute.disable_correlation),
    );
    map.insert("object_id".into(), int(attribute.object_id));
    map.insert(
        "object_relation".into(),
        attribute
            .object_relation
            .clone()
            .map_or(Value::Null, Value::String),
    );
    map.insert("first_seen".into(), seen(attribute.first_seen));
    map.insert("last_seen".into(), seen(attribute.last_seen));
    map.insert("value".into(), Value::String(attribute.value()));
    // Kizuna's context (PyMISP keeps unknown keys as plain attributes).
    map.insert("valid_until".into(), seen(attribute.valid_until));
    map.insert(
        "intended_use".into(),
        attribute
            .intended_use
            .map_or(Value::Null, |use_| Value::String(use_.as_str().into())),
    );
    map.insert(
        "status".into(),
        attribute
            .status
            .map_or(Value::Null, |status| Value::String(status.as_str().into())),
    );
    if let Some(data) = &attribute.data {
        map.insert("data".into(), Value::String(data.clone()));
    }
    map.insert("Galaxy".into(), json!([]));
    map.insert("ShadowAttribute".into(), json!([]));
    if !attribute.tags.is_empty() {
        map.insert(
            "Tag".into(),
            Value::Array(attribute.tags.iter().map(render_attached_tag).collect()),
        );
    }
    Value::Object(map)
}

pub fn render_object(object: &MispObject) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), int(object.id));
    map.insert("name".into(), Value::String(object.name.clone()));
    map.insert(
        "meta-category".into(),
        Value::String(object.meta_category.clone()),
    );
    map.insert(
        "description".into(),
        Value::String(object.description.clone()),
    );
    map.insert(
        "template_uuid".into(),
        Value::String(object.template_uuid.clone()),
    );
    map.insert(
        "template_version".into(),
        Value::String(object.template_version.clone()),
    );
    map.insert("event_id".into(), int(object.event_id));
    map.insert("uuid".into(), Value::String(object.uuid.clone()));
    map.insert("timestamp".into(), int(object.timestamp));
    map.insert("distribution".into(), int(object.distribution.as_i64()));
    map.insert("sharing_group_id".into(), int(object.sharing_group_id));
    map.insert("comment".into(), Value::String(object.comment.clone()));
    map.insert("deleted".into(), Value::Bool(object.deleted));
    map.insert("first_seen".into(), seen(object.first_seen));
    map.insert("last_seen".into(), seen(object.last_seen));
    map.insert(
        "ObjectReference".into(),
        Value::Array(
            object
                .references
                .iter()
                .map(render_object_reference)
                .collect(),
        ),
    );
    map.insert(
        "Attribute".into(),
        Value::Array(object.attributes.iter().map(render_attribute).collect()),
    );
    Value::Object(map)
}

pub fn render_object_reference(reference: &ObjectReference) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), int(reference.id));
    map.insert("uuid".into(), Value::String(reference.uuid.clone()));
    map.insert("timestamp".into(), int(reference.timestamp));
    map.insert("object_id".into(), int(reference.object_id));
    map.insert(
        "object_uuid".into(),
        Value::String(reference.source_uuid.clone()),
    );
    map.insert(
        "referenced_uuid".into(),
        Value::String(reference.referenced_uuid.clone()),
    );
    map.insert("referenced_id".into(), int(reference.referenced_id));
    map.insert(
        "referenced_type".into(),
        int(reference.referenced_type.as_i64()),
    );
    map.insert(
        "relationship_type".into(),
        Value::String(reference.relationship_type.clone()),
    );
    map.insert("comment".into(), Value::String(reference.comment.clone()));
    map.insert("deleted".into(), Value::Bool(reference.deleted));
    map.insert("event_id".into(), int(reference.event_id));
    map.insert(
        "source_uuid".into(),
        Value::String(reference.source_uuid.clone()),
    );
    Value::Object(map)
}

/// A tag as `/tags/view` and `/tags/index` show it.
pub fn render_tag(tag: &Tag) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), int(tag.id));
    map.insert("name".into(), Value::String(tag.name.clone()));
    map.insert("colour".into(), Value::String(tag.colour.clone()));
    map.insert("exportable".into(), Value::Bool(tag.exportable));
    map.insert("org_id".into(), int(tag.org_id));
    map.insert("user_id".into(), int(tag.user_id));
    map.insert("hide_tag".into(), Value::Bool(tag.hide_tag));
    map.insert(
        "numerical_value".into(),
        tag.numerical_value.map_or(Value::Null, int),
    );
    map.insert("is_galaxy".into(), Value::Bool(tag.is_galaxy));
    map.insert("is_custom_galaxy".into(), Value::Bool(tag.is_custom_galaxy));
    map.insert("local_only".into(), Value::Bool(tag.local_only));
    Value::Object(map)
}

/// A tag inside an event or attribute (`org_id` left out, as MISP does).
pub fn render_attached_tag(attached: &AttachedTag) -> Value {
    let tag = &attached.tag;
    let mut map = Map::new();
    map.insert("id".into(), int(tag.id));
    map.insert("name".into(), Value::String(tag.name.clone()));
    map.insert("colour".into(), Value::String(tag.colour.clone()));
    map.insert("exportable".into(), Value::Bool(tag.exportable));
    map.insert("user_id".into(), int(tag.user_id));
    map.insert("hide_tag".into(), Value::Bool(tag.hide_tag));
    map.insert(
        "numerical_value".into(),
        tag.numerical_value.map_or(Value::Null, int),
    );
    map.insert("is_galaxy".into(), Value::Bool(tag.is_galaxy));
    map.insert("is_custom_galaxy".into(), Value::Bool(tag.is_custom_galaxy));
    map.insert("local_only".into(), Value::Bool(tag.local_only));
    map.insert("local".into(), Value::Bool(attached.local));
    map.insert(
        "relationship_type".into(),
        attached
            .relationship_type
            .clone()
            .map_or(Value::Null, Value::String),
    );
    Value::Object(map)
}

/// `{id, name, uuid, local}` as embedded in events.
pub fn render_org_stub(org: &Organisation) -> Value {
    json!({
        "id": int(org.id),
        "name": org.name,
        "uuid": org.uuid,
        "local": org.local,
    })
}

/// The full organisation, as `/organisations/view` shows it.
pub fn render_organisation(org: &Organisation) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), int(org.id));
    map.insert("name".into(), Value::String(org.name.clone()));
    map.insert("date_created".into(), datetime(org.date_created));
    map.insert("date_modified".into(), datetime(org.date_modified));
    map.insert("description".into(), Value::String(org.description.clone()));
    map.insert("type".into(), Value::String(org.org_type.clone()));
    map.insert("nationality".into(), Value::String(org.nationality.clone()));
    map.insert("sector".into(), Value::String(org.sector.clone()));
    map.insert("created_by".into(), int(org.created_by));
    map.insert("uuid".into(), Value::String(org.uuid.clone()));
    map.insert("contacts".into(), Value::String(org.contacts.clone()));
    map.insert("local".into(), Value::Bool(org.local));
    map.insert(
        "restricted_to_domain".into(),
        json!(org.restricted_to_domain),
    );
    map.insert(
        "landingpage".into(),
        if org.landingpage.is_empty() {
            Value::Null
        } else {
            Value::String(org.landingpage.clone())
        },
    );
    Value::Object(map)
}

/// The `User` object of `/users/view/me` (the caller adds `Role`, `UserSetting`,
/// `Organisation`). The password is masked as MISP masks it, and — as MISP does when
/// advanced auth keys are on, which is Kizuna's only mode — no `authkey` key is given.
pub fn render_user(user: &User) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), int(user.id));
    map.insert("password".into(), Value::String("*****".into()));
    map.insert("org_id".into(), int(user.org_id));
    map.insert("server_id".into(), int(0));
    map.insert("email".into(), Value::String(user.email.clone()));
    map.insert("autoalert".into(), Value::Bool(user.autoalert));
    map.insert("invited_by".into(), int(user.invited_by));
    map.insert(
        "gpgkey".into(),
        if user.gpgkey.is_empty() {
            Value::Null
        } else {
            Value::String(user.gpgkey.clone())
        },
    );
    map.insert(
        "certif_public".into(),
        Value::String(user.certif_public.clone()),
    );
    map.insert("nids_sid".into(), int(user.nids_sid));
    map.insert("termsaccepted".into(), Value::Bool(user.termsaccepted));
    map.insert("newsread".into(), int(0));
    map.insert("role_id".into(), int(user.role_id));
    map.insert("change_pw".into(), Value::Bool(user.change_pw));
    map.insert("contactalert".into(), Value::Bool(user.contactalert));
    map.insert("disabled".into(), Value::Bool(user.disabled));
    map.insert(
        "expiration".into(),
        user.expiration.map_or(Value::Null, datetime),
    );
    map.insert("current_login".into(), int(user.current_login));
    map.insert("last_login".into(), int(user.last_login));
    map.insert("last_api_access".into(), int(user.last_api_access));
    map.insert("force_logout".into(), Value::Bool(false));
    map.insert("date_created".into(), int(user.date_created));
    map.insert("date_modified".into(), int(user.date_modified));
    map.insert("sub".into(), Value::Null);
    map.insert("external_auth_required".into(), Value::Bool(false));
    map.insert("external_auth_key".into(), Value::Null);
    map.insert(
        "notification_daily".into(),
        Value::Bool(user.notification_daily),
    );
    map.insert(
        "notification_weekly".into(),
        Value::Bool(user.notification_weekly),
    );
    map.insert(
        "notification_monthly".into(),
        Value::Bool(user.notification_monthly),
    );
    map.insert("totp".into(), Value::Null);
    map.insert("hotp_counter".into(), Value::Null);
    map.insert(
        "last_pw_change".into(),
        if user.last_pw_change == 0 {
            Value::Null
        } else {
            int(user.last_pw_change)
        },
    );
    Value::Object(map)
}

/// The `AuthKey` object of `/auth_keys/*` answers. Never holds the key or its digest: a
/// fresh key's clear text is added by the caller, once, as `authkey_raw`.
pub fn render_auth_key(key: &AuthKey) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), int(key.id));
    map.insert("uuid".into(), Value::String(key.uuid.clone()));
    map.insert(
        "authkey_start".into(),
        Value::String(key.authkey_start.clone()),
    );
    map.insert("authkey_end".into(), Value::String(key.authkey_end.clone()));
    map.insert("created".into(), int(key.created));
    map.insert("expiration".into(), int(key.expiration));
    map.insert("read_only".into(), Value::Bool(key.read_only));
    map.insert("user_id".into(), int(key.user_id));
    map.insert("comment".into(), Value::String(key.comment.clone()));
    map.insert(
        "allowed_ips".into(),
        if key.allowed_ips.is_empty() {
            Value::Null
        } else {
            json!(key.allowed_ips)
        },
    );
    map.insert("unique_ips".into(), json!([]));
    map.insert("last_used".into(), int(key.last_used));
    Value::Object(map)
}

pub fn render_role(role: &Role) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), int(role.id));
    map.insert("name".into(), Value::String(role.name.clone()));
    map.insert("created".into(), datetime(role.created));
    map.insert("modified".into(), datetime(role.modified));
    for (flag, value) in role.permissions.flags() {
        map.insert(flag.into(), Value::Bool(value));
    }
    map.insert("default_role".into(), Value::Bool(role.default_role));
    map.insert(
        "memory_limit".into(),
        Value::String(role.memory_limit.clone()),
    );
    map.insert(
        "max_execution_time".into(),
        Value::String(role.max_execution_time.clone()),
    );
    map.insert(
        "restricted_to_site_admin".into(),
        Value::Bool(role.restricted_to_site_admin),
    );
    map.insert(
        "enforce_rate_limit".into(),
        Value::Bool(role.enforce_rate_limit),
    );
    map.insert("rate_limit_count".into(), int(role.rate_limit_count));
    let level = role.permissions.permission_level();
    map.insert("permission".into(), int(level));
    map.insert(
        "permission_description".into(),
        Value::String(
            match level {
                3 => "publish",
                2 => "manage_org",
                1 => "manage_own",
                _ => "read_only",
            }
            .into(),
        ),
    );
    Value::Object(map)
}

/// `GET /attributes/describeTypes.json` body.
pub fn describe_types() -> Value {
    let mut sane_defaults = Map::new();
    let mut types = Vec::with_capacity(ATTRIBUTE_TYPES.len());
    for definition in ATTRIBUTE_TYPES {
        sane_defaults.insert(
            definition.name.into(),
            json!({
                "default_category": definition.default_category,
                "to_ids": i64::from(definition.to_ids),
            }),
        );
        types.push(Value::String(definition.name.into()));
    }
    let mut categories = Vec::with_capacity(CATEGORIES.len());
    let mut mappings = Map::new();
    for category in CATEGORIES {
        categories.push(Value::String(category.name.into()));
        mappings.insert(category.name.into(), json!(category.types));
    }
    json!({
        "result": {
            "sane_defaults": sane_defaults,
            "types": types,
            "categories": categories,
            "category_type_mappings": mappings,
        }
    })
}

/// µs since the epoch → `2019-06-25T15:26:00.000000+00:00`.
pub fn format_seen(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let moment = OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        moment.year(),
        u8::from(moment.month()),
        moment.day(),
        moment.hour(),
        moment.minute(),
        moment.second(),
        fraction
    )
}

/// An event date as MISP writes it: `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Unix seconds as a MySQL `datetime` text (`YYYY-MM-DD HH:MM:SS`, UTC).
pub fn format_datetime(seconds: i64) -> String {
    let moment = OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{} {:02}:{:02}:{:02}",
        format_date(moment.date()),
        moment.hour(),
        moment.minute(),
        moment.second()
    )
}

fn int(value: i64) -> Value {
    Value::String(value.to_string())
}

fn seen(micros: Option<i64>) -> Value {
    micros.map_or(Value::Null, |micros| Value::String(format_seen(micros)))
}

/// A `datetime` column: null when unset (0).
fn datetime(seconds: i64) -> Value {
    if seconds == 0 {
        Value::Null
    } else {
        Value::String(format_datetime(seconds))
    }
}

fn index_org(org: &Organisation) -> Value {
    json!({"id": int(org.id), "name": org.name, "uuid": org.uuid})
}

// ---------------------------------------------------------------------------------------
// Sightings (misp-reference §1.9, §4.6)
// ---------------------------------------------------------------------------------------

use kizuna_model::{Sighting, SightingDetails};

/// The sighting row in MISP's column order, as `/sightings/add` returns it (the caller wraps
/// it as `{"Sighting": …}`).
pub fn render_sighting(sighting: &Sighting) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), int(sighting.id));
    map.insert("attribute_id".into(), int(sighting.attribute_id));
    map.insert("event_id".into(), int(sighting.event_id));
    map.insert("org_id".into(), int(sighting.org_id));
    map.insert("date_sighting".into(), int(sighting.date_sighting));
    map.insert("uuid".into(), Value::String(sighting.uuid.clone()));
    map.insert("source".into(), Value::String(sighting.source.clone()));
    map.insert("type".into(), int(sighting.sighting_type.as_i64()));
    Value::Object(map)
}

fn sighting_reporter(org: &Organisation) -> Value {
    json!({"id": int(org.id), "uuid": org.uuid, "name": org.name})
}

/// A sighting as an event's attributes and `/sightings/index` carry it: the row, the
/// attribute's uuid and the reporting organisation (absent for the anonymous org 0).
pub fn render_sighting_with_reporter(details: &SightingDetails) -> Value {
    let mut rendered = render_sighting(&details.sighting);
    if let Some(map) = rendered.as_object_mut() {
        map.insert(
            "attribute_uuid".into(),
            Value::String(details.attribute.uuid.clone()),
        );
        if let Some(org) = &details.reporter {
            map.insert("Organisation".into(), sighting_reporter(org));
        }
    }
    rendered
}

/// One `/sightings/listSightings` entry: the row beside its reporter's name (null when the
/// reporter is unknown).
pub fn render_listed_sighting(details: &SightingDetails) -> Value {
    json!({
        "Sighting": render_sighting(&details.sighting),
        "Organisation": {"name": details.reporter.as_ref().map(|org| org.name.clone())},
    })
}

/// The `include*` switches of a sightings restSearch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SightingSearchOutput {
    /// `attribute_uuid` and `event_uuid` on the hit.
    pub include_uuid: bool,
    /// `Attribute: {id, value, uuid, type, category, to_ids}`.
    pub include_attribute: bool,
    /// `Event: {id, uuid, orgc_id, org_id, info, Orgc: {name}}`.
    pub include_event: bool,
}

/// One hit of `/sightings/restSearch` (the caller wraps it as `{"Sighting": …}`): the row,
/// the sighted `value`, what the switches ask for, and the reporter.
pub fn render_sighting_search_hit(
    details: &SightingDetails,
    output: SightingSearchOutput,
) -> Value {
    let sighting = &details.sighting;
    let mut rendered = render_sighting(sighting);
    let Some(map) = rendered.as_object_mut() else {
        return rendered;
    };
    map.insert(
        "value".into(),
        Value::String(details.attribute.value.clone()),
    );
    if output.include_uuid {
        map.insert(
            "attribute_uuid".into(),
            Value::String(details.attribute.uuid.clone()),
        );
        map.insert(
            "event_uuid".into(),
            Value::String(details.event.uuid.clone()),
        );
    }
    if output.include_attribute {
        let attribute = &details.attribute;
        map.insert(
            "Attribute".into(),
            json!({
                "id": int(sighting.attribute_id),
                "value": attribute.value,
                "uuid": attribute.uuid,
                "type": attribute.attr_type,
                "category": attribute.category,
                "to_ids": attribute.to_ids,
            }),
        );
    }
    if output.include_event {
        let event = &details.event;
        map.insert(
            "Event".into(),
            json!({
                "id": int(sighting.event_id),
                "uuid": event.uuid,
                "orgc_id": int(event.orgc_id),
                "org_id": int(event.org_id),
                "info": event.info,
                "Orgc": {"name": event.orgc_name},
            }),
        );
    }
    if let Some(org) = &details.reporter {
        map.insert("Organisation".into(), sighting_reporter(org));
    }
    rendered
}

/// The CSV columns of a sightings restSearch: MISP fixes them from the switches.
fn sighting_csv_columns(output: SightingSearchOutput) -> Vec<&'static str> {
    let mut columns = vec![
        "id",
        "attribute_id",
        "event_id",
        "org_id",
        "date_sighting",
        "uuid",
        "source",
        "type",
    ];
    if output.include_attribute {
        columns.extend([
            "attribute_uuid",
            "attribute_type",
            "attribute_category",
            "attribute_to_ids",
            "attribute_value",
        ]);
    }
    if output.include_event {
        columns.extend([
            "event_uuid",
            "event_orgc_id",
            "event_org_id",
            "event_info",
            "event_Orgc_name",
        ]);
    }
    columns
}

/// Whether PHP's `is_numeric` holds, which decides whether MISP quotes a CSV field.
fn looks_numeric(text: &str) -> bool {
    let trimmed = text.trim_start();
    !trimmed.is_empty()
        && trimmed.bytes().any(|b| b.is_ascii_digit())
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
        && trimmed.parse::<f64>().is_ok()
}

fn csv_field(value: Option<&Value>) -> String {
    match value {
        Some(Value::Bool(flag)) => if *flag { "1" } else { "0" }.to_string(),
        Some(Value::String(text)) if looks_numeric(text) => text.clone(),
        Some(Value::String(text)) => format!("\"{}\"", text.replace('"', "\"\"")),
        Some(Value::Number(number)) => number.to_string(),
        _ => "\"\"".to_string(),
    }
}

/// `/sightings/restSearch` as CSV: a header line, one line per hit (the `Attribute` and
/// `Event` members flattened to `attribute_*` / `event_*` columns), and MISP's closing
/// empty line.
pub fn render_sightings_csv(hits: &[SightingDetails], output: SightingSearchOutput) -> String {
    let columns = sighting_csv_columns(output);
    let mut csv = columns.join(",");
    csv.push('\n');
    for details in hits {
        let Value::Object(mut flat) = render_sighting_search_hit(details, output) else {
            continue;
        };
        for (member, prefix) in [("Event", "event_"), ("Attribute", "attribute_")] {
            if let Some(Value::Object(inner)) = flat.remove(member) {
                for (key, value) in inner {
                    match value {
                        Value::Object(nested) => {
                            for (nested_key, nested_value) in nested {
                                flat.insert(format!("{prefix}{key}_{nested_key}"), nested_value);
                            }
                        }
                        scalar => {
                            flat.insert(format!("{prefix}{key}"), scalar);
                        }
                    }
                }
            }
        }
        let line: Vec<String> = columns
            .iter()
            .map(|column| csv_field(flat.get(*column)))
            .collect();
        csv.push_str(&line.join(","));
        csv.push('\n');
    }
    csv.push('\n');
    csv
}

/// Puts rendered sightings (keyed by attribute id) under the `Sighting` key of each
/// attribute of a rendered event, top level and inside objects, as MISP's event JSON carries
/// them. Attributes without sightings get no key.
pub fn attach_sightings_to_event(
    event: &mut Value,
    mut by_attribute: std::collections::HashMap<i64, Vec<Value>>,
) {
    let mut attach = |attribute: &mut Value| {
        let id = attribute
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| id.parse::<i64>().ok());
        if let (Some(id), Some(map)) = (id, attribute.as_object_mut())
            && let Some(sightings) = by_attribute.remove(&id)
        {
            map.insert("Sighting".into(), Value::Array(sightings));
        }
    };
    if let Some(attributes) = event.get_mut("Attribute").and_then(Value::as_array_mut) {
        attributes.iter_mut().for_each(&mut attach);
    }
    if let Some(objects) = event.get_mut("Object").and_then(Value::as_array_mut) {
        for object in objects {
            if let Some(attributes) = object.get_mut("Attribute").and_then(Value::as_array_mut) {
                attributes.iter_mut().for_each(&mut attach);
            }
        }
    }
}

#[cfg(test)]
mod sighting_tests {
    use super::*;
    use kizuna_model::{SightedAttribute, SightedEvent, SightingType};

    fn details(reporter: Option<Organisation>) -> SightingDetails {
        SightingDetails {
            sighting: Sighting {
                id: 7,
                uuid: "5f0c7a1e-0000-4000-8000-00000000a001".into(),
                attribute_id: 12,
                event_id: 3,
                org_id: reporter.as_ref().map_or(0, |org| org.id),
                date_sighting: 1_700_000_000,
                source: "sensor \"A\"".into(),
                sighting_type: SightingType::FalsePositive,
            },
            attribute: SightedAttribute {
                uuid: "5f0c7a1e-0000-4000-8000-00000000b001".into(),
                attr_type: "ip-dst|port".into(),
                category: "Network activity".into(),
                value: "192.0.2.1|443".into(),
                to_ids: true,
            },
            event: SightedEvent {
                uuid: "5f0c7a1e-0000-4000-8000-00000000c001".into(),
                org_id: 1,
                orgc_id: 2,
                info: "campaign".into(),
                orgc_name: "CREATOR".into(),
            },
            reporter,
        }
    }

    fn reporter() -> Organisation {
        Organisation {
            id: 4,
            uuid: "5f0c7a1e-0000-4000-8000-00000000d001".into(),
            name: "REPORTER".into(),
            ..Organisation::default()
        }
    }

    #[test]
    fn sightings_render_with_misp_typing_and_order() {
        let with_org = render_sighting_with_reporter(&details(Some(reporter())));
        assert_eq!(
            serde_json::to_string(&with_org).unwrap(),
            concat!(
                r#"{"id":"7","attribute_id":"12","event_id":"3","org_id":"4","#,
                r#""date_sighting":"1700000000","uuid":"5f0c7a1e-0000-4000-8000-00000000a001","#,
                r#""source":"sensor \"A\"","type":"1","#,
                r#""attribute_uuid":"5f0c7a1e-0000-4000-8000-00000000b001","#,
                r#""Organisation":{"id":"4","uuid":"5f0c7a1e-0000-4000-8000-00000000d001","name":"REPORTER"}}"#
            )
        );
        let anonymous = render_sighting_with_reporter(&details(None));
        assert!(anonymous.get("Organisation").is_none());
        assert_eq!(
            render_listed_sighting(&details(None))["Organisation"],
            json!({"name": null})
        );
    }

    #[test]
    fn search_hits_follow_the_switches() {
        let plain =
            render_sighting_search_hit(&details(Some(reporter())), SightingSearchOutput::default());
        let keys: Vec<&str> = plain
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "attribute_id",
                "event_id",
                "org_id",
                "date_sighting",
                "uuid",
                "source",
                "type",
                "value",
                "Organisation"
            ]
        );
        let full = render_sighting_search_hit(
            &details(None),
            SightingSearchOutput {
                include_uuid: true,
                include_attribute: true,
                include_event: true,
            },
        );
        assert_eq!(
            full["event_uuid"],
            json!("5f0c7a1e-0000-4000-8000-00000000c001")
        );
        assert_eq!(full["Attribute"]["to_ids"], json!(true));
        assert_eq!(full["Attribute"]["id"], json!("12"));
        assert_eq!(full["Event"]["Orgc"], json!({"name": "CREATOR"}));
        assert_eq!(full["Event"]["orgc_id"], json!("2"));
    }

    #[test]
    fn csv_flattens_attribute_and_event() {
        let output = SightingSearchOutput {
            include_uuid: false,
            include_attribute: true,
            include_event: true,
        };
        let csv = render_sightings_csv(&[details(Some(reporter()))], output);
        let lines: Vec<&str> = csv.split('\n').collect();
        assert_eq!(
            lines[0],
            "id,attribute_id,event_id,org_id,date_sighting,uuid,source,type,attribute_uuid,\
             attribute_type,attribute_category,attribute_to_ids,attribute_value,event_uuid,\
             event_orgc_id,event_org_id,event_info,event_Orgc_name"
        );
        assert_eq!(
            lines[1],
            "7,12,3,4,1700000000,\"5f0c7a1e-0000-4000-8000-00000000a001\",\"sensor \"\"A\"\"\",1,\
             \"5f0c7a1e-0000-4000-8000-00000000b001\",\"ip-dst|port\",\"Network activity\",1,\
             \"192.0.2.1|443\",\"5f0c7a1e-0000-4000-8000-00000000c001\",2,1,\"campaign\",\"CREATOR\""
        );
        assert_eq!(&lines[2..], ["", ""]);
    }

    #[test]
    fn event_attributes_receive_their_sightings() {
        let mut event = json!({
            "Attribute": [{"id": "12"}, {"id": "13"}],
            "Object": [{"Attribute": [{"id": "14"}]}],
        });
        let mut by_attribute = std::collections::HashMap::new();
        by_attribute.insert(12, vec![json!({"id": "1"})]);
        by_attribute.insert(14, vec![json!({"id": "2"}), json!({"id": "3"})]);
        attach_sightings_to_event(&mut event, by_attribute);
        assert_eq!(event["Attribute"][0]["Sighting"], json!([{"id": "1"}]));
        assert!(event["Attribute"][1].get("Sighting").is_none());
        assert_eq!(
            event["Object"][0]["Attribute"][0]["Sighting"],
            json!([{"id": "2"}, {"id": "3"}])
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_and_dates_are_formatted_like_misp() {
        assert_eq!(
            format_seen(1_561_476_360_000_000),
            "2019-06-25T15:26:00.000000+00:00"
        );
        assert_eq!(
            format_seen(1_561_476_360_123_456),
            "2019-06-25T15:26:00.123456+00:00"
        );
        assert_eq!(format_seen(-1), "1969-12-31T23:59:59.999999+00:00");
        assert_eq!(format_datetime(1_561_476_360), "2019-06-25 15:26:00");
        assert_eq!(
            format_date(Date::from_calendar_date(2016, time::Month::June, 9).unwrap()),
            "2016-06-09"
        );
    }
}

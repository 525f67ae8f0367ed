//! Sharing groups in MISP JSON (misp-reference §1.10, §4.7): what `/sharing_groups/add`
//! and `/edit` accept, and the shapes MISP answers with — the `{SharingGroup, Organisation,
//! SharingGroupOrg, SharingGroupServer}` envelope of the index and view, and the
//! `SharingGroup` object embedded in events, attributes and objects of distribution 4.
//!
//! `created` and `modified` are MySQL `datetime` columns in MISP, so they are rendered as
//! `"YYYY-MM-DD HH:MM:SS"` text; `active`, `local`, `roaming`, `extend` and `all_orgs` are
//! `tinyint(1)` columns, so booleans.

use super::FieldErrors;
use super::input::{is_uuid, lenient_bool, lenient_i64};
use super::output::{format_datetime, render_org_stub};
use kizuna_model::{Organisation, SharingGroup, SharingGroupOrg, SharingGroupServer};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// A sharing group as a client describes it. Absent fields keep their stored (or default)
/// value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SharingGroupInput {
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub releasability: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
    pub roaming: Option<bool>,
    /// The owner, by local id or uuid (only site admins may choose it).
    pub org_id: Option<i64>,
    pub organisation_uuid: Option<String>,
    pub orgs: Vec<MemberOrgInput>,
    pub servers: Vec<MemberServerInput>,
}

/// An organisation named by a client: uuid first (ids are local to each instance), then
/// name, then local id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrgReference {
    pub id: Option<i64>,
    pub uuid: Option<String>,
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberOrgInput {
    pub org: OrgReference,
    pub extend: bool,
}

/// A server named by a client: a local id (0 is this instance) or a URL / name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberServerInput {
    pub server_id: Option<i64>,
    pub url: Option<String>,
    pub name: Option<String>,
    pub all_orgs: bool,
}

/// This instance as the `Server` of a `server_id` 0 entry.
#[derive(Clone, Copy, Debug)]
pub struct LocalServer<'a> {
    pub url: &'a str,
    pub name: &'a str,
}

/// Reads a sharing group from `{"SharingGroup": {...}}`, a bare object or `{"request": …}`;
/// `SharingGroupOrg` and `SharingGroupServer` may sit inside the group or next to it.
pub fn parse_sharing_group(body: &Value) -> Result<SharingGroupInput, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut outer = body;
    while let Value::Object(map) = outer {
        match map.get("request") {
            Some(inner) if map.len() == 1 => outer = inner,
            _ => break,
        }
    }
    let Value::Object(outer_map) = outer else {
        return Err(FieldErrors::single("SharingGroup", "must be a JSON object"));
    };
    let fields = match outer_map.get("SharingGroup") {
        Some(Value::Object(inner)) => inner,
        Some(_) => return Err(FieldErrors::single("SharingGroup", "must be a JSON object")),
        None => outer_map,
    };
    let mut input = SharingGroupInput {
        uuid: uuid_field(fields, "uuid", &mut errors),
        name: text_field(fields, "name", &mut errors),
        releasability: text_field(fields, "releasability", &mut errors),
        description: text_field(fields, "description", &mut errors),
        active: bool_field(fields, "active", &mut errors),
        roaming: bool_field(fields, "roaming", &mut errors),
        org_id: int_field(fields, "org_id", &mut errors),
        organisation_uuid: uuid_field(fields, "organisation_uuid", &mut errors),
        ..SharingGroupInput::default()
    };
    let orgs = list(fields, "SharingGroupOrg").or_else(|| list(outer_map, "SharingGroupOrg"));
    for (index, item) in orgs.unwrap_or_default().into_iter().enumerate() {
        let field = format!("SharingGroupOrg.{index}");
        match item {
            Value::Object(entry) => {
                if let Some(member) = member_org(entry, &field, &mut errors) {
                    input.orgs.push(member);
                }
            }
            _ => errors.add(&field, "must be a JSON object"),
        }
    }
    let servers =
        list(fields, "SharingGroupServer").or_else(|| list(outer_map, "SharingGroupServer"));
    for (index, item) in servers.unwrap_or_default().into_iter().enumerate() {
        let field = format!("SharingGroupServer.{index}");
        match item {
            Value::Object(entry) => {
                if let Some(member) = member_server(entry, &field, &mut errors) {
                    input.servers.push(member);
                }
            }
            _ => errors.add(&field, "must be a JSON object"),
        }
    }
    if errors.is_empty() {
        Ok(input)
    } else {
        Err(errors)
    }
}

/// The group's own columns, in MISP's order (the `SharingGroup` object of every answer).
pub fn render_sharing_group_fields(group: &SharingGroup) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), int(group.id));
    map.insert("uuid".into(), Value::String(group.uuid.clone()));
    map.insert("name".into(), Value::String(group.name.clone()));
    map.insert(
        "releasability".into(),
        Value::String(group.releasability.clone()),
    );
    map.insert(
        "description".into(),
        Value::String(group.description.clone()),
    );
    map.insert(
        "organisation_uuid".into(),
        Value::String(group.organisation_uuid.clone()),
    );
    map.insert("org_id".into(), int(group.org_id));
    map.insert("sync_user_id".into(), int(group.sync_user_id));
    map.insert("active".into(), Value::Bool(group.active));
    map.insert(
        "created".into(),
        Value::String(format_datetime(group.created)),
    );
    map.insert(
        "modified".into(),
        Value::String(format_datetime(group.modified)),
    );
    map.insert("local".into(), Value::Bool(group.local));
    map.insert("roaming".into(), Value::Bool(group.roaming));
    Value::Object(map)
}

/// `{"SharingGroup", "Organisation", "SharingGroupOrg", "SharingGroupServer"}`, as the
/// index, view, add and edit answer. `orgs` holds the organisations the group names (owner
/// and members); one that is missing is rendered without its `Organisation`.
pub fn render_sharing_group(
    group: &SharingGroup,
    orgs: &HashMap<i64, Organisation>,
    local: LocalServer<'_>,
) -> Value {
    let mut map = Map::new();
    map.insert("SharingGroup".into(), render_sharing_group_fields(group));
    if let Some(owner) = orgs.get(&group.org_id) {
        map.insert("Organisation".into(), render_org_stub(owner));
    }
    map.insert("SharingGroupOrg".into(), member_orgs(group, orgs));
    map.insert("SharingGroupServer".into(), member_servers(group, local));
    Value::Object(map)
}

/// The `SharingGroup` object embedded in an event, attribute or object: the group's
/// columns with `Organisation`, `SharingGroupOrg` and `SharingGroupServer` inside.
pub fn render_embedded_sharing_group(
    group: &SharingGroup,
    orgs: &HashMap<i64, Organisation>,
    local: LocalServer<'_>,
) -> Value {
    let mut rendered = render_sharing_group_fields(group);
    if let Value::Object(map) = &mut rendered {
        if let Some(owner) = orgs.get(&group.org_id) {
            map.insert("Organisation".into(), render_org_stub(owner));
        }
        map.insert("SharingGroupOrg".into(), member_orgs(group, orgs));
        map.insert("SharingGroupServer".into(), member_servers(group, local));
    }
    rendered
}

/// Puts `SharingGroup` (from `groups`, by id) into an event object (the inner `Event`)
/// and into each of its attributes, objects and object attributes of distribution 4.
/// Items whose group is not in `groups` are left as they are.
pub fn embed_sharing_groups(event: &mut Value, groups: &HashMap<i64, Value>) {
    embed_one(event, groups);
    for key in ["Attribute", "Object", "EventReport"] {
        let Some(Value::Array(items)) = event.get_mut(key) else {
            continue;
        };
        for item in items {
            embed_one(item, groups);
            if let Some(Value::Array(attributes)) = item.get_mut("Attribute") {
                for attribute in attributes {
                    embed_one(attribute, groups);
                }
            }
        }
    }
}

/// The sharing group ids that the event object and its items of distribution 4 name.
pub fn sharing_groups_named(event: &Value) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut note = |item: &Value| {
        if let Some(id) = group_of(item)
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    };
    note(event);
    for key in ["Attribute", "Object", "EventReport"] {
        for item in event
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            note(item);
            for attribute in item
                .get("Attribute")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                note(attribute);
            }
        }
    }
    ids
}

fn group_of(item: &Value) -> Option<i64> {
    let distribution = item.get("distribution").and_then(lenient_i64)?;
    let group = item.get("sharing_group_id").and_then(lenient_i64)?;
    (distribution == 4 && group > 0).then_some(group)
}

fn embed_one(item: &mut Value, groups: &HashMap<i64, Value>) {
    if let Some(group) = group_of(item).and_then(|id| groups.get(&id))
        && let Value::Object(map) = item
    {
        map.insert("SharingGroup".into(), group.clone());
    }
}

fn member_orgs(group: &SharingGroup, orgs: &HashMap<i64, Organisation>) -> Value {
    Value::Array(
        group
            .orgs
            .iter()
            .map(|member| render_member_org(group.id, member, orgs.get(&member.org_id)))
            .collect(),
    )
}

fn member_servers(group: &SharingGroup, local: LocalServer<'_>) -> Value {
    Value::Array(
        group
            .servers
            .iter()
            .map(|member| render_member_server(group.id, member, local))
            .collect(),
    )
}

fn render_member_org(
    sharing_group_id: i64,
    member: &SharingGroupOrg,
    org: Option<&Organisation>,
) -> Value {
    let mut rendered = json!({
        "id": int(member.id),
        "sharing_group_id": int(sharing_group_id),
        "org_id": int(member.org_id),
        "extend": member.extend,
    });
    if let Some(org) = org {
        rendered["Organisation"] = render_org_stub(org);
    }
    rendered
}

/// A member server; only this instance (server 0) can be described, since Kizuna keeps no
/// list of remote servers yet.
fn render_member_server(
    sharing_group_id: i64,
    member: &SharingGroupServer,
    local: LocalServer<'_>,
) -> Value {
    let mut rendered = json!({
        "id": int(member.id),
        "sharing_group_id": int(sharing_group_id),
        "server_id": int(member.server_id),
        "all_orgs": member.all_orgs,
    });
    if member.server_id == 0 {
        rendered["Server"] = json!({
            "id": "0",
            "url": local.url,
            "name": local.name,
        });
    }
    rendered
}

fn int(value: i64) -> Value {
    Value::String(value.to_string())
}

fn list<'a>(map: &'a Map<String, Value>, key: &str) -> Option<Vec<&'a Value>> {
    match map.get(key)? {
        Value::Array(items) => Some(items.iter().collect()),
        // A PHP array with numeric keys.
        Value::Object(entries)
            if !entries.is_empty()
                && entries
                    .keys()
                    .all(|k| k.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Some(entries.values().collect())
        }
        Value::Null => None,
        // A single member sent as an object; anything else is reported by the caller.
        item => Some(vec![item]),
    }
}

fn present<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key)
        .filter(|value| !value.is_null() && value.as_str() != Some(""))
}

fn text_field(map: &Map<String, Value>, key: &str, errors: &mut FieldErrors) -> Option<String> {
    match map.get(key)? {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => {
            errors.add(key, "must be a string");
            None
        }
    }
}

fn bool_field(map: &Map<String, Value>, key: &str, errors: &mut FieldErrors) -> Option<bool> {
    let value = present(map, key)?;
    let parsed = lenient_bool(value);
    if parsed.is_none() {
        errors.add(key, "must be a boolean (true/false or 1/0)");
    }
    parsed
}

fn int_field(map: &Map<String, Value>, key: &str, errors: &mut FieldErrors) -> Option<i64> {
    let value = present(map, key)?;
    let parsed = lenient_i64(value);
    if parsed.is_none() {
        errors.add(key, "must be an integer");
    }
    parsed
}

fn uuid_field(map: &Map<String, Value>, key: &str, errors: &mut FieldErrors) -> Option<String> {
    let value = present(map, key)?;
    match value.as_str().map(str::trim) {
        Some(text) if is_uuid(text) => Some(text.to_ascii_lowercase()),
        _ => {
            errors.add(key, "must be a UUID");
            None
        }
    }
}

/// `{"Organisation": {uuid, name, id}, "extend"}`, `{"org_id", "extend"}` or the
/// organisation's fields next to `extend`.
fn member_org(
    entry: &Map<String, Value>,
    field: &str,
    errors: &mut FieldErrors,
) -> Option<MemberOrgInput> {
    let mut local_errors = FieldErrors::new();
    let nested = match entry.get("Organisation") {
        Some(Value::Object(org)) => Some(org),
        Some(Value::Array(items)) => items.first().and_then(Value::as_object),
        _ => None,
    };
    let mut org = OrgReference::default();
    for source in nested.into_iter().chain(std::iter::once(entry)) {
        if org.uuid.is_none() {
            org.uuid = uuid_field(source, "uuid", &mut local_errors);
        }
        if org.name.is_none() {
            org.name = text_field(source, "name", &mut local_errors)
                .map(|name| name.trim().to_string())
                .filter(|name| !name.is_empty());
        }
    }
    org.id = nested
        .and_then(|nested| int_field(nested, "id", &mut local_errors))
        .or_else(|| int_field(entry, "org_id", &mut local_errors));
    let extend = bool_field(entry, "extend", &mut local_errors).unwrap_or(false);
    if org.id.is_none() && org.uuid.is_none() && org.name.is_none() {
        local_errors.add(
            "Organisation",
            "names no organisation (give a uuid, name or org_id)",
        );
    }
    let failed = !local_errors.is_empty();
    for (key, messages) in local_errors.0 {
        for message in messages {
            errors.add(&format!("{field}.{key}"), message);
        }
    }
    (!failed).then_some(MemberOrgInput { org, extend })
}

/// `{"server_id", "all_orgs"}` or `{"Server": {id, url, name}, "all_orgs"}`.
fn member_server(
    entry: &Map<String, Value>,
    field: &str,
    errors: &mut FieldErrors,
) -> Option<MemberServerInput> {
    let mut local_errors = FieldErrors::new();
    let nested = match entry.get("Server") {
        Some(Value::Object(server)) => Some(server),
        Some(Value::Array(items)) => items.first().and_then(Value::as_object),
        _ => None,
    };
    let mut member = MemberServerInput {
        server_id: int_field(entry, "server_id", &mut local_errors),
        ..MemberServerInput::default()
    };
    if let Some(server) = nested {
        if member.server_id.is_none() {
            member.server_id = int_field(server, "id", &mut local_errors);
        }
        member.url = text_field(server, "url", &mut local_errors).filter(|url| !url.is_empty());
        member.name = text_field(server, "name", &mut local_errors).filter(|name| !name.is_empty());
    }
    member.all_orgs = bool_field(entry, "all_orgs", &mut local_errors)
        .or_else(|| nested.and_then(|server| bool_field(server, "all_orgs", &mut local_errors)))
        .unwrap_or(false);
    if member.server_id.is_none() && member.url.is_none() && member.name.is_none() {
        local_errors.add(
            "server_id",
            "names no server (give server_id or Server.url)",
        );
    }
    let failed = !local_errors.is_empty();
    for (key, messages) in local_errors.0 {
        for message in messages {
            errors.add(&format!("{field}.{key}"), message);
        }
    }
    (!failed).then_some(member)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: i64, name: &str) -> Organisation {
        Organisation {
            id,
            uuid: format!("00000000-0000-4000-8000-00000000000{id}"),
            name: name.into(),
            local: true,
            ..Organisation::default()
        }
    }

    fn group() -> SharingGroup {
        SharingGroup {
            id: 7,
            uuid: "5f0c7a1e-0000-4000-8000-000000000007".into(),
            name: "Partners".into(),
            releasability: "TLP:AMBER".into(),
            org_id: 1,
            organisation_uuid: "00000000-0000-4000-8000-000000000001".into(),
            active: true,
            local: true,
            created: 1_700_000_000,
            modified: 1_700_000_060,
            orgs: vec![
                SharingGroupOrg {
                    id: 3,
                    org_id: 1,
                    extend: true,
                },
                SharingGroupOrg {
                    id: 4,
                    org_id: 2,
                    extend: false,
                },
            ],
            servers: vec![SharingGroupServer {
                id: 5,
                server_id: 0,
                all_orgs: false,
            }],
            ..SharingGroup::default()
        }
    }

    fn orgs() -> HashMap<i64, Organisation> {
        [(1, org(1, "Owner")), (2, org(2, "Member"))].into()
    }

    const LOCAL: LocalServer<'static> = LocalServer {
        url: "https://misp.example",
        name: "https://misp.example",
    };

    #[test]
    fn the_envelope_has_misp_typing() {
        let rendered = render_sharing_group(&group(), &orgs(), LOCAL);
        assert_eq!(rendered["SharingGroup"]["id"], json!("7"));
        assert_eq!(rendered["SharingGroup"]["active"], json!(true));
        assert_eq!(
            rendered["SharingGroup"]["created"],
            json!("2023-11-14 22:13:20")
        );
        assert_eq!(rendered["Organisation"]["name"], json!("Owner"));
        assert_eq!(rendered["SharingGroupOrg"][1]["org_id"], json!("2"));
        assert_eq!(rendered["SharingGroupOrg"][1]["extend"], json!(false));
        assert_eq!(
            rendered["SharingGroupOrg"][1]["Organisation"]["name"],
            json!("Member")
        );
        assert_eq!(
            rendered["SharingGroupServer"][0]["Server"],
            json!({"id": "0", "url": "https://misp.example", "name": "https://misp.example"})
        );
    }

    #[test]
    fn members_of_unknown_organisations_have_no_organisation() {
        let mut only_owner = orgs();
        only_owner.remove(&2);
        let rendered = render_sharing_group(&group(), &only_owner, LOCAL);
        assert!(rendered["SharingGroupOrg"][1].get("Organisation").is_none());
    }

    #[test]
    fn embedding_reaches_event_attributes_objects_and_object_attributes() {
        let embedded = render_embedded_sharing_group(&group(), &orgs(), LOCAL);
        assert_eq!(embedded["name"], json!("Partners"));
        assert_eq!(embedded["SharingGroupOrg"][0]["extend"], json!(true));
        let mut event = json!({
            "distribution": "4", "sharing_group_id": "7",
            "Attribute": [
                {"distribution": "4", "sharing_group_id": "7"},
                {"distribution": "5", "sharing_group_id": "0"},
                {"distribution": "4", "sharing_group_id": "8"},
            ],
            "Object": [{
                "distribution": "1", "sharing_group_id": "0",
                "Attribute": [{"distribution": 4, "sharing_group_id": 7}],
            }],
        });
        assert_eq!(sharing_groups_named(&event), [7, 8]);
        let groups: HashMap<i64, Value> = [(7, embedded.clone())].into();
        embed_sharing_groups(&mut event, &groups);
        assert_eq!(event["SharingGroup"], embedded);
        assert_eq!(event["Attribute"][0]["SharingGroup"], embedded);
        assert!(event["Attribute"][1].get("SharingGroup").is_none());
        assert!(event["Attribute"][2].get("SharingGroup").is_none());
        assert!(event["Object"][0].get("SharingGroup").is_none());
        assert_eq!(event["Object"][0]["Attribute"][0]["SharingGroup"], embedded);
    }

    #[test]
    fn input_comes_bare_or_enveloped_with_members_in_either_place() {
        let bare = parse_sharing_group(&json!({
            "name": "SG", "releasability": "R", "active": "1", "roaming": 0,
            "SharingGroupOrg": [
                {"org_id": "4", "extend": true},
                {"Organisation": {"uuid": "5F0C7A1E-0000-4000-8000-000000000001", "name": "X"}},
                {"name": "By name", "extend": "1"},
            ],
            "SharingGroupServer": [
                {"server_id": 0, "all_orgs": true},
                {"Server": {"url": "https://peer.example"}},
            ],
        }))
        .unwrap();
        assert_eq!(bare.name.as_deref(), Some("SG"));
        assert_eq!(bare.active, Some(true));
        assert_eq!(bare.roaming, Some(false));
        assert_eq!(bare.orgs[0].org.id, Some(4));
        assert!(bare.orgs[0].extend);
        assert_eq!(
            bare.orgs[1].org.uuid.as_deref(),
            Some("5f0c7a1e-0000-4000-8000-000000000001")
        );
        assert!(!bare.orgs[1].extend);
        assert_eq!(bare.orgs[2].org.name.as_deref(), Some("By name"));
        assert_eq!(bare.servers[0].server_id, Some(0));
        assert!(bare.servers[0].all_orgs);
        assert_eq!(bare.servers[1].url.as_deref(), Some("https://peer.example"));

        let enveloped = parse_sharing_group(&json!({
            "request": {
                "SharingGroup": {"name": "SG", "uuid": ""},
                "SharingGroupOrg": [{"org_id": 2}],
            }
        }))
        .unwrap();
        assert_eq!(enveloped.name.as_deref(), Some("SG"));
        assert_eq!(enveloped.uuid, None);
        assert_eq!(enveloped.orgs[0].org.id, Some(2));
    }

    #[test]
    fn bad_input_names_each_field() {
        let errors = parse_sharing_group(&json!({
            "name": ["x"], "active": "maybe", "uuid": "nope",
            "SharingGroupOrg": [{"extend": true}, "four"],
            "SharingGroupServer": [{"all_orgs": "perhaps", "server_id": 0}],
        }))
        .unwrap_err();
        let fields: Vec<&str> = errors.0.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "SharingGroupOrg.0.Organisation",
                "SharingGroupOrg.1",
                "SharingGroupServer.0.all_orgs",
                "active",
                "name",
                "uuid",
            ]
        );
        assert!(parse_sharing_group(&json!([1])).is_err());
    }
}

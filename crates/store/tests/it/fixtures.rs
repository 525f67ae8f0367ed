//! Small builders for the entities the contract tests store.

use kizuna_model::{
    AttachedTag, Attribute, Distribution, Event, MispObject, ObjectReference, Organisation,
    ReferencedType, Tag, User,
};
use kizuna_store::{Key, Store};
use time::macros::date;

/// A fixed "now" the tests move forward from.
pub const T0: i64 = 1_700_000_000;

pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn org(name: &str) -> Organisation {
    Organisation {
        uuid: new_uuid(),
        name: name.to_string(),
        local: true,
        description: format!("{name} description"),
        org_type: "CSIRT".into(),
        nationality: "Japan".into(),
        sector: "Government".into(),
        contacts: "soc@example.org".into(),
        created_by: 0,
        date_created: T0,
        date_modified: T0,
        restricted_to_domain: Vec::new(),
        landingpage: String::new(),
        ..Organisation::default()
    }
}

pub async fn create_org(store: &Store, name: &str) -> Organisation {
    store.create_org(&org(name)).await.expect("create org")
}

pub fn user(email: &str, org_id: i64, role_id: i64) -> User {
    User {
        email: email.to_string(),
        org_id,
        role_id,
        nids_sid: 4_000_000,
        date_created: T0,
        date_modified: T0,
        ..User::default()
    }
}

pub fn event(org_id: i64, info: &str) -> Event {
    let mut event = Event::new(
        new_uuid(),
        info.to_string(),
        date!(2024 - 05 - 17),
        org_id,
        T0,
    );
    event.distribution = Distribution::CommunityOnly;
    event
}

pub fn attribute(attr_type: &str, category: &str, value1: &str, value2: &str) -> Attribute {
    let mut attribute = Attribute::new(
        new_uuid(),
        attr_type.to_string(),
        category.to_string(),
        value1.to_string(),
        value2.to_string(),
    );
    attribute.timestamp = T0;
    attribute.to_ids = true;
    attribute
}

pub fn ip_dst(value: &str) -> Attribute {
    attribute("ip-dst", "Network activity", value, "")
}

pub fn domain(value: &str) -> Attribute {
    attribute("domain", "Network activity", value, "")
}

pub fn tag(name: &str) -> Tag {
    Tag {
        name: name.to_string(),
        colour: "#336699".into(),
        exportable: true,
        ..Tag::default()
    }
}

pub fn attached(name: &str) -> AttachedTag {
    AttachedTag {
        tag: tag(name),
        local: false,
        relationship_type: None,
    }
}

pub fn object(name: &str, attributes: Vec<Attribute>) -> MispObject {
    MispObject {
        id: 0,
        uuid: new_uuid(),
        event_id: 0,
        name: name.to_string(),
        meta_category: "file".into(),
        description: format!("{name} object"),
        template_uuid: "688c46fb-5edb-40a3-8273-1af7923e2215".into(),
        template_version: "24".into(),
        timestamp: T0,
        distribution: Distribution::InheritEvent,
        sharing_group_id: 0,
        comment: String::new(),
        deleted: false,
        first_seen: None,
        last_seen: None,
        attributes,
        references: Vec::new(),
    }
}

/// An object attribute: `relation` is its object_relation.
pub fn object_attribute(relation: &str, attr_type: &str, value: &str) -> Attribute {
    let mut attribute = attribute(attr_type, "Payload delivery", value, "");
    attribute.object_relation = Some(relation.to_string());
    attribute
}

pub fn reference(object_id: i64, referenced_uuid: &str, relationship: &str) -> ObjectReference {
    ObjectReference {
        id: 0,
        uuid: new_uuid(),
        object_id,
        event_id: 0,
        source_uuid: String::new(),
        referenced_uuid: referenced_uuid.to_string(),
        referenced_id: 0,
        referenced_type: ReferencedType::Attribute,
        relationship_type: relationship.to_string(),
        comment: String::new(),
        timestamp: T0,
        deleted: false,
    }
}

pub fn uuid_key(uuid: &str) -> Key {
    Key::Uuid(uuid.to_string())
}

/// The names of attached tags, in order.
pub fn tag_names(tags: &[AttachedTag]) -> Vec<&str> {
    tags.iter()
        .map(|attached| attached.tag.name.as_str())
        .collect()
}

/// Inserts a sharing group owned by `owner` whose members are `members`; with `all_orgs`,
/// it is also open to every organisation of this instance (server 0). Returns its id.
pub async fn create_sharing_group(
    store: &Store,
    name: &str,
    owner: &Organisation,
    members: &[i64],
    all_orgs: bool,
) -> i64 {
    let uuid = new_uuid();
    let mut statements = vec![format!(
        "INSERT INTO sharing_groups (uuid, name, releasability, description, org_id, \
         organisation_uuid, sync_user_id, active, local, roaming, created, modified) \
         VALUES ('{uuid}', '{name}', '', '', {}, '{}', 0, TRUE, TRUE, FALSE, {T0}, {T0})",
        owner.id, owner.uuid
    )];
    let group = format!("(SELECT id FROM sharing_groups WHERE uuid = '{uuid}')");
    for member in members {
        statements.push(format!(
            "INSERT INTO sharing_group_orgs (sharing_group_id, org_id, extend) \
             VALUES ({group}, {member}, FALSE)"
        ));
    }
    if all_orgs {
        statements.push(format!(
            "INSERT INTO sharing_group_servers (sharing_group_id, server_id, all_orgs) \
             VALUES ({group}, 0, TRUE)"
        ));
    }
    crate::support::execute(store, &statements).await;
    crate::support::scalar(
        store,
        &format!("SELECT id FROM sharing_groups WHERE uuid = '{uuid}'"),
    )
    .await
}

/// What the store keeps of an API key whose digest is `digest` (tests use short fake digests).
pub fn stored_key(digest: &str) -> kizuna_store::NewAuthKey {
    kizuna_store::NewAuthKey {
        authkey_sha256: digest.to_string(),
        authkey_start: "abcd".into(),
        authkey_end: "wxyz".into(),
        ..Default::default()
    }
}

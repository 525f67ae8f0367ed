//! MISP's JSON typing on small hand-built values: integers as strings, flags as booleans,
//! nullable columns as null, times as MISP formats them, keys in MISP's order.

use kizuna_formats::misp::output::{
    render_attached_tag, render_attribute, render_event, render_event_index_entry, render_object,
    render_organisation, render_role, render_tag, render_user,
};
use kizuna_model::{
    AttachedTag, Attribute, Distribution, Event, IntendedUse, ItemStatus, MispObject,
    ObjectReference, Organisation, ReferencedType, Role, RolePermissions, Tag, ThreatLevel, User,
};
use serde_json::{Value, json};
use time::{Date, Month};

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn green() -> Tag {
    Tag {
        id: 7,
        name: "tlp:green".into(),
        colour: "#33FF00".into(),
        exportable: true,
        numerical_value: Some(70),
        ..Tag::default()
    }
}

fn org(id: i64, name: &str, uuid: &str, local: bool) -> Organisation {
    Organisation {
        id,
        name: name.into(),
        uuid: uuid.into(),
        local,
        ..Organisation::default()
    }
}

fn sample_event() -> Event {
    let mut event = Event::new(
        "5f0c6b1e-0000-4000-8000-000000000042".into(),
        "Phishing wave X".into(),
        Date::from_calendar_date(2025, Month::January, 15).unwrap(),
        1,
        1_736_950_000,
    );
    event.id = 42;
    event.orgc_id = 3;
    event.threat_level = ThreatLevel::Medium;
    event.published = true;
    event.publish_timestamp = 1_736_950_100;
    event.locked = true;
    event.distribution = Distribution::CommunityOnly;
    event.org = Some(org(
        1,
        "HOST-ORG",
        "11111111-1111-4111-8111-111111111111",
        true,
    ));
    event.orgc = Some(org(
        3,
        "PARTNER-CERT",
        "33333333-3333-4333-8333-333333333333",
        false,
    ));

    let mut attribute = Attribute::new(
        "aaaaaaaa-0000-4000-8000-000000000901".into(),
        "ip-dst|port".into(),
        "Network activity".into(),
        "203.0.113.7".into(),
        "443".into(),
    );
    attribute.id = 901;
    attribute.event_id = 42;
    attribute.to_ids = true;
    attribute.timestamp = 1_736_949_000;
    attribute.first_seen = Some(1_561_476_360_123_456);
    attribute.tags.push(AttachedTag {
        tag: green(),
        local: false,
        relationship_type: None,
    });
    event.attributes.push(attribute);

    let mut in_object = Attribute::new(
        "bbbbbbbb-0000-4000-8000-000000000902".into(),
        "domain".into(),
        "Network activity".into(),
        "example.com".into(),
        String::new(),
    );
    in_object.id = 902;
    in_object.event_id = 42;
    in_object.object_id = 12;
    in_object.object_relation = Some("domain".into());
    in_object.timestamp = 1_736_949_000;
    in_object.valid_until = Some(1_767_225_600_000_000);
    in_object.intended_use = Some(IntendedUse::BlockOutbound);
    in_object.status = Some(ItemStatus::Preliminary);
    event.objects.push(MispObject {
        id: 12,
        uuid: "cccccccc-0000-4000-8000-000000000012".into(),
        event_id: 42,
        name: "domain-ip".into(),
        meta_category: "network".into(),
        description: "A domain and its IP addresses".into(),
        template_uuid: "43b3b146-77eb-4931-b4cc-b66c60f28734".into(),
        template_version: "9".into(),
        timestamp: 1_736_949_000,
        distribution: Distribution::InheritEvent,
        sharing_group_id: 0,
        comment: String::new(),
        deleted: false,
        first_seen: None,
        last_seen: None,
        attributes: vec![in_object],
        references: vec![ObjectReference {
            id: 5,
            uuid: "dddddddd-0000-4000-8000-000000000005".into(),
            object_id: 12,
            event_id: 42,
            source_uuid: "cccccccc-0000-4000-8000-000000000012".into(),
            referenced_uuid: "aaaaaaaa-0000-4000-8000-000000000901".into(),
            referenced_id: 901,
            referenced_type: ReferencedType::Attribute,
            relationship_type: "related-to".into(),
            comment: String::new(),
            timestamp: 1_736_949_000,
            deleted: false,
        }],
    });
    event.attribute_count = 2;
    event.tags.push(AttachedTag {
        tag: green(),
        local: true,
        relationship_type: Some("x".into()),
    });
    event
}

#[test]
fn event_fields_are_typed_and_ordered_like_misp() {
    let rendered = render_event(&sample_event());
    assert_eq!(
        keys(&rendered),
        [
            "id",
            "orgc_id",
            "org_id",
            "date",
            "threat_level_id",
            "info",
            "published",
            "uuid",
            "attribute_count",
            "analysis",
            "timestamp",
            "distribution",
            "proposal_email_lock",
            "locked",
            "publish_timestamp",
            "sharing_group_id",
            "disable_correlation",
            "extends_uuid",
            "protected",
            "Org",
            "Orgc",
            "Attribute",
            "ShadowAttribute",
            "RelatedEvent",
            "Galaxy",
            "Object",
            "EventReport",
            "CryptographicKey",
            "Tag",
        ]
    );
    let head: Value = rendered
        .as_object()
        .unwrap()
        .iter()
        .take(19)
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect::<serde_json::Map<_, _>>()
        .into();
    assert_eq!(
        head,
        json!({
            "id": "42", "orgc_id": "3", "org_id": "1", "date": "2025-01-15",
            "threat_level_id": "2", "info": "Phishing wave X", "published": true,
            "uuid": "5f0c6b1e-0000-4000-8000-000000000042", "attribute_count": "2",
            "analysis": "0", "timestamp": "1736950000", "distribution": "1",
            "proposal_email_lock": false, "locked": true, "publish_timestamp": "1736950100",
            "sharing_group_id": "0", "disable_correlation": false, "extends_uuid": "",
            "protected": null,
        })
    );
    assert_eq!(
        rendered["Org"],
        json!({"id": "1", "name": "HOST-ORG", "uuid": "11111111-1111-4111-8111-111111111111", "local": true})
    );
    assert_eq!(rendered["Orgc"]["local"], false);
    for empty in [
        "ShadowAttribute",
        "RelatedEvent",
        "Galaxy",
        "EventReport",
        "CryptographicKey",
    ] {
        assert_eq!(rendered[empty], json!([]), "{empty}");
    }
    assert_eq!(
        rendered["Tag"][0],
        json!({
            "id": "7", "name": "tlp:green", "colour": "#33FF00", "exportable": true,
            "user_id": "0", "hide_tag": false, "numerical_value": "70", "is_galaxy": false,
            "is_custom_galaxy": false, "local_only": false, "local": true,
            "relationship_type": "x",
        })
    );
}

#[test]
fn attribute_golden() {
    let event = sample_event();
    let rendered = render_attribute(&event.attributes[0]);
    assert_eq!(
        serde_json::to_string(&rendered).unwrap(),
        serde_json::to_string(&json!({
            "id": "901", "type": "ip-dst|port", "category": "Network activity", "to_ids": true,
            "uuid": "aaaaaaaa-0000-4000-8000-000000000901", "event_id": "42",
            "distribution": "5", "timestamp": "1736949000", "comment": "",
            "sharing_group_id": "0", "deleted": false, "disable_correlation": false,
            "object_id": "0", "object_relation": null,
            "first_seen": "2019-06-25T15:26:00.123456+00:00", "last_seen": null,
            "value": "203.0.113.7|443",
            "valid_until": null, "intended_use": null, "status": null,
            "Galaxy": [], "ShadowAttribute": [],
            "Tag": [{
                "id": "7", "name": "tlp:green", "colour": "#33FF00", "exportable": true,
                "user_id": "0", "hide_tag": false, "numerical_value": "70", "is_galaxy": false,
                "is_custom_galaxy": false, "local_only": false, "local": false,
                "relationship_type": null,
            }],
        }))
        .unwrap()
    );
}

#[test]
fn attribute_without_tags_has_no_tag_key_and_data_only_when_present() {
    let mut attribute = sample_event().objects[0].attributes[0].clone();
    let rendered = render_attribute(&attribute);
    assert!(rendered.get("Tag").is_none());
    assert!(rendered.get("data").is_none());
    assert_eq!(rendered["object_id"], "12");
    assert_eq!(rendered["object_relation"], "domain");
    assert_eq!(rendered["valid_until"], "2026-01-01T00:00:00.000000+00:00");
    assert_eq!(rendered["intended_use"], "block-outbound");
    assert_eq!(rendered["status"], "preliminary");
    attribute.data = Some("aGVsbG8=".into());
    let rendered = render_attribute(&attribute);
    let order = keys(&rendered);
    let data_at = order.iter().position(|key| *key == "data").unwrap();
    assert_eq!(order[data_at - 1], "status");
    assert_eq!(order[data_at + 1], "Galaxy");
}

#[test]
fn object_and_reference_golden() {
    let rendered = render_object(&sample_event().objects[0]);
    assert_eq!(
        keys(&rendered),
        [
            "id",
            "name",
            "meta-category",
            "description",
            "template_uuid",
            "template_version",
            "event_id",
            "uuid",
            "timestamp",
            "distribution",
            "sharing_group_id",
            "comment",
            "deleted",
            "first_seen",
            "last_seen",
            "ObjectReference",
            "Attribute",
        ]
    );
    assert_eq!(rendered["template_version"], "9");
    assert_eq!(rendered["distribution"], "5");
    assert_eq!(
        rendered["ObjectReference"][0],
        json!({
            "id": "5", "uuid": "dddddddd-0000-4000-8000-000000000005", "timestamp": "1736949000",
            "object_id": "12", "object_uuid": "cccccccc-0000-4000-8000-000000000012",
            "referenced_uuid": "aaaaaaaa-0000-4000-8000-000000000901", "referenced_id": "901",
            "referenced_type": "0",
            "relationship_type": "related-to", "comment": "", "deleted": false,
            "event_id": "42", "source_uuid": "cccccccc-0000-4000-8000-000000000012",
        })
    );
    // MISP's own key order (as in real event exports).
    let keys: Vec<&str> = rendered["ObjectReference"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "uuid",
            "timestamp",
            "object_id",
            "object_uuid",
            "referenced_uuid",
            "referenced_id",
            "referenced_type",
            "relationship_type",
            "comment",
            "deleted",
            "event_id",
            "source_uuid",
        ]
    );
}

#[test]
fn event_without_tags_or_orgs_omits_those_keys() {
    let mut event = sample_event();
    event.tags.clear();
    event.org = None;
    event.orgc = None;
    event.protected = Some(false);
    let rendered = render_event(&event);
    assert!(rendered.get("Tag").is_none());
    assert!(rendered.get("Org").is_none());
    assert!(rendered.get("Orgc").is_none());
    assert_eq!(rendered["protected"], false);
}

#[test]
fn index_entry_shape() {
    let rendered = render_event_index_entry(&sample_event());
    assert_eq!(rendered["id"], "42");
    assert_eq!(rendered["sighting_timestamp"], "0");
    assert_eq!(rendered["published"], true);
    assert_eq!(
        rendered["Orgc"],
        json!({"id": "3", "name": "PARTNER-CERT", "uuid": "33333333-3333-4333-8333-333333333333"})
    );
    assert_eq!(
        rendered["EventTag"],
        json!([{
            "event_id": "42", "tag_id": "7", "local": true, "relationship_type": "x",
            "Tag": {"id": "7", "name": "tlp:green", "colour": "#33FF00", "is_galaxy": false},
        }])
    );
    assert_eq!(rendered["GalaxyCluster"], json!([]));
    assert!(rendered.get("Attribute").is_none());
}

#[test]
fn tag_golden() {
    assert_eq!(
        render_tag(&green()),
        json!({
            "id": "7", "name": "tlp:green", "colour": "#33FF00", "exportable": true,
            "org_id": "0", "user_id": "0", "hide_tag": false, "numerical_value": "70",
            "is_galaxy": false, "is_custom_galaxy": false, "local_only": false,
        })
    );
    let attached = AttachedTag {
        tag: Tag {
            numerical_value: None,
            ..green()
        },
        local: false,
        relationship_type: None,
    };
    assert_eq!(
        render_attached_tag(&attached)["numerical_value"],
        Value::Null
    );
}

#[test]
fn organisation_user_and_role_are_misp_typed() {
    let organisation = Organisation {
        id: 1,
        uuid: "11111111-1111-4111-8111-111111111111".into(),
        name: "HOST-ORG".into(),
        local: true,
        created_by: 1,
        date_created: 1_561_476_360,
        date_modified: 1_561_476_360,
        restricted_to_domain: vec!["example.org".into()],
        ..Organisation::default()
    };
    let rendered = render_organisation(&organisation);
    assert_eq!(rendered["id"], "1");
    assert_eq!(rendered["date_created"], "2019-06-25 15:26:00");
    assert_eq!(rendered["created_by"], "1");
    assert_eq!(rendered["local"], true);
    assert_eq!(rendered["restricted_to_domain"], json!(["example.org"]));
    assert_eq!(rendered["landingpage"], Value::Null);

    let user = User {
        id: 1,
        email: "admin@admin.test".into(),
        org_id: 1,
        role_id: 1,
        autoalert: false,
        termsaccepted: true,
        nids_sid: 4_000_000,
        date_created: 1_561_476_360,
        ..User::default()
    };
    let rendered = render_user(&user);
    assert_eq!(rendered["id"], "1");
    assert_eq!(rendered["password"], "*****");
    assert_eq!(rendered["org_id"], "1");
    assert_eq!(rendered["role_id"], "1");
    assert_eq!(rendered["nids_sid"], "4000000");
    assert_eq!(rendered["termsaccepted"], true);
    assert_eq!(rendered["disabled"], false);
    assert_eq!(rendered["expiration"], Value::Null);
    assert_eq!(rendered["date_created"], "1561476360");
    assert!(rendered.get("authkey").is_none());

    let mut permissions = RolePermissions::default();
    for flag in [
        "perm_add",
        "perm_modify",
        "perm_publish",
        "perm_auth",
        "perm_tagger",
    ] {
        assert!(permissions.set(flag, true));
    }
    let role = Role {
        id: 4,
        name: "Publisher".into(),
        permissions,
        rate_limit_count: 0,
        ..Role::default()
    };
    let rendered = render_role(&role);
    assert_eq!(rendered["id"], "4");
    assert_eq!(rendered["perm_add"], true);
    assert_eq!(rendered["perm_site_admin"], false);
    assert_eq!(rendered["perm_skip_otp"], false);
    assert_eq!(rendered["permission"], "3");
    assert_eq!(rendered["permission_description"], "publish");
    assert_eq!(rendered["rate_limit_count"], "0");
    assert_eq!(rendered["created"], Value::Null);
}

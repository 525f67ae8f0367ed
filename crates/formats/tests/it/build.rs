//! MISP's defaults and validation when building model values.

use crate::{NOW, ctx};
use kizuna_formats::misp::build::{
    edit_attribute, edit_event_fields, edit_tag, new_attribute, new_event, new_object,
    new_object_reference, new_tag, tag_colour,
};
use kizuna_formats::misp::input::{
    AttributeInput, EventInput, ObjectReferenceInput, TagInput, parse_attribute, parse_event,
    parse_object,
};
use kizuna_model::{Analysis, Distribution, IntendedUse, ReferencedType, ThreatLevel};
use serde_json::json;

const UUID: &str = "5a3c2fcd-8328-42bb-a95e-4f4402de0b81";

fn attribute(body: serde_json::Value) -> AttributeInput {
    parse_attribute(&body).unwrap()
}

#[test]
fn attribute_defaults_follow_the_type() {
    let built = new_attribute(
        &attribute(json!({"type": "md5", "value": " D41D8CD98F00B204E9800998ECF8427E "})),
        &ctx(),
    )
    .unwrap();
    assert_eq!(built.category, "Payload delivery");
    assert!(built.to_ids);
    assert_eq!(built.distribution, Distribution::InheritEvent);
    assert_eq!(built.sharing_group_id, 0);
    assert_eq!(built.comment, "");
    assert_eq!(built.timestamp, NOW);
    assert_eq!(built.value1, "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(built.uuid.len(), 36);
    assert_eq!(built.uuid, built.uuid.to_ascii_lowercase());
    assert!(!built.deleted);

    let built = new_attribute(
        &attribute(json!({"type": "comment", "value": "hello"})),
        &ctx(),
    )
    .unwrap();
    assert_eq!(built.category, "Other");
    assert!(!built.to_ids);

    let built = new_attribute(
        &attribute(json!({"type": "ip-dst", "value": "1.2.3.4", "to_ids": false, "timestamp": "1500000000", "uuid": UUID, "comment": "c"})),
        &ctx(),
    )
    .unwrap();
    assert!(!built.to_ids);
    assert_eq!(built.timestamp, 1_500_000_000);
    assert_eq!(built.uuid, UUID);
    assert_eq!(built.comment, "c");
}

#[test]
fn composite_values_are_split() {
    let built = new_attribute(
        &attribute(json!({"type": "domain|ip", "value": "example.com|1.2.3.4"})),
        &ctx(),
    )
    .unwrap();
    assert_eq!(
        (built.value1.as_str(), built.value2.as_str()),
        ("example.com", "1.2.3.4")
    );
    assert_eq!(built.value(), "example.com|1.2.3.4");
    let errors = new_attribute(
        &attribute(json!({"type": "domain|ip", "value": "example.com"})),
        &ctx(),
    )
    .unwrap_err();
    assert!(errors.0.contains_key("value"));
}

#[test]
fn attribute_validation_errors_name_the_field() {
    let errors = new_attribute(&attribute(json!({"value": "x"})), &ctx()).unwrap_err();
    assert!(errors.0.contains_key("type"));
    let errors = new_attribute(
        &attribute(json!({"type": "no-such-type", "value": "x"})),
        &ctx(),
    )
    .unwrap_err();
    assert!(errors.0.contains_key("type"));
    let errors =
        new_attribute(&attribute(json!({"type": "md5", "value": "   "})), &ctx()).unwrap_err();
    assert!(errors.0.contains_key("value"));
    let errors = new_attribute(&attribute(json!({"type": "md5"})), &ctx()).unwrap_err();
    assert!(errors.0.contains_key("value"));
    let errors = new_attribute(
        &attribute(json!({"type": "md5", "value": "not-a-hash"})),
        &ctx(),
    )
    .unwrap_err();
    assert!(errors.0.contains_key("value"));
    let errors = new_attribute(&attribute(json!({"type": "md5", "category": "Person", "value": "d41d8cd98f00b204e9800998ecf8427e"})), &ctx()).unwrap_err();
    assert!(errors.0.contains_key("category"), "{errors:?}");
    let errors = new_attribute(
        &attribute(
            json!({"type": "md5", "category": "Nope", "value": "d41d8cd98f00b204e9800998ecf8427e"}),
        ),
        &ctx(),
    )
    .unwrap_err();
    assert!(errors.0.contains_key("category"));
    let errors = new_attribute(
        &attribute(json!({"type": "domain", "value": "example.com", "distribution": 6})),
        &ctx(),
    )
    .unwrap_err();
    assert!(errors.0.contains_key("distribution"));
    let errors = new_attribute(
        &attribute(json!({"type": "domain", "value": "example.com", "distribution": 4})),
        &ctx(),
    )
    .unwrap_err();
    assert!(errors.0.contains_key("sharing_group_id"));
    let built = new_attribute(&attribute(json!({"type": "domain", "value": "example.com", "distribution": 4, "sharing_group_id": "3"})), &ctx()).unwrap();
    assert_eq!(
        (built.distribution, built.sharing_group_id),
        (Distribution::SharingGroup, 3)
    );
    let built = new_attribute(&attribute(json!({"type": "domain", "value": "example.com", "distribution": 1, "sharing_group_id": "3"})), &ctx()).unwrap();
    assert_eq!(
        built.sharing_group_id, 0,
        "a sharing group only goes with distribution 4"
    );
    let errors = new_attribute(
        &attribute(json!({"type": "domain", "value": "example.com", "first_seen": "2020-01-02", "last_seen": "2020-01-01"})),
        &ctx(),
    )
    .unwrap_err();
    assert!(errors.0.contains_key("last_seen"));
    let errors = new_attribute(
        &attribute(json!({"type": "attachment", "value": "a.txt", "data": "***"})),
        &ctx(),
    )
    .unwrap_err();
    assert!(errors.0.contains_key("data"));
    let errors = new_attribute(
        &attribute(
            json!({"type": "domain", "value": "example.com", "Tag": [{"colour": "#000000"}]}),
        ),
        &ctx(),
    )
    .unwrap_err();
    assert!(errors.0.contains_key("Tag.0.name"), "{errors:?}");
}

#[test]
fn files_may_come_with_data_only() {
    let built = new_attribute(
        &attribute(json!({"type": "attachment", "value": "notes.txt", "data": "aGVsbG8="})),
        &ctx(),
    )
    .unwrap();
    assert_eq!(built.value1, "notes.txt");
    assert_eq!(built.data.as_deref(), Some("aGVsbG8="));
    let built = new_attribute(
        &attribute(json!({"type": "malware-sample", "value": "evil.exe", "data": "aGVsbG8="})),
        &ctx(),
    )
    .unwrap();
    assert_eq!(
        (built.value1.as_str(), built.value2.as_str()),
        ("evil.exe", "")
    );
}

#[test]
fn kizuna_context_is_carried() {
    let built = new_attribute(
        &attribute(json!({"type": "domain", "value": "example.com", "intended_use": "block-outbound", "status": "withdrawn", "valid_until": "2030-01-01T00:00:00Z"})),
        &ctx(),
    )
    .unwrap();
    assert_eq!(built.intended_use, Some(IntendedUse::BlockOutbound));
    assert_eq!(built.status.map(|s| s.as_str()), Some("withdrawn"));
    assert_eq!(built.valid_until, Some(1_893_456_000_000_000));
}

#[test]
fn attached_tags_are_unresolved_with_misp_defaults() {
    let built = new_attribute(
        &attribute(json!({"type": "domain", "value": "example.com", "Tag": [{"name": "tlp:green"}, {"name": "tlp:green"}, {"name": "x", "colour": "#ABCDEF", "local": 1}]})),
        &ctx(),
    )
    .unwrap();
    assert_eq!(built.tags.len(), 2, "the same tag twice is attached once");
    assert_eq!(built.tags[0].tag.id, 0);
    assert_eq!(built.tags[0].tag.colour, tag_colour("tlp:green"));
    assert!(built.tags[0].tag.exportable);
    assert!(!built.tags[0].local);
    assert_eq!(built.tags[1].tag.colour, "#ABCDEF");
    assert!(built.tags[1].local);
}

#[test]
fn event_defaults() {
    let event = new_event(
        &parse_event(&json!({"info": "  Phishing  "})).unwrap(),
        &ctx(),
        5,
        9,
    )
    .unwrap();
    assert_eq!(event.info, "Phishing");
    assert_eq!(event.date, ctx().today);
    assert_eq!(event.threat_level, ThreatLevel::Undefined);
    assert_eq!(event.analysis, Analysis::Initial);
    assert_eq!(event.distribution, Distribution::OrganisationOnly);
    assert!(!event.published);
    assert_eq!(event.publish_timestamp, 0);
    assert_eq!(event.timestamp, NOW);
    assert_eq!((event.org_id, event.orgc_id, event.user_id), (5, 5, 9));
    assert_eq!(event.extends_uuid, "");
    assert_eq!(event.protected, None);
    assert_eq!(event.uuid.len(), 36);

    let event = new_event(
        &parse_event(&json!({"info": "x", "published": true, "threat_level_id": "2", "analysis": 1, "distribution": 3, "extends_uuid": UUID.to_uppercase(), "protected": true})).unwrap(),
        &ctx(),
        1,
        1,
    )
    .unwrap();
    assert!(event.published);
    assert_eq!(event.publish_timestamp, NOW);
    assert_eq!(event.threat_level, ThreatLevel::Medium);
    assert_eq!(event.analysis, Analysis::Ongoing);
    assert_eq!(event.distribution, Distribution::AllCommunities);
    assert_eq!(event.extends_uuid, UUID);
    assert_eq!(event.protected, Some(true));
}

#[test]
fn event_validation() {
    let errors =
        new_event(&parse_event(&json!({"info": "  "})).unwrap(), &ctx(), 1, 1).unwrap_err();
    assert!(errors.0.contains_key("info"));
    let errors = new_event(&EventInput::default(), &ctx(), 1, 1).unwrap_err();
    assert!(errors.0.contains_key("info"));
    for (field, body) in [
        ("distribution", json!({"info": "x", "distribution": 5})),
        ("sharing_group_id", json!({"info": "x", "distribution": 4})),
        (
            "threat_level_id",
            json!({"info": "x", "threat_level_id": 0}),
        ),
        ("analysis", json!({"info": "x", "analysis": 3})),
        ("extends_uuid", json!({"info": "x", "extends_uuid": "12"})),
    ] {
        let errors = new_event(&parse_event(&body).unwrap(), &ctx(), 1, 1).unwrap_err();
        assert!(errors.0.contains_key(field), "{field}: {errors:?}");
    }
}

#[test]
fn nested_build_errors_are_keyed_by_position() {
    let input = parse_event(&json!({
        "info": "x",
        "Attribute": [
            {"type": "domain", "value": "example.com"},
            {"type": "domain", "value": "example.org"},
            {"type": "domain", "value": "example.net"},
            {"type": "md5", "value": "nope"},
        ],
        "Object": [
            {"name": "domain-ip", "Attribute": [{"type": "domain", "value": "example.com", "object_relation": "domain"}]},
            {"name": "file", "Attribute": [
                {"type": "bogus", "value": "x", "object_relation": "filename"},
                {"type": "filename", "value": "x"},
            ]},
            {"Attribute": []},
        ],
        "Tag": [{"name": ""}],
    }))
    .unwrap();
    let errors = new_event(&input, &ctx(), 1, 1).unwrap_err();
    let keys: Vec<&str> = errors.0.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "Attribute.3.value",
            "Object.1.Attribute.0.type",
            "Object.1.Attribute.1.object_relation",
            "Object.2.name",
            "Tag.0.name",
        ]
    );
}

#[test]
fn duplicate_attributes_are_dropped_on_add() {
    let input = parse_event(&json!({
        "info": "x",
        "Attribute": [
            {"type": "domain", "value": "example.com"},
            {"type": "domain", "value": " example.com "},
            {"type": "domain", "value": "example.com", "category": "Network activity"},
            {"type": "domain", "value": "example.com", "category": "External analysis"},
            {"type": "domain", "value": "example.com", "deleted": true},
        ],
        "Object": [{"name": "domain-ip", "Attribute": [
            {"type": "domain", "value": "example.com", "object_relation": "domain"},
        ]}],
    }))
    .unwrap();
    let event = new_event(&input, &ctx(), 1, 1).unwrap();
    assert_eq!(event.attributes.len(), 3);
    assert_eq!(event.attributes[1].category, "External analysis");
    assert!(event.attributes[2].deleted);
    assert_eq!(event.objects[0].attributes.len(), 1);
    assert_eq!(
        event.attribute_count, 3,
        "deleted attributes are not counted"
    );
}

#[test]
fn objects_and_references() {
    let input = parse_object(&json!({
        "name": "file", "uuid": UUID, "deleted": true,
        "Attribute": [{"type": "filename", "value": "bar", "object_relation": "filename"}],
        "ObjectReference": [{"referenced_uuid": "5A3CD5B6-9568-4342-B2AB-4C62950D210F", "relationship_type": "contains"}],
    }))
    .unwrap();
    let object = new_object(&input, &ctx()).unwrap();
    assert_eq!(object.meta_category, "misc");
    assert_eq!(object.template_version, "1");
    assert_eq!(object.template_uuid.len(), 36);
    assert_eq!(object.distribution, Distribution::InheritEvent);
    assert_eq!(object.timestamp, NOW);
    assert!(
        object.attributes[0].deleted,
        "a deleted object's attributes are deleted"
    );
    let reference = &object.references[0];
    assert_eq!(reference.source_uuid, UUID);
    assert_eq!(
        reference.referenced_uuid,
        "5a3cd5b6-9568-4342-b2ab-4c62950d210f"
    );
    assert_eq!(reference.referenced_type, ReferencedType::Attribute);
    assert_eq!(reference.comment, "");

    let same_name = new_object(&parse_object(&json!({"name": "file"})).unwrap(), &ctx()).unwrap();
    assert_eq!(
        same_name.template_uuid, object.template_uuid,
        "template uuid derives from the name"
    );

    let errors = new_object_reference(&ObjectReferenceInput::default(), UUID, &ctx()).unwrap_err();
    assert!(errors.0.contains_key("referenced_uuid"));
    let by_id = new_object_reference(
        &ObjectReferenceInput {
            referenced_id: Some(5),
            referenced_type: Some(1),
            ..Default::default()
        },
        "",
        &ctx(),
    )
    .unwrap();
    assert_eq!(by_id.referenced_type, ReferencedType::Object);
    let errors = new_object(
        &parse_object(&json!({"name": "file", "template_version": "v2"})).unwrap(),
        &ctx(),
    )
    .unwrap_err();
    assert!(errors.0.contains_key("template_version"));
}

#[test]
fn reference_types_resolve_inside_the_event() {
    let other_object = "5a3cd5b6-9568-4342-b2ab-4c62950d210f";
    let attribute_uuid = "5a3cd5b6-2850-435f-bd0d-4c62950d210f";
    let input = parse_event(&json!({
        "info": "x",
        "Attribute": [{"type": "domain", "value": "example.com", "uuid": attribute_uuid}],
        "Object": [
            {"name": "a", "uuid": UUID, "ObjectReference": [
                {"referenced_uuid": other_object, "relationship_type": "r"},
                {"referenced_uuid": attribute_uuid, "relationship_type": "r"},
                {"referenced_uuid": other_object, "relationship_type": "r", "referenced_type": 0},
            ]},
            {"name": "b", "uuid": other_object},
        ],
    }))
    .unwrap();
    let event = new_event(&input, &ctx(), 1, 1).unwrap();
    let kinds: Vec<_> = event.objects[0]
        .references
        .iter()
        .map(|r| r.referenced_type)
        .collect();
    assert_eq!(
        kinds,
        [
            ReferencedType::Object,
            ReferencedType::Attribute,
            ReferencedType::Attribute
        ]
    );
    assert!(
        event.objects[0]
            .references
            .iter()
            .all(|r| r.source_uuid == UUID)
    );
}

#[test]
fn editing_an_attribute() {
    let mut existing = new_attribute(
        &attribute(json!({"type": "domain", "value": "example.com", "timestamp": 100})),
        &ctx(),
    )
    .unwrap();
    let original = existing.clone();

    let later = kizuna_formats::misp::build::BuildContext {
        now: NOW + 10,
        ..ctx()
    };
    assert!(
        !edit_attribute(
            &mut existing,
            &attribute(json!({"value": "example.com", "comment": ""})),
            &later
        )
        .unwrap()
    );
    assert_eq!(existing, original, "no change, no timestamp bump");

    assert!(
        edit_attribute(
            &mut existing,
            &attribute(json!({"comment": "seen in mail"})),
            &later
        )
        .unwrap()
    );
    assert_eq!(existing.comment, "seen in mail");
    assert_eq!(existing.timestamp, NOW + 10);
    assert_eq!(existing.value1, "example.com");

    assert!(
        edit_attribute(
            &mut existing,
            &attribute(json!({"value": "EXAMPLE.org", "timestamp": 200})),
            &later
        )
        .unwrap()
    );
    assert_eq!(existing.value1, "example.org");
    assert_eq!(existing.timestamp, 200);

    let before = existing.clone();
    let errors =
        edit_attribute(&mut existing, &attribute(json!({"type": "md5"})), &later).unwrap_err();
    assert!(
        errors.0.contains_key("value") || errors.0.contains_key("category"),
        "{errors:?}"
    );
    assert_eq!(existing, before, "a failed edit changes nothing");
    let errors = edit_attribute(
        &mut existing,
        &attribute(json!({"category": "Person"})),
        &later,
    )
    .unwrap_err();
    assert!(errors.0.contains_key("category"));
    let errors = edit_attribute(
        &mut existing,
        &attribute(json!({"distribution": 4})),
        &later,
    )
    .unwrap_err();
    assert!(errors.0.contains_key("sharing_group_id"));

    assert!(
        edit_attribute(
            &mut existing,
            &attribute(json!({"type": "hostname"})),
            &later
        )
        .unwrap()
    );
    assert_eq!(existing.attr_type, "hostname");
    assert_eq!(existing.value1, "example.org");

    assert!(
        edit_attribute(
            &mut existing,
            &attribute(json!({"first_seen": "2020-01-01", "intended_use": "detect"})),
            &later
        )
        .unwrap()
    );
    assert_eq!(existing.first_seen, Some(1_577_836_800_000_000));
    assert_eq!(existing.intended_use, Some(IntendedUse::Detect));
    assert!(
        edit_attribute(
            &mut existing,
            &attribute(json!({"first_seen": null, "intended_use": null})),
            &later
        )
        .unwrap()
    );
    assert_eq!(existing.first_seen, None);
    assert_eq!(existing.intended_use, None);
    let errors = edit_attribute(
        &mut existing,
        &attribute(json!({"first_seen": "2021-01-01", "last_seen": "2020-01-01"})),
        &later,
    )
    .unwrap_err();
    assert!(errors.0.contains_key("last_seen"));
}

#[test]
fn editing_event_fields() {
    let mut event = new_event(
        &parse_event(&json!({"info": "x", "timestamp": 100})).unwrap(),
        &ctx(),
        1,
        1,
    )
    .unwrap();
    assert!(
        !edit_event_fields(
            &mut event,
            &parse_event(&json!({"info": "x"})).unwrap(),
            &ctx()
        )
        .unwrap()
    );
    assert_eq!(event.timestamp, 100);
    assert!(edit_event_fields(
        &mut event,
        &parse_event(&json!({"info": "y", "threat_level_id": "Low", "analysis": "2", "published": 1, "date": "2020-02-02", "protected": null})).unwrap(),
        &ctx(),
    )
    .unwrap());
    assert_eq!(event.info, "y");
    assert_eq!(event.threat_level, ThreatLevel::Low);
    assert_eq!(event.analysis, Analysis::Completed);
    assert!(event.published);
    assert_eq!(event.timestamp, NOW);
    let before = event.clone();
    let errors = edit_event_fields(
        &mut event,
        &parse_event(&json!({"distribution": 5, "info": ""})).unwrap(),
        &ctx(),
    )
    .unwrap_err();
    assert!(errors.0.contains_key("distribution") && errors.0.contains_key("info"));
    assert_eq!(event, before);
    assert!(
        edit_event_fields(
            &mut event,
            &parse_event(&json!({"distribution": 4, "sharing_group_id": 2})).unwrap(),
            &ctx()
        )
        .unwrap()
    );
    assert_eq!(
        (event.distribution, event.sharing_group_id),
        (Distribution::SharingGroup, 2)
    );
}

#[test]
fn tags_defaults_and_validation() {
    let tag = new_tag(&TagInput {
        name: Some("  tlp:amber ".into()),
        ..TagInput::default()
    })
    .unwrap();
    assert_eq!(tag.name, "tlp:amber");
    assert_eq!(tag.colour, tag_colour("tlp:amber"));
    assert_eq!(tag.colour.len(), 7);
    assert!(tag.exportable && !tag.hide_tag && !tag.local_only && !tag.is_galaxy);
    assert_eq!((tag.org_id, tag.user_id, tag.numerical_value), (0, 0, None));

    let tag = new_tag(&TagInput {
        name: Some("misp-galaxy:threat-actor=\"Sofacy\"".into()),
        colour: Some("#0088cc".into()),
        exportable: Some(false),
        numerical_value: Some(Some(50)),
        ..TagInput::default()
    })
    .unwrap();
    assert!(tag.is_galaxy && !tag.is_custom_galaxy);
    assert_eq!(tag.colour, "#0088cc");
    assert!(!tag.exportable);
    assert_eq!(tag.numerical_value, Some(50));

    assert!(
        new_tag(&TagInput::default())
            .unwrap_err()
            .0
            .contains_key("name")
    );
    let errors = new_tag(&TagInput {
        name: Some("x".into()),
        colour: Some("red".into()),
        ..TagInput::default()
    })
    .unwrap_err();
    assert!(errors.0.contains_key("colour"));

    let mut existing = new_tag(&TagInput {
        name: Some("x".into()),
        ..TagInput::default()
    })
    .unwrap();
    assert!(
        !edit_tag(
            &mut existing,
            &TagInput {
                name: Some("x".into()),
                ..TagInput::default()
            }
        )
        .unwrap()
    );
    assert!(
        edit_tag(
            &mut existing,
            &TagInput {
                hide_tag: Some(true),
                numerical_value: Some(Some(3)),
                ..TagInput::default()
            }
        )
        .unwrap()
    );
    assert!(existing.hide_tag);
    assert_eq!(existing.numerical_value, Some(3));
    assert!(
        edit_tag(
            &mut existing,
            &TagInput {
                numerical_value: Some(None),
                ..TagInput::default()
            }
        )
        .unwrap()
    );
    assert_eq!(existing.numerical_value, None);
    assert!(
        edit_tag(
            &mut existing,
            &TagInput {
                colour: Some("#zzzzzz".into()),
                ..TagInput::default()
            }
        )
        .is_err()
    );
}

//! What clients send: envelopes, stringly typed scalars, nulls, tag shapes, batches, and
//! errors that name the bad field.

use kizuna_formats::misp::input::{
    parse_attribute, parse_attributes, parse_event, parse_object, parse_object_reference, parse_tag,
};
use kizuna_model::{IntendedUse, ItemStatus};
use serde_json::json;
use time::{Date, Month};

const UUID: &str = "5a3c2fcd-8328-42bb-a95e-4f4402de0b81";

#[test]
fn event_envelopes() {
    let inner = json!({"info": "x", "uuid": UUID});
    for body in [
        json!({"Event": inner}),
        inner.clone(),
        json!({"request": {"Event": inner}}),
        json!({"request": inner}),
        json!({"response": {"Event": inner}}),
        json!({"response": [{"Event": inner}, {"Event": {"info": "second"}}]}),
        json!([{"Event": inner}]),
    ] {
        let event = parse_event(&body).unwrap_or_else(|e| panic!("{body}: {}", e.summary()));
        assert_eq!(event.info.as_deref(), Some("x"), "{body}");
        assert_eq!(event.uuid.as_deref(), Some(UUID));
    }
    assert!(
        parse_event(&json!("nope"))
            .unwrap_err()
            .0
            .contains_key("Event")
    );
    assert!(parse_event(&json!({"response": []})).is_err());
}

#[test]
fn event_scalars_are_lenient() {
    let event = parse_event(&json!({"Event": {
        "info": "x",
        "published": "1",
        "distribution": "3",
        "sharing_group_id": "",
        "threat_level_id": "High",
        "analysis": "Completed",
        "date": "2019-06-25 10:00:00",
        "timestamp": 1_561_476_360,
        "publish_timestamp": "0",
        "disable_correlation": 0,
        "protected": null,
        "extends_uuid": "",
        "orgc_id": "4",
        "Orgc": {"uuid": "55F6EA5E-51AC-4344-BC8C-4170950D210F", "name": "ESET"},
        "ShadowAttribute": [], "RelatedEvent": [], "Galaxy": [{"name": "ignored"}],
    }}))
    .unwrap();
    assert_eq!(event.published, Some(true));
    assert_eq!(event.distribution, Some(3));
    assert_eq!(event.sharing_group_id, None);
    assert_eq!(event.threat_level_id, Some(1));
    assert_eq!(event.analysis, Some(2));
    assert_eq!(
        event.date,
        Some(Date::from_calendar_date(2019, Month::June, 25).unwrap())
    );
    assert_eq!(event.timestamp, Some(1_561_476_360));
    assert_eq!(event.publish_timestamp, Some(0));
    assert_eq!(event.disable_correlation, Some(false));
    assert_eq!(event.protected, Some(None));
    assert_eq!(event.extends_uuid.as_deref(), Some(""));
    let orgc = event.orgc.unwrap();
    assert_eq!(orgc.id, Some(4));
    assert_eq!(
        orgc.uuid.as_deref(),
        Some("55f6ea5e-51ac-4344-bc8c-4170950d210f")
    );
    assert_eq!(orgc.name.as_deref(), Some("ESET"));

    // Absent and null are both "not given" for plain fields.
    let event = parse_event(&json!({"info": null, "published": null})).unwrap();
    assert_eq!(event.info, None);
    assert_eq!(event.published, None);
    assert_eq!(event.protected, None);
}

#[test]
fn wrong_kinds_are_named() {
    let errors = parse_event(&json!({
        "info": ["a"],
        "distribution": "five",
        "published": "maybe",
        "threat_level_id": "Severe",
        "date": "25/06/2019",
        "uuid": "5a3c2fcd",
        "timestamp": true,
    }))
    .unwrap_err();
    for field in [
        "info",
        "distribution",
        "published",
        "threat_level_id",
        "date",
        "uuid",
        "timestamp",
    ] {
        assert!(
            errors.0.contains_key(field),
            "{field} missing from {errors:?}"
        );
    }
    assert_eq!(errors.0["distribution"], ["must be an integer 0-5"]);
}

#[test]
fn tags_in_all_their_shapes() {
    let event = parse_event(&json!({
        "info": "x",
        "Tag": [{"name": "tlp:green", "colour": "#33FF00", "local": 0, "id": "7"}, "plain-name"],
        "EventTag": [{"local": true, "relationship_type": "", "Tag": {"name": "PAP:GREEN", "id": "9"}}],
    }))
    .unwrap();
    let names: Vec<_> = event
        .tags
        .iter()
        .map(|tag| tag.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["tlp:green", "plain-name", "PAP:GREEN"]);
    assert_eq!(event.tags[0].id, Some(7));
    assert_eq!(event.tags[0].local, Some(false));
    assert_eq!(event.tags[2].local, Some(true));
    assert_eq!(event.tags[2].relationship_type, Some(None));

    let attribute = parse_attribute(&json!({
        "type": "domain", "value": "example.com",
        "AttributeTag": [{"Tag": {"name": "a"}, "local": "1"}],
        "Tag": [{"name": "b", "numerical_value": "70", "relationship_type": "rel"}],
    }))
    .unwrap();
    let names: Vec<_> = attribute
        .tags
        .iter()
        .map(|tag| tag.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["b", "a"]);
    assert_eq!(attribute.tags[0].numerical_value, Some(Some(70)));
    assert_eq!(
        attribute.tags[0].relationship_type,
        Some(Some("rel".into()))
    );
    assert_eq!(attribute.tags[1].local, Some(true));
}

#[test]
fn attribute_fields_and_clears() {
    let attribute = parse_attribute(&json!({"Attribute": {
        "type": "ip-dst", "category": "Network activity", "value": "1.2.3.4",
        "to_ids": "0", "comment": 12, "distribution": 5, "sharing_group_id": "0",
        "first_seen": "2019-06-25T15:26:00.123456+00:00", "last_seen": null,
        "valid_until": "2020-01-01", "intended_use": "hunt-only", "status": "confirmed",
        "object_relation": "", "uuid": UUID.to_uppercase(), "data": "",
        "deleted": false, "disable_correlation": "true",
    }}))
    .unwrap();
    assert_eq!(attribute.attr_type.as_deref(), Some("ip-dst"));
    assert_eq!(attribute.to_ids, Some(false));
    assert_eq!(attribute.comment.as_deref(), Some("12"));
    assert_eq!(attribute.sharing_group_id, Some(0));
    assert_eq!(attribute.first_seen, Some(Some(1_561_476_360_123_456)));
    assert_eq!(attribute.last_seen, Some(None));
    assert_eq!(attribute.valid_until, Some(Some(1_577_836_800_000_000)));
    assert_eq!(attribute.intended_use, Some(Some(IntendedUse::HuntOnly)));
    assert_eq!(attribute.status, Some(Some(ItemStatus::Confirmed)));
    assert_eq!(attribute.object_relation, None);
    assert_eq!(attribute.uuid.as_deref(), Some(UUID));
    assert_eq!(attribute.data, None);
    assert_eq!(attribute.disable_correlation, Some(true));

    let cleared = parse_attribute(
        &json!({"intended_use": null, "status": null, "valid_until": null, "first_seen": ""}),
    )
    .unwrap();
    assert_eq!(cleared.intended_use, Some(None));
    assert_eq!(cleared.status, Some(None));
    assert_eq!(cleared.valid_until, Some(None));
    assert_eq!(cleared.first_seen, Some(None));
    let untouched = parse_attribute(&json!({})).unwrap();
    assert_eq!(untouched.intended_use, None);
    assert_eq!(untouched.first_seen, None);

    let errors = parse_attribute(&json!({
        "intended_use": "block", "status": "maybe", "first_seen": "someday", "to_ids": "yes-ish",
        "value": {"a": 1},
    }))
    .unwrap_err();
    for field in ["intended_use", "status", "first_seen", "to_ids", "value"] {
        assert!(
            errors.0.contains_key(field),
            "{field} missing from {errors:?}"
        );
    }
}

#[test]
fn values_of_other_kinds_and_value1_value2() {
    let attribute = parse_attribute(&json!({"type": "port", "value": 443})).unwrap();
    assert_eq!(attribute.value.as_deref(), Some("443"));
    let attribute = parse_attribute(&json!({"type": "boolean", "value": true})).unwrap();
    assert_eq!(attribute.value.as_deref(), Some("1"));
    let attribute =
        parse_attribute(&json!({"type": "domain|ip", "value1": "a.example", "value2": "1.2.3.4"}))
            .unwrap();
    assert_eq!(attribute.value.as_deref(), Some("a.example|1.2.3.4"));
    let errors = parse_attribute(&json!({"type": "domain", "value": ["a", "b"]})).unwrap_err();
    assert!(errors.0.contains_key("value"));
}

#[test]
fn attribute_batches() {
    let single = parse_attributes(&json!({"type": "domain", "value": "a.example"})).unwrap();
    assert_eq!(single.len(), 1);
    let wrapped =
        parse_attributes(&json!({"Attribute": {"type": "domain", "value": "a.example"}})).unwrap();
    assert_eq!(wrapped.len(), 1);
    let listed = parse_attributes(&json!([
        {"type": "domain", "value": "a.example"},
        {"Attribute": {"type": "domain", "value": "b.example"}},
    ]))
    .unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].value.as_deref(), Some("b.example"));
    let wrapped_list =
        parse_attributes(&json!({"Attribute": [{"type": "url", "value": "http://x"}]})).unwrap();
    assert_eq!(wrapped_list.len(), 1);

    let batch = parse_attributes(&json!({
        "type": "ip-dst", "value": ["1.1.1.1", "2.2.2.2", 3], "comment": "c", "uuid": UUID,
    }))
    .unwrap();
    let values: Vec<_> = batch.iter().map(|a| a.value.as_deref().unwrap()).collect();
    assert_eq!(values, ["1.1.1.1", "2.2.2.2", "3"]);
    assert!(
        batch
            .iter()
            .all(|a| a.comment.as_deref() == Some("c") && a.uuid.is_none())
    );

    let errors =
        parse_attributes(&json!([{"type": "domain"}, {"type": "domain", "to_ids": "nah"}]))
            .unwrap_err();
    assert!(errors.0.contains_key("Attribute.1.to_ids"), "{errors:?}");
    assert!(parse_attributes(&json!([])).is_err());
}

#[test]
fn objects_and_references() {
    let object = parse_object(&json!({"Object": {
        "name": "file", "meta-category": "file", "description": "File object",
        "template_uuid": "688C46FB-5EDB-40A3-8273-1AF7923E2215", "template_version": 25,
        "distribution": "5", "sharing_group_id": "0",
        "Attribute": [{"type": "filename", "value": "bar", "object_relation": "filename"}],
        "ObjectReference": [{
            "object_uuid": UUID, "referenced_uuid": "5a3cd5b6-9568-4342-b2ab-4c62950d210f",
            "relationship_type": "contains", "referenced_type": "1", "comment": "foo",
        }],
    }}))
    .unwrap();
    assert_eq!(object.name.as_deref(), Some("file"));
    assert_eq!(object.meta_category.as_deref(), Some("file"));
    assert_eq!(
        object.template_uuid.as_deref(),
        Some("688c46fb-5edb-40a3-8273-1af7923e2215")
    );
    assert_eq!(object.template_version.as_deref(), Some("25"));
    assert_eq!(
        object.attributes[0].object_relation.as_deref(),
        Some("filename")
    );
    let reference = &object.references[0];
    assert_eq!(reference.object_uuid.as_deref(), Some(UUID));
    assert_eq!(reference.referenced_type, Some(1));
    assert_eq!(reference.relationship_type.as_deref(), Some("contains"));

    let reference = parse_object_reference(&json!({"ObjectReference": {
        "source_uuid": UUID, "object_id": "12", "referenced_id": "901",
        "referenced_type": "Attribute", "relationship_type": "related-to",
        "timestamp": "1736949000", "deleted": 0,
    }}))
    .unwrap();
    assert_eq!(reference.object_uuid.as_deref(), Some(UUID));
    assert_eq!(reference.object_id, Some(12));
    assert_eq!(reference.referenced_id, Some(901));
    assert_eq!(reference.referenced_type, Some(0));
    assert_eq!(reference.deleted, Some(false));
    let errors =
        parse_object_reference(&json!({"referenced_type": 3, "referenced_uuid": "x"})).unwrap_err();
    assert!(errors.0.contains_key("referenced_type") && errors.0.contains_key("referenced_uuid"));

    let errors = parse_object(
        &json!({"name": "file", "Attribute": [{"value": "a"}, {"first_seen": "bad"}]}),
    )
    .unwrap_err();
    assert!(
        errors.0.contains_key("Attribute.1.first_seen"),
        "{errors:?}"
    );
}

#[test]
fn tags() {
    for body in [
        json!({"Tag": {"name": " tlp:red ", "colour": "#CC0033"}}),
        json!({"name": "tlp:red", "colour": "#CC0033"}),
    ] {
        let tag = parse_tag(&body).unwrap();
        assert_eq!(tag.name.as_deref(), Some("tlp:red"));
        assert_eq!(tag.colour.as_deref(), Some("#CC0033"));
    }
    let tag = parse_tag(&json!({
        "name": "x", "exportable": "0", "hide_tag": 1, "org_id": "2", "user_id": "", "numerical_value": null,
        "local_only": "true",
    }))
    .unwrap();
    assert_eq!(tag.exportable, Some(false));
    assert_eq!(tag.hide_tag, Some(true));
    assert_eq!(tag.org_id, Some(2));
    assert_eq!(tag.user_id, None);
    assert_eq!(tag.numerical_value, Some(None));
    assert_eq!(tag.local_only, Some(true));
    assert!(
        parse_tag(&json!({"name": "x", "numerical_value": "high"}))
            .unwrap_err()
            .0
            .contains_key("numerical_value")
    );
}

#[test]
fn nested_parse_errors_are_keyed_by_position() {
    let errors = parse_event(&json!({
        "info": "x",
        "Attribute": [{"type": "domain", "value": "a"}, {"type": "domain", "distribution": "all"}],
        "Object": [{"name": "file", "Attribute": [{"to_ids": "perhaps"}], "ObjectReference": [{"referenced_uuid": "nope"}]}],
        "Tag": [{"name": "ok"}, 5],
    }))
    .unwrap_err();
    for key in [
        "Attribute.1.distribution",
        "Object.0.Attribute.0.to_ids",
        "Object.0.ObjectReference.0.referenced_uuid",
        "Tag.1",
    ] {
        assert!(errors.0.contains_key(key), "{key} missing from {errors:?}");
    }
}

#[test]
fn php_shaped_lists_and_loose_envelopes() {
    let event = parse_event(&json!({
        "info": "x",
        "Attribute": {"0": {"type": "domain", "value": "a.example"}, "3": {"type": "domain", "value": "b.example"}},
        "Object": {"name": "file"},
    }))
    .unwrap();
    assert_eq!(event.attributes.len(), 2);
    assert_eq!(event.objects.len(), 1);
    let attributes = parse_attributes(
        &json!({"Attribute": {"type": "domain", "value": "a.example"}, "enforceWarninglist": true}),
    )
    .unwrap();
    assert_eq!(attributes[0].attr_type.as_deref(), Some("domain"));
}

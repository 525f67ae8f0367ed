//! Real MISP events (MISP API and feed exports from CIRCL, ESET and PyMISP's test suite):
//! parse, build, render back, and compare with the input.

use kizuna_formats::misp::build::new_event;
use kizuna_formats::misp::input::{lenient_micros, parse_event};
use kizuna_formats::misp::output::render_event;
use kizuna_model::normalize::normalize_value;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

fn event_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|name| name != "fragments") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|ext| ext == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The event object inside whichever envelope the file uses.
fn raw_event(body: &Value) -> &Map<String, Value> {
    let mut current = body;
    if let Some(response) = current.get("response") {
        current = match response {
            Value::Array(items) => &items[0],
            other => other,
        };
    }
    if let Some(inner) = current.get("Event") {
        current = inner;
    }
    current.as_object().expect("an event object")
}

fn list<'a>(map: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    map.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::Bool(flag)) => flag.to_string(),
        _ => String::new(),
    }
}

fn flag(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text == "1" || text == "true",
        Some(Value::Number(number)) => number.as_i64() == Some(1),
        _ => false,
    }
}

fn micros(value: Option<&Value>) -> Option<i64> {
    value.filter(|v| !v.is_null()).and_then(lenient_micros)
}

/// Typing of a rendered attribute: integers as strings, flags as booleans.
fn check_attribute_typing(attribute: &Value, problems: &mut Vec<String>) {
    for key in [
        "id",
        "event_id",
        "distribution",
        "timestamp",
        "sharing_group_id",
        "object_id",
    ] {
        if !attribute[key].is_string() {
            problems.push(format!(
                "attribute {key} is not a string: {}",
                attribute[key]
            ));
        }
    }
    for key in ["to_ids", "deleted", "disable_correlation"] {
        if !attribute[key].is_boolean() {
            problems.push(format!(
                "attribute {key} is not a boolean: {}",
                attribute[key]
            ));
        }
    }
}

fn compare_attribute(raw: &Value, rendered: &Value, place: &str, problems: &mut Vec<String>) {
    let raw = raw.as_object().unwrap();
    let raw = match raw.get("Attribute") {
        Some(Value::Object(inner)) if raw.len() == 1 => inner,
        _ => raw,
    };
    if let Some(uuid) = raw.get("uuid") {
        let expected = text(Some(uuid)).to_ascii_lowercase();
        if rendered["uuid"] != expected.as_str() {
            problems.push(format!("{place}: uuid {} != {expected}", rendered["uuid"]));
        }
    }
    for key in ["type", "category"] {
        let expected = text(raw.get(key));
        if rendered[key] != expected.as_str() {
            problems.push(format!("{place}: {key} {} != {expected:?}", rendered[key]));
        }
    }
    // The value as MISP 2.5 stores it: older exports may predate a normalisation
    // (e.g. `datetime` values became ISO 8601 with microseconds).
    let raw_type = text(raw.get("type"));
    let raw_value = text(raw.get("value"));
    let expected = normalize_value(&raw_type, &raw_value)
        .map(|normalized| normalized.joined(&raw_type))
        .unwrap_or(raw_value.clone());
    if rendered["value"] != expected.as_str() {
        problems.push(format!(
            "{place}: value {} != {expected:?}",
            rendered["value"]
        ));
    }
    if expected != raw_value && raw_type != "datetime" {
        problems.push(format!(
            "{place}: {raw_type} value {raw_value:?} is normalised to {expected:?}"
        ));
    }
    if rendered["comment"] != text(raw.get("comment")).as_str() {
        problems.push(format!("{place}: comment differs"));
    }
    if raw.contains_key("to_ids") && rendered["to_ids"] != flag(raw.get("to_ids")) {
        problems.push(format!("{place}: to_ids differs"));
    }
    for key in ["first_seen", "last_seen"] {
        if micros(raw.get(key)) != micros(rendered.get(key)) {
            problems.push(format!(
                "{place}: {key} {:?} != {}",
                raw.get(key),
                rendered[key]
            ));
        }
    }
    if let Some(relation) = raw.get("object_relation").filter(|v| !v.is_null())
        && rendered["object_relation"] != *relation
    {
        problems.push(format!("{place}: object_relation differs"));
    }
    let raw_tags: Vec<String> = list(raw, "Tag")
        .iter()
        .map(|tag| text(tag.get("name")))
        .collect();
    let rendered_tags: Vec<String> = rendered
        .get("Tag")
        .and_then(Value::as_array)
        .map(|tags| tags.iter().map(|tag| text(tag.get("name"))).collect())
        .unwrap_or_default();
    if raw_tags != rendered_tags {
        problems.push(format!("{place}: tags {rendered_tags:?} != {raw_tags:?}"));
    }
    check_attribute_typing(rendered, problems);
}

/// Fixtures MISP itself would refuse, with the error we must give.
const INVALID_FIXTURES: &[(&str, &str)] = &[
    // PyMISP's test object carries the placeholder uuid "a".
    ("mispevent-misp_custom_obj.json", "Object.0.uuid"),
];

fn check_event(path: &Path) -> Result<usize, String> {
    let body: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let file_name = path.file_name().unwrap().to_string_lossy();
    if let Some((_, key)) = INVALID_FIXTURES.iter().find(|(name, _)| *name == file_name) {
        return match parse_event(&body) {
            Err(errors) if errors.0.contains_key(*key) => Ok(0),
            Err(errors) => Err(format!(
                "expected an error on {key}, got {}",
                errors.summary()
            )),
            Ok(_) => Err(format!("expected an error on {key}")),
        };
    }
    let input = parse_event(&body).map_err(|errors| format!("parse: {}", errors.summary()))?;
    let event = new_event(&input, &crate::ctx(), 1, 1)
        .map_err(|errors| format!("build: {}", errors.summary()))?;
    let raw = raw_event(&body);
    let rendered = render_event(&event);
    let mut problems = Vec::new();

    // Event scalars as MISP wrote them.
    if let Some(uuid) = raw.get("uuid") {
        assert_eq!(rendered["uuid"], text(Some(uuid)).to_ascii_lowercase());
    }
    for key in [
        "info",
        "date",
        "threat_level_id",
        "analysis",
        "timestamp",
        "distribution",
    ] {
        if raw.contains_key(key) && rendered[key] != text(raw.get(key)).as_str() {
            problems.push(format!(
                "event {key}: {} != {:?}",
                rendered[key],
                raw.get(key)
            ));
        }
    }
    if rendered["published"] != flag(raw.get("published")) {
        problems.push("event published differs".into());
    }
    let raw_tags: Vec<String> = list(raw, "Tag")
        .iter()
        .map(|tag| text(tag.get("name")))
        .collect();
    let rendered_tags: Vec<String> = rendered
        .get("Tag")
        .and_then(Value::as_array)
        .map(|tags| tags.iter().map(|tag| text(tag.get("name"))).collect())
        .unwrap_or_default();
    if raw_tags != rendered_tags {
        problems.push(format!("event tags {rendered_tags:?} != {raw_tags:?}"));
    }

    // Attributes, one for one (none of these events has duplicates).
    let raw_attributes = list(raw, "Attribute");
    let rendered_attributes = rendered["Attribute"].as_array().unwrap();
    if raw_attributes.len() != rendered_attributes.len() {
        problems.push(format!(
            "attribute count {} != {}",
            rendered_attributes.len(),
            raw_attributes.len()
        ));
    }
    for (index, (raw_attribute, rendered_attribute)) in
        raw_attributes.iter().zip(rendered_attributes).enumerate()
    {
        compare_attribute(
            raw_attribute,
            rendered_attribute,
            &format!("Attribute.{index}"),
            &mut problems,
        );
    }

    // Objects with their attributes and references.
    let raw_objects = list(raw, "Object");
    let rendered_objects = rendered["Object"].as_array().unwrap();
    if raw_objects.len() != rendered_objects.len() {
        problems.push(format!(
            "object count {} != {}",
            rendered_objects.len(),
            raw_objects.len()
        ));
    }
    for (index, (raw_object, rendered_object)) in
        raw_objects.iter().zip(rendered_objects).enumerate()
    {
        let raw_object = raw_object.as_object().unwrap();
        for key in ["name", "meta-category", "template_uuid", "uuid"] {
            if raw_object.contains_key(key)
                && rendered_object[key] != text(raw_object.get(key)).as_str()
            {
                problems.push(format!(
                    "Object.{index}.{key}: {} differs",
                    rendered_object[key]
                ));
            }
        }
        if raw_object.contains_key("template_version")
            && rendered_object["template_version"]
                != text(raw_object.get("template_version")).as_str()
        {
            problems.push(format!("Object.{index}.template_version differs"));
        }
        let raw_object_attributes = list(raw_object, "Attribute");
        let rendered_object_attributes = rendered_object["Attribute"].as_array().unwrap();
        if raw_object_attributes.len() != rendered_object_attributes.len() {
            problems.push(format!("Object.{index}: attribute count differs"));
        }
        for (inner, (raw_attribute, rendered_attribute)) in raw_object_attributes
            .iter()
            .zip(rendered_object_attributes)
            .enumerate()
        {
            compare_attribute(
                raw_attribute,
                rendered_attribute,
                &format!("Object.{index}.Attribute.{inner}"),
                &mut problems,
            );
        }
        let raw_references = list(raw_object, "ObjectReference");
        let rendered_references = rendered_object["ObjectReference"].as_array().unwrap();
        if raw_references.len() != rendered_references.len() {
            problems.push(format!("Object.{index}: reference count differs"));
        }
        for (raw_reference, rendered_reference) in raw_references.iter().zip(rendered_references) {
            for key in [
                "uuid",
                "referenced_uuid",
                "relationship_type",
                "referenced_type",
            ] {
                if let Some(expected) = raw_reference.get(key)
                    && rendered_reference[key] != text(Some(expected)).as_str()
                {
                    problems.push(format!("Object.{index}: reference {key} differs"));
                }
            }
            if rendered_reference["source_uuid"] != rendered_object["uuid"] {
                problems.push(format!(
                    "Object.{index}: reference source is not its object"
                ));
            }
        }
    }

    // Rendering what we built and building it again gives the same event.
    let again_input = parse_event(&serde_json::json!({"Event": rendered}))
        .map_err(|errors| format!("re-parse: {}", errors.summary()))?;
    let again = new_event(&again_input, &crate::ctx(), 1, 1)
        .map_err(|errors| format!("re-build: {}", errors.summary()))?;
    if again != event {
        problems.push("render → parse → build is not the identity".into());
    }

    if problems.is_empty() {
        Ok(event.attributes.len()
            + event
                .objects
                .iter()
                .map(|o| o.attributes.len())
                .sum::<usize>())
    } else {
        Err(problems.join("\n    "))
    }
}

#[test]
fn real_misp_events_round_trip() {
    let dir = crate::data_dir();
    let files = event_files(&dir.join("misp-events"));
    assert!(
        files.len() >= 20,
        "expected the real events, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    let mut items = 0;
    for file in &files {
        match check_event(file) {
            Ok(count) => items += count,
            Err(problem) => failures.push(format!("{}:\n    {problem}", file.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} events failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    assert!(items > 1000, "only {items} attributes seen");
}

#[test]
fn real_event_counts_and_uuids() {
    let dir = crate::data_dir();
    let path = dir.join("misp-events/pymisp/mispevent-existing_event.json");
    let body: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let event = new_event(&parse_event(&body).unwrap(), &crate::ctx(), 7, 3).unwrap();
    assert_eq!(event.uuid, "5a3c2fcd-8328-42bb-a95e-4f4402de0b81");
    assert_eq!(event.attributes.len(), 9);
    assert_eq!(event.objects.len(), 49);
    assert_eq!(event.tags.len(), 18);
    assert_eq!(event.attribute_count, 122);
    assert_eq!(event.timestamp, 1_513_948_642, "a given timestamp is kept");
    assert_eq!((event.org_id, event.orgc_id, event.user_id), (7, 7, 3));
    let object = &event.objects[0];
    assert_eq!(object.uuid, "5a3cd5b6-9568-4342-b2ab-4c62950d210f");
    assert_eq!(
        object.attributes[0].object_relation.as_deref(),
        Some("filename")
    );
}

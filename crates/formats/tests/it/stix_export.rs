//! STIX 2.1 export: real ESET events and a synthetic event covering every mapped type,
//! TLP, galaxies and validity, each compared with its golden bundle in
//! `tests/data/stix-golden/` (`KIZUNA_BLESS=1` rewrites them). The goldens are validated
//! with stix2-validator and read back by misp-stix in tests/interop/test_stix2_golden.py.

use kizuna_formats::export::{ExportItem, ExportWriter};
use kizuna_formats::misp::build::new_event;
use kizuna_formats::misp::input::parse_event;
use kizuna_formats::stix::export::{Stix2Options, Stix2Writer, event_objects, events_to_bundle};
use kizuna_formats::stix::ids::{sco_id, timestamp_millis};
use kizuna_model::{Event, Organisation};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

fn stix_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The MISP events the goldens are made from (`stix-input/<name>.json` →
/// `stix-golden/<name>.json`).
fn inputs() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(stix_data().join("stix-input"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// An event as the server would hold it: built from MISP JSON, with its creator
/// organisation loaded and its publish time kept.
fn load(path: &Path) -> Event {
    let body: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let input = parse_event(&body).unwrap_or_else(|errors| panic!("{}", errors.summary()));
    let mut event = new_event(&input, &crate::ctx(), 1, 1)
        .unwrap_or_else(|errors| panic!("{}: {}", path.display(), errors.summary()));
    if let Some(orgc) = &input.orgc {
        event.orgc = Some(Organisation {
            uuid: orgc.uuid.clone().unwrap_or_default(),
            name: orgc.name.clone().unwrap_or_default(),
            ..Organisation::default()
        });
    } else {
        event.orgc_id = 7;
    }
    if event.published
        && let Some(published) = input.publish_timestamp.filter(|ts| *ts > 0)
    {
        event.publish_timestamp = published;
    }
    event
}

fn options() -> Stix2Options {
    Stix2Options {
        base_url: "https://kizuna.example".into(),
        now: crate::NOW,
        bundle_id: None,
    }
}

/// Compares with the golden file, or rewrites it when `KIZUNA_BLESS=1`.
fn check_golden(name: &str, actual: &Value) {
    let path = stix_data().join("stix-golden").join(format!("{name}.json"));
    if std::env::var("KIZUNA_BLESS").as_deref() == Ok("1") {
        let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} is missing; run with KIZUNA_BLESS=1", path.display())),
    )
    .unwrap();
    if expected == *actual {
        return;
    }
    let by_id = |bundle: &Value| -> HashMap<String, Value> {
        bundle["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|object| {
                (
                    object["id"].as_str().unwrap_or_default().to_string(),
                    object.clone(),
                )
            })
            .collect()
    };
    let (expected_objects, actual_objects) = (by_id(&expected), by_id(actual));
    let mut differences = Vec::new();
    for (id, object) in &actual_objects {
        match expected_objects.get(id) {
            None => differences.push(format!("new object {id}")),
            Some(old) if old != object => {
                differences.push(format!("changed {id}:\n  was {old}\n  now {object}"))
            }
            _ => {}
        }
    }
    for id in expected_objects.keys() {
        if !actual_objects.contains_key(id) {
            differences.push(format!("missing object {id}"));
        }
    }
    differences.sort();
    differences.truncate(10);
    panic!(
        "{name}: the bundle differs from {} (KIZUNA_BLESS=1 rewrites it):\n{}",
        path.display(),
        if differences.is_empty() {
            "object order or the bundle envelope".to_string()
        } else {
            differences.join("\n")
        }
    );
}

fn objects(bundle: &Value) -> &[Value] {
    bundle["objects"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn find<'a>(bundle: &'a Value, id: &str) -> &'a Value {
    objects(bundle)
        .iter()
        .find(|object| object["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in the bundle"))
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_input_event_matches_its_golden_bundle() {
    let inputs = inputs();
    assert!(inputs.len() >= 5, "the STIX inputs are missing");
    for path in inputs {
        let bundle = events_to_bundle(&[load(&path)], options());
        check_golden(&stem(&path), &bundle);
    }
}

/// Every reference in a bundle points at an object in it (or at one of STIX's own TLP
/// marking definitions), and every SCO id is the spec's id for its content.
fn check_references(name: &str, bundle: &Value) {
    let ids: HashSet<&str> = objects(bundle)
        .iter()
        .filter_map(|object| object["id"].as_str())
        .collect();
    let mut references = Vec::new();
    fn collect(value: &Value, key: &str, out: &mut Vec<String>) {
        match value {
            Value::String(text) if key.ends_with("_ref") => out.push(text.clone()),
            Value::Array(items) if key.ends_with("_refs") => {
                out.extend(items.iter().filter_map(Value::as_str).map(str::to_string))
            }
            Value::Object(map) => {
                for (inner_key, inner) in map {
                    collect(inner, inner_key, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    collect(item, key, out);
                }
            }
            _ => {}
        }
    }
    for object in objects(bundle) {
        collect(object, "", &mut references);
        if object.get("created").is_none() && object["type"] != "marking-definition" {
            let map: Map<String, Value> = object.as_object().unwrap().clone();
            let sco_type = map["type"].as_str().unwrap();
            assert_eq!(
                object["id"].as_str().unwrap(),
                sco_id(sco_type, &map),
                "{name}: SCO id of {object}"
            );
        }
    }
    for reference in references {
        assert!(
            ids.contains(reference.as_str()),
            "{name}: {reference} is referenced but not in the bundle"
        );
    }
}

#[test]
fn references_resolve_and_sco_ids_are_deterministic() {
    for path in inputs() {
        let bundle = events_to_bundle(&[load(&path)], options());
        check_references(&stem(&path), &bundle);
    }
}

#[test]
fn published_event_is_a_report_with_identity_markings_and_clusters() {
    let event = load(&stix_data().join("stix-input/synthetic_every_type.json"));
    let bundle = events_to_bundle(std::slice::from_ref(&event), options());
    let report = find(&bundle, &format!("report--{}", event.uuid));
    assert_eq!(report["published"], "2023-11-14T22:11:40Z");
    let creator = format!("identity--{}", event.orgc.as_ref().unwrap().uuid);
    assert_eq!(report["created_by_ref"], creator);
    assert_eq!(find(&bundle, &creator)["name"], "Kizuna Test CERT");
    // tlp:amber on the event marks the report and the attributes without a TLP of their own.
    let amber = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
    assert_eq!(report["object_marking_refs"], serde_json::json!([amber]));
    assert_eq!(find(&bundle, amber)["definition"]["tlp"], "amber");
    let labels = report["labels"].as_array().unwrap();
    assert!(labels.contains(&Value::from("type:OSINT")));
    // A galaxy type misp-stix does not map stays a label.
    assert!(labels.contains(&Value::from("misp-galaxy:sector=\"Finance\"")));
    let refs: Vec<&str> = report["object_refs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let actor = refs
        .iter()
        .find(|id| id.starts_with("threat-actor--"))
        .expect("the event's threat actor");
    assert_eq!(find(&bundle, actor)["name"], "Sofacy");
    let pattern = refs
        .iter()
        .map(|id| find(&bundle, id))
        .find(|object| object["type"] == "attack-pattern")
        .expect("the event's attack pattern");
    assert_eq!(pattern["name"], "Spearphishing Attachment");
    assert_eq!(
        pattern["external_references"][0]["external_id"],
        "T1566.001"
    );
}

#[test]
fn indicators_carry_validity_context_and_their_own_tlp() {
    let event = load(&stix_data().join("stix-input/synthetic_every_type.json"));
    let bundle = events_to_bundle(std::slice::from_ref(&event), options());
    let c2 = event
        .attributes
        .iter()
        .find(|a| a.value1 == "203.0.113.7")
        .unwrap();
    let indicator = find(&bundle, &format!("indicator--{}", c2.uuid));
    assert_eq!(indicator["pattern"], "[ipv4-addr:value = '203.0.113.7']");
    assert_eq!(indicator["valid_until"], "2023-12-31T00:00:00Z");
    let labels = indicator["labels"].as_array().unwrap();
    for label in [
        "misp:type=\"ip-dst\"",
        "misp:to_ids=\"True\"",
        "kizuna:intended-use=\"block-outbound\"",
        "kizuna:status=\"preliminary\"",
    ] {
        assert!(labels.contains(&Value::from(label)), "{label}");
    }
    // The attribute's galaxy clusters: the indicator indicates the malware and the tool.
    let indicated: Vec<&str> = objects(&bundle)
        .iter()
        .filter(|o| o["type"] == "relationship" && o["source_ref"] == indicator["id"])
        .map(|o| o["relationship_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        indicated
            .iter()
            .filter(|kind| **kind == "indicates")
            .count(),
        2
    );

    let scanner = event
        .attributes
        .iter()
        .find(|a| a.value1 == "198.51.100.3")
        .unwrap();
    let indicator = find(&bundle, &format!("indicator--{}", scanner.uuid));
    assert_eq!(indicator["valid_from"], "2023-11-01T08:00:00Z");
    assert_eq!(indicator["valid_until"], "2023-11-10T08:00:00Z");

    let red = event
        .attributes
        .iter()
        .find(|a| a.value1 == "203.0.113.0/24")
        .unwrap();
    let indicator = find(&bundle, &format!("indicator--{}", red.uuid));
    assert_eq!(
        indicator["pattern"],
        "[ipv4-addr:value ISSUBSET '203.0.113.0/24']"
    );
    assert_eq!(
        indicator["object_marking_refs"],
        serde_json::json!(["marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"])
    );
    // Local tags never leave the instance.
    assert!(!bundle.to_string().contains("kizuna:internal-note"));
}

#[test]
fn unknown_organisation_and_empty_event() {
    let event = load(&stix_data().join("stix-input/synthetic_empty_unknown_org.json"));
    let bundle = events_to_bundle(std::slice::from_ref(&event), options());
    let grouping = find(&bundle, &format!("grouping--{}", event.uuid));
    assert_eq!(grouping["context"], "suspicious-activity");
    let creator = grouping["created_by_ref"].as_str().unwrap();
    assert_eq!(find(&bundle, creator)["name"], "Unknown organisation");
    // `object_refs` may not be empty: an empty event refers to its author.
    assert_eq!(grouping["object_refs"], serde_json::json!([creator]));
    assert_eq!(
        grouping["object_marking_refs"],
        serde_json::json!(["marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"])
    );
}

/// Several events stream into one bundle: the creator identity and the markings and
/// clusters shared between events are written once.
#[test]
fn one_bundle_for_many_events() {
    let events: Vec<Event> = inputs().iter().map(|path| load(path)).collect();
    let mut writer = Stix2Writer::new(Stix2Options {
        bundle_id: Some("bundle--3c1b3f52-6f2e-4f0e-9d8e-2a6f4f7f1b10".into()),
        ..options()
    });
    assert!(writer.wants_events());
    let mut out = String::new();
    writer.begin(&mut out);
    for event in &events {
        writer.event(&mut out, event);
    }
    writer.finish(&mut out);
    let bundle: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(bundle["id"], "bundle--3c1b3f52-6f2e-4f0e-9d8e-2a6f4f7f1b10");
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for object in objects(&bundle) {
        if object.get("modified").is_some() || object["type"] == "marking-definition" {
            *counts.entry(object["id"].as_str().unwrap()).or_default() += 1;
        }
    }
    let repeated: Vec<_> = counts.iter().filter(|(_, count)| **count > 1).collect();
    assert!(repeated.is_empty(), "objects written twice: {repeated:?}");
    let eset = "identity--55f6ea5e-51ac-4344-bc8c-4170950d210f";
    assert_eq!(counts.get(eset), Some(&1));
    check_references("all inputs", &bundle);
    let reports = objects(&bundle)
        .iter()
        .filter(|o| o["type"] == "report" || o["type"] == "grouping")
        .count();
    assert_eq!(reports, events.len());
}

/// Attributes handed over one at a time (the attribute-scope restSearch) come out as the
/// same objects as the whole event.
#[test]
fn attribute_by_attribute_equals_whole_event() {
    let event = load(&stix_data().join("stix-input/synthetic_every_type.json"));
    let whole = events_to_bundle(std::slice::from_ref(&event), options());
    let mut writer = Stix2Writer::new(Stix2Options {
        bundle_id: whole["id"].as_str().map(str::to_string),
        ..options()
    });
    let mut out = String::new();
    writer.begin(&mut out);
    for attribute in &event.attributes {
        writer.attribute(
            &mut out,
            &ExportItem {
                attribute,
                event: &event,
                object: None,
            },
        );
    }
    for object in &event.objects {
        for attribute in &object.attributes {
            writer.attribute(
                &mut out,
                &ExportItem {
                    attribute,
                    event: &event,
                    object: Some(object),
                },
            );
        }
    }
    writer.finish(&mut out);
    let streamed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(streamed, whole);
}

#[test]
fn an_empty_export_is_a_bundle_without_objects() {
    let mut writer = Stix2Writer::new(Stix2Options {
        bundle_id: Some("bundle--3c1b3f52-6f2e-4f0e-9d8e-2a6f4f7f1b10".into()),
        ..options()
    });
    let mut out = String::new();
    writer.begin(&mut out);
    writer.finish(&mut out);
    let bundle: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        bundle,
        serde_json::json!({"type": "bundle", "id": "bundle--3c1b3f52-6f2e-4f0e-9d8e-2a6f4f7f1b10"})
    );
}

/// `event_objects` (what TAXII serves) writes each object exactly as the golden bundle holds
/// it, byte for byte in compact form — key order included, which comparing parsed values
/// would not see — and lists what a manifest needs about it.
#[test]
fn event_objects_are_the_golden_objects_byte_for_byte() {
    for path in inputs() {
        let name = stem(&path);
        let golden_path = stix_data().join("stix-golden").join(format!("{name}.json"));
        let golden: Value =
            serde_json::from_str(&std::fs::read_to_string(&golden_path).unwrap()).unwrap();
        let event = load(&path);
        let listed = event_objects(&event, &options());
        let expected = objects(&golden);
        assert_eq!(listed.len(), expected.len(), "{name}: object count");
        for (object, golden_object) in listed.iter().zip(expected) {
            assert_eq!(object.json(), golden_object.to_string(), "{name}");
            assert_eq!(object.id(), golden_object["id"].as_str().unwrap(), "{name}");
            assert_eq!(
                object.object_type(),
                golden_object["type"].as_str().unwrap(),
                "{name}"
            );
            let version = golden_object
                .get("modified")
                .or_else(|| golden_object.get("created"))
                .and_then(Value::as_str)
                .map_or_else(|| timestamp_millis(event.timestamp), str::to_string);
            assert_eq!(
                object.version(),
                version,
                "{name}: version of {}",
                object.id()
            );
            // Identities, markings and clusters name no author and are written once per
            // bundle; relationships and SCOs have no author either but belong to one event.
            let shared = object.object_type() != "relationship"
                && golden_object.get("created").is_some()
                && golden_object.get("created_by_ref").is_none();
            assert_eq!(
                object.shared(),
                shared,
                "{name}: shared flag of {}",
                object.id()
            );
        }
    }
}

//! STIX 2.1 import: the OASIS examples, medallion's collection, misp-stix's own test pairs
//! and misp-stix's bundles of real ESET events, plus bad input.
//!
//! Every event the import returns goes through the MISP API's own parser and builder
//! (`parse_event` + `new_event`): what the server will do with it.

use crate::ctx;
use kizuna_formats::misp::build::new_event;
use kizuna_formats::misp::input::parse_event;
use kizuna_formats::stix::import::{StixImport, StixImportOptions, bundle_to_misp_events};
use kizuna_model::Event;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn stix_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/stix-in")
}

fn load(relative: &str) -> Value {
    let path = stix_dir().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn import_value(content: &Value, name: &str) -> StixImport {
    bundle_to_misp_events(
        content,
        &StixImportOptions {
            default_info: name.to_string(),
        },
    )
}

fn import(relative: &str) -> StixImport {
    import_value(&load(relative), relative)
}

/// Every event through the API's parser and builder; panics when one would be refused.
fn build(result: &StixImport) -> Vec<Event> {
    result
        .events
        .iter()
        .map(|event| {
            let input =
                parse_event(event).unwrap_or_else(|e| panic!("parse: {}\n{event:#}", e.summary()));
            new_event(&input, &ctx(), 1, 1)
                .unwrap_or_else(|e| panic!("build: {}\n{event:#}", e.summary()))
        })
        .collect()
}

fn json_attribute_count(event: &Value) -> usize {
    let event = &event["Event"];
    event["Attribute"].as_array().map_or(0, Vec::len)
        + event["Object"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|object| object["Attribute"].as_array().map_or(0, Vec::len))
            .sum::<usize>()
}

/// (object relation or "", type, category, value as MISP stores it, to_ids) of every
/// attribute, object attributes included.
type Fact = (String, String, String, String, bool);

fn facts(event: &Event) -> BTreeSet<Fact> {
    let plain = event.attributes.iter();
    let in_objects = event
        .objects
        .iter()
        .flat_map(|object| object.attributes.iter());
    plain
        .chain(in_objects)
        .map(|attribute| {
            (
                attribute.object_relation.clone().unwrap_or_default(),
                attribute.attr_type.clone(),
                attribute.category.clone(),
                attribute.value(),
                attribute.to_ids,
            )
        })
        .collect()
}

fn tag_names(event: &Event) -> BTreeSet<String> {
    event.tags.iter().map(|tag| tag.tag.name.clone()).collect()
}

/// What one file imports to.
struct Expected {
    file: &'static str,
    events: usize,
    /// Attributes over all events, object attributes included.
    attributes: usize,
    rejected: usize,
    /// Event-level tags over all events.
    event_tags: usize,
}

fn check(expected: &Expected, result: &StixImport) {
    let file = expected.file;
    let built = build(result);
    let attributes: usize = result.events.iter().map(json_attribute_count).sum();
    let built_attributes: i64 = built.iter().map(|event| event.attribute_count).sum();
    let event_tags: usize = built.iter().map(|event| event.tags.len()).sum();
    let rejections: Vec<String> = result.rejected.iter().map(ToString::to_string).collect();
    assert_eq!(result.events.len(), expected.events, "{file}: events");
    assert_eq!(attributes, expected.attributes, "{file}: attributes");
    assert_eq!(
        built_attributes as usize, attributes,
        "{file}: the builder kept every attribute (no duplicate slipped through)"
    );
    assert_eq!(
        result.rejected.len(),
        expected.rejected,
        "{file}: rejections {rejections:#?}"
    );
    assert_eq!(event_tags, expected.event_tags, "{file}: event tags");
    for rejection in &result.rejected {
        assert!(
            rejection.location.starts_with("objects["),
            "{file}: a rejection names the object: {rejection}"
        );
    }
}

// Expected counts are read off the source files, not off the importer's output:
// - events: one per report/grouping, plus one when some object with content (indicator,
//   observed-data, observable, threat-intelligence object) is in none of them;
// - attributes: one per distinct (type, value) an indicator pattern or an observable names;
//   patterns with LIKE/MATCHES/unknown paths and values MISP refuses are rejections;
// - event tags: one per distinct attack-pattern, malware, threat-actor, intrusion-set, tool,
//   course-of-action, campaign and vulnerability object, plus report labels and markings.
const OASIS: &[Expected] = &[
    // 12 indicators: 4 IPv4 CIDRs, 3 domains, 3 MD5s = 10 attributes; the 2 x509 indicators
    // (issuer AND serial_number) have no MISP type: 2 rejections. Tags: intrusion-set 1 +
    // threat-actor 5 + malware 6 + tool 10 + attack-pattern 7 = 29. One report holding all.
    Expected {
        file: "oasis-json-schemas-examples/apt1.json",
        events: 1,
        attributes: 10,
        rejected: 2,
        event_tags: 29,
    },
    // One indicator, one IPv4.
    Expected {
        file: "oasis-json-schemas-examples/indicator-for-c2-ip-address.json",
        events: 1,
        attributes: 1,
        rejected: 0,
        event_tags: 0,
    },
    // One indicator and the campaign it indicates.
    Expected {
        file: "oasis-json-schemas-examples/indicator-to-campaign-relationship.json",
        events: 1,
        attributes: 1,
        rejected: 0,
        event_tags: 1,
    },
    // Two indicators (IPv4, SHA-256); malware and course-of-action tags.
    Expected {
        file: "oasis-json-schemas-examples/indicators-for-C2-with-COA.json",
        events: 1,
        attributes: 2,
        rejected: 0,
        event_tags: 2,
    },
    // A lone ipv4-addr and domain-name (to_ids off); 2 infrastructure objects rejected; 2 malware.
    Expected {
        file: "oasis-json-schemas-examples/infrastructure.json",
        events: 1,
        attributes: 2,
        rejected: 2,
        event_tags: 2,
    },
    // A single campaign object.
    Expected {
        file: "oasis-json-schemas-examples/interop-objectmarking-test.json",
        events: 1,
        attributes: 0,
        rejected: 0,
        event_tags: 1,
    },
    // Both indicators use MATCHES: 2 rejections; the attack-pattern remains.
    Expected {
        file: "oasis-json-schemas-examples/malicious-email-indicator-with-attachment.json",
        events: 1,
        attributes: 0,
        rejected: 2,
        event_tags: 1,
    },
    // 25 indicators name 67 values, 45 distinct (25 domains, 18 IPv4, 2 file names); the
    // domain "domain autuo.xicp.net" is invalid (1 rejection) = 44, plus the CVE ids of the
    // 6 vulnerabilities = 50. Tags: malware 25 + campaign 3 + attack-pattern 3 + course-of-
    // action 1 + vulnerability 6 = 38 (the one malware outside the report's object_refs is
    // indicated by a member, so it joins the report's event).
    Expected {
        file: "oasis-json-schemas-examples/poisonivy.json",
        events: 1,
        attributes: 50,
        rejected: 1,
        event_tags: 38,
    },
    // threat-actor 1 + attack-pattern 2 + campaign 2 + intrusion-set 1; identities ignored.
    Expected {
        file: "oasis-cti-documentation-examples/defining-campaigns-threat-actors-intrusion-sets.json",
        events: 1,
        attributes: 0,
        rejected: 0,
        event_tags: 6,
    },
    Expected {
        file: "oasis-cti-documentation-examples/identifying-a-threat-actor-profile.json",
        events: 1,
        attributes: 0,
        rejected: 0,
        event_tags: 1,
    },
    Expected {
        file: "oasis-cti-documentation-examples/indicator-for-malicious-url.json",
        events: 1,
        attributes: 1,
        rejected: 0,
        event_tags: 1,
    },
    Expected {
        file: "oasis-cti-documentation-examples/malware-indicator-for-file-hash.json",
        events: 1,
        attributes: 1,
        rejected: 0,
        event_tags: 1,
    },
    // The sighting is skipped; the indicator's URL remains.
    Expected {
        file: "oasis-cti-documentation-examples/sighting-of-an-indicator.json",
        events: 1,
        attributes: 1,
        rejected: 0,
        event_tags: 0,
    },
    // Observed file (name, MD5, SHA-1 → filename|md5, filename|sha1) and registry key; 1 malware.
    Expected {
        file: "oasis-cti-documentation-examples/sighting-of-observed-data.json",
        events: 1,
        attributes: 3,
        rejected: 0,
        event_tags: 1,
    },
    Expected {
        file: "oasis-cti-documentation-examples/threat-actor-leveraging-attack-patterns-and-malware.json",
        events: 1,
        attributes: 0,
        rejected: 0,
        event_tags: 3,
    },
    // The indicator is a MATCHES pattern: rejected; the threat actor remains.
    Expected {
        file: "oasis-cti-documentation-examples/using-granular-markings.json",
        events: 1,
        attributes: 0,
        rejected: 1,
        event_tags: 1,
    },
    // One IPv4 indicator marked TLP:AMBER (the tag goes on the attribute).
    Expected {
        file: "oasis-cti-documentation-examples/using-marking-definitions.json",
        events: 1,
        attributes: 1,
        rejected: 0,
        event_tags: 0,
    },
];

#[test]
fn every_oasis_example_imports_with_the_counts_it_holds() {
    let mut seen = BTreeSet::new();
    for expected in OASIS {
        check(expected, &import(expected.file));
        seen.insert(expected.file.to_string());
    }
    for folder in [
        "oasis-json-schemas-examples",
        "oasis-cti-documentation-examples",
    ] {
        for entry in std::fs::read_dir(stix_dir().join(folder)).unwrap() {
            let name = format!("{folder}/{}", entry.unwrap().file_name().to_string_lossy());
            assert!(seen.contains(&name), "{name} has no expected counts");
        }
    }
}

#[test]
fn oasis_details_survive() {
    let result = import("oasis-json-schemas-examples/poisonivy.json");
    let event = &build(&result)[0];
    assert_eq!(
        event.uuid, "f2b63e80-b523-4747-a069-35c002c690db",
        "the report's uuid"
    );
    assert_eq!(
        event.info,
        "Poison Ivy: Assessing Damage and Extracting Intelligence"
    );
    let orgc = &result.events[0]["Event"]["Orgc"];
    assert_eq!(orgc["name"], "FireEye, Inc.");
    assert_eq!(orgc["uuid"], "81cade27-7df8-4730-836b-62d880e6d9d3");
    assert!(tag_names(event).contains("misp-galaxy:vulnerability=\"CVE-2012-0158\""));
    let cve = event.attributes.iter().find(|attribute| {
        attribute.attr_type == "vulnerability" && attribute.value() == "CVE-2012-0158"
    });
    assert!(cve.is_some_and(|attribute| !attribute.to_ids));
    // `indicates` puts the malware on the indicator's attributes.
    let indicated = event
        .attributes
        .iter()
        .find(|attribute| attribute.value() == "219.76.208.163")
        .expect("the first indicator's address");
    assert!(indicated.to_ids);
    assert!(
        indicated.tags.iter().any(|tag| tag
            .tag
            .name
            .starts_with("misp-galaxy:malware=\"PIVY Variant")),
        "{:?}",
        indicated.tags
    );
    let rejection = &result.rejected[0];
    assert_eq!(
        rejection.location,
        "objects[42] indicator--4e4c4ad7-4909-456a-b6fa-e24a6f682a40"
    );
    assert_eq!(rejection.item, "domain autuo.xicp.net");

    let marked = build(&import(
        "oasis-cti-documentation-examples/using-marking-definitions.json",
    ));
    let attribute = &marked[0].attributes[0];
    assert_eq!(
        (attribute.attr_type.as_str(), attribute.value()),
        ("ip-dst", "10.0.0.0".to_string())
    );
    assert!(attribute.tags.iter().any(|tag| tag.tag.name == "tlp:amber"));
    assert_eq!(
        marked[0].info,
        "oasis-cti-documentation-examples/using-marking-definitions.json"
    );
}

#[test]
fn medallion_collection_imports_the_latest_versions() {
    let state = load("medallion-default_data.json");
    let envelope = json!({"objects": state["trustgroup1"]["collections"][2]["objects"]});
    let result = import_value(&envelope, "medallion collection");
    // 8 objects: 3 versions of one URL indicator (the latest names x4z9arb.cn), a hash
    // indicator, 2 versions of one malware, a relationship and TLP:GREEN.
    check(
        &Expected {
            file: "medallion",
            events: 1,
            attributes: 2,
            rejected: 0,
            event_tags: 1,
        },
        &result,
    );
    let event = &build(&result)[0];
    let values: BTreeSet<String> = event.attributes.iter().map(|a| a.value()).collect();
    assert_eq!(
        values,
        BTreeSet::from([
            "http://x4z9arb.cn/4712".to_string(),
            "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c".to_string()
        ])
    );
    let url = event
        .attributes
        .iter()
        .find(|a| a.attr_type == "url")
        .unwrap();
    assert_eq!(
        url.comment,
        "Accessing this url will infect your machine with malware. This is the last updated indicator"
    );
}

// ---------------------------------------------------------------------------------------
// misp-stix round trips
// ---------------------------------------------------------------------------------------

/// The MISP side of a misp-stix pair, through the same builder: events by uuid.
fn misp_events(relative: &str) -> BTreeMap<String, Event> {
    let content = load(relative);
    let mut events = BTreeMap::new();
    let response = &content["response"];
    let bodies: Vec<Value> = match response {
        Value::Array(items) if items.iter().all(|item| item.get("Event").is_some()) => {
            items.clone()
        }
        Value::Array(items) => vec![json!({"Event": {"info": "collection", "Object": items}})],
        Value::Object(map) if map.contains_key("Attribute") => {
            vec![json!({"Event": {"info": "collection", "Attribute": map["Attribute"]}})]
        }
        _ => vec![content.clone()],
    };
    for body in bodies {
        let event = new_event(&parse_event(&body).unwrap(), &ctx(), 1, 1).unwrap();
        events.insert(event.uuid.clone(), event);
    }
    events
}

#[test]
fn misp_stix_event_pairs_round_trip() {
    for (stix, sources) in [
        (
            "misp-stix-pairs/test_event1_stix21.json",
            &["misp-stix-pairs/test_events_collection_1.json"][..],
        ),
        (
            "misp-stix-pairs/test_event2_stix21.json",
            &["misp-stix-pairs/test_events_collection_2.json"][..],
        ),
        (
            "misp-stix-pairs/test_events_collection_stix21.json",
            &[
                "misp-stix-pairs/test_events_collection_1.json",
                "misp-stix-pairs/test_events_collection_2.json",
            ][..],
        ),
    ] {
        let result = import(stix);
        assert!(result.rejected.is_empty(), "{stix}: {:?}", result.rejected);
        let imported: BTreeMap<String, Event> = build(&result)
            .into_iter()
            .map(|event| (event.uuid.clone(), event))
            .collect();
        let mut expected = BTreeMap::new();
        for source in sources {
            expected.extend(misp_events(source));
        }
        assert_eq!(
            imported.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{stix}: one event per grouping, with the event's uuid"
        );
        for (uuid, event) in &expected {
            let back = &imported[uuid];
            assert_eq!(back.info, event.info, "{stix}");
            assert_eq!(facts(back), facts(event), "{stix}: {uuid}");
            let uuids = |event: &Event| {
                event
                    .attributes
                    .iter()
                    .map(|a| a.uuid.clone())
                    .collect::<BTreeSet<_>>()
            };
            assert_eq!(
                uuids(back),
                uuids(event),
                "{stix}: attribute uuids come back"
            );
        }
        assert!(
            result
                .events
                .iter()
                .all(|event| event["Event"]["Orgc"]["name"] == "MISP-Project"),
            "{stix}: Orgc from the grouping's creator"
        );
    }
}

#[test]
fn misp_stix_collections_round_trip() {
    for (stix, sources) in [
        (
            "misp-stix-pairs/test_attributes_collection_stix21.json",
            [
                "misp-stix-pairs/test_attributes_collection_1.json",
                "misp-stix-pairs/test_attributes_collection_2.json",
            ],
        ),
        (
            "misp-stix-pairs/test_objects_collection_stix21.json",
            [
                "misp-stix-pairs/test_objects_collection_1.json",
                "misp-stix-pairs/test_objects_collection_2.json",
            ],
        ),
    ] {
        let result = import(stix);
        assert!(result.rejected.is_empty(), "{stix}: {:?}", result.rejected);
        let built = build(&result);
        assert_eq!(
            built.len(),
            1,
            "{stix}: no grouping, so one event named after the source"
        );
        assert_eq!(built[0].info, stix);
        let mut expected = BTreeSet::new();
        let mut expected_objects = BTreeSet::new();
        for source in sources {
            for event in misp_events(source).values() {
                expected.extend(facts(event));
                expected_objects.extend(event.objects.iter().map(|object| {
                    (
                        object.uuid.clone(),
                        object.name.clone(),
                        object.meta_category.clone(),
                    )
                }));
            }
        }
        assert_eq!(facts(&built[0]), expected, "{stix}");
        let objects: BTreeSet<_> = built[0]
            .objects
            .iter()
            .map(|object| {
                (
                    object.uuid.clone(),
                    object.name.clone(),
                    object.meta_category.clone(),
                )
            })
            .collect();
        assert_eq!(
            objects, expected_objects,
            "{stix}: objects keep uuid, name, meta-category"
        );
    }
}

/// Real ESET events (`<name>.misp.json`) and what misp-stix 2026.10.12 makes of them
/// (`<name>.stix21.json`, tests/interop/make_misp_stix_bundles.py).
const ESET: &[&str] = &[
    "sednit_trump_attack_on_syria",
    "powerpool",
    "turla_outlook",
    "winter_vivern",
];

/// Event tags misp-stix cannot carry: these galaxy clusters share one cluster uuid with
/// another cluster of the same event in the ESET source, and misp-stix writes one STIX
/// object per uuid (the first cluster's name).
fn lost_in_misp_stix(name: &str) -> BTreeSet<String> {
    let tags: &[&str] = match name {
        "powerpool" => &[
            "misp-galaxy:mitre-attack-pattern=\"Pass the Hash\"",
            "misp-galaxy:mitre-attack-pattern=\"PowerShell\"",
            "misp-galaxy:mitre-attack-pattern=\"Screen Capture\"",
        ],
        "turla_outlook" => &["misp-galaxy:mitre-attack-pattern=\"Email Collection\""],
        _ => &[],
    };
    tags.iter().map(|tag| tag.to_string()).collect()
}

#[test]
fn misp_stix_bundles_of_real_events_give_the_events_back() {
    for name in ESET {
        let source_events = misp_events(&format!("misp-stix-eset/{name}.misp.json"));
        let (uuid, source) = source_events.iter().next().unwrap();
        let result = import(&format!("misp-stix-eset/{name}.stix21.json"));
        assert!(result.rejected.is_empty(), "{name}: {:?}", result.rejected);
        let built = build(&result);
        assert_eq!(built.len(), 1, "{name}");
        let back = &built[0];
        assert_eq!(&back.uuid, uuid, "{name}");
        assert_eq!(back.info, source.info, "{name}");
        assert_eq!(result.events[0]["Event"]["Orgc"]["name"], "ESET", "{name}");
        assert_eq!(
            facts(back),
            facts(source),
            "{name}: (relation, type, category, value, to_ids)"
        );

        let plain_uuids = |event: &Event| {
            event
                .attributes
                .iter()
                .map(|a| a.uuid.clone())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(
            plain_uuids(back),
            plain_uuids(source),
            "{name}: attribute uuids"
        );
        let objects = |event: &Event| {
            event
                .objects
                .iter()
                .map(|object| (object.uuid.clone(), object.name.clone()))
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(objects(back), objects(source), "{name}: objects");
        let references = |event: &Event| {
            event
                .objects
                .iter()
                .flat_map(|object| {
                    object.references.iter().map(|reference| {
                        (
                            object.uuid.clone(),
                            reference.referenced_uuid.clone(),
                            reference.relationship_type.clone(),
                        )
                    })
                })
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(
            references(back),
            references(source),
            "{name}: object references"
        );

        let expected_tags: BTreeSet<String> = tag_names(source)
            .difference(&lost_in_misp_stix(name))
            .cloned()
            .collect();
        assert_eq!(tag_names(back), expected_tags, "{name}: event tags");
    }
}

// ---------------------------------------------------------------------------------------
// Mapping details and bad input
// ---------------------------------------------------------------------------------------

fn indicator(id: &str, pattern: &str) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": id,
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-02T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
    })
}

#[test]
fn bad_items_are_rejected_with_reasons_and_good_ones_imported() {
    let mut good = indicator(
        "indicator--a1a1a1a1-0000-4000-8000-000000000001",
        "[ipv4-addr:value = '198.51.100.7']",
    );
    good["valid_until"] = json!("2024-06-01T00:00:00Z");
    good["labels"] = json!(["c2"]);
    good["description"] = json!("C2 server");
    let bundle = json!({
        "type": "bundle",
        "id": "bundle--a1a1a1a1-0000-4000-8000-0000000000ff",
        "objects": [
            good,
            indicator("indicator--a1a1a1a1-0000-4000-8000-000000000002", "[ipv4-addr:value = '198.51.100.8'"),
            {"type": "x-acme-widget", "spec_version": "2.1", "id": "x-acme-widget--a1a1a1a1-0000-4000-8000-000000000003"},
            indicator("indicator--a1a1a1a1-0000-4000-8000-000000000004", "[domain-name:value LIKE '%.evil.example']"),
            indicator(
                "indicator--a1a1a1a1-0000-4000-8000-000000000005",
                "[domain-name:value = 'not a domain' OR url:value = 'http://evil.example/x']",
            ),
            42,
            {"type": "frobnicator", "id": "frobnicator--a1a1a1a1-0000-4000-8000-000000000006"},
        ],
    });
    let result = import_value(&bundle, "upload.json");
    let rejections: Vec<(String, String)> = result
        .rejected
        .iter()
        .map(|rejection| (rejection.location.clone(), rejection.reason.clone()))
        .collect();
    let expect = [
        (
            "objects[1] indicator--a1a1a1a1-0000-4000-8000-000000000002",
            "invalid pattern: column 34: expected ']' to close the observation, found the end of the pattern",
        ),
        (
            "objects[2] x-acme-widget--a1a1a1a1-0000-4000-8000-000000000003",
            "unsupported object type x-acme-widget",
        ),
        (
            "objects[3] indicator--a1a1a1a1-0000-4000-8000-000000000004",
            "LIKE matches a wildcard pattern",
        ),
        (
            "objects[4] indicator--a1a1a1a1-0000-4000-8000-000000000005",
            "not a valid domain",
        ),
        ("objects[5]", "not a STIX object"),
        (
            "objects[6] frobnicator--a1a1a1a1-0000-4000-8000-000000000006",
            "unknown STIX object type frobnicator",
        ),
    ];
    assert_eq!(rejections.len(), expect.len(), "{rejections:#?}");
    for ((location, reason), (want_location, want_reason)) in rejections.iter().zip(expect) {
        assert_eq!(location, want_location);
        assert!(reason.contains(want_reason), "{location}: {reason}");
    }
    assert_eq!(result.rejected[3].item, "not a domain");

    let events = build(&result);
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.info, "upload.json");
    let found: Vec<(String, String, bool)> = event
        .attributes
        .iter()
        .map(|a| (a.attr_type.clone(), a.value(), a.to_ids))
        .collect();
    assert_eq!(
        found,
        vec![
            ("ip-dst".to_string(), "198.51.100.7".to_string(), true),
            ("url".to_string(), "http://evil.example/x".to_string(), true),
        ]
    );
    let address = &event.attributes[0];
    assert_eq!(
        address.uuid, "a1a1a1a1-0000-4000-8000-000000000001",
        "the indicator's uuid"
    );
    assert_eq!(address.comment, "C2 server");
    assert_eq!(
        address.first_seen,
        Some(1_704_067_200_000_000),
        "valid_from"
    );
    assert_eq!(
        address.valid_until,
        Some(1_717_200_000_000_000),
        "valid_until"
    );
    assert_eq!(address.timestamp, 1_704_153_600, "modified");
    assert!(address.tags.iter().any(|tag| tag.tag.name == "c2"));
    let rendered = &result.events[0]["Event"]["Attribute"][0];
    assert_eq!(rendered["valid_until"], "2024-06-01T00:00:00Z");
}

#[test]
fn input_shapes_and_garbage() {
    let single = indicator(
        "indicator--b2b2b2b2-0000-4000-8000-000000000001",
        "[url:value = 'http://a.example/']",
    );
    let result = import_value(&single, "one object");
    assert_eq!((result.events.len(), result.rejected.len()), (1, 0));
    let envelope = json!({"objects": [single.clone()], "more": false});
    assert_eq!(import_value(&envelope, "x").events.len(), 1);
    let list = json!([single]);
    assert_eq!(import_value(&list, "x").events.len(), 1);
    let empty = json!({"type": "bundle", "id": "bundle--b2b2b2b2-0000-4000-8000-000000000002"});
    let result = import_value(&empty, "x");
    assert_eq!((result.events.len(), result.rejected.len()), (0, 0));
    for garbage in [json!({"hello": 1}), json!("text"), json!({"objects": 5})] {
        let result = import_value(&garbage, "x");
        assert!(result.events.is_empty());
        assert_eq!(result.rejected.len(), 1, "{garbage}");
    }
}

#[test]
fn markings_rules_and_stix20_observations() {
    let bundle = json!({
        "type": "bundle",
        "id": "bundle--c3c3c3c3-0000-4000-8000-0000000000ff",
        "objects": [
            {
                "type": "report", "spec_version": "2.1", "id": "report--c3c3c3c3-0000-4000-8000-000000000001",
                "created": "2024-03-01T10:00:00.000Z", "modified": "2024-03-02T10:00:00.000Z",
                "published": "2024-03-03T10:00:00Z", "name": "Mixed report", "labels": ["phishing"],
                "object_marking_refs": ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"],
                "object_refs": [
                    "indicator--c3c3c3c3-0000-4000-8000-000000000002",
                    "indicator--c3c3c3c3-0000-4000-8000-000000000003",
                    "indicator--c3c3c3c3-0000-4000-8000-000000000004",
                    "observed-data--c3c3c3c3-0000-4000-8000-000000000005",
                    "attack-pattern--c3c3c3c3-0000-4000-8000-000000000006",
                    "indicator--c3c3c3c3-0000-4000-8000-000000000008",
                ],
            },
            {
                "type": "indicator", "spec_version": "2.1", "id": "indicator--c3c3c3c3-0000-4000-8000-000000000002",
                "created": "2024-03-01T10:00:00.000Z", "modified": "2024-03-01T10:00:00.000Z",
                "pattern_type": "snort", "valid_from": "2024-03-01T10:00:00Z",
                "pattern": "[alert tcp any any -> 198.51.100.9 443 (msg:\"c2\"; sid:1000001;)]",
                "object_marking_refs": ["marking-definition--c3c3c3c3-0000-4000-8000-000000000007"],
            },
            {
                "type": "indicator", "spec_version": "2.1", "id": "indicator--c3c3c3c3-0000-4000-8000-000000000003",
                "created": "2024-03-01T10:00:00.000Z", "modified": "2024-03-01T10:00:00.000Z",
                "pattern_type": "pcre", "pattern": "/evil/", "valid_from": "2024-03-01T10:00:00Z",
            },
            {
                "type": "indicator", "spec_version": "2.1", "id": "indicator--c3c3c3c3-0000-4000-8000-000000000004",
                "created": "2024-03-01T10:00:00.000Z", "modified": "2024-03-01T10:00:00.000Z",
                "pattern_type": "stix", "valid_from": "2024-03-01T10:00:00Z",
                "pattern": "[file:name = 'invoice.exe' AND file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'] OR [email-message:from_ref.value = 'boss@evil.example'] OR [network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.5' AND network-traffic:dst_port = 8443]",
                "indicator_types": ["malicious-activity"],
            },
            {
                "type": "observed-data", "id": "observed-data--c3c3c3c3-0000-4000-8000-000000000005",
                "created": "2024-03-01T10:00:00.000Z", "modified": "2024-03-01T10:00:00.000Z",
                "first_observed": "2024-02-01T00:00:00Z", "last_observed": "2024-02-02T00:00:00Z", "number_observed": 2,
                "objects": {
                    "0": {"type": "ipv4-addr", "value": "192.0.2.44"},
                    "1": {"type": "network-traffic", "dst_ref": "0", "dst_port": 4444, "protocols": ["tcp"]},
                    "2": {"type": "domain-name", "value": "c2.evil.example"},
                },
            },
            {
                "type": "attack-pattern", "spec_version": "2.1", "id": "attack-pattern--c3c3c3c3-0000-4000-8000-000000000006",
                "created": "2024-03-01T10:00:00.000Z", "modified": "2024-03-01T10:00:00.000Z", "name": "Phishing",
                "external_references": [{"source_name": "mitre-attack", "external_id": "T1566"}],
            },
            {
                "type": "marking-definition", "spec_version": "2.1", "id": "marking-definition--c3c3c3c3-0000-4000-8000-000000000007",
                "created": "2024-01-01T00:00:00.000Z", "definition_type": "statement", "definition": {"statement": "custom"},
                "x_opencti_definition_type": "TLP", "x_opencti_definition": "TLP:AMBER+STRICT",
            },
            // The same SHA-256 file name pair again: a duplicate within the event.
            {
                "type": "indicator", "spec_version": "2.1", "id": "indicator--c3c3c3c3-0000-4000-8000-000000000008",
                "created": "2024-03-01T10:00:00.000Z", "modified": "2024-03-01T10:00:00.000Z", "valid_from": "2024-03-01T10:00:00Z",
                "pattern": "[file:hashes.'SHA-256' = 'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855' AND file:name = 'invoice.exe']",
                "pattern_type": "stix", "labels": ["second-source"],
            },
        ],
    });
    let result = import_value(&bundle, "x");
    assert_eq!(result.rejected.len(), 1, "{:?}", result.rejected);
    assert!(result.rejected[0].reason.contains("pattern_type pcre"));
    let event = &build(&result)[0];
    assert_eq!(event.uuid, "c3c3c3c3-0000-4000-8000-000000000001");
    assert_eq!(
        event.date.to_string(),
        "2024-03-03",
        "the report's published date"
    );
    assert_eq!(
        tag_names(event),
        BTreeSet::from([
            "phishing".to_string(),
            "tlp:amber".to_string(),
            "misp-galaxy:mitre-attack-pattern=\"Phishing - T1566\"".to_string(),
        ])
    );
    let found: BTreeMap<(String, String), bool> = event
        .attributes
        .iter()
        .map(|a| ((a.attr_type.clone(), a.value()), a.to_ids))
        .collect();
    let expected: BTreeMap<(String, String), bool> = [
        (
            "snort",
            "alert tcp any any -> 198.51.100.9 443 (msg:\"c2\"; sid:1000001;)",
            true,
        ),
        (
            "filename|sha256",
            "invoice.exe|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            true,
        ),
        ("email-src", "boss@evil.example", true),
        ("ip-dst|port", "203.0.113.5|8443", true),
        ("ip-dst|port", "192.0.2.44|4444", false),
        ("domain", "c2.evil.example", false),
    ]
    .into_iter()
    .map(|(t, v, ids)| ((t.to_string(), v.to_string()), ids))
    .collect();
    assert_eq!(found, expected);
    let snort = event
        .attributes
        .iter()
        .find(|a| a.attr_type == "snort")
        .unwrap();
    assert!(
        snort
            .tags
            .iter()
            .any(|tag| tag.tag.name == "tlp:amber+strict"),
        "OpenCTI's marking"
    );
    let file = event
        .attributes
        .iter()
        .find(|a| a.attr_type == "filename|sha256")
        .unwrap();
    let file_tags: BTreeSet<&str> = file.tags.iter().map(|tag| tag.tag.name.as_str()).collect();
    assert_eq!(
        file_tags,
        BTreeSet::from(["malicious-activity", "second-source"]),
        "duplicates merge"
    );
    let observed = event
        .attributes
        .iter()
        .find(|a| a.attr_type == "domain")
        .unwrap();
    assert_eq!(observed.first_seen, Some(1_706_745_600_000_000));
    assert_eq!(observed.last_seen, Some(1_706_832_000_000_000));
}

#[test]
fn imports_are_deterministic_and_shared_objects_get_their_own_ids() {
    let shared = indicator(
        "indicator--d4d4d4d4-0000-4000-8000-000000000001",
        "[domain-name:value = 'shared.example']",
    );
    let report = |n: u32| {
        json!({
            "type": "report", "spec_version": "2.1", "id": format!("report--d4d4d4d4-0000-4000-8000-00000000001{n}"),
            "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z", "published": "2024-01-01T00:00:00Z",
            "name": format!("report {n}"), "object_refs": ["indicator--d4d4d4d4-0000-4000-8000-000000000001"],
        })
    };
    let bundle = json!({"type": "bundle", "id": "bundle--d4d4d4d4-0000-4000-8000-0000000000ff", "objects": [report(1), report(2), shared]});
    let first = import_value(&bundle, "x");
    let second = import_value(&bundle, "x");
    assert_eq!(first.events, second.events, "same content, same events");
    let events = build(&first);
    assert_eq!(events.len(), 2);
    let ids: BTreeSet<String> = events
        .iter()
        .map(|event| event.attributes[0].uuid.clone())
        .collect();
    assert_eq!(
        ids.len(),
        2,
        "one indicator in two events: two attribute uuids"
    );
    assert!(!ids.contains("d4d4d4d4-0000-4000-8000-000000000001"));
}

#[test]
fn a_misp_type_label_names_the_type_of_a_single_custom_value() {
    let mut labelled = indicator(
        "indicator--e5e5e5e5-0000-4000-8000-000000000001",
        "[network-traffic:x_ja3_fingerprint_md5 = 'e7d705a3286e19ea42f587b344ee6865']",
    );
    labelled["labels"] = json!([
        "misp:type=\"ja3-fingerprint-md5\"",
        "misp:category=\"Network activity\""
    ]);
    let unlabelled = indicator(
        "indicator--e5e5e5e5-0000-4000-8000-000000000002",
        "[network-traffic:x_ja3_fingerprint_md5 = 'e7d705a3286e19ea42f587b344ee6865']",
    );
    let result = import_value(&json!({"objects": [labelled, unlabelled]}), "x");
    assert_eq!(
        result.rejected.len(),
        1,
        "without the label the path means nothing known"
    );
    assert_eq!(
        result.rejected[0].location,
        "objects[1] indicator--e5e5e5e5-0000-4000-8000-000000000002"
    );
    let event = &build(&result)[0];
    let attribute = &event.attributes[0];
    assert_eq!(
        (
            attribute.attr_type.as_str(),
            attribute.value(),
            attribute.to_ids
        ),
        (
            "ja3-fingerprint-md5",
            "e7d705a3286e19ea42f587b344ee6865".to_string(),
            true
        )
    );
}

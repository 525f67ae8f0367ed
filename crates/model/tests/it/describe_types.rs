//! Our type/category tables must reproduce MISP's `describeTypes.json` exactly, order
//! included (PyMISP compares the server's rendering with its bundled copy).

use kizuna_model::attribute_types::{ATTRIBUTE_TYPES, CATEGORIES, attribute_type, category_allows};
use serde_json::{Map, Value, json};

fn load() -> Value {
    let path = crate::data_dir().join("describeTypes.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("describeTypes.json parses")
}

/// `describeTypes.json` as the server renders it from our tables.
fn render() -> Value {
    let mut sane_defaults = Map::new();
    for t in ATTRIBUTE_TYPES {
        sane_defaults.insert(
            t.name.to_string(),
            json!({"default_category": t.default_category, "to_ids": i32::from(t.to_ids)}),
        );
    }
    let mut mappings = Map::new();
    for c in CATEGORIES {
        mappings.insert(c.name.to_string(), json!(c.types));
    }
    json!({"result": {
        "sane_defaults": sane_defaults,
        "types": ATTRIBUTE_TYPES.iter().map(|t| t.name).collect::<Vec<_>>(),
        "categories": CATEGORIES.iter().map(|c| c.name).collect::<Vec<_>>(),
        "category_type_mappings": mappings,
    }})
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string"))
        .collect()
}

#[test]
fn types_in_order() {
    let reference = load();
    let ours: Vec<&str> = ATTRIBUTE_TYPES.iter().map(|t| t.name).collect();
    assert_eq!(ours, strings(&reference["result"]["types"]));
}

#[test]
fn categories_in_order() {
    let reference = load();
    let ours: Vec<&str> = CATEGORIES.iter().map(|c| c.name).collect();
    assert_eq!(ours, strings(&reference["result"]["categories"]));
}

#[test]
fn sane_defaults_in_order() {
    let reference = load();
    let defaults = reference["result"]["sane_defaults"]
        .as_object()
        .expect("object");
    let keys: Vec<&str> = defaults.keys().map(String::as_str).collect();
    let ours: Vec<&str> = ATTRIBUTE_TYPES.iter().map(|t| t.name).collect();
    assert_eq!(ours, keys, "sane_defaults key order");
    for (name, d) in defaults {
        let t = attribute_type(name).unwrap_or_else(|| panic!("missing type {name}"));
        assert_eq!(
            t.default_category,
            d["default_category"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(i64::from(t.to_ids), d["to_ids"].as_i64().unwrap(), "{name}");
    }
}

#[test]
fn category_type_mappings_in_order() {
    let reference = load();
    let mappings = reference["result"]["category_type_mappings"]
        .as_object()
        .expect("object");
    let keys: Vec<&str> = mappings.keys().map(String::as_str).collect();
    let ours: Vec<&str> = CATEGORIES.iter().map(|c| c.name).collect();
    assert_eq!(ours, keys, "category_type_mappings key order");
    for c in CATEGORIES {
        assert_eq!(
            c.types.to_vec(),
            strings(&mappings[c.name]),
            "types of {}",
            c.name
        );
        for t in c.types {
            assert!(category_allows(c.name, t));
        }
    }
}

#[test]
fn rendering_equals_reference_byte_for_byte() {
    // serde_json keeps insertion order (preserve_order), so equal serialisations mean equal
    // content *and* equal order.
    let reference = load();
    let ours = render();
    assert_eq!(ours, reference);
    assert_eq!(
        serde_json::to_string_pretty(&ours).unwrap(),
        serde_json::to_string_pretty(&reference).unwrap()
    );
}

//! Every attribute of every real MISP event under `tests/data/misp-events/` must have a
//! known type and an allowed category, and its value must normalise — idempotently — to
//! exactly what MISP stored, except for the few values listed in [`ALLOWED_DIFFERENCES`].

use std::path::{Path, PathBuf};

use kizuna_model::attribute_types::{attribute_type, category_allows};
use kizuna_model::normalize::normalize_value;
use serde_json::Value;

/// Values in the sample events that today's MISP would store differently, as
/// `(file name, type, stored value, what we store)`. Each is explained in a comment.
const ALLOWED_DIFFERENCES: &[(&str, &str, &str, &str)] = &[
    // A `datetime` object attribute saved in 2018, before MISP's
    // AttributeValidationTool started rewriting `datetime` values to ISO 8601 with
    // microseconds and offset (`Y-m-d\TH:i:s.uO`, parsed in GMT); a MISP of today stores
    // the rewritten form, as we do.
    (
        "reportlab-galaxy_1.json",
        "datetime",
        "2018-04-10 14:41:38",
        "2018-04-10T14:41:38.000000+0000",
    ),
];

struct Found {
    file: String,
    path: String,
    attr_type: String,
    category: Option<String>,
    value: String,
}

fn event_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("readable dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "json") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&crate::data_dir().join("misp-events"), &mut files);
    files
}

/// The events in one file: `{"Event": {...}}`, `{"response": [{"Event": {...}}, ...]}`
/// or a bare event object.
fn events(doc: &Value) -> Vec<&Value> {
    if let Some(e) = doc.get("Event") {
        vec![e]
    } else if let Some(list) = doc.get("response").and_then(Value::as_array) {
        list.iter().map(|r| r.get("Event").unwrap_or(r)).collect()
    } else {
        vec![doc]
    }
}

fn collect_attribute(file: &str, path: String, a: &Value, out: &mut Vec<Found>) {
    let field = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_string);
    let attr_type =
        field("type").unwrap_or_else(|| panic!("{file} {path}: attribute without type"));
    let value = field("value").unwrap_or_else(|| panic!("{file} {path}: attribute without value"));
    out.push(Found {
        file: file.to_string(),
        path: path.clone(),
        attr_type,
        category: field("category"),
        value,
    });
    // Proposals (ShadowAttribute) are attribute-shaped too.
    for (i, s) in a
        .get("ShadowAttribute")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        collect_attribute(file, format!("{path}/ShadowAttribute[{i}]"), s, out);
    }
}

fn collect(file: &str, event: &Value, out: &mut Vec<Found>) {
    let list = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for (i, a) in list(event, "Attribute").iter().enumerate() {
        collect_attribute(file, format!("Attribute[{i}]"), a, out);
    }
    for (i, a) in list(event, "ShadowAttribute").iter().enumerate() {
        collect_attribute(file, format!("ShadowAttribute[{i}]"), a, out);
    }
    for (o, object) in list(event, "Object").iter().enumerate() {
        for (i, a) in list(object, "Attribute").iter().enumerate() {
            collect_attribute(file, format!("Object[{o}]/Attribute[{i}]"), a, out);
        }
    }
}

fn all_attributes() -> Vec<Found> {
    let mut found = Vec::new();
    for path in event_files() {
        let text = std::fs::read_to_string(&path).expect("readable file");
        let doc: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        for event in events(&doc) {
            collect(&name, event, &mut found);
        }
    }
    found
}

#[test]
fn sample_set_is_complete() {
    let files = event_files();
    assert_eq!(files.len(), 28, "14 PyMISP + 14 ESET event files");
    let found = all_attributes();
    assert!(found.len() >= 1100, "only {} attributes found", found.len());
}

#[test]
fn types_exist_and_categories_allow_them() {
    let mut problems = Vec::new();
    for f in all_attributes() {
        if attribute_type(&f.attr_type).is_none() {
            problems.push(format!(
                "{} {}: unknown type {:?}",
                f.file, f.path, f.attr_type
            ));
        } else if let Some(category) = &f.category
            && !category_allows(category, &f.attr_type)
        {
            problems.push(format!(
                "{} {}: category {category:?} does not allow {:?}",
                f.file, f.path, f.attr_type
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn values_normalise_to_what_misp_stored() {
    let mut problems = Vec::new();
    let mut allowed_seen = vec![false; ALLOWED_DIFFERENCES.len()];
    for f in all_attributes() {
        let normalised = match normalize_value(&f.attr_type, &f.value) {
            Ok(v) => v.joined(&f.attr_type),
            Err(e) => {
                problems.push(format!(
                    "{} {} {} {:?}: refused: {e}",
                    f.file, f.path, f.attr_type, f.value
                ));
                continue;
            }
        };
        match normalize_value(&f.attr_type, &normalised) {
            Ok(again) if again.joined(&f.attr_type) == normalised => {}
            Ok(again) => problems.push(format!(
                "{} {}: not idempotent: {:?} -> {normalised:?} -> {:?}",
                f.file,
                f.path,
                f.value,
                again.joined(&f.attr_type)
            )),
            Err(e) => problems.push(format!(
                "{} {}: normalised {normalised:?} refused: {e}",
                f.file, f.path
            )),
        }
        if normalised != f.value {
            let allowed = ALLOWED_DIFFERENCES
                .iter()
                .position(|(file, t, stored, ours)| {
                    *file == f.file
                        && *t == f.attr_type
                        && *stored == f.value
                        && *ours == normalised
                });
            match allowed {
                Some(i) => {
                    println!(
                        "allowed difference: {} {} {:?} -> {normalised:?}",
                        f.file, f.attr_type, f.value
                    );
                    allowed_seen[i] = true;
                }
                None => problems.push(format!(
                    "{} {} {}: stored {:?}, normalised {normalised:?}",
                    f.file, f.path, f.attr_type, f.value
                )),
            }
        }
    }
    for (i, seen) in allowed_seen.iter().enumerate() {
        if !seen {
            problems.push(format!(
                "allow-list entry not needed any more: {:?}",
                ALLOWED_DIFFERENCES[i]
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

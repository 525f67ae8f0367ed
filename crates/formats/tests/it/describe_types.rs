//! `/attributes/describeTypes.json` must equal PyMISP's bundled copy, key order included.

use kizuna_formats::misp::output::describe_types;
use serde_json::Value;

fn reference() -> Value {
    let path = crate::data_dir().join("describeTypes.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn describe_types_equals_pymisps_copy() {
    let expected = reference();
    let ours = describe_types();
    assert_eq!(ours, expected);
    // Same order too (serde_json keeps insertion order; equality above ignores it).
    assert_eq!(
        serde_json::to_string(&ours).unwrap(),
        serde_json::to_string(&expected).unwrap()
    );
}

#[test]
fn describe_types_uses_integer_to_ids() {
    let ours = describe_types();
    let md5 = &ours["result"]["sane_defaults"]["md5"];
    assert_eq!(md5["to_ids"], Value::from(1));
    assert_eq!(md5["default_category"], "Payload delivery");
    assert_eq!(
        ours["result"]["sane_defaults"]["comment"]["to_ids"],
        Value::from(0)
    );
}

//! Lists read from a directory in MISP's layout, alone or over the shipped ones.

use kizuna_matcher::WarninglistSet;
use std::path::Path;

fn write_list(root: &Path, slug: &str, json: &str) {
    let dir = root.join(slug);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("list.json"), json).unwrap();
}

const LOCAL: &str = r#"{"name": "Local test hosts", "description": "ours", "version": 1,
    "type": "hostname", "list": ["corp.example"], "matching_attributes": ["domain"],
    "category": "known"}"#;

#[test]
fn a_directory_alone() {
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), "zz-local", LOCAL);
    write_list(
        dir.path(),
        "aa-local",
        r#"{"name": "Another", "description": "d", "type": "string", "list": ["x"]}"#,
    );
    std::fs::create_dir(dir.path().join("not-a-list")).unwrap();
    let set = WarninglistSet::load_dir(dir.path()).unwrap();
    let slugs: Vec<&str> = set.lists().iter().map(|list| list.slug.as_str()).collect();
    assert_eq!(slugs, ["aa-local", "zz-local"]);
    assert!(!set.get(2).unwrap().default);
    let hits = set.check("domain", "vpn.corp.example");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].to_misp_warning()["warninglist_category"], "known");
}

#[test]
fn a_checkout_of_misp_warninglists_is_read_from_lists() {
    let dir = tempfile::tempdir().unwrap();
    write_list(&dir.path().join("lists"), "local", LOCAL);
    let set = WarninglistSet::load_dir(dir.path()).unwrap();
    assert_eq!(set.len(), 1);
}

#[test]
fn local_lists_override_or_extend_the_shipped_ones() {
    let dir = tempfile::tempdir().unwrap();
    write_list(
        dir.path(),
        "rfc1918",
        r#"{"name": "List of RFC 1918 CIDR blocks", "description": "only 10/8 here",
            "version": 99, "type": "cidr", "list": ["10.0.0.0/8"],
            "matching_attributes": ["ip-dst"]}"#,
    );
    write_list(dir.path(), "aaa-local", LOCAL);
    let shipped = WarninglistSet::defaults();
    let set = WarninglistSet::defaults_with_dir(dir.path()).unwrap();
    assert_eq!(set.len(), shipped.len() + 1);
    let replaced = set.get(14).unwrap();
    assert_eq!(replaced.version, 99);
    assert!(!replaced.default);
    let added = set.get(shipped.len() as u32 + 1).unwrap();
    assert_eq!(added.name, "Local test hosts");
    assert!(
        set.check("ip-dst", "192.168.0.1")
            .iter()
            .all(|hit| hit.list_id != 14)
    );
}

#[test]
fn a_bad_list_names_its_file_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    write_list(
        dir.path(),
        "broken",
        r#"{"name": "Broken patterns", "description": "d", "type": "regex",
            "list": ["/fine/", "/[unclosed/"]}"#,
    );
    let error = WarninglistSet::load_dir(dir.path())
        .unwrap_err()
        .to_string();
    assert!(error.contains("broken/list.json"), "{error}");
    assert!(error.contains("Broken patterns"), "{error}");
    assert!(error.contains("entry 2 `/[unclosed/`"), "{error}");

    let duplicate = tempfile::tempdir().unwrap();
    write_list(
        duplicate.path(),
        "mine",
        r#"{"name": "List of RFC 1918 CIDR blocks", "description": "d", "list": ["x"]}"#,
    );
    let error = WarninglistSet::defaults_with_dir(duplicate.path()).unwrap_err();
    assert!(error.message.contains("already named"), "{error}");

    let missing = WarninglistSet::load_dir(Path::new("/nonexistent/kizuna-lists")).unwrap_err();
    assert!(missing.message.starts_with("cannot read"), "{missing}");
}

//! `kizuna import` and `kizuna export` on a database made by `kizuna init`, with the real
//! feeds and bundles the other crates' tests keep (see their SOURCES.md).

use crate::support::{run, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::Output;

fn data(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn kizuna_in(dir: &Path, args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--data-dir", dir.to_str().unwrap()]);
    run(&all)
}

fn initialised() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let output = kizuna_in(
        dir.path(),
        &["init", "--org", "HOST", "--email", "admin@host.test"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    dir
}

fn import(dir: &Path, sources: &[&Path], extra: &[&str]) -> Output {
    let mut args = vec!["import"];
    args.extend(extra);
    let texts: Vec<String> = sources
        .iter()
        .map(|path| path.to_str().unwrap().to_string())
        .collect();
    args.extend(texts.iter().map(String::as_str));
    kizuna_in(dir, &args)
}

fn export(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["export"];
    all.extend(args);
    let output = kizuna_in(dir, &all);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn a_misp_feed_imports_with_its_exact_counts_and_again_incrementally() {
    let dir = initialised();
    let feed = data("server/tests/data/feeds/infoblox");
    let output = import(dir.path(), &[&feed], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    // 4 events in the manifest holding 47 attributes (jq '.Event.Attribute | length').
    assert!(
        stdout(&output)
            .contains("4 events added, 0 updated, 0 unchanged; 47 attributes and 0 objects saved"),
        "{}",
        stdout(&output)
    );
    let output = import(dir.path(), &[&feed], &[]);
    assert!(output.status.success());
    assert!(
        stdout(&output).contains("0 events added, 0 updated, 4 unchanged"),
        "{}",
        stdout(&output)
    );
    // Published, and every attribute for IDS: 41 distinct values
    // (jq '[.Event.Attribute[] | select(.to_ids) | .value] | unique | length', summed).
    let values = export(dir.path(), &["--format", "text"]);
    assert_eq!(values.lines().count(), 41, "{values}");
}

#[test]
fn lists_and_bundles_import_with_rejections_reported_and_exit_1() {
    let dir = initialised();
    let list = dir.path().join("analyst-notes.txt");
    std::fs::write(
        &list,
        "# from the phishing report\nhxxp://evil-login[.]com/login is the lure\n\
         C2 at 198.51.100[.]7 and 999.1.1.1\nevil-domain[.]com\n",
    )
    .unwrap();
    let output = import(dir.path(), &[&list], &["--info", "Phishing notes"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("1 event added"),
        "{}",
        stdout(&output)
    );
    assert!(stderr(&output).contains("999.1.1.1"), "{}", stderr(&output));
    assert!(stderr(&output).contains("line 3"), "{}", stderr(&output));
    let values = export(
        dir.path(),
        &[
            "--format",
            "text",
            "--include-unpublished",
            "--include-non-ids",
        ],
    );
    assert_eq!(
        sorted_lines(&values),
        [
            "198.51.100.7",
            "evil-domain.com",
            "http://evil-login.com/login"
        ]
    );

    let bundle = data(
        "formats/tests/data/stix-in/oasis-json-schemas-examples/indicator-for-c2-ip-address.json",
    );
    let output = import(dir.path(), &[&bundle], &["--publish"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("1 event added"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn broken_sources_fail_with_a_message_and_leave_nothing_behind() {
    let dir = initialised();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"Event\": {\"info\": \"x\", \"Attribute\": [").unwrap();
    let output = import(dir.path(), &[&broken], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("broken.json"),
        "{}",
        stderr(&output)
    );
    let missing = dir.path().join("missing.json");
    let output = import(dir.path(), &[&missing], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("missing.json"),
        "{}",
        stderr(&output)
    );
    let json = export(
        dir.path(),
        &["--format", "json", "--include-unpublished", "--all"],
    );
    assert_eq!(json.trim(), "{\"response\": []}");
}

#[test]
fn exports_for_devices_hold_what_is_valid_now() {
    let dir = initialised();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"Event": {"info": "Validity", "published": true, "Attribute": [
            {"type": "domain", "value": "current.example", "to_ids": true},
            {"type": "domain", "value": "expired.example", "to_ids": true,
             "valid_until": "2020-01-01T00:00:00Z"},
            {"type": "ip-dst", "value": "203.0.113.5", "to_ids": true}
        ]}}"#,
    )
    .unwrap();
    let output = import(dir.path(), &[&event], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        sorted_lines(&export(dir.path(), &["--format", "text"])),
        ["203.0.113.5", "current.example"]
    );
    assert_eq!(
        export(dir.path(), &["--format", "text", "--all"])
            .lines()
            .count(),
        3
    );
    assert_eq!(
        export(
            dir.path(),
            &["--format", "text", "--valid-at", "2019-06-01"]
        )
        .lines()
        .count(),
        3
    );
    let rules = export(dir.path(), &["--format", "suricata"]);
    assert!(rules.contains("current.example"), "{rules}");
    assert!(!rules.contains("expired.example"), "{rules}");

    let zone_file = dir.path().join("zone.rpz");
    export(
        dir.path(),
        &["--format", "rpz", "-o", zone_file.to_str().unwrap()],
    );
    let zone = std::fs::read_to_string(&zone_file).unwrap();
    assert!(zone.contains("current.example"), "{zone}");
    assert!(!zone.contains("expired.example"), "{zone}");

    let feed = dir.path().join("feed");
    export(
        dir.path(),
        &["--format", "misp-feed", "-o", feed.to_str().unwrap()],
    );
    let manifest = std::fs::read_to_string(feed.join("manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let uuid = manifest.as_object().unwrap().keys().next().unwrap().clone();
    assert!(feed.join(format!("{uuid}.json")).is_file());
    assert_eq!(
        std::fs::read_to_string(feed.join("hashes.csv"))
            .unwrap()
            .lines()
            .count(),
        2,
        "the valid attributes' md5s"
    );

    // The feed imports into another instance with the same content.
    let other = initialised();
    let output = import(other.path(), &[&feed], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        sorted_lines(&export(other.path(), &["--format", "text"])),
        ["203.0.113.5", "current.example"]
    );

    let output = kizuna_in(dir.path(), &["export", "--format", "yaml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("returnFormat"),
        "{}",
        stderr(&output)
    );
}

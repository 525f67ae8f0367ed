//! `kizuna taxii add-collection` and `kizuna taxii collections` against a database made by
//! `kizuna init`.

use crate::support::{run, stderr, stdout};
use std::path::Path;
use std::process::Output;

fn kizuna_in(dir: &Path, args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--data-dir", dir.to_str().unwrap()]);
    run(&all)
}

fn fails_with(output: &Output, words: &str) {
    assert!(!output.status.success(), "should fail: {}", stdout(output));
    assert!(
        stdout(output).is_empty(),
        "no id on failure: {}",
        stdout(output)
    );
    let message = stderr(output);
    assert!(message.contains(words), "expected {words:?} in: {message}");
}

#[test]
fn collections_are_added_with_only_their_id_printed_and_bad_input_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let init = kizuna_in(
        data,
        &["init", "--org", "HOST", "--email", "admin@host.test"],
    );
    assert!(init.status.success(), "{}", stderr(&init));

    let added = kizuna_in(
        data,
        &[
            "taxii",
            "add-collection",
            "--title",
            "Blocklist",
            "--alias",
            "blocklist",
            "--writable",
            "--filter",
            r#"{"tags":["tlp:clear"],"to_ids":true}"#,
            "--read-org",
            "host",
            "--distribution",
            "1",
        ],
    );
    assert!(added.status.success(), "{}", stderr(&added));
    let printed = stdout(&added);
    assert_eq!(printed.lines().count(), 1, "only the id: {printed:?}");
    let id = printed.trim();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{printed:?}");

    let listed = kizuna_in(data, &["taxii", "collections"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let line: serde_json::Value = serde_json::from_str(stdout(&listed).trim()).unwrap();
    assert_eq!(line["id"], id);
    assert_eq!(line["alias"], "blocklist");
    assert_eq!(line["writable"], true);
    assert_eq!(line["read_orgs"], serde_json::json!([1]));
    assert_eq!(line["filter"]["to_ids"], true);

    fails_with(
        &kizuna_in(
            data,
            &[
                "taxii",
                "add-collection",
                "--title",
                "X",
                "--filter",
                "{not json",
            ],
        ),
        "--filter",
    );
    fails_with(
        &kizuna_in(
            data,
            &[
                "taxii",
                "add-collection",
                "--title",
                "X",
                "--filter",
                r#"{"published":"maybe"}"#,
            ],
        ),
        "filter",
    );
    fails_with(
        &kizuna_in(
            data,
            &[
                "taxii",
                "add-collection",
                "--title",
                "X",
                "--distribution",
                "7",
            ],
        ),
        "distribution",
    );
    fails_with(
        &kizuna_in(
            data,
            &[
                "taxii",
                "add-collection",
                "--title",
                "X",
                "--alias",
                "blocklist",
            ],
        ),
        "alias",
    );
    fails_with(
        &kizuna_in(
            data,
            &[
                "taxii",
                "add-collection",
                "--title",
                "X",
                "--write-org",
                "Nobody",
            ],
        ),
        "--write-org",
    );
}

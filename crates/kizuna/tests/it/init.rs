//! `kizuna init`: the first organisation and site admin of an empty database.

use crate::support::{run, stderr, stdout};

fn init(dir: &std::path::Path, org: &str, email: &str) -> std::process::Output {
    run(&[
        "init",
        "--org",
        org,
        "--email",
        email,
        "--data-dir",
        dir.to_str().unwrap(),
    ])
}

#[test]
fn init_prints_only_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = init(dir.path(), "X", "a@b.c");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.ends_with('\n'));
    let key = text.trim_end_matches('\n');
    assert_eq!(key.len(), 40, "{text:?}");
    assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()), "{text:?}");
    assert_eq!(text.lines().count(), 1, "only the key: {text:?}");
    assert!(dir.path().join("kizuna.db").exists());
}

#[test]
fn a_second_init_on_the_same_database_fails() {
    let dir = tempfile::tempdir().unwrap();
    assert!(init(dir.path(), "X", "a@b.c").status.success());
    let output = init(dir.path(), "Y", "d@e.f");
    assert!(!output.status.success());
    assert!(stdout(&output).is_empty(), "no key: {}", stdout(&output));
    let message = stderr(&output);
    assert!(message.contains("already has users"), "{message}");
}

#[test]
fn init_checks_its_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let output = init(dir.path(), "X", "not-an-email");
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--email"), "{}", stderr(&output));
    let output = init(dir.path(), "  ", "a@b.c");
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--org"), "{}", stderr(&output));
    // Nothing was created by the refused runs: a proper init still works.
    assert!(init(dir.path(), "X", "a@b.c").status.success());
}

#[test]
fn init_refuses_an_unsupported_database_url() {
    let output = run(&[
        "init",
        "--org",
        "X",
        "--email",
        "a@b.c",
        "--database-url",
        "mysql://root:secret@localhost/misp",
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("unsupported database URL"), "{message}");
    assert!(
        !message.contains("secret"),
        "the password leaked: {message}"
    );
}

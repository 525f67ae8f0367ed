//! `kizuna user add|list|disable|enable|key` against a database made by `kizuna init`.

use crate::support::{Running, free_port, http_get, run, stderr, stdout, wait_until_serving};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;

/// `kizuna <args> --data-dir <dir>`.
fn kizuna_in(dir: &Path, args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--data-dir", dir.to_str().unwrap()]);
    run(&all)
}

/// A data directory holding an initialised database; returns it with the admin's key.
fn initialised() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = kizuna_in(
        dir.path(),
        &["init", "--org", "HOST", "--email", "admin@host.test"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let key = stdout(&output).trim().to_string();
    (dir, key)
}

/// The only line of a successful run's stdout, which must be an API key.
fn printed_key(output: &Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    let text = stdout(output);
    assert_eq!(text.lines().count(), 1, "only the key: {text:?}");
    let key = text.trim_end_matches('\n').to_string();
    assert_eq!(key.len(), 40, "{text:?}");
    assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()), "{text:?}");
    key
}

fn fails_with(output: &Output, words: &str) {
    assert!(!output.status.success(), "should fail: {}", stdout(output));
    assert!(
        stdout(output).is_empty(),
        "no key on failure: {}",
        stdout(output)
    );
    let message = stderr(output);
    assert!(message.contains(words), "expected {words:?} in: {message}");
}

#[test]
fn users_are_added_listed_disabled_and_given_keys() {
    let (dir, _) = initialised();
    let data = dir.path();

    let first = printed_key(&kizuna_in(
        data,
        &[
            "user",
            "add",
            "--email",
            "ana@partner.test",
            "--org",
            "Partner",
            "--create-org",
        ],
    ));
    // An existing organisation by name (any case) or id, a role by name or id.
    printed_key(&kizuna_in(
        data,
        &[
            "user",
            "add",
            "--email",
            "pub@partner.test",
            "--org",
            "partner",
            "--role",
            "Publisher",
        ],
    ));
    printed_key(&kizuna_in(
        data,
        &[
            "user",
            "add",
            "--email",
            "sync@host.test",
            "--org",
            "1",
            "--role",
            "5",
        ],
    ));

    let output = kizuna_in(data, &["user", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<String> = stdout(&output).lines().map(str::to_string).collect();
    let cells = |line: &str| {
        line.split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cells(&lines[0]),
        ["id", "email", "org", "role", "disabled", "keys"]
    );
    assert_eq!(
        cells(&lines[1]),
        ["1", "admin@host.test", "HOST", "admin", "no", "1"]
    );
    assert_eq!(
        cells(&lines[2]),
        ["2", "ana@partner.test", "Partner", "User", "no", "1"]
    );
    assert_eq!(
        cells(&lines[3]),
        ["3", "pub@partner.test", "Partner", "Publisher", "no", "1"]
    );
    assert_eq!(
        cells(&lines[4]),
        ["4", "sync@host.test", "HOST", "Sync", "user", "no", "1"]
    );

    // More keys: one that never expires, one with a date; both listed.
    let second = printed_key(&kizuna_in(
        data,
        &["user", "key", "ana@partner.test", "--comment", "laptop"],
    ));
    assert_ne!(first, second);
    printed_key(&kizuna_in(
        data,
        &["user", "key", "2", "--expires", "2099-12-31"],
    ));
    let output = kizuna_in(data, &["user", "list"]);
    let ana = stdout(&output).lines().nth(2).unwrap().to_string();
    assert!(ana.ends_with(" 3"), "{ana}");

    let output = kizuna_in(data, &["user", "disable", "ana@partner.test"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = kizuna_in(data, &["user", "list"]);
    assert!(
        stdout(&output).lines().nth(2).unwrap().contains(" yes "),
        "{}",
        stdout(&output)
    );
    let output = kizuna_in(data, &["user", "enable", "2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = kizuna_in(data, &["user", "list"]);
    assert!(
        stdout(&output).lines().nth(2).unwrap().contains(" no "),
        "{}",
        stdout(&output)
    );
}

#[test]
fn user_commands_explain_what_is_wrong() {
    let (dir, _) = initialised();
    let data = dir.path();
    fails_with(
        &kizuna_in(
            data,
            &["user", "add", "--email", "x@y.test", "--org", "Nowhere"],
        ),
        "--create-org",
    );
    fails_with(
        &kizuna_in(
            data,
            &["user", "add", "--email", "not-an-address", "--org", "HOST"],
        ),
        "--email",
    );
    fails_with(
        &kizuna_in(
            data,
            &["user", "add", "--email", "ADMIN@host.test", "--org", "HOST"],
        ),
        "already exists",
    );
    fails_with(
        &kizuna_in(
            data,
            &[
                "user", "add", "--email", "x@y.test", "--org", "HOST", "--role", "Wizard",
            ],
        ),
        "--role",
    );
    fails_with(
        &kizuna_in(
            data,
            &[
                "user",
                "add",
                "--email",
                "x@y.test",
                "--org",
                "42",
                "--create-org",
            ],
        ),
        "--create-org needs a name",
    );
    fails_with(
        &kizuna_in(data, &["user", "disable", "ghost@host.test"]),
        "no user",
    );
    fails_with(&kizuna_in(data, &["user", "enable", "99"]), "no user");
    fails_with(&kizuna_in(data, &["user", "key", "99"]), "no user");
    fails_with(
        &kizuna_in(data, &["user", "key", "1", "--expires", "someday"]),
        "--expires",
    );
    fails_with(
        &kizuna_in(data, &["user", "key", "1", "--expires", "2001-01-01"]),
        "in the past",
    );
    // Nothing half-made: only the admin exists, with their one key.
    let output = kizuna_in(data, &["user", "list"]);
    let listed = stdout(&output);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.lines().nth(1).unwrap().ends_with(" 1"), "{listed}");
    let output = run(&[
        "user",
        "list",
        "--database-url",
        "mysql://root:secret@db/misp",
    ]);
    fails_with(&output, "unsupported database URL");
    assert!(!stderr(&output).contains("secret"));
}

#[test]
fn keys_from_the_command_line_authenticate_until_the_user_is_disabled() {
    let (dir, admin_key) = initialised();
    let data = dir.path();
    let key = printed_key(&kizuna_in(
        data,
        &["user", "add", "--email", "cli@host.test", "--org", "HOST"],
    ));
    let address: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut server = Running::spawn(&[
        "serve",
        "--listen",
        &address.to_string(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    wait_until_serving(address, &admin_key, &mut server);
    let (status, body) = http_get(address, "/users/view/me", Some(&key)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("cli@host.test"), "{body}");

    // The running server sees the change at once: the flag is read per request.
    let output = kizuna_in(data, &["user", "disable", "cli@host.test"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (status, _) = http_get(address, "/users/view/me", Some(&key)).unwrap();
    assert_eq!(status, 403);
    let output = kizuna_in(data, &["user", "enable", "cli@host.test"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (status, _) = http_get(address, "/users/view/me", Some(&key)).unwrap();
    assert_eq!(status, 200);
    server.finish();
}

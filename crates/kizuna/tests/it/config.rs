//! `kizuna config example` and command-line errors.

use crate::support::{run, stderr, stdout};

#[test]
fn config_example_prints_toml_with_every_key() {
    let output = run(&["config", "example"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for key in ["data_dir", "database_url", "listen", "base_url", "log"] {
        assert!(
            text.lines().any(|line| {
                let line = line.trim_start_matches('#').trim_start();
                line.starts_with(&format!("{key} ="))
            }),
            "{key} missing from:\n{text}"
        );
    }
    let parsed: toml::Table = toml::from_str(&text).expect("valid TOML");
    assert_eq!(
        parsed.get("listen").and_then(|value| value.as_str()),
        Some("127.0.0.1:8080")
    );
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
}

#[test]
fn the_example_is_a_usable_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let example = stdout(&run(&["config", "example"]));
    let data = dir.path().join("data");
    let config = dir.path().join("kizuna.toml");
    let text = example.replace(
        "data_dir = \"./kizuna-data\"",
        &format!("data_dir = {:?}", data.display().to_string()),
    );
    std::fs::write(&config, text).unwrap();
    let output = run(&[
        "init",
        "--org",
        "ORG",
        "--email",
        "a@b.c",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        data.join("kizuna.db").exists(),
        "the file's data_dir is used"
    );
}

#[test]
fn unknown_flags_and_commands_fail_with_a_message() {
    for args in [
        &["serve", "--no-such-flag"][..],
        &["no-such-command"][..],
        &["init", "--org", "X"][..],
        &["config"][..],
    ] {
        let output = run(args);
        assert!(!output.status.success(), "{args:?} succeeded");
        let message = stderr(&output);
        assert!(!message.trim().is_empty(), "{args:?}: no message");
        assert!(
            message.to_lowercase().contains("usage"),
            "{args:?}: {message}"
        );
    }
    let output = run(&["serve", "--no-such-flag"]);
    assert!(stderr(&output).contains("--no-such-flag"));
}

#[test]
fn a_bad_listen_address_fails_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&[
        "serve",
        "--listen",
        "not-an-address",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not-an-address"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn version_and_help() {
    let output = run(&["--version"]);
    assert!(output.status.success());
    assert!(
        stdout(&output).starts_with("kizuna "),
        "{}",
        stdout(&output)
    );
    let output = run(&["--help"]);
    assert!(output.status.success());
    for command in ["serve", "init", "config"] {
        assert!(stdout(&output).contains(command), "{}", stdout(&output));
    }
}

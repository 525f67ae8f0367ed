//! `kizuna serve`: a real server on a free port, reached over TCP.

use crate::support::{Running, free_port, http_get, run, stderr, stdout, wait_until_serving};
use std::net::{SocketAddr, TcpListener};

const KEY_LINE: &str = "API key (shown once, keep it safe): ";

#[test]
fn first_serve_on_an_empty_data_dir_prints_a_key_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut server = Running::spawn(&[
        "serve",
        "--listen",
        &address.to_string(),
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let line = server
        .line_containing(KEY_LINE)
        .unwrap_or_else(|| panic!("no key line; stderr: {}", server.finish()));
    let key = line.split_once(KEY_LINE).unwrap().1.trim().to_string();
    assert_eq!(key.len(), 40, "{line}");

    let version = wait_until_serving(address, &key, &mut server);
    assert!(
        version["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("2.5.")),
        "{version}"
    );
    assert_eq!(version["perm_sync"], serde_json::json!(true));

    // Without a key: MISP's 403.
    let (status, body) = http_get(address, "/servers/getVersion", None).unwrap();
    assert_eq!(status, 403, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Authentication failed.")),
        "{body}"
    );
    let (status, body) = http_get(address, "/users/view/me.json", Some(&key)).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("admin@admin.test"), "{body}");
    server.finish();
}

#[test]
fn serve_uses_the_key_of_init_and_prints_no_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let output = run(&["init", "--org", "X", "--email", "a@b.c", "--data-dir", data]);
    assert!(output.status.success(), "{}", stderr(&output));
    let key = stdout(&output).trim().to_string();
    let address: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut server = Running::spawn(&[
        "serve",
        "--listen",
        &address.to_string(),
        "--data-dir",
        data,
    ]);
    wait_until_serving(address, &key, &mut server);
    let (status, body) = http_get(address, "/users/view/me", Some(&key)).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("a@b.c"), "{body}");
    server.finish();
    let printed: Vec<String> = server.lines.try_iter().collect();
    assert!(
        printed.iter().all(|line| !line.contains(KEY_LINE)),
        "{printed:?}"
    );
}

#[test]
fn serve_on_a_port_in_use_fails_naming_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let mut server = Running::spawn(&[
        "serve",
        "--listen",
        &address,
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    let status = server
        .wait_for_exit()
        .expect("kizuna serve exits by itself");
    let message = server.finish();
    assert!(!status.success());
    assert!(message.contains(&address), "{message}");
    drop(taken);
}

#[test]
fn serve_with_an_unreachable_database_fails() {
    let port = free_port();
    let mut server = Running::spawn(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--database-url",
        "postgres://kizuna@127.0.0.1:1/x",
    ]);
    let status = server
        .wait_for_exit()
        .expect("kizuna serve exits by itself");
    let message = server.finish();
    assert!(!status.success());
    assert!(message.contains("cannot open the database"), "{message}");
    assert!(message.contains("127.0.0.1:1"), "{message}");
}

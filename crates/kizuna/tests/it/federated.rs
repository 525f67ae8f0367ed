//! `kizuna search --federated` against real `kizuna serve` processes on 127.0.0.1: two
//! remotes holding the same event, a portal linked to both and to a closed port (server
//! entries written with the store API); the CLI
//! reads the portal's database or asks its `/kizuna/federated_search`.

use crate::support::{Running, free_port, run, stderr, stdout, wait_until_serving};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

struct Instance {
    address: SocketAddr,
    key: String,
    dir: tempfile::TempDir,
    _running: Running,
}

impl Instance {
    fn start(org_name: &str) -> Instance {
        Instance::start_with(org_name, |_| {})
    }

    /// `kizuna init`, then `prepare` on the fresh data directory, then `kizuna serve`.
    fn start_with(org_name: &str, prepare: impl FnOnce(&std::path::Path)) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap().to_string();
        let output = run(&[
            "init",
            "--org",
            org_name,
            "--email",
            &format!("admin@{}.test", org_name.to_lowercase()),
            "--data-dir",
            &data,
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        prepare(dir.path());
        let key = stdout(&output).trim().to_string();
        let address: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut running = Running::spawn(&[
            "serve",
            "--listen",
            &address.to_string(),
            "--data-dir",
            &data,
        ]);
        wait_until_serving(address, &key, &mut running);
        Instance {
            address,
            key,
            dir,
            _running: running,
        }
    }

    fn data(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = call(self.address, &self.key, "POST", path, Some(body));
        assert_eq!(status, 200, "POST {path}: {answer:#}");
        answer
    }
}

/// Writes the portal's sync servers (name, url, key, timeout in seconds) into the database
/// of `data_dir`, owned by its host organisation; returns their ids in order.
fn add_servers(data_dir: &std::path::Path, servers: &[(&str, String, String, i64)]) -> Vec<i64> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store =
            kizuna_store::Store::connect(&kizuna_store::Store::sqlite_url_for_dir(data_dir))
                .await
                .unwrap();
        let host_org: i64 = store
            .setting("host_org_id")
            .await
            .unwrap()
            .unwrap()
            .parse()
            .unwrap();
        let mut ids = Vec::new();
        for (name, url, key, timeout) in servers {
            let mut server = kizuna_store::Server::new(name, url, key, host_org);
            server.timeout_seconds = *timeout;
            ids.push(store.create_server(&server).await.unwrap().id);
        }
        store.close().await;
        ids
    })
}

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// One request with `Connection: close`: the status and the body as JSON.
fn call(
    address: SocketAddr,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {key}\r\n\
         Accept: application/json\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, rest) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let text = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut text = String::new();
        let mut rest = rest;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if size == 0 || after.len() < size {
                break;
            }
            text.push_str(&after[..size]);
            rest = after[size..].trim_start_matches("\r\n");
        }
        text
    } else {
        rest.to_string()
    };
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn search(args: &[&str]) -> std::process::Output {
    let mut all = vec!["search", "--federated"];
    all.extend_from_slice(args);
    run(&all)
}

#[test]
fn kizuna_search_federated_merges_instances_and_names_failures() {
    let remote_a = Instance::start("ORG-A");
    let remote_b = Instance::start("ORG-B");
    let shared = json!({"Event": {
        "uuid": new_uuid(), "info": "Shared campaign", "distribution": 3, "published": true,
        "date": "2024-05-01",
        "Attribute": [{"uuid": new_uuid(), "type": "domain", "category": "Network activity",
                       "value": "shared.cli.example", "to_ids": true}],
    }});
    let copy_a = remote_a.post("/events/add", shared.clone());
    let copy_b = remote_b.post("/events/add", shared.clone());
    // The newest copy is shown, the first instance's on a tie: which it is depends on
    // whether the two adds fell in the same second.
    let stamp = |copy: &Value| {
        let timestamp = &copy["Event"]["Attribute"][0]["timestamp"];
        timestamp
            .as_str()
            .and_then(|text| text.parse::<i64>().ok())
            .or_else(|| timestamp.as_i64())
            .expect("the added attribute's timestamp")
    };
    let shown_org = if stamp(&copy_b) > stamp(&copy_a) {
        "ORG-B"
    } else {
        "ORG-A"
    };
    remote_b.post(
        "/events/add",
        json!({"Event": {
            "info": "B only", "distribution": 3, "published": true,
            "Attribute": [{"type": "domain", "category": "Network activity",
                           "value": "only-b.cli.example"}],
        }}),
    );
    // Port 1 is privileged: no test server can be given it, so it stays closed.
    let closed = "http://127.0.0.1:1".to_string();
    let mut a_id = 0;
    let portal = Instance::start_with("PORTAL", |data| {
        let ids = add_servers(
            data,
            &[
                ("remote-a", remote_a.url(), remote_a.key.clone(), 10),
                ("remote-b", remote_b.url(), remote_b.key.clone(), 10),
                ("down", closed.clone(), remote_a.key.clone(), 5),
            ],
        );
        a_id = ids[0];
    });

    // From the portal's database, as its site admin.
    let output = search(&[
        "--value",
        "shared.cli.example",
        "--output",
        "json",
        "--data-dir",
        portal.data(),
        "--timeout",
        "10",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let answer: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(answer["partial"], json!(true), "{answer:#}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{answer:#}");
    let names: Vec<&str> = results[0]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|instance| instance["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["remote-a", "remote-b"], "{answer:#}");
    assert_eq!(
        results[0]["attribute"]["uuid"],
        shared["Event"]["Attribute"][0]["uuid"]
    );
    let warning = stderr(&output);
    assert!(
        warning.contains("partial results: down") && warning.contains("connection refused"),
        "{warning}"
    );

    // Through the running portal's endpoint, as a table.
    let output = search(&[
        "--value",
        "%.cli.example",
        "--server",
        &portal.url(),
        "--key",
        &portal.key,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let table = stdout(&output);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("VALUE"), "{table}");
    assert!(lines[0].contains("INSTANCES"), "{table}");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("shared.cli.example")
                && line.contains("Shared campaign")
                && line.contains(shown_org)
                && line.ends_with("remote-a,remote-b")),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("only-b.cli.example") && line.ends_with("remote-b")),
        "{table}"
    );
    assert!(stderr(&output).contains("down"), "{}", stderr(&output));

    // Nothing found: exit 1, and no failure when only a live server is asked.
    let output = search(&[
        "--value",
        "nowhere.cli.example",
        "--server-id",
        &a_id.to_string(),
        "--data-dir",
        portal.data(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));

    // Bad input: exit 2 naming the problem.
    let output = search(&["--from", "someday", "--data-dir", portal.data()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("from"), "{}", stderr(&output));
    let output = search(&["--data-dir", portal.data()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("at least one of value"),
        "{}",
        stderr(&output)
    );
    let output = run(&["search", "--value", "x", "--data-dir", portal.data()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--federated"),
        "{}",
        stderr(&output)
    );
    let output = search(&[
        "--value",
        "x",
        "--server",
        &portal.url(),
        "--key",
        "wrong-key-wrong-key-wrong-key-wrong-key1",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("403"), "{}", stderr(&output));

    // As a user of the portal (here its admin, by e-mail): the same view.
    let output = search(&[
        "--value",
        "shared.cli.example",
        "--as",
        "admin@portal.test",
        "--data-dir",
        portal.data(),
        "--server-id",
        &a_id.to_string(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = search(&[
        "--value",
        "x",
        "--as",
        "nobody@portal.test",
        "--data-dir",
        portal.data(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--as"), "{}", stderr(&output));
}

//! MISP sync between three real `kizuna serve` processes on 127.0.0.1, one organisation
//! each, wired as MISP administrators do it (organisations known by uuid, sync users,
//! `/servers/add`): A pushes to B, B pushes to C; A and B also pull, which is how the
//! sightings recorded downstream come back, and sharing-group events are pulled. Distribution levels travel as MISP's rules
//! say, an edit at A supersedes at C, an event created at B is never overwritten, a dead
//! remote fails alone and the next run converges, and `kizuna sync` runs the same from the
//! command line.

use crate::support::{PATIENCE, Running, free_port, run, stderr, stdout, wait_until_serving};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// MISP's stock role of sync users.
const ROLE_SYNC: i64 = 5;

struct Instance {
    name: &'static str,
    address: SocketAddr,
    key: String,
    org_uuid: String,
    dir: tempfile::TempDir,
    running: Running,
}

impl Instance {
    fn start(name: &'static str) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap().to_string();
        let output = run(&[
            "init",
            "--org",
            &format!("ORG-{name}"),
            "--email",
            &format!("admin@{}.test", name.to_lowercase()),
            "--data-dir",
            &data,
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let key = stdout(&output).trim().to_string();
        let address: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let running = spawn_serve(address, &data);
        let mut instance = Instance {
            name,
            address,
            key,
            org_uuid: String::new(),
            dir,
            running,
        };
        wait_until_serving(address, &instance.key.clone(), &mut instance.running);
        let (_, me) = instance.call("GET", "/users/view/me", None);
        instance.org_uuid = me["Organisation"]["uuid"].as_str().unwrap().to_string();
        instance
    }

    fn data(&self) -> String {
        self.dir.path().to_str().unwrap().to_string()
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn stop(&mut self) {
        self.running.finish();
    }

    fn restart(&mut self) {
        self.running = spawn_serve(self.address, &self.data());
        let key = self.key.clone();
        wait_until_serving(self.address, &key, &mut self.running);
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        call_as(self.address, &self.key, method, path, body)
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.call("POST", path, Some(body));
        assert_eq!(status, 200, "{} POST {path}: {answer:#}", self.name);
        answer
    }

    /// The local id of `other`'s host organisation here, created with its uuid if needed.
    fn know(&self, other: &Instance) -> i64 {
        let (status, found) = self.call(
            "GET",
            &format!("/organisations/view/{}", other.org_uuid),
            None,
        );
        if status == 200 {
            return int(&found["Organisation"]["id"]);
        }
        let created = self.post(
            "/admin/organisations/add",
            json!({"name": format!("ORG-{}", other.name), "uuid": other.org_uuid, "local": false}),
        );
        int(&created["Organisation"]["id"])
    }

    /// A sync user here for `other`'s organisation; returns its key.
    fn sync_user_for(&self, other: &Instance) -> String {
        let org_id = self.know(other);
        let created = self.post(
            "/admin/users/add",
            json!({"email": format!("sync-{}@{}.test", self.name.to_lowercase(), other.name.to_lowercase()),
                   "org_id": org_id, "role_id": ROLE_SYNC}),
        );
        created["User"]["authkey"].as_str().unwrap().to_string()
    }

    /// `/servers/add` of a link to `remote`, as MISP admins do it; returns the server id.
    fn link(&self, remote: &Instance, settings: Value) -> i64 {
        let authkey = remote.sync_user_for(self);
        let mut body = json!({
            "name": remote.name,
            "url": remote.url(),
            "authkey": authkey,
            "remote_org_id": self.know(remote),
        });
        for (field, value) in settings.as_object().unwrap() {
            body[field] = value.clone();
        }
        let added = self.post("/servers/add", body);
        let id = int(&added["Server"]["id"]);
        let tested = self.post(&format!("/servers/testConnection/{id}"), json!({}));
        assert_eq!(tested["status"], 1, "{tested:#}");
        id
    }

    fn event(&self, uuid: &str) -> Option<Value> {
        let (status, body) = self.call("GET", &format!("/events/view/{uuid}"), None);
        (status == 200).then(|| body["Event"].clone())
    }

    fn add_published(&self, uuid: &str, info: &str, distribution: i64, extra: Value) -> Value {
        let mut event = json!({
            "uuid": uuid, "info": info, "distribution": distribution, "published": true,
            "Attribute": [{"type": "domain", "category": "Network activity",
                           "value": format!("{}.example", info.replace(' ', "-"))}],
        });
        for (field, value) in extra.as_object().unwrap() {
            event[field] = value.clone();
        }
        self.post("/events/add", json!({"Event": event}))["Event"].clone()
    }
}

fn spawn_serve(address: SocketAddr, data: &str) -> Running {
    Running::spawn(&[
        "serve",
        "--listen",
        &address.to_string(),
        "--base-url",
        &format!("http://{address}"),
        "--data-dir",
        data,
        "--sync-interval",
        "0",
    ])
}

fn int(value: &Value) -> i64 {
    value
        .as_str()
        .map(|text| text.parse().unwrap())
        .or_else(|| value.as_i64())
        .unwrap_or_else(|| panic!("not an integer: {value}"))
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// One request with `Connection: close`; the status and the body as JSON (Null if none).
fn call_as(
    address: SocketAddr,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let body = body.map(|value| value.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAccept: application/json\r\n\
         Content-Type: application/json\r\nAuthorization: {key}\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
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
        dechunk(rest)
    } else {
        rest.to_string()
    };
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json)
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}

fn level(event: &Value) -> i64 {
    int(&event["distribution"])
}

fn sighting_orgs(instance: &Instance, event_uuid: &str) -> Vec<String> {
    let (status, body) = instance.call(
        "POST",
        "/sightings/restSearch/event",
        Some(json!({"returnFormat": "json", "uuid": [event_uuid], "includeUuid": true})),
    );
    assert_eq!(status, 200, "{body:#}");
    body["response"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|row| {
            row["Sighting"]["Organisation"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// A manual push succeeded and, with the background pushes made on publish, `expected`
/// events are at the remote in their current version.
fn assert_push_complete(reply: &Value, expected: u64) {
    let report = &reply["report"];
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains(" events pushed, 0 events could not be pushed"),
        "{reply:#}"
    );
    let pushed = report["pushed"].as_u64().unwrap();
    let current = report["already_current"].as_u64().unwrap();
    assert!(
        pushed <= expected && pushed + current >= expected,
        "{reply:#}"
    );
}

#[test]
fn a_chain_of_three_instances_syncs_as_misp_does() {
    let a = Instance::start("A");
    let b = Instance::start("B");
    let mut c = Instance::start("C");
    let a_to_b = a.link(&b, json!({"push": true, "pull": true}));
    let b_to_c = b.link(
        &c,
        json!({"push": true, "pull": true, "push_sightings": true}),
    );

    // Sharing groups at A: one for A and B, one for all three (roaming: no server list).
    a.know(&c);
    let group = |name: &str, members: &[&Instance]| {
        let orgs: Vec<Value> = members
            .iter()
            .map(|member| json!({"Organisation": {"uuid": member.org_uuid}}))
            .collect();
        let created = a.post(
            "/sharing_groups/add",
            json!({"name": name, "releasability": "test", "roaming": true,
                   "SharingGroupOrg": orgs}),
        );
        int(&created["SharingGroup"]["id"])
    };
    let ab_group = group("A and B", &[&a, &b]);
    let abc_group = group("A, B and C", &[&a, &b, &c]);

    let uuids: Vec<String> = (0..6).map(|_| uuid()).collect();
    for (index, level) in [0, 1, 2, 3].iter().enumerate() {
        a.add_published(&uuids[index], &format!("level {level}"), *level, json!({}));
    }
    a.add_published(
        &uuids[4],
        "group ab",
        4,
        json!({"sharing_group_id": ab_group}),
    );
    a.add_published(
        &uuids[5],
        "group abc",
        4,
        json!({"sharing_group_id": abc_group}),
    );
    // An event B created itself, whose uuid A happens to publish too.
    let clash = uuid();
    b.add_published(&clash, "made at B", 3, json!({}));
    std::thread::sleep(Duration::from_millis(1100));
    a.add_published(&clash, "made at A", 3, json!({}));

    // Sharing-group events travel by pull here (the puller captures the group): B takes
    // both from A, C may take only the one its organisation belongs to.
    let b_from_a = b.link(&a, json!({"pull": true}));
    let c_from_b = c.link(&b, json!({"pull": true}));
    for event in [&uuids[4], &uuids[5]] {
        b.post(&format!("/servers/pull/{b_from_a}/{event}"), json!({}));
    }
    c.post(&format!("/servers/pull/{c_from_b}/{}", uuids[5]), json!({}));
    let (status, refused) = c.call(
        "POST",
        &format!("/servers/pull/{c_from_b}/{}", uuids[4]),
        Some(json!({})),
    );
    assert_eq!(status, 403, "{refused:#}");

    let pushed = a.post(&format!("/servers/push/{a_to_b}"), json!({}));
    // Publishing already pushed in the background (MISP's push on publish): the manual
    // run sends what is left, and nothing fails.
    assert_push_complete(&pushed, 2);
    let pushed = b.post(&format!("/servers/push/{b_to_c}"), json!({}));
    // Publishing already pushed in the background (MISP's push on publish): the manual
    // run sends what is left, and nothing fails.
    assert_push_complete(&pushed, 2);

    // Level 0 and 1 never leave A; 2 arrives at B as 1 and stops there; 3 travels on;
    // sharing groups follow their members.
    assert!(b.event(&uuids[0]).is_none());
    assert!(b.event(&uuids[1]).is_none());
    assert_eq!(level(&b.event(&uuids[2]).unwrap()), 1);
    assert_eq!(level(&b.event(&uuids[3]).unwrap()), 3);
    assert_eq!(level(&b.event(&uuids[4]).unwrap()), 4);
    assert_eq!(level(&b.event(&uuids[5]).unwrap()), 4);
    assert!(c.event(&uuids[2]).is_none());
    assert_eq!(level(&c.event(&uuids[3]).unwrap()), 3);
    assert!(c.event(&uuids[4]).is_none());
    assert_eq!(level(&c.event(&uuids[5]).unwrap()), 4);
    assert_eq!(b.event(&clash).unwrap()["info"], "made at B");

    // A sharing-group event pushed (not pulled): B captures the group it is a member of,
    // and C's organisation, outside the group, cannot take it from B.
    let pushed_group = group("A and B, pushed", &[&a, &b]);
    let pushed_uuid = uuid();
    a.add_published(
        &pushed_uuid,
        "group pushed",
        4,
        json!({"sharing_group_id": pushed_group}),
    );
    let pushed = a.post(&format!("/servers/push/{a_to_b}"), json!({}));
    // Publishing already pushed in the background (MISP's push on publish): the manual
    // run sends what is left, and nothing fails.
    assert_push_complete(&pushed, 1);
    let at_b = b.event(&pushed_uuid).expect("the pushed group event at B");
    assert_eq!(level(&at_b), 4);
    let (_, group_at_a) = a.call("GET", &format!("/sharing_groups/view/{pushed_group}"), None);
    assert_eq!(
        at_b["SharingGroup"]["uuid"],
        group_at_a["SharingGroup"]["uuid"]
    );
    let (status, refused) = c.call(
        "POST",
        &format!("/servers/pull/{c_from_b}/{pushed_uuid}"),
        Some(json!({})),
    );
    assert_eq!(status, 403, "{refused:#}");
    assert!(c.event(&pushed_uuid).is_none());

    // An edit at A supersedes the copies down the chain.
    let edited = a.post(
        &format!("/events/edit/{}", uuids[3]),
        json!({"Event": {"info": "level 3, edited"}}),
    );
    assert_eq!(edited["Event"]["info"], "level 3, edited");
    a.post(&format!("/events/publish/{}", uuids[3]), json!({}));
    a.post(&format!("/servers/push/{a_to_b}"), json!({}));
    b.post(&format!("/servers/push/{b_to_c}"), json!({}));
    assert_eq!(c.event(&uuids[3]).unwrap()["info"], "level 3, edited");

    // A sighting recorded at C comes back to A through B.
    let attribute = c.event(&uuids[3]).unwrap()["Attribute"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    c.post(
        "/sightings/add",
        json!({"uuid": attribute, "source": "sensor-c"}),
    );
    let pulled = b.post(&format!("/servers/pull/{b_to_c}"), json!({}));
    assert_eq!(pulled["report"]["sightings_added"], 1, "{pulled:#}");
    let pulled = a.post(&format!("/servers/pull/{a_to_b}"), json!({}));
    assert_eq!(pulled["report"]["sightings_added"], 1, "{pulled:#}");
    assert!(
        sighting_orgs(&a, &uuids[3]).contains(&"ORG-C".to_string()),
        "{:?}",
        sighting_orgs(&a, &uuids[3])
    );
    assert_eq!(a.event(&clash).unwrap()["info"], "made at A");

    // A pull with nothing new fetches nothing.
    let again = a.post(&format!("/servers/pull/{a_to_b}"), json!({}));
    assert!(
        again["report"]["fetched"] == 0 || again["report"]["not_modified"] == true,
        "{again:#}"
    );

    // C goes away: B's pull from C fails alone, with the reason on the server entry and
    // exit status 1 from the CLI; once C is back the next run converges.
    c.stop();
    let (status, failed) = b.call("POST", &format!("/servers/pull/{b_to_c}"), Some(json!({})));
    assert_eq!(status, 403, "{failed:#}");
    assert!(
        failed["message"].as_str().unwrap().contains("cannot reach"),
        "{failed:#}"
    );
    let (_, listed) = b.call("GET", "/servers/index", None);
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| int(&entry["Server"]["id"]) == b_to_c)
        .unwrap();
    assert_eq!(entry["Server"]["last_pull_ok"], false, "{entry:#}");
    let output = run(&["sync", "--data-dir", &b.data(), "pull", "--server", "C"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).contains("FAILED"), "{}", stdout(&output));

    c.restart();
    let fresh = uuid();
    b.add_published(&fresh, "after the outage", 3, json!({}));
    let output = run(&["sync", "--data-dir", &b.data(), "--server", "C"]);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stdout(&output).contains("push C"), "{}", stdout(&output));
    assert_eq!(c.event(&fresh).unwrap()["info"], "after the outage");
}

/// A forward proxy that answers every request 502 and reports each request line, for
/// `lifetime`.
fn refusing_proxy(lifetime: Duration) -> (SocketAddr, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    let (seen, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + lifetime;
        while std::time::Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n") && head.len() < 8192 {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let _ = seen.send(String::from_utf8_lossy(&head).trim().to_string());
            let _ = stream.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (address, lines)
}

#[test]
fn skip_proxy_bypasses_the_proxy_the_environment_names() {
    let a = Instance::start("PROXIED");
    let remote_org = a.post(
        "/admin/organisations/add",
        json!({"name": "ORG-FAR", "uuid": uuid(), "local": false}),
    );
    let far = "http://far.invalid";
    for (name, skip_proxy) in [("via-proxy", false), ("direct", true)] {
        a.post(
            "/servers/add",
            json!({"name": name, "url": far, "authkey": "k".repeat(40), "pull": true,
                   "skip_proxy": skip_proxy,
                   "remote_org_id": int(&remote_org["Organisation"]["id"])}),
        );
    }
    let (proxy, requests) = refusing_proxy(PATIENCE);
    let pull = |server: &str| {
        crate::support::kizuna()
            .args(["sync", "--data-dir", &a.data(), "pull", "--server", server])
            .env("HTTP_PROXY", format!("http://{proxy}"))
            .env("http_proxy", format!("http://{proxy}"))
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
            .unwrap()
    };

    let output = pull("via-proxy");
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let line = requests
        .recv_timeout(PATIENCE)
        .expect("the proxy was asked");
    assert!(line.contains("far.invalid"), "{line}");
    assert!(stdout(&output).contains("502"), "{}", stdout(&output));

    let output = pull("direct");
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        requests.try_recv().is_err(),
        "skip_proxy still went through the proxy"
    );
    assert!(!stdout(&output).contains("502"), "{}", stdout(&output));
}

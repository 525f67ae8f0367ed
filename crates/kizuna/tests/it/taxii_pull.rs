//! `kizuna taxii pull` end to end: the binary reads a fake TAXII 2.1 server (a thread on
//! 127.0.0.1 answering with `Connection: close`) into a database made by `kizuna init`,
//! then resumes from the cursor it printed. The indicators are ipsum's level 7 and 8
//! addresses (`crates/formats/tests/data/feeds/ipsum`, attributed in SOURCES.md there).

use crate::support::{kizuna, stderr, stdout};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const COLLECTION: &str = "1f6b0e0a-7a8e-4f2a-9d5c-3c5e2b7d8a90";
const USER: &str = "reader@test.example";
const PASSWORD: &str = "k3y-of-the-reader";
/// `Basic` + base64 of `USER:PASSWORD`.
const BASIC: &str = "Basic cmVhZGVyQHRlc3QuZXhhbXBsZTprM3ktb2YtdGhlLXJlYWRlcg==";
const TAXII: &str = "application/taxii+json;version=2.1";
/// The fake server gives up after this long even if the test never stops it.
const LIFETIME: Duration = Duration::from_secs(120);

fn addresses() -> Vec<String> {
    ["level7.txt", "level8.txt"]
        .iter()
        .flat_map(|name| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../formats/tests/data/feeds/ipsum")
                .join(name);
            std::fs::read_to_string(path)
                .unwrap()
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn date_added(index: usize) -> String {
    format!("2024-05-01T00:{:02}:{:02}.000Z", index / 60, index % 60)
}

fn indicator(index: usize, address: &str) -> String {
    format!(
        r#"{{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-{index:012}","created":"2024-05-01T00:00:00.000Z","modified":"2024-05-01T00:00:00.000Z","name":"ipsum {address}","pattern":"[ipv4-addr:value = '{address}']","pattern_type":"stix","valid_from":"2024-05-01T00:00:00Z"}}"#
    )
}

/// The fake server: a collection of one indicator per address, `date_added` one second
/// apart, paged by `limit` with `next` = the offset.
struct Fake {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    queries: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn start(addresses: Vec<String>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(Mutex::new(Vec::new()));
        let (stop_seen, queries_kept) = (stop.clone(), queries.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + LIFETIME;
            while !stop_seen.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => answer(stream, &addresses, &queries_kept),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Fake {
            address,
            stop,
            queries,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/taxii2/", self.address)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                index += 3;
            }
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn answer(stream: TcpStream, addresses: &[String], queries: &Mutex<Vec<String>>) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut authorized = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorized = value.trim() == BASIC;
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parameters: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decoded(name), percent_decoded(value))
        })
        .collect();
    let parameter = |wanted: &str| {
        parameters
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.clone())
    };
    let collection_path = format!("/taxii2/root/collections/{COLLECTION}/");
    let objects_path = format!("{collection_path}objects/");
    let (status, body, last) = if !authorized {
        (
            "401 Unauthorized",
            r#"{"title":"Unauthorized","description":"wrong e-mail or key","http_status":"401"}"#
                .to_string(),
            None,
        )
    } else if path == "/taxii2/" {
        (
            "200 OK",
            r#"{"title":"Fake","default":"/taxii2/root/","api_roots":["/taxii2/root/"]}"#
                .to_string(),
            None,
        )
    } else if path == collection_path {
        (
            "200 OK",
            format!(
                r#"{{"id":"{COLLECTION}","title":"Ipsum 7 and 8","can_read":true,"can_write":false}}"#
            ),
            None,
        )
    } else if path == objects_path {
        queries.lock().unwrap().push(
            parameters
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("&"),
        );
        let after = parameter("added_after");
        let selected: Vec<usize> = (0..addresses.len())
            .filter(|&index| {
                after
                    .as_deref()
                    .is_none_or(|after| date_added(index).as_str() > after)
            })
            .collect();
        let limit: usize = parameter("limit").map_or(100, |limit| limit.parse().unwrap());
        let offset: usize = parameter("next").map_or(0, |next| next.parse().unwrap());
        let end = (offset + limit).min(selected.len());
        let page = &selected[offset.min(end)..end];
        let more = end < selected.len();
        let objects: Vec<String> = page
            .iter()
            .map(|&index| indicator(index, &addresses[index]))
            .collect();
        let body = if page.is_empty() {
            "{}".to_string()
        } else {
            format!(
                r#"{{"more":{more},"next":"{end}","objects":[{}]}}"#,
                objects.join(",")
            )
        };
        ("200 OK", body, page.last().map(|&index| date_added(index)))
    } else {
        (
            "404 Not Found",
            r#"{"title":"Not found","http_status":"404"}"#.to_string(),
            None,
        )
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {TAXII}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(last) = last {
        response.push_str(&format!("X-TAXII-Date-Added-Last: {last}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&body);
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
}

fn in_dir(dir: &Path, args: &[&str]) -> Output {
    kizuna()
        .args(args)
        .args(["--data-dir", dir.to_str().unwrap()])
        .output()
        .expect("kizuna runs")
}

fn initialised() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let output = in_dir(
        dir.path(),
        &["init", "--org", "HOST", "--email", "admin@host.test"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    dir
}

fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{text}"))
}

#[test]
fn a_collection_is_pulled_and_then_resumed_from_the_printed_cursor() {
    let dir = initialised();
    let addresses = addresses();
    let fake = Fake::start(addresses.clone());
    let url = fake.url();
    let pull = |extra: &[&str]| {
        let mut args = vec![
            "taxii",
            "pull",
            url.as_str(),
            "--collection",
            COLLECTION,
            "--user",
            USER,
            "--limit",
            "25",
        ];
        args.extend(extra);
        let mut command = kizuna();
        command
            .args(&args)
            .args(["--data-dir", dir.path().to_str().unwrap()])
            .env("KIZUNA_TAXII_PASSWORD", PASSWORD);
        command.output().expect("kizuna runs")
    };
    let output = pull(&[]);
    let text = stdout(&output);
    assert!(output.status.success(), "{}\n{text}", stderr(&output));
    assert_eq!(
        line(&text, "pages:"),
        format!("pages: {}", addresses.len().div_ceil(25))
    );
    assert_eq!(
        line(&text, "objects:"),
        format!("objects: {}", addresses.len())
    );
    assert_eq!(line(&text, "rejected:"), "rejected: 0");
    let cursor = date_added(addresses.len() - 1);
    assert_eq!(
        line(&text, "cursor:"),
        format!("cursor: {cursor} (next time: --added-after {cursor})")
    );
    let queries = fake.queries.lock().unwrap().clone();
    assert_eq!(queries[0], "limit=25");
    assert_eq!(queries[1], "limit=25&next=25");

    let exported = in_dir(
        dir.path(),
        &[
            "export",
            "--format",
            "text",
            "--all",
            "--include-unpublished",
        ],
    );
    assert!(exported.status.success(), "{}", stderr(&exported));
    let mut lines: Vec<String> = stdout(&exported).lines().map(str::to_string).collect();
    lines.sort();
    let mut expected = addresses.clone();
    expected.sort();
    expected.dedup();
    assert_eq!(lines, expected);

    let again = pull(&["--added-after", &cursor]);
    let text = stdout(&again);
    assert!(again.status.success(), "{}\n{text}", stderr(&again));
    assert_eq!(line(&text, "objects:"), "objects: 0");
    assert_eq!(
        line(&text, "events:"),
        "events: 0 added, 0 updated, 0 unchanged"
    );
    let last = fake.queries.lock().unwrap().last().unwrap().clone();
    assert_eq!(last, format!("limit=25&added_after={cursor}"));
}

#[test]
fn refusals_and_bad_arguments_exit_with_a_clear_message() {
    let dir = initialised();
    let fake = Fake::start(addresses());
    let url = fake.url();
    let refused = in_dir(
        dir.path(),
        &[
            "taxii",
            "pull",
            &url,
            "--collection",
            COLLECTION,
            "--user",
            USER,
            "--password",
            "not-the-key",
        ],
    );
    assert_eq!(refused.status.code(), Some(2));
    let message = stderr(&refused);
    assert!(
        message.contains("HTTP 401") && message.contains("wrong e-mail or key"),
        "{message}"
    );

    let unknown = in_dir(
        dir.path(),
        &[
            "taxii",
            "pull",
            &url,
            "--collection",
            "00000000-0000-4000-8000-000000000000",
            "--key",
            BASIC,
        ],
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("no collection 00000000-0000-4000-8000-000000000000"),
        "{}",
        stderr(&unknown)
    );

    let nobody = in_dir(
        dir.path(),
        &[
            "taxii",
            "pull",
            "http://127.0.0.1:1/taxii2/",
            "--collection",
            COLLECTION,
        ],
    );
    assert_eq!(nobody.status.code(), Some(2));
    assert!(
        stderr(&nobody).contains("127.0.0.1:1"),
        "{}",
        stderr(&nobody)
    );

    let not_pem = dir.path().join("not-a-certificate.pem");
    std::fs::write(&not_pem, "just text").unwrap();
    let not_pem = not_pem.to_str().unwrap();
    for (flag, value, complaint) in [
        ("--limit", "0", "--limit 0"),
        ("--taxii-version", "3", "--taxii-version"),
        ("--header", "no colon", "Name: value"),
        (
            "--ca-cert",
            "/nonexistent/ca.pem",
            "--ca-cert /nonexistent/ca.pem",
        ),
        ("--ca-cert", not_pem, "--ca-cert: the CA certificate"),
        (
            "--client-cert",
            not_pem,
            "--client-cert: the client certificate",
        ),
    ] {
        let output = in_dir(
            dir.path(),
            &[
                "taxii",
                "pull",
                &url,
                "--collection",
                COLLECTION,
                flag,
                value,
            ],
        );
        assert!(!output.status.success(), "{flag} {value}");
        assert!(
            stderr(&output).contains(complaint),
            "{flag} {value}: {}",
            stderr(&output)
        );
    }
}

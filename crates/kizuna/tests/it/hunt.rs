//! `kizuna hunt`: the real binary on the logs and IoC files of tests/data/hunt (see its
//! SOURCES.md), with the exact hits hunt-semantics.md defines for them.

use crate::support::{
    Running, free_port, http_get, kizuna, run, stderr, stdout, wait_until_serving,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

const EVENT_ZEEK: &str = "a1f0c6d2-7b1e-4c55-9a0e-2d6f3b8e9a01";
const EVENT_WEB: &str = "b2e1d7c3-8c2f-4d66-8b1f-3e7a4c9fab02";

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hunt")
}

/// `kizuna hunt <args>` run inside tests/data/hunt, so that files are named as given.
fn hunt(args: &[&str]) -> Output {
    kizuna()
        .current_dir(data_dir())
        .arg("hunt")
        .args(args)
        .output()
        .expect("kizuna runs")
}

fn hunt_with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = kizuna()
        .current_dir(data_dir())
        .arg("hunt")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kizuna starts");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input)
        .expect("stdin written");
    child.wait_with_output().expect("kizuna ends")
}

fn records(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

type HitKey = (String, u64, String, String, String, String);

/// (file, line_no, field, value, ioc, ioc_type) of every JSON line.
fn hits(output: &Output) -> BTreeSet<HitKey> {
    let mut set = BTreeSet::new();
    for record in records(output) {
        let text = |key: &str| record[key].as_str().unwrap_or_default().to_string();
        let key = (
            text("file"),
            record["line_no"].as_u64().expect("line_no"),
            text("field"),
            text("value"),
            text("ioc"),
            text("ioc_type"),
        );
        assert!(set.insert(key.clone()), "reported twice: {key:?}");
    }
    set
}

fn expected(rows: &[(&str, u64, &str, &str, &str, &str)]) -> BTreeSet<HitKey> {
    rows.iter()
        .map(|(file, line, field, value, ioc, kind)| {
            (
                file.to_string(),
                *line,
                field.to_string(),
                value.to_string(),
                ioc.to_string(),
                kind.to_string(),
            )
        })
        .collect()
}

fn record_for<'a>(records: &'a [Value], file: &str, line: u64, ioc: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["file"] == file && r["line_no"] == line && r["ioc"] == ioc)
        .unwrap_or_else(|| panic!("no hit {file}:{line} {ioc} in {records:?}"))
}

/// What the feed fixture must give on the four real logs: deleted attributes, deleted
/// objects and to_ids false give nothing, a missing to_ids counts as true, the window of
/// 83.149.9.216 keeps Apache line 3 out, URL hosts are checked as `<field>.host`.
fn feed_hits_zeek_tsv() -> Vec<(
    &'static str,
    u64,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
)> {
    vec![
        (
            "zeek_dns.log",
            9,
            "answers",
            "134.71.3.16",
            "134.71.3.16",
            "ip",
        ),
        (
            "zeek_dns.log",
            11,
            "query",
            "daisy.ubuntu.com",
            "ubuntu.com",
            "domain",
        ),
        (
            "zeek_dns.log",
            11,
            "answers",
            "162.213.33.133",
            "162.213.33.0/24",
            "cidr",
        ),
        (
            "zeek_dns.log",
            11,
            "answers",
            "162.213.33.164",
            "162.213.33.0/24",
            "cidr",
        ),
        (
            "zeek_dns.log",
            12,
            "query",
            "mirror.atlantic.net.localdomain",
            "atlantic.net.localdomain",
            "domain",
        ),
        (
            "zeek_dns.log",
            13,
            "id.orig_h",
            "172.31.255.5",
            "172.31.255.5",
            "ip",
        ),
    ]
}

#[test]
fn a_feed_folder_gives_exactly_the_defined_hits_in_every_log_format() {
    let output = hunt(&[
        "--iocs",
        "feed",
        "zeek_dns.log",
        "zeek_dns.ndjson",
        "squid_access.log",
        "apache_access.log",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let mut want = feed_hits_zeek_tsv();
    want.extend([
        (
            "zeek_dns.ndjson",
            1,
            "answers",
            "134.71.3.16",
            "134.71.3.16",
            "ip",
        ),
        (
            "zeek_dns.ndjson",
            2,
            "query",
            "daisy.ubuntu.com",
            "ubuntu.com",
            "domain",
        ),
        (
            "zeek_dns.ndjson",
            2,
            "answers",
            "162.213.33.133",
            "162.213.33.0/24",
            "cidr",
        ),
        (
            "zeek_dns.ndjson",
            2,
            "answers",
            "162.213.33.164",
            "162.213.33.0/24",
            "cidr",
        ),
        (
            "squid_access.log",
            1,
            "url.host",
            "www.slashdot.org",
            "slashdot.org",
            "domain",
        ),
        (
            "squid_access.log",
            1,
            "peer",
            "66.35.250.151",
            "66.35.250.151",
            "ip",
        ),
        (
            "squid_access.log",
            2,
            "url",
            "http://slashdot.org/",
            "http://slashdot.org/",
            "url",
        ),
        (
            "squid_access.log",
            2,
            "url.host",
            "slashdot.org",
            "slashdot.org",
            "domain",
        ),
        (
            "apache_access.log",
            1,
            "client",
            "83.149.9.216",
            "83.149.9.216",
            "ip",
        ),
        (
            "apache_access.log",
            1,
            "referer.host",
            "semicomplete.com",
            "semicomplete.com",
            "domain",
        ),
        (
            "apache_access.log",
            2,
            "client",
            "83.149.9.216",
            "83.149.9.216",
            "ip",
        ),
        (
            "apache_access.log",
            2,
            "referer.host",
            "semicomplete.com",
            "semicomplete.com",
            "domain",
        ),
        (
            "apache_access.log",
            3,
            "referer.host",
            "semicomplete.com",
            "semicomplete.com",
            "domain",
        ),
    ]);
    assert_eq!(hits(&output), expected(&want));

    let all = records(&output);
    let ubuntu = record_for(&all, "zeek_dns.log", 11, "ubuntu.com");
    assert_eq!(ubuntu["ts"], "2018-03-24T17:15:26.488786Z");
    assert_eq!(ubuntu["event_uuid"], EVENT_ZEEK);
    assert_eq!(
        ubuntu["attribute_uuid"],
        "a1000001-0000-4000-8000-000000000001"
    );
    assert_eq!(
        ubuntu["tags"],
        serde_json::json!(["tlp:clear", "hunt:zeek", "kizuna:fixture"])
    );
    assert_eq!(ubuntu["ioc_source"], "feed");
    let json_ts = record_for(&all, "zeek_dns.ndjson", 1, "134.71.3.16");
    assert_eq!(json_ts["ts"], "2018-03-24T17:15:20.865716Z");
    let squid = record_for(&all, "squid_access.log", 1, "slashdot.org");
    assert_eq!(squid["ts"], "2007-12-22T04:37:19.740000Z");
    assert_eq!(squid["intended_use"], "block-outbound");
    assert_eq!(squid["event_uuid"], EVENT_WEB);
    let apache = record_for(&all, "apache_access.log", 1, "83.149.9.216");
    assert_eq!(apache["ts"], "2015-05-17T10:05:03.000000Z");
    assert!(apache.get("attributes").is_none(), "{apache}");

    let report = stderr(&output);
    // The defanged URL is reported, the composite type only counted, the last Apache line
    // shown as not fitting.
    assert!(report.contains("1 values left out"), "{report}");
    assert!(report.contains("hxxp://evil[.]com"), "{report}");
    assert!(report.contains("domain|ip 1"), "{report}");
    assert!(
        report.contains("apache_access.log: 1 of 4 lines do not fit"),
        "{report}"
    );
    assert!(
        report.contains("this line is not an access log line"),
        "{report}"
    );
    assert!(report.contains("4 files,"), "{report}");
    assert!(report.contains("19 hits"), "{report}");
}

#[test]
fn a_plain_list_is_trimmed_typed_by_shape_and_not_refanged() {
    let output = hunt(&["--iocs", "iocs.txt", "zeek_dns.log", "squid_access.log"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        hits(&output),
        expected(&[
            (
                "zeek_dns.log",
                9,
                "answers",
                "134.71.3.16",
                "134.71.3.16",
                "ip"
            ),
            (
                "zeek_dns.log",
                11,
                "query",
                "daisy.ubuntu.com",
                "ubuntu.com",
                "domain"
            ),
            (
                "zeek_dns.log",
                11,
                "answers",
                "162.213.33.133",
                "162.213.33.0/24",
                "cidr"
            ),
            (
                "zeek_dns.log",
                11,
                "answers",
                "162.213.33.164",
                "162.213.33.0/24",
                "cidr"
            ),
            (
                "squid_access.log",
                2,
                "url",
                "http://slashdot.org/",
                "http://slashdot.org/",
                "url"
            ),
        ])
    );
    // A list knows no events or attributes.
    let first = &records(&output)[0];
    assert!(
        first.get("event_uuid").is_none() && first.get("tags").is_none(),
        "{first}"
    );
    assert_eq!(first["ioc_source"], "iocs.txt");
    let report = stderr(&output);
    assert!(report.contains("2 values left out"), "{report}");
    assert!(
        report.contains("iocs.txt line 6: \"hxxp://evil[.]com\""),
        "{report}"
    );
    assert!(
        report.contains("iocs.txt line 7: \"not an ioc\""),
        "{report}"
    );
}

#[test]
fn a_csv_list_has_types_windows_and_to_ids() {
    let output = hunt(&[
        "--iocs",
        "iocs.csv",
        "apache_access.log",
        "squid_access.log",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        hits(&output),
        expected(&[
            (
                "apache_access.log",
                1,
                "client",
                "83.149.9.216",
                "83.149.9.216",
                "ip"
            ),
            (
                "apache_access.log",
                1,
                "referer.host",
                "semicomplete.com",
                "semicomplete.com",
                "domain"
            ),
            (
                "apache_access.log",
                2,
                "client",
                "83.149.9.216",
                "83.149.9.216",
                "ip"
            ),
            (
                "apache_access.log",
                2,
                "referer.host",
                "semicomplete.com",
                "semicomplete.com",
                "domain"
            ),
            (
                "apache_access.log",
                3,
                "referer.host",
                "semicomplete.com",
                "semicomplete.com",
                "domain"
            ),
            (
                "squid_access.log",
                1,
                "peer",
                "66.35.250.151",
                "66.35.250.151",
                "ip"
            ),
        ])
    );
    let report = stderr(&output);
    assert!(report.contains("email-src 1"), "{report}");
    assert!(report.contains("1 attributes ignored"), "{report}");
}

#[test]
fn stix_indicators_are_windowed_by_valid_from_and_valid_until_to_the_microsecond() {
    let output = hunt(&["--iocs", "stix_bundle.json", "zeek_dns.log"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // ubuntu.com is valid until 17:15:26.488785, one microsecond before line 11; the
    // 172.31.255.5 indicator is valid for exactly the microsecond of line 13.
    assert_eq!(
        hits(&output),
        expected(&[
            (
                "zeek_dns.log",
                9,
                "answers",
                "134.71.3.16",
                "134.71.3.16",
                "ip"
            ),
            (
                "zeek_dns.log",
                13,
                "id.orig_h",
                "172.31.255.5",
                "172.31.255.5",
                "ip"
            ),
        ])
    );
}

#[test]
fn a_hit_names_every_attribute_active_at_its_time() {
    let output = hunt(&[
        "--iocs",
        "feed",
        "--iocs",
        "stix_bundle.json",
        "zeek_dns.log",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(hits(&output), expected(&feed_hits_zeek_tsv()));
    let all = records(&output);
    // 134.71.3.16 is in the feed and in the bundle, both valid at line 9.
    let both = record_for(&all, "zeek_dns.log", 9, "134.71.3.16");
    assert_eq!(
        both["attribute_uuid"],
        "a1000001-0000-4000-8000-000000000003"
    );
    let attributes = both["attributes"].as_array().expect("attributes");
    assert_eq!(attributes.len(), 2, "{both}");
    assert_eq!(attributes[0]["event_uuid"], EVENT_ZEEK);
    assert_ne!(
        attributes[1]["attribute_uuid"],
        attributes[0]["attribute_uuid"]
    );
    // The bundle's ubuntu.com expired a microsecond before line 11: only the feed's counts.
    let one = record_for(&all, "zeek_dns.log", 11, "ubuntu.com");
    assert!(one.get("attributes").is_none(), "{one}");
    assert_eq!(
        one["attribute_uuid"],
        "a1000001-0000-4000-8000-000000000001"
    );
}

#[test]
fn without_iocs_the_default_data_directory_is_hunted() {
    let cwd = tempfile::tempdir().unwrap();
    let in_cwd = |args: &[&str]| {
        kizuna()
            .current_dir(cwd.path())
            .args(args)
            .output()
            .unwrap()
    };
    let init = in_cwd(&["init", "--org", "HOST", "--email", "admin@host.test"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let feed = data_dir().join("feed");
    let import = in_cwd(&["import", feed.to_str().unwrap()]);
    assert!(
        matches!(import.status.code(), Some(0 | 1)),
        "{}",
        stderr(&import)
    );
    let log = data_dir().join("zeek_dns.log");
    let output = in_cwd(&["hunt", log.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(records(&output).len(), feed_hits_zeek_tsv().len());
    assert!(
        records(&output)
            .iter()
            .all(|r| r["ioc_source"] == "database")
    );
}

/// The window examples of hunt-semantics §6, end to end: CSV windows against Zeek JSON times.
#[test]
fn windows_hold_at_the_microsecond_and_any_active_attribute_counts() {
    let dir = tempfile::tempdir().unwrap();
    let iocs = dir.path().join("windows.csv");
    std::fs::write(
        &iocs,
        "value,type,first_seen,last_seen,to_ids\n\
         evil.com,domain,2026-03-02T00:00:10.5Z,,\n\
         1.2.3.4,ip-dst,,2026-03-02T00:00:00Z,\n\
         1.2.3.4,ip-dst,2026-03-03T00:00:00Z,,\n\
         5.6.7.8,ip-dst,2026-01-01T00:00:00Z,2026-01-02T00:00:00Z,\n\
         5.6.7.8,ip-dst,,,\n",
    )
    .unwrap();
    let log = dir.path().join("windows.ndjson");
    std::fs::write(
        &log,
        concat!(
            "{\"ts\":\"2026-03-02T00:00:10.499999Z\",\"query\":\"evil.com\"}\n",
            "{\"ts\":\"2026-03-02T00:00:10.500000Z\",\"query\":\"evil.com\"}\n",
            "{\"ts\":\"2026-03-02T00:00:00Z\",\"dst\":\"1.2.3.4\"}\n",
            "{\"ts\":\"2026-03-02T01:00:00Z\",\"dst\":\"1.2.3.4\"}\n",
            "{\"ts\":\"2026-03-03T00:00:00Z\",\"dst\":\"1.2.3.4\"}\n",
            "{\"ts\":\"2027-01-01T00:00:00Z\",\"dst\":\"5.6.7.8\"}\n",
            "{\"dst\":\"5.6.7.8\"}\n",
            "{\"dst\":\"1.2.3.4\"}\n",
        ),
    )
    .unwrap();
    let log_name = log.to_str().unwrap();
    let output = hunt(&["--iocs", iocs.to_str().unwrap(), log_name]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines: BTreeSet<(u64, String)> = hits(&output)
        .into_iter()
        .map(|hit| (hit.1, hit.4))
        .collect();
    let want: BTreeSet<(u64, String)> = [
        (2, "evil.com"),
        (3, "1.2.3.4"),
        (5, "1.2.3.4"),
        (6, "5.6.7.8"),
        (7, "5.6.7.8"),
    ]
    .into_iter()
    .map(|(line, ioc)| (line, ioc.to_string()))
    .collect();
    assert_eq!(lines, want);
    let untimed = record_for(&records(&output), log_name, 7, "5.6.7.8").clone();
    assert_eq!(untimed["ts"], Value::Null);
}

/// A feed's event file may hold a bare event; object-level dates do not make a window.
#[test]
fn a_feed_event_file_may_hold_a_bare_event() {
    let dir = tempfile::tempdir().unwrap();
    let feed = data_dir().join("feed");
    std::fs::copy(feed.join("manifest.json"), dir.path().join("manifest.json")).unwrap();
    for event in [EVENT_ZEEK, EVENT_WEB] {
        let name = format!("{event}.json");
        let wrapped: Value =
            serde_json::from_str(&std::fs::read_to_string(feed.join(&name)).unwrap()).unwrap();
        let mut bare = wrapped["Event"].clone();
        if event == EVENT_ZEEK {
            bare["Object"][0]["first_seen"] = Value::from("2030-01-01T00:00:00+00:00");
        }
        std::fs::write(dir.path().join(&name), bare.to_string()).unwrap();
    }
    let output = hunt(&["--iocs", dir.path().to_str().unwrap(), "zeek_dns.log"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(hits(&output), expected(&feed_hits_zeek_tsv()));
}

#[test]
fn exit_status_is_like_grep() {
    let none = hunt(&["--iocs", "iocs.txt", "apache_access.log"]);
    assert_eq!(none.status.code(), Some(1), "{}", stderr(&none));
    assert!(stdout(&none).is_empty());

    let empty = tempfile::tempdir().unwrap();
    let no_source = kizuna()
        .current_dir(empty.path())
        .args(["hunt", "access.log"])
        .output()
        .unwrap();
    assert_eq!(no_source.status.code(), Some(2));
    assert!(
        stderr(&no_source).contains("--iocs"),
        "{}",
        stderr(&no_source)
    );
    assert!(!empty.path().join("kizuna-data").exists());

    let unreadable = hunt(&["--iocs", "no-such-iocs.txt", "zeek_dns.log"]);
    assert_eq!(unreadable.status.code(), Some(2));
    assert!(stderr(&unreadable).contains("no-such-iocs.txt"));

    let bad_format = hunt(&["--iocs", "iocs.txt", "--format", "evtx", "zeek_dns.log"]);
    assert_eq!(bad_format.status.code(), Some(2));

    let no_database = hunt(&["--data-dir", empty.path().to_str().unwrap(), "zeek_dns.log"]);
    assert_eq!(no_database.status.code(), Some(2));
    assert!(
        stderr(&no_database).contains("no Kizuna database"),
        "{}",
        stderr(&no_database)
    );

    let nothing_readable = hunt(&["--iocs", "iocs.txt", "no-such.log"]);
    assert_eq!(nothing_readable.status.code(), Some(2));
}

#[test]
fn stdin_and_gzip_give_the_same_hits_as_the_plain_file() {
    let plain = hunt(&["--iocs", "feed", "squid_access.log"]);
    let squid = std::fs::read(data_dir().join("squid_access.log")).unwrap();
    let piped = hunt_with_stdin(&["--iocs", "feed", "--format", "squid", "-"], &squid);
    assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
    let gzipped = hunt(&["--iocs", "feed", "squid_access.log.gz"]);
    assert_eq!(gzipped.status.code(), Some(0), "{}", stderr(&gzipped));
    let rename = |set: BTreeSet<HitKey>| -> BTreeSet<HitKey> {
        set.into_iter()
            .map(|(_, line, field, value, ioc, kind)| ("x".into(), line, field, value, ioc, kind))
            .collect()
    };
    let want = rename(hits(&plain));
    assert_eq!(want.len(), 4);
    assert_eq!(rename(hits(&piped)), want);
    assert_eq!(rename(hits(&gzipped)), want);
    assert!(records(&piped).iter().all(|r| r["file"] == "-"));
}

#[test]
fn unreadable_truncated_and_unknown_files_are_reported_and_the_rest_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"\x00\x01\x02\xff\xfe binary\n\x7f\x00").unwrap();
    let output = hunt(&[
        "--iocs",
        "feed",
        "missing.log",
        "truncated_apache.log.gz",
        garbage.to_str().unwrap(),
        "zeek_dns.log",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let zeek: BTreeSet<HitKey> = hits(&output)
        .into_iter()
        .filter(|hit| hit.0 == "zeek_dns.log")
        .collect();
    assert_eq!(zeek, expected(&feed_hits_zeek_tsv()));
    let report = stderr(&output);
    assert!(report.contains("not scanned: missing.log"), "{report}");
    assert!(
        report.contains("truncated_apache.log.gz: reading stopped"),
        "{report}"
    );
    assert!(report.contains("garbage.bin"), "{report}");
}

#[test]
fn the_table_is_aligned_and_names_the_event() {
    let output = hunt(&["--iocs", "feed", "--output", "table", "apache_access.log"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines[0].starts_with("FILE:LINE"), "{text}");
    let ioc_column = lines[0].find("IOC").unwrap();
    for line in &lines[1..] {
        assert!(line.starts_with("apache_access.log:"), "{text}");
        assert!(line.contains(EVENT_WEB), "{text}");
        assert!(
            line[ioc_column..].starts_with("83.149.9.216")
                || line[ioc_column..].starts_with("semicomplete.com"),
            "{text}"
        );
    }
    assert!(text.contains("2015-05-17T10:05:03Z"), "{text}");
}

#[test]
fn json_lines_csv_and_syslog_formats_are_read_when_named() {
    let jsonl = hunt(&[
        "--iocs",
        "iocs.txt",
        "--format",
        "jsonl",
        "--json-time-field",
        "@timestamp",
        "events.jsonl",
    ]);
    assert_eq!(jsonl.status.code(), Some(0), "{}", stderr(&jsonl));
    assert_eq!(
        hits(&jsonl),
        expected(&[
            (
                "events.jsonl",
                1,
                "client.ip",
                "134.71.3.16",
                "134.71.3.16",
                "ip"
            ),
            (
                "events.jsonl",
                1,
                "dest",
                "daisy.ubuntu.com",
                "ubuntu.com",
                "domain"
            ),
        ])
    );
    assert_eq!(records(&jsonl)[0]["ts"], "2026-03-02T00:00:10.500000Z");
    let only_client = hunt(&[
        "--iocs",
        "iocs.txt",
        "--format",
        "jsonl",
        "--json-field",
        "client.ip",
        "events.jsonl",
    ]);
    assert_eq!(
        hits(&only_client),
        expected(&[(
            "events.jsonl",
            1,
            "client.ip",
            "134.71.3.16",
            "134.71.3.16",
            "ip"
        )])
    );

    let csv = hunt(&["--iocs", "iocs.txt", "--format", "csv", "flows.csv"]);
    assert_eq!(csv.status.code(), Some(0), "{}", stderr(&csv));
    assert_eq!(
        hits(&csv),
        expected(&[
            ("flows.csv", 2, "dst", "134.71.3.16", "134.71.3.16", "ip"),
            (
                "flows.csv",
                2,
                "host",
                "daisy.ubuntu.com",
                "ubuntu.com",
                "domain"
            ),
        ])
    );
    assert_eq!(records(&csv)[0]["ts"], "2026-03-02T00:00:00.000000Z");

    let syslog = hunt(&[
        "--iocs",
        "feed",
        "--format",
        "syslog",
        "--syslog-year",
        "2026",
        "auth.log",
    ]);
    assert_eq!(syslog.status.code(), Some(0), "{}", stderr(&syslog));
    let found = records(&syslog);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["ioc"], "172.31.255.5");
    assert_eq!(found[0]["line_no"], 1);
    assert_eq!(found[0]["ts"], "2026-03-02T00:00:10.000000Z");
}

fn kizuna_in(dir: &Path, args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--data-dir", dir.to_str().unwrap()]);
    run(&all)
}

/// Sightings of an event as `/sightings/index/<uuid>` lists them: (attribute uuid, source).
fn sightings_of(address: SocketAddr, key: &str, event: &str) -> BTreeSet<(String, String)> {
    let (status, body) =
        http_get(address, &format!("/sightings/index/{event}"), Some(key)).unwrap();
    assert_eq!(status, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).unwrap();
    listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|sighting| {
            (
                sighting["attribute_uuid"].as_str().unwrap().to_string(),
                sighting["source"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn sightings_are_recorded_in_the_database_and_through_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let init = kizuna_in(
        dir.path(),
        &["init", "--org", "HOST", "--email", "admin@host.test"],
    );
    assert!(init.status.success(), "{}", stderr(&init));
    let key = stdout(&init).trim().to_string();
    let feed = data_dir().join("feed");
    let import = kizuna_in(dir.path(), &["import", feed.to_str().unwrap()]);
    assert!(
        matches!(import.status.code(), Some(0 | 1)),
        "{}",
        stderr(&import)
    );
    let data = dir.path().to_str().unwrap();

    // IoCs from the database, sightings into it.
    let local = hunt(&[
        "--data-dir",
        data,
        "--record-sightings",
        "--sighting-source",
        "local-hunter",
        "zeek_dns.log",
    ]);
    assert_eq!(local.status.code(), Some(0), "{}", stderr(&local));
    assert_eq!(hits(&local), expected(&feed_hits_zeek_tsv()));
    assert_eq!(
        record_for(&records(&local), "zeek_dns.log", 11, "ubuntu.com")["event_uuid"],
        EVENT_ZEEK
    );
    assert!(
        stderr(&local).contains("5 sightings recorded"),
        "{}",
        stderr(&local)
    );

    // IoCs from a file: attributes are found by uuid, unknown ones counted.
    let csv = dir.path().join("unknown.csv");
    std::fs::write(
        &csv,
        "value,type,first_seen,last_seen,to_ids,uuid\n\
         134.71.3.16,ip-dst,,,,0e0e0e0e-0000-4000-8000-000000000000\n",
    )
    .unwrap();
    let from_file = hunt(&[
        "--iocs",
        csv.to_str().unwrap(),
        "--data-dir",
        data,
        "--record-sightings",
        "zeek_dns.log",
    ]);
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    let report = stderr(&from_file);
    assert!(report.contains("0 sightings recorded"), "{report}");
    assert!(report.contains("1 attributes hit are unknown"), "{report}");

    let port = free_port();
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut server = Running::spawn(&[
        "serve",
        "--data-dir",
        data,
        "--listen",
        &address.to_string(),
    ]);
    wait_until_serving(address, &key, &mut server);
    let local_sightings = sightings_of(address, &key, EVENT_ZEEK);
    assert!(
        local_sightings.contains(&(
            "a1000001-0000-4000-8000-000000000003".to_string(),
            "local-hunter: 1 hit 2018-03-24T17:15:20Z..2018-03-24T17:15:20Z".to_string()
        )),
        "{local_sightings:?}"
    );
    assert!(
        local_sightings.contains(&(
            "a1000001-0000-4000-8000-000000000002".to_string(),
            "local-hunter: 2 hits 2018-03-24T17:15:26Z..2018-03-24T17:15:26Z".to_string()
        )),
        "{local_sightings:?}"
    );
    assert_eq!(local_sightings.len(), 5, "{local_sightings:?}");

    // IoCs from the server, sightings through its API.
    let url = format!("http://{address}");
    let remote = hunt(&[
        "--server",
        &url,
        "--key",
        &key,
        "--record-sightings",
        "zeek_dns.log",
    ]);
    assert_eq!(remote.status.code(), Some(0), "{}", stderr(&remote));
    assert_eq!(hits(&remote), expected(&feed_hits_zeek_tsv()));
    assert!(
        stderr(&remote).contains("5 sightings recorded"),
        "{}",
        stderr(&remote)
    );
    let all = sightings_of(address, &key, EVENT_ZEEK);
    let remote_sources: Vec<&String> = all
        .iter()
        .map(|(_, source)| source)
        .filter(|source| source.starts_with("kizuna-hunt@"))
        .collect();
    assert_eq!(remote_sources.len(), 5, "{all:?}");
    assert!(
        remote_sources
            .iter()
            .any(|source| source.ends_with(": 1 hit 2018-03-24T17:16:04Z..2018-03-24T17:16:04Z")),
        "{all:?}"
    );

    let wrong_key = hunt(&["--server", &url, "--key", "x", "zeek_dns.log"]);
    assert_eq!(wrong_key.status.code(), Some(2), "{}", stderr(&wrong_key));
    server.finish();
}

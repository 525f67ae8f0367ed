//! Scanning whole streams and files: line numbers across block boundaries, parser state
//! carried from block to block, compression, bad input, windows and the real samples.

use kizuna_matcher::hunt::{
    IocIndex, IocIndexBuilder, LogFormat, ScanError, ScanOptions, ScanReport, Window,
    parse_iso8601_micros, scan_path, scan_reader,
};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

fn index_of(iocs: &[(&str, Window)]) -> IocIndex {
    let mut builder = IocIndexBuilder::new();
    for (source, (value, window)) in iocs.iter().enumerate() {
        builder
            .add(None, value, *window, source as u32)
            .unwrap_or_else(|error| panic!("{value}: {error}"));
    }
    builder.build()
}

fn always(values: &[&'static str]) -> IocIndex {
    let iocs: Vec<_> = values
        .iter()
        .map(|value| (*value, Window::default()))
        .collect();
    index_of(&iocs)
}

fn at(iso: &str) -> i64 {
    parse_iso8601_micros(iso).unwrap()
}

fn options(format: Option<LogFormat>, block_size: Option<usize>, threads: usize) -> ScanOptions {
    ScanOptions {
        format,
        block_size,
        threads: Some(threads),
        ..ScanOptions::default()
    }
}

fn scan_bytes(index: &IocIndex, bytes: &[u8], options: &ScanOptions) -> ScanReport {
    scan_reader(index, "test", &mut &bytes[..], options, &|_| {}).unwrap()
}

/// (line, field, value, canonical IoC) of every hit.
fn hits(index: &IocIndex, report: &ScanReport) -> Vec<(u64, String, String, String)> {
    report
        .hits
        .iter()
        .map(|hit| {
            (
                hit.line_no,
                hit.field.clone(),
                hit.value.clone(),
                index.canonical(hit.ioc).to_owned(),
            )
        })
        .collect()
}

fn hit(line: u64, field: &str, value: &str, ioc: &str) -> (u64, String, String, String) {
    (line, field.into(), value.into(), ioc.into())
}

const ZEEK_HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#fields\tts\tquery\tanswers\tnote\n#types\ttime\tstring\tvector[string]\tstring\n";

#[test]
fn the_zeek_vector_example_of_the_spec() {
    let index = always(&["evil.com", "1.2.3.4"]);
    let log = format!(
        "{ZEEK_HEADER}1772409600.000000\tx.evil.com\tcname.example,1.2.3.4\tevil.com,1.2.3.4\n"
    );
    let report = scan_bytes(&index, log.as_bytes(), &ScanOptions::default());
    assert_eq!(report.format, Some(LogFormat::ZeekTsv));
    assert_eq!(report.lines, 7);
    assert_eq!(
        hits(&index, &report),
        [
            hit(7, "query", "x.evil.com", "evil.com"),
            hit(7, "answers", "1.2.3.4", "1.2.3.4"),
        ]
    );
    assert_eq!(report.hits[0].ts, Some(at("2026-03-02T00:00:00Z")));
}

#[test]
fn the_apache_connect_example_of_the_spec() {
    let index = always(&["evil.com"]);
    let log = "9.9.9.9 - - [01/Mar/2026:17:00:00 -0700] \"CONNECT evil.com:443 HTTP/1.1\" 200 5 \"-\" \"x\n";
    let report = scan_bytes(&index, log.as_bytes(), &ScanOptions::default());
    assert_eq!(report.format, Some(LogFormat::Combined));
    assert_eq!(
        hits(&index, &report),
        [hit(1, "target.host", "evil.com", "evil.com")]
    );
    assert_eq!(report.hits[0].ts, Some(at("2026-03-02T00:00:00Z")));
}

#[test]
fn url_hosts_and_squid_connect() {
    let index = always(&["evil.com", "10.0.0.0/8", "http://bad.example/gate.php"]);
    let log = "\
1772409600.000 5 10.0.0.1 TCP_TUNNEL/200 100 CONNECT cdn.evil.com:443 - HIER_DIRECT/1.2.3.4 -
1772409600.000 5 1.1.1.1 TCP_MISS/200 100 GET HTTP://BAD.Example:80/gate.php#x - HIER_DIRECT/10.9.9.9 text/html
1772409600.000 5 1.1.1.1 TCP_MISS/200 100 GET http://10.9.9.9:8080/x - HIER_NONE/- text/html
";
    let report = scan_bytes(&index, log.as_bytes(), &ScanOptions::default());
    assert_eq!(report.format, Some(LogFormat::Squid));
    assert_eq!(
        hits(&index, &report),
        [
            hit(1, "client", "10.0.0.1", "10.0.0.0/8"),
            hit(1, "url.host", "cdn.evil.com", "evil.com"),
            hit(
                2,
                "url",
                "HTTP://BAD.Example:80/gate.php#x",
                "http://bad.example/gate.php"
            ),
            hit(2, "peer", "10.9.9.9", "10.0.0.0/8"),
            hit(3, "url.host", "10.9.9.9", "10.0.0.0/8"),
        ]
    );
}

/// A Zeek log of `records` lines, every seventh with a hit, one malformed line in the
/// middle, and a second header section halfway that renames and retypes the columns.
fn long_zeek_log(records: usize) -> (String, Vec<(u64, String, String, String)>) {
    let mut log = String::from(ZEEK_HEADER);
    let mut line_no = 6u64;
    let mut expected = Vec::new();
    for record in 0..records {
        if record == records / 2 {
            log.push_str("#fields\tts\tname\tanswers\n");
            log.push_str("#types\ttime\tvector[string]\tstring\n");
            line_no += 2;
        }
        line_no += 1;
        let second_half = record >= records / 2;
        if record == records / 3 {
            log.push_str("not\ta zeek line\n");
            continue;
        }
        let query = if record % 7 == 0 {
            format!("host{record}.evil.com")
        } else {
            format!("host{record}.good.example")
        };
        if second_half {
            // `name` is a vector now, `answers` a plain string.
            log.push_str(&format!("{record}.5\t{query},x.example\t1.2.3.4,5.6.7.8\n"));
            if record % 7 == 0 {
                expected.push(hit(line_no, "name", &query, "evil.com"));
            }
        } else {
            log.push_str(&format!("{record}.5\t{query}\t5.6.7.8,1.2.3.4\t-\n"));
            if record % 7 == 0 {
                expected.push(hit(line_no, "query", &query, "evil.com"));
            }
            expected.push(hit(line_no, "answers", "1.2.3.4", "1.2.3.4"));
        }
    }
    (log, expected)
}

#[test]
fn line_numbers_and_zeek_headers_across_block_boundaries() {
    let index = always(&["evil.com", "1.2.3.4"]);
    let (log, expected) = long_zeek_log(300);
    let total_lines = log.lines().count() as u64;
    for block_size in [Some(1), Some(7), Some(64), Some(1000), None] {
        for threads in [1, 2, 3] {
            let report = scan_bytes(&index, log.as_bytes(), &options(None, block_size, threads));
            assert_eq!(hits(&index, &report), expected, "{block_size:?} {threads}");
            assert_eq!(report.lines, total_lines);
            assert_eq!(report.bytes, log.len() as u64);
            assert_eq!(report.malformed_lines, 1);
            assert_eq!(
                report.malformed_examples,
                [(107, "not\ta zeek line".to_owned())]
            );
        }
    }
}

#[test]
fn csv_header_is_carried_across_blocks() {
    let index = always(&["evil.com"]);
    let mut log = String::from("\n\nts,query,note\n");
    for record in 0..100 {
        log.push_str(&format!("{record},q{record}.evil.com,\"a, b\"\n"));
    }
    for block_size in [Some(5), Some(100), None] {
        let report = scan_bytes(&index, log.as_bytes(), &options(None, block_size, 2));
        assert_eq!(report.format, Some(LogFormat::Csv));
        assert_eq!(report.hits.len(), 100);
        assert_eq!(report.hits[0].line_no, 4);
        assert_eq!(report.hits[0].field, "query");
        assert_eq!(report.hits[99].line_no, 103);
        assert_eq!(report.hits[99].ts, Some(99_000_000));
        assert_eq!(report.malformed_lines, 0);
    }
}

#[test]
fn crlf_lines() {
    let index = always(&["evil.com"]);
    let log = format!("{ZEEK_HEADER}1.0\tevil.com\t-\t-\n").replace('\n', "\r\n");
    for block_size in [Some(3), None] {
        let report = scan_bytes(&index, log.as_bytes(), &options(None, block_size, 2));
        assert_eq!(
            hits(&index, &report),
            [hit(7, "query", "evil.com", "evil.com")]
        );
        assert_eq!(report.malformed_lines, 0);
    }
    let json = "{\"q\":\"evil.com\"}\r\n{\"q\":\"x\"}\r\n";
    let report = scan_bytes(&index, json.as_bytes(), &ScanOptions::default());
    assert_eq!(hits(&index, &report), [hit(1, "q", "evil.com", "evil.com")]);
}

#[test]
fn windows_use_the_line_timestamp() {
    let index = index_of(&[
        (
            "evil.com",
            Window {
                first_seen: Some(at("2026-03-02T00:00:10.5Z")),
                last_seen: None,
            },
        ),
        (
            "1.2.3.4",
            Window {
                first_seen: None,
                last_seen: Some(at("2026-03-02T00:00:00Z")),
            },
        ),
        (
            "1.2.3.4",
            Window {
                first_seen: Some(at("2026-03-03T00:00:00Z")),
                last_seen: None,
            },
        ),
        (
            "5.6.7.8",
            Window {
                first_seen: Some(at("2026-03-03T00:00:00Z")),
                last_seen: Some(at("2026-03-03T00:00:00Z")),
            },
        ),
        ("5.6.7.8", Window::default()),
    ]);
    let log = "\
#fields\tts\tquery
1772409610.499999\tevil.com
1772409610.500000\tevil.com
1772409600.000000\t1.2.3.4
1772413200.000000\t1.2.3.4
1772496000.000000\t1.2.3.4
-\t1.2.3.4
-\t5.6.7.8
1.0\t5.6.7.8
-\tevil.com
";
    let report = scan_bytes(&index, log.as_bytes(), &ScanOptions::default());
    assert_eq!(
        hits(&index, &report),
        [
            hit(3, "query", "evil.com", "evil.com"),
            hit(4, "query", "1.2.3.4", "1.2.3.4"),
            hit(6, "query", "1.2.3.4", "1.2.3.4"),
            hit(8, "query", "5.6.7.8", "5.6.7.8"),
            hit(9, "query", "5.6.7.8", "5.6.7.8"),
        ]
    );
    assert_eq!(report.hits[0].ts, Some(at("2026-03-02T00:00:10.5Z")));
    assert_eq!(report.hits[3].ts, None);
}

#[test]
fn hits_are_distinct_per_line_field_value_and_ioc() {
    let index = always(&["evil.com", "a.evil.com"]);
    let log = r#"{"q":"x.a.evil.com","r":["x.a.evil.com","x.a.evil.com","X.A.evil.com"],"s":{"q":"x.a.evil.com"}}"#;
    let report = scan_bytes(&index, log.as_bytes(), &ScanOptions::default());
    let mut found = hits(&index, &report);
    found.sort();
    assert_eq!(
        found,
        [
            hit(1, "q", "x.a.evil.com", "a.evil.com"),
            hit(1, "q", "x.a.evil.com", "evil.com"),
            hit(1, "r", "X.A.evil.com", "a.evil.com"),
            hit(1, "r", "X.A.evil.com", "evil.com"),
            hit(1, "r", "x.a.evil.com", "a.evil.com"),
            hit(1, "r", "x.a.evil.com", "evil.com"),
            hit(1, "s.q", "x.a.evil.com", "a.evil.com"),
            hit(1, "s.q", "x.a.evil.com", "evil.com"),
        ]
    );
}

#[test]
fn values_of_malformed_lines_are_discarded() {
    let index = always(&["evil.com"]);
    let log = "{\"q\":\"evil.com\"}\n{\"q\":\"evil.com\"\n{\"q\":\"evil.com\"} trailing\n";
    let report = scan_bytes(&index, log.as_bytes(), &ScanOptions::default());
    assert_eq!(hits(&index, &report), [hit(1, "q", "evil.com", "evil.com")]);
    assert_eq!(report.malformed_lines, 2);
    assert_eq!(
        report.malformed_examples,
        [
            (2, "{\"q\":\"evil.com\"".to_owned()),
            (3, "{\"q\":\"evil.com\"} trailing".to_owned()),
        ]
    );
}

#[test]
fn only_the_first_five_malformed_lines_are_kept_as_examples() {
    let index = always(&["evil.com"]);
    let mut log = String::from("#fields\tts\tq\n");
    for line in 0..20 {
        log.push_str(&format!("bad line {line}\n"));
    }
    let report = scan_bytes(&index, log.as_bytes(), &options(None, Some(16), 2));
    assert_eq!(report.malformed_lines, 20);
    let numbers: Vec<_> = report
        .malformed_examples
        .iter()
        .map(|(line_no, _)| *line_no)
        .collect();
    assert_eq!(numbers, [2, 3, 4, 5, 6]);
}

#[test]
fn invalid_utf8_is_never_part_of_a_match_but_spares_the_rest() {
    let index = always(&["evil.com", "1.2.3.4"]);
    let mut log = b"#fields\tts\tq\tr\n1.0\tevil.com\xff\t1.2.3.4\n".to_vec();
    log.extend_from_slice(b"{\"x\":\"\xfe\"}\n");
    // Text around a match, and a URL (a value of no single shape) beside bytes that are
    // not UTF-8.
    log.extend_from_slice("2.0\t\u{e9}vil.com\tevil.com\n".as_bytes());
    log.extend_from_slice(b"3.0\thttp://evil.com/\xff\thttp://evil.com:80/x\n");
    let report = scan_bytes(&index, &log, &options(Some(LogFormat::ZeekTsv), None, 1));
    assert_eq!(
        hits(&index, &report),
        [
            hit(2, "r", "1.2.3.4", "1.2.3.4"),
            hit(4, "r", "evil.com", "evil.com"),
            hit(5, "r.host", "evil.com", "evil.com"),
        ]
    );
}

#[test]
fn binary_garbage_does_not_stop_the_scan() {
    let index = always(&["evil.com"]);
    // A deterministic byte soup, with a stretch of over 1 MiB without any line end.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut garbage = Vec::with_capacity(3 << 20);
    for position in 0..(3usize << 20) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let byte = (state >> 24) as u8;
        let in_long_stretch = (1 << 20..(5 << 19)).contains(&position);
        garbage.push(if in_long_stretch && byte == b'\n' {
            0
        } else {
            byte
        });
    }
    for format in LogFormat::ALL {
        let mut log = format!("{ZEEK_HEADER}1.0\tevil.com\t-\t-\n").into_bytes();
        if format == LogFormat::ZeekJson || format == LogFormat::JsonLines {
            log = b"{\"q\":\"evil.com\"}\n".to_vec();
        }
        log.extend_from_slice(&garbage);
        log.extend_from_slice(b"\n{\"q\":\"evil.com\"}\n");
        let report = scan_bytes(&index, &log, &options(Some(format), Some(64 << 10), 2));
        assert!(report.lines > 10, "{format:?}");
        assert!(report.malformed_lines > 0, "{format:?}");
        assert!(report.malformed_examples.len() <= 5);
    }
    // Detection on garbage either finds no format or some format; it never panics.
    match scan_reader(
        &index,
        "garbage",
        &mut &garbage[..],
        &ScanOptions::default(),
        &|_| {},
    ) {
        Ok(_) | Err(ScanError::UnknownFormat { .. }) => {}
        Err(other) => panic!("{other}"),
    }
}

#[test]
fn an_overlong_line_is_skipped_and_counted() {
    let index = always(&["evil.com"]);
    let mut log = b"{\"q\":\"evil.com\"}\n".to_vec();
    log.extend(std::iter::repeat_n(b'x', 3 << 20));
    log.extend_from_slice(b"\n{\"q\":\"evil.com\"}\n");
    let report = scan_bytes(&index, &log, &options(None, Some(1 << 16), 2));
    assert_eq!(report.lines, 3);
    assert_eq!(report.malformed_lines, 1);
    assert_eq!(report.malformed_examples[0].0, 2);
    assert_eq!(report.malformed_examples[0].1.len(), 200);
    let lines: Vec<_> = report.hits.iter().map(|hit| hit.line_no).collect();
    assert_eq!(lines, [1, 3]);
}

#[test]
fn empty_and_unknown_input() {
    let index = always(&["evil.com"]);
    let report = scan_bytes(&index, b"", &ScanOptions::default());
    assert_eq!(report.format, None);
    assert_eq!(report.lines, 0);
    assert!(report.read_error.is_none());
    let report = scan_bytes(&index, b"\n  \n\r\n", &options(None, Some(2), 2));
    assert_eq!(report.format, None);
    assert_eq!(report.lines, 3);
    let report = scan_bytes(&index, b"\n", &options(Some(LogFormat::Squid), None, 1));
    assert_eq!(report.format, Some(LogFormat::Squid));
    match scan_reader(
        &index,
        "notes.txt",
        &mut &b"\nhello world\n"[..],
        &ScanOptions::default(),
        &|_| {},
    ) {
        Err(ScanError::UnknownFormat { path }) => assert_eq!(path, "notes.txt"),
        other => panic!("{other:?}"),
    }
    match scan_path(
        &index,
        std::path::Path::new("/nonexistent/kizuna/hunt.log"),
        &ScanOptions::default(),
        &|_| {},
    ) {
        Err(ScanError::Open { path, .. }) => assert_eq!(path, "/nonexistent/kizuna/hunt.log"),
        other => panic!("{other:?}"),
    }
}

/// A reader that hands out at most `step` bytes per call, as pipes do.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let count = self.step.min(buffer.len()).min(self.bytes.len());
        buffer[..count].copy_from_slice(&self.bytes[..count]);
        self.bytes = &self.bytes[count..];
        Ok(count)
    }
}

/// A reader that fails after some bytes.
struct FailingAfter<'a> {
    bytes: &'a [u8],
}

impl Read for FailingAfter<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.bytes.is_empty() {
            return Err(std::io::Error::other("disk on fire"));
        }
        let count = buffer.len().min(self.bytes.len());
        buffer[..count].copy_from_slice(&self.bytes[..count]);
        self.bytes = &self.bytes[count..];
        Ok(count)
    }
}

#[test]
fn stdin_like_readers() {
    let index = always(&["evil.com", "1.2.3.4"]);
    let (log, expected) = long_zeek_log(50);
    let read_total = AtomicU64::new(0);
    let report = scan_reader(
        &index,
        "-",
        &mut Trickle {
            bytes: log.as_bytes(),
            step: 3,
        },
        &options(None, Some(100), 2),
        &|bytes| {
            read_total.fetch_add(bytes, Ordering::Relaxed);
        },
    )
    .unwrap();
    assert_eq!(hits(&index, &report), expected);
    assert_eq!(read_total.load(Ordering::Relaxed), log.len() as u64);

    // An error mid-stream keeps what came before; the unterminated last line is dropped.
    let cut = log.len() / 2 + 5;
    let report = scan_reader(
        &index,
        "-",
        &mut FailingAfter {
            bytes: &log.as_bytes()[..cut],
        },
        &options(None, Some(100), 2),
        &|_| {},
    )
    .unwrap();
    assert!(
        report
            .read_error
            .as_deref()
            .unwrap()
            .contains("disk on fire")
    );
    let complete_lines = log[..cut].matches('\n').count() as u64;
    assert_eq!(report.lines, complete_lines);
    let kept: Vec<_> = expected
        .iter()
        .filter(|hit| hit.0 <= complete_lines)
        .cloned()
        .collect();
    assert_eq!(hits(&index, &report), kept);
    // An error before the first byte is an error to open.
    match scan_reader(
        &index,
        "-",
        &mut FailingAfter { bytes: b"" },
        &ScanOptions::default(),
        &|_| {},
    ) {
        Err(ScanError::Open { message, .. }) => assert!(message.contains("disk on fire")),
        other => panic!("{other:?}"),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn write_file(directory: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = directory.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn compressed_files() {
    let index = always(&["evil.com", "1.2.3.4"]);
    let (log, expected) = long_zeek_log(400);
    let directory = tempfile::tempdir().unwrap();
    let (first_half, second_half) = log.split_at(log.len() / 3);
    let mut two_members = gzip(first_half.as_bytes());
    two_members.extend(gzip(second_half.as_bytes()));
    let zstd_bytes = zstd::encode_all(log.as_bytes(), 3).unwrap();
    let mut two_frames = zstd::encode_all(first_half.as_bytes(), 1).unwrap();
    two_frames.extend(zstd::encode_all(second_half.as_bytes(), 1).unwrap());
    let files = [
        ("plain.log", log.as_bytes().to_vec()),
        ("dns.log.gz", gzip(log.as_bytes())),
        // Magic bytes decide, not the name.
        ("dns.log", gzip(log.as_bytes())),
        ("two.log.gz", two_members),
        ("dns.log.zst", zstd_bytes),
        ("two.log.zst", two_frames),
    ];
    for (name, bytes) in files {
        let path = write_file(&directory, name, &bytes);
        let progressed = AtomicU64::new(0);
        let report = scan_path(&index, &path, &options(None, Some(4096), 2), &|bytes| {
            progressed.fetch_add(bytes, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(hits(&index, &report), expected, "{name}");
        assert_eq!(report.bytes, log.len() as u64, "{name}");
        assert!(report.read_error.is_none(), "{name}");
        // Progress counts the file's own bytes.
        assert_eq!(
            progressed.load(Ordering::Relaxed),
            bytes.len() as u64,
            "{name}"
        );
    }
}

#[test]
fn truncated_compressed_files_keep_the_hits_before_the_cut() {
    let index = always(&["evil.com", "1.2.3.4"]);
    // Big enough for several zstd blocks (128 KiB each): a cut inside the first one gives
    // nothing at all.
    let (log, expected) = long_zeek_log(20_000);
    let directory = tempfile::tempdir().unwrap();
    let gz = gzip(log.as_bytes());
    let zst = zstd::encode_all(log.as_bytes(), 3).unwrap();
    for (name, bytes) in [("cut.log.gz", &gz), ("cut.log.zst", &zst)] {
        let path = write_file(&directory, name, &bytes[..bytes.len() / 2]);
        let report = scan_path(&index, &path, &options(None, Some(16 << 10), 2), &|_| {}).unwrap();
        assert!(report.read_error.is_some(), "{name}");
        let found = hits(&index, &report);
        assert!(!found.is_empty(), "{name}");
        assert!(found.len() < expected.len(), "{name}");
        assert_eq!(found[..], expected[..found.len()], "{name}");
        assert!(report.lines > 100);
    }
    // Garbage after a gzip magic is an error to open.
    let path = write_file(&directory, "fake.gz", b"\x1f\x8bnot really gzip\n");
    assert!(matches!(
        scan_path(&index, &path, &ScanOptions::default(), &|_| {}),
        Err(ScanError::Open { .. })
    ));
}

const APACHE: &[u8] = include_bytes!("../data/logs/apache.head50.log");
const SQUID: &[u8] = include_bytes!("../data/logs/squid_access.head30.log");
const ZEEK_DNS: &[u8] = include_bytes!("../data/logs/zeek_dns.head50.log");
const ZEEK_DNS_JSON: &[u8] = include_bytes!("../data/logs/zeek_dns.head50.ndjson");

#[test]
fn real_samples() {
    let index = always(&[
        "83.149.9.216",
        "semicomplete.com",
        "slashdot.org",
        "4.78.243.36",
        "134.71.3.16",
        "2620:df:8000:1601::1:3:16",
    ]);
    let report = scan_bytes(&index, APACHE, &ScanOptions::default());
    let clients = report
        .hits
        .iter()
        .filter(|hit| hit.field == "client")
        .count();
    let expected_clients = std::str::from_utf8(APACHE)
        .unwrap()
        .lines()
        .filter(|line| line.starts_with("83.149.9.216 "))
        .count();
    assert_eq!(clients, expected_clients);
    assert_eq!(
        hits(&index, &report)[..2],
        [
            hit(1, "client", "83.149.9.216", "83.149.9.216"),
            hit(1, "referer.host", "semicomplete.com", "semicomplete.com"),
        ]
    );

    let report = scan_bytes(&index, SQUID, &ScanOptions::default());
    let found = hits(&index, &report);
    assert_eq!(
        found[0],
        hit(1, "url.host", "www.slashdot.org", "slashdot.org")
    );
    assert_eq!(found[1], hit(2, "url.host", "slashdot.org", "slashdot.org"));
    assert!(found.contains(&hit(5, "peer", "4.78.243.36", "4.78.243.36")));
    // `ad.doubleclick.net/adj/ostg.slashdot/…` has slashdot in its path only.
    assert!(!found.iter().any(|hit| hit.0 == 3));

    for (bytes, first_line) in [(ZEEK_DNS, 9), (ZEEK_DNS_JSON, 1)] {
        let report = scan_bytes(&index, bytes, &ScanOptions::default());
        let found = hits(&index, &report);
        assert_eq!(
            found[0],
            hit(first_line, "answers", "134.71.3.16", "134.71.3.16")
        );
        assert!(found.contains(&hit(
            first_line + 4,
            "answers",
            "2620:df:8000:1601:0:1:3:16",
            // RFC 5952: `::` never stands for a single zero group.
            "2620:df:8000:1601:0:1:3:16"
        )));
        assert_eq!(report.malformed_lines, 0);
    }
}

/// Throughput on Zeek TSV (the real DNS records repeated to ~256 MB), in MB/s: parsing
/// alone, and scanning with an empty and a 1M-IoC index on one and on every core. Run
/// with `cargo nextest run --release -p kizuna-matcher --run-ignored only -E
/// 'test(throughput)' --no-capture`.
#[test]
#[ignore = "a measurement, meaningful in release builds only"]
fn zeek_tsv_throughput() {
    use kizuna_matcher::hunt::{LineParser, LogOptions};
    use std::time::Instant;

    let sample = std::str::from_utf8(ZEEK_DNS).unwrap();
    let (header, records): (Vec<&str>, Vec<&str>) =
        sample.lines().partition(|line| line.starts_with('#'));
    let mut log = header.join("\n");
    log.push('\n');
    let mut copy = 0u64;
    while log.len() < 256 << 20 {
        for record in &records {
            // Vary the uid so that no two lines are the same.
            let (ts, rest) = record.split_once('\t').unwrap();
            let (_, rest) = rest.split_once('\t').unwrap();
            log.push_str(&format!("{ts}\tC{copy:017}\t{rest}\n"));
            copy += 1;
        }
    }
    let megabytes = log.len() as f64 / 1e6;

    // Other work shares the machine: the rate per CPU second of this process says more
    // about the code than the wall clock does.
    // The best of three runs.
    let measure = |label: &str, work: &mut dyn FnMut() -> String| {
        let mut best = (f64::MAX, f64::MAX);
        let mut detail = String::new();
        for _ in 0..3 {
            let (wall, cpu) = (Instant::now(), process_cpu_seconds());
            detail = work();
            best.0 = best.0.min(wall.elapsed().as_secs_f64());
            best.1 = best.1.min(process_cpu_seconds() - cpu);
        }
        println!(
            "{label}: {:.0} MB/s wall, {:.0} MB per CPU second ({detail})",
            megabytes / best.0,
            megabytes / best.1
        );
    };
    measure("parse only, 1 thread", &mut || {
        let mut parser = LineParser::new(LogFormat::ZeekTsv, &LogOptions::default());
        let mut values = 0u64;
        for line in log.split('\n') {
            parser.parse_line_text(line, |_, _, _| values += 1);
        }
        format!("{values} values")
    });
    measure("parse, shapeless values dropped, 1 thread", &mut || {
        let mut parser = LineParser::new(LogFormat::ZeekTsv, &LogOptions::default());
        parser.report_only_possible_iocs();
        let mut values = 0u64;
        for line in log.split('\n') {
            parser.parse_line_text(line, |_, _, _| values += 1);
        }
        format!("{values} values")
    });

    let empty = always(&[]);
    let mut builder = IocIndexBuilder::with_capacity(1_000_000);
    for number in 0..1_000_000u32 {
        let value = match number % 4 {
            0 => format!("host{number}.bad{}.example", number % 977),
            1 => format!(
                "{}.{}.{}.{}",
                11 + number % 200,
                (number >> 8) % 256,
                number % 253,
                number % 251
            ),
            2 => format!("{:032x}", u128::from(number) * 0x9e37_79b9_7f4a_7c15),
            _ => format!("http://bad{number}.example/gate.php?id={number}"),
        };
        builder
            .add(None, &value, Window::default(), number)
            .unwrap();
    }
    let million = builder.build();
    for (name, index) in [("empty index", &empty), ("1M IoCs", &million)] {
        for threads in [1, 2] {
            measure(&format!("scan, {name}, {threads} worker(s)"), &mut || {
                let report = scan_bytes(index, log.as_bytes(), &options(None, None, threads));
                format!("{} lines, {} hits", report.lines, report.hits.len())
            });
        }
    }
}

/// User and system CPU time of this process, from /proc (Linux; 0 elsewhere).
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after_name = &stat[stat.rfind(')').map_or(0, |end| end + 2)..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks: f64 =
        fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
    // USER_HZ is 100 on every Linux target.
    ticks / 100.0
}

//! The log parsers on cuts of real logs (tests/data/logs/SOURCES.md): field names, values
//! and timestamps of specific lines, and format detection.

use kizuna_matcher::hunt::{
    LineOutcome, LineParser, LogFormat, LogOptions, ValueForm, detect_format, parse_iso8601_micros,
};

const ZEEK_DNS: &str = include_str!("../data/logs/zeek_dns.head50.log");
const ZEEK_DNS_JSON: &str = include_str!("../data/logs/zeek_dns.head50.ndjson");
const ZEEK_SMTP: &str = include_str!("../data/logs/zeek_smtp.head10.log");
const ZEEK_NOTICE: &str = include_str!("../data/logs/zeek_notice.head5.log");
const ZEEK_CONN: &str = include_str!("../data/logs/zeek_conn.head20.log");
const APACHE: &str = include_str!("../data/logs/apache.head50.log");
const SQUID: &str = include_str!("../data/logs/squid_access.head30.log");

/// One parsed line: its outcome and its (field, value, form) triples.
struct Parsed {
    outcome: LineOutcome,
    values: Vec<(String, String, ValueForm)>,
}

impl Parsed {
    fn ts(&self) -> Option<i64> {
        match self.outcome {
            LineOutcome::Data { ts } => ts,
            _ => None,
        }
    }

    fn field(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(field, _, _)| field == name)
            .map(|(_, value, _)| value.as_str())
            .collect()
    }
}

/// Every line of a sample, parsed in order with one parser (as a scan does).
fn parse_all(format: LogFormat, text: &str) -> Vec<Parsed> {
    let mut parser = LineParser::new(format, &LogOptions::default());
    text.split('\n')
        .map(|line| {
            let mut values = Vec::new();
            let outcome = parser.parse_line(line.as_bytes(), |field, value, form| {
                values.push((field.to_owned(), value.to_owned(), form))
            });
            Parsed { outcome, values }
        })
        .collect()
}

fn first_line(text: &str) -> &[u8] {
    text.lines().next().unwrap().as_bytes()
}

#[test]
fn detection_on_real_samples() {
    for (text, format) in [
        (ZEEK_DNS, LogFormat::ZeekTsv),
        (ZEEK_SMTP, LogFormat::ZeekTsv),
        (ZEEK_CONN, LogFormat::ZeekTsv),
        (ZEEK_DNS_JSON, LogFormat::ZeekJson),
        (APACHE, LogFormat::Combined),
        (SQUID, LogFormat::Squid),
    ] {
        assert_eq!(detect_format(first_line(text)), Some(format));
        // Every later line of the Squid and Apache samples would be detected the same way.
        if matches!(format, LogFormat::Squid | LogFormat::Combined) {
            for line in text.lines() {
                assert_eq!(detect_format(line.as_bytes()), Some(format), "{line}");
            }
        }
    }
}

#[test]
fn zeek_dns_tsv() {
    let lines = parse_all(LogFormat::ZeekTsv, ZEEK_DNS);
    // 8 header lines, 50 records, and the empty string after the final line end.
    assert_eq!(lines.len(), 59);
    assert!(
        lines[..8]
            .iter()
            .all(|line| line.outcome == LineOutcome::Header)
    );
    assert!(
        lines[8..58]
            .iter()
            .all(|line| matches!(line.outcome, LineOutcome::Data { ts: Some(_) }))
    );
    assert_eq!(lines[58].outcome, LineOutcome::Blank);

    let first = &lines[8];
    assert_eq!(first.ts(), Some(1_521_911_720_865_716));
    assert_eq!(first.field("query"), ["ise.wrccdc.org"]);
    assert_eq!(
        first.field("answers"),
        ["ise.wrccdc.cpp.edu", "134.71.3.16"]
    );
    assert_eq!(first.field("TTLs"), ["2230.000000", "41830.000000"]);
    assert_eq!(first.field("id.orig_h"), ["10.47.1.100"]);
    assert_eq!(first.field("id.resp_h"), ["10.0.0.100"]);
    assert_eq!(first.field("rcode_name"), ["NOERROR"]);
    assert_eq!(first.field("AA"), ["F"]);
    assert!(
        first
            .values
            .iter()
            .all(|(_, _, form)| *form == ValueForm::Plain)
    );

    // Line 13 of the file: an AAAA answer.
    let aaaa = &lines[12];
    assert_eq!(aaaa.field("qtype_name"), ["AAAA"]);
    assert_eq!(
        aaaa.field("answers"),
        ["ise.wrccdc.cpp.edu", "2620:df:8000:1601:0:1:3:16"]
    );
}

#[test]
fn zeek_json_matches_the_tsv_of_the_same_traffic() {
    let json = parse_all(LogFormat::ZeekJson, ZEEK_DNS_JSON);
    let tsv = parse_all(LogFormat::ZeekTsv, ZEEK_DNS);
    assert_eq!(json.len(), 51);
    let first = &json[0];
    assert_eq!(first.ts(), Some(1_521_911_720_865_716));
    assert_eq!(first.field("_write_ts"), ["2018-03-24T17:15:20.866586Z"]);
    assert_eq!(
        first.field("answers"),
        ["ise.wrccdc.cpp.edu", "134.71.3.16"]
    );
    // Numbers and booleans are never values.
    assert!(first.field("id.orig_p").is_empty());
    assert!(first.field("TTLs").is_empty());
    assert!(first.field("AA").is_empty());
    for (json_line, tsv_line) in json[..50].iter().zip(&tsv[8..58]) {
        assert_eq!(json_line.ts(), tsv_line.ts());
        for field in ["query", "answers", "id.orig_h", "id.resp_h", "uid"] {
            assert_eq!(json_line.field(field), tsv_line.field(field), "{field}");
        }
    }
}

#[test]
fn zeek_smtp_containers_and_markers() {
    let lines = parse_all(LogFormat::ZeekTsv, ZEEK_SMTP);
    let first = &lines[8];
    assert_eq!(first.ts(), Some(1_521_911_721_789_543));
    assert_eq!(first.field("helo"), ["10.164.94.120"]);
    // vector[addr]
    assert_eq!(first.field("path"), ["10.47.8.208", "10.164.94.120"]);
    // A string column with spaces is one value.
    assert_eq!(first.field("last_reply"), ["220 2.0.0 SMTP server ready"]);
    // `-` (unset) and `(empty)` are not values.
    assert!(first.field("mailfrom").is_empty());
    assert!(first.field("rcptto").is_empty());
    assert!(first.field("fuids").is_empty());
}

#[test]
fn zeek_notice_escapes_are_not_decoded() {
    let lines = parse_all(LogFormat::ZeekTsv, ZEEK_NOTICE);
    let first = &lines[8];
    let sub = first.field("sub");
    assert_eq!(sub.len(), 1);
    assert!(sub[0].starts_with(r"unstructuredName=1315656901\\,564d"));
    assert!(sub[0].contains(r"O=VMware\\, Inc,"));
    assert_eq!(first.field("actions"), ["Notice::ACTION_LOG"]);
    assert!(first.field("email_dest").is_empty());
    assert_eq!(first.field("src"), ["10.164.94.120"]);
}

#[test]
fn zeek_conn_sets() {
    let lines = parse_all(LogFormat::ZeekTsv, ZEEK_CONN);
    let first = &lines[8];
    assert_eq!(first.ts(), Some(1_521_911_721_255_387));
    assert_eq!(first.field("id.orig_h"), ["10.164.94.120"]);
    assert_eq!(first.field("history"), ["ShADTdtr"]);
    assert!(first.field("tunnel_parents").is_empty());
    assert!(first.field("service").is_empty());
}

#[test]
fn apache_combined() {
    let lines = parse_all(LogFormat::Combined, APACHE);
    assert!(
        lines[..50]
            .iter()
            .all(|line| matches!(line.outcome, LineOutcome::Data { ts: Some(_) }))
    );
    let first = &lines[0];
    assert_eq!(first.ts(), parse_iso8601_micros("2015-05-17T10:05:03Z"));
    assert_eq!(first.field("client"), ["83.149.9.216"]);
    assert!(first.field("ident").is_empty());
    assert!(first.field("user").is_empty());
    assert_eq!(first.field("method"), ["GET"]);
    assert_eq!(
        first.field("target"),
        ["/presentations/logstash-monitorama-2013/images/kibana-search.png"]
    );
    assert_eq!(first.field("protocol"), ["HTTP/1.1"]);
    assert_eq!(first.field("status"), ["200"]);
    assert_eq!(first.field("bytes"), ["203023"]);
    assert_eq!(
        first.field("referer"),
        ["http://semicomplete.com/presentations/logstash-monitorama-2013/"]
    );
    assert_eq!(
        first.field("user_agent"),
        [
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36"
        ]
    );
}

#[test]
fn squid_native() {
    let lines = parse_all(LogFormat::Squid, SQUID);
    assert!(
        lines[..30]
            .iter()
            .all(|line| matches!(line.outcome, LineOutcome::Data { ts: Some(_) }))
    );
    let third = &lines[2];
    assert_eq!(third.ts(), Some(1_198_298_240_923_000));
    assert_eq!(third.field("elapsed"), ["522"]);
    assert_eq!(third.field("client"), ["127.0.0.1"]);
    assert_eq!(third.field("result"), ["TCP_MISS/200"]);
    assert_eq!(third.field("method"), ["GET"]);
    assert_eq!(
        third.field("url"),
        [
            "http://ad.doubleclick.net/adj/ostg.slashdot/mainpage_p30_right_peelback;pg=index;logged_in=0;tile=1;ord=5818237142682510?"
        ]
    );
    assert_eq!(third.field("user"), ["graeme"]);
    assert_eq!(third.field("hierarchy"), ["DIRECT"]);
    assert_eq!(third.field("peer"), ["209.62.176.152"]);
    assert_eq!(third.field("type"), ["application/x-javascript"]);
}

#[test]
fn a_sample_parsed_as_the_wrong_format_yields_nothing() {
    // (Squid only asks for ten whitespace-separated columns, which Apache lines have.)
    for (format, text) in [
        (LogFormat::Combined, SQUID),
        (LogFormat::ZeekJson, APACHE),
        (LogFormat::ZeekTsv, APACHE),
    ] {
        for line in parse_all(format, text) {
            assert!(
                matches!(line.outcome, LineOutcome::Malformed | LineOutcome::Blank),
                "{format:?}"
            );
        }
    }
}

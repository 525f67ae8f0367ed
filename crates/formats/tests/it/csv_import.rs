//! CSV import of real CSV feeds (`tests/data/feeds`, origin in its SOURCES.md). Expected
//! counts were computed without Kizuna by the commands quoted at each test, run in
//! `tests/data/feeds/` (see `independent-counts/`).

use kizuna_formats::csv_import::{CsvMapping, misp_regex_to_rust, parse_csv};
use serde_json::json;

use super::freetext::{TypeCounts, assert_counts, feed, shipped_tlds};

const FEODO: &str = "abusech/feodotracker-ipblocklist.csv";

#[test]
fn feodo_tracker_with_misps_default_feed_settings() {
    // MISP's default "Feodo IP Blocklist" feed: {"csv":{"value":"2","delimiter":","}}.
    // grep -v '^#' abusech/feodotracker-ipblocklist.csv | tail -n +2 | cut -d, -f2 | sort -u
    //   | grep -cE '^"([0-9]{1,3}\.){3}[0-9]{1,3}"$' → 28 (the header's "dst_ip" is no value)
    let mapping = CsvMapping::from_misp_feed_settings(&json!({
        "csv": {"value": "2", "delimiter": ","},
        "common": {"excluderegex": ""}
    }))
    .unwrap();
    let parsed = parse_csv(&feed(FEODO), &mapping, &shipped_tlds()).unwrap();
    assert_counts(FEODO, &parsed, &[("ip-dst", 28)], 0, 0);
    let first = &parsed.values[0];
    assert_eq!((first.line, first.value.as_str()), (10, "192.9.135.73"));
}

#[test]
fn feodo_tracker_detected_and_excluded() {
    // Every column typed: dates, ports, statuses and "Pikabot" are no indicators, so the
    // same 28 addresses. grep -v '^#' … | cut -d, -f2 | grep -c '^"192\.' → 1 excluded.
    let text = feed(FEODO);
    let tlds = shipped_tlds();
    let mapping = CsvMapping::detect(&text);
    assert!(mapping.value_columns.is_empty() && mapping.skip_header);
    let parsed = parse_csv(&text, &mapping, &tlds).unwrap();
    assert_counts(FEODO, &parsed, &[("ip-dst", 28)], 0, 0);

    let excluding = CsvMapping {
        exclude_regex: Some(misp_regex_to_rust("/^192\\./").unwrap()),
        ..mapping
    };
    let parsed = parse_csv(&text, &excluding, &tlds).unwrap();
    assert_counts(FEODO, &parsed, &[("ip-dst", 27)], 0, 0);
}

#[test]
fn infoblox_advisories() {
    // sed "1s/^\xef\xbb\xbf//" infoblox-csv/<file> | awk -f independent-counts/infoblox.awk tlds.txt -
    // (the "type" column holds "ip"/"ipv4", which are no MISP types, so the indicator
    // column is typed by detection; the one telfhash row is no freetext indicator) →
    //   decoy_dog_cta_20230420: ip-dst=5 hostname=1 domain=6 sha256=5 dup=0
    //   decoy_dog_cta_20230714: ip-dst=12 hostname=1 domain=9 sha256=5 dup=1 (+1 telfhash)
    //   emotet_cta_20221006: ip-dst=30 hostname=56 domain=35 dup=0
    //   evilginx_20251201: ip-dst=15 domain=67 dup=0
    //   vault_viper_20251016: ip-dst=8 url=2 hostname=14 domain=17 sha256=1 dup=0
    let tlds = shipped_tlds();
    let cases: [(&str, TypeCounts, usize); 5] = [
        (
            "infoblox-csv/decoy_dog_cta_20230420_iocs.csv",
            &[("domain", 6), ("hostname", 1), ("ip-dst", 5), ("sha256", 5)],
            0,
        ),
        (
            "infoblox-csv/decoy_dog_cta_20230714_iocs.csv",
            &[
                ("domain", 9),
                ("hostname", 1),
                ("ip-dst", 12),
                ("sha256", 5),
            ],
            1,
        ),
        (
            "infoblox-csv/emotet_cta_20221006_iocs.csv",
            &[("domain", 35), ("hostname", 56), ("ip-dst", 30)],
            0,
        ),
        (
            "infoblox-csv/evilginx_20251201.csv",
            &[("domain", 67), ("ip-dst", 15)],
            0,
        ),
        (
            "infoblox-csv/vault_viper_20251016.csv",
            &[
                ("domain", 17),
                ("hostname", 14),
                ("ip-dst", 8),
                ("sha256", 1),
                ("url", 2),
            ],
            0,
        ),
    ];
    for (name, types, duplicates) in cases {
        let text = feed(name);
        let mapping = CsvMapping::detect(&text);
        assert_eq!(
            (
                mapping.value_columns.as_slice(),
                mapping.type_column,
                mapping.skip_header
            ),
            (&[2][..], None, true),
            "{name}"
        );
        let parsed = parse_csv(&text, &mapping, &tlds).unwrap();
        assert_counts(name, &parsed, types, duplicates, 0);
    }
    let decoy = parse_csv(
        &feed("infoblox-csv/decoy_dog_cta_20230420_iocs.csv"),
        &CsvMapping::detect(&feed("infoblox-csv/decoy_dog_cta_20230420_iocs.csv")),
        &tlds,
    )
    .unwrap();
    let first = &decoy.values[0];
    assert_eq!(
        (first.line, first.attr_type.as_str(), first.value.as_str()),
        (2, "domain", "claudfront.net")
    );
}

#[test]
fn infoblox_with_misp_types_uses_the_type_column() {
    // sitting_ducks' "type" column holds only "domain" and "url", both MISP types:
    // tail -n +2 infoblox-csv/sitting_ducks_20241113_iocs.csv | cut -d, -f1,2 | sort -u
    //   | cut -d, -f1 | sort | uniq -c → 50 domain, 6 url
    // Typed by detection instead (MISP feed settings {"csv":{"value":"2"}}), the awk count is
    // url=5 hostname=5 domain=46: one "url" row is a bare host name, and "domain" rows with
    // three labels are host names.
    let name = "infoblox-csv/sitting_ducks_20241113_iocs.csv";
    let text = feed(name);
    let tlds = shipped_tlds();
    let mapping = CsvMapping::detect(&text);
    assert_eq!(
        (mapping.value_columns.as_slice(), mapping.type_column),
        (&[2][..], Some(1))
    );
    let parsed = parse_csv(&text, &mapping, &tlds).unwrap();
    assert_counts(name, &parsed, &[("domain", 50), ("url", 6)], 0, 0);
    assert!(parsed.values.iter().all(|v| !v.value.contains("[.]")));

    let detected = CsvMapping::from_misp_feed_settings(&json!({"csv": {"value": "2"}})).unwrap();
    let parsed = parse_csv(&text, &detected, &tlds).unwrap();
    assert_counts(
        name,
        &parsed,
        &[("domain", 46), ("hostname", 5), ("url", 5)],
        0,
        0,
    );
}

#[test]
fn bad_rows_are_rejected_with_their_line() {
    let mut text = feed("infoblox-csv/evilginx_20251201.csv");
    text.push_str(
        "ip,999[.]1[.]1[.]1,phishing,2025-11-08\n# trailer\n\"quoted\nip\",\"1.2.3.4:99999\",x,y\n",
    );
    let parsed = parse_csv(&text, &CsvMapping::detect(&text), &shipped_tlds()).unwrap();
    assert_counts(
        "evilginx + bad rows",
        &parsed,
        &[("domain", 67), ("ip-dst", 15)],
        0,
        2,
    );
    let lines = text.lines().count();
    let rejected: Vec<String> = parsed.rejected.iter().map(|r| r.location.clone()).collect();
    assert_eq!(
        rejected,
        [format!("line {}", lines - 3), format!("line {}", lines - 1)]
    );
}

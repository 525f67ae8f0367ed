//! Freetext import of real plain feeds (`tests/data/feeds`, origin in its SOURCES.md).
//!
//! Every expected count was computed without Kizuna, by the shell commands quoted at each
//! test, run in `tests/data/feeds/` (the awk programs and how to make `tlds.txt` are in
//! `tests/data/feeds/independent-counts/`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use kizuna_formats::freetext::{ParsedValues, TldSet, parse_freetext};
use kizuna_model::normalize::normalize_value;

/// The TLD list Kizuna ships (MISP's `tlds` warninglist), as the server passes it.
pub fn shipped_tlds() -> TldSet {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../matcher/data/warninglists/tlds/list.json");
    let text = std::fs::read_to_string(&path).expect("tlds warninglist");
    let document: serde_json::Value = serde_json::from_str(&text).expect("tlds JSON");
    let tlds = document["list"]
        .as_array()
        .expect("list")
        .iter()
        .map(|tld| tld.as_str().expect("string").to_string());
    TldSet::new(tlds)
}

pub fn feed(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/feeds")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Expected values per type.
pub type TypeCounts = &'static [(&'static str, usize)];

/// Detected values per type.
pub fn per_type(parsed: &ParsedValues) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for value in &parsed.values {
        *counts.entry(value.attr_type.as_str()).or_default() += 1;
    }
    counts
}

/// Asserts the counts per type, the duplicates and the number of rejections, and that every
/// value is already what MISP's normaliser would store.
pub fn assert_counts(
    name: &str,
    parsed: &ParsedValues,
    types: &[(&str, usize)],
    duplicates: usize,
    rejected: usize,
) {
    let expected: BTreeMap<&str, usize> = types.iter().copied().collect();
    assert_eq!(per_type(parsed), expected, "{name}: values per type");
    assert_eq!(parsed.duplicates, duplicates, "{name}: duplicates");
    assert_eq!(
        parsed.rejected.len(),
        rejected,
        "{name}: rejected {:#?}",
        parsed.rejected
    );
    for value in &parsed.values {
        let again =
            normalize_value(&value.attr_type, &value.value).map(|n| n.joined(&value.attr_type));
        assert_eq!(again.as_ref(), Ok(&value.value), "{name}: {value:?}");
        assert_eq!(
            kizuna_model::attribute_types::default_category(&value.attr_type),
            Some(value.category.as_str())
        );
    }
}

#[test]
fn ipsum_levels_are_one_address_per_line() {
    // for n in 5 6 7 8; do grep -cE '^([0-9]{1,3}\.){3}[0-9]{1,3}$' ipsum/level$n.txt;
    //   sort -u ipsum/level$n.txt | wc -l; grep -vc '^[0-9.]*$' ipsum/level$n.txt; done
    // → 1413/1413/0, 318/318/0, 70/70/0, 23/23/0 (no duplicates, nothing else)
    let tlds = shipped_tlds();
    for (level, count) in [(5, 1413), (6, 318), (7, 70), (8, 23)] {
        let name = format!("ipsum/level{level}.txt");
        let parsed = parse_freetext(&feed(&name), &tlds);
        assert_counts(&name, &parsed, &[("ip-dst", count)], 0, 0);
    }
    let level8 = parse_freetext(&feed("ipsum/level8.txt"), &tlds);
    let first = &level8.values[0];
    assert_eq!((first.line, first.value.as_str()), (1, "77.90.185.20"));
    assert_eq!(
        (first.category.as_str(), first.to_ids),
        ("Network activity", true)
    );
}

#[test]
fn eset_hash_lists() {
    // grep -cE '^[0-9a-f]{32}$' eset/badiis_samples.md5; sort -u eset/badiis_samples.md5 | wc -l
    // (likewise {40} for .sha1 and {64} for .sha256) → 82 and 82 for each list
    let tlds = shipped_tlds();
    for (name, attr_type) in [
        ("eset/badiis_samples.md5", "md5"),
        ("eset/badiis_samples.sha1", "sha1"),
        ("eset/badiis_samples.sha256", "sha256"),
    ] {
        let parsed = parse_freetext(&feed(name), &tlds);
        assert_counts(name, &parsed, &[(attr_type, 82)], 0, 0);
        assert!(
            parsed
                .values
                .iter()
                .all(|v| v.category == "Payload delivery" && v.to_ids)
        );
    }
}

#[test]
fn eset_windigo_openioc_is_read_as_free_text() {
    // awk -f independent-counts/openioc.awk tlds.txt eset/windigo_windigo.ioc
    // → ip-dst=3 sha1=68 email-src=1 url=9 domain=58 regkey=7 dup=91
    // Cross-checks: grep -oE '[0-9a-fA-F]{40}' eset/windigo_windigo.ioc | sort -u | wc -l → 68;
    // the Network/DNS and Network/URI contents are 58 distinct two-label names and 3 IPv4s.
    // The regkeys and some URLs come from the Snort rules' PCRE and references: MISP's
    // freetext rules type them so.
    let parsed = parse_freetext(&feed("eset/windigo_windigo.ioc"), &shipped_tlds());
    assert_counts(
        "windigo",
        &parsed,
        &[
            ("domain", 58),
            ("email-src", 1),
            ("ip-dst", 3),
            ("regkey", 7),
            ("sha1", 68),
            ("url", 9),
        ],
        91,
        0,
    );
    let email = parsed
        .values
        .iter()
        .find(|v| v.attr_type == "email-src")
        .unwrap();
    assert_eq!((email.line, email.value.as_str()), (5, "windigo@eset.sk"));
}

#[test]
fn maltrail_trails() {
    // awk -f independent-counts/maltrail.awk tlds.txt maltrail/<file> →
    //   malicious_ek_nuclear.txt: hostname=4 dup=0
    //   malware_apt_turla.txt: filename=2 ip-dst|port=17 url=77 hostname=158 domain=65 dup=146
    //   malware_danabot.txt: filename=12 ip-dst|port=495 url=13 hostname=61 domain=394 dup=63
    //   mass_scanner.excerpt.txt: ip-dst=2176 dup=6
    let tlds = shipped_tlds();
    let cases: [(&str, TypeCounts, usize); 4] = [
        ("maltrail/malicious_ek_nuclear.txt", &[("hostname", 4)], 0),
        (
            "maltrail/malware_apt_turla.txt",
            &[
                ("domain", 65),
                ("filename", 2),
                ("hostname", 158),
                ("ip-dst|port", 17),
                ("url", 77),
            ],
            146,
        ),
        (
            "maltrail/malware_danabot.txt",
            &[
                ("domain", 394),
                ("filename", 12),
                ("hostname", 61),
                ("ip-dst|port", 495),
                ("url", 13),
            ],
            63,
        ),
        ("maltrail/mass_scanner.excerpt.txt", &[("ip-dst", 2176)], 6),
    ];
    for (name, types, duplicates) in cases {
        let parsed = parse_freetext(&feed(name), &tlds);
        assert_counts(name, &parsed, types, duplicates, 0);
    }
}

#[test]
fn maltrail_comments_annotate_values() {
    // grep -v '^#' maltrail/mass_scanner.excerpt.txt | awk 'NF{print $1}' | grep ':' | sort -u
    //   | wc -l → 942 IPv6 (and 1234 IPv4 without ':');
    // grep -v '^#' maltrail/mass_scanner.excerpt.txt | grep -c ' # ' → 2182 commented lines
    let parsed = parse_freetext(&feed("maltrail/mass_scanner.excerpt.txt"), &shipped_tlds());
    let ipv6 = parsed
        .values
        .iter()
        .filter(|v| v.value.contains(':'))
        .count();
    assert_eq!(ipv6, 942);
    assert!(parsed.values.iter().all(|v| !v.comment.is_empty()));
    let first = &parsed.values[0];
    assert_eq!(
        (first.line, first.value.as_str(), first.comment.as_str()),
        (16, "129.82.138.12", "pinger1a.netsec.colostate.edu")
    );
    let first_v6 = parsed
        .values
        .iter()
        .find(|v| v.value.contains(':'))
        .unwrap();
    assert_eq!(
        (
            first_v6.line,
            first_v6.value.as_str(),
            first_v6.comment.as_str()
        ),
        (1260, "2400:6180:0:d0::1008:2001", "binaryedge.ninja")
    );
}

#[test]
fn bad_lines_are_rejected_and_good_ones_kept() {
    let mut text = feed("ipsum/level8.txt");
    text.push_str("999.1.1.1\n9e107d9d372bb6826bd81d3542a419d6a\n1.2.3.0/33 cve-2020-1\n");
    let parsed = parse_freetext(&text, &shipped_tlds());
    assert_counts("level8 + bad lines", &parsed, &[("ip-dst", 23)], 0, 4);
    let rejected: Vec<(&str, &str)> = parsed
        .rejected
        .iter()
        .map(|r| (r.location.as_str(), r.item.as_str()))
        .collect();
    assert_eq!(
        rejected,
        [
            ("line 24", "999.1.1.1"),
            ("line 25", "9e107d9d372bb6826bd81d3542a419d6a"),
            ("line 26", "1.2.3.0/33"),
            ("line 26", "cve-2020-1"),
        ]
    );
}

/// 60 000+ lines built from the real feeds, each round with other addresses and names.
fn sixty_thousand_lines() -> String {
    let parts = [
        feed("maltrail/mass_scanner.excerpt.txt"),
        feed("maltrail/malware_danabot.txt"),
        feed("maltrail/malware_apt_turla.txt"),
        feed("ipsum/level5.txt"),
        feed("eset/badiis_samples.sha256"),
    ];
    let mut text = String::new();
    let mut lines = 0;
    let mut round = 0u32;
    while lines < 60_000 {
        for part in &parts {
            for line in part.lines() {
                lines += 1;
                let first = line.split(['.', ' ', '/']).next().unwrap_or("");
                if round == 0 || line.starts_with('#') || line.is_empty() {
                    text.push_str(line);
                } else if let Ok(octet) = first.parse::<u32>() {
                    let octet = (octet + round) % 223 + 1;
                    text.push_str(&format!("{octet}{}", &line[first.len()..]));
                } else if line.len() == 64 {
                    text.push_str(&format!("{round:04x}{}", &line[4..]));
                } else {
                    text.push_str(&format!("r{round}-{line}"));
                }
                text.push('\n');
            }
        }
        round += 1;
    }
    text
}

#[test]
fn a_sixty_thousand_line_feed_parses_quickly() {
    let text = sixty_thousand_lines();
    let tlds = shipped_tlds();
    let start = std::time::Instant::now();
    let parsed = parse_freetext(&text, &tlds);
    let took = start.elapsed();
    // The parser's own figures, kept as a regression check; the tests above hold the
    // independently counted ones.
    assert_eq!(
        (
            parsed.values.len(),
            parsed.duplicates,
            parsed.rejected.len()
        ),
        (45_195, 2_365, 0)
    );
    // Measured at 30-70 ms in release on a loaded 2-core machine; the bound catches
    // accidental quadratic behaviour without failing on a busy CI runner.
    if !cfg!(debug_assertions) {
        assert!(took.as_millis() < 500, "took {took:?}");
    }
}

//! The shipped lists: they load, keep their ids, and match like MISP — checked against a
//! table of known answers and, list by list, against a naive scan of every entry.

use ipnet::IpNet;
use kizuna_matcher::{Category, ListType, Warninglist, WarninglistSet};
use std::net::IpAddr;
use std::path::Path;

#[test]
fn every_shipped_directory_is_embedded_with_ids_by_name() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/warninglists");
    let mut directories: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|item| item.unwrap())
        .filter(|item| item.path().join("list.json").is_file())
        .map(|item| item.file_name().to_string_lossy().into_owned())
        .collect();
    directories.sort();
    let set = WarninglistSet::defaults();
    let slugs: Vec<&str> = set.lists().iter().map(|list| list.slug.as_str()).collect();
    assert_eq!(slugs, directories);
    for (index, list) in set.lists().iter().enumerate() {
        assert_eq!(list.id as usize, index + 1);
        assert!(list.default);
        assert!(set.is_enabled(list.id), "{} starts enabled", list.name);
        assert_eq!(list.category, Category::FalsePositive);
    }
    assert_eq!(set.get(14).unwrap().name, "List of RFC 1918 CIDR blocks");
    // The same data loaded from disk gives the same numbering.
    let from_disk = WarninglistSet::load_dir(&data).unwrap();
    let names = |set: &WarninglistSet| -> Vec<String> {
        set.lists().iter().map(|list| list.name.clone()).collect()
    };
    assert_eq!(names(&from_disk), names(&set));
}

#[test]
fn sets_have_their_own_switches() {
    let first = WarninglistSet::defaults();
    let second = WarninglistSet::defaults();
    first.set_enabled(1, false);
    assert!(!first.is_enabled(1));
    assert!(second.is_enabled(1));
}

/// `(attribute type, value, [(list directory, match, value part)])`.
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str, &'static str)],
);

const CASES: &[Case] = &[
    (
        "ip-dst",
        "10.1.2.3",
        &[
            ("rfc1918", "10.0.0.0/8", "10.1.2.3"),
            ("rfc5735", "10.0.0.0/8", "10.1.2.3"),
        ],
    ),
    (
        "ip-src",
        "192.168.10.20",
        &[
            ("rfc1918", "192.168.0.0/16", "192.168.10.20"),
            ("rfc5735", "192.168.0.0/16", "192.168.10.20"),
        ],
    ),
    (
        "ip-dst|port",
        "172.16.5.4|443",
        &[
            ("rfc1918", "172.16.0.0/12", "172.16.5.4"),
            ("rfc5735", "172.16.0.0/12", "172.16.5.4"),
        ],
    ),
    (
        "ip-dst",
        "224.0.0.251",
        &[
            ("multicast", "224.0.0.0/8", "224.0.0.251"),
            ("rfc5735", "224.0.0.0/4", "224.0.0.251"),
        ],
    ),
    (
        "ip-src",
        "fe80::1ff:fe23:4567:890a",
        &[("ipv6-linklocal", "fe80::/10", "fe80::1ff:fe23:4567:890a")],
    ),
    (
        "ip-dst",
        "2001:db8::42",
        &[("rfc3849", "2001:db8::/32", "2001:db8::42")],
    ),
    ("ip-dst", "8.8.8.8", &[]),
    ("text", "10.1.2.3", &[]),
    (
        "md5",
        "d41d8cd98f00b204e9800998ecf8427e",
        &[(
            "empty-hashes",
            "d41d8cd98f00b204e9800998ecf8427e",
            "d41d8cd98f00b204e9800998ecf8427e",
        )],
    ),
    (
        "sha1",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        &[(
            "empty-hashes",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        )],
    ),
    (
        "filename|md5",
        "empty.bin|d41d8cd98f00b204e9800998ecf8427e",
        &[(
            "empty-hashes",
            "d41d8cd98f00b204e9800998ecf8427e",
            "d41d8cd98f00b204e9800998ecf8427e",
        )],
    ),
    // MISP compares string lists case-sensitively.
    ("md5", "D41D8CD98F00B204E9800998ECF8427E", &[]),
    // empty-hashes does not name malware-sample.
    (
        "malware-sample",
        "empty.bin|d41d8cd98f00b204e9800998ecf8427e",
        &[],
    ),
    (
        "url",
        "https://bit.ly/3abcdef",
        &[
            ("tranco10k", "bit.ly", "https://bit.ly/3abcdef"),
            ("url-shortener", "bit.ly", "https://bit.ly/3abcdef"),
        ],
    ),
    (
        "domain",
        "www.google.com",
        &[
            ("google", "www.google.com", "www.google.com"),
            ("tranco10k", "google.com", "www.google.com"),
        ],
    ),
    (
        "domain",
        "mail.google.com",
        &[("tranco10k", "google.com", "mail.google.com")],
    ),
    (
        "domain",
        "google.com",
        &[
            ("google", "google.com", "google.com"),
            ("tranco10k", "google.com", "google.com"),
        ],
    ),
    (
        "hostname",
        "ocsp.digicert.com",
        &[
            ("crl-hostname", "ocsp.digicert.com", "ocsp.digicert.com"),
            (
                "microsoft-office365",
                "ocsp.digicert.com",
                "ocsp.digicert.com",
            ),
            ("tranco10k", "digicert.com", "ocsp.digicert.com"),
        ],
    ),
    (
        "domain|ip",
        "microsoft.com|10.0.0.1",
        &[
            ("microsoft", "microsoft.com", "microsoft.com"),
            ("microsoft-office365", "microsoft.com", "microsoft.com"),
            ("rfc1918", "10.0.0.0/8", "10.0.0.1"),
            ("rfc5735", "10.0.0.0/8", "10.0.0.1"),
            ("tranco10k", "microsoft.com", "microsoft.com"),
        ],
    ),
    (
        "domain",
        "analyze.intezer.com",
        &[(
            "automated-malware-analysis",
            "analyze.intezer.com",
            "analyze.intezer.com",
        )],
    ),
    (
        "email-dst",
        "abuse@example.org",
        &[(
            "common-contact-emails",
            "/^(security|noc|soc|abuse)\\@.*\\..*$/i",
            "abuse@example.org",
        )],
    ),
    ("email-dst", "alice@example.org", &[]),
    // TLD entries are upper case on the list, so a lower-case TLD does not hit (as in MISP).
    ("domain", "com", &[]),
    ("domain", "COM", &[("tlds", "COM", "COM")]),
    ("domain", "kizuna-does-not-exist.example", &[]),
];

#[test]
fn known_answers_on_the_shipped_lists() {
    let set = WarninglistSet::defaults();
    for (attr_type, value, expected) in CASES {
        let got: Vec<(String, String, String)> = set
            .check(attr_type, value)
            .into_iter()
            .map(|hit| {
                (
                    set.get(hit.list_id).unwrap().slug.clone(),
                    hit.matched,
                    hit.value,
                )
            })
            .collect();
        let expected: Vec<(String, String, String)> = expected
            .iter()
            .map(|(slug, matched, part)| (slug.to_string(), matched.to_string(), part.to_string()))
            .collect();
        assert_eq!(got, expected, "{attr_type} {value}");
        assert_eq!(set.is_warned(attr_type, value), !expected.is_empty());
    }
}

#[test]
fn check_value_ignores_attribute_types() {
    let set = WarninglistSet::defaults();
    let names = |value: &str| -> Vec<String> {
        set.check_value(value)
            .into_iter()
            .map(|hit| set.get(hit.list_id).unwrap().slug.clone())
            .collect()
    };
    assert_eq!(names("10.0.0.1"), ["rfc1918", "rfc5735"]);
    assert_eq!(names("d41d8cd98f00b204e9800998ecf8427e"), ["empty-hashes"]);
    assert_eq!(names("noc@example.net"), ["common-contact-emails"]);
    // Not split, even though it looks composite.
    assert!(names("10.0.0.1|80").is_empty());
}

/// One list's entries prepared for a naive scan.
enum Naive {
    Texts(Vec<String>),
    Hosts(Vec<String>),
    Networks(Vec<IpNet>),
}

fn naive_of(list: &Warninglist) -> Naive {
    let entries = list.entries.iter().map(|entry| entry.value.as_str());
    match list.list_type {
        ListType::String | ListType::Substring => {
            Naive::Texts(entries.map(str::to_string).collect())
        }
        ListType::Hostname => Naive::Hosts(
            entries
                .map(|entry| entry.trim_matches('.').to_lowercase())
                .collect(),
        ),
        ListType::Cidr => Naive::Networks(
            entries
                .map(|entry| {
                    entry
                        .parse::<IpNet>()
                        .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                        .unwrap()
                        .trunc()
                })
                .collect(),
        ),
        ListType::Regex => unreachable!("regex lists are covered by the table"),
    }
}

/// The naive answer: a scan of every entry with the rule MISP documents.
fn naive(list: &Warninglist, prepared: &Naive, value: &str) -> Option<String> {
    match (list.list_type, prepared) {
        (ListType::String, Naive::Texts(entries)) => {
            entries.iter().find(|entry| *entry == value).cloned()
        }
        (ListType::Substring, Naive::Texts(entries)) => entries
            .iter()
            .find(|entry| value.contains(entry.as_str()))
            .cloned(),
        (_, Naive::Hosts(hosts)) => hosts
            .iter()
            .filter(|host| {
                value == host.as_str()
                    || (value.ends_with(host.as_str())
                        && value.as_bytes()[value.len() - host.len() - 1] == b'.')
            })
            .min_by_key(|host| host.len())
            .cloned(),
        (_, Naive::Networks(networks)) => {
            let address: IpAddr = value.parse().ok()?;
            networks
                .iter()
                .filter(|network| network.contains(&address))
                .min_by_key(|network| network.prefix_len())
                .map(IpNet::to_string)
        }
        _ => unreachable!(),
    }
}

/// Values near an entry: the entry, slightly changed copies, and for networks their edges
/// and the addresses just outside.
fn probes(list: &Warninglist, entry: &str) -> Vec<String> {
    match list.list_type {
        ListType::String => vec![
            entry.to_string(),
            entry.to_uppercase(),
            entry.to_lowercase(),
            format!("{entry}x"),
            entry[..entry.len() - 1].to_string(),
        ],
        ListType::Substring => vec![
            entry.to_string(),
            format!("https://{entry}/path"),
            entry[1..].to_string(),
            entry.to_uppercase(),
        ],
        ListType::Hostname => {
            let host = entry.trim_matches('.').to_lowercase();
            vec![
                host.clone(),
                format!("www.{host}"),
                format!("a.b.{host}"),
                format!("x{host}"),
                format!("{host}.evil.test"),
                host[1..].to_string(),
            ]
        }
        ListType::Cidr => {
            let network: IpNet = entry
                .parse()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .unwrap();
            let (first, last) = (network.network(), network.broadcast());
            let mut values = vec![first.to_string(), last.to_string()];
            match (first, last) {
                (IpAddr::V4(first), IpAddr::V4(last)) => {
                    values.extend(
                        u32::from(first)
                            .checked_sub(1)
                            .map(|n| IpAddr::from(n.to_be_bytes()).to_string()),
                    );
                    values.extend(
                        u32::from(last)
                            .checked_add(1)
                            .map(|n| IpAddr::from(n.to_be_bytes()).to_string()),
                    );
                    let middle = u32::from(first) / 2 + u32::from(last) / 2;
                    values.push(IpAddr::from(middle.to_be_bytes()).to_string());
                }
                (IpAddr::V6(first), IpAddr::V6(last)) => {
                    values.extend(
                        u128::from(first)
                            .checked_sub(1)
                            .map(|n| IpAddr::from(n.to_be_bytes()).to_string()),
                    );
                    values.extend(
                        u128::from(last)
                            .checked_add(1)
                            .map(|n| IpAddr::from(n.to_be_bytes()).to_string()),
                    );
                }
                _ => unreachable!(),
            }
            values
        }
        ListType::Regex => Vec::new(),
    }
}

#[test]
fn every_list_agrees_with_a_naive_scan() {
    let set = WarninglistSet::defaults();
    let mut compared = 0;
    for list in set.lists() {
        if list.list_type == ListType::Regex {
            continue;
        }
        let prepared = naive_of(list);
        // Big lists are sampled evenly; the naive scan is quadratic.
        let stride = (list.entries.len() / 150).max(1);
        for entry in list.entries.iter().step_by(stride) {
            for probe in probes(list, &entry.value) {
                assert_eq!(
                    list.find(&probe),
                    naive(list, &prepared, &probe),
                    "list {} entry {:?} probe {probe:?}",
                    list.slug,
                    entry.value
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 5_000, "only {compared} probes");
}

//! The IoC index against a brute-force oracle written from hunt-semantics.md alone:
//! values parsed with `std::net`, networks with `ipnet`, every IoC checked one by one.
//! The generators draw from small alphabets so that matches, near misses and duplicate
//! IoCs are frequent.

use ipnet::IpNet;
use kizuna_matcher::hunt::{
    IocId, IocIndex, IocIndexBuilder, IocKind, ValueForm, Window, canonical_ioc,
};
use proptest::prelude::*;
use proptest::sample::select;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

// ---------------------------------------------------------------------------------------
// The oracle.

#[derive(Clone, Debug, PartialEq)]
enum OracleIoc {
    Ip(IpAddr),
    Cidr(IpNet),
    Domain(String),
    Url(String),
    Hash(String),
}

impl OracleIoc {
    fn kind(&self) -> IocKind {
        match self {
            OracleIoc::Ip(_) => IocKind::Ip,
            OracleIoc::Cidr(_) => IocKind::Cidr,
            OracleIoc::Domain(_) => IocKind::Domain,
            OracleIoc::Url(_) => IocKind::Url,
            OracleIoc::Hash(_) => IocKind::Hash,
        }
    }

    fn canonical(&self) -> String {
        match self {
            OracleIoc::Ip(ip) => ip.to_string(),
            OracleIoc::Cidr(net) => format!("{}/{}", net.network(), net.prefix_len()),
            OracleIoc::Domain(text) | OracleIoc::Url(text) | OracleIoc::Hash(text) => text.clone(),
        }
    }
}

/// §3.1.
fn oracle_ip(text: &str) -> Option<IpAddr> {
    text.parse().ok()
}

/// §3.2, one length.
fn oracle_hash(text: &str, len: usize) -> Option<String> {
    (text.len() == len && text.chars().all(|c| c.is_ascii_hexdigit())).then(|| text.to_lowercase())
}

/// §3.3: the lower-case name without its trailing dot.
fn oracle_domain(text: &str) -> Option<String> {
    if !text.is_ascii() {
        return None;
    }
    let lower = text.to_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    };
    let last_has_letter = labels.last()?.chars().any(|c| c.is_ascii_lowercase());
    (labels.len() >= 2 && labels.iter().all(label_ok) && last_has_letter && name.len() <= 253)
        .then(|| name.to_owned())
}

fn oracle_port(text: &str) -> bool {
    (1..=5).contains(&text.len())
        && text.chars().all(|c| c.is_ascii_digit())
        && text.parse::<u32>().unwrap() <= 65535
}

/// A URL's host: as written, and the host's IP when it is `[ipv6]` or an IPv4.
#[derive(Debug)]
struct OracleHost {
    written: String,
    bracketed_ip: Option<Ipv6Addr>,
    port: Option<u32>,
}

/// `host`, `host:port`, `[ipv6]`, `[ipv6]:port`.
fn oracle_host_port(text: &str) -> Option<OracleHost> {
    if let Some(inside) = text.strip_prefix('[') {
        let (ip, after) = inside.split_once(']')?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        let port = match after {
            "" => None,
            _ => {
                let port = after.strip_prefix(':')?;
                oracle_port(port).then_some(())?;
                Some(port.parse().unwrap())
            }
        };
        return Some(OracleHost {
            written: text[1..1 + text[1..].find(']').unwrap()].to_owned(),
            bracketed_ip: Some(ip),
            port,
        });
    }
    let (host, port) = match text.split_once(':') {
        Some((host, port)) => {
            oracle_port(port).then_some(())?;
            (host, Some(port.parse().unwrap()))
        }
        None => (text, None),
    };
    if host.is_empty() || host.contains('[') || host.contains(']') {
        return None;
    }
    Some(OracleHost {
        written: host.to_owned(),
        bracketed_ip: None,
        port,
    })
}

/// §3.4: the normalised URL and its host.
fn oracle_url(text: &str) -> Option<(String, OracleHost)> {
    let (scheme, rest) = text.split_once("://")?;
    let mut scheme_chars = scheme.chars();
    if !scheme_chars.next()?.is_ascii_alphabetic()
        || !scheme_chars.all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
        || text.chars().any(|c| " \t\n\r\x0b\x0c".contains(c))
    {
        return None;
    }
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_len);
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = oracle_host_port(host_port)?;
    let without_fragment = after.split('#').next().unwrap();
    let (path, query) = without_fragment
        .split_once('?')
        .unwrap_or((without_fragment, ""));
    let scheme = scheme.to_lowercase();
    let host_text = match host.bracketed_ip {
        Some(ip) => format!("[{ip}]"),
        None => {
            let lower = host.written.to_ascii_lowercase();
            lower.strip_suffix('.').unwrap_or(&lower).to_owned()
        }
    };
    let port = match host.port {
        Some(80) if scheme == "http" => String::new(),
        Some(443) if scheme == "https" => String::new(),
        Some(port) => format!(":{port}"),
        None => String::new(),
    };
    let path = if path.is_empty() { "/" } else { path };
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    Some((format!("{scheme}://{host_text}{port}{path}{query}"), host))
}

/// §1.1 with the type, §1.2 without.
fn oracle_ioc(misp_type: Option<&str>, value: &str) -> Option<OracleIoc> {
    let value = value.trim();
    let url = |value: &str| oracle_url(value).map(|(url, _)| OracleIoc::Url(url));
    let cidr = |value: &str| {
        let (address, prefix) = value.split_once('/')?;
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        let net = IpNet::new(oracle_ip(address)?, prefix).ok()?;
        Some(OracleIoc::Cidr(net.trunc()))
    };
    let ip = |value: &str| oracle_ip(value).map(OracleIoc::Ip);
    let hash = |value: &str, len| oracle_hash(value, len).map(OracleIoc::Hash);
    let domain = |value: &str| oracle_domain(value).map(OracleIoc::Domain);
    match misp_type.unwrap_or("") {
        "" => {
            if value.contains("://") {
                url(value)
            } else {
                value
                    .contains('/')
                    .then(|| cidr(value))
                    .flatten()
                    .or_else(|| ip(value))
                    .or_else(|| hash(value, 32))
                    .or_else(|| hash(value, 40))
                    .or_else(|| hash(value, 64))
                    .or_else(|| domain(value))
            }
        }
        "ip-dst" | "ip-src" if value.contains('/') => cidr(value),
        "ip-dst" | "ip-src" => ip(value),
        "domain" | "hostname" => domain(value),
        "url" => url(value),
        "md5" => hash(value, 32),
        "sha1" => hash(value, 40),
        "sha256" => hash(value, 64),
        _ => None,
    }
}

/// §4.1.
fn ip_matches(iocs: &[OracleIoc], ip: IpAddr) -> Vec<String> {
    iocs.iter()
        .filter(|ioc| match ioc {
            OracleIoc::Ip(other) => *other == ip,
            OracleIoc::Cidr(net) => net.contains(&ip),
            _ => false,
        })
        .map(OracleIoc::canonical)
        .collect()
}

/// §4.2, with the name already in its domain form.
fn domain_matches(iocs: &[OracleIoc], name: &str) -> Vec<String> {
    iocs.iter()
        .filter(|ioc| match ioc {
            OracleIoc::Domain(domain) => name == domain || name.ends_with(&format!(".{domain}")),
            _ => false,
        })
        .map(OracleIoc::canonical)
        .collect()
}

/// A host checked as its own value: IP by §4.1, domain by §4.2.
fn host_matches(iocs: &[OracleIoc], host: &OracleHost) -> Vec<(String, Option<String>)> {
    let found = if let Some(ip) = host.bracketed_ip {
        ip_matches(iocs, IpAddr::V6(ip))
    } else if let Ok(ip) = host.written.parse::<Ipv4Addr>() {
        ip_matches(iocs, IpAddr::V4(ip))
    } else if let Some(name) = oracle_domain(&host.written) {
        domain_matches(iocs, &name)
    } else {
        Vec::new()
    };
    found
        .into_iter()
        .map(|ioc| (ioc, Some(host.written.clone())))
        .collect()
}

/// Every IoC the value matches (§4.1–4.5) with the host for `.host` matches.
fn oracle_matches(
    iocs: &[OracleIoc],
    value: &str,
    form: ValueForm,
) -> BTreeSet<(String, Option<String>)> {
    let mut found = Vec::new();
    match form {
        ValueForm::Authority => {
            if let Some(host) = oracle_host_port(value)
                && host.port.is_some()
            {
                found.extend(host_matches(iocs, &host));
            }
        }
        ValueForm::Plain => {
            if value.contains("://") {
                if let Some((url, host)) = oracle_url(value) {
                    found.extend(
                        iocs.iter()
                            .filter(|ioc| **ioc == OracleIoc::Url(url.clone()))
                            .map(|ioc| (ioc.canonical(), None)),
                    );
                    found.extend(host_matches(iocs, &host));
                }
            } else if let Some(ip) = oracle_ip(value) {
                found.extend(ip_matches(iocs, ip).into_iter().map(|ioc| (ioc, None)));
            } else if let Some(hash) = [32, 40, 64]
                .into_iter()
                .find_map(|len| oracle_hash(value, len))
            {
                found.extend(
                    iocs.iter()
                        .filter(|ioc| **ioc == OracleIoc::Hash(hash.clone()))
                        .map(|ioc| (ioc.canonical(), None)),
                );
            } else if let Some(name) = oracle_domain(value) {
                found.extend(
                    domain_matches(iocs, &name)
                        .into_iter()
                        .map(|ioc| (ioc, None)),
                );
            }
        }
    }
    found.into_iter().collect()
}

fn index_matches(
    index: &IocIndex,
    value: &str,
    form: ValueForm,
) -> BTreeSet<(String, Option<String>)> {
    let mut candidates = Vec::new();
    index.match_value(value, form, &mut candidates);
    let found: BTreeSet<_> = candidates
        .iter()
        .map(|candidate| {
            (
                index.canonical(candidate.ioc).to_owned(),
                candidate
                    .host
                    .map(|(start, end)| value[start as usize..end as usize].to_owned()),
            )
        })
        .collect();
    assert_eq!(found.len(), candidates.len(), "{value}: a candidate twice");
    found
}

// ---------------------------------------------------------------------------------------
// Generators.

fn label() -> impl Strategy<Value = String> {
    select(vec![
        "a", "b", "evil", "com", "org", "_x", "EVIL", "Com", "1", "-", "x1", "",
    ])
    .prop_map(str::to_owned)
}

fn domain_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(label(), 1..=4),
        select(vec!["", "", "", "."]),
    )
        .prop_map(|(labels, end)| format!("{}{end}", labels.join(".")))
}

fn ipv4_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        select(vec!["0", "1", "10", "255", "01", "2", "3", "256"]),
        4,
    )
    .prop_map(|octets| octets.join("."))
}

fn ipv6_text() -> impl Strategy<Value = String> {
    let addresses: Vec<u128> = vec![
        0x2001_0db8_0000_0000_0000_0000_0000_0001,
        0x2001_0db8_0000_0000_0000_0000_0000_0002,
        0x2001_0db8_0000_0001_0000_0000_0000_0001,
        0x2001_0db8_ffff_0000_0000_0000_0000_0000,
        1,
        0,
        0xffff_0102_0304,
        0xffff_0a00_0001,
    ];
    (select(addresses), 0..4u8).prop_map(|(address, spelling)| {
        let ip = Ipv6Addr::from(address);
        match spelling {
            0 => ip.to_string(),
            1 => ip.to_string().to_uppercase(),
            2 => ip
                .segments()
                .iter()
                .map(|segment| format!("{segment:04X}"))
                .collect::<Vec<_>>()
                .join(":"),
            _ => ip
                .segments()
                .iter()
                .map(|segment| format!("{segment:x}"))
                .collect::<Vec<_>>()
                .join(":"),
        }
    })
}

fn cidr_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (ipv4_text(), 0..=34u8).prop_map(|(ip, prefix)| format!("{ip}/{prefix}")),
        (
            ipv6_text(),
            select(vec![0u8, 16, 32, 33, 48, 63, 64, 96, 120, 128, 129])
        )
            .prop_map(|(ip, prefix)| format!("{ip}/{prefix}")),
    ]
}

fn hash_text() -> impl Strategy<Value = String> {
    let digests = vec![
        "d41d8cd98f00b204e9800998ecf8427e",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "d41d8cd98f00b204e9800998ecf8427ed41d8cd98f00b204e9800998ecf8427e",
        "00000000000000000000000000000000",
    ];
    (select(digests), any::<bool>(), 0..6u8).prop_map(|(digest, upper, cut)| {
        let digest = if upper {
            digest.to_uppercase()
        } else {
            digest.to_owned()
        };
        match cut {
            0 => digest[..digest.len() - 1].to_owned(),
            1 => format!("{digest}0"),
            2 => format!("{digest}g")[1..].to_owned(),
            _ => digest,
        }
    })
}

fn url_text() -> impl Strategy<Value = String> {
    let host = prop_oneof![
        domain_text(),
        ipv4_text(),
        ipv6_text().prop_map(|ip| format!("[{ip}]")),
        Just("a:b".to_owned()),
    ];
    (
        select(vec!["http", "HTTP", "https", "ftp", "h-x", "1x"]),
        select(vec!["", "", "u@", "u:p@", "a@b@"]),
        host,
        select(vec!["", "", ":80", ":443", ":8080", ":", ":65536", ":0080"]),
        select(vec!["", "/", "/a", "/A", "/a/b", "/evil.com"]),
        select(vec!["", "", "?", "?q", "?Q=1"]),
        select(vec!["", "", "#", "#f", "# x"]),
    )
        .prop_map(|(scheme, userinfo, host, port, path, query, fragment)| {
            format!("{scheme}://{userinfo}{host}{port}{path}{query}{fragment}")
        })
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => domain_text(),
        2 => ipv4_text(),
        2 => ipv6_text(),
        2 => cidr_text(),
        2 => hash_text(),
        3 => url_text(),
        1 => (domain_text(), select(vec![":443", ":", " ", ":99999", ":8080"]))
            .prop_map(|(host, tail)| format!("{host}{tail}")),
        1 => (ipv6_text(), select(vec!["]:443", "]", "]:x"]))
            .prop_map(|(ip, tail)| format!("[{ip}{tail}")),
        1 => select(vec!["-", "", " evil.com", "evil com", "x", "::", "1.2.3.4/8"])
            .prop_map(str::to_owned),
    ]
}

fn misp_type() -> impl Strategy<Value = Option<&'static str>> {
    select(vec![
        None,
        None,
        None,
        Some(""),
        Some("ip-dst"),
        Some("ip-src"),
        Some("domain"),
        Some("hostname"),
        Some("url"),
        Some("md5"),
        Some("sha1"),
        Some("sha256"),
        Some("email-src"),
    ])
}

fn window() -> impl Strategy<Value = Window> {
    let bound = prop_oneof![Just(None), (0..5i64).prop_map(Some)];
    (bound.clone(), bound).prop_map(|(first_seen, last_seen)| Window {
        first_seen,
        last_seen,
    })
}

// ---------------------------------------------------------------------------------------
// Properties.

fn check_against_oracle(
    attributes: &[(Option<&'static str>, String, Window)],
    values: &[String],
) -> Result<(), TestCaseError> {
    let mut builder = IocIndexBuilder::new();
    let mut oracle_iocs: Vec<OracleIoc> = Vec::new();
    // Per attribute: the IoC id the index gave and the oracle's canonical form.
    let mut accepted: Vec<(IocId, String, Window, u32)> = Vec::new();
    for (source, (misp_type, value, window)) in attributes.iter().enumerate() {
        let expected = oracle_ioc(*misp_type, value);
        let canonical = canonical_ioc(*misp_type, value).ok();
        prop_assert_eq!(
            &canonical,
            &expected.as_ref().map(|ioc| (ioc.kind(), ioc.canonical())),
            "IoC {:?} typed {:?}",
            value,
            misp_type
        );
        let added = builder.add(*misp_type, value, *window, source as u32);
        prop_assert_eq!(added.is_ok(), expected.is_some());
        if let (Ok(id), Some(ioc)) = (added, expected) {
            accepted.push((id, ioc.canonical(), *window, source as u32));
            if !oracle_iocs.contains(&ioc) {
                oracle_iocs.push(ioc);
            }
        }
    }
    let index = builder.build();
    prop_assert_eq!(index.len(), oracle_iocs.len());
    for (id, canonical, _, _) in &accepted {
        prop_assert_eq!(index.canonical(*id), canonical.as_str());
        // The same canonical form is the same id.
        for (other_id, other_canonical, _, _) in &accepted {
            prop_assert_eq!(id == other_id, canonical == other_canonical);
        }
    }
    for value in values {
        for form in [ValueForm::Plain, ValueForm::Authority] {
            prop_assert_eq!(
                index_matches(&index, value, form),
                oracle_matches(&oracle_iocs, value, form),
                "value {:?} read {:?}",
                value,
                form
            );
        }
    }
    for ts in [None, Some(-1), Some(0), Some(2), Some(4), Some(5)] {
        for (id, canonical, _, _) in &accepted {
            let attributes_of_ioc: Vec<_> = accepted
                .iter()
                .filter(|(_, other, _, _)| other == canonical)
                .collect();
            let active = |window: &Window| match ts {
                None => window.first_seen.is_none() && window.last_seen.is_none(),
                Some(ts) => {
                    window.first_seen.is_none_or(|first| first <= ts)
                        && window.last_seen.is_none_or(|last| ts <= last)
                }
            };
            let expected_sources: Vec<u32> = attributes_of_ioc
                .iter()
                .filter(|(_, _, window, _)| active(window))
                .map(|(_, _, _, source)| *source)
                .collect();
            let all_sources: Vec<u32> = attributes_of_ioc
                .iter()
                .map(|(_, _, _, source)| *source)
                .collect();
            prop_assert_eq!(index.sources(*id), &all_sources[..]);
            let mut sources = Vec::new();
            index.active_sources(*id, ts, &mut sources);
            prop_assert_eq!(&sources, &expected_sources, "at {:?}", ts);
            let always = attributes_of_ioc
                .iter()
                .any(|(_, _, window, _)| window.first_seen.is_none() && window.last_seen.is_none());
            prop_assert_eq!(
                index.is_active(*id, ts),
                always || !expected_sources.is_empty(),
                "at {:?}",
                ts
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(96),
        ..ProptestConfig::default()
    })]

    #[test]
    fn index_agrees_with_the_brute_force_oracle(
        attributes in prop::collection::vec((misp_type(), any_text(), window()), 0..48),
        values in prop::collection::vec(any_text(), 0..64),
    ) {
        // Every IoC text is also looked up as a value: those are the near misses that count.
        let values: Vec<String> = values
            .into_iter()
            .chain(attributes.iter().map(|(_, value, _)| value.clone()))
            .collect();
        check_against_oracle(&attributes, &values)?;
    }
}

#[test]
fn oracle_reads_the_examples_of_section_6_like_the_index() {
    let attributes: Vec<(Option<&'static str>, String, Window)> = [
        "evil.com",
        "a.evil.com",
        "1.2.3.4",
        "10.0.0.0/8",
        "10.1.0.0/16",
        "2001:db8::1",
        "2001:470:36:1250::/60",
        "http://bad.example/gate.php",
        "https://x.example/",
        "d41d8cd98f00b204e9800998ecf8427e",
    ]
    .iter()
    .map(|value| (None, (*value).to_owned(), Window::default()))
    .collect();
    let values: Vec<String> = [
        "evil.com",
        "a.b.evil.com",
        "WWW.Evil.Com.",
        "evil.com.org",
        "notevil.com",
        "foo evil.com",
        "x.a.evil.com",
        "1.2.3.45",
        "001.2.3.4",
        "::ffff:1.2.3.4",
        "10.1.2.3",
        "2001:0DB8:0000:0000:0000:0000:0000:0001",
        "2001:470:36:125f::dead",
        "HTTP://BAD.Example:80/gate.php#x",
        "http://bad.example/GATE.php",
        "http://bad.example/gate.phpx",
        "http://bad.example/gate.php?a=1",
        "https://x.example",
        "https://cdn.evil.com/a.js",
        "http://10.9.9.9:8080/x",
        "Mozilla/5.0 (+http://evil.com/bot)",
        "D41D8CD98F00B204E9800998ECF8427E",
        "d41d8cd98f00b204e9800998ecf8427ed41d8cd98f00b204e9800998ecf8427e",
        "evil.com:443",
    ]
    .iter()
    .map(|value| (*value).to_owned())
    .collect();
    check_against_oracle(&attributes, &values).unwrap();
}

// ---------------------------------------------------------------------------------------
// Scale.

/// xorshift64*: reproducible pseudo-random numbers without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A mix shaped like a large feed: domains, IPv4, a few CIDRs, URLs, hashes, IPv6.
fn random_iocs(count: usize, seed: u64) -> Vec<(&'static str, String)> {
    let mut random = Random(seed);
    let word = |random: &mut Random, len: u64| -> String {
        (0..3 + random.below(len))
            .map(|_| (b'a' + random.below(26) as u8) as char)
            .collect()
    };
    (0..count)
        .map(|_| match random.below(20) {
            0..=7 => {
                let tld = ["com", "net", "org", "ru", "xyz"][random.below(5) as usize];
                let name = word(&mut random, 10);
                if random.below(3) == 0 {
                    let sub = word(&mut random, 6);
                    ("domain", format!("{sub}.{name}.{tld}"))
                } else {
                    ("domain", format!("{name}.{tld}"))
                }
            }
            8..=12 => ("ip-dst", Ipv4Addr::from(random.next() as u32).to_string()),
            13 => {
                // Feeds list small networks: mostly /24 and longer, a few /16 to /23.
                let prefix = if random.below(8) == 0 {
                    16 + random.below(8)
                } else {
                    24 + random.below(9)
                };
                let ip = Ipv4Addr::from(random.next() as u32);
                ("ip-dst", format!("{ip}/{prefix}"))
            }
            14..=15 => {
                let host = word(&mut random, 10);
                let path = word(&mut random, 12);
                (
                    "url",
                    format!("http://{host}.com/{path}.php?id={}", random.below(1000)),
                )
            }
            16..=17 => (
                "md5",
                format!("{:016x}{:016x}", random.next(), random.next()),
            ),
            18 => (
                "sha256",
                format!(
                    "{:016x}{:016x}{:016x}{:016x}",
                    random.next(),
                    random.next(),
                    random.next(),
                    random.next()
                ),
            ),
            _ => (
                "ip-src",
                Ipv6Addr::from(u128::from(random.next()) << 64 | u128::from(random.next()))
                    .to_string(),
            ),
        })
        .collect()
}

fn build(iocs: &[(&'static str, String)]) -> IocIndex {
    let mut builder = IocIndexBuilder::with_capacity(iocs.len());
    for (source, (misp_type, value)) in iocs.iter().enumerate() {
        builder
            .add(Some(misp_type), value, Window::default(), source as u32)
            .unwrap();
    }
    builder.build()
}

#[test]
fn two_hundred_thousand_iocs_build_without_quadratic_cost() {
    let iocs = random_iocs(200_000, 0x5eed);
    let started = Instant::now();
    let index = build(&iocs);
    let elapsed = started.elapsed();
    assert!(index.len() > 190_000, "{}", index.len());
    assert!(elapsed.as_secs() < 10, "{elapsed:?}");
    // Every IoC finds itself.
    let mut candidates = Vec::new();
    for (misp_type, value) in iocs.iter().step_by(97) {
        candidates.clear();
        // A CIDR as a log value has no shape; its network address is inside it.
        let address = match *misp_type {
            "ip-dst" => value.split('/').next().unwrap(),
            _ => value,
        };
        index.match_value(address, ValueForm::Plain, &mut candidates);
        let canonical = canonical_ioc(Some(misp_type), value).unwrap().1;
        assert!(
            candidates
                .iter()
                .any(|candidate| index.canonical(candidate.ioc) == canonical),
            "{value}"
        );
    }
}

/// Values like the columns of Zeek conn/dns/http logs, by kind; nearly all match nothing.
fn log_values(per_kind: usize) -> Vec<(&'static str, Vec<String>)> {
    let mut random = Random(0xfeed);
    let mut kind = |name, make: &mut dyn FnMut(&mut Random) -> String| {
        (name, (0..per_kind).map(|_| make(&mut random)).collect())
    };
    vec![
        kind("epoch", &mut |r| {
            format!("1331901{:03}.{:06}", r.below(1000), r.below(1_000_000))
        }),
        kind("uid", &mut |r| {
            format!("C{:x}", r.next()).chars().take(18).collect()
        }),
        kind("private ipv4", &mut |r| {
            format!("192.168.{}.{}", r.below(256), r.below(256))
        }),
        kind("random ipv4", &mut |r| {
            Ipv4Addr::from(r.next() as u32).to_string()
        }),
        kind("port", &mut |r| r.below(65536).to_string()),
        kind("word", &mut |r| {
            ["tcp", "udp", "dns", "http", "-", "T", "F", "(empty)"][r.below(8) as usize].to_owned()
        }),
        kind("domain", &mut |r| {
            format!("www.site{}.example.com", r.below(100_000))
        }),
        kind("domain .net", &mut |r| {
            format!("cdn{}.static.example.net", r.below(1000))
        }),
        kind("duration", &mut |r| {
            format!("{:.6}", r.below(100_000) as f64 / 1000.0)
        }),
        kind("uri", &mut |_| "/index.php?id=123&x=y".to_owned()),
        kind("user agent", &mut |_| {
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36".to_owned()
        }),
        kind("url", &mut |r| {
            format!("http://www.site{}.example.com/a/b.js?x=1", r.below(1000))
        }),
        kind("ipv6", &mut |r| {
            Ipv6Addr::from(u128::from(r.next()) << 64).to_string()
        }),
        kind("md5", &mut |r| {
            format!("{:016x}{:016x}", r.next(), r.next())
        }),
    ]
}

/// `cargo test --release -p kizuna-matcher -- --ignored --nocapture measure`: build
/// time of 1M IoCs and the cost per value of each kind of log value.
#[test]
#[ignore = "a measurement, run in release"]
fn measure_a_million_iocs() {
    let iocs = random_iocs(1_000_000, 0x1eaf);
    let started = Instant::now();
    let index = build(&iocs);
    println!(
        "built {} IoCs ({} distinct) in {:?}",
        iocs.len(),
        index.len(),
        started.elapsed()
    );
    let mut candidates = Vec::new();
    let rounds = 16;
    for (kind, values) in log_values(1 << 15) {
        candidates.clear();
        let started = Instant::now();
        let cpu_started = thread_cpu_nanos();
        for _ in 0..rounds {
            for value in &values {
                index.match_value(value, ValueForm::Plain, &mut candidates);
            }
        }
        // On a busy machine the thread's CPU time is the honest measure.
        let nanos = match (cpu_started, thread_cpu_nanos()) {
            (Some(start), Some(end)) => (end - start) as f64,
            _ => started.elapsed().as_nanos() as f64,
        };
        let per_value = nanos / (rounds * values.len()) as f64;
        println!(
            "{kind:>14}: {per_value:6.1} ns per value, {} candidates",
            candidates.len() / rounds
        );
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status.lines().filter(|line| line.starts_with("VmHWM")) {
            println!("{line}");
        }
    }
}

/// Nanoseconds this thread has run on a CPU (Linux).
fn thread_cpu_nanos() -> Option<u64> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    schedstat.split_whitespace().next()?.parse().ok()
}

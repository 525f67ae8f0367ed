//! One MISP warninglist: its `list.json` read and checked, and its entries compiled into
//! the lookup structure its type calls for.
//!
//! Matching follows MISP's `Warninglist::checkValue` (misp-reference §7.2):
//! - `string`: the value equals an entry, case-sensitively;
//! - `substring`: an entry occurs in the value, case-sensitively (first entry in list order);
//! - `hostname`: the value's host, or one of its parent domains, is an entry (entries are
//!   lower-cased and stripped of outer dots, as MISP does);
//! - `cidr`: the value is an IPv4/IPv6 address, or a network, inside an entry; the least
//!   specific containing entry is reported as `network/prefix`;
//! - `regex`: a PCRE entry (`/…/flags`) matches somewhere in the value.
//!
//! Two deliberate differences from MISP, both on `hostname` lists: the value's host is
//! lower-cased (host names are case-insensitive) and a URL's user info and port are dropped
//! before the lookup (MISP compares `host:8080` as is and never matches it).

use crate::pcre;
use aho_corasick::AhoCorasick;
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How a list's entries are compared with values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListType {
    String,
    Substring,
    Hostname,
    Cidr,
    Regex,
}

impl ListType {
    pub fn as_str(self) -> &'static str {
        match self {
            ListType::String => "string",
            ListType::Substring => "substring",
            ListType::Hostname => "hostname",
            ListType::Cidr => "cidr",
            ListType::Regex => "regex",
        }
    }

    pub fn parse(text: &str) -> Option<ListType> {
        Some(match text {
            "string" => ListType::String,
            "substring" => ListType::Substring,
            "hostname" => ListType::Hostname,
            "cidr" => ListType::Cidr,
            "regex" => ListType::Regex,
            _ => return None,
        })
    }
}

/// What a hit means: a likely false positive (MISP's default) or a known identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Category {
    #[default]
    FalsePositive,
    Known,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::FalsePositive => "false_positive",
            Category::Known => "known",
        }
    }

    pub fn parse(text: &str) -> Option<Category> {
        match text {
            "false_positive" => Some(Category::FalsePositive),
            "known" => Some(Category::Known),
            _ => None,
        }
    }
}

/// One value of a list, with the comment MISP lists may carry (`list` given as an object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub value: String,
    pub comment: Option<String>,
}

/// The attribute type that makes a list apply to every attribute type.
pub const ALL_TYPES: &str = "ALL";

/// A list that could not be read or compiled; the text names the list and the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// Where the list came from: a file path, or `embedded:<directory name>`.
    pub origin: String,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "warninglist {}: {}", self.origin, self.message)
    }
}

impl std::error::Error for LoadError {}

/// A parsed and compiled warninglist.
pub struct Warninglist {
    /// MISP's numeric id, given by the set the list belongs to.
    pub id: u32,
    /// The directory the list came from (`rfc1918` for `rfc1918/list.json`).
    pub slug: String,
    /// Unique within a set; what MISP's toggleEnable matches names against.
    pub name: String,
    pub description: String,
    pub version: i64,
    pub list_type: ListType,
    pub category: Category,
    /// Attribute types the list applies to; [`ALL_TYPES`] means every type.
    pub matching_attributes: Vec<String>,
    /// Non-empty entries in list order.
    pub entries: Vec<Entry>,
    /// Shipped with Kizuna (MISP's `default`), as opposed to read from the operator's
    /// directory.
    pub default: bool,
    matcher: Matcher,
}

impl fmt::Debug for Warninglist {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Warninglist")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("name", &self.name)
            .field("list_type", &self.list_type)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// A value found on a list: what the list holds (`matched`, MISP's `match`) and the entry
/// it came from (for the entry's comment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListMatch {
    pub matched: String,
    pub entry: usize,
}

/// What a compiled matcher finds: the entry, and the form MISP reports when that is not the
/// entry's own text (a normalised host name, a canonical network).
struct Found {
    entry: usize,
    reported: Option<String>,
}

impl Warninglist {
    /// Reads a MISP `list.json` text. `origin` names the source in errors; `slug` is the
    /// directory name. The id is 0 until a set numbers the list.
    pub fn parse(slug: &str, text: &str, origin: &str, default: bool) -> Result<Self, LoadError> {
        let fail = |message: String| LoadError {
            origin: origin.to_string(),
            message,
        };
        let document: Value = serde_json::from_str(text)
            .map_err(|error| fail(format!("list.json is not valid JSON: {error}")))?;
        let Value::Object(fields) = document else {
            return Err(fail("list.json must hold a JSON object".into()));
        };
        let text_field = |key: &str| -> Result<String, LoadError> {
            match fields.get(key) {
                Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
                Some(Value::String(_)) | None => Err(fail(format!("`{key}` is missing or empty"))),
                Some(_) => Err(fail(format!("`{key}` must be a string"))),
            }
        };
        let name = text_field("name")?;
        let named = |message: String| fail(format!("({name}) {message}"));
        let description = text_field("description").map_err(|error| named(error.message))?;
        // MISP's updater assumes version 1 and type `string` when they are absent, and takes
        // the first type when several are given.
        let version = match fields.get("version") {
            None => 1,
            Some(Value::Number(number)) => number
                .as_i64()
                .ok_or_else(|| named("`version` must be an integer".into()))?,
            Some(Value::String(text)) => text
                .trim()
                .parse()
                .map_err(|_| named("`version` must be an integer".into()))?,
            Some(_) => return Err(named("`version` must be an integer".into())),
        };
        let type_text = match fields.get("type") {
            None => "string".to_string(),
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(types)) => match types.first() {
                Some(Value::String(text)) => text.clone(),
                _ => return Err(named("`type` must be a string".into())),
            },
            Some(_) => return Err(named("`type` must be a string".into())),
        };
        let list_type = ListType::parse(&type_text).ok_or_else(|| {
            named(format!(
                "`type` {type_text:?} is not one of string, substring, hostname, cidr, regex"
            ))
        })?;
        let category = match fields.get("category") {
            None | Some(Value::Null) => Category::FalsePositive,
            Some(Value::String(text)) => Category::parse(text).ok_or_else(|| {
                named(format!(
                    "`category` {text:?} is not one of false_positive, known"
                ))
            })?,
            Some(_) => return Err(named("`category` must be a string".into())),
        };
        let mut matching_attributes = match fields.get("matching_attributes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(types)) => types
                .iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text.clone()),
                    _ => Err(named("`matching_attributes` must hold strings".into())),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(named("`matching_attributes` must be a list".into())),
        };
        if matching_attributes.is_empty() {
            matching_attributes.push(ALL_TYPES.to_string());
        }
        let entries = read_entries(fields.get("list")).map_err(named)?;
        if entries.is_empty() {
            return Err(named("`list` has no entries".into()));
        }
        let matcher = Matcher::compile(list_type, &entries).map_err(named)?;
        Ok(Warninglist {
            id: 0,
            slug: slug.to_string(),
            name,
            description,
            version,
            list_type,
            category,
            matching_attributes,
            entries,
            default,
            matcher,
        })
    }

    /// Whether the list is consulted for attributes of `attr_type`.
    pub fn applies_to(&self, attr_type: &str) -> bool {
        self.matching_attributes
            .iter()
            .any(|listed| listed == ALL_TYPES || listed == attr_type)
    }

    pub(crate) fn applies_to_every_type(&self) -> bool {
        self.matching_attributes
            .iter()
            .any(|listed| listed == ALL_TYPES)
    }

    /// What of `value` the list holds, as MISP reports it (`match`), or None.
    pub fn find(&self, value: &str) -> Option<String> {
        self.find_entry(value).map(|found| found.matched)
    }

    pub(crate) fn find_entry(&self, value: &str) -> Option<ListMatch> {
        let found = self.matcher.find(value)?;
        Some(ListMatch {
            matched: found
                .reported
                .unwrap_or_else(|| self.entries[found.entry].value.clone()),
            entry: found.entry,
        })
    }
}

/// `list` as an array of values or as an object of value → comment (MISP accepts both);
/// empty values are skipped, as MISP's importer does.
fn read_entries(list: Option<&Value>) -> Result<Vec<Entry>, String> {
    let keep = |value: &str| !value.is_empty();
    match list {
        Some(Value::Array(values)) => values
            .iter()
            .enumerate()
            .filter_map(|(index, item)| match item {
                Value::String(text) if keep(text) => Some(Ok(Entry {
                    value: text.clone(),
                    comment: None,
                })),
                Value::String(_) => None,
                _ => Some(Err(format!("`list` entry {} is not a string", index + 1))),
            })
            .collect(),
        Some(Value::Object(commented)) => commented
            .iter()
            .filter(|(value, _)| keep(value))
            .map(|(value, comment)| match comment {
                Value::String(text) => Ok(Entry {
                    value: value.clone(),
                    comment: (!text.is_empty()).then(|| text.clone()),
                }),
                Value::Null => Ok(Entry {
                    value: value.clone(),
                    comment: None,
                }),
                _ => Err(format!(
                    "the comment of `list` entry {value:?} is not a string"
                )),
            })
            .collect(),
        None => Err("`list` is missing".into()),
        Some(_) => Err("`list` must be a list of strings".into()),
    }
}

enum Matcher {
    /// Entry value → entry index.
    Exact(HashMap<String, usize>),
    /// Pattern id → entry index (patterns are the entries in list order).
    Substring(AhoCorasick),
    /// Normalised host name → entry index.
    Hostname(HashMap<String, usize>),
    Cidr(CidrTable),
    Regex(Vec<Regex>),
}

impl Matcher {
    fn compile(list_type: ListType, entries: &[Entry]) -> Result<Matcher, String> {
        Ok(match list_type {
            ListType::String => {
                Matcher::Exact(first_index_by(entries, |value| Some(value.to_string())))
            }
            ListType::Substring => Matcher::Substring(
                AhoCorasick::new(entries.iter().map(|entry| entry.value.as_str()))
                    .map_err(|error| format!("cannot build the substring matcher: {error}"))?,
            ),
            ListType::Hostname => Matcher::Hostname(first_index_by(entries, |value| {
                let host = value.trim_matches('.').to_lowercase();
                (!host.is_empty()).then_some(host)
            })),
            ListType::Cidr => Matcher::Cidr(CidrTable::build(entries)?),
            ListType::Regex => Matcher::Regex(
                entries
                    .iter()
                    .enumerate()
                    .map(|(index, entry)| {
                        pcre::compile(&entry.value).map_err(|reason| {
                            format!(
                                "entry {} `{}` is not a valid regular expression: {reason}",
                                index + 1,
                                entry.value
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    fn find(&self, value: &str) -> Option<Found> {
        let entry_itself = |entry: usize| Found {
            entry,
            reported: None,
        };
        match self {
            Matcher::Exact(values) => values.get(value).copied().map(entry_itself),
            Matcher::Substring(automaton) => automaton
                .find_overlapping_iter(value)
                .map(|found| found.pattern().as_usize())
                .min()
                .map(entry_itself),
            Matcher::Hostname(hosts) => {
                let host = host_of(value);
                parent_domains(&host).find_map(|candidate| {
                    hosts.get(candidate).map(|&entry| Found {
                        entry,
                        reported: Some(candidate.to_string()),
                    })
                })
            }
            Matcher::Cidr(table) => table.find(value),
            Matcher::Regex(patterns) => patterns
                .iter()
                .position(|pattern| pattern.is_match(value))
                .map(entry_itself),
        }
    }
}

/// The first entry index for each key `normalise` gives (later duplicates are ignored).
fn first_index_by(
    entries: &[Entry],
    normalise: impl Fn(&str) -> Option<String>,
) -> HashMap<String, usize> {
    let mut index = HashMap::with_capacity(entries.len());
    for (position, entry) in entries.iter().enumerate() {
        if let Some(key) = normalise(&entry.value) {
            index.entry(key).or_insert(position);
        }
    }
    index
}

/// The host a `hostname` list looks up: a URL's host, or the value up to its first `/`;
/// without port or trailing dots, lower-cased.
pub(crate) fn host_of(value: &str) -> String {
    let authority = match value.find("//") {
        // `scheme://host/…` or `//host/…`: the authority follows the slashes.
        Some(slashes) if !value[..slashes].contains('/') => {
            let after = &value[slashes + 2..];
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            let authority = &after[..end];
            authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host)
        }
        _ => value.split(['/', '?', '#']).next().unwrap_or(""),
    };
    let host = if authority.starts_with('[') {
        authority
            .find(']')
            .map_or(authority, |end| &authority[..=end])
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host.trim_end_matches('.').to_lowercase()
}

/// `a.b.c`, then `b.c`, then `c`, shortest first as MISP walks them: `c`, `b.c`, `a.b.c`.
fn parent_domains(host: &str) -> impl Iterator<Item = &str> {
    host.rmatch_indices('.')
        .map(move |(dot, _)| &host[dot + 1..])
        .chain(std::iter::once(host))
        .filter(|candidate| !candidate.is_empty())
}

/// Networks grouped by prefix length, each group a set of masked network addresses, so a
/// lookup is one hash probe per distinct prefix length (MISP's CidrTool does the same for
/// IPv4).
struct CidrTable {
    v4: Vec<(u8, HashMap<u32, usize>)>,
    v6: Vec<(u8, HashMap<u128, usize>)>,
}

impl CidrTable {
    fn build(entries: &[Entry]) -> Result<CidrTable, String> {
        let mut v4: HashMap<u8, HashMap<u32, usize>> = HashMap::new();
        let mut v6: HashMap<u8, HashMap<u128, usize>> = HashMap::new();
        for (position, entry) in entries.iter().enumerate() {
            let invalid = || {
                format!(
                    "entry {} `{}` is not an IP address or CIDR block",
                    position + 1,
                    entry.value
                )
            };
            let (address, prefix) = parse_network(entry.value.trim()).ok_or_else(invalid)?;
            match address {
                IpAddr::V4(address) => {
                    let prefix = prefix.unwrap_or(32);
                    v4.entry(prefix)
                        .or_default()
                        .entry(mask_v4(address, prefix))
                        .or_insert(position);
                }
                IpAddr::V6(address) => {
                    let prefix = prefix.unwrap_or(128);
                    v6.entry(prefix)
                        .or_default()
                        .entry(mask_v6(address, prefix))
                        .or_insert(position);
                }
            }
        }
        let mut v4: Vec<_> = v4.into_iter().collect();
        let mut v6: Vec<_> = v6.into_iter().collect();
        v4.sort_by_key(|(prefix, _)| *prefix);
        v6.sort_by_key(|(prefix, _)| *prefix);
        Ok(CidrTable { v4, v6 })
    }

    /// The least specific entry containing the address or network `value`. A network value
    /// only matches entries at least as wide as itself (MISP compares the masks).
    fn find(&self, value: &str) -> Option<Found> {
        let (address, value_prefix) = parse_network(value)?;
        match address {
            IpAddr::V4(address) => self
                .v4
                .iter()
                .take_while(|(prefix, _)| value_prefix.is_none_or(|given| given >= *prefix))
                .find_map(|(prefix, networks)| {
                    let network = mask_v4(address, *prefix);
                    networks.get(&network).map(|&entry| Found {
                        entry,
                        reported: Some(format!("{}/{prefix}", Ipv4Addr::from(network))),
                    })
                }),
            IpAddr::V6(address) => self
                .v6
                .iter()
                .take_while(|(prefix, _)| value_prefix.is_none_or(|given| given >= *prefix))
                .find_map(|(prefix, networks)| {
                    let network = mask_v6(address, *prefix);
                    networks.get(&network).map(|&entry| Found {
                        entry,
                        reported: Some(format!("{}/{prefix}", Ipv6Addr::from(network))),
                    })
                }),
        }
    }
}

/// `address` or `address/prefix` with a prefix that fits the address family.
fn parse_network(text: &str) -> Option<(IpAddr, Option<u8>)> {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address: IpAddr = address.parse().ok()?;
    let widest = if address.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => None,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            let prefix: u8 = digits.parse().ok()?;
            if prefix > widest {
                return None;
            }
            Some(prefix)
        }
        Some(_) => return None,
    };
    Some((address, prefix))
}

fn mask_v4(address: Ipv4Addr, prefix: u8) -> u32 {
    let bits = u32::from(address);
    if prefix == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask_v6(address: Ipv6Addr, prefix: u8) -> u128 {
    let bits = u128::from(address);
    if prefix == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(prefix)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(list_type: &str, entries: Value) -> Warninglist {
        let text = json!({
            "name": format!("test {list_type}"),
            "description": "for tests",
            "version": 1,
            "type": list_type,
            "list": entries,
            "matching_attributes": ["ip-src", "domain"],
        })
        .to_string();
        Warninglist::parse("test", &text, "test", false).unwrap()
    }

    fn parse_error(document: Value) -> String {
        Warninglist::parse(
            "broken",
            &document.to_string(),
            "lists/broken/list.json",
            false,
        )
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn string_lists_are_exact_and_case_sensitive() {
        let hashes = list("string", json!(["d41d8cd98f00b204e9800998ecf8427e", "COM"]));
        assert_eq!(
            hashes.find("d41d8cd98f00b204e9800998ecf8427e").as_deref(),
            Some("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert_eq!(hashes.find("D41D8CD98F00B204E9800998ECF8427E"), None);
        assert_eq!(hashes.find("com"), None);
        assert_eq!(hashes.find("COM").as_deref(), Some("COM"));
        assert_eq!(hashes.find("d41d8cd98f00b204e9800998ecf8427"), None);
    }

    #[test]
    fn substring_lists_report_the_first_entry_in_list_order() {
        let vendors = list("substring", json!(["any.run", "app.any.run", "virustotal"]));
        assert_eq!(
            vendors.find("https://app.any.run/tasks/1").as_deref(),
            Some("any.run")
        );
        assert_eq!(vendors.find_entry("app.any.run").unwrap().entry, 0);
        assert_eq!(vendors.find("VIRUSTOTAL.com"), None);
        assert_eq!(vendors.find("example.org"), None);
    }

    #[test]
    fn hostname_lists_match_parents_and_url_hosts() {
        let hosts = list("hostname", json!(["bit.ly", ".Google.com.", "localhost"]));
        for (value, expected) in [
            ("bit.ly", Some("bit.ly")),
            ("x.bit.ly", Some("bit.ly")),
            ("BIT.LY.", Some("bit.ly")),
            ("https://bit.ly/abc", Some("bit.ly")),
            (
                "http://user:pw@www.google.com:8080/search?q=1",
                Some("google.com"),
            ),
            ("//maps.google.com/x", Some("google.com")),
            ("bit.ly/abc", Some("bit.ly")),
            ("bit.ly:443", Some("bit.ly")),
            ("localhost", Some("localhost")),
            ("notbit.ly", None),
            ("bit.ly.evil.test", None),
            ("google.com.evil.test", None),
            ("", None),
            ("http:///path", None),
        ] {
            assert_eq!(hosts.find(value).as_deref(), expected, "value {value:?}");
        }
    }

    #[test]
    fn host_extraction() {
        assert_eq!(host_of("Example.COM"), "example.com");
        assert_eq!(host_of("https://a.b.example/x?y#z"), "a.b.example");
        assert_eq!(host_of("ftp://me@files.example:21"), "files.example");
        assert_eq!(host_of("http://[2001:db8::1]:80/"), "[2001:db8::1]");
        assert_eq!(host_of("example.com/a//b"), "example.com");
        assert_eq!(host_of("user@example.com"), "user@example.com");
    }

    #[test]
    fn cidr_lists_contain_addresses_and_networks() {
        let networks = list(
            "cidr",
            json!([
                "10.0.0.0/8",
                "10.1.0.0/16",
                "192.168.1.7",
                "FE80::/10",
                "2001:db8::1"
            ]),
        );
        for (value, expected) in [
            ("10.1.2.3", Some("10.0.0.0/8")),
            ("10.255.255.255", Some("10.0.0.0/8")),
            ("11.0.0.1", None),
            ("192.168.1.7", Some("192.168.1.7/32")),
            ("192.168.1.8", None),
            ("10.0.0.0/16", Some("10.0.0.0/8")),
            ("10.0.0.0/8", Some("10.0.0.0/8")),
            ("10.0.0.0/7", None),
            ("10.0.0.0/33", None),
            ("10.0.0.0/x", None),
            ("fe80::1", Some("fe80::/10")),
            ("FEBF:ffff::1", Some("fe80::/10")),
            ("fec0::1", None),
            ("2001:db8::1", Some("2001:db8::1/128")),
            ("2001:db8::2", None),
            ("::ffff:10.0.0.1", None),
            ("10.0.0.1:80", None),
            ("example.com", None),
            ("", None),
        ] {
            assert_eq!(networks.find(value).as_deref(), expected, "value {value:?}");
        }
    }

    #[test]
    fn cidr_entries_with_host_bits_still_match() {
        let sloppy = list("cidr", json!(["10.1.2.3/8"]));
        assert_eq!(sloppy.find("10.9.9.9").as_deref(), Some("10.0.0.0/8"));
    }

    #[test]
    fn regex_lists_use_pcre_syntax() {
        let contacts = list("regex", json!([r"/^(security|noc|soc|abuse)\@.*\..*$/i"]));
        assert_eq!(
            contacts.find("Abuse@example.org").as_deref(),
            Some(r"/^(security|noc|soc|abuse)\@.*\..*$/i")
        );
        assert_eq!(contacts.find("alice@example.org"), None);
    }

    #[test]
    fn missing_fields_take_misp_defaults() {
        let text = json!({"name": "n", "description": "d", "list": ["x"]}).to_string();
        let parsed = Warninglist::parse("n", &text, "n", true).unwrap();
        assert_eq!(parsed.version, 1);
        assert_eq!(parsed.list_type, ListType::String);
        assert_eq!(parsed.category, Category::FalsePositive);
        assert_eq!(parsed.matching_attributes, ["ALL"]);
        assert!(parsed.applies_to("anything"));
        let typed = json!({"name": "n", "description": "d", "type": ["cidr", "string"],
                           "version": "20", "category": "known", "list": ["10.0.0.0/8", ""],
                           "matching_attributes": []})
        .to_string();
        let parsed = Warninglist::parse("n", &typed, "n", true).unwrap();
        assert_eq!(parsed.list_type, ListType::Cidr);
        assert_eq!(parsed.version, 20);
        assert_eq!(parsed.category, Category::Known);
        assert_eq!(parsed.entries.len(), 1);
    }

    #[test]
    fn lists_with_comments() {
        let text = json!({"name": "n", "description": "d", "type": "string",
                          "list": {"a": "first letter", "b": null, "": "skipped"}})
        .to_string();
        let parsed = Warninglist::parse("n", &text, "n", false).unwrap();
        assert_eq!(
            parsed.entries,
            [
                Entry {
                    value: "a".into(),
                    comment: Some("first letter".into())
                },
                Entry {
                    value: "b".into(),
                    comment: None
                }
            ]
        );
    }

    #[test]
    fn load_errors_name_the_list_and_the_problem() {
        let base = json!({"name": "Broken list", "description": "d", "type": "regex",
                          "list": ["/ok/", "/(unclosed/"]});
        let message = parse_error(base.clone());
        assert!(message.contains("lists/broken/list.json"), "{message}");
        assert!(message.contains("Broken list"), "{message}");
        assert!(message.contains("entry 2 `/(unclosed/`"), "{message}");

        let mut cidr = base.clone();
        cidr["type"] = json!("cidr");
        cidr["list"] = json!(["10.0.0.0/8", "10.0.0.0/40"]);
        assert!(parse_error(cidr).contains("entry 2 `10.0.0.0/40` is not an IP address"));

        let mut bad_type = base.clone();
        bad_type["type"] = json!("glob");
        assert!(parse_error(bad_type).contains("`type` \"glob\""));

        let mut bad_category = base.clone();
        bad_category["category"] = json!("noise");
        assert!(parse_error(bad_category).contains("`category`"));

        let mut empty = base.clone();
        empty["list"] = json!([""]);
        assert!(parse_error(empty).contains("no entries"));

        let mut no_name = base;
        no_name.as_object_mut().unwrap().remove("name");
        assert!(parse_error(no_name).contains("`name` is missing"));

        assert!(
            Warninglist::parse("x", "{", "x", false)
                .unwrap_err()
                .message
                .contains("not valid JSON")
        );
    }
}

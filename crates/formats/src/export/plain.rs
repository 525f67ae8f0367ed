//! Plain one-value-per-line exports: `text`, `hashes`, `hosts`, `cache` and the `edl`
//! lists firewalls and proxies poll (misp-reference §8, stix-taxii-reference D.5).
//!
//! All of them write LF line ends, no byte-order mark, and each distinct line once, in
//! the order the values first arrive. `text`, `hashes` and `cache` end with a single
//! newline when they have nothing to list, as MISP's do.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use kizuna_model::Attribute;
use kizuna_model::attribute_types::is_composite;

use super::{
    CacheHash, EdlList, ExportItem, ExportWriter, Network, Skipped, UrlParts, dns_name, thousands,
};

const PLAIN_TEXT: &str = "text/plain; charset=UTF-8";

/// The MISP `value`, borrowed when it is a single field.
fn full_value(attribute: &Attribute) -> Cow<'_, str> {
    if is_composite(&attribute.attr_type) {
        Cow::Owned(attribute.value())
    } else {
        Cow::Borrowed(&attribute.value1)
    }
}

/// The lines a writer has written, remembered as 128-bit digests: 16 bytes per distinct
/// line whatever its length, and no copy of it, so a million-value export neither holds its
/// values twice nor rehashes strings as the set grows. The digest is two SipHash-1-3 values
/// under this process's random keys: a collision (a value silently left out) is as likely as
/// guessing a 128-bit key, also for someone choosing the values.
#[derive(Debug)]
pub(crate) struct DistinctLines {
    keys: [RandomState; 2],
    digests: HashSet<u128, BuildHasherDefault<DigestIsHash>>,
}

impl Default for DistinctLines {
    fn default() -> Self {
        Self {
            keys: [RandomState::new(), RandomState::new()],
            digests: HashSet::default(),
        }
    }
}

impl DistinctLines {
    /// True when `line` was not seen before (and is remembered now).
    pub(crate) fn insert(&mut self, line: &str) -> bool {
        let high = self.keys[0].hash_one(line);
        let low = self.keys[1].hash_one(line);
        self.digests
            .insert((u128::from(high) << 64) | u128::from(low))
    }

    pub(crate) fn len(&self) -> usize {
        self.digests.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

/// The digests are keyed hashes already: the set uses their low bits as they are.
#[derive(Debug, Default)]
pub(crate) struct DigestIsHash(u64);

impl Hasher for DigestIsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u128 keys reach this hasher (through write_u128).
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = value as u64;
    }
}

/// Writes `line` and a newline unless it was written before.
fn write_once(seen: &mut DistinctLines, out: &mut String, line: &str) -> bool {
    if !seen.insert(line) {
        return false;
    }
    out.push_str(line);
    out.push('\n');
    true
}

// ---------------------------------------------------------------------------------------
// text

/// `text`: every distinct value, composite values as stored (`a|b`).
#[derive(Debug, Default)]
pub struct TextWriter {
    seen: DistinctLines,
}

impl TextWriter {
    pub fn new() -> Self {
        Self::default()
    }
}

impl ExportWriter for TextWriter {
    fn reads_attribute_details(&self) -> bool {
        false
    }

    fn content_type(&self) -> &'static str {
        PLAIN_TEXT
    }

    fn begin(&mut self, _out: &mut String) {}

    fn attribute(&mut self, out: &mut String, item: &ExportItem<'_>) {
        write_once(&mut self.seen, out, &full_value(item.attribute));
    }

    fn finish(&mut self, out: &mut String) {
        if self.seen.is_empty() {
            out.push('\n');
        }
    }
}

// ---------------------------------------------------------------------------------------
// hashes

/// Hash types whose whole value is the hash (MISP's HashesExport list, plus `cdhash`).
const SIMPLE_HASH_TYPES: &[&str] = &[
    "md5",
    "sha1",
    "sha256",
    "sha224",
    "sha384",
    "sha512",
    "sha512/224",
    "sha512/256",
    "sha3-224",
    "sha3-256",
    "sha3-384",
    "sha3-512",
    "ssdeep",
    "imphash",
    "tlsh",
    "x509-fingerprint-sha1",
    "x509-fingerprint-md5",
    "x509-fingerprint-sha256",
    "pehash",
    "authentihash",
    "impfuzzy",
    "cdhash",
];

/// `filename|<hash>` types and `malware-sample`, whose second half is the hash.
fn is_filename_hash(type_name: &str) -> bool {
    type_name == "malware-sample"
        || type_name
            .strip_prefix("filename|")
            .is_some_and(|hash| SIMPLE_HASH_TYPES.contains(&hash))
}

/// `hashes`: the hash of every hash attribute, each distinct hash once.
#[derive(Debug, Default)]
pub struct HashesWriter {
    seen: DistinctLines,
}

impl HashesWriter {
    pub fn new() -> Self {
        Self::default()
    }
}

impl ExportWriter for HashesWriter {
    fn reads_attribute_details(&self) -> bool {
        false
    }

    fn content_type(&self) -> &'static str {
        PLAIN_TEXT
    }

    fn begin(&mut self, _out: &mut String) {}

    fn attribute(&mut self, out: &mut String, item: &ExportItem<'_>) {
        let attribute = item.attribute;
        let hash = if SIMPLE_HASH_TYPES.contains(&attribute.attr_type.as_str()) {
            &attribute.value1
        } else if is_filename_hash(&attribute.attr_type) {
            &attribute.value2
        } else {
            return;
        };
        if !hash.is_empty() {
            write_once(&mut self.seen, out, hash);
        }
    }

    fn finish(&mut self, out: &mut String) {
        if self.seen.is_empty() {
            out.push('\n');
        }
    }
}

// ---------------------------------------------------------------------------------------
// hosts

/// The DNS name an attribute names, if its type names one: `domain`, `hostname`, and
/// the name half of `domain|ip` and `hostname|port`.
fn name_of(attribute: &Attribute) -> Option<&str> {
    match attribute.attr_type.as_str() {
        "domain" | "hostname" | "domain|ip" | "hostname|port" => Some(&attribute.value1),
        _ => None,
    }
}

/// `hosts`: `<address> <name>` lines that send every listed name to a sink address.
#[derive(Debug)]
pub struct HostsWriter {
    address: String,
    now: i64,
    seen: DistinctLines,
    skipped: Skipped,
}

impl HostsWriter {
    /// `address` should be an IP address ([`super::ExportOptions::validate`] checks it).
    pub fn new(address: &str, now: i64) -> Self {
        Self {
            address: address.trim().to_string(),
            now,
            seen: DistinctLines::default(),
            skipped: Skipped::default(),
        }
    }
}

impl ExportWriter for HostsWriter {
    fn reads_attribute_details(&self) -> bool {
        false
    }

    fn content_type(&self) -> &'static str {
        PLAIN_TEXT
    }

    fn begin(&mut self, out: &mut String) {
        out.push_str("# Blocklist in hosts-file format, from Kizuna\n");
        out.push_str(&format!("# Generated: {}\n", hosts_date(self.now)));
    }

    fn attribute(&mut self, out: &mut String, item: &ExportItem<'_>) {
        let Some(raw) = name_of(item.attribute) else {
            return;
        };
        let Some(name) = dns_name(raw) else {
            self.skipped.add("not a valid DNS name", raw);
            return;
        };
        if self.seen.insert(&name) {
            out.push_str(&self.address);
            out.push(' ');
            out.push_str(&name);
            out.push('\n');
        }
    }

    fn finish(&mut self, _out: &mut String) {}

    fn warnings(&self) -> Vec<String> {
        self.skipped.warnings("hosts")
    }
}

/// `YYYY-MM-DD hh:mm:ss +0000`, the date line MISP's hosts export writes (in UTC here).
fn hosts_date(now: i64) -> String {
    let moment =
        time::OffsetDateTime::from_unix_timestamp(now).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000",
        moment.year(),
        u8::from(moment.month()),
        moment.day(),
        moment.hour(),
        moment.minute(),
        moment.second()
    )
}

// ---------------------------------------------------------------------------------------
// cache

/// `cache`: the digest of every value, `<digest>[,<event uuid>]` per line — the
/// `hashes.csv` of a MISP feed. Composite values give one line per half, as MISP's feed
/// cache stores them.
#[derive(Debug)]
pub struct CacheWriter {
    hash: CacheHash,
    include_event_uuid: bool,
    seen: DistinctLines,
}

impl CacheWriter {
    pub fn new(hash: CacheHash, include_event_uuid: bool) -> Self {
        Self {
            hash,
            include_event_uuid,
            seen: DistinctLines::default(),
        }
    }

    fn line(&mut self, out: &mut String, value: &str, event_uuid: &str) {
        let mut line = self.hash.hex_digest(value);
        if self.include_event_uuid {
            line.push(',');
            line.push_str(event_uuid);
        }
        write_once(&mut self.seen, out, &line);
    }
}

impl ExportWriter for CacheWriter {
    fn reads_attribute_details(&self) -> bool {
        false
    }

    fn content_type(&self) -> &'static str {
        PLAIN_TEXT
    }

    fn begin(&mut self, _out: &mut String) {}

    fn attribute(&mut self, out: &mut String, item: &ExportItem<'_>) {
        let attribute = item.attribute;
        self.line(out, &attribute.value1, &item.event.uuid);
        if is_composite(&attribute.attr_type) {
            self.line(out, &attribute.value2, &item.event.uuid);
        }
    }

    fn finish(&mut self, out: &mut String) {
        if self.seen.is_empty() {
            out.push('\n');
        }
    }
}

// ---------------------------------------------------------------------------------------
// edl

/// A documented capacity of a device that loads these lists.
struct DeviceLimit {
    device: &'static str,
    entries: usize,
    what: &'static str,
}

/// PAN-OS external dynamic lists (7.1 onwards; later releases make capacity
/// model-specific, shown by the firewall's "List Capacities").
const PAN_OS_DOMAINS: DeviceLimit = DeviceLimit {
    device: "PAN-OS",
    entries: 50_000,
    what: "domains across its external dynamic lists",
};
const PAN_OS_URLS: DeviceLimit = DeviceLimit {
    device: "PAN-OS",
    entries: 50_000,
    what: "URLs across its external dynamic lists",
};
const PAN_OS_ADDRESSES: DeviceLimit = DeviceLimit {
    device: "PAN-OS",
    entries: 50_000,
    what: "IP entries across its external dynamic lists on most models",
};
const PAN_OS_ADDRESSES_LARGEST: DeviceLimit = DeviceLimit {
    device: "PAN-OS on PA-5000 and PA-7000 series",
    entries: 150_000,
    what: "IP entries across its external dynamic lists",
};
/// FortiOS threat feeds before 7.4.4: 128 × 1,024 lines and 10 MB per feed.
const FORTIOS_LINES: DeviceLimit = DeviceLimit {
    device: "FortiOS before 7.4.4",
    entries: 131_072,
    what: "lines per threat feed",
};
const FORTIOS_BYTES: usize = 10 * 1024 * 1024;
const FORTIOS_LINE_CHARS: usize = 4 * 1024;

/// `edl`: one normalised entry per line for a PAN-OS external dynamic list, a FortiGate
/// threat feed or any proxy that reads plain lists. No comments: not every consumer
/// accepts them. See [`EdlList`] for which attributes each list takes.
#[derive(Debug)]
pub struct EdlWriter {
    list: EdlList,
    seen: DistinctLines,
    bytes: usize,
    overlong_lines: usize,
    skipped: Skipped,
}

impl EdlWriter {
    pub fn new(list: EdlList) -> Self {
        Self {
            list,
            seen: DistinctLines::default(),
            bytes: 0,
            overlong_lines: 0,
            skipped: Skipped::default(),
        }
    }

    /// The raw value this list would take from the attribute, by type.
    fn candidate(&self, attribute: &Attribute) -> Option<(&'static str, String)> {
        let type_name = attribute.attr_type.as_str();
        match self.list {
            EdlList::InboundAddresses | EdlList::OutboundAddresses => {
                let raw = match type_name {
                    "ip-src" | "ip-dst" | "ip-src|port" | "ip-dst|port" => &attribute.value1,
                    "domain|ip" => &attribute.value2,
                    _ => return None,
                };
                Some(match Network::parse(raw) {
                    Some(network) => ("", network.to_string()),
                    None => ("not a valid IP address or network", raw.clone()),
                })
            }
            EdlList::OutboundDomains => {
                let raw = name_of(attribute)?;
                Some(match dns_name(raw) {
                    Some(name) => ("", name),
                    None => ("not a valid DNS name", raw.to_string()),
                })
            }
            EdlList::OutboundUrls => {
                if type_name != "url" {
                    return None;
                }
                Some(match edl_url(&attribute.value1) {
                    Some(url) => ("", url),
                    None => ("not a URL with a host", attribute.value1.clone()),
                })
            }
        }
    }

    fn limits(&self) -> &'static [DeviceLimit] {
        match self.list {
            EdlList::OutboundDomains => &[PAN_OS_DOMAINS, FORTIOS_LINES],
            EdlList::OutboundUrls => &[PAN_OS_URLS, FORTIOS_LINES],
            EdlList::InboundAddresses | EdlList::OutboundAddresses => {
                &[PAN_OS_ADDRESSES, PAN_OS_ADDRESSES_LARGEST, FORTIOS_LINES]
            }
        }
    }
}

/// A URL as PAN-OS URL lists take it: no scheme, no user information, no fragment, the
/// host in lower case (IDN in punycode).
fn edl_url(raw: &str) -> Option<String> {
    let parts = UrlParts::parse(raw)?;
    let host = parts.host_text()?;
    let mut url = host;
    if let Some(port) = parts.port {
        url.push_str(&format!(":{port}"));
    }
    url.push_str(&parts.path);
    Some(url)
}

impl ExportWriter for EdlWriter {
    fn reads_attribute_details(&self) -> bool {
        false
    }

    fn content_type(&self) -> &'static str {
        PLAIN_TEXT
    }

    fn begin(&mut self, _out: &mut String) {}

    fn attribute(&mut self, out: &mut String, item: &ExportItem<'_>) {
        let attribute = item.attribute;
        if attribute
            .intended_use
            .is_some_and(|stated| stated != self.list.intended_use())
        {
            return;
        }
        let Some((problem, entry)) = self.candidate(attribute) else {
            return;
        };
        if !problem.is_empty() {
            self.skipped.add(problem, &entry);
            return;
        }
        if write_once(&mut self.seen, out, &entry) {
            self.bytes += entry.len() + 1;
            if entry.len() > FORTIOS_LINE_CHARS {
                self.overlong_lines += 1;
            }
        }
    }

    fn finish(&mut self, _out: &mut String) {}

    fn warnings(&self) -> Vec<String> {
        let list = self.list.name();
        let count = self.seen.len();
        let mut warnings = Vec::new();
        for limit in self.limits() {
            if count > limit.entries {
                warnings.push(format!(
                    "edl {list}: {} entries, more than the {} {} {} loads; it ignores the rest",
                    thousands(count),
                    thousands(limit.entries),
                    limit.what,
                    limit.device,
                ));
            }
        }
        if self.bytes > FORTIOS_BYTES {
            warnings.push(format!(
                "edl {list}: {} bytes, more than the 10 MB per threat feed FortiOS before 7.4.4 \
                 loads",
                thousands(self.bytes)
            ));
        }
        if self.overlong_lines > 0 {
            warnings.push(format!(
                "edl {list}: {} entries longer than the {} characters per line FortiOS reads",
                thousands(self.overlong_lines),
                thousands(FORTIOS_LINE_CHARS)
            ));
        }
        warnings.extend(self.skipped.warnings(&format!("edl {list}")));
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edl_urls_lose_scheme_credentials_and_fragment() {
        assert_eq!(
            edl_url("ftp://evil.example/drop.bin").as_deref(),
            Some("evil.example/drop.bin")
        );
        assert_eq!(
            edl_url("https://user:pw@Evil.Example:8443/a/b?c=d#top").as_deref(),
            Some("evil.example:8443/a/b?c=d")
        );
        assert_eq!(
            edl_url("http://bücher.example/").as_deref(),
            Some("xn--bcher-kva.example/")
        );
        assert_eq!(
            edl_url("evil.example/x.php").as_deref(),
            Some("evil.example/x.php")
        );
        assert_eq!(
            edl_url("http://[2001:DB8::1]/x").as_deref(),
            Some("[2001:db8::1]/x")
        );
        assert_eq!(edl_url("/only/a/path"), None);
        assert_eq!(edl_url("http://exa mple.com/"), None);
    }

    #[test]
    fn hosts_dates_are_utc() {
        assert_eq!(hosts_date(1_700_000_000), "2023-11-14 22:13:20 +0000");
    }
}

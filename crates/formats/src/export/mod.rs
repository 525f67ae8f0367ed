//! Exports for devices and tools (misp-reference §8, stix-taxii-reference D): what a
//! restSearch `returnFormat` and `kizuna export --format` write.
//!
//! Every format is an [`ExportWriter`]: the caller (the server's streaming restSearch, the
//! CLI) feeds it the attributes a search found, page by page, and ships each chunk of text
//! as it is produced, so a million attributes never sit in memory at once. Writers keep only
//! what their format needs across pages (the distinct values of `text`, the sid counter of
//! NIDS rules).

pub mod nids;
pub mod plain;
pub mod rpz;
pub mod zeek;

use std::collections::BTreeMap;
use std::net::IpAddr;

use kizuna_model::{Attribute, Event, IntendedUse, MispObject};

/// One attribute to export, with the event (and object) holding it.
#[derive(Clone, Copy, Debug)]
pub struct ExportItem<'a> {
    pub attribute: &'a Attribute,
    /// The event; its `attributes`/`objects` need not be loaded.
    pub event: &'a Event,
    pub object: Option<&'a MispObject>,
}

/// A format written in steps: `begin`, then `attribute` (or `event`) any number of times,
/// then `finish`. Each step appends to `out`; the caller may send and clear `out` between
/// steps.
pub trait ExportWriter: Send + Sync {
    /// The HTTP `Content-Type` of the whole output.
    fn content_type(&self) -> &'static str;

    /// Whether the format needs whole events (`event`) rather than attributes.
    fn wants_events(&self) -> bool {
        false
    }

    fn begin(&mut self, out: &mut String);

    fn attribute(&mut self, out: &mut String, item: &ExportItem<'_>);

    /// A whole event with its attributes, objects and tags loaded. By default every
    /// attribute, loose and inside objects, in the order MISP lists them.
    fn event(&mut self, out: &mut String, event: &Event) {
        for attribute in &event.attributes {
            self.attribute(
                out,
                &ExportItem {
                    attribute,
                    event,
                    object: None,
                },
            );
        }
        for object in &event.objects {
            for attribute in &object.attributes {
                self.attribute(
                    out,
                    &ExportItem {
                        attribute,
                        event,
                        object: Some(object),
                    },
                );
            }
        }
    }

    fn finish(&mut self, out: &mut String);

    /// Whether the writer reads an attribute's uuid, category, comment, object relation,
    /// payload, tags or object. Writers that only need the type and value (and validity
    /// context) say no, and a search can skip reading those: a million-value list export
    /// spends much of its time allocating them.
    fn reads_attribute_details(&self) -> bool {
        true
    }

    /// Warnings for the operator once the export is finished (a list past a device's
    /// documented capacity, values a format cannot express).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------
// Formats, their options and the writer for each

/// Which firewall or proxy list an `edl` export fills (stix-taxii-reference D.5).
///
/// The attribute's type decides the kind of list it can go to (addresses, domains, URLs);
/// its Kizuna `intended_use` decides the direction. An attribute whose intended use is
/// stated and is not the list's own (and `detect` or `hunt-only`, which are never meant
/// for a block list) is left out; one with no stated intended use goes to every list its
/// type fits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EdlList {
    /// Addresses and networks a firewall blocks as sources of inbound traffic.
    InboundAddresses,
    /// Domains and host names a proxy or DNS firewall blocks for outbound traffic.
    #[default]
    OutboundDomains,
    /// URLs, without their scheme, a proxy blocks for outbound traffic.
    OutboundUrls,
    /// Addresses and networks a firewall blocks as destinations of outbound traffic.
    OutboundAddresses,
}

impl EdlList {
    pub const ALL: [EdlList; 4] = [
        Self::InboundAddresses,
        Self::OutboundDomains,
        Self::OutboundUrls,
        Self::OutboundAddresses,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::InboundAddresses => "inbound-addresses",
            Self::OutboundDomains => "outbound-domains",
            Self::OutboundUrls => "outbound-urls",
            Self::OutboundAddresses => "outbound-addresses",
        }
    }

    /// The list by its [`name`](Self::name), case and `-`/`_` insensitive.
    pub fn parse(name: &str) -> Option<Self> {
        let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL.into_iter().find(|list| list.name() == wanted)
    }

    /// The intended use an attribute must state, if it states one, to be on this list.
    pub fn intended_use(self) -> IntendedUse {
        match self {
            Self::InboundAddresses => IntendedUse::BlockInbound,
            Self::OutboundDomains | Self::OutboundUrls | Self::OutboundAddresses => {
                IntendedUse::BlockOutbound
            }
        }
    }
}

/// An export format, as restSearch's `returnFormat` and `kizuna export --format` name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    Text,
    Hashes,
    Hosts,
    Edl(EdlList),
    Suricata,
    Snort,
    Zeek,
    Rpz,
    Cache,
    Stix2,
}

impl ExportFormat {
    /// The format by its restSearch name (`bro` is Zeek's old name, as MISP still calls
    /// it). `edl` alone means the [default list](EdlList::default); callers that take the
    /// list as a separate parameter build `ExportFormat::Edl(list)` themselves.
    pub fn parse(name: &str) -> Option<ExportFormat> {
        Some(match name {
            "text" => Self::Text,
            "hashes" => Self::Hashes,
            "hosts" => Self::Hosts,
            "edl" => Self::Edl(EdlList::default()),
            "suricata" => Self::Suricata,
            "snort" => Self::Snort,
            "zeek" | "bro" => Self::Zeek,
            "rpz" => Self::Rpz,
            "cache" => Self::Cache,
            "stix2" => Self::Stix2,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Hashes => "hashes",
            Self::Hosts => "hosts",
            Self::Edl(_) => "edl",
            Self::Suricata => "suricata",
            Self::Snort => "snort",
            Self::Zeek => "zeek",
            Self::Rpz => "rpz",
            Self::Cache => "cache",
            Self::Stix2 => "stix2",
        }
    }
}

/// The digest a `cache` export writes per value (MISP's `hash_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CacheHash {
    /// What MISP's feed `hashes.csv` and its feed cache use.
    #[default]
    Md5,
}

impl CacheHash {
    pub fn parse(name: &str) -> Option<Self> {
        name.eq_ignore_ascii_case("md5").then_some(Self::Md5)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
        }
    }

    pub(crate) fn hex_digest(self, value: &str) -> String {
        match self {
            Self::Md5 => crate::misp::md5::md5_hex(value.as_bytes()),
        }
    }
}

/// Everything an export needs besides the attributes. `Default` gives MISP's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    /// The instance's external URL (MISP's `MISP.baseurl`): rules and intel rows link to
    /// `<base_url>/events/view/<id>`. Empty = no links.
    pub base_url: String,
    /// The first NIDS rule id (the user's `nids_sid` in MISP, 4,000,000 unless changed);
    /// an attribute's rules get `nids_sid_base + id × 10 + 1…9`.
    pub nids_sid_base: i64,
    /// The export's clock (Unix seconds): the RPZ serial, the hosts file's date line.
    pub now: i64,
    pub rpz: RpzOptions,
    pub hash_type: CacheHash,
    /// `cache`: append `,<event uuid>` to each digest (MISP's `includeEventUuid`).
    pub include_event_uuid: bool,
    /// `hosts`: the address every listed name resolves to (MISP's `ip_address` filter).
    pub hosts_address: String,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            nids_sid_base: 4_000_000,
            now: 0,
            rpz: RpzOptions::default(),
            hash_type: CacheHash::default(),
            include_event_uuid: false,
            hosts_address: "0.0.0.0".into(),
        }
    }
}

/// A rejected option: the MISP parameter name and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    pub field: &'static str,
    pub message: String,
}

impl ExportOptions {
    /// Checks the options that end up verbatim in an export, so that a bad one is a 4xx
    /// naming the parameter rather than a zone file BIND refuses to load.
    pub fn validate(&self) -> Result<(), OptionError> {
        if self.hosts_address.parse::<IpAddr>().is_err() {
            return Err(OptionError {
                field: "ip_address",
                message: format!("\"{}\" is not an IP address.", self.hosts_address),
            });
        }
        self.rpz.validate(self.now)
    }
}

pub use rpz::{RpzOptions, RpzPolicy};

/// The writer for `format`, configured from `options`.
pub fn writer(format: ExportFormat, options: &ExportOptions) -> Box<dyn ExportWriter> {
    match format {
        ExportFormat::Text => Box::new(plain::TextWriter::new()),
        ExportFormat::Hashes => Box::new(plain::HashesWriter::new()),
        ExportFormat::Hosts => {
            Box::new(plain::HostsWriter::new(&options.hosts_address, options.now))
        }
        ExportFormat::Edl(list) => Box::new(plain::EdlWriter::new(list)),
        ExportFormat::Cache => Box::new(plain::CacheWriter::new(
            options.hash_type,
            options.include_event_uuid,
        )),
        ExportFormat::Suricata => Box::new(nids::NidsWriter::new(nids::Dialect::Suricata, options)),
        ExportFormat::Snort => Box::new(nids::NidsWriter::new(nids::Dialect::Snort, options)),
        ExportFormat::Zeek => Box::new(zeek::ZeekWriter::new(options)),
        ExportFormat::Rpz => Box::new(rpz::RpzWriter::new(&options.rpz, options.now)),
        ExportFormat::Stix2 => Box::new(crate::stix::export::Stix2Writer::new(
            crate::stix::export::Stix2Options::new(options.base_url.clone(), options.now),
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Value handling the writers share

/// The tag names an item carries, the attribute's first, then the event's, each once.
pub(crate) fn tag_names<'a>(item: &ExportItem<'a>) -> Vec<&'a str> {
    let mut names: Vec<&'a str> = Vec::new();
    for attached in item.attribute.tags.iter().chain(&item.event.tags) {
        let name = attached.tag.name.as_str();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// `<base_url>/events/view/<id>`, or None without a base URL.
pub(crate) fn event_link(base_url: &str, event_id: i64) -> Option<String> {
    let base = base_url.trim_end_matches('/');
    (!base.is_empty()).then(|| format!("{base}/events/view/{event_id}"))
}

/// A DNS name as devices match it: lower case, IDN in punycode, no trailing dot, labels of
/// letters, digits, `-` and `_` (the model's domain rule). None for anything else, which
/// could break the syntax of a zone file or a rule.
pub(crate) fn dns_name(raw: &str) -> Option<String> {
    kizuna_model::normalize::normalize_value("domain", raw)
        .ok()
        .map(|normalized| normalized.value1)
}

/// An address or a CIDR network, host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Network {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Network {
    pub fn parse(raw: &str) -> Option<Network> {
        let raw = raw.trim();
        let (addr_text, prefix_text) = match raw.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (raw, None),
        };
        let addr: IpAddr = addr_text.parse().ok()?;
        let max = Self::max_prefix_of(addr);
        let prefix = match prefix_text {
            None => max,
            Some(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                text.parse::<u8>().ok().filter(|p| *p <= max)?
            }
            Some(_) => return None,
        };
        Some(Network {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    fn max_prefix_of(addr: IpAddr) -> u8 {
        match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        }
    }

    pub fn is_single_address(&self) -> bool {
        self.prefix == Self::max_prefix_of(self.addr)
    }

    pub fn address_text(&self) -> String {
        match self.addr {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => kizuna_model::normalize::format_ipv6(&v6),
        }
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = if prefix == 0 {
                0
            } else {
                bits & (u32::MAX << (32 - prefix))
            };
            IpAddr::V4(kept.into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = if prefix == 0 {
                0
            } else {
                bits & (u128::MAX << (128 - prefix))
            };
            IpAddr::V6(kept.into())
        }
    }
}

/// Canonical text: the address alone for a single host, else `address/prefix`.
impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_single_address() {
            f.write_str(&self.address_text())
        } else {
            write!(f, "{}/{}", self.address_text(), self.prefix)
        }
    }
}

/// The host of a URL: a DNS name (normalised as [`dns_name`]) or an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum UrlHost {
    Name(String),
    Address(IpAddr),
}

/// A URL taken apart the way devices look at it. MISP `url` values often lack a scheme
/// (`evil.example/gate.php`); those are read as if they had none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UrlParts {
    /// Lower case; None when the value has no `scheme://`.
    pub scheme: Option<String>,
    /// None for a bare path (`/gate.php`).
    pub host: Option<UrlHost>,
    pub port: Option<u16>,
    /// Path and query as written (no fragment); empty when the URL has none.
    pub path: String,
}

impl UrlParts {
    /// None when the value is not a URL a device could match: whitespace or control
    /// characters, an invalid host or port, nothing at all.
    pub fn parse(raw: &str) -> Option<UrlParts> {
        let value = raw.trim();
        if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        let (scheme, rest) = match value.split_once("://") {
            Some((scheme, rest))
                if !scheme.is_empty()
                    && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
            {
                (Some(scheme.to_ascii_lowercase()), rest)
            }
            _ => (None, value),
        };
        let without_fragment = rest.split('#').next().unwrap_or_default();
        let authority_end = without_fragment
            .find(['/', '?'])
            .unwrap_or(without_fragment.len());
        let (authority, path) = without_fragment.split_at(authority_end);
        if authority.is_empty() {
            if scheme.is_some() || !path.starts_with('/') {
                return None;
            }
            return Some(UrlParts {
                scheme,
                host: None,
                port: None,
                path: path.to_string(),
            });
        }
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let (host_text, port_text) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let (inside, after) = bracketed.split_once(']')?;
            match after {
                "" => (inside, None),
                _ => (inside, Some(after.strip_prefix(':')?)),
            }
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            }
        };
        let port = match port_text {
            None | Some("") => None,
            Some(text) => Some(text.parse::<u16>().ok().filter(|p| *p != 0)?),
        };
        let host = match host_text.parse::<IpAddr>() {
            Ok(addr) => UrlHost::Address(addr),
            Err(_) => UrlHost::Name(dns_name(host_text)?),
        };
        Some(UrlParts {
            scheme,
            host: Some(host),
            port,
            path: path.to_string(),
        })
    }

    /// The host as it is written in a URL (`[v6]` bracketed).
    pub fn host_text(&self) -> Option<String> {
        self.host.as_ref().map(|host| match host {
            UrlHost::Name(name) => name.clone(),
            UrlHost::Address(IpAddr::V4(v4)) => v4.to_string(),
            UrlHost::Address(IpAddr::V6(v6)) => {
                format!("[{}]", kizuna_model::normalize::format_ipv6(v6))
            }
        })
    }
}

/// `1234567` → `1,234,567`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Values a writer could not express, counted per reason with the first example, for
/// [`ExportWriter::warnings`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Skipped {
    by_reason: BTreeMap<String, (usize, String)>,
}

impl Skipped {
    pub fn add(&mut self, reason: impl Into<String>, value: &str) {
        let entry = self
            .by_reason
            .entry(reason.into())
            .or_insert_with(|| (0, value.to_string()));
        entry.0 += 1;
    }

    /// One line per reason: `<n> value(s) left out: <reason> (first: <value>)`.
    pub fn warnings(&self, format: &str) -> Vec<String> {
        self.by_reason
            .iter()
            .map(|(reason, (count, first))| {
                let noun = if *count == 1 { "value" } else { "values" };
                format!(
                    "{format}: {} {noun} left out: {reason} (first: {first})",
                    thousands(*count)
                )
            })
            .collect()
    }
}

//! IoC kinds, value shapes (hunt-semantics §3) and canonical forms (§1.4).
//!
//! The shape tests here are shared by the IoC side (canonical forms) and the log side
//! ([`super::index::IocIndex::match_value`]), so both read a value the same way; they work
//! on bytes and never allocate.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// What an IoC is; decides how log values are compared with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IocKind {
    Ip,
    Cidr,
    Domain,
    Url,
    Hash,
}

impl IocKind {
    /// The `ioc_type` of the hunt output: `ip`, `cidr`, `domain`, `url` or `hash`.
    pub fn as_str(self) -> &'static str {
        match self {
            IocKind::Ip => "ip",
            IocKind::Cidr => "cidr",
            IocKind::Domain => "domain",
            IocKind::Url => "url",
            IocKind::Hash => "hash",
        }
    }
}

/// Why a value was not taken as an IoC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IocRejection {
    /// A MISP type hunting does not use (composites, e-mail, filenames …).
    UnsupportedType(String),
    /// The value does not have the shape its type (or, untyped, any kind) requires.
    BadShape,
}

impl std::fmt::Display for IocRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IocRejection::UnsupportedType(misp_type) => {
                write!(f, "type {misp_type} is not hunted")
            }
            IocRejection::BadShape => f.write_str("the value does not have the shape of its type"),
        }
    }
}

/// The kind and canonical form of an IoC value. `misp_type` as in hunt-semantics §1.1;
/// `None` (or an empty type) infers the kind from the shape as §1.2 does.
pub fn canonical_ioc(
    misp_type: Option<&str>,
    value: &str,
) -> Result<(IocKind, String), IocRejection> {
    parse_ioc(misp_type, value).map(|parsed| (parsed.kind, parsed.canonical))
}

/// The lookup key of an IoC beside its canonical text; domains, URLs and hashes are looked
/// up through their canonical text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IocKey {
    Ipv4(u32),
    Ipv6(u128),
    Cidr4 { network: u32, prefix: u8 },
    Cidr6 { network: u128, prefix: u8 },
    Text,
}

pub(crate) struct ParsedIoc {
    pub kind: IocKind,
    pub canonical: String,
    pub key: IocKey,
}

pub(crate) fn parse_ioc(misp_type: Option<&str>, value: &str) -> Result<ParsedIoc, IocRejection> {
    let value = value.trim();
    let parsed = match misp_type.map(str::trim).unwrap_or("") {
        "" => infer_ioc(value),
        "ip-dst" | "ip-src" if value.contains('/') => cidr_ioc(value),
        "ip-dst" | "ip-src" => ip_ioc(value),
        "domain" | "hostname" => domain_ioc(value),
        "url" => url_ioc(value),
        "md5" => hash_ioc(value, 32),
        "sha1" => hash_ioc(value, 40),
        "sha256" => hash_ioc(value, 64),
        other => return Err(IocRejection::UnsupportedType(other.to_owned())),
    };
    parsed.ok_or(IocRejection::BadShape)
}

/// §1.2: URL, CIDR, IP, hash, domain — the first shape that fits.
fn infer_ioc(value: &str) -> Option<ParsedIoc> {
    if value.contains("://") {
        return url_ioc(value);
    }
    if value.contains('/')
        && let Some(cidr) = cidr_ioc(value)
    {
        return Some(cidr);
    }
    ip_ioc(value)
        .or_else(|| HASH_LENGTHS.iter().find_map(|&len| hash_ioc(value, len)))
        .or_else(|| domain_ioc(value))
}

fn ip_ioc(value: &str) -> Option<ParsedIoc> {
    if let Some(ip) = parse_ipv4(value.as_bytes()) {
        return Some(ParsedIoc {
            kind: IocKind::Ip,
            canonical: Ipv4Addr::from(ip).to_string(),
            key: IocKey::Ipv4(ip),
        });
    }
    let ip = parse_ipv6(value)?;
    Some(ParsedIoc {
        kind: IocKind::Ip,
        canonical: Ipv6Addr::from(ip).to_string(),
        key: IocKey::Ipv6(ip),
    })
}

fn cidr_ioc(value: &str) -> Option<ParsedIoc> {
    let (address, prefix) = value.split_once('/')?;
    if prefix.is_empty() || !prefix.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Leading zeros in the prefix are harmless (`/08` is `/8`); only the value counts.
    let prefix: u32 = prefix.trim_start_matches('0').parse().unwrap_or(0);
    let mut canonical = String::with_capacity(value.len());
    if let Some(ip) = parse_ipv4(address.as_bytes()) {
        if prefix > 32 {
            return None;
        }
        let network = ip & v4_netmask(prefix);
        let _ = write!(canonical, "{}/{prefix}", Ipv4Addr::from(network));
        return Some(ParsedIoc {
            kind: IocKind::Cidr,
            canonical,
            key: IocKey::Cidr4 {
                network,
                prefix: prefix as u8,
            },
        });
    }
    let ip = parse_ipv6(address)?;
    if prefix > 128 {
        return None;
    }
    let network = ip & v6_netmask(prefix);
    let _ = write!(canonical, "{}/{prefix}", Ipv6Addr::from(network));
    Some(ParsedIoc {
        kind: IocKind::Cidr,
        canonical,
        key: IocKey::Cidr6 {
            network,
            prefix: prefix as u8,
        },
    })
}

fn domain_ioc(value: &str) -> Option<ParsedIoc> {
    let len = domain_len(value.as_bytes())?;
    Some(ParsedIoc {
        kind: IocKind::Domain,
        canonical: value[..len].to_ascii_lowercase(),
        key: IocKey::Text,
    })
}

fn url_ioc(value: &str) -> Option<ParsedIoc> {
    let parts = parse_url(value)?;
    let mut normalised = Vec::with_capacity(value.len() + 1);
    write_normalised_url(value, &parts, &mut normalised);
    Some(ParsedIoc {
        kind: IocKind::Url,
        // Every byte either comes from the (UTF-8) value at a character boundary or is ASCII.
        canonical: String::from_utf8(normalised).ok()?,
        key: IocKey::Text,
    })
}

fn hash_ioc(value: &str, len: usize) -> Option<ParsedIoc> {
    (value.len() == len && value.bytes().all(|c| c.is_ascii_hexdigit())).then(|| ParsedIoc {
        kind: IocKind::Hash,
        canonical: value.to_ascii_lowercase(),
        key: IocKey::Text,
    })
}

/// Digits of an MD5, SHA-1 and SHA-256 in hex (§3.2).
pub(crate) const HASH_LENGTHS: [usize; 3] = [32, 40, 64];

/// The network mask of an IPv4 prefix length (≤ 32).
pub(crate) fn v4_netmask(prefix: u32) -> u32 {
    u32::MAX.checked_shl(32 - prefix).unwrap_or(0)
}

/// The network mask of an IPv6 prefix length (≤ 128).
pub(crate) fn v6_netmask(prefix: u32) -> u128 {
    u128::MAX.checked_shl(128 - prefix).unwrap_or(0)
}

/// §3.1 IPv4: four decimal numbers 0–255, no leading zeros.
pub(crate) fn parse_ipv4(bytes: &[u8]) -> Option<u32> {
    if !(7..=15).contains(&bytes.len()) {
        return None;
    }
    // Unrolled octet by octet: every IPv4 column of every log line comes here.
    let (first, mut rest) = ipv4_octet(bytes)?;
    let mut address = first;
    for _ in 0..3 {
        let (&dot, after) = rest.split_first()?;
        if dot != b'.' {
            return None;
        }
        let (octet, after) = ipv4_octet(after)?;
        address = address << 8 | octet;
        rest = after;
    }
    rest.is_empty().then_some(address)
}

/// [`parse_ipv4`] of a value already known to hold digits and exactly three dots, at the
/// set bits of `dots` (bit `i` for byte `i`): each octet is read from its known length
/// instead of digit by digit.
#[inline(always)]
pub(crate) fn ipv4_at_dots(bytes: &[u8], dots: u64) -> Option<u32> {
    debug_assert_eq!(dots.count_ones(), 3);
    let first = dots.trailing_zeros() as usize;
    let rest = dots & dots.wrapping_sub(1);
    let second = rest.trailing_zeros() as usize;
    let third = (rest & rest.wrapping_sub(1)).trailing_zeros() as usize;
    Some(
        known_octet(bytes.get(..first)?)? << 24
            | known_octet(bytes.get(first + 1..second)?)? << 16
            | known_octet(bytes.get(second + 1..third)?)? << 8
            | known_octet(bytes.get(third + 1..)?)?,
    )
}

/// An octet of 1 to 3 bytes known to be digits: no leading zero, at most 255.
#[inline(always)]
fn known_octet(digits: &[u8]) -> Option<u32> {
    let digit = |byte: u8| u32::from(byte.wrapping_sub(b'0'));
    match *digits {
        [one] => Some(digit(one)),
        [tens, ones] if tens != b'0' => Some(digit(tens) * 10 + digit(ones)),
        [hundreds, tens, ones] if hundreds != b'0' => {
            let octet = digit(hundreds) * 100 + digit(tens) * 10 + digit(ones);
            (octet <= 255).then_some(octet)
        }
        _ => None,
    }
}

/// One octet of a dotted-decimal address at the start of `bytes`: 1 to 3 digits, no
/// leading zero, at most 255; with the bytes after it.
#[inline(always)]
fn ipv4_octet(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let digit = |index: usize| {
        bytes
            .get(index)
            .map(|&byte| byte.wrapping_sub(b'0'))
            .filter(|&digit| digit < 10)
            .map(u32::from)
    };
    let first = digit(0)?;
    let Some(second) = digit(1) else {
        return Some((first, &bytes[1..]));
    };
    if first == 0 {
        return None;
    }
    let Some(third) = digit(2) else {
        return Some((first * 10 + second, &bytes[2..]));
    };
    let octet = first * 100 + second * 10 + third;
    if octet > 255 || digit(3).is_some() {
        return None;
    }
    Some((octet, &bytes[3..]))
}

/// §3.1 IPv6: RFC 4291 text (1–4 hex digits per group, one `::` standing for at least
/// one zero group, an embedded strict IPv4 tail), any case, no brackets, no zone. Reads
/// what the standard library's parser reads, several times faster.
pub(crate) fn parse_ipv6(text: &str) -> Option<u128> {
    parse_ipv6_here(text.as_bytes())
}

/// [`parse_ipv6`], compiled into the caller (the index's lookup of a value known to hold
/// colons, inlined into the Zeek TSV parser's x86-64-v3 copy).
#[inline(always)]
pub(crate) fn parse_ipv6_here(bytes: &[u8]) -> Option<u128> {
    if !(2..=45).contains(&bytes.len()) {
        return None;
    }
    // Groups before the `::` (or all of them) in `head`, after it in `tail`, each as the
    // number its groups spell: no arrays to fill and fold afterwards.
    let (mut head, mut tail) = (0u128, 0u128);
    let (mut head_len, mut tail_len) = (0u32, 0u32);
    let mut compressed = false;
    let mut position = 0;
    if bytes.starts_with(b"::") {
        compressed = true;
        position = 2;
        if position == bytes.len() {
            return Some(0);
        }
    }
    loop {
        let start = position;
        let mut group = 0u16;
        while let Some(digit) = bytes.get(position).and_then(|&c| hex_digit(c)) {
            if position - start == 4 {
                return None;
            }
            group = group << 4 | u16::from(digit);
            position += 1;
        }
        let (groups, count) = if compressed {
            (&mut tail, &mut tail_len)
        } else {
            (&mut head, &mut head_len)
        };
        if bytes.get(position) == Some(&b'.') {
            let ip = parse_ipv4(&bytes[start..])?;
            if *count > 6 {
                return None;
            }
            *groups = *groups << 32 | u128::from(ip);
            *count += 2;
            break;
        }
        if position == start || *count == 8 {
            return None;
        }
        *groups = *groups << 16 | u128::from(group);
        *count += 1;
        if position == bytes.len() {
            break;
        }
        if bytes[position] != b':' {
            return None;
        }
        position += 1;
        if bytes.get(position) == Some(&b':') {
            if compressed {
                return None;
            }
            compressed = true;
            position += 1;
            if position == bytes.len() {
                break;
            }
        } else if position == bytes.len() {
            return None;
        }
    }
    let total = head_len + tail_len;
    if (compressed && total > 7) || (!compressed && total != 8) {
        return None;
    }
    // The head's groups are the address's first ones, the zeros of `::` and the tail's
    // groups follow (no head at all: a shift by 128 bits, nothing left of it).
    Some(head.checked_shl(16 * (8 - head_len)).unwrap_or(0) | tail)
}

/// A table rather than a `match`: hex digits of addresses are random, so branches on
/// their class mispredict.
const HEX_VALUES: [u8; 256] = {
    let mut values = [u8::MAX; 256];
    let mut i = 0;
    while i < 10 {
        values[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        values[b'a' as usize + i] = 10 + i as u8;
        values[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    values
};

#[inline(always)]
fn hex_digit(c: u8) -> Option<u8> {
    let value = HEX_VALUES[c as usize];
    (value != u8::MAX).then_some(value)
}

/// §3.3: the length of the domain without its one trailing dot, or `None` if the value is
/// not a domain. Upper case is accepted (the caller compares ignoring ASCII case).
pub(crate) fn domain_len(bytes: &[u8]) -> Option<usize> {
    domain_len_here(bytes)
}

/// [`domain_len`], compiled into the caller (the index's domain lookup, inlined into the
/// Zeek TSV parser's x86-64-v3 copy).
#[inline(always)]
pub(crate) fn domain_len_here(bytes: &[u8]) -> Option<usize> {
    let len = match bytes.last() {
        Some(b'.') => bytes.len() - 1,
        _ => bytes.len(),
    };
    if len == 0 || len > 253 {
        return None;
    }
    let mut dots = 0;
    let mut label_len = 0;
    let mut label_has_letter = false;
    for &c in &bytes[..len] {
        match c {
            b'.' => {
                if label_len == 0 {
                    return None;
                }
                dots += 1;
                label_len = 0;
                label_has_letter = false;
                continue;
            }
            b'a'..=b'z' | b'A'..=b'Z' => label_has_letter = true,
            b'0'..=b'9' | b'-' | b'_' => {}
            _ => return None,
        }
        label_len += 1;
        if label_len > 63 {
            return None;
        }
    }
    (dots > 0 && label_len > 0 && label_has_letter).then_some(len)
}

/// Whitespace in the ASCII sense, vertical tab included.
pub(crate) const fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// A URL's host as §3.4 reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UrlHost {
    Ipv4(u32),
    Ipv6(u128),
    /// Anything else: a domain or a name that is not one (`localhost`).
    Name,
}

/// The parts of a URL (§3.4) as byte ranges of the value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UrlParts {
    pub scheme_end: usize,
    /// The host as written; without the brackets of an IPv6 host.
    pub host: (usize, usize),
    pub host_kind: UrlHost,
    pub port: Option<u32>,
    pub path: (usize, usize),
    /// Without the `?`; empty when there is no query.
    pub query: (usize, usize),
}

/// §3.4: `scheme://authority path [?query] [#fragment]`, or `None` when the value is not a
/// URL.
pub(crate) fn parse_url(value: &str) -> Option<UrlParts> {
    let bytes = value.as_bytes();
    let scheme_end = memchr::memmem::find(bytes, b"://")?;
    let scheme = &bytes[..scheme_end];
    if !scheme.first()?.is_ascii_alphabetic()
        || !scheme
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-'))
        || bytes.iter().any(|&c| is_space(c))
    {
        return None;
    }
    let authority_start = scheme_end + 3;
    let authority_end = memchr::memchr3(b'/', b'?', b'#', &bytes[authority_start..])
        .map_or(bytes.len(), |at| authority_start + at);
    let host_start = memchr::memrchr(b'@', &bytes[authority_start..authority_end])
        .map_or(authority_start, |at| authority_start + at + 1);
    let (host, host_kind, port) = parse_host_port(value, host_start, authority_end)?;
    let path_end = memchr::memchr2(b'?', b'#', &bytes[authority_end..])
        .map_or(bytes.len(), |at| authority_end + at);
    let query = if bytes.get(path_end) == Some(&b'?') {
        let query_end =
            memchr::memchr(b'#', &bytes[path_end..]).map_or(bytes.len(), |at| path_end + at);
        (path_end + 1, query_end)
    } else {
        (path_end, path_end)
    };
    Some(UrlParts {
        scheme_end,
        host,
        host_kind,
        port,
        path: (authority_end, path_end),
        query,
    })
}

/// `host`, `host:port`, `[ipv6]` or `[ipv6]:port` spanning `value[start..end]`.
fn parse_host_port(
    value: &str,
    start: usize,
    end: usize,
) -> Option<((usize, usize), UrlHost, Option<u32>)> {
    let bytes = &value.as_bytes()[..end];
    if bytes.get(start) == Some(&b'[') {
        let close = start + memchr::memchr(b']', &bytes[start..])?;
        let ip = parse_ipv6(&value[start + 1..close])?;
        let port = match &bytes[close + 1..] {
            [] => None,
            [b':', digits @ ..] => Some(parse_port(digits)?),
            _ => return None,
        };
        return Some(((start + 1, close), UrlHost::Ipv6(ip), port));
    }
    let (host_end, port) = match memchr::memchr(b':', &bytes[start..]) {
        Some(at) => (start + at, Some(parse_port(&bytes[start + at + 1..])?)),
        None => (end, None),
    };
    let host = &bytes[start..host_end];
    if host.is_empty() || host.iter().any(|&c| c == b'[' || c == b']') {
        return None;
    }
    let kind = parse_ipv4(host).map_or(UrlHost::Name, UrlHost::Ipv4);
    Some(((start, host_end), kind, port))
}

/// 1–5 digits, at most 65535.
fn parse_port(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let port = digits
        .iter()
        .fold(0u32, |port, &c| port * 10 + u32::from(c - b'0'));
    (port <= 65535).then_some(port)
}

/// §4.4: `host:port` or `[ipv6]:port`; the port is required.
pub(crate) fn parse_authority(value: &str) -> Option<((usize, usize), UrlHost)> {
    let (host, kind, port) = parse_host_port(value, 0, value.len())?;
    port.map(|_| (host, kind))
}

/// Where the normalised URL is written: a `Vec` when building the index, a stack buffer
/// when matching.
pub(crate) trait ByteSink {
    fn put(&mut self, bytes: &[u8]);
}

impl ByteSink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// §3.4's normalised form of a parsed URL.
pub(crate) fn write_normalised_url(value: &str, parts: &UrlParts, out: &mut impl ByteSink) {
    let bytes = value.as_bytes();
    let mut lower = [0u8; 64];
    for chunk in bytes[..parts.scheme_end].chunks(lower.len()) {
        let lowered = &mut lower[..chunk.len()];
        lowered.copy_from_slice(chunk);
        lowered.make_ascii_lowercase();
        out.put(lowered);
    }
    out.put(b"://");
    match parts.host_kind {
        UrlHost::Ipv6(ip) => {
            let mut text = [0u8; 48];
            let written = {
                let mut cursor = &mut text[..];
                let _ = write!(cursor, "[{}]", Ipv6Addr::from(ip));
                48 - cursor.len()
            };
            out.put(&text[..written]);
        }
        UrlHost::Ipv4(_) | UrlHost::Name => {
            let host = &bytes[parts.host.0..parts.host.1];
            let host = host.strip_suffix(b".").unwrap_or(host);
            for chunk in host.chunks(lower.len()) {
                let lowered = &mut lower[..chunk.len()];
                lowered.copy_from_slice(chunk);
                lowered.make_ascii_lowercase();
                out.put(lowered);
            }
        }
    }
    if let Some(port) = parts.port {
        let scheme = &bytes[..parts.scheme_end];
        let default = (scheme.eq_ignore_ascii_case(b"http") && port == 80)
            || (scheme.eq_ignore_ascii_case(b"https") && port == 443);
        if !default {
            let mut text = [0u8; 8];
            let written = {
                let mut cursor = &mut text[..];
                let _ = write!(cursor, ":{port}");
                8 - cursor.len()
            };
            out.put(&text[..written]);
        }
    }
    let path = &bytes[parts.path.0..parts.path.1];
    out.put(if path.is_empty() { b"/" } else { path });
    if parts.query.1 > parts.query.0 {
        out.put(b"?");
        out.put(&bytes[parts.query.0..parts.query.1]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(misp_type: Option<&str>, value: &str) -> Option<(IocKind, String)> {
        canonical_ioc(misp_type, value).ok()
    }

    fn untyped(value: &str) -> Option<(IocKind, String)> {
        canonical(None, value)
    }

    fn ok(kind: IocKind, text: &str) -> Option<(IocKind, String)> {
        Some((kind, text.to_owned()))
    }

    #[test]
    fn canonical_forms_of_the_table_in_1_4() {
        assert_eq!(untyped("Evil.COM."), ok(IocKind::Domain, "evil.com"));
        assert_eq!(untyped("1.2.3.4"), ok(IocKind::Ip, "1.2.3.4"));
        assert_eq!(
            untyped("2001:0DB8:0:0:0:0:0:1"),
            ok(IocKind::Ip, "2001:db8::1")
        );
        assert_eq!(untyped("10.1.2.3/8"), ok(IocKind::Cidr, "10.0.0.0/8"));
        assert_eq!(
            untyped("2001:0470:0036:1250::/60"),
            ok(IocKind::Cidr, "2001:470:36:1250::/60")
        );
        assert_eq!(
            untyped("HTTP://Evil.COM:80"),
            ok(IocKind::Url, "http://evil.com/")
        );
        assert_eq!(
            untyped("D41D8CD98F00B204E9800998ECF8427E"),
            ok(IocKind::Hash, "d41d8cd98f00b204e9800998ecf8427e")
        );
    }

    #[test]
    fn misp_types_decide_the_kind_and_the_value_must_fit_it() {
        for ip_type in ["ip-dst", "ip-src"] {
            assert_eq!(
                canonical(Some(ip_type), "1.2.3.4"),
                ok(IocKind::Ip, "1.2.3.4")
            );
            assert_eq!(
                canonical(Some(ip_type), "1.2.3.4/24"),
                ok(IocKind::Cidr, "1.2.3.0/24")
            );
            assert_eq!(
                canonical(Some(ip_type), "1.2.3.4/32"),
                ok(IocKind::Cidr, "1.2.3.4/32")
            );
            assert_eq!(canonical(Some(ip_type), "::1"), ok(IocKind::Ip, "::1"));
            assert_eq!(canonical(Some(ip_type), "evil.com"), None);
            assert_eq!(canonical(Some(ip_type), "1.2.3.4/33"), None);
            assert_eq!(canonical(Some(ip_type), "1.2.3.4/"), None);
            assert_eq!(canonical(Some(ip_type), "::/129"), None);
            assert_eq!(canonical(Some(ip_type), "01.2.3.4/8"), None);
        }
        for domain_type in ["domain", "hostname"] {
            assert_eq!(
                canonical(Some(domain_type), " WWW.Evil.com "),
                ok(IocKind::Domain, "www.evil.com")
            );
            assert_eq!(canonical(Some(domain_type), "1.2.3.4"), None);
            assert_eq!(canonical(Some(domain_type), "localhost"), None);
        }
        assert_eq!(
            canonical(Some("url"), "https://x.example"),
            ok(IocKind::Url, "https://x.example/")
        );
        assert_eq!(canonical(Some("url"), "x.example/path"), None);
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        for (misp_type, digest) in [("md5", md5), ("sha1", sha1), ("sha256", sha256)] {
            assert_eq!(
                canonical(Some(misp_type), digest),
                ok(IocKind::Hash, digest)
            );
            for (other_type, other) in [("md5", md5), ("sha1", sha1), ("sha256", sha256)] {
                if other_type != misp_type {
                    assert_eq!(canonical(Some(misp_type), other), None);
                }
            }
        }
        assert_eq!(canonical(Some("md5"), &format!("{}g", &md5[..31])), None);
        // A missing type is inferred; so is an empty one.
        assert_eq!(
            canonical(Some(""), "evil.com"),
            ok(IocKind::Domain, "evil.com")
        );
    }

    #[test]
    fn other_misp_types_are_not_hunted() {
        for misp_type in [
            "domain|ip",
            "ip-dst|port",
            "filename|sha256",
            "email-src",
            "sha512",
            "text",
        ] {
            assert_eq!(
                canonical_ioc(Some(misp_type), "evil.com"),
                Err(IocRejection::UnsupportedType(misp_type.to_owned()))
            );
        }
        assert_eq!(
            canonical_ioc(Some("url"), "not a url"),
            Err(IocRejection::BadShape)
        );
    }

    #[test]
    fn no_refanging() {
        assert_eq!(canonical(Some("url"), "hxxp://evil[.]com"), None);
        assert_eq!(untyped("hxxp://evil[.]com"), None);
        assert_eq!(canonical(Some("domain"), "evil[.]com"), None);
        assert_eq!(untyped("evil[.]com"), None);
    }

    #[test]
    fn untyped_values_take_the_first_shape_in_the_order_of_1_2() {
        assert_eq!(
            untyped("http://1.2.3.4/"),
            ok(IocKind::Url, "http://1.2.3.4/")
        );
        assert_eq!(untyped("  10.0.0.0/8\t"), ok(IocKind::Cidr, "10.0.0.0/8"));
        assert_eq!(untyped("::/0"), ok(IocKind::Cidr, "::/0"));
        assert_eq!(untyped("0.0.0.0/0"), ok(IocKind::Cidr, "0.0.0.0/0"));
        assert_eq!(untyped("1.2.3.4"), ok(IocKind::Ip, "1.2.3.4"));
        assert_eq!(untyped("::FFFF:1.2.3.4"), ok(IocKind::Ip, "::ffff:1.2.3.4"));
        assert_eq!(
            untyped("DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"),
            ok(IocKind::Hash, "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        );
        assert_eq!(
            untyped("_ldap._tcp.Example.com"),
            ok(IocKind::Domain, "_ldap._tcp.example.com")
        );
        // A hex string of another length is no hash and, without dots, no domain.
        assert_eq!(untyped("d41d8cd98f00b204"), None);
        for no_shape in [
            "",
            "   ",
            "evil.com/path",
            "1.2.3.4/x",
            "1.2.3.999",
            "localhost",
            "evil com",
            "http://",
            "user@evil.com",
        ] {
            assert_eq!(untyped(no_shape), None, "{no_shape:?}");
        }
    }

    #[test]
    fn ipv4_is_strict_dotted_decimal() {
        assert_eq!(parse_ipv4(b"1.2.3.4"), Some(0x0102_0304));
        assert_eq!(parse_ipv4(b"255.255.255.255"), Some(u32::MAX));
        assert_eq!(parse_ipv4(b"0.0.0.0"), Some(0));
        for bad in [
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3.256",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.4.",
            ".1.2.3",
            "1..2.3",
            "1.2.3.4 ",
            "a.b.c.d",
            "1234.1.1.1",
            "1.2.3.-4",
        ] {
            assert_eq!(parse_ipv4(bad.as_bytes()), None, "{bad}");
        }
    }

    /// The dotted-decimal rule of §3.1, digit by digit.
    fn parse_ipv4_reference(bytes: &[u8]) -> Option<u32> {
        let text = std::str::from_utf8(bytes).ok()?;
        let octets: Vec<&str> = text.split('.').collect();
        if octets.len() != 4 {
            return None;
        }
        let mut address = 0u32;
        for octet in octets {
            let well_formed = (1..=3).contains(&octet.len())
                && octet.bytes().all(|byte| byte.is_ascii_digit())
                && !(octet.len() > 1 && octet.starts_with('0'));
            let value: u32 = octet.parse().ok().filter(|_| well_formed)?;
            if value > 255 {
                return None;
            }
            address = address << 8 | value;
        }
        Some(address)
    }

    proptest::proptest! {
        #[test]
        fn ipv4_reads_the_dotted_decimal_rule(
            text in "[0-9.]{0,17}|([0-9]{1,4}\\.){3}[0-9]{1,4}|[0-9.a /:-]{0,16}"
        ) {
            let expected = parse_ipv4_reference(text.as_bytes());
            proptest::prop_assert_eq!(parse_ipv4(text.as_bytes()), expected, "{}", text);
            // The standard library reads the same (it refuses leading zeros as well).
            let standard = text.parse::<Ipv4Addr>().ok().map(u32::from);
            proptest::prop_assert_eq!(expected, standard, "{}", text);
        }

        #[test]
        fn ipv4_at_known_dots_is_the_dotted_decimal_rule(
            text in "([0-9]{0,4}\\.){3}[0-9]{0,4}"
        ) {
            let bytes = text.as_bytes();
            let dots = bytes
                .iter()
                .enumerate()
                .filter(|&(_, &byte)| byte == b'.')
                .fold(0u64, |dots, (index, _)| dots | 1 << index);
            proptest::prop_assert_eq!(ipv4_at_dots(bytes, dots), parse_ipv4(bytes), "{}", text);
        }

        #[test]
        fn ipv4_of_random_bytes(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..17)
        ) {
            proptest::prop_assert_eq!(parse_ipv4(&bytes), parse_ipv4_reference(&bytes));
        }
    }

    #[test]
    fn ipv6_is_rfc_4291_text_without_brackets_or_zone() {
        assert_eq!(parse_ipv6("2001:0DB8::0001"), parse_ipv6("2001:db8::1"));
        assert_eq!(parse_ipv6("::ffff:1.2.3.4"), Some(0xffff_0102_0304));
        for bad in [
            "fe80::1%eth0",
            "[::1]",
            "1::2::3",
            "12345::",
            "::ffff:01.2.3.4",
            "1:2:3:4:5:6:7:8:9",
            "::g",
            "1.2.3.4",
        ] {
            assert_eq!(parse_ipv6(bad), None, "{bad}");
        }
        // §3.1: an IPv4-mapped address is IPv6; its canonical form keeps the dotted tail.
        assert_eq!(untyped("::ffff:1.2.3.4"), ok(IocKind::Ip, "::ffff:1.2.3.4"));
    }

    #[test]
    fn ipv6_reads_what_the_standard_library_reads() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = b"0123456789abcdefABCDEF::::..g%";
        let pieces = [
            "::", "ffff:", "1.2.3.4", "0:", "fFfF", "00000", "01.2.3.4", "1:2:3:4:",
        ];
        for _ in 0..200_000 {
            let mut text = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = state % 30;
            let mut bits = state;
            for step in 0..len {
                if step % 5 == 4 {
                    text.push_str(pieces[(bits % pieces.len() as u64) as usize]);
                } else {
                    text.push(alphabet[(bits % alphabet.len() as u64) as usize] as char);
                }
                bits = bits.rotate_right(5).wrapping_mul(0x2545_f491_4f6c_dd1d);
            }
            let expected = text.parse::<Ipv6Addr>().ok().map(u128::from);
            assert_eq!(parse_ipv6(&text), expected, "{text}");
        }
        for text in [
            "::",
            "::1",
            "1::",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:1.2.3.4",
            "::1.2.3.4",
            "1::1.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
            "1:2:3:4:5:6:7:8:9",
            ":1::",
            "1:",
            ":",
            ":::",
            "1:::2",
            "::1:",
            "::ffff:1.2.3",
        ] {
            let expected = text.parse::<Ipv6Addr>().ok().map(u128::from);
            assert_eq!(parse_ipv6(text), expected, "{text}");
        }
    }

    #[test]
    fn domains_follow_3_3() {
        assert_eq!(domain_len(b"evil.com"), Some(8));
        assert_eq!(domain_len(b"WWW.Evil.Com."), Some(12));
        assert_eq!(domain_len(b"_ldap._tcp.example.com"), Some(22));
        assert_eq!(domain_len(b"a-.-b.c0m"), Some(9));
        assert_eq!(domain_len(b"1.2.3.4a"), Some(8));
        let label63 = "a".repeat(63);
        assert!(domain_len(format!("{label63}.com").as_bytes()).is_some());
        assert!(domain_len(format!("{label63}a.com").as_bytes()).is_none());
        // 253 characters in all (after the trailing dot is removed), not 254.
        let name253 = format!("{0}.{0}.{0}.{1}.com", label63, "b".repeat(57));
        assert_eq!(name253.len(), 253);
        assert_eq!(domain_len(name253.as_bytes()), Some(253));
        assert_eq!(domain_len(format!("{name253}.").as_bytes()), Some(253));
        assert_eq!(domain_len(format!("x{name253}").as_bytes()), None);
        for bad in [
            "localhost",
            "1.2.3.999",
            "evil.123",
            "evil..com",
            ".evil.com",
            "evil.com..",
            "evil.com/",
            "evil com.org",
            "évil.com",
            "evil.c*m",
            ".",
            "",
        ] {
            assert_eq!(domain_len(bad.as_bytes()), None, "{bad}");
        }
    }

    fn normalised(value: &str) -> Option<String> {
        let parts = parse_url(value)?;
        let mut out = Vec::new();
        write_normalised_url(value, &parts, &mut out);
        Some(String::from_utf8(out).unwrap())
    }

    #[test]
    fn url_normalisation_follows_3_4() {
        let cases = [
            ("HTTP://Evil.COM:80", "http://evil.com/"),
            (
                "HTTP://BAD.Example:80/gate.php#x",
                "http://bad.example/gate.php",
            ),
            ("https://x.example", "https://x.example/"),
            ("https://x.example:443/", "https://x.example/"),
            ("https://x.example:80/", "https://x.example:80/"),
            ("http://x.example:443/", "http://x.example:443/"),
            ("http://x.example:00080/", "http://x.example/"),
            ("ftp://x.example:21/a", "ftp://x.example:21/a"),
            (
                "http://user:pass@Evil.com./A/B?Q=1#frag",
                "http://evil.com/A/B?Q=1",
            ),
            ("http://a@b@evil.com/", "http://evil.com/"),
            ("http://evil.com?", "http://evil.com/"),
            ("http://evil.com?q", "http://evil.com/?q"),
            ("http://evil.com#?q", "http://evil.com/"),
            ("http://evil.com/a/../b/%41", "http://evil.com/a/../b/%41"),
            (
                "http://[2001:0DB8::1]:8080/x",
                "http://[2001:db8::1]:8080/x",
            ),
            ("http://[::FFFF:1.2.3.4]", "http://[::ffff:1.2.3.4]/"),
            ("svn+SSH.x-y://h/", "svn+ssh.x-y://h/"),
            ("http://10.9.9.9:8080/x", "http://10.9.9.9:8080/x"),
            ("http://localhost:0/", "http://localhost:0/"),
            ("http://x.example/ü?ä", "http://x.example/ü?ä"),
        ];
        for (value, expected) in cases {
            assert_eq!(normalised(value).as_deref(), Some(expected), "{value}");
        }
        for not_url in [
            "http://",
            "http:///path",
            "http://user@/",
            "http://evil.com:/",
            "http://evil.com:65536/",
            "http://evil.com:123456/",
            "http://evil.com:8o/",
            "http://[::1/",
            "http://[::1]x/",
            "http://[1.2.3.4]/",
            "http://[fe80::1%25eth0]/",
            "http://2001:db8::1/",
            "http://evil[.]com/",
            "1http://evil.com/",
            "://evil.com/",
            "ht tp://evil.com/",
            "http://evil.com/a b",
            "http://evil.com/\ta",
            "Mozilla/5.0 (+http://evil.com/bot)",
        ] {
            assert_eq!(normalised(not_url), None, "{not_url}");
            assert_eq!(untyped(not_url), None, "{not_url}");
        }
    }

    #[test]
    fn authority_form_needs_a_port() {
        fn host(value: &str) -> Option<(&str, UrlHost)> {
            parse_authority(value).map(|((start, end), kind)| (&value[start..end], kind))
        }
        assert_eq!(host("evil.com:443"), Some(("evil.com", UrlHost::Name)));
        assert_eq!(
            host("1.2.3.4:443"),
            Some(("1.2.3.4", UrlHost::Ipv4(0x0102_0304)))
        );
        assert_eq!(host("[::1]:443"), Some(("::1", UrlHost::Ipv6(1))));
        for bad in [
            "evil.com",
            "evil.com:",
            "[::1]",
            "::1:443",
            "evil.com:99999",
            ":443",
        ] {
            assert_eq!(host(bad), None, "{bad}");
        }
    }
}

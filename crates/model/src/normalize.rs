//! MISP-compatible massage and validation of attribute values.
//!
//! [`normalize_value`] does what MISP does when it saves an attribute
//! (`MispAttribute::beforeValidateMassage`, `AttributeValidationTool::modifyBeforeValidation`
//! and `AttributeValidationTool::validate`): trim, refang network-ish values, normalise the
//! value for its type (lower-case hashes, compress IPv6, `ip:port` → `ip|port`, …), validate
//! it, and split composite values on their single `|` into `value1` / `value2`.
//!
//! Where MISP is loose in a way that only lets garbage through (an unanchored HTTP method
//! match, a boolean that maps "no" to 1, a `.onion` pattern that can never match v3
//! addresses) this module is slightly stricter; everything MISP itself stores for a
//! well-formed value normalises to the same string here. Every normalised value normalises
//! to itself again.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::attribute_types::{attribute_type, category, is_composite};
use crate::refang::refang_cow;

pub use crate::attribute_types::default_category;

/// MISP's limit on the length of a value (its `value1` column is a TEXT), in bytes.
pub const MAX_VALUE_BYTES: usize = 65_535;

/// Why a value was refused for its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    pub message: String,
}

impl ValueError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// A value after MISP's massage: trimmed, refanged, normalised for its type and split
/// into halves for composite types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedValue {
    pub value1: String,
    pub value2: String,
}

impl NormalizedValue {
    /// The MISP `value` field: `value1|value2` for composite types, else `value1`.
    pub fn joined(&self, type_name: &str) -> String {
        if is_composite(type_name) {
            format!("{}|{}", self.value1, self.value2)
        } else {
            self.value1.clone()
        }
    }
}

/// Normalises and validates `raw` as a value of MISP attribute type `type_name`.
pub fn normalize_value(type_name: &str, raw: &str) -> Result<NormalizedValue, ValueError> {
    if attribute_type(type_name).is_none() {
        return Err(unknown_type(type_name));
    }
    let trimmed = php_trim(raw);
    if trimmed.is_empty() {
        return Err(ValueError::new(format!(
            "The value for type \"{type_name}\" is empty."
        )));
    }
    let value: Cow<'_, str> = if REFANGED_TYPES.contains(&type_name) {
        refang_cow(trimmed)
    } else {
        Cow::Borrowed(trimmed)
    };
    check_characters(type_name, &value)?;
    let value = massage(type_name, &value)?;
    if value.is_empty() {
        return Err(ValueError::new(format!(
            "The value for type \"{type_name}\" is empty once normalised."
        )));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(ValueError::new(format!(
            "The value for type \"{type_name}\" is {} bytes long; at most {MAX_VALUE_BYTES} bytes \
             are allowed. Consider adding the data as an attachment instead.",
            value.len()
        )));
    }
    split_composite(type_name, value)
}

/// Checks that `category_name` is a MISP category that allows `type_name`.
pub fn check_category(type_name: &str, category_name: &str) -> Result<(), ValueError> {
    if attribute_type(type_name).is_none() {
        return Err(unknown_type(type_name));
    }
    let Some(cat) = category(category_name) else {
        return Err(ValueError::new(format!(
            "Unknown category \"{category_name}\"."
        )));
    };
    if cat.types.contains(&type_name) {
        Ok(())
    } else {
        Err(ValueError::new(format!(
            "Category \"{category_name}\" does not allow type \"{type_name}\"."
        )))
    }
}

/// Types whose values are refanged before anything else (MISP refangs url/link,
/// ip-src/ip-dst, domain, domain|ip, hostname and the email types; the remaining
/// network types are refanged here as well).
pub const REFANGED_TYPES: &[&str] = &[
    "url",
    "link",
    "uri",
    "ip-src",
    "ip-dst",
    "ip-src|port",
    "ip-dst|port",
    "hostname",
    "hostname|port",
    "domain",
    "domain|ip",
    "email",
    "email-src",
    "email-dst",
    "target-email",
    "whois-registrant-email",
    "dns-soa-email",
    "eppn",
    "jabber-id",
];

/// Types whose values may span several lines (rules, queries, keys, free text). Every other
/// type refuses control characters, line breaks included.
pub const MULTILINE_TYPES: &[&str] = &[
    "text",
    "comment",
    "other",
    "email-body",
    "email-header",
    "yara",
    "sigma",
    "snort",
    "suricata",
    "bro",
    "zeek",
    "pattern-in-file",
    "pattern-in-traffic",
    "pattern-in-memory",
    "stix2-pattern",
    "kusto-query",
    "pgp-public-key",
    "pgp-private-key",
    "gene",
    "cookie",
    "cortex",
];

/// Whether values of this type may contain line breaks and tabs.
pub fn is_multiline(type_name: &str) -> bool {
    MULTILINE_TYPES.contains(&type_name)
}

fn unknown_type(type_name: &str) -> ValueError {
    ValueError::new(format!("Unknown attribute type \"{type_name}\"."))
}

/// The standard refusal: names the type and what a valid value looks like.
fn invalid(type_name: &str, expected: &str) -> ValueError {
    ValueError::new(format!(
        "Invalid value for type \"{type_name}\": expected {expected}. Please double check the \
         value or select another type (such as \"other\")."
    ))
}

/// PHP's `trim()`: strips space, tab, newline, carriage return, NUL and vertical tab.
fn php_trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r', '\0', '\u{0B}'])
}

fn check_characters(type_name: &str, value: &str) -> Result<(), ValueError> {
    let multiline = is_multiline(type_name);
    let bad = value
        .chars()
        .find(|&c| c.is_control() && !(multiline && matches!(c, '\t' | '\n' | '\r')));
    match bad {
        None => Ok(()),
        Some('\n' | '\r') => Err(ValueError::new(format!(
            "The value for type \"{type_name}\" must be a single line (it contains a line break)."
        ))),
        Some(c) => Err(ValueError::new(format!(
            "The value for type \"{type_name}\" contains a control character (U+{:04X}).",
            c as u32
        ))),
    }
}

fn split_composite(type_name: &str, value: String) -> Result<NormalizedValue, ValueError> {
    if !is_composite(type_name) {
        return Ok(NormalizedValue {
            value1: value,
            value2: String::new(),
        });
    }
    match value.split_once('|') {
        Some((a, b)) if !b.contains('|') => Ok(NormalizedValue {
            value1: a.to_string(),
            value2: b.to_string(),
        }),
        _ => Err(composite_error(type_name)),
    }
}

fn composite_error(type_name: &str) -> ValueError {
    let (left, right) = match type_name {
        "malware-sample" => ("filename", "md5"),
        _ => type_name.split_once('|').unwrap_or((type_name, "value")),
    };
    ValueError::new(format!(
        "Type \"{type_name}\" is composite: the value must be two parts separated by exactly one \
         \"|\" ({left}|{right})."
    ))
}

/// Lengths of the fixed-length hexadecimal digest types.
fn hex_length(type_name: &str) -> Option<usize> {
    Some(match type_name {
        "md5"
        | "imphash"
        | "ja3-fingerprint-md5"
        | "hassh-md5"
        | "hasshserver-md5"
        | "dom-hash"
        | "x509-fingerprint-md5" => 32,
        "sha1" | "pehash" | "git-commit-id" | "x509-fingerprint-sha1" => 40,
        "sha224" | "sha512/224" | "sha3-224" => 56,
        "sha256" | "sha512/256" | "sha3-256" | "authentihash" | "x509-fingerprint-sha256" => 64,
        "sha384" | "sha3-384" => 96,
        "sha512" | "sha3-512" => 128,
        "jarm-fingerprint" => 62,
        _ => return None,
    })
}

/// Type-specific normalisation followed by validation. `value` is trimmed, refanged where
/// applicable and free of forbidden control characters.
fn massage(type_name: &str, value: &str) -> Result<String, ValueError> {
    if let Some(rest) = type_name.strip_prefix("filename|") {
        return filename_hash(type_name, rest, value);
    }
    match type_name {
        "x509-fingerprint-md5" | "x509-fingerprint-sha1" | "x509-fingerprint-sha256" => {
            hash_value(type_name, type_name, &value.replace(':', ""))
        }
        t if hex_length(t).is_some() => hash_value(t, t, value),
        "telfhash" | "tlsh" | "cdhash" | "vhash" | "ssdeep" | "impfuzzy" => {
            hash_value(type_name, type_name, value)
        }
        "ssh-fingerprint" => {
            if is_ssh_fingerprint(value) {
                Ok(value.to_string())
            } else {
                Err(invalid(
                    type_name,
                    "an MD5 fingerprint (32 hexadecimal characters, optionally colon-separated \
                     or prefixed with \"MD5:\") or \"SHA256:\" followed by base64 of 32 bytes",
                ))
            }
        }
        "ip-src" | "ip-dst" => normalize_ip_or_cidr(type_name, value),
        "ip-src|port" | "ip-dst|port" => ip_port(type_name, value),
        "hostname" | "domain" => normalize_domain(type_name, value),
        "domain|ip" => {
            let lower = value.to_ascii_lowercase();
            let (domain, ip) = split_one(type_name, &lower)?;
            let domain = normalize_domain(type_name, domain)?;
            let ip = normalize_ip(type_name, ip)?;
            Ok(format!("{domain}|{ip}"))
        }
        "hostname|port" => {
            let replaced = value.to_ascii_lowercase().replace(':', "|");
            let (host, port) = split_one(type_name, &replaced)?;
            let host = normalize_domain(type_name, host)?;
            let port = normalize_port(type_name, port)?;
            Ok(format!("{host}|{port}"))
        }
        "email" | "email-src" | "email-dst" | "target-email" | "whois-registrant-email" => {
            let lower = value.to_ascii_lowercase();
            check_email(type_name, &lower)?;
            Ok(lower)
        }
        "eppn" | "dns-soa-email" | "jabber-id" => {
            check_email(type_name, value)?;
            Ok(value.to_string())
        }
        "link" => {
            if is_link(value) {
                Ok(value.to_string())
            } else {
                Err(invalid(
                    type_name,
                    "an absolute URL with a scheme and a host, such as https://example.com/page",
                ))
            }
        }
        "port" => normalize_port(type_name, value),
        "AS" => normalize_as(type_name, value),
        "mac-address" => normalize_mac(type_name, value, 6),
        "mac-eui-64" => normalize_mac(type_name, value, 8),
        "vulnerability" | "weakness" => normalize_cve_cwe(type_name, value),
        "cc-number" | "bin" => {
            let digits: String = value.chars().filter(char::is_ascii_digit).collect();
            if digits.is_empty() {
                Err(invalid(
                    type_name,
                    "a number (digits; separators are removed)",
                ))
            } else {
                Ok(digits)
            }
        }
        "iban" | "bic" => {
            let cleaned: String = value
                .chars()
                .map(|c| c.to_ascii_uppercase())
                .filter(char::is_ascii_alphanumeric)
                .collect();
            if cleaned.is_empty() {
                Err(invalid(
                    type_name,
                    "letters and digits (separators are removed)",
                ))
            } else {
                Ok(cleaned)
            }
        }
        "prtn" | "whois-registrant-phone" | "phone-number" => normalize_phone(type_name, value),
        "bank-account-nr" | "aba-rtn" | "float" => {
            if is_php_numeric(value) {
                Ok(value.to_string())
            } else {
                Err(invalid(type_name, "a number"))
            }
        }
        "integer" => {
            let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                Ok(value.to_string())
            } else {
                Err(invalid(type_name, "a whole number, such as 42 or -7"))
            }
        }
        "size-in-bytes" | "counter" => {
            if value.bytes().all(|b| b.is_ascii_digit()) {
                Ok(value.to_string())
            } else {
                Err(invalid(
                    type_name,
                    "a whole number greater than or equal to 0",
                ))
            }
        }
        "http-method" => {
            let upper = value.to_ascii_uppercase();
            if HTTP_METHODS.contains(&upper.as_str()) {
                Ok(upper)
            } else {
                Err(invalid(
                    type_name,
                    "an HTTP method such as GET, POST, PUT or DELETE",
                ))
            }
        }
        "hex" => {
            let upper = value.to_ascii_uppercase();
            let digits = upper.strip_prefix("0X").unwrap_or(&upper);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(digits.to_string())
            } else {
                Err(invalid(
                    type_name,
                    "hexadecimal digits (0-9, A-F), optionally prefixed with 0x",
                ))
            }
        }
        "boolean" => match value.to_ascii_lowercase().as_str() {
            "1" | "true" => Ok("1".to_string()),
            "0" | "false" => Ok("0".to_string()),
            _ => Err(invalid(type_name, "true, false, 1 or 0")),
        },
        "datetime" => normalize_datetime(value).ok_or_else(|| {
            invalid(
                type_name,
                "an ISO 8601 date or date and time, such as 2019-06-25 or \
                 2019-06-25T15:26:00+02:00",
            )
        }),
        "onion-address" => {
            let lower = value.to_ascii_lowercase();
            let host = lower.strip_suffix(".onion").unwrap_or("");
            let base32 = host.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'));
            if base32 && (host.len() == 16 || host.len() == 56) {
                Ok(lower)
            } else {
                Err(invalid(
                    type_name,
                    "16 (v2) or 56 (v3) base32 characters followed by \".onion\"",
                ))
            }
        }
        "anonymised" => Ok(value.to_ascii_lowercase()),
        "uuid" => match uuid::Uuid::try_parse(value) {
            Ok(u) => Ok(u.hyphenated().to_string()),
            Err(_) => Err(invalid(
                type_name,
                "a UUID such as 5f1c9b3e-7a2d-4c8e-9b1a-2d3c4e5f6a7b",
            )),
        },
        "community-id" => {
            if is_community_id(value) {
                Ok(value.to_string())
            } else {
                Err(invalid(
                    type_name,
                    "a Community ID flow hash such as 1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
                ))
            }
        }
        "btc" | "dash" | "xmr" => {
            if value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                Ok(value.to_string())
            } else {
                Err(invalid(
                    type_name,
                    "a wallet address made of letters and digits only",
                ))
            }
        }
        "windows-service-name" | "windows-service-displayname" => {
            if value.len() > 256 || value.contains(['/', '\\']) {
                Err(invalid(
                    type_name,
                    "at most 256 bytes without any forward or backward slash",
                ))
            } else {
                Ok(value.to_string())
            }
        }
        "cortex" => {
            if json_is_valid(value) {
                Ok(value.to_string())
            } else {
                Err(invalid(type_name, "a JSON document"))
            }
        }
        // Free text: url, uri, filename, regkey, user-agent, names, e-mail headers, rules, …
        _ => Ok(value.to_string()),
    }
}

const HTTP_METHODS: &[&str] = &[
    "OPTIONS",
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "TRACE",
    "CONNECT",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "VERSION-CONTROL",
    "REPORT",
    "CHECKOUT",
    "CHECKIN",
    "UNCHECKOUT",
    "MKWORKSPACE",
    "UPDATE",
    "LABEL",
    "MERGE",
    "BASELINE-CONTROL",
    "MKACTIVITY",
    "ORDERPATCH",
    "ACL",
    "PATCH",
    "SEARCH",
];

/// Splits on a single `|`, refusing anything else.
fn split_one<'a>(type_name: &str, value: &'a str) -> Result<(&'a str, &'a str), ValueError> {
    match value.split_once('|') {
        Some((a, b)) if !b.contains('|') => Ok((a, b)),
        _ => Err(composite_error(type_name)),
    }
}

// ---------------------------------------------------------------------------------------
// Hashes

/// Normalises and checks a digest of kind `hash_type`; errors name `display_type`.
fn hash_value(display_type: &str, hash_type: &str, value: &str) -> Result<String, ValueError> {
    let is_hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(len) = hex_length(hash_type) {
        let lower = value.to_ascii_lowercase();
        return if lower.len() == len && is_hex(&lower) {
            Ok(lower)
        } else {
            Err(invalid(
                display_type,
                &format!("{len} hexadecimal characters for the {hash_type} digest"),
            ))
        };
    }
    match hash_type {
        "telfhash" => {
            let lower = value.to_ascii_lowercase();
            let ok = (lower.len() == 70 && is_hex(&lower))
                || (lower.len() == 72
                    && (is_hex(&lower) || lower.strip_prefix("t1").is_some_and(is_hex)));
            if ok {
                Ok(lower)
            } else {
                Err(invalid(
                    display_type,
                    "a telfhash of 70 or 72 hexadecimal characters (72 may start with \"t1\")",
                ))
            }
        }
        "tlsh" => {
            let lower = value.to_ascii_lowercase();
            let body = lower.strip_prefix('t').unwrap_or(&lower);
            if body.len() > 35 && is_hex(body) {
                Ok(lower)
            } else {
                Err(invalid(
                    display_type,
                    "a TLSH digest of at least 36 hexadecimal characters, optionally prefixed with \"T\" (as in \"T1…\")",
                ))
            }
        }
        "cdhash" => {
            let lower = value.to_ascii_lowercase();
            if lower.len() >= 40 && is_hex(&lower) {
                Ok(lower)
            } else {
                Err(invalid(
                    display_type,
                    "a code directory hash of at least 40 hexadecimal characters",
                ))
            }
        }
        "vhash" => Ok(value.to_ascii_lowercase()),
        "ssdeep" => {
            if is_ssdeep(value) {
                Ok(value.to_string())
            } else {
                Err(invalid(
                    display_type,
                    "an ssdeep hash in the form blocksize:hash:hash",
                ))
            }
        }
        "impfuzzy" => {
            let mut parts = value.split(':');
            let first = parts.next().unwrap_or("");
            let ok = value.matches(':').count() == 2
                && !first.is_empty()
                && first.bytes().all(|b| b.is_ascii_digit());
            if ok {
                Ok(value.to_string())
            } else {
                Err(invalid(
                    display_type,
                    "an impfuzzy hash in the form imports:hash:hash",
                ))
            }
        }
        _ => Ok(value.to_string()),
    }
}

/// `filename|<hash>`: the filename is kept as is, the hash half is normalised like a value of
/// the hash type (lower-cased except for the case-sensitive ssdeep and impfuzzy).
fn filename_hash(type_name: &str, hash_type: &str, value: &str) -> Result<String, ValueError> {
    let (filename, hash) = split_one(type_name, value)?;
    if filename.is_empty() || hash.is_empty() {
        return Err(composite_error(type_name));
    }
    let hash = hash_value(type_name, hash_type, hash)?;
    Ok(format!("{filename}|{hash}"))
}

fn is_ssdeep(value: &str) -> bool {
    let b64 = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+')
    };
    let parts: Vec<&str> = value.split(':').collect();
    parts.len() == 3
        && !parts[0].is_empty()
        && parts[0].bytes().all(|b| b.is_ascii_digit())
        && b64(parts[1])
        && b64(parts[2])
}

fn is_ssh_fingerprint(value: &str) -> bool {
    if let Some(b64) = value.strip_prefix("SHA256:") {
        // Base64 of 32 bytes: 43 characters, optionally padded with one `=`.
        let body = b64.strip_suffix('=').unwrap_or(b64);
        return body.len() == 43
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    }
    let hex = value.strip_prefix("MD5:").unwrap_or(value).replace(':', "");
    hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------------------------------
// IP addresses and ports

/// Formats an IPv6 address as glibc's `inet_ntop` does (which MISP uses through PHP):
/// lower-case, longest run of two or more zero groups compressed, and the last 32 bits
/// in dotted form for IPv4-compatible (`::a.b.c.d`) and IPv4-mapped (`::ffff:a.b.c.d`)
/// addresses.
pub fn format_ipv6(addr: &Ipv6Addr) -> String {
    let words = addr.segments();
    let (mut best_base, mut best_len) = (usize::MAX, 0);
    let mut i = 0;
    while i < 8 {
        if words[i] == 0 {
            let start = i;
            while i < 8 && words[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                (best_base, best_len) = (start, i - start);
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        best_base = usize::MAX;
    }
    let mut out = String::with_capacity(39);
    for (i, word) in words.iter().enumerate() {
        if best_base != usize::MAX && i >= best_base && i < best_base + best_len {
            if i == best_base {
                out.push(':');
            }
            continue;
        }
        if i != 0 {
            out.push(':');
        }
        if i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff)) {
            let o = addr.octets();
            out.push_str(&Ipv4Addr::new(o[12], o[13], o[14], o[15]).to_string());
            return out;
        }
        out.push_str(&format!("{word:x}"));
    }
    if best_base != usize::MAX && best_base + best_len == 8 {
        out.push(':');
    }
    out
}

/// A single IPv4 or IPv6 address in MISP's canonical form (IPv4 as given without leading
/// zeros, IPv6 compressed and lower-case).
fn normalize_ip(type_name: &str, value: &str) -> Result<String, ValueError> {
    match value.parse::<IpAddr>() {
        // The IPv4 parser takes only the dotted form it would print (no leading zeros, no
        // blanks), so the text is already canonical; formatting it again cost more than the
        // rest of an address's checks.
        Ok(IpAddr::V4(_)) => Ok(value.to_string()),
        Ok(IpAddr::V6(v6)) => Ok(format_ipv6(&v6)),
        Err(_) => Err(invalid(type_name, "an IPv4 or IPv6 address")),
    }
}

/// An address with an optional CIDR prefix. As MISP does, the network is kept as given
/// (host bits are not cleared) and a full-length prefix (/32, /128) is dropped.
fn normalize_ip_or_cidr(type_name: &str, value: &str) -> Result<String, ValueError> {
    let Some((ip, prefix)) = value.split_once('/') else {
        return normalize_ip(type_name, value);
    };
    let expected = "an IPv4 or IPv6 address, optionally with a CIDR prefix length (/0-32 for IPv4, /0-128 for IPv6)";
    let addr: IpAddr = ip.parse().map_err(|_| invalid(type_name, expected))?;
    if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(type_name, expected));
    }
    let prefix: u8 = prefix.parse().map_err(|_| invalid(type_name, expected))?;
    let (text, max) = match addr {
        IpAddr::V4(v4) => (v4.to_string(), 32),
        IpAddr::V6(v6) => (format_ipv6(&v6), 128),
    };
    if prefix > max {
        Err(invalid(type_name, expected))
    } else if prefix == max {
        Ok(text)
    } else {
        Ok(format!("{text}/{prefix}"))
    }
}

/// A port number 1-65535, written without leading zeros.
fn normalize_port(type_name: &str, value: &str) -> Result<String, ValueError> {
    let ok = !value.is_empty() && value.len() <= 5 && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u32>() {
        Ok(n) if ok && (1..=65535).contains(&n) => Ok(n.to_string()),
        _ => Err(invalid(type_name, "a port number between 1 and 65535")),
    }
}

/// `ip-src|port` / `ip-dst|port`. Accepted spellings (as in MISP): `1.2.3.4|80`,
/// `1.2.3.4:80`, `2001:db8::1|80`, `[2001:db8::1]:80`, `2001:db8::1.80`,
/// `2001:db8::1 port 80`, `2001:db8::1p80`, `2001:db8::1#80` and the ambiguous
/// `2001:db8::1:80` (last group taken as the port). Stored as `ip|port`.
fn ip_port(type_name: &str, value: &str) -> Result<String, ValueError> {
    let expected = "an IP address and a port, such as 1.2.3.4|80, 1.2.3.4:80 or [2001:db8::1]:80";
    let err = || invalid(type_name, expected);
    let (ip, port): (&str, &str) = if value.matches(':').count() >= 2 {
        if value.contains('|') {
            split_one(type_name, value)?
        } else if let Some(rest) = value.strip_prefix('[') {
            let (ip, after) = rest.split_once(']').ok_or_else(err)?;
            (ip, after.strip_prefix(':').ok_or_else(err)?)
        } else if let Some(split) = value.split_once(" port ") {
            split
        } else if let Some(split) = value.split_once('#') {
            split
        } else if let Some(split) = value.rsplit_once('.') {
            split
        } else if let Some(split) = value.split_once('p') {
            split
        } else {
            value.rsplit_once(':').ok_or_else(err)?
        }
    } else if let Some(split) = value.split_once(':') {
        split
    } else if value.contains('|') {
        split_one(type_name, value)?
    } else {
        return Err(err());
    };
    let ip = match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => format_ipv6(&v6),
        Err(_) => return Err(err()),
    };
    let port = normalize_port(type_name, port)?;
    Ok(format!("{ip}|{port}"))
}

// ---------------------------------------------------------------------------------------
// Domains, e-mail addresses, links

/// Lower-cases, strips leading/trailing dots, converts IDNs to punycode and validates a
/// domain or host name (letters, digits, `-`, `_`; at least two labels; a TLD of two or
/// more letters, digits or `-`).
fn normalize_domain(type_name: &str, value: &str) -> Result<String, ValueError> {
    let expected = "a domain name such as example.com (letters, digits, \"-\" and \"_\" in \
                    dot-separated labels of at most 63 characters)";
    let mut name = value.trim_matches('.').to_ascii_lowercase();
    if !name.is_ascii() {
        name = idna::domain_to_ascii(&name).map_err(|_| invalid(type_name, expected))?;
        name = name.trim_matches('.').to_string();
    }
    if is_domain_valid(&name) {
        Ok(name)
    } else {
        Err(invalid(type_name, expected))
    }
}

fn is_domain_valid(name: &str) -> bool {
    if name.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    let tld = labels[labels.len() - 1];
    labels.iter().all(|l| label_ok(l)) && tld.len() >= 2 && !tld.contains('_')
}

/// MISP's loose e-mail check: no whitespace, a non-empty local part, an `@`, and a domain
/// part containing a dot.
fn check_email(type_name: &str, value: &str) -> Result<(), ValueError> {
    let ok = !value.chars().any(char::is_whitespace)
        && value.rsplit_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.split('.').count() >= 2
                && domain.split('.').all(|l| !l.is_empty())
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            type_name,
            "an e-mail address such as user@example.com",
        ))
    }
}

/// A URL as PHP's `FILTER_VALIDATE_URL` wants it: a scheme, and for all but `mailto:`,
/// `news:` and `file:` an authority (`//host…`) with a non-empty host; no whitespace.
fn is_link(value: &str) -> bool {
    if value.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((scheme, rest)) = value.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return false;
    }
    if ["mailto", "news", "file"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
    {
        return !rest.is_empty();
    }
    let Some(authority) = rest.strip_prefix("//") else {
        return false;
    };
    let authority = authority.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split_once(']').map_or("", |(h, _)| h)
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    !host.is_empty()
}

// ---------------------------------------------------------------------------------------
// Other typed values

/// `AS`: drops an `AS` prefix and converts asdot (`1.10`) to asplain (`65546`).
fn normalize_as(type_name: &str, value: &str) -> Result<String, ValueError> {
    let expected = "an AS number between 0 and 4294967295, such as AS64500, 64500 or 1.10 (asdot)";
    let digits = |s: &str| !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit());
    let body = if value
        .as_bytes()
        .get(..2)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"AS"))
    {
        value[2..].trim_start()
    } else {
        value
    };
    let number: u64 = match body.split_once('.') {
        Some((high, low)) if digits(high) && digits(low) => {
            let (high, low): (u64, u64) = (
                high.parse().unwrap_or(u64::MAX),
                low.parse().unwrap_or(u64::MAX),
            );
            if high > 65535 || low > 65535 {
                return Err(invalid(type_name, expected));
            }
            high * 65536 + low
        }
        None if digits(body) => body.parse().unwrap_or(u64::MAX),
        _ => return Err(invalid(type_name, expected)),
    };
    if number > u64::from(u32::MAX) {
        return Err(invalid(type_name, expected));
    }
    Ok(number.to_string())
}

/// MAC (6 bytes) or EUI-64 (8 bytes): separators `:`, `-`, `.` and spaces are accepted,
/// the result is lower-case `aa:bb:cc:…`.
fn normalize_mac(type_name: &str, value: &str, bytes: usize) -> Result<String, ValueError> {
    let hex: Vec<u8> = value
        .bytes()
        .filter(|b| !matches!(b, b':' | b'-' | b'.' | b' '))
        .map(|b| b.to_ascii_lowercase())
        .collect();
    if hex.len() != bytes * 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
        let example = if bytes == 6 {
            "00:11:22:aa:bb:cc"
        } else {
            "00:11:22:33:44:55:aa:bb"
        };
        return Err(invalid(
            type_name,
            &format!(
                "{bytes} bytes as hexadecimal pairs, such as {example} (\":\", \"-\" or \".\" separated)"
            ),
        ));
    }
    let pairs: Vec<&str> = hex
        .chunks(2)
        .map(|c| std::str::from_utf8(c).expect("ascii hex"))
        .collect();
    Ok(pairs.join(":"))
}

/// `vulnerability` (`CVE-YYYY-NNNN…`) and `weakness` (`CWE-N…`): dashes unified, upper-case.
fn normalize_cve_cwe(type_name: &str, value: &str) -> Result<String, ValueError> {
    let upper: String = value
        .chars()
        .map(|c| {
            if matches!(
                c,
                '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}'
            ) {
                '-'
            } else {
                c
            }
        })
        .collect::<String>()
        .to_uppercase();
    let digits = |s: &str, min: usize| s.len() >= min && s.bytes().all(|b| b.is_ascii_digit());
    if type_name == "vulnerability" {
        let ok = upper
            .strip_prefix("CVE-")
            .and_then(|r| r.split_once('-'))
            .is_some_and(|(year, id)| year.len() == 4 && digits(year, 4) && digits(id, 4));
        if ok {
            Ok(upper)
        } else {
            Err(invalid(
                type_name,
                "a CVE identifier such as CVE-2021-44228",
            ))
        }
    } else {
        let ok = upper.strip_prefix("CWE-").is_some_and(|id| digits(id, 1));
        if ok {
            Ok(upper)
        } else {
            Err(invalid(type_name, "a CWE identifier such as CWE-79"))
        }
    }
}

/// Phone numbers: a leading `00` becomes `+`, a `(0)` trunk prefix and every character but
/// digits and `+` are removed.
fn normalize_phone(type_name: &str, value: &str) -> Result<String, ValueError> {
    let value = match value.strip_prefix("00") {
        Some(rest) => Cow::Owned(format!("+{rest}")),
        None => Cow::Borrowed(value),
    };
    let cleaned: String = value
        .replace("(0)", "")
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    let digits = cleaned.strip_prefix('+').unwrap_or(&cleaned);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(cleaned)
    } else {
        Err(invalid(
            type_name,
            "a phone number made of digits, optionally starting with + or 00",
        ))
    }
}

/// PHP's `is_numeric` for trimmed strings: optional sign, decimal digits with an optional
/// fraction, optional exponent.
pub fn is_php_numeric(value: &str) -> bool {
    let s = value.strip_prefix(['+', '-']).unwrap_or(value);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = all_digits(int) && all_digits(frac) && !(int.is_empty() && frac.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    mantissa_ok && exponent_ok
}

fn is_community_id(value: &str) -> bool {
    value.split_once(':').is_some_and(|(version, hash)| {
        let body = hash.trim_end_matches('=');
        !version.is_empty()
            && version.bytes().all(|b| b.is_ascii_digit())
            && !body.is_empty()
            && hash.len() - body.len() <= 2
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    })
}

// ---------------------------------------------------------------------------------------
// datetime

/// Parses an ISO 8601-ish date/time and formats it as MISP stores it:
/// `YYYY-MM-DDTHH:MM:SS.ffffff±HHMM`. Without an offset the time is taken as UTC (MISP
/// parses it in GMT); a given offset is kept.
///
/// Accepted: `YYYY-MM-DD`, followed optionally by `T` or a space and `HH:MM`, `HH:MM:SS`
/// or `HH:MM:SS.fraction`, followed optionally (a space allowed before it) by `Z`, `UTC`,
/// `GMT`, `±HH`, `±HHMM` or `±HH:MM`; or `@` and a Unix timestamp.
fn normalize_datetime(value: &str) -> Option<String> {
    if let Some(ts) = value.strip_prefix('@') {
        let secs: i64 = ts.parse().ok()?;
        let dt = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
        return Some(format_datetime(dt.date(), dt.time(), 0));
    }
    let b = value.as_bytes();
    let num = |s: &[u8]| -> Option<u32> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = num(&b[0..4])? as i32;
    let month = time::Month::try_from(num(&b[5..7])? as u8).ok()?;
    let date = time::Date::from_calendar_date(year, month, num(&b[8..10])? as u8).ok()?;
    let mut rest = &value[10..];
    let mut clock = time::Time::MIDNIGHT;
    if let Some(t) = rest.strip_prefix(['T', 't', ' ']) {
        let tb = t.as_bytes();
        if tb.len() < 5 || tb[2] != b':' {
            return None;
        }
        let hour = num(&tb[0..2])?;
        let minute = num(&tb[3..5])?;
        let mut second = 0;
        let mut micros = 0;
        let mut pos = 5;
        if tb.get(5) == Some(&b':') {
            second = num(tb.get(6..8)?)?;
            pos = 8;
            if matches!(tb.get(8), Some(b'.' | b',')) {
                let frac_len = tb[9..].iter().take_while(|c| c.is_ascii_digit()).count();
                if frac_len == 0 {
                    return None;
                }
                let mut digits: String = t[9..9 + frac_len.min(6)].to_string();
                while digits.len() < 6 {
                    digits.push('0');
                }
                micros = digits.parse().ok()?;
                pos = 9 + frac_len;
            }
        }
        clock = time::Time::from_hms_micro(hour as u8, minute as u8, second as u8, micros).ok()?;
        rest = &t[pos..];
    }
    let zone = rest.strip_prefix(' ').unwrap_or(rest);
    let offset_minutes: i32 = match zone {
        "" | "Z" | "z" | "UTC" | "GMT" => 0,
        _ => {
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let z = &zone[1..];
            if !z.is_ascii() {
                return None;
            }
            let (h, m) = match z.len() {
                2 => (z, "00"),
                4 => (&z[..2], &z[2..]),
                5 if z.as_bytes()[2] == b':' => (&z[..2], &z[3..]),
                _ => return None,
            };
            let (h, m) = (num(h.as_bytes())?, num(m.as_bytes())?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 60 + m) as i32
        }
    };
    Some(format_datetime(date, clock, offset_minutes))
}

fn format_datetime(date: time::Date, clock: time::Time, offset_minutes: i32) -> String {
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let off = offset_minutes.unsigned_abs();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{sign}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        clock.hour(),
        clock.minute(),
        clock.second(),
        clock.microsecond(),
        off / 60,
        off % 60
    )
}

// ---------------------------------------------------------------------------------------
// JSON (for `cortex`)

/// Whether `text` is one complete JSON value (RFC 8259), surrounded by optional whitespace.
fn json_is_valid(text: &str) -> bool {
    let mut p = JsonCheck {
        b: text.as_bytes(),
        i: 0,
        depth: 0,
    };
    p.ws();
    let ok = p.value();
    p.ws();
    ok && p.i == p.b.len()
}

struct JsonCheck<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

impl JsonCheck<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> bool {
        match self.peek() {
            Some(b'{') => self.container(b'}', true),
            Some(b'[') => self.container(b']', false),
            Some(b'"') => self.string(),
            Some(b't') => self.eat(b"true"),
            Some(b'f') => self.eat(b"false"),
            Some(b'n') => self.eat(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn container(&mut self, close: u8, object: bool) -> bool {
        self.depth += 1;
        if self.depth > 512 {
            return false;
        }
        self.i += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            self.depth -= 1;
            return true;
        }
        loop {
            if object {
                if !self.string() {
                    return false;
                }
                self.ws();
                if !self.eat(b":") {
                    return false;
                }
                self.ws();
            }
            if !self.value() {
                return false;
            }
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(c) if c == close => {
                    self.i += 1;
                    self.depth -= 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    fn string(&mut self) -> bool {
        if !self.eat(b"\"") {
            return false;
        }
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'"' => return true,
                b'\\' => match self.peek() {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                    Some(b'u') => {
                        let hex = self.b.get(self.i + 1..self.i + 5);
                        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                            return false;
                        }
                        self.i += 5;
                    }
                    _ => return false,
                },
                0..=0x1f => return false,
                _ => {}
            }
        }
        false
    }

    fn number(&mut self) -> bool {
        let digits = |p: &mut Self| {
            let start = p.i;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.i += 1;
            }
            p.i - start
        };
        self.eat(b"-");
        if self.peek() == Some(b'0') {
            self.i += 1;
        } else if digits(self) == 0 {
            return false;
        }
        if self.eat(b".") && digits(self) == 0 {
            return false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Normalises and returns the MISP `value` (halves joined back with `|`).
    fn norm(type_name: &str, raw: &str) -> Result<String, ValueError> {
        normalize_value(type_name, raw).map(|v| v.joined(type_name))
    }

    #[track_caller]
    fn accepts(type_name: &str, cases: &[(&str, &str)]) {
        for (input, expected) in cases {
            let got = norm(type_name, input)
                .unwrap_or_else(|e| panic!("{type_name} {input:?} refused: {e}"));
            assert_eq!(&got, expected, "{type_name} {input:?}");
            let again = norm(type_name, &got)
                .unwrap_or_else(|e| panic!("{type_name} {got:?} (normalised) refused: {e}"));
            assert_eq!(again, got, "{type_name} not idempotent for {input:?}");
        }
    }

    #[track_caller]
    fn rejects(type_name: &str, cases: &[&str]) {
        for input in cases {
            match norm(type_name, input) {
                Ok(v) => panic!("{type_name} {input:?} accepted as {v:?}"),
                Err(e) => assert!(
                    e.message.contains(&format!("\"{type_name}\"")),
                    "error for {type_name} {input:?} does not name the type: {e}"
                ),
            }
        }
    }

    #[test]
    fn unknown_type_and_empty_values() {
        let err = normalize_value("no-such-type", "x").unwrap_err();
        assert!(err.message.contains("Unknown attribute type"), "{err}");
        assert!(err.message.contains("no-such-type"));
        rejects("text", &["", "   ", "\n\t "]);
        rejects("md5", &[" \r\n"]);
        rejects("cc-number", &["----"]);
    }

    #[test]
    fn trims_like_php() {
        accepts("text", &[("  a b \t\n", "a b"), ("\0x\u{0B}", "x")]);
        // PHP's trim() leaves non-ASCII whitespace alone.
        accepts("text", &[("\u{a0}x", "\u{a0}x")]);
    }

    #[test]
    fn control_characters() {
        accepts(
            "text",
            &[("line 1\r\nline 2\tend", "line 1\r\nline 2\tend")],
        );
        accepts(
            "yara",
            &[(
                "rule a {\n\tcondition: true\n}",
                "rule a {\n\tcondition: true\n}",
            )],
        );
        rejects("text", &["a\u{7}b", "a\u{0}b"]);
        rejects("filename", &["a\nb.exe", "a\tb", "a\u{1b}b"]);
        rejects("url", &["http://a/\nb"]);
        rejects("regkey|value", &["HKLM\\x|a\nb"]);
        let err = normalize_value("filename", "a\nb").unwrap_err();
        assert!(err.message.contains("single line"), "{err}");
    }

    #[test]
    fn length_limit() {
        let long = "a".repeat(MAX_VALUE_BYTES);
        assert!(normalize_value("text", &long).is_ok());
        let err = normalize_value("text", &format!("{long}b")).unwrap_err();
        assert!(err.message.contains("65535"), "{err}");
    }

    #[test]
    fn hashes() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        accepts(
            "md5",
            &[
                (md5, md5),
                (&md5.to_uppercase(), md5),
                (&format!("  {md5} "), md5),
            ],
        );
        rejects(
            "md5",
            &[
                "d41d8cd98f00b204e9800998ecf8427",
                "g41d8cd98f00b204e9800998ecf8427e",
                "x",
            ],
        );
        let err = normalize_value("md5", "abc").unwrap_err();
        assert!(err.message.contains("32 hexadecimal"), "{err}");
        for (t, len) in [
            ("sha1", 40),
            ("sha224", 56),
            ("sha256", 64),
            ("sha384", 96),
            ("sha512", 128),
            ("sha512/224", 56),
            ("sha512/256", 64),
            ("sha3-224", 56),
            ("sha3-256", 64),
            ("sha3-384", 96),
            ("sha3-512", 128),
            ("imphash", 32),
            ("authentihash", 64),
            ("pehash", 40),
            ("git-commit-id", 40),
            ("ja3-fingerprint-md5", 32),
            ("hassh-md5", 32),
            ("hasshserver-md5", 32),
            ("jarm-fingerprint", 62),
            ("dom-hash", 32),
        ] {
            let good = "Ab".repeat(len / 2);
            accepts(t, &[(&good, &good.to_lowercase())]);
            rejects(
                t,
                &[
                    &"a".repeat(len - 1),
                    &"a".repeat(len + 1),
                    &format!("{}z", "a".repeat(len - 1)),
                ],
            );
        }
        let fp = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";
        accepts(
            "x509-fingerprint-md5",
            &[(fp, "abcdef0123456789abcdef0123456789")],
        );
        accepts(
            "x509-fingerprint-sha1",
            &[("AA:".repeat(20).trim_end_matches(':'), &"a".repeat(40))],
        );
        accepts(
            "x509-fingerprint-sha256",
            &[(&"0F".repeat(32), &"0f".repeat(32))],
        );
        rejects("x509-fingerprint-sha256", &[&"0f".repeat(31)]);
    }

    #[test]
    fn fuzzy_and_variable_hashes() {
        let ssdeep = "96:s4Ud1Lj96tHHlZDrwciQmA+4uy1I0G4HYuL8N3TzS8QsO/wqWXLcMSx:sF1LjEtHHlZDrJzrhuyZvHYm8tKp/RWO";
        accepts("ssdeep", &[(ssdeep, ssdeep)]);
        rejects("ssdeep", &["abc", "x:abc:def", "96:abc", "96:a-b:c"]);
        let tlsh = "T1A5F3B1C6D7E8F9A0B1C2D3E4F5A6B7C8D9E0F1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D7";
        accepts("tlsh", &[(tlsh, &tlsh.to_lowercase())]);
        accepts("tlsh", &[(&"A".repeat(70), &"a".repeat(70))]);
        rejects(
            "tlsh",
            &[&"a".repeat(35), "tnull", &format!("t1{}", "g".repeat(70))],
        );
        accepts(
            "telfhash",
            &[
                (&"B".repeat(70), &"b".repeat(70)),
                (
                    &format!("T1{}", "c".repeat(70)),
                    &format!("t1{}", "c".repeat(70)),
                ),
            ],
        );
        rejects("telfhash", &[&"b".repeat(71), "-", &"z".repeat(70)]);
        accepts(
            "cdhash",
            &[
                (&"E".repeat(40), &"e".repeat(40)),
                (&"e".repeat(64), &"e".repeat(64)),
            ],
        );
        rejects("cdhash", &[&"e".repeat(39)]);
        accepts("vhash", &[("0150366D5D5Dz14nz1fz", "0150366d5d5dz14nz1fz")]);
        accepts("impfuzzy", &[("48:AbC:DeF", "48:AbC:DeF")]);
        rejects("impfuzzy", &["x:a:b", "48:a", "48:a:b:c"]);
        accepts(
            "ssh-fingerprint",
            &[
                (
                    "d4:1d:8c:d9:8f:00:b2:04:e9:80:09:98:ec:f8:42:7e",
                    "d4:1d:8c:d9:8f:00:b2:04:e9:80:09:98:ec:f8:42:7e",
                ),
                (
                    "MD5:d41d8cd98f00b204e9800998ecf8427e",
                    "MD5:d41d8cd98f00b204e9800998ecf8427e",
                ),
                (
                    "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
                    "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
                ),
            ],
        );
        rejects("ssh-fingerprint", &["SHA256:abc", "d4:1d"]);
    }

    #[test]
    fn filename_hashes() {
        accepts(
            "filename|md5",
            &[
                (
                    "Invoice.PDF.exe|D41D8CD98F00B204E9800998ECF8427E",
                    "Invoice.PDF.exe|d41d8cd98f00b204e9800998ecf8427e",
                ),
                (
                    "My File.DOC|d41d8cd98f00b204e9800998ecf8427e",
                    "My File.DOC|d41d8cd98f00b204e9800998ecf8427e",
                ),
            ],
        );
        let v = normalize_value(
            "filename|sha1",
            "A.EXE|DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
        )
        .unwrap();
        assert_eq!(v.value1, "A.EXE");
        assert_eq!(v.value2, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        rejects(
            "filename|md5",
            &[
                "a.exe",
                "a.exe|b|d41d8cd98f00b204e9800998ecf8427e",
                "|d41d8cd98f00b204e9800998ecf8427e",
                "a.exe|abc",
            ],
        );
        rejects(
            "filename|sha256",
            &["a.exe|d41d8cd98f00b204e9800998ecf8427e"],
        );
        let err = normalize_value("filename|sha256", "a.exe|abc").unwrap_err();
        assert!(
            err.message.contains("filename|sha256") && err.message.contains("64"),
            "{err}"
        );
        accepts("filename|ssdeep", &[("a.exe|3:AbC:dEf", "a.exe|3:AbC:dEf")]);
        accepts(
            "filename|tlsh",
            &[(
                &format!("a|T1{}", "A".repeat(70)),
                &format!("a|t1{}", "a".repeat(70)),
            )],
        );
        accepts("filename|vhash", &[("a.exe|015036Z", "a.exe|015036z")]);
        accepts("filename|impfuzzy", &[("a.exe|48:Ab:Cd", "a.exe|48:Ab:Cd")]);
        accepts(
            "filename|pehash",
            &[(
                "a|FFB7A38174AAB4744CC4A509E34800AEE9BE8E57",
                "a|ffb7a38174aab4744cc4a509e34800aee9be8e57",
            )],
        );
        let err = normalize_value("filename|md5", "a.exe").unwrap_err();
        assert!(err.message.contains("exactly one \"|\""), "{err}");
    }

    #[test]
    fn composite_split() {
        let v = normalize_value("regkey|value", "HKLM\\Software\\Run|%TEMP%\\a.exe").unwrap();
        assert_eq!(
            (v.value1.as_str(), v.value2.as_str()),
            ("HKLM\\Software\\Run", "%TEMP%\\a.exe")
        );
        rejects("regkey|value", &["HKLM\\Software\\Run", "a|b|c"]);
        let v =
            normalize_value("malware-sample", "a.exe|d41d8cd98f00b204e9800998ecf8427e").unwrap();
        assert_eq!(v.value1, "a.exe");
        rejects("malware-sample", &["a.exe"]);
        let v = normalize_value("text", "a|b").unwrap();
        assert_eq!((v.value1.as_str(), v.value2.as_str()), ("a|b", ""));
    }

    #[test]
    fn ip_addresses() {
        accepts(
            "ip-dst",
            &[
                ("1.2.3.4", "1.2.3.4"),
                ("1[.]2[.]3[.]4", "1.2.3.4"),
                ("10.0.0.0/8", "10.0.0.0/8"),
                ("10.1.2.3/8", "10.1.2.3/8"),
                ("1.2.3.4/32", "1.2.3.4"),
                ("1.2.3.4/0", "1.2.3.4/0"),
                ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
                ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
                ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
                ("2001:DB8::/32", "2001:db8::/32"),
                ("2001:db8::1/128", "2001:db8::1"),
                ("::", "::"),
                ("::1", "::1"),
                ("::FFFF:1.2.3.4", "::ffff:1.2.3.4"),
                ("::ffff:102:304", "::ffff:1.2.3.4"),
                ("::1.2.3.4", "::1.2.3.4"),
                ("fe80::", "fe80::"),
            ],
        );
        rejects(
            "ip-src",
            &[
                "1.2.3",
                "1.2.3.256",
                "01.2.3.4",
                "1.2.3.4/33",
                "1.2.3.4/",
                "1.2.3.4/a",
                "1.2.3.4/8/8",
                "2001:db8::1/129",
                "fe80::1%eth0",
                "example.com",
                "1.2.3.4:80",
            ],
        );
    }

    #[test]
    fn ip_and_port() {
        accepts(
            "ip-dst|port",
            &[
                ("1.2.3.4|80", "1.2.3.4|80"),
                ("1.2.3.4:443", "1.2.3.4|443"),
                ("1.2.3[.]4:443", "1.2.3.4|443"),
                ("2001:db8::1|80", "2001:db8::1|80"),
                ("[2001:DB8::1]:8080", "2001:db8::1|8080"),
                ("2001:db8::1.80", "2001:db8::1|80"),
                ("2001:db8::1 port 80", "2001:db8::1|80"),
                ("2001:db8::1p80", "2001:db8::1|80"),
                ("2001:db8::1#80", "2001:db8::1|80"),
                ("2001:db8::1:80", "2001:db8::1|80"),
                ("1.2.3.4|0080", "1.2.3.4|80"),
                ("::ffff:1.2.3.4|22", "::ffff:1.2.3.4|22"),
            ],
        );
        rejects(
            "ip-src|port",
            &[
                "1.2.3.4",
                "1.2.3.4|0",
                "1.2.3.4|65536",
                "1.2.3.4|http",
                "1.2.3.4/24|80",
                "host.example|80",
                "[2001:db8::1]",
                "1.2.3.4|80|81",
            ],
        );
        let err = normalize_value("ip-src|port", "1.2.3.4|99999").unwrap_err();
        assert!(err.message.contains("between 1 and 65535"), "{err}");
    }

    #[test]
    fn domains_and_hostnames() {
        accepts(
            "domain",
            &[
                ("Example.COM", "example.com"),
                ("example.com.", "example.com"),
                (".example.com", "example.com"),
                ("evil[.]example(.)org", "evil.example.org"),
                ("bücher.example", "xn--bcher-kva.example"),
                ("BÜCHER.example", "xn--bcher-kva.example"),
                ("_dmarc.example.com", "_dmarc.example.com"),
                ("xn--bcher-kva.example", "xn--bcher-kva.example"),
                ("a-b.c-d.info", "a-b.c-d.info"),
                ("decrypttozxybarc.onion", "decrypttozxybarc.onion"),
            ],
        );
        accepts(
            "hostname",
            &[
                ("WWW.Example.com.", "www.example.com"),
                ("mañana.com", "xn--maana-pta.com"),
            ],
        );
        rejects(
            "domain",
            &[
                "localhost",
                "example",
                "exa mple.com",
                "example..com",
                "example.c",
                "http://example.com",
                "example.com/path",
                "a@example.com",
                &format!("{}.com", "a".repeat(64)),
                "example.c_m",
            ],
        );
        rejects("hostname", &["-", "foo"]);
        accepts(
            "domain|ip",
            &[
                ("Example.com|1.2.3.4", "example.com|1.2.3.4"),
                ("example[.]com|2001:DB8::1", "example.com|2001:db8::1"),
                ("example.com.|1.2.3.4", "example.com|1.2.3.4"),
            ],
        );
        rejects(
            "domain|ip",
            &[
                "example.com",
                "example.com|1.2.3",
                "example|1.2.3.4",
                "example.com|1.2.3.0/24",
                "a.com|1.2.3.4|x",
            ],
        );
        accepts(
            "hostname|port",
            &[
                ("WWW.example.com:8080", "www.example.com|8080"),
                ("www.example.com|443", "www.example.com|443"),
            ],
        );
        rejects(
            "hostname|port",
            &[
                "www.example.com",
                "www.example.com:0",
                "www.example.com:http",
                "a:b:c",
            ],
        );
    }

    #[test]
    fn emails() {
        accepts(
            "email-src",
            &[
                ("John.Doe@Example.COM", "john.doe@example.com"),
                ("john[at]example[.]com", "john@example.com"),
                ("john[@]example[dot]com", "john@example.com"),
            ],
        );
        for t in [
            "email",
            "email-dst",
            "target-email",
            "whois-registrant-email",
        ] {
            accepts(t, &[("A@B.cz", "a@b.cz")]);
        }
        // MISP keeps the case of these.
        // Like PHP's strtolower, only ASCII letters are lower-cased.
        accepts("email", &[("JÖRG@Example.com", "jÖrg@example.com")]);
        accepts("eppn", &[("Jane@Univ.EDU", "Jane@Univ.EDU")]);
        accepts(
            "dns-soa-email",
            &[("hostmaster@Example.com", "hostmaster@Example.com")],
        );
        rejects(
            "email-dst",
            &[
                "john",
                "john@",
                "@example.com",
                "john@example",
                "john doe@example.com",
                "john@example.",
            ],
        );
    }

    #[test]
    fn urls_and_links() {
        accepts(
            "url",
            &[
                (
                    "hxxp://Evil[.]Example/Path?Q=1",
                    "http://Evil.Example/Path?Q=1",
                ),
                ("hxxps[:]//evil.example/a", "https://evil.example/a"),
                ("evil.example/a.php", "evil.example/a.php"),
                ("http://example.com/a?b[1]=2", "http://example.com/a?b[1]=2"),
            ],
        );
        accepts(
            "uri",
            &[("/dp/B074WC4NHW/ref=gbps", "/dp/B074WC4NHW/ref=gbps")],
        );
        accepts(
            "link",
            &[
                (
                    "https://www.example.com/Report.html",
                    "https://www.example.com/Report.html",
                ),
                ("hxxps://www[.]example[.]com/", "https://www.example.com/"),
                ("ftp://user:pw@host:21/x", "ftp://user:pw@host:21/x"),
                ("http://[2001:db8::1]:80/", "http://[2001:db8::1]:80/"),
                ("mailto:someone@example.com", "mailto:someone@example.com"),
            ],
        );
        rejects(
            "link",
            &[
                "www.example.com",
                "https://",
                "https:///path",
                "https://exa mple.com",
                "1http://x.y",
                "not a link",
            ],
        );
    }

    #[test]
    fn autonomous_systems() {
        accepts(
            "AS",
            &[
                ("AS3356", "3356"),
                ("as3356", "3356"),
                ("3356", "3356"),
                ("1.10", "65546"),
                ("AS1.10", "65546"),
                ("AS 64500", "64500"),
                ("4294967295", "4294967295"),
                ("0", "0"),
            ],
        );
        rejects(
            "AS",
            &["ASX", "AS", "4294967296", "1.65536", "-1", "AS-1", "1.2.3"],
        );
    }

    #[test]
    fn mac_addresses() {
        accepts(
            "mac-address",
            &[
                ("00:1A:2B:3C:4D:5E", "00:1a:2b:3c:4d:5e"),
                ("00-1a-2b-3c-4d-5e", "00:1a:2b:3c:4d:5e"),
                ("001a.2b3c.4d5e", "00:1a:2b:3c:4d:5e"),
                ("001a2b3c4d5e", "00:1a:2b:3c:4d:5e"),
            ],
        );
        rejects(
            "mac-address",
            &[
                "00:1a:2b:3c:4d",
                "00:1a:2b:3c:4d:5e:6f",
                "00:1a:2b:3c:4d:5g",
            ],
        );
        accepts(
            "mac-eui-64",
            &[("00-1A-2B-FF-FE-3C-4D-5E", "00:1a:2b:ff:fe:3c:4d:5e")],
        );
        rejects("mac-eui-64", &["00:1a:2b:3c:4d:5e"]);
    }

    #[test]
    fn vulnerabilities_and_weaknesses() {
        accepts(
            "vulnerability",
            &[
                ("cve-2021-44228", "CVE-2021-44228"),
                ("CVE\u{2013}2017\u{2013}0199", "CVE-2017-0199"),
                ("CVE-2023-123456", "CVE-2023-123456"),
            ],
        );
        rejects(
            "vulnerability",
            &[
                "CVE-21-44228",
                "CVE-2021-442",
                "MS17-010",
                "CVE-2021-44228x",
            ],
        );
        accepts("weakness", &[("cwe-79", "CWE-79")]);
        rejects("weakness", &["CWE-", "CWE-x", "79"]);
    }

    #[test]
    fn financial() {
        accepts("cc-number", &[("4111 1111-1111 1111", "4111111111111111")]);
        accepts("bin", &[("411 111", "411111")]);
        accepts(
            "iban",
            &[("de89 3704 0044 0532 0130 00", "DE89370400440532013000")],
        );
        accepts("bic", &[("deut de ff", "DEUTDEFF")]);
        accepts(
            "phone-number",
            &[
                ("0049 (0)30 123-456", "+4930123456"),
                ("+1 (555) 010-9999", "+15550109999"),
            ],
        );
        accepts("whois-registrant-phone", &[("+49.30123456", "+4930123456")]);
        accepts("prtn", &[("12345", "12345")]);
        rejects("phone-number", &["call me", "12+34"]);
        accepts("bank-account-nr", &[("0123456789", "0123456789")]);
        rejects("aba-rtn", &["12a"]);
        accepts(
            "btc",
            &[
                (
                    "1GCaWA685Nj2PqqG7P2ZBACYZB8ZtpQuQ9",
                    "1GCaWA685Nj2PqqG7P2ZBACYZB8ZtpQuQ9",
                ),
                (
                    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                ),
            ],
        );
        rejects("btc", &["1GCa WA68", "1GCa-WA68"]);
        accepts(
            "xmr",
            &[(
                "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx",
                "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx",
            )],
        );
    }

    #[test]
    fn numbers() {
        accepts(
            "port",
            &[("443", "443"), ("08080", "8080"), ("65535", "65535")],
        );
        rejects("port", &["0", "65536", "http", "-1", "80.0"]);
        accepts(
            "float",
            &[
                ("2.54792", "2.54792"),
                ("-1", "-1"),
                ("1e5", "1e5"),
                (".5", ".5"),
                ("+3.", "+3."),
            ],
        );
        rejects("float", &["1,5", "abc", "1e", ".", "0x1A"]);
        accepts("integer", &[("42", "42"), ("-7", "-7")]);
        rejects("integer", &["4.2", "x", "-"]);
        accepts("counter", &[("4", "4"), ("0", "0")]);
        accepts("size-in-bytes", &[("1024", "1024")]);
        rejects("size-in-bytes", &["-1", "1.5", "1 KB"]);
        accepts(
            "hex",
            &[("deadbeef", "DEADBEEF"), ("0x1f", "1F"), ("0XAB", "AB")],
        );
        rejects("hex", &["xyz", "0x", "DE AD"]);
        accepts(
            "boolean",
            &[
                ("true", "1"),
                ("TRUE", "1"),
                ("1", "1"),
                ("false", "0"),
                ("0", "0"),
            ],
        );
        rejects("boolean", &["yes", "2", "nope"]);
    }

    #[test]
    fn datetimes() {
        accepts(
            "datetime",
            &[
                ("2018-04-10 14:41:38", "2018-04-10T14:41:38.000000+0000"),
                ("2018-04-10T14:41:38Z", "2018-04-10T14:41:38.000000+0000"),
                (
                    "2019-06-25T15:26:00.123+02:00",
                    "2019-06-25T15:26:00.123000+0200",
                ),
                (
                    "2019-06-25T15:26:00.1234567-0530",
                    "2019-06-25T15:26:00.123456-0530",
                ),
                ("2019-06-25T15:26", "2019-06-25T15:26:00.000000+0000"),
                ("2019-06-25", "2019-06-25T00:00:00.000000+0000"),
                ("2019-06-25 15:26:00 UTC", "2019-06-25T15:26:00.000000+0000"),
                ("2019-06-25T15:26:00+01", "2019-06-25T15:26:00.000000+0100"),
                ("@0", "1970-01-01T00:00:00.000000+0000"),
            ],
        );
        rejects(
            "datetime",
            &[
                "yesterday",
                "2019-02-30",
                "2019-13-01",
                "2019-06-25T25:00",
                "2019-06-25T15:26:00+2500",
                "2019-06-25X",
                "25/06/2019",
            ],
        );
    }

    #[test]
    fn other_typed_values() {
        accepts(
            "http-method",
            &[("get", "GET"), ("Post", "POST"), ("PROPFIND", "PROPFIND")],
        );
        rejects("http-method", &["FETCH", "GETS"]);
        let v3 = "a".repeat(56);
        accepts(
            "onion-address",
            &[
                ("ABCDEFGHIJ234567.onion", "abcdefghij234567.onion"),
                (&format!("{v3}.onion"), &format!("{v3}.onion")),
            ],
        );
        rejects(
            "onion-address",
            &[
                "abcdefghij23456.onion",
                "abcdefghij234561.onion",
                "example.com",
            ],
        );
        accepts(
            "uuid",
            &[(
                "5F1C9B3E-7A2D-4C8E-9B1A-2D3C4E5F6A7B",
                "5f1c9b3e-7a2d-4c8e-9b1a-2d3c4e5f6a7b",
            )],
        );
        rejects("uuid", &["5f1c9b3e-7a2d-4c8e-9b1a", "not-a-uuid"]);
        accepts(
            "community-id",
            &[(
                "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
                "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
            )],
        );
        rejects(
            "community-id",
            &["LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:", "1:a b"],
        );
        accepts("anonymised", &[("User-ABC", "user-abc")]);
        accepts("windows-service-name", &[("WinDefend", "WinDefend")]);
        rejects("windows-service-name", &["a/b", "a\\b", &"a".repeat(257)]);
        accepts(
            "cortex",
            &[(
                "{\"a\": [1, 2.5e3, -0, true, null, \"x\\u00e9\"]}",
                "{\"a\": [1, 2.5e3, -0, true, null, \"x\\u00e9\"]}",
            )],
        );
        rejects(
            "cortex",
            &["{a: 1}", "[1,]", "{\"a\":1} x", "01", "\"\\x\""],
        );
        accepts(
            "regkey",
            &[("HKLM\\Software\\Microsoft", "HKLM\\Software\\Microsoft")],
        );
        accepts(
            "email-subject",
            &[("Re: Invoice [#123]", "Re: Invoice [#123]")],
        );
    }

    #[test]
    fn an_ipv4_address_that_parses_is_printed_as_written() {
        let mut texts: Vec<String> = [
            "0.0.0.0",
            "255.255.255.255",
            "1.2.3.4",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3.00",
            " 1.2.3.4",
            "1.2.3.4 ",
            "1.2.3",
            "1.2.3.4.5",
            "+1.2.3.4",
            "1.2.3.256",
            "1..3.4",
            "1.2.3.4/32",
            "0x1.2.3.4",
            "١.2.3.4",
        ]
        .iter()
        .map(|text| text.to_string())
        .collect();
        for a in [0, 1, 9, 10, 99, 100, 199, 255] {
            for b in ["0", "00", "7", "07", "42", "042", "255"] {
                texts.push(format!("{a}.{b}.{a}.{b}"));
                texts.push(format!("{b}.{a}.{b}.{a}"));
            }
        }
        for text in &texts {
            if let Ok(IpAddr::V4(address)) = text.parse::<IpAddr>() {
                assert_eq!(&address.to_string(), text);
                assert_eq!(normalize_ip("ip-dst", text).unwrap(), *text);
            }
        }
    }

    #[test]
    fn refang_is_limited_to_network_types() {
        accepts("text", &[("hxxp://a[.]b", "hxxp://a[.]b")]);
        accepts("filename", &[("report[.]pdf", "report[.]pdf")]);
        accepts("ip-src", &[("10(.)0(.)0(.)1", "10.0.0.1")]);
    }

    #[test]
    fn category_checks() {
        assert!(check_category("ip-dst", "Network activity").is_ok());
        let err = check_category("md5", "Network activity").unwrap_err();
        assert_eq!(
            err.message,
            "Category \"Network activity\" does not allow type \"md5\"."
        );
        assert!(
            check_category("md5", "Nope")
                .unwrap_err()
                .message
                .contains("Unknown category")
        );
        assert!(
            check_category("nope", "Other")
                .unwrap_err()
                .message
                .contains("Unknown attribute type")
        );
        assert_eq!(default_category("ip-dst"), Some("Network activity"));
        assert_eq!(default_category("nope"), None);
    }

    #[test]
    fn every_type_has_a_normaliser_that_accepts_a_sample() {
        // One plausible value per type; each must normalise and be stable.
        for t in crate::attribute_types::ATTRIBUTE_TYPES {
            let sample = sample_value(t.name);
            let first =
                norm(t.name, &sample).unwrap_or_else(|e| panic!("{}: {sample:?}: {e}", t.name));
            assert_eq!(norm(t.name, &first).unwrap(), first, "{}", t.name);
        }
    }

    fn sample_value(type_name: &str) -> String {
        if let Some(rest) = type_name.strip_prefix("filename|") {
            return format!("a.exe|{}", sample_value(rest));
        }
        if let Some(len) = hex_length(type_name) {
            return "a".repeat(len);
        }
        match type_name {
            "telfhash" => "a".repeat(70),
            "tlsh" => "a".repeat(70),
            "cdhash" => "a".repeat(40),
            "ssdeep" | "impfuzzy" => "3:ab:cd".into(),
            "ssh-fingerprint" => "MD5:d41d8cd98f00b204e9800998ecf8427e".into(),
            "ip-src" | "ip-dst" => "192.0.2.1".into(),
            "ip-src|port" | "ip-dst|port" => "192.0.2.1|80".into(),
            "hostname" | "domain" => "example.com".into(),
            "domain|ip" => "example.com|192.0.2.1".into(),
            "hostname|port" => "example.com|443".into(),
            "email"
            | "email-src"
            | "email-dst"
            | "target-email"
            | "whois-registrant-email"
            | "eppn"
            | "dns-soa-email"
            | "jabber-id" => "user@example.com".into(),
            "link" => "https://example.com/".into(),
            "port"
            | "AS"
            | "counter"
            | "size-in-bytes"
            | "integer"
            | "float"
            | "cc-number"
            | "bin"
            | "bank-account-nr"
            | "aba-rtn"
            | "prtn"
            | "phone-number"
            | "whois-registrant-phone" => "123".into(),
            "mac-address" => "00:11:22:33:44:55".into(),
            "mac-eui-64" => "00:11:22:33:44:55:66:77".into(),
            "vulnerability" => "CVE-2021-44228".into(),
            "weakness" => "CWE-79".into(),
            "iban" => "DE89370400440532013000".into(),
            "bic" => "DEUTDEFF".into(),
            "http-method" => "GET".into(),
            "hex" => "AB".into(),
            "boolean" => "1".into(),
            "datetime" => "2019-06-25T15:26:00.000000+0000".into(),
            "onion-address" => "abcdefghij234567.onion".into(),
            "uuid" => "5f1c9b3e-7a2d-4c8e-9b1a-2d3c4e5f6a7b".into(),
            "community-id" => "1:LQU9qZlK+B5F3KDmev6m5PMibrg=".into(),
            "cortex" => "{}".into(),
            "malware-sample" => "a.exe|d41d8cd98f00b204e9800998ecf8427e".into(),
            "regkey|value" => "HKLM\\Run|a.exe".into(),
            "btc" | "dash" | "xmr" => "1GCaWA685Nj2PqqG7P2ZBACYZB8ZtpQuQ9".into(),
            _ => "sample value".into(),
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        let odd = [
            "é",
            "aé",
            "ASé",
            "Aé",
            "1é",
            "é|é",
            "|",
            "||",
            ":",
            "::",
            "[",
            "]:",
            "[]:80",
            "@",
            "@x",
            ".",
            "..",
            "0x",
            "t",
            "T1",
            "SHA256:",
            "MD5:",
            "2019-06-25",
            "2019-06-25Té",
            "2019-06-25T1é:00",
            "2019-06-25T10:00+1é1",
            "2019-06-25T10:00+é:1",
            "2019-06-25T10:00:0é",
            "2019-06-25T10:00:00.",
            "2019-06-25T10:00:00.é",
            "é2019-06-25",
            "\u{1F600}",
            "a\u{1F600}b|c",
            "hxxp",
            "hxxps[:",
            "[.",
            "(",
            "{",
            "1.2.3.4/é",
            "é/24",
            "x port ",
            "p",
            "#",
            "1:2:3",
            "[::1]x",
            "{\"a\":",
            "[[[[",
            "\"\\u12",
            "-",
            "1e",
            "+",
            "00",
            "(0)",
            "ASé1.2",
            "é.é",
            "1.é",
            "é:é:é",
        ];
        for t in crate::attribute_types::ATTRIBUTE_TYPES {
            for input in odd {
                let _ = normalize_value(t.name, input);
                let _ = normalize_value(t.name, &format!("{input}|{input}"));
                let _ = normalize_value(t.name, &format!("a.exe|{input}"));
            }
        }
    }

    #[test]
    fn glibc_ipv6_formatting() {
        let cases = [
            ("1:0:0:0:0:0:0:8", "1::8"),
            ("1:0:0:2:0:0:0:8", "1:0:0:2::8"),
            ("1:0:0:2:0:0:3:8", "1::2:0:0:3:8"),
            ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),
            ("0:0:0:0:0:0:0:1", "::1"),
            ("1:0:0:0:0:0:0:0", "1::"),
            ("0:0:0:0:0:ffff:0:0", "::ffff:0.0.0.0"),
            ("0:0:0:0:0:0:1:0", "::0.1.0.0"),
            ("0:0:0:0:ffff:0:0:1", "::ffff:0:0:1"),
        ];
        for (input, expected) in cases {
            let addr: Ipv6Addr = input.parse().unwrap();
            assert_eq!(format_ipv6(&addr), expected, "{input}");
        }
    }
}

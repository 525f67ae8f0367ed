//! STIX 2.1 patterns for MISP attributes (stix-taxii-reference A.6).
//!
//! One attribute becomes one observation expression: `[comparison AND comparison …]`, all
//! comparisons about the same observed object, so that `filename|md5` means "a file with
//! this name and this hash" rather than two unrelated observations. Types with no STIX
//! equivalent (free text, comments, financial data…) have no pattern.
//!
//! Choices worth knowing when reading the patterns back:
//! - `ip-src` / `ip-dst` are plain `ipv4-addr` / `ipv6-addr` comparisons (`ISSUBSET` for a
//!   CIDR block): the form every STIX consumer matches; the direction travels in the
//!   `misp:type` label. `…|port` and `hostname|port` use `network-traffic` references, as
//!   only a connection has a port.
//! - Ports, sizes and AS numbers are integers, not quoted strings.
//! - Registry hives are written out (`HKCU` → `HKEY_CURRENT_USER`), as the STIX
//!   `windows-registry-key` object requires.
//! - TLS/SSH fingerprints (`ja3-fingerprint-md5`, `jarm-fingerprint`, `hassh-md5`,
//!   `hasshserver-md5`) have no STIX property; they are custom `network-traffic`
//!   properties named after the MISP type (`network-traffic:x_ja3_fingerprint_md5`).

use kizuna_model::Attribute;
use std::net::IpAddr;

/// A STIX pattern string literal: quoted, with `\` and `'` escaped (the only escapes the
/// grammar has).
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for ch in value.chars() {
        if ch == '\\' || ch == '\'' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('\'');
    out
}

/// The STIX `hashes` key for a MISP hash type (`sha256` → `SHA-256`). The eight keys of
/// STIX's hash vocabulary where one exists, MISP's own upper-case names otherwise.
pub fn hash_key(misp_type: &str) -> Option<&'static str> {
    Some(match misp_type {
        "md5" => "MD5",
        "sha1" => "SHA-1",
        "sha224" => "SHA-224",
        "sha256" => "SHA-256",
        "sha384" => "SHA-384",
        "sha512" => "SHA-512",
        "sha512/224" => "SHA512-224",
        "sha512/256" => "SHA512-256",
        "sha3-224" => "SHA3-224",
        "sha3-256" => "SHA3-256",
        "sha3-384" => "SHA3-384",
        "sha3-512" => "SHA3-512",
        "ssdeep" => "SSDEEP",
        "tlsh" => "TLSH",
        "imphash" => "IMPHASH",
        "authentihash" => "AUTHENTIHASH",
        "vhash" => "VHASH",
        "pehash" => "PEHASH",
        "impfuzzy" => "IMPFUZZY",
        "telfhash" => "TELFHASH",
        "cdhash" => "CDHASH",
        _ => return None,
    })
}

/// A hash value as STIX writes it under `key`: TLSH without the `T1` version prefix MISP
/// keeps (STIX's TLSH is the 70-character digest), everything else unchanged.
pub fn hash_value(key: &str, value: &str) -> String {
    if key == "TLSH"
        && value.len() == 72
        && value
            .get(..2)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("t1"))
    {
        value[2..].to_string()
    } else {
        value.to_string()
    }
}

/// Whether `value` is acceptable under a STIX `hashes` key: the vocabulary's keys carry a
/// format in the JSON schema (hex of the right length, ssdeep's alphabet, TLSH's 70
/// characters); MISP's custom keys take any text.
pub fn hash_value_fits(key: &str, value: &str) -> bool {
    let hex = |length: usize| value.len() == length && value.bytes().all(|b| b.is_ascii_hexdigit());
    match key {
        "MD5" => hex(32),
        "SHA-1" => hex(40),
        "SHA-256" | "SHA3-256" => hex(64),
        "SHA-512" | "SHA3-512" => hex(128),
        "SSDEEP" => {
            (1..=128).contains(&value.len())
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'+' | b':' | b'.'))
        }
        "TLSH" => value.len() == 70 && value.bytes().all(|b| b.is_ascii_alphanumeric()),
        _ => !value.is_empty(),
    }
}

/// The object path to a hash: `file:hashes.MD5`, `file:hashes.'SHA-256'` (keys that are
/// not plain identifiers must be quoted).
pub fn hash_path(object_type: &str, key: &str) -> String {
    format!("{object_type}:hashes.{}", path_step(key))
}

fn path_step(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain { name.to_string() } else { quote(name) }
}

/// `ipv4-addr` or `ipv6-addr` for an address or CIDR block, with the block's operator.
pub fn address_type(value: &str) -> Option<&'static str> {
    let (address, prefix) = match value.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (value, None),
    };
    let address: IpAddr = address.parse().ok()?;
    let max_prefix = if address.is_ipv4() { 32 } else { 128 };
    if let Some(prefix) = prefix {
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > max_prefix {
            return None;
        }
    }
    Some(if address.is_ipv4() {
        "ipv4-addr"
    } else {
        "ipv6-addr"
    })
}

fn address_comparison(path: &str, value: &str) -> String {
    let operator = if value.contains('/') { "ISSUBSET" } else { "=" };
    format!("{path} {operator} {}", quote(value))
}

/// A port as an integer, if it is one.
pub fn port_number(value: &str) -> Option<u16> {
    value.trim().parse().ok()
}

/// An AS number as MISP stores it (`64500`, or `AS64500` from older data).
pub fn as_number(value: &str) -> Option<u32> {
    let value = value.trim();
    let digits = if value
        .get(..2)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("as"))
    {
        &value[2..]
    } else {
        value
    };
    digits.parse().ok()
}

/// A Windows registry key with its hive written out, as STIX requires (`HKLM\…` →
/// `HKEY_LOCAL_MACHINE\…`).
pub fn registry_key(value: &str) -> String {
    const HIVES: [(&str, &str); 5] = [
        ("HKLM", "HKEY_LOCAL_MACHINE"),
        ("HKCU", "HKEY_CURRENT_USER"),
        ("HKCR", "HKEY_CLASSES_ROOT"),
        ("HKCC", "HKEY_CURRENT_CONFIG"),
        ("HKU", "HKEY_USERS"),
    ];
    for (short, long) in HIVES {
        if value
            .get(..short.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(short))
        {
            let rest = &value[short.len()..];
            if rest.is_empty() || rest.starts_with('\\') || rest.starts_with('/') {
                return format!("{long}{rest}");
            }
        }
    }
    value.to_string()
}

/// The comparisons of an attribute's observation expression (to be joined with `AND`
/// inside one bracket), or None when the type has no STIX pattern or the value does not
/// fit it (an unparsable address, a non-numeric port).
pub fn comparisons(attr_type: &str, value1: &str, value2: &str) -> Option<Vec<String>> {
    let equals = |path: &str, value: &str| format!("{path} = {}", quote(value));
    let single = |comparison: String| Some(vec![comparison]);
    if let Some(key) = hash_key(attr_type) {
        return single(equals(&hash_path("file", key), &hash_value(key, value1)));
    }
    if let Some(hash_type) = attr_type.strip_prefix("filename|") {
        let key = hash_key(hash_type)?;
        return Some(vec![
            equals("file:name", value1),
            equals(&hash_path("file", key), &hash_value(key, value2)),
        ]);
    }
    match attr_type {
        "ip-src" | "ip-dst" => {
            let address_type = address_type(value1)?;
            single(address_comparison(&format!("{address_type}:value"), value1))
        }
        "ip-src|port" | "ip-dst|port" => {
            let side = if attr_type == "ip-src|port" {
                "src"
            } else {
                "dst"
            };
            let address_type = address_type(value1)?;
            let port = port_number(value2)?;
            Some(vec![
                equals(&format!("network-traffic:{side}_ref.type"), address_type),
                address_comparison(&format!("network-traffic:{side}_ref.value"), value1),
                format!("network-traffic:{side}_port = {port}"),
            ])
        }
        "domain" | "hostname" => single(equals("domain-name:value", value1)),
        "domain|ip" => {
            address_type(value2)?;
            Some(vec![
                equals("domain-name:value", value1),
                address_comparison("domain-name:resolves_to_refs[*].value", value2),
            ])
        }
        "hostname|port" => {
            let port = port_number(value2)?;
            Some(vec![
                equals("network-traffic:dst_ref.type", "domain-name"),
                equals("network-traffic:dst_ref.value", value1),
                format!("network-traffic:dst_port = {port}"),
            ])
        }
        "url" | "uri" | "link" => single(equals("url:value", value1)),
        "email" => single(equals("email-addr:value", value1)),
        "email-src" => single(equals("email-message:from_ref.value", value1)),
        "email-dst" => single(equals("email-message:to_refs[*].value", value1)),
        "email-subject" => single(equals("email-message:subject", value1)),
        "email-message-id" => single(equals("email-message:message_id", value1)),
        "email-reply-to" => single(equals(
            "email-message:additional_header_fields.'Reply-To'",
            value1,
        )),
        "email-x-mailer" => single(equals(
            "email-message:additional_header_fields.'X-Mailer'",
            value1,
        )),
        "email-attachment" => single(equals(
            "email-message:body_multipart[*].body_raw_ref.name",
            value1,
        )),
        "filename" => single(equals("file:name", value1)),
        "size-in-bytes" => {
            let size: u64 = value1.trim().parse().ok()?;
            single(format!("file:size = {size}"))
        }
        "mime-type" => single(equals("file:mime_type", value1)),
        "mutex" => single(equals("mutex:name", value1)),
        "regkey" => single(equals("windows-registry-key:key", &registry_key(value1))),
        "regkey|value" => Some(vec![
            equals("windows-registry-key:key", &registry_key(value1)),
            equals("windows-registry-key:values[*].data", value2),
        ]),
        "user-agent" => single(equals(
            "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'",
            value1,
        )),
        "http-method" => single(equals(
            "network-traffic:extensions.'http-request-ext'.request_method",
            value1,
        )),
        "port" => single(format!(
            "network-traffic:dst_port = {}",
            port_number(value1)?
        )),
        "AS" => single(format!("autonomous-system:number = {}", as_number(value1)?)),
        "mac-address" => single(equals("mac-addr:value", value1)),
        "x509-fingerprint-md5" => single(equals(&hash_path("x509-certificate", "MD5"), value1)),
        "x509-fingerprint-sha1" => single(equals(&hash_path("x509-certificate", "SHA-1"), value1)),
        "x509-fingerprint-sha256" => {
            single(equals(&hash_path("x509-certificate", "SHA-256"), value1))
        }
        "ja3-fingerprint-md5" | "jarm-fingerprint" | "hassh-md5" | "hasshserver-md5" => {
            single(equals(
                &format!("network-traffic:x_{}", attr_type.replace('-', "_")),
                value1,
            ))
        }
        "github-username" => Some(vec![
            equals("user-account:account_type", "github"),
            equals("user-account:account_login", value1),
        ]),
        "windows-service-name" => single(equals(
            "process:extensions.'windows-service-ext'.service_name",
            value1,
        )),
        "cpe" => single(equals("software:cpe", value1)),
        _ => None,
    }
}

/// The STIX pattern for a MISP attribute type and value (composite types with their two
/// halves), or None when the type has none.
pub fn attribute_pattern(attr_type: &str, value1: &str, value2: &str) -> Option<String> {
    comparisons(attr_type, value1, value2).map(|parts| bracket(&parts))
}

/// The STIX pattern for an attribute.
pub fn pattern_for(attribute: &Attribute) -> Option<String> {
    attribute_pattern(&attribute.attr_type, &attribute.value1, &attribute.value2)
}

/// One observation expression of ANDed comparisons.
pub fn bracket(comparisons: &[String]) -> String {
    format!("[{}]", comparisons.join(" AND "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(attr_type: &str, value: &str) -> Option<String> {
        let (value1, value2) = value.split_once('|').unwrap_or((value, ""));
        attribute_pattern(attr_type, value1, value2)
    }

    #[test]
    fn common_iocs() {
        let cases = [
            (
                "ip-dst",
                "198.51.100.3",
                "[ipv4-addr:value = '198.51.100.3']",
            ),
            (
                "ip-src",
                "198.51.100.0/24",
                "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
            ),
            ("ip-src", "2001:db8::1", "[ipv6-addr:value = '2001:db8::1']"),
            (
                "ip-dst|port",
                "203.0.113.9|8443",
                "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.9' AND network-traffic:dst_port = 8443]",
            ),
            (
                "domain",
                "example.com",
                "[domain-name:value = 'example.com']",
            ),
            (
                "domain|ip",
                "example.com|192.0.2.1",
                "[domain-name:value = 'example.com' AND domain-name:resolves_to_refs[*].value = '192.0.2.1']",
            ),
            (
                "url",
                "https://example.com/it's",
                "[url:value = 'https://example.com/it\\'s']",
            ),
            (
                "sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
            ),
            (
                "filename|md5",
                "evil.exe|d41d8cd98f00b204e9800998ecf8427e",
                "[file:name = 'evil.exe' AND file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
            ),
            ("mutex", "Global\\Evil", "[mutex:name = 'Global\\\\Evil']"),
            (
                "regkey|value",
                "HKCU\\Software\\Evil|C:\\evil.exe",
                "[windows-registry-key:key = 'HKEY_CURRENT_USER\\\\Software\\\\Evil' AND windows-registry-key:values[*].data = 'C:\\\\evil.exe']",
            ),
            ("AS", "64500", "[autonomous-system:number = 64500]"),
            (
                "ja3-fingerprint-md5",
                "d41d8cd98f00b204e9800998ecf8427e",
                "[network-traffic:x_ja3_fingerprint_md5 = 'd41d8cd98f00b204e9800998ecf8427e']",
            ),
        ];
        for (attr_type, value, expected) in cases {
            assert_eq!(
                pattern(attr_type, value).as_deref(),
                Some(expected),
                "{attr_type}"
            );
        }
    }

    #[test]
    fn types_without_patterns_and_bad_values() {
        assert_eq!(pattern("text", "anything"), None);
        assert_eq!(pattern("comment", "anything"), None);
        assert_eq!(pattern("ip-dst", "not an address"), None);
        assert_eq!(pattern("ip-dst|port", "192.0.2.1|http"), None);
        assert_eq!(pattern("ip-dst", "192.0.2.0/33"), None);
    }

    #[test]
    fn tlsh_loses_its_version_prefix() {
        let digest = "a".repeat(70);
        assert_eq!(hash_value("TLSH", &format!("t1{digest}")), digest);
        assert_eq!(hash_value("TLSH", &digest), digest);
    }
}

//! `zeek` (MISP's `bro`): a file for Zeek's Intel framework (stix-taxii-reference D.3),
//! loaded with `redef Intel::read_files += { "<file>" };` and `@load frameworks/intel/seen`.
//!
//! The file is Zeek's input-framework TSV: a `#fields` line, then one row per indicator
//! with `indicator`, `indicator_type`, `meta.source`, `meta.desc` and `meta.url`, `-`
//! for an empty field. Rows by attribute type:
//! - `ip-src`, `ip-dst`, the address of `ip-*|port` and `domain|ip`: `Intel::ADDR`, or
//!   `Intel::SUBNET` for a CIDR network;
//! - `domain`, `hostname`, the name of `domain|ip` and `hostname|port`: `Intel::DOMAIN`;
//! - `url`: `Intel::URL` without `http://` or `https://` (Zeek builds the URLs it sees
//!   without a scheme);
//! - `email`, `email-src`, `email-dst`, `target-email`: `Intel::EMAIL`;
//! - `filename`, `email-attachment` and the file name of `filename|<hash>` and
//!   `malware-sample`: `Intel::FILE_NAME`;
//! - `md5`, `sha1`, `sha256` and the hash half of their `filename|` types:
//!   `Intel::FILE_HASH` (the digests Zeek's file analysis computes; others never match);
//! - `user-agent`: `Intel::SOFTWARE`; `x509-fingerprint-sha1`: `Intel::CERT_HASH`.
//!
//! `meta.source` is the event's creator organisation (Zeek keeps metadata per source), or
//! `kizuna` when the organisation is not loaded; `meta.desc` is the event's info, then
//! the attribute's comment after `. ` when it has one; `meta.url` links to the event.
//! Tabs, line breaks and other control characters in fields become spaces; a backslash
//! is written `\x5c`, since Zeek reads `\x..` escapes.

use std::borrow::Cow;

use kizuna_model::Attribute;

use super::{ExportItem, ExportOptions, ExportWriter, Network, Skipped, dns_name, event_link};

const FILE_HASH_TYPES: &[&str] = &["md5", "sha1", "sha256"];

/// The source name when the event's creator organisation is not loaded.
const FALLBACK_SOURCE: &str = "kizuna";

/// Writes one row per indicator; keeps only what it had to leave out.
#[derive(Debug)]
pub struct ZeekWriter {
    base_url: String,
    skipped: Skipped,
}

impl ZeekWriter {
    pub fn new(options: &ExportOptions) -> Self {
        Self {
            base_url: options.base_url.clone(),
            skipped: Skipped::default(),
        }
    }
}

/// One row: the indicator and its Intel type, or why a value cannot be one.
type Row<'a> = Result<(Cow<'a, str>, &'static str), (&'static str, &'a str)>;

/// The rows an attribute gives.
fn indicators(attribute: &Attribute) -> Vec<Row<'_>> {
    let value1 = attribute.value1.as_str();
    let value2 = attribute.value2.as_str();
    let address = |raw| -> Row<'_> {
        let network = Network::parse(raw).ok_or(("not a valid IP address or network", raw))?;
        let kind = if network.is_single_address() {
            "Intel::ADDR"
        } else {
            "Intel::SUBNET"
        };
        Ok((Cow::Owned(network.to_string()), kind))
    };
    let domain = |raw| -> Row<'_> {
        let name = dns_name(raw).ok_or(("not a valid DNS name", raw))?;
        Ok((Cow::Owned(name), "Intel::DOMAIN"))
    };
    let plain = |raw, kind| -> Row<'_> { Ok((Cow::Borrowed(raw), kind)) };
    let type_name = attribute.attr_type.as_str();
    match type_name {
        "ip-src" | "ip-dst" | "ip-src|port" | "ip-dst|port" => vec![address(value1)],
        "domain" | "hostname" | "hostname|port" => vec![domain(value1)],
        "domain|ip" => vec![domain(value1), address(value2)],
        "url" => {
            let lower = value1.to_ascii_lowercase();
            let without_scheme = ["http://", "https://"]
                .iter()
                .find(|scheme| lower.starts_with(**scheme))
                .map_or(value1, |scheme| &value1[scheme.len()..]);
            vec![plain(without_scheme, "Intel::URL")]
        }
        "email" | "email-src" | "email-dst" | "target-email" => vec![plain(value1, "Intel::EMAIL")],
        "filename" | "email-attachment" => vec![plain(value1, "Intel::FILE_NAME")],
        "user-agent" => vec![plain(value1, "Intel::SOFTWARE")],
        "x509-fingerprint-sha1" => vec![plain(value1, "Intel::CERT_HASH")],
        hash if FILE_HASH_TYPES.contains(&hash) => vec![plain(value1, "Intel::FILE_HASH")],
        "malware-sample" => vec![
            plain(value1, "Intel::FILE_NAME"),
            plain(value2, "Intel::FILE_HASH"),
        ],
        composite => match composite.strip_prefix("filename|") {
            Some(hash) if FILE_HASH_TYPES.contains(&hash) => vec![
                plain(value1, "Intel::FILE_NAME"),
                plain(value2, "Intel::FILE_HASH"),
            ],
            _ => Vec::new(),
        },
    }
}

/// A field as Zeek's TSV reader gets it back: `-` when empty, control characters as
/// spaces, backslashes escaped, and the reader's two markers (`-` unset, `(empty)`)
/// escaped when a value happens to be one of them.
fn field(out: &mut String, value: &str) {
    if value.is_empty() {
        out.push('-');
        return;
    }
    if value == "-" || value == "(empty)" {
        out.push_str(&format!("\\x{:02x}", value.as_bytes()[0]));
        out.push_str(&value[1..]);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\x5c"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
}

impl ExportWriter for ZeekWriter {
    fn content_type(&self) -> &'static str {
        "text/plain; charset=UTF-8"
    }

    fn begin(&mut self, out: &mut String) {
        out.push_str("#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n");
    }

    fn attribute(&mut self, out: &mut String, item: &ExportItem<'_>) {
        let rows = indicators(item.attribute);
        if rows.is_empty() {
            return;
        }
        let source = item
            .event
            .orgc
            .as_ref()
            .map(|org| org.name.as_str())
            .filter(|name| !name.is_empty())
            .unwrap_or(FALLBACK_SOURCE);
        let description = if item.attribute.comment.trim().is_empty() {
            Cow::Borrowed(item.event.info.as_str())
        } else {
            Cow::Owned(format!("{}. {}", item.event.info, item.attribute.comment))
        };
        let link = event_link(&self.base_url, item.event.id).unwrap_or_default();
        for row in rows {
            let (indicator, kind) = match row {
                Ok((indicator, _)) if indicator.trim().is_empty() => continue,
                Ok(row) => row,
                Err((reason, raw)) => {
                    self.skipped.add(reason, raw);
                    continue;
                }
            };
            field(out, &indicator);
            out.push('\t');
            out.push_str(kind);
            out.push('\t');
            field(out, source);
            out.push('\t');
            field(out, &description);
            out.push('\t');
            field(out, &link);
            out.push('\n');
        }
    }

    fn finish(&mut self, _out: &mut String) {}

    fn warnings(&self) -> Vec<String> {
        self.skipped.warnings("zeek")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(value: &str) -> String {
        let mut out = String::new();
        field(&mut out, value);
        out
    }

    #[test]
    fn fields_survive_zeeks_reader() {
        assert_eq!(escaped(""), "-");
        assert_eq!(escaped("-"), "\\x2d");
        assert_eq!(escaped("(empty)"), "\\x28empty)");
        assert_eq!(escaped("a\tb\nc\rd"), "a b c d");
        assert_eq!(escaped("C:\\Temp\\x41"), "C:\\x5cTemp\\x5cx41");
        assert_eq!(escaped("Ünïcode"), "Ünïcode");
    }
}

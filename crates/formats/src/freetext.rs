//! Free-text import: find the indicators in pasted text or a plain feed, the way MISP's
//! freetext import and freetext feeds do (`ComplexTypeTool`).
//!
//! The text is cut into tokens on white space, control characters, `,`, `<`, `>` and `;`
//! (plus the contents of double-quoted strings); each token loses surrounding quotes,
//! parentheses, dots and commas, and is then typed in MISP's order:
//!
//! 1. a clean IPv4/IPv6 address → `ip-dst`;
//! 2. `filename|<hash>` → `filename|md5` … `filename|sha512`, `filename|ssdeep`; a hex string
//!    of 32/40/56/64/96/128 characters → `md5`/`sha1`/`sha224`/`sha256`/`sha384`/`sha512`;
//!    an ssdeep hash → `ssdeep`;
//! 3. the token is refanged (`hxxp`, `[.]`, `(dot)`, `[at]`, …) and a trailing dot dropped;
//! 4. an e-mail address → `email-src`;
//! 5. a trailing `:port` (2-5 digits) is set aside (it becomes the comment "On port N");
//! 6. an IP with that port → `ip-dst|port`, an IP (or `[IPv6]:port`, CIDR) → `ip-dst`;
//! 7. a name whose last label is a known top-level domain → `domain` (two labels) or
//!    `hostname` (three or more); a URL (with or without scheme) → `link` when it is an
//!    `https://` URL on a security vendor's site (VirusTotal, Hybrid Analysis), else `url`;
//!    otherwise something with an alphanumeric extension → `filename`; a backslash path →
//!    `filename` or `regkey`;
//! 8. `CVE-YYYY-NNNN` → `vulnerability`; `+` or dash-separated digits → `phone-number`;
//! 9. `AS1234` → `AS`; 10. a Bitcoin address → `btc`.
//!
//! Every detected value is then normalised and validated as MISP does when it saves the
//! attribute ([`kizuna_model::normalize::normalize_value`]); category and `to_ids` are the
//! type's defaults.
//!
//! Where Kizuna differs from MISP, on purpose:
//! - whole lines starting with `#`, `//` or `;` are comments, and `#` after white space
//!   starts a comment that becomes the comment of the line's values (MISP would import the
//!   URLs of a feed's `# Reference: …` lines and the host names of `1.2.3.4 # host` lines);
//! - a token that clearly tries to be an indicator but is not a valid one (`999.1.1.1`, a
//!   33-character hex "hash", `CVE-2021-12`, an `http://` URL with a broken host, a CIDR
//!   prefix of /33, …) is reported as rejected instead of silently dropped;
//! - a URL keeps its port (MISP cuts a trailing `:8080` off URLs and notes it in the comment);
//! - the Bitcoin pattern is anchored at both ends (MISP's is not, by operator precedence);
//! - duplicates are counted per (type, value) rather than per value;
//! - input starting with `{` is not walked as JSON.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::net::IpAddr;

use kizuna_model::attribute_types::{AttributeType, attribute_type};
use kizuna_model::normalize::{format_ipv6, normalize_value};
use kizuna_model::refang::refang_cow;
use regex::Regex;

use crate::report::Rejection;

/// Security vendors' sites whose `https://` URLs MISP types as `link` rather than `url`
/// (its fallback when the `security-vendor-domains` warninglist is absent).
const DEFAULT_LINK_DOMAINS: &[&str] = &["virustotal.com", "hybrid-analysis.com"];

/// The top-level domains that make a dotted name a domain rather than a file name, and the
/// vendor domains whose URLs are references (`link`) rather than indicators.
#[derive(Clone, Debug)]
pub struct TldSet {
    tlds: HashSet<Box<str>>,
    link_domains: Vec<String>,
}

impl Default for TldSet {
    fn default() -> Self {
        Self::new(std::iter::empty())
    }
}

impl TldSet {
    /// A set of top-level domains (`com`, `xn--p1ai`, …; case and a leading dot do not
    /// matter), with MISP's default link domains.
    pub fn new(tlds: impl IntoIterator<Item = String>) -> Self {
        Self {
            tlds: tlds
                .into_iter()
                .map(|tld| tld.trim_matches('.').to_ascii_lowercase().into_boxed_str())
                .filter(|tld| !tld.is_empty())
                .collect(),
            link_domains: DEFAULT_LINK_DOMAINS.iter().map(|d| d.to_string()).collect(),
        }
    }

    /// Replaces the link domains (MISP's `security-vendor-domains` warninglist); an empty
    /// list keeps the defaults, as MISP does.
    pub fn with_link_domains(mut self, domains: impl IntoIterator<Item = String>) -> Self {
        let domains: Vec<String> = domains
            .into_iter()
            .map(|d| d.trim_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .collect();
        if !domains.is_empty() {
            self.link_domains = domains;
        }
        self
    }

    /// Whether `tld` (without dot, any case) is a known top-level domain.
    pub fn contains(&self, tld: &str) -> bool {
        let mut buf = [0u8; 64];
        if tld.len() <= buf.len() && tld.is_ascii() {
            let lower = &mut buf[..tld.len()];
            lower.copy_from_slice(tld.as_bytes());
            lower.make_ascii_lowercase();
            let lower = std::str::from_utf8(lower).expect("ASCII stays UTF-8");
            self.tlds.contains(lower)
        } else {
            self.tlds.contains(tld.to_lowercase().as_str())
        }
    }

    pub fn len(&self) -> usize {
        self.tlds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tlds.is_empty()
    }

    /// Whether `host` (lower-case) is a link domain or a subdomain of one.
    fn is_link_host(&self, host: &str) -> bool {
        self.link_domains.iter().any(|domain| {
            host.strip_suffix(domain.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
        })
    }
}

/// One indicator found in the input.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectedValue {
    /// 1-based line of the input where the value starts.
    pub line: usize,
    pub attr_type: String,
    pub category: String,
    /// Refanged and normalised; composite types as `a|b`.
    pub value: String,
    pub to_ids: bool,
    pub comment: String,
}

/// What an import found: the values to add, the items it refused, and how many values were
/// dropped because the same (type, value) came earlier in the input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedValues {
    pub values: Vec<DetectedValue>,
    pub rejected: Vec<Rejection>,
    pub duplicates: usize,
}

/// The verdict on one token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classification {
    /// An indicator of MISP type `attr_type`, normalised; `comment` is MISP's note for it
    /// (`On port 8080`) or empty.
    Indicator {
        attr_type: &'static str,
        value: String,
        comment: String,
    },
    /// Looks like an indicator but is not a valid one; the reason says why.
    Invalid(String),
    /// Plain text: MISP would skip it without a word.
    NotAnIndicator,
}

/// The MISP type and normalised value of `token`, if it is a valid indicator.
pub fn detect(token: &str, tlds: &TldSet) -> Option<(String, String)> {
    match classify(token, tlds) {
        Classification::Indicator {
            attr_type, value, ..
        } => Some((attr_type.to_string(), value)),
        _ => None,
    }
}

/// Types `token` as MISP's freetext import would, then normalises the value for that type.
pub fn classify(token: &str, tlds: &TldSet) -> Classification {
    let raw = trim_token(token);
    if raw.is_empty() {
        return Classification::NotAnIndicator;
    }
    if let Some(resolved) = resolve_raw(raw) {
        return finish(resolved);
    }
    let refanged = refang_token(raw);
    finish(resolve_refanged(raw, &refanged, tlds))
}

fn finish(resolved: Resolved<'_>) -> Classification {
    let port_comment =
        |port: Option<&str>| port.map(|p| format!("On port {p}")).unwrap_or_default();
    match resolved {
        Resolved::Canonical {
            attr_type,
            value,
            port,
        } => {
            debug_assert_eq!(
                normalize_value(attr_type, &value).map(|n| n.joined(attr_type)),
                Ok(value.clone()),
                "a canonical {attr_type} must normalise to itself"
            );
            Classification::Indicator {
                attr_type,
                value,
                comment: port_comment(port),
            }
        }
        Resolved::Found {
            attr_type,
            value,
            port,
        } => match normalize_value(attr_type, &value) {
            Ok(normalized) => Classification::Indicator {
                attr_type,
                value: normalized.joined(attr_type),
                comment: port_comment(port),
            },
            Err(error) => Classification::Invalid(error.message),
        },
        Resolved::Invalid(reason) => Classification::Invalid(reason),
        Resolved::Nothing => Classification::NotAnIndicator,
    }
}

/// Finds the indicators in free text. Blank lines and lines starting with `#`, `//` or `;`
/// are comments; plain words are skipped; tokens that look like indicators but are not valid
/// are rejected with their line and the reason.
pub fn parse_freetext(text: &str, tlds: &TldSet) -> ParsedValues {
    parse_freetext_excluding(text, tlds, None)
}

/// [`parse_freetext`], skipping tokens that match `exclude` (a feed's `excluderegex`, see
/// [`crate::csv_import::misp_regex_to_rust`]).
pub fn parse_freetext_excluding(
    text: &str,
    tlds: &TldSet,
    exclude: Option<&Regex>,
) -> ParsedValues {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut collector = Collector::default();
    let mut tokens: Vec<&str> = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        let line_no = index + 1;
        let trimmed = line.trim_start();
        if trimmed.is_empty()
            || trimmed.starts_with('#')
            || trimmed.starts_with("//")
            || trimmed.starts_with(';')
        {
            continue;
        }
        let (content, line_comment) = split_inline_comment(line);
        tokens.clear();
        split_tokens(content, |token| {
            let token = trim_token(token);
            if !token.is_empty() {
                tokens.push(token);
            }
        });
        if content.contains('"') {
            add_quoted_tokens(content, &mut tokens);
        }
        for &token in &tokens {
            if exclude.is_some_and(|re| re.is_match(token)) {
                continue;
            }
            match classify(token, tlds) {
                Classification::Indicator {
                    attr_type,
                    value,
                    comment,
                } => {
                    let comment = join_comments(comment, line_comment);
                    collector.add_detected(line_no, attr_type, value, comment);
                }
                Classification::Invalid(reason) => collector.reject(line_no, token, reason),
                Classification::NotAnIndicator => {}
            }
        }
    }
    collector.finish()
}

/// Splits off a `#` comment that follows white space: `1.2.3.4 # scanner.example.org`.
fn split_inline_comment(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let hash = bytes
        .iter()
        .enumerate()
        .skip(1)
        .find(|&(i, &b)| b == b'#' && matches!(bytes[i - 1], b' ' | b'\t'))
        .map(|(i, _)| i);
    match hash {
        Some(i) => (&line[..i], line[i + 1..].trim()),
        None => (line, ""),
    }
}

pub(crate) fn join_comments(detected: String, other: &str) -> String {
    match (detected.is_empty(), other.is_empty()) {
        (_, true) => detected,
        (true, false) => other.to_string(),
        (false, false) => format!("{detected}; {other}"),
    }
}

/// MISP's token separators: white space, control and format characters, NBSP, `,<>;`.
fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return ASCII_SEPARATORS[c as usize];
    }
    c.is_whitespace() || c.is_control() || is_format_or_private(c)
}

/// Unicode "format" (Cf) and private-use (Co) characters, which MISP turns into spaces.
fn is_format_or_private(c: char) -> bool {
    matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
        | 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD)
}

/// [`is_separator`] for ASCII, as a table: the tokeniser looks at every byte of the input.
const ASCII_SEPARATORS: [bool; 128] = {
    let mut table = [false; 128];
    let mut b = 0;
    while b < 128 {
        let byte = b as u8;
        table[b] = matches!(byte, b',' | b'<' | b'>' | b';')
            || byte.is_ascii_whitespace()
            || byte.is_ascii_control();
        b += 1;
    }
    table
};

fn split_tokens<'a>(text: &'a str, mut each: impl FnMut(&'a str)) {
    let bytes = text.as_bytes();
    let mut start = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (separator, width) = if b < 0x80 {
            (ASCII_SEPARATORS[b as usize], 1)
        } else {
            let c = text[i..].chars().next().expect("i is a char boundary");
            (is_separator(c), c.len_utf8())
        };
        if separator {
            if let Some(s) = start.take() {
                each(&text[s..i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
        i += width;
    }
    if let Some(s) = start {
        each(&text[s..]);
    }
}

/// MISP also tries the contents of every `"…"` as a token (`="1.2.3.4"`, `"C:\Program
/// Files\x.exe"`); contents equal to a token already found add nothing.
fn add_quoted_tokens<'a>(line: &'a str, tokens: &mut Vec<&'a str>) {
    let mut rest = line;
    while let Some(open) = rest.find('"') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('"') else { break };
        let inner = trim_token(&after[..close]);
        if !inner.is_empty() && !tokens.contains(&inner) {
            tokens.push(inner);
        }
        rest = &after[close + 1..];
    }
}

/// MISP's token trim: quotes, dots, commas, parentheses and white space at either end.
pub(crate) fn trim_token(token: &str) -> &str {
    token.trim_matches(|c: char| {
        matches!(
            c,
            '\'' | '"' | '.' | ',' | '(' | ')' | ' ' | '\t' | '\n' | '\r' | '\0' | '\u{0B}'
        )
    })
}

/// Accumulates detected values, dropping repeated (type, value) pairs.
#[derive(Default)]
pub(crate) struct Collector {
    parsed: ParsedValues,
    seen: HashMap<u64, SeenSlot, BuildHasherDefault<PassThrough>>,
    hasher: RandomState,
    type_defaults: Vec<&'static AttributeType>,
}

/// The keys of `Collector::seen` are already SipHash outputs; hashing them again is waste.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

enum SeenSlot {
    One(usize),
    Many(Vec<usize>),
}

impl Collector {
    /// Adds a value typed by detection, with the type's default category and `to_ids`.
    pub(crate) fn add_detected(
        &mut self,
        line: usize,
        attr_type: &'static str,
        value: String,
        comment: String,
    ) {
        let definition = self.type_definition(attr_type);
        self.add(DetectedValue {
            line,
            attr_type: attr_type.to_string(),
            category: definition.default_category.to_string(),
            value,
            to_ids: definition.to_ids,
            comment,
        });
    }

    /// Feeds repeat the same few types, so the table lookup is remembered.
    fn type_definition(&mut self, attr_type: &'static str) -> &'static AttributeType {
        if let Some(found) = self
            .type_defaults
            .iter()
            .find(|t| std::ptr::eq(t.name.as_ptr(), attr_type.as_ptr()) || t.name == attr_type)
        {
            return found;
        }
        let found = attribute_type(attr_type).expect("detection only yields MISP types");
        self.type_defaults.push(found);
        found
    }

    /// Adds `value` unless the same (type, value) is already in; returns whether it was added.
    pub(crate) fn add(&mut self, value: DetectedValue) -> bool {
        let key = self.hasher.hash_one((&value.attr_type, &value.value));
        let values = &self.parsed.values;
        let same =
            |&i: &usize| values[i].attr_type == value.attr_type && values[i].value == value.value;
        let index = values.len();
        match self.seen.get_mut(&key) {
            None => {
                self.seen.insert(key, SeenSlot::One(index));
            }
            Some(SeenSlot::One(existing)) => {
                if same(existing) {
                    self.parsed.duplicates += 1;
                    return false;
                }
                let existing = *existing;
                self.seen.insert(key, SeenSlot::Many(vec![existing, index]));
            }
            Some(SeenSlot::Many(list)) => {
                if list.iter().any(same) {
                    self.parsed.duplicates += 1;
                    return false;
                }
                list.push(index);
            }
        }
        self.parsed.values.push(value);
        true
    }

    pub(crate) fn reject(&mut self, line: usize, item: &str, reason: impl Into<String>) {
        self.parsed
            .rejected
            .push(Rejection::new(format!("line {line}"), item, reason));
    }

    pub(crate) fn finish(self) -> ParsedValues {
        self.parsed
    }
}

// ---------------------------------------------------------------------------------------
// Type resolution (ComplexTypeTool::__resolveType)

enum Resolved<'a> {
    /// Already in the form MISP stores: the checks that found it prove it (an address that
    /// parsed, lower-cased hex of a digest length, a lower-case ASCII host name).
    Canonical {
        attr_type: &'static str,
        value: String,
        port: Option<&'a str>,
    },
    /// To be normalised and validated for its type.
    Found {
        attr_type: &'static str,
        value: Cow<'a, str>,
        /// A port cut off the value, noted in the comment.
        port: Option<&'a str>,
    },
    Invalid(String),
    Nothing,
}

fn found<'a>(attr_type: &'static str, value: impl Into<Cow<'a, str>>) -> Resolved<'a> {
    Resolved::Found {
        attr_type,
        value: value.into(),
        port: None,
    }
}

fn canonical<'a>(attr_type: &'static str, value: String) -> Resolved<'a> {
    Resolved::Canonical {
        attr_type,
        value,
        port: None,
    }
}

/// The text MISP stores for `addr`, parsed from `text`: IPv4 as written (the parser refuses
/// leading zeros, so the text is already canonical), IPv6 compressed and lower-case.
fn canonical_ip(addr: IpAddr, text: &str) -> String {
    match addr {
        IpAddr::V4(_) => text.to_string(),
        IpAddr::V6(v6) => format_ipv6(&v6),
    }
}

/// The checks MISP runs on the token as given: a clean IP, then hashes.
fn resolve_raw(raw: &str) -> Option<Resolved<'_>> {
    if let Ok(addr) = raw.parse::<IpAddr>() {
        return Some(canonical("ip-dst", canonical_ip(addr, raw)));
    }
    check_hashes(raw)
}

/// The remaining checks, in MISP's order, on the token and its refanged form.
fn resolve_refanged<'a>(raw: &'a str, refanged: &'a str, tlds: &TldSet) -> Resolved<'a> {
    if has_byte(refanged, b'@') && is_php_email(refanged) {
        return found("email-src", refanged);
    }
    let (no_port, port) = split_port(refanged);
    if let Some(resolved) = check_ip(refanged, no_port, port) {
        return resolved;
    }
    if let Some(resolved) = check_domain_url_filename(raw, refanged, no_port, port, tlds) {
        return resolved;
    }
    if let Some(resolved) = check_cve_and_phone(raw) {
        return resolved;
    }
    if raw.len() > 2
        && raw.as_bytes()[..2].eq_ignore_ascii_case(b"as")
        && raw[2..].bytes().all(|b| b.is_ascii_digit())
    {
        return found("AS", raw.to_ascii_uppercase());
    }
    if is_btc(raw) {
        return found("btc", raw);
    }
    if raw.len() >= 30 && is_hex(raw) {
        return Resolved::Invalid(bad_hash_length(raw.len()));
    }
    Resolved::Nothing
}

fn bad_hash_length(len: usize) -> String {
    format!(
        "{len} hexadecimal characters is not the length of a known hash (MD5 32, SHA-1 40, \
         SHA-224 56, SHA-256 64, SHA-384 96, SHA-512 128)"
    )
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// MISP's hex digest types by length: (single type, `filename|` type).
fn hash_types(len: usize) -> Option<(&'static str, &'static str)> {
    Some(match len {
        32 => ("md5", "filename|md5"),
        40 => ("sha1", "filename|sha1"),
        56 => ("sha224", "filename|sha224"),
        64 => ("sha256", "filename|sha256"),
        96 => ("sha384", "filename|sha384"),
        128 => ("sha512", "filename|sha512"),
        _ => return None,
    })
}

fn check_hashes(raw: &str) -> Option<Resolved<'_>> {
    if let Some(hash_types) = hash_types(raw.len())
        && is_hex(raw)
    {
        return Some(canonical(hash_types.0, raw.to_ascii_lowercase()));
    }
    if let Some(bar) = find_byte(raw, b'|')
        && let (name, hash) = (&raw[..bar], &raw[bar + 1..])
        && !has_byte(hash, b'|')
        && resolve_filename(name)
    {
        if is_hex(hash) {
            match hash_types(hash.len()) {
                Some((_, composite)) => return Some(found(composite, raw)),
                None if hash.len() >= 30 => {
                    return Some(Resolved::Invalid(bad_hash_length(hash.len())));
                }
                None => {}
            }
        }
        if is_ssdeep(hash) {
            return Some(found("filename|ssdeep", raw));
        }
    }
    if is_ssdeep(raw) {
        return Some(found("ssdeep", raw));
    }
    None
}

/// Tokens are short: a plain loop beats setting up a substring search.
fn find_byte(s: &str, needle: u8) -> Option<usize> {
    s.bytes().position(|b| b == needle)
}

fn has_byte(s: &str, needle: u8) -> bool {
    s.bytes().any(|b| b == needle)
}

/// `blocksize:hash:hash`, but not a time of day such as `12:30:45`.
fn is_ssdeep(s: &str) -> bool {
    if !s.as_bytes().first().is_some_and(u8::is_ascii_digit) || !has_byte(s, b':') {
        return false;
    }
    let mut parts = s.split(':');
    let (Some(size), Some(a), Some(b), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let base64 = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+')
    };
    let clock = [size, a, b].iter().all(|p| p.len() <= 2 && digits(p));
    digits(size) && base64(a) && base64(b) && !clock
}

/// Refangs a token, then drops trailing dots (`evil[.]com[.]`).
fn refang_token(raw: &str) -> Cow<'_, str> {
    match refang_cow(raw) {
        Cow::Borrowed(clean) => Cow::Borrowed(clean.trim_end_matches('.')),
        Cow::Owned(mut refanged) => {
            let kept = refanged.trim_end_matches('.').len();
            refanged.truncate(kept);
            Cow::Owned(refanged)
        }
    }
}

/// Sets aside a trailing `:NN`…`:NNNNN`.
fn split_port(refanged: &str) -> (&str, Option<&str>) {
    if let Some(colon) = refanged.bytes().rposition(|b| b == b':') {
        let port = &refanged[colon + 1..];
        if (2..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()) {
            return (&refanged[..colon], Some(port));
        }
    }
    (refanged, None)
}

fn check_ip<'a>(
    refanged: &'a str,
    no_port: &'a str,
    port: Option<&'a str>,
) -> Option<Resolved<'a>> {
    if let Ok(addr) = no_port.parse::<IpAddr>() {
        let address = canonical_ip(addr, no_port);
        return Some(match port {
            Some(p) if is_canonical_port(p) => Resolved::Canonical {
                attr_type: "ip-dst|port",
                value: format!("{address}|{p}"),
                port: Some(p),
            },
            Some(p) => Resolved::Found {
                attr_type: "ip-dst|port",
                value: Cow::Owned(format!("{address}|{p}")),
                port: Some(p),
            },
            None => canonical("ip-dst", address),
        });
    }
    if refanged.parse::<std::net::Ipv6Addr>().is_ok() {
        return Some(found("ip-dst", refanged));
    }
    if let Some(p) = port
        && let Some(inner) = no_port.strip_prefix('[').and_then(|s| s.strip_suffix(']'))
        && inner.parse::<std::net::Ipv6Addr>().is_ok()
    {
        return Some(Resolved::Found {
            attr_type: "ip-dst|port",
            value: Cow::Owned(format!("{inner}|{p}")),
            port: Some(p),
        });
    }
    if let Some(slash) = find_byte(no_port, b'/')
        && let (address, prefix) = (&no_port[..slash], &no_port[slash + 1..])
        && !has_byte(prefix, b'/')
    {
        if address.parse::<IpAddr>().is_ok() && kizuna_model::normalize::is_php_numeric(prefix) {
            return Some(Resolved::Found {
                attr_type: "ip-dst",
                value: Cow::Borrowed(no_port),
                port,
            });
        }
        if is_dotted_quad(address) {
            return Some(Resolved::Invalid(bad_ipv4()));
        }
    }
    if is_dotted_quad(no_port) {
        return Some(Resolved::Invalid(bad_ipv4()));
    }
    None
}

/// 1-65535 written without leading zeros.
fn is_canonical_port(port: &str) -> bool {
    !port.starts_with('0') && port.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
}

fn bad_ipv4() -> String {
    "not a valid IPv4 address: four numbers 0-255 without leading zeros".to_string()
}

/// Four dot-separated runs of digits: meant as an IPv4 address, whether valid or not.
fn is_dotted_quad(s: &str) -> bool {
    let mut count = 0;
    for part in s.split('.') {
        count += 1;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    count == 4
}

fn check_domain_url_filename<'a>(
    raw: &'a str,
    refanged: &'a str,
    no_port: &'a str,
    port: Option<&'a str>,
    tlds: &TldSet,
) -> Option<Resolved<'a>> {
    if has_byte(no_port, b'.') {
        if let Some(last_label) = domain_shape(no_port)
            && tlds.contains(last_label)
        {
            let labels = no_port.split('.').count();
            let attr_type = if labels > 2 { "hostname" } else { "domain" };
            let lower_ascii = no_port
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
            let lengths_ok = no_port.len() <= 253
                && last_label.len() >= 2
                && no_port.split('.').all(|label| label.len() <= 63);
            return Some(if lower_ascii && lengths_ok {
                Resolved::Canonical {
                    attr_type,
                    value: no_port.to_string(),
                    port,
                }
            } else {
                Resolved::Found {
                    attr_type,
                    value: Cow::Borrowed(no_port),
                    port,
                }
            });
        }
        if is_php_url(no_port) || is_php_url_with_http(no_port) {
            // The port stays part of a URL.
            if is_link(refanged, tlds) {
                return Some(found("link", refanged));
            }
            if has_byte(no_port, b'/') {
                return Some(found("url", refanged));
            }
        } else if let Some(reason) = broken_url(refanged) {
            return Some(Resolved::Invalid(reason));
        }
        if resolve_filename(raw) {
            return Some(found("filename", raw));
        }
    }
    if has_byte(raw, b'\\') {
        let first = raw.split('\\').next().unwrap_or("");
        let last = raw.rsplit('\\').next().unwrap_or("");
        if last.contains('.') || second_byte_is_colon(first) {
            if resolve_filename(last) {
                return Some(found("filename", raw));
            }
        } else if !first.is_empty() && first != "0" {
            return Some(found("regkey", raw));
        }
    }
    None
}

/// Whether `s` has the shape `label.label….tld` (letters, digits and `-` in the labels, an
/// ASCII alphanumeric TLD); returns the TLD.
fn domain_shape(s: &str) -> Option<&str> {
    let (head, tld) = s.rsplit_once('.')?;
    let tld_ok = !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let labels_ok = head
        .split('.')
        .all(|label| !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-'));
    (tld_ok && labels_ok).then_some(tld)
}

/// MISP's `link` rule: an `https://` URL on a security vendor's site.
fn is_link(value: &str, tlds: &TldSet) -> bool {
    let Some(prefix) = value.get(..8) else {
        return false;
    };
    if !prefix.eq_ignore_ascii_case("https://") {
        return false;
    }
    let host = value[8..].split('/').next().unwrap_or("");
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        tlds.is_link_host(&host.to_ascii_lowercase())
    } else {
        tlds.is_link_host(host)
    }
}

/// Why a token that starts like a URL (`http://`, `https://`, `ftp://`) is not one.
fn broken_url(refanged: &str) -> Option<String> {
    let (scheme, rest) = refanged.split_once("://")?;
    if !["http", "https", "ftp", "ftps"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
    {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    Some(if authority.is_empty() {
        "a URL without a host".to_string()
    } else {
        format!(
            "not a valid URL: \"{authority}\" is not a valid host name and port (letters, \
             digits and \"-\" in dot-separated labels, a port up to 65535)"
        )
    })
}

fn second_byte_is_colon(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] != b'\n' && b[1] == b':'
}

/// MISP's file name test: a drive prefix (`C:`) or a dot after the first character, and an
/// alphanumeric, non-numeric extension.
fn resolve_filename(s: &str) -> bool {
    let dotted = s.find('.').is_some_and(|i| i > 0);
    if !(second_byte_is_colon(s) || dotted) {
        return false;
    }
    let extension = s.rsplit('.').next().unwrap_or("");
    !extension.is_empty()
        && extension.bytes().all(|b| b.is_ascii_alphanumeric())
        && !kizuna_model::normalize::is_php_numeric(extension)
}

fn check_cve_and_phone(raw: &str) -> Option<Resolved<'_>> {
    let bytes = raw.as_bytes();
    if bytes.len() >= 4 && bytes[..4].eq_ignore_ascii_case(b"cve-") {
        let rest = &raw[4..];
        let valid = rest.split_once('-').is_some_and(|(year, id)| {
            year.len() == 4
                && year.bytes().all(|b| b.is_ascii_digit())
                && (4..=9).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_digit())
        });
        return Some(if valid {
            found("vulnerability", raw.to_ascii_uppercase())
        } else {
            Resolved::Invalid(
                "not a valid CVE identifier: CVE-YYYY-NNNN with 4 to 9 digits".to_string(),
            )
        });
    }
    let dash_after_start = find_byte(raw, b'-').is_some_and(|i| i > 0);
    if (bytes[0] == b'+' || dash_after_start) && !is_iso_date(raw) && is_phone(raw) {
        return Some(found("phone-number", raw));
    }
    None
}

fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// `+`? then up to three digits with an optional `(0)`, then at least five of digits, `/`
/// and `-`, ending with a digit.
fn is_phone(s: &str) -> bool {
    let s = s.strip_prefix('+').unwrap_or(s);
    let body = match s.find("(0)") {
        Some(i) => {
            let country = &s[..i];
            if !(1..=3).contains(&country.len()) || !country.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            &s[i + 3..]
        }
        None => s,
    };
    body.len() >= 6
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'/' || b == b'-')
        && body.as_bytes()[body.len() - 1].is_ascii_digit()
}

/// A base58 (P2PKH/P2SH) or bech32 (`bc1…`/`tb1…`) Bitcoin address.
fn is_btc(s: &str) -> bool {
    let b = s.as_bytes();
    if matches!(b.first(), Some(b'1' | b'3')) && (26..=35).contains(&b.len()) {
        let base58 = |c: &u8| matches!(c, b'1'..=b'9' | b'A'..=b'H' | b'J'..=b'N' | b'P'..=b'Z' | b'a'..=b'k' | b'm'..=b'z');
        return b[1..].iter().all(base58);
    }
    if b.len() >= 14 && (b[..3].eq_ignore_ascii_case(b"bc1") || b[..3].eq_ignore_ascii_case(b"tb1"))
    {
        let data = &b[3..];
        return (11..=71).contains(&data.len())
            && data.iter().all(|c| {
                matches!(c.to_ascii_lowercase(), b'0' | b'2'..=b'9' | b'a' | b'c'..=b'h' | b'j'..=b'n' | b'p'..=b'z')
            });
    }
    false
}

// ---------------------------------------------------------------------------------------
// PHP's FILTER_VALIDATE_EMAIL and FILTER_VALIDATE_URL, as far as freetext typing needs them

/// A dot-atom local part and a host name domain whose TLD starts with a letter.
fn is_php_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    if s.len() > 254 || local.is_empty() || local.len() > 64 || domain.contains('@') {
        return false;
    }
    let atom_char = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'/'
                    | b'='
                    | b'?'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'{'
                    | b'|'
                    | b'}'
                    | b'~'
            )
    };
    if !local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.bytes().all(atom_char))
    {
        return false;
    }
    let Some((_, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    let label_ok = |label: &str| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.len() < 64
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    domain.split('.').all(label_ok) && tld.as_bytes()[0].is_ascii_alphabetic()
}

fn is_php_url_with_http(s: &str) -> bool {
    // Only a scheme-less token can become valid by prefixing one.
    if s.contains("://") {
        return false;
    }
    let mut prefixed = String::with_capacity(s.len() + 7);
    prefixed.push_str("http://");
    prefixed.push_str(s);
    is_php_url(&prefixed)
}

/// Characters `FILTER_SANITIZE_URL` keeps; a URL with any other is not valid.
fn is_url_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"$-_.+!*'(),{}|\\^~[]`<>#%\";/?:@&=".contains(&b)
}

fn is_php_url(s: &str) -> bool {
    if !s.bytes().all(is_url_char) {
        return false;
    }
    let Some((scheme, rest)) = s.split_once(':') else {
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
    let host = match rest.strip_prefix("//") {
        Some(after) => {
            let authority = after.split(['/', '?', '#']).next().unwrap_or("");
            let (userinfo, host_port) = match authority.rsplit_once('@') {
                Some((user, host)) => (Some(user), host),
                None => (None, authority),
            };
            if userinfo.is_some_and(|u| !is_userinfo_valid(u)) {
                return false;
            }
            let Some(host) = split_url_port(host_port) else {
                return false;
            };
            (!host.is_empty()).then_some(host)
        }
        None => None,
    };
    let web = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    match host {
        Some(host) if web => {
            if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                v6.parse::<std::net::Ipv6Addr>().is_ok()
            } else {
                is_php_hostname(host)
            }
        }
        Some(_) => true,
        None => ["mailto", "news", "file"]
            .iter()
            .any(|s| scheme.eq_ignore_ascii_case(s)),
    }
}

/// The host of `host[:port]` / `[v6][:port]`; `None` when the port is not a valid number.
fn split_url_port(host_port: &str) -> Option<&str> {
    let (host, port) = if host_port.starts_with('[') {
        match host_port.find(']') {
            Some(close) => (
                &host_port[..=close],
                host_port[close + 1..].strip_prefix(':'),
            ),
            None => (host_port, None),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    match port {
        Some(p) if !p.is_empty() => {
            let ok = p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| n <= 65535);
            ok.then_some(host)
        }
        _ => Some(host),
    }
}

fn is_userinfo_valid(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if i + 2 >= b.len() || !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 3;
            continue;
        }
        if !(c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:".contains(&c)) {
            return false;
        }
        i += 1;
    }
    true
}

/// A DNS host name: labels of ASCII letters, digits and inner `-`, at most 63 characters
/// each and 253 in all (a final dot ignored).
fn is_php_hostname(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    host.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlds() -> TldSet {
        TldSet::new(
            [
                "com",
                "net",
                "org",
                "cz",
                "br",
                "info",
                "zip",
                "xn--fiqs8s",
                "test",
                "io",
            ]
            .map(String::from),
        )
    }

    fn typed(token: &str) -> Option<(String, String)> {
        detect(token, &tlds())
    }

    fn assert_detects(token: &str, attr_type: &str, value: &str) {
        assert_eq!(
            typed(token),
            Some((attr_type.to_string(), value.to_string())),
            "{token}"
        );
    }

    fn assert_ignored(token: &str) {
        assert_eq!(
            classify(token, &tlds()),
            Classification::NotAnIndicator,
            "{token}"
        );
    }

    fn assert_invalid(token: &str, reason_part: &str) {
        match classify(token, &tlds()) {
            Classification::Invalid(reason) => {
                assert!(reason.contains(reason_part), "{token}: {reason}")
            }
            other => panic!("{token}: expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn addresses() {
        assert_detects("127.0.0.1", "ip-dst", "127.0.0.1");
        assert_detects("(8.8.8.8)", "ip-dst", "8.8.8.8");
        assert_detects(
            "2a00:1450:4005:80a::2003",
            "ip-dst",
            "2a00:1450:4005:80a::2003",
        );
        assert_detects(
            "2A00:1450:4005:080A:0:0:0:2003",
            "ip-dst",
            "2a00:1450:4005:80a::2003",
        );
        assert_detects("127.0.0.1/32", "ip-dst", "127.0.0.1");
        assert_detects("10.0.0.0/8", "ip-dst", "10.0.0.0/8");
        assert_detects(
            "2a00:1450:4005:80a::2003/128",
            "ip-dst",
            "2a00:1450:4005:80a::2003",
        );
        assert_detects("2001:db8::/32", "ip-dst", "2001:db8::/32");
        assert_detects("1.2.3[.]4", "ip-dst", "1.2.3.4");
        assert_detects("1[.]2[.]3[.]4", "ip-dst", "1.2.3.4");
        assert_detects("1(.)2(.)3(.)4", "ip-dst", "1.2.3.4");
        assert_detects("127[dot]0[dot]0[dot]1", "ip-dst", "127.0.0.1");
    }

    #[test]
    fn addresses_with_ports() {
        let found = classify("127.0.0.1:8080", &tlds());
        assert_eq!(
            found,
            Classification::Indicator {
                attr_type: "ip-dst|port",
                value: "127.0.0.1|8080".into(),
                comment: "On port 8080".into()
            }
        );
        assert_detects(
            "[1fff:0:a88:85a3::ac1f]:8001",
            "ip-dst|port",
            "1fff:0:a88:85a3::ac1f|8001",
        );
        assert_detects("5[.]252[.]176[.]63:443", "ip-dst|port", "5.252.176.63|443");
        assert_invalid("1.2.3.4:99999", "port");
    }

    #[test]
    fn invalid_addresses_are_rejected() {
        assert_invalid("999.1.1.1", "IPv4");
        assert_invalid("1.2.3.256", "IPv4");
        assert_invalid("01.2.3.4", "IPv4");
        assert_invalid("999.1.1.1:80", "IPv4");
        assert_invalid("999.1.1.0/24", "IPv4");
        assert_invalid("1.2.3.0/33", "CIDR");
        assert_ignored("fe80:0000:f2cd:7d80:3f37:52c6");
        assert_ignored("1.2.3.4.5");
        assert_ignored("1.2");
    }

    #[test]
    fn hashes() {
        assert_detects(
            "9e107d9d372bb6826bd81d3542a419d6",
            "md5",
            "9e107d9d372bb6826bd81d3542a419d6",
        );
        assert_detects(
            "9E107D9D372BB6826BD81D3542A419D6",
            "md5",
            "9e107d9d372bb6826bd81d3542a419d6",
        );
        assert_detects(
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "sha1",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        );
        for (len, attr_type) in [
            (56, "sha224"),
            (64, "sha256"),
            (96, "sha384"),
            (128, "sha512"),
        ] {
            let hash = "ab".repeat(len / 2);
            assert_detects(&hash, attr_type, &hash);
        }
        assert_detects(
            "ahoj.txt|9e107d9d372bb6826bd81d3542a419d6",
            "filename|md5",
            "ahoj.txt|9e107d9d372bb6826bd81d3542a419d6",
        );
        let sha256 = "0592aad472bbadeb6edc55573d7bcd2cff560504de5c94d8e1600188f143e523";
        assert_detects(
            &format!("evil.exe|{}", sha256.to_uppercase()),
            "filename|sha256",
            &format!("evil.exe|{sha256}"),
        );
        let ssdeep = "24:VGXGP7L5e/Ixt3af/WKPPaYpzg4m3XWMCsXNCRs0:kYDxcfPZpelCs9Cm0";
        assert_detects(ssdeep, "ssdeep", ssdeep);
        assert_detects(
            &format!("a.doc|{ssdeep}"),
            "filename|ssdeep",
            &format!("a.doc|{ssdeep}"),
        );
        assert_ignored("12:30:45");
        assert_ignored("deadbeef");
    }

    #[test]
    fn hex_of_no_hash_length_is_rejected() {
        assert_invalid(&"a".repeat(33), "33 hexadecimal characters");
        assert_invalid(&"0".repeat(31), "31 hexadecimal characters");
        assert_invalid(&format!("evil.exe|{}", "c".repeat(33)), "33 hexadecimal");
        assert_ignored(&"a".repeat(29));
    }

    #[test]
    fn domains_and_hostnames() {
        assert_detects("example.com", "domain", "example.com");
        assert_detects("EXAMPLE.COM", "domain", "example.com");
        assert_detects("example.com.", "domain", "example.com");
        assert_detects("example[.]com", "domain", "example.com");
        assert_detects("example(dot)com", "domain", "example.com");
        assert_detects("example.example.com", "hostname", "example.example.com");
        assert_detects("3dstudioa[.]com[.]br", "hostname", "3dstudioa.com.br");
        assert_detects(
            "xn--ghq549cb2anjl2suxo.com",
            "domain",
            "xn--ghq549cb2anjl2suxo.com",
        );
        assert_detects(
            "xn--lbrs59br5a.xn--fiqs8s",
            "domain",
            "xn--lbrs59br5a.xn--fiqs8s",
        );
        assert_detects("háčkyčárky.cz", "domain", "xn--hkyrky-ptac70bc.cz");
        let with_port = classify("example.com:80", &tlds());
        assert_eq!(
            with_port,
            Classification::Indicator {
                attr_type: "domain",
                value: "example.com".into(),
                comment: "On port 80".into()
            }
        );
    }

    #[test]
    fn names_without_a_known_tld_are_file_names() {
        assert_detects("example.example", "filename", "example.example");
        // `.zip` is a real TLD, so MISP takes this for a host name.
        assert_detects("example.txt.zip", "hostname", "example.txt.zip");
        assert_detects("example.txt.gz", "filename", "example.txt.gz");
        assert_detects("report.pdf", "filename", "report.pdf");
        assert_detects(
            "/var/log/example.txt.gz",
            "filename",
            "/var/log/example.txt.gz",
        );
        assert_detects("C:\\example.txt.zip", "filename", "C:\\example.txt.zip");
        assert_detects("/fk/f2.php", "filename", "/fk/f2.php");
        assert_ignored("version.2");
    }

    #[test]
    fn registry_keys() {
        let key = "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion";
        assert_detects(key, "regkey", key);
        assert_detects("HKCU\\Software\\Run", "regkey", "HKCU\\Software\\Run");
        assert_ignored("\\.");
    }

    #[test]
    fn urls_and_links() {
        assert_detects("http://example.com", "url", "http://example.com");
        assert_detects("https://example.com", "url", "https://example.com");
        assert_detects(
            "https://github.com:443/MISP/MISP",
            "url",
            "https://github.com:443/MISP/MISP",
        );
        assert_detects("github.com/MISP/MISP", "url", "github.com/MISP/MISP");
        assert_detects("http://example.com:8080", "url", "http://example.com:8080");
        assert_detects("http://37.59.117.243", "url", "http://37.59.117.243");
        for defanged in [
            "hxxp://example.com",
            "hxtp://example.com",
            "htxp://example.com",
        ] {
            assert_detects(defanged, "url", "http://example.com");
        }
        for defanged in [
            "hxxps://example.com",
            "hxtps://example.com",
            "htxps://example.com",
        ] {
            assert_detects(defanged, "url", "https://example.com");
        }
        assert_detects("hxxp://evil[.]com/a/b", "url", "http://evil.com/a/b");
        assert_detects("hXXps[:]//evil[.]com/x", "url", "https://evil.com/x");
        assert_detects("meow://example.com", "url", "http://example.com");
        assert_detects(
            "https://www.virustotal.com/example",
            "link",
            "https://www.virustotal.com/example",
        );
        assert_detects(
            "https://virustotal.com/example",
            "link",
            "https://virustotal.com/example",
        );
        assert_detects(
            "https://www.hybrid-analysis.com/example",
            "link",
            "https://www.hybrid-analysis.com/example",
        );
        assert_detects("http://virustotal.com/x", "url", "http://virustotal.com/x");
        assert_detects(
            "https://notvirustotal.com/x",
            "url",
            "https://notvirustotal.com/x",
        );
    }

    #[test]
    fn link_domains_can_be_replaced() {
        let tlds = tlds().with_link_domains(["urlscan.io".to_string()]);
        assert_eq!(
            detect("https://urlscan.io/result/1", &tlds),
            Some(("link".into(), "https://urlscan.io/result/1".into()))
        );
        assert_eq!(
            detect("https://virustotal.com/x", &tlds),
            Some(("url".into(), "https://virustotal.com/x".into()))
        );
    }

    #[test]
    fn broken_urls_are_rejected() {
        assert_invalid("http://evil_host.com/x", "not a valid URL");
        assert_invalid("hxxp://[.]com/x", "not a valid URL");
        assert_invalid("http://.evil.com/", "not a valid URL");
        // Without a dot MISP does not consider URLs at all.
        assert_ignored("http://");
        assert_ignored("http://localhost/x");
    }

    #[test]
    fn emails() {
        assert_detects("test@example.com", "email-src", "test@example.com");
        assert_detects("Test@Example.com", "email-src", "test@example.com");
        assert_detects("test[@]example.com", "email-src", "test@example.com");
        assert_detects("test[at]example.com", "email-src", "test@example.com");
        assert_detects("user[at]example[.]com", "email-src", "user@example.com");
        assert_detects("admin[at]admin[dot]test", "email-src", "admin@admin.test");
        assert_ignored("@handle");
    }

    #[test]
    fn vulnerabilities_as_numbers_phones_and_bitcoin() {
        assert_detects("CVE-2019-16202", "vulnerability", "CVE-2019-16202");
        assert_detects("cve-2019-16202", "vulnerability", "CVE-2019-16202");
        assert_invalid("CVE-2021-12", "CVE");
        assert_detects("AS0", "AS", "0");
        assert_detects("as64500", "AS", "64500");
        assert_invalid("AS99999999999", "AS number");
        assert_detects("+420123456789", "phone-number", "+420123456789");
        assert_detects("+44(0)20-7946-0000", "phone-number", "+442079460000");
        assert_detects("123-456-7890", "phone-number", "1234567890");
        assert_ignored("2018-08-21");
        assert_ignored("10-12");
        assert_detects(
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "btc",
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
        );
        for address in [
            "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
            "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
            "BC1SW50QA3JX3S",
            "bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj",
            "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
        ] {
            assert_detects(address, "btc", address);
        }
    }

    #[test]
    fn plain_words_are_skipped() {
        for token in [
            "",
            "|",
            "&",
            "$",
            "0",
            ":80",
            "1.2",
            "[]:80",
            "\\.",
            ".",
            ":",
            "a:b",
            "a:b:c",
            "cK753n3MVw",
            "hello",
            "2018-08-21",
            "70c2e7c4-b128-49dd-bc80-82d111ef39ef",
        ] {
            assert_ignored(token);
        }
    }

    #[test]
    fn freetext_tokens_and_lines() {
        let text = "# LAST 1000 # UTC UPDATE 2020-07-13 08:15:00\n\
                    127.0.0.1,(127.0.0.2),  <127.0.0.3>; \"127.0.0.4\" \"'127.0.0.5'\"\n\
                    \n\
                    // a comment\n\
                    ; another\n\
                    =\"127.0.0.6\",=\"127.0.0.7\",\"\",\"1\"\n\
                    127.0.0.1\u{a0}127.0.0.8\u{1d}127.0.0.9\n";
        let parsed = parse_freetext(text, &tlds());
        let values: Vec<(usize, &str)> = parsed
            .values
            .iter()
            .map(|v| (v.line, v.value.as_str()))
            .collect();
        assert_eq!(
            values,
            [
                (2, "127.0.0.1"),
                (2, "127.0.0.2"),
                (2, "127.0.0.3"),
                (2, "127.0.0.4"),
                (2, "127.0.0.5"),
                (6, "127.0.0.6"),
                (6, "127.0.0.7"),
                (7, "127.0.0.8"),
                (7, "127.0.0.9"),
            ]
        );
        assert_eq!(parsed.duplicates, 1);
        assert!(parsed.rejected.is_empty());
        let first = &parsed.values[0];
        assert_eq!(first.attr_type, "ip-dst");
        assert_eq!(first.category, "Network activity");
        assert!(first.to_ids);
    }

    #[test]
    fn freetext_rejections_name_line_and_reason() {
        let text = "evil.com\n999.1.1.1 and aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nok.net\n";
        let parsed = parse_freetext(text, &tlds());
        assert_eq!(parsed.values.len(), 2);
        let rejected: Vec<(&str, &str)> = parsed
            .rejected
            .iter()
            .map(|r| (r.location.as_str(), r.item.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [
                ("line 2", "999.1.1.1"),
                ("line 2", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
            ]
        );
    }

    #[test]
    fn inline_comments_annotate_the_line() {
        let text =
            "129.82.138.12 # pinger1a.netsec.colostate.edu\n1.2.3.4:8080 # c2\nurl#frag.com\n";
        let parsed = parse_freetext(text, &tlds());
        let values: Vec<(&str, &str, &str)> = parsed
            .values
            .iter()
            .map(|v| (v.attr_type.as_str(), v.value.as_str(), v.comment.as_str()))
            .collect();
        assert_eq!(
            values,
            [
                ("ip-dst", "129.82.138.12", "pinger1a.netsec.colostate.edu"),
                ("ip-dst|port", "1.2.3.4|8080", "On port 8080; c2"),
                ("filename", "url#frag.com", ""),
            ]
        );
    }

    #[test]
    fn duplicates_are_per_type_and_value() {
        let parsed = parse_freetext("1.2.3.4 1.2.3.4\n1.2.3.4\nexample.com EXAMPLE.COM", &tlds());
        assert_eq!(parsed.values.len(), 2);
        assert_eq!(parsed.duplicates, 3);
    }

    #[test]
    fn exclusion_regex_skips_tokens() {
        let exclude = Regex::new(r"^10\.").unwrap();
        let parsed = parse_freetext_excluding("10.0.0.1 11.0.0.1", &tlds(), Some(&exclude));
        assert_eq!(parsed.values.len(), 1);
        assert_eq!(parsed.values[0].value, "11.0.0.1");
    }

    #[test]
    fn tld_set_ignores_case_and_dots() {
        let set = TldSet::new([".COM".to_string(), "Org".to_string()]);
        assert!(set.contains("com") && set.contains("CoM") && set.contains("org"));
        assert!(!set.contains("net"));
        assert_eq!(set.len(), 2);
    }
}

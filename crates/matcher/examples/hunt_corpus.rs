//! A synthetic corpus for benchmarking and cross-checking `kizuna hunt`:
//!
//! ```text
//! cargo run --release -p kizuna-matcher --example hunt_corpus -- --out DIR \
//!     [--size-mib 1024] [--iocs 1000000] [--seed N]
//! ```
//!
//! writes, under DIR, logs shaped like the real samples (Zeek `dns`/`conn`/`ssl` TSV with
//! their exact headers and columns, Zeek JSON `dns`, Squid native, Apache combined), one day
//! of traffic from 2026-03-01T00:00:00Z; `iocs.txt`, a plain IoC list (hunt-semantics §1.2)
//! of IPs, CIDRs, domains, URLs and md5/sha1/sha256 hashes; `misp-feed/`, a MISP feed folder
//! holding every planted IoC and a sample of the others, some with validity windows; and
//! `expected.txt`, the number of hits planted per kind and per file for both IoC sources,
//! and the near-misses planted that must not match.
//!
//! Background traffic and IoCs are drawn from disjoint spaces (address blocks, top-level
//! domains, label lengths), so the only hits are the planted ones, each planted line giving
//! exactly one.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// 2026-03-01T00:00:00Z: every log covers the day that follows.
pub const START_SECONDS: i64 = 1_772_323_200;
pub const DAY_SECONDS: i64 = 86_400;
/// Feed windows of class [`WindowClass::FromNoon`] start here, cutting through every log.
pub const NOON_MICROS: i64 = (START_SECONDS + DAY_SECONDS / 2) * 1_000_000;

/// One line in this many carries a planted hit, and as many carry a planted near-miss.
const PLANT_EVERY: u64 = 1000;

// IoC and background address spaces never meet: IoC IPv4 addresses start with one of
// IOC_V4_FIRST, CIDR IoCs with CIDR16_FIRST / CIDR24_FIRST, background servers with
// BACKGROUND_V4_FIRST and clients are RFC 1918.
const IOC_V4_FIRST: [u8; 24] = [
    5, 31, 37, 45, 46, 62, 77, 80, 81, 82, 89, 91, 94, 109, 176, 178, 185, 188, 193, 194, 195, 212,
    213, 217,
];
const CIDR16_FIRST: [u8; 3] = [146, 147, 148];
const CIDR24_FIRST: [u8; 4] = [160, 161, 162, 163];
const BACKGROUND_V4_FIRST: [u8; 16] = [
    13, 20, 23, 34, 35, 52, 54, 104, 142, 151, 157, 172, 199, 204, 208, 216,
];
const IOC_V6_PREFIX: u16 = 0x2a0b;
const CIDR6_PREFIX: u16 = 0x2a0c;

// Domain IoCs: two labels, the first 8–14 letters, under these top-level domains; URL IoC
// hosts use other top-level domains, so no URL host is a domain IoC or below one.
const IOC_DOMAIN_TLDS: [&str; 12] = [
    "com", "net", "org", "info", "biz", "xyz", "top", "ru", "cn", "io", "su", "pw",
];
const IOC_URL_TLDS: [&str; 5] = ["click", "shop", "site", "live", "icu"];

const BACKGROUND_DOMAINS: [&str; 40] = [
    "google.com",
    "googleapis.com",
    "gstatic.com",
    "youtube.com",
    "microsoft.com",
    "windowsupdate.com",
    "live.com",
    "office365.com",
    "apple.com",
    "icloud.com",
    "amazonaws.com",
    "cloudfront.net",
    "akamaiedge.net",
    "akamaihd.net",
    "cloudflare.com",
    "fastly.net",
    "github.com",
    "githubusercontent.com",
    "slashdot.org",
    "wikipedia.org",
    "wikimedia.org",
    "mozilla.org",
    "debian.org",
    "ubuntu.com",
    "doubleclick.net",
    "googlesyndication.com",
    "facebook.com",
    "fbcdn.net",
    "twitter.com",
    "linkedin.com",
    "wrccdc.org",
    "cpp.edu",
    "semicomplete.com",
    "elastic.co",
    "symantec.com",
    "digicert.com",
    "letsencrypt.org",
    "ntp.org",
    "example.com",
    "example.net",
];
const BACKGROUND_SUBDOMAINS: [&str; 16] = [
    "www", "api", "cdn", "static", "mail", "login", "update", "s3", "img", "ocsp", "time", "en",
    "m", "assets", "edge", "ads",
];
const URL_PATHS: [&str; 14] = [
    "/",
    "/index.html",
    "/favicon.ico",
    "/style/main.css",
    "/js/app.js",
    "/images/logo.png",
    "/api/v1/status",
    "/presentations/logstash-monitorama-2013/images/kibana-search.png",
    "/blog/geekery/disabling-battery-in-ubuntu-vms.html",
    "/reset.css",
    "/feeds/jobroll/",
    "/pagead/ads",
    "/__utm.gif",
    "/style/monobook/main.css",
];
const USER_AGENTS: [&str; 8] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0",
    "UniversalFeedParser/4.2-pre-314-svn +http://feedparser.org/",
];
const TLS_CIPHERS: [&str; 4] = [
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_RC4_128_SHA",
];
const CONTENT_TYPES: [&str; 6] = [
    "text/html",
    "text/css",
    "image/gif",
    "image/png",
    "application/x-javascript",
    "application/json",
];

/// SplitMix64: small, fast, good enough for synthetic traffic, and reproducible by seed.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((self.next_u64() as u128 * bound as u128) >> 64) as u64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len() as u64) as usize]
    }

    fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Ip,
    Cidr,
    Domain,
    Url,
    Hash,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ip => "ip",
            Kind::Cidr => "cidr",
            Kind::Domain => "domain",
            Kind::Url => "url",
            Kind::Hash => "hash",
        }
    }
}

/// The window a feed attribute gets, decided by the IoC's position so that the generator can
/// count which planted hits the feed keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WindowClass {
    Unbounded,
    /// 2026-02-01 … 2026-04-01: the whole corpus.
    Covering,
    /// Ended 2026-02-15: nothing in the corpus.
    Expired,
    /// From noon of the corpus day on.
    FromNoon,
}

fn window_class(ioc: u32, seed: u64) -> WindowClass {
    match mix(u64::from(ioc) ^ seed.rotate_left(17)) % 4 {
        0 => WindowClass::Unbounded,
        1 => WindowClass::Covering,
        2 => WindowClass::Expired,
        _ => WindowClass::FromNoon,
    }
}

impl WindowClass {
    fn active(self, ts_micros: i64) -> bool {
        match self {
            WindowClass::Unbounded | WindowClass::Covering => true,
            WindowClass::Expired => false,
            WindowClass::FromNoon => ts_micros >= NOON_MICROS,
        }
    }

    fn bounds(self) -> (Option<&'static str>, Option<&'static str>) {
        match self {
            WindowClass::Unbounded => (None, None),
            WindowClass::Covering => (
                Some("2026-02-01T00:00:00.000000+00:00"),
                Some("2026-04-01T00:00:00.000000+00:00"),
            ),
            WindowClass::Expired => (None, Some("2026-02-15T00:00:00Z")),
            WindowClass::FromNoon => (Some("2026-03-01T12:00:00Z"), None),
        }
    }
}

/// The generated IoCs, in canonical form (hunt-semantics §1.4).
pub struct IocSet {
    pub canonical: Vec<String>,
    pub kinds: Vec<Kind>,
    by_kind: BTreeMap<Kind, Vec<u32>>,
    ipv6: Vec<u32>,
    seen: HashSet<String>,
}

impl IocSet {
    /// `count` distinct IoCs: 28 % IPv4, 2 % IPv6, 2 % CIDRs, 35 % domains, 13 % URLs,
    /// 20 % hashes.
    pub fn generate(count: usize, rng: &mut Rng) -> IocSet {
        let mut set = IocSet {
            canonical: Vec::with_capacity(count),
            kinds: Vec::with_capacity(count),
            by_kind: BTreeMap::new(),
            ipv6: Vec::new(),
            seen: HashSet::with_capacity(count + BACKGROUND_DOMAINS.len()),
        };
        // Background domains are reserved so that no IoC ever equals one of them.
        for domain in BACKGROUND_DOMAINS {
            set.seen.insert(domain.to_string());
        }
        let share = |percent: usize| count * percent / 100;
        let (ipv4, ipv6, cidr, domains, urls) =
            (share(28), share(2), share(2), share(35), share(13));
        let hashes = count - ipv4 - ipv6 - cidr - domains - urls;
        let mut text = String::new();
        while set.count(Kind::Ip) < ipv4 {
            let address =
                Ipv4Addr::new(*rng.pick(&IOC_V4_FIRST), rng.byte(), rng.byte(), rng.byte());
            set.insert(Kind::Ip, address.to_string());
        }
        while set.ipv6.len() < ipv6 {
            let segments = [
                IOC_V6_PREFIX,
                rng.below(0x10000) as u16,
                rng.below(0x10000) as u16,
                0,
                0,
                0,
                rng.below(0x100) as u16,
                rng.below(0x10000) as u16,
            ];
            let text = Ipv6Addr::from(segments).to_string();
            if let Some(id) = set.insert(Kind::Ip, text) {
                set.ipv6.push(id);
            }
        }
        let cidr16 = (cidr / 50).min(CIDR16_FIRST.len() * 256);
        let cidr6 = cidr / 20;
        while set.count(Kind::Cidr) < cidr16 {
            let text = format!("{}.{}.0.0/16", rng.pick(&CIDR16_FIRST), rng.byte());
            set.insert(Kind::Cidr, text);
        }
        while set.count(Kind::Cidr) < cidr16 + cidr6 {
            let network = Ipv6Addr::from([
                CIDR6_PREFIX,
                rng.below(0x10000) as u16,
                rng.below(0x10000) as u16,
                0,
                0,
                0,
                0,
                0,
            ]);
            set.insert(Kind::Cidr, format!("{network}/48"));
        }
        while set.count(Kind::Cidr) < cidr {
            let text = format!(
                "{}.{}.{}.0/24",
                rng.pick(&CIDR24_FIRST),
                rng.byte(),
                rng.byte()
            );
            set.insert(Kind::Cidr, text);
        }
        while set.count(Kind::Domain) < domains {
            text.clear();
            push_letters(&mut text, rng, 8, 7);
            text.push('.');
            text.push_str(rng.pick_str(&IOC_DOMAIN_TLDS));
            set.insert(Kind::Domain, text.clone());
        }
        while set.count(Kind::Url) < urls {
            text.clear();
            text.push_str(if rng.below(3) == 0 {
                "https://"
            } else {
                "http://"
            });
            text.push_str(rng.pick_str(&["www", "cdn", "dl", "update", "panel"]));
            text.push('.');
            push_letters(&mut text, rng, 6, 6);
            text.push('.');
            text.push_str(rng.pick_str(&IOC_URL_TLDS));
            text.push('/');
            push_letters(&mut text, rng, 3, 6);
            text.push('/');
            push_letters(&mut text, rng, 4, 6);
            text.push_str(rng.pick_str(&[".php", ".exe", ".js", "/", ".bin"]));
            if rng.below(4) == 0 {
                text.push_str("?id=");
                push_decimal_string(&mut text, rng.below(100_000));
            }
            set.insert(Kind::Url, text.clone());
        }
        while set.count(Kind::Hash) < hashes {
            text.clear();
            let digits = *rng.pick(&[32, 32, 40, 64, 64]);
            for _ in 0..digits {
                text.push(HEX_LOWER[rng.below(16) as usize] as char);
            }
            set.insert(Kind::Hash, text.clone());
        }
        set
    }

    fn insert(&mut self, kind: Kind, text: String) -> Option<u32> {
        if !self.seen.insert(text.clone()) {
            return None;
        }
        let id = self.canonical.len() as u32;
        self.canonical.push(text);
        self.kinds.push(kind);
        self.by_kind.entry(kind).or_default().push(id);
        Some(id)
    }

    fn count(&self, kind: Kind) -> usize {
        self.by_kind.get(&kind).map_or(0, Vec::len)
    }

    pub fn len(&self) -> usize {
        self.canonical.len()
    }

    pub fn is_empty(&self) -> bool {
        self.canonical.is_empty()
    }

    /// Whether some IoC has exactly this canonical text.
    pub fn contains(&self, canonical: &str) -> bool {
        self.seen.contains(canonical)
    }

    fn random_of(&self, kind: Kind, rng: &mut Rng) -> u32 {
        *rng.pick(&self.by_kind[&kind])
    }

    /// A random IPv4 IoC whose last octet is at most 25, so that appending a digit gives
    /// another valid address.
    fn random_short_ipv4(&self, rng: &mut Rng) -> (u32, Ipv4Addr) {
        loop {
            let id = self.random_of(Kind::Ip, rng);
            if let Ok(address) = self.canonical[id as usize].parse::<Ipv4Addr>()
                && address.octets()[3] <= 25
            {
                return (id, address);
            }
        }
    }

    /// The plain list: canonical values, and for about one IoC in a hundred a variant with
    /// the same canonical form (upper case, trailing dot, default port, host bits …).
    pub fn write_list(&self, out: &mut impl Write, rng: &mut Rng) -> io::Result<()> {
        writeln!(out, "# kizuna hunt benchmark IoCs: one value per line")?;
        writeln!(out)?;
        for (id, text) in self.canonical.iter().enumerate() {
            if rng.below(100) == 0 {
                writeln!(out, "  {}", variant(self.kinds[id], text))?;
            } else {
                writeln!(out, "{text}")?;
            }
        }
        Ok(())
    }
}

/// A different spelling of a canonical IoC with the same canonical form.
fn variant(kind: Kind, canonical: &str) -> String {
    match kind {
        Kind::Domain => format!("{}.", canonical.to_ascii_uppercase()),
        Kind::Hash => canonical.to_ascii_uppercase(),
        Kind::Ip => match canonical.parse::<Ipv6Addr>() {
            Ok(address) => expanded_ipv6(&address, true),
            Err(_) => canonical.to_string(),
        },
        Kind::Cidr => match canonical.split_once(".0/24") {
            Some((network, "")) => format!("{network}.77/24"),
            _ => canonical.to_string(),
        },
        Kind::Url => url_variant(canonical),
    }
}

/// `HTTP://WWW.Host.Example:80/Path` for `http://www.host.example/Path`: the scheme and
/// host in upper case and the default port written out, the path untouched.
fn url_variant(canonical: &str) -> String {
    let (scheme, rest) = canonical.split_once("://").expect("a URL IoC has a scheme");
    let split = rest.find('/').unwrap_or(rest.len());
    let (host, path) = rest.split_at(split);
    let port = if scheme == "https" { 443 } else { 80 };
    format!(
        "{}://{}:{port}{path}",
        scheme.to_ascii_uppercase(),
        host.to_ascii_uppercase()
    )
}

fn expanded_ipv6(address: &Ipv6Addr, upper: bool) -> String {
    let segments = address.segments();
    let parts: Vec<String> = segments
        .iter()
        .map(|segment| {
            if upper {
                format!("{segment:04X}")
            } else {
                format!("{segment:04x}")
            }
        })
        .collect();
    parts.join(":")
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const ALPHANUMERIC: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `least` to `least + spread - 1` random lower-case letters.
fn push_letters(text: &mut String, rng: &mut Rng, least: usize, spread: u64) {
    let count = least + rng.below(spread) as usize;
    for _ in 0..count {
        text.push((b'a' + rng.below(26) as u8) as char);
    }
}

fn push_decimal_string(text: &mut String, value: u64) {
    let mut digits = [0u8; 20];
    let written = decimal_digits(value, &mut digits);
    text.push_str(std::str::from_utf8(written).expect("ASCII digits"));
}

fn decimal_digits(mut value: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &digits[start..];
        }
    }
}

/// Appending helpers for one line buffer, reused across lines.
trait LineBuffer {
    fn text(&mut self, text: &str);
    fn decimal(&mut self, value: u64);
    fn padded(&mut self, value: u64, width: usize);
    fn ipv4(&mut self, octets: [u8; 4]);
    fn hex(&mut self, rng: &mut Rng, digits: usize);
    fn alphanumeric(&mut self, rng: &mut Rng, count: usize);
}

impl LineBuffer for Vec<u8> {
    fn text(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }

    fn decimal(&mut self, value: u64) {
        let mut digits = [0u8; 20];
        self.extend_from_slice(decimal_digits(value, &mut digits));
    }

    fn padded(&mut self, value: u64, width: usize) {
        let mut digits = [0u8; 20];
        let written = decimal_digits(value, &mut digits);
        self.extend(std::iter::repeat_n(
            b'0',
            width.saturating_sub(written.len()),
        ));
        self.extend_from_slice(written);
    }

    fn ipv4(&mut self, octets: [u8; 4]) {
        for (position, octet) in octets.into_iter().enumerate() {
            if position > 0 {
                self.push(b'.');
            }
            self.decimal(u64::from(octet));
        }
    }

    fn hex(&mut self, rng: &mut Rng, digits: usize) {
        for _ in 0..digits {
            self.push(HEX_LOWER[rng.below(16) as usize]);
        }
    }

    fn alphanumeric(&mut self, rng: &mut Rng, count: usize) {
        for _ in 0..count {
            self.push(ALPHANUMERIC[rng.below(62) as usize]);
        }
    }
}

/// Civil date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

struct Clock {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
}

fn clock(seconds: i64) -> Clock {
    let (year, month, day) = civil_from_days(seconds.div_euclid(DAY_SECONDS));
    let of_day = seconds.rem_euclid(DAY_SECONDS) as u64;
    Clock {
        year,
        month,
        day,
        hour: of_day / 3600,
        minute: of_day / 60 % 60,
        second: of_day % 60,
    }
}

/// `2026-03-01T00:00:10.123456Z`
fn push_iso(line: &mut Vec<u8>, micros: i64) {
    let time = clock(micros.div_euclid(1_000_000));
    line.padded(time.year as u64, 4);
    line.push(b'-');
    line.padded(u64::from(time.month), 2);
    line.push(b'-');
    line.padded(u64::from(time.day), 2);
    line.push(b'T');
    line.padded(time.hour, 2);
    line.push(b':');
    line.padded(time.minute, 2);
    line.push(b':');
    line.padded(time.second, 2);
    line.push(b'.');
    line.padded(micros.rem_euclid(1_000_000) as u64, 6);
    line.push(b'Z');
}

/// `1772323210.123456` (`fraction_digits` 6) or `1772323210.123` (3).
fn push_epoch(line: &mut Vec<u8>, micros: i64, fraction_digits: u32) {
    line.decimal(micros.div_euclid(1_000_000) as u64);
    line.push(b'.');
    let fraction = micros.rem_euclid(1_000_000) as u64 / 10u64.pow(6 - fraction_digits);
    line.padded(fraction, fraction_digits as usize);
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// Apache lines are written in the server's local time, seven hours behind UTC.
const APACHE_OFFSET_SECONDS: i64 = -7 * 3600;

/// `[28/Feb/2026:17:00:10 -0700]`
fn push_apache_time(line: &mut Vec<u8>, seconds: i64) {
    let time = clock(seconds + APACHE_OFFSET_SECONDS);
    line.push(b'[');
    line.padded(u64::from(time.day), 2);
    line.push(b'/');
    line.text(MONTHS[time.month as usize - 1]);
    line.push(b'/');
    line.padded(time.year as u64, 4);
    line.push(b':');
    line.padded(time.hour, 2);
    line.push(b':');
    line.padded(time.minute, 2);
    line.push(b':');
    line.padded(time.second, 2);
    line.text(" -0700]");
}

/// What one log file was given, for `expected.txt`.
#[derive(Clone, Debug, Default)]
pub struct Planted {
    pub bytes: u64,
    pub lines: u64,
    /// Hits with `iocs.txt`, per kind.
    pub hits: BTreeMap<&'static str, u64>,
    /// Hits with `misp-feed/` (windows applied).
    pub feed_hits: u64,
    /// Near-misses per kind: values that look close to an IoC and must not match.
    pub near_misses: BTreeMap<&'static str, u64>,
    /// The IoCs of planted hits, for the feed.
    pub hit_iocs: HashSet<u32>,
}

impl Planted {
    fn hit(&mut self, iocs: &IocSet, ioc: u32, ts_micros: i64, seed: u64) {
        *self
            .hits
            .entry(iocs.kinds[ioc as usize].name())
            .or_default() += 1;
        if window_class(ioc, seed).active(ts_micros) {
            self.feed_hits += 1;
        }
        self.hit_iocs.insert(ioc);
    }

    fn near_miss(&mut self, kind: Kind) {
        *self.near_misses.entry(kind.name()).or_default() += 1;
    }

    fn merge(&mut self, other: Planted) {
        self.bytes += other.bytes;
        self.lines += other.lines;
        for (kind, count) in other.hits {
            *self.hits.entry(kind).or_default() += count;
        }
        self.feed_hits += other.feed_hits;
        for (kind, count) in other.near_misses {
            *self.near_misses.entry(kind).or_default() += count;
        }
        self.hit_iocs.extend(other.hit_iocs);
    }

    pub fn total_hits(&self) -> u64 {
        self.hits.values().sum()
    }
}

/// The log files of the corpus, with their share of the size in percent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFile {
    ZeekDns,
    ZeekConn,
    ZeekSsl,
    ZeekJsonDns,
    Squid,
    Apache,
}

impl LogFile {
    pub const ALL: [LogFile; 6] = [
        LogFile::ZeekDns,
        LogFile::ZeekConn,
        LogFile::ZeekSsl,
        LogFile::ZeekJsonDns,
        LogFile::Squid,
        LogFile::Apache,
    ];

    pub fn path(self) -> &'static str {
        match self {
            LogFile::ZeekDns => "zeek/dns.log",
            LogFile::ZeekConn => "zeek/conn.log",
            LogFile::ZeekSsl => "zeek/ssl.log",
            LogFile::ZeekJsonDns => "zeek-json/dns.ndjson",
            LogFile::Squid => "squid/access.log",
            LogFile::Apache => "apache/access.log",
        }
    }

    fn share_percent(self) -> u64 {
        match self {
            LogFile::ZeekDns => 25,
            LogFile::ZeekConn => 25,
            LogFile::ZeekSsl => 15,
            LogFile::ZeekJsonDns => 15,
            LogFile::Squid => 10,
            LogFile::Apache => 10,
        }
    }

    pub fn is_zeek_tsv(self) -> bool {
        matches!(
            self,
            LogFile::ZeekDns | LogFile::ZeekConn | LogFile::ZeekSsl
        )
    }
}

/// What a line carries besides background traffic.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Plant {
    Nothing,
    Hit,
    NearMiss,
}

/// Writes one log of about `budget` bytes; the day is spread over the bytes written.
pub fn write_log(
    file: LogFile,
    out: &mut impl Write,
    budget: u64,
    iocs: &IocSet,
    rng: &mut Rng,
    seed: u64,
) -> io::Result<Planted> {
    let mut planted = Planted::default();
    let mut line = Vec::with_capacity(4096);
    let mut writer = LineWriter {
        iocs,
        seed,
        planted: &mut planted,
    };
    match file {
        LogFile::ZeekDns => line.text(ZEEK_DNS_HEADER),
        LogFile::ZeekConn => line.text(ZEEK_CONN_HEADER),
        LogFile::ZeekSsl => line.text(ZEEK_SSL_HEADER),
        _ => {}
    }
    let header_lines = line.iter().filter(|&&byte| byte == b'\n').count() as u64;
    out.write_all(&line)?;
    writer.planted.bytes += line.len() as u64;
    writer.planted.lines += header_lines;
    while writer.planted.bytes < budget {
        line.clear();
        let ts_micros = START_SECONDS * 1_000_000
            + (writer.planted.bytes as u128 * (DAY_SECONDS as u128 * 1_000_000) / budget as u128)
                as i64
            + rng.below(1_000_000) as i64;
        let plant = match rng.below(PLANT_EVERY) {
            0 => Plant::Hit,
            1 => Plant::NearMiss,
            _ => Plant::Nothing,
        };
        match file {
            LogFile::ZeekDns => writer.zeek_dns(&mut line, rng, ts_micros, plant),
            LogFile::ZeekConn => writer.zeek_conn(&mut line, rng, ts_micros, plant),
            LogFile::ZeekSsl => writer.zeek_ssl(&mut line, rng, ts_micros, plant),
            LogFile::ZeekJsonDns => writer.zeek_json_dns(&mut line, rng, ts_micros, plant),
            LogFile::Squid => writer.squid(&mut line, rng, ts_micros, plant),
            LogFile::Apache => writer.apache(&mut line, rng, ts_micros, plant),
        }
        out.write_all(&line)?;
        writer.planted.bytes += line.len() as u64;
        writer.planted.lines += 1;
    }
    if file.is_zeek_tsv() {
        let close = b"#close\t2026-03-02-00-00-00\n";
        out.write_all(close)?;
        planted.bytes += close.len() as u64;
        planted.lines += 1;
    }
    Ok(planted)
}

const ZEEK_DNS_HEADER: &str = concat!(
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n",
    "#path\tdns\n#open\t2026-03-01-00-00-00\n",
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttrans_id\trtt\tquery\tqclass\tqclass_name\tqtype\tqtype_name\trcode\trcode_name\tAA\tTC\tRD\tRA\tZ\tanswers\tTTLs\trejected\n",
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tinterval\tstring\tcount\tstring\tcount\tstring\tcount\tstring\tbool\tbool\tbool\tbool\tcount\tvector[string]\tvector[interval]\tbool\n",
);
const ZEEK_CONN_HEADER: &str = concat!(
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n",
    "#path\tconn\n#open\t2026-03-01-00-00-00\n",
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n",
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n",
);
const ZEEK_SSL_HEADER: &str = concat!(
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n",
    "#path\tssl\n#open\t2026-03-01-00-00-00\n",
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tcipher\tcurve\tserver_name\tresumed\tlast_alert\tnext_protocol\testablished\tssl_history\tcert_chain_fps\tclient_cert_chain_fps\tsni_matches_cert\tvalidation_status\n",
    "#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tstring\tstring\tbool\tstring\tstring\tbool\tstring\tvector[string]\tvector[string]\tbool\tstring\n",
);

struct LineWriter<'a> {
    iocs: &'a IocSet,
    seed: u64,
    planted: &'a mut Planted,
}

impl LineWriter<'_> {
    fn client(line: &mut Vec<u8>, rng: &mut Rng) {
        line.ipv4([10, 47, rng.below(32) as u8, rng.byte()]);
    }

    fn server(line: &mut Vec<u8>, rng: &mut Rng) {
        line.ipv4([
            *rng.pick(&BACKGROUND_V4_FIRST),
            rng.byte(),
            rng.byte(),
            rng.byte(),
        ]);
    }

    fn background_host(line: &mut Vec<u8>, rng: &mut Rng) {
        if rng.below(4) != 0 {
            line.text(rng.pick_str(&BACKGROUND_SUBDOMAINS));
            line.push(b'.');
        }
        line.text(rng.pick_str(&BACKGROUND_DOMAINS));
    }

    fn background_url(line: &mut Vec<u8>, rng: &mut Rng) {
        line.text(if rng.below(3) == 0 {
            "https://"
        } else {
            "http://"
        });
        Self::background_host(line, rng);
        line.text(rng.pick_str(&URL_PATHS));
        if rng.below(3) == 0 {
            line.text("?v=");
            line.decimal(rng.below(1_000_000));
        }
    }

    fn uid(line: &mut Vec<u8>, rng: &mut Rng) {
        line.push(b'C');
        line.alphanumeric(rng, 17);
    }

    fn ioc(&self, id: u32) -> &str {
        &self.iocs.canonical[id as usize]
    }

    /// An address inside a random CIDR IoC, and that IoC.
    fn address_in_cidr(&self, rng: &mut Rng) -> (u32, String) {
        let id = self.iocs.random_of(Kind::Cidr, rng);
        let (network, prefix) = self
            .ioc(id)
            .split_once('/')
            .expect("a CIDR IoC has a prefix");
        let address = if let Ok(v4) = network.parse::<Ipv4Addr>() {
            let host_bits = 32 - prefix.parse::<u32>().expect("prefix");
            let host = (rng.next_u64() as u32) & ((1u32 << host_bits) - 1);
            Ipv4Addr::from(u32::from(v4) | host).to_string()
        } else {
            let v6: Ipv6Addr = network.parse().expect("an IPv6 network");
            let host = u128::from(rng.next_u64()) & ((1u128 << 80) - 1);
            Ipv6Addr::from(u128::from(v6) | host).to_string()
        };
        (id, address)
    }

    /// `x7.a.` + the IoC domain, the case of some letters changed.
    fn subdomain_of(&self, line: &mut Vec<u8>, rng: &mut Rng, id: u32) {
        line.text(rng.pick_str(&["www.", "a.b.", "x7.", "mail.", "c2.eu."]));
        for byte in self.ioc(id).bytes() {
            line.push(if rng.below(5) == 0 {
                byte.to_ascii_uppercase()
            } else {
                byte
            });
        }
    }

    /// A domain near an IoC domain that no IoC matches: `not` + the domain, or the domain
    /// followed by another top-level domain.
    fn near_domain(&mut self, line: &mut Vec<u8>, rng: &mut Rng) {
        let id = self.iocs.random_of(Kind::Domain, rng);
        if rng.below(2) == 0 && !self.iocs.contains(&format!("not{}", self.ioc(id))) {
            line.text("not");
            line.text(self.ioc(id));
        } else {
            line.text(self.ioc(id));
            line.text(".org");
        }
        self.planted.near_miss(Kind::Domain);
    }

    /// An IPv4 IoC with a digit appended to its last octet (`1.2.3.4` → `1.2.3.45`) when
    /// that is no IoC, else the IoC with a leading zero (`01.2.3.4`, not an address).
    fn near_ipv4(&mut self, line: &mut Vec<u8>, rng: &mut Rng) {
        let (_, address) = self.iocs.random_short_ipv4(rng);
        let longer = format!("{address}{}", rng.below(10));
        if longer.parse::<Ipv4Addr>().is_ok() && !self.iocs.contains(&longer) {
            line.text(&longer);
        } else {
            line.push(b'0');
            line.text(&address.to_string());
        }
        self.planted.near_miss(Kind::Ip);
    }

    fn zeek_dns(&mut self, line: &mut Vec<u8>, rng: &mut Rng, ts: i64, plant: Plant) {
        push_epoch(line, ts, 6);
        line.push(b'\t');
        Self::uid(line, rng);
        line.push(b'\t');
        Self::client(line, rng);
        line.push(b'\t');
        line.decimal(1024 + rng.below(64_000));
        line.text("\t10.0.0.100\t53\tudp\t");
        line.decimal(rng.below(65_536));
        line.text("\t0.000");
        line.padded(rng.below(1000), 3);
        line.push(b'\t');
        // What the query and answers carry: 0 background, 1 a planted domain, 2 a planted
        // address among the answers, 3 a near-miss query, 4 a near-miss answer.
        let carries = match plant {
            Plant::Nothing => 0,
            Plant::Hit => 1 + rng.below(2),
            Plant::NearMiss => 3 + rng.below(2),
        };
        match carries {
            1 => {
                let id = self.iocs.random_of(Kind::Domain, rng);
                self.subdomain_of(line, rng, id);
                self.planted.hit(self.iocs, id, ts, self.seed);
            }
            3 => self.near_domain(line, rng),
            _ => Self::background_host(line, rng),
        }
        let aaaa = rng.below(4) == 0;
        line.text(if aaaa {
            "\t1\tC_INTERNET\t28\tAAAA\t"
        } else {
            "\t1\tC_INTERNET\t1\tA\t"
        });
        if carries == 0 && rng.below(10) == 0 {
            line.text("3\tNXDOMAIN\tF\tF\tT\tT\t0\t-\t-\tF\n");
            return;
        }
        line.text("0\tNOERROR\tF\tF\tT\tT\t0\t");
        Self::background_host(line, rng);
        line.push(b',');
        match carries {
            2 => {
                let id = self.iocs.random_of(Kind::Ip, rng);
                line.text(self.ioc(id));
                self.planted.hit(self.iocs, id, ts, self.seed);
            }
            4 => self.near_ipv4(line, rng),
            _ if aaaa => line.text("2620:df:8000:1601:0:1:3:16"),
            _ => Self::server(line, rng),
        }
        line.text("\t2230.000000,41830.000000\tF\n");
    }

    fn zeek_conn(&mut self, line: &mut Vec<u8>, rng: &mut Rng, ts: i64, plant: Plant) {
        push_epoch(line, ts, 6);
        line.push(b'\t');
        Self::uid(line, rng);
        line.push(b'\t');
        Self::client(line, rng);
        line.push(b'\t');
        line.decimal(1024 + rng.below(64_000));
        line.push(b'\t');
        match plant {
            Plant::Hit if rng.below(2) == 0 => {
                let id = self.iocs.random_of(Kind::Ip, rng);
                line.text(self.ioc(id));
                self.planted.hit(self.iocs, id, ts, self.seed);
            }
            Plant::Hit => {
                let (id, address) = self.address_in_cidr(rng);
                line.text(&address);
                self.planted.hit(self.iocs, id, ts, self.seed);
            }
            Plant::NearMiss => self.near_ipv4(line, rng),
            Plant::Nothing => Self::server(line, rng),
        }
        line.push(b'\t');
        let (port, service) = *rng.pick(&[
            (443, "ssl"),
            (80, "http"),
            (53, "dns"),
            (3389, "-"),
            (22, "ssh"),
            (8080, "-"),
        ]);
        line.decimal(port);
        line.text("\ttcp\t");
        line.text(service);
        line.text("\t0.");
        line.padded(rng.below(1_000_000), 6);
        line.push(b'\t');
        line.decimal(rng.below(20_000));
        line.push(b'\t');
        line.decimal(rng.below(200_000));
        line.push(b'\t');
        line.text(rng.pick_str(&["SF", "S0", "REJ", "RSTR", "RSTO", "SH"]));
        line.text("\t-\t-\t0\t");
        line.text(rng.pick_str(&["ShADadFf", "Sr", "ShADTdtr", "S", "ShAdDaFf"]));
        line.push(b'\t');
        let packets = 1 + rng.below(40);
        line.decimal(packets);
        line.push(b'\t');
        line.decimal(packets * 52 + rng.below(2000));
        line.push(b'\t');
        line.decimal(packets / 2);
        line.push(b'\t');
        line.decimal(packets / 2 * 60 + rng.below(9000));
        line.text("\t-\n");
    }

    fn zeek_ssl(&mut self, line: &mut Vec<u8>, rng: &mut Rng, ts: i64, plant: Plant) {
        push_epoch(line, ts, 6);
        line.push(b'\t');
        Self::uid(line, rng);
        line.push(b'\t');
        Self::client(line, rng);
        line.push(b'\t');
        line.decimal(1024 + rng.below(64_000));
        line.push(b'\t');
        Self::server(line, rng);
        line.text("\t443\t");
        line.text(rng.pick_str(&["TLSv12", "TLSv13", "TLSv10"]));
        line.push(b'\t');
        line.text(rng.pick_str(&TLS_CIPHERS));
        line.text("\tsecp256r1\t");
        // 0 background, 1 a planted domain as the SNI, 2 a planted hash among the
        // certificate fingerprints, 3 a near-miss SNI, 4 a near-miss fingerprint.
        let carries = match plant {
            Plant::Nothing => 0,
            Plant::Hit => 1 + rng.below(2),
            Plant::NearMiss => 3 + rng.below(2),
        };
        match carries {
            1 => {
                let id = self.iocs.random_of(Kind::Domain, rng);
                let upper = self.ioc(id).to_ascii_uppercase();
                line.text(&upper);
                line.push(b'.');
                self.planted.hit(self.iocs, id, ts, self.seed);
            }
            3 => self.near_domain(line, rng),
            _ if rng.below(5) == 0 => line.push(b'-'),
            _ => Self::background_host(line, rng),
        }
        line.text("\tF\t-\t-\tT\tCsxknGIi\t");
        line.hex(rng, 64);
        match carries {
            2 => {
                let id = self.iocs.random_of(Kind::Hash, rng);
                let upper = self.ioc(id).to_ascii_uppercase();
                line.push(b',');
                line.text(&upper);
                self.planted.hit(self.iocs, id, ts, self.seed);
            }
            4 => {
                // A hash IoC continued by more hex digits: a different, longer value (an md5
                // doubled in length has the shape of a sha256, which no IoC is).
                let id = self.iocs.random_of(Kind::Hash, rng);
                line.push(b',');
                let start = line.len();
                line.text(self.ioc(id));
                if self.ioc(id).len() == 32 {
                    line.hex(rng, 32);
                    let longer = std::str::from_utf8(&line[start..]).expect("hex digits");
                    if self.iocs.contains(longer) {
                        line.push(b'0');
                    }
                } else {
                    line.text("00");
                }
                self.planted.near_miss(Kind::Hash);
            }
            _ => {
                if rng.below(2) == 0 {
                    line.push(b',');
                    line.hex(rng, 64);
                }
            }
        }
        line.text("\t(empty)\t-\t");
        line.text(rng.pick_str(&[
            "ok",
            "unable to get local issuer certificate",
            "self signed certificate",
        ]));
        line.push(b'\n');
    }

    fn zeek_json_dns(&mut self, line: &mut Vec<u8>, rng: &mut Rng, ts: i64, plant: Plant) {
        line.text("{\"_path\":\"dns\",\"_write_ts\":\"");
        push_iso(line, ts + 870);
        line.text("\",\"ts\":\"");
        push_iso(line, ts);
        line.text("\",\"uid\":\"");
        Self::uid(line, rng);
        line.text("\",\"id.orig_h\":\"");
        Self::client(line, rng);
        line.text("\",\"id.orig_p\":");
        line.decimal(1024 + rng.below(64_000));
        line.text(",\"id.resp_h\":\"10.0.0.100\",\"id.resp_p\":53,\"proto\":\"udp\",\"trans_id\":");
        line.decimal(rng.below(65_536));
        line.text(",\"rtt\":0.000");
        line.padded(rng.below(1_000_000), 6);
        line.text(",\"query\":\"");
        // 0 background, 1 a planted domain, 2 a planted IPv6 answer written out in full, 3
        // a near-miss query with the IoC inside free text.
        let carries = match plant {
            Plant::Nothing => 0,
            Plant::Hit if self.iocs.ipv6.is_empty() => 1,
            Plant::Hit => 1 + rng.below(2),
            Plant::NearMiss => 3,
        };
        match carries {
            1 => {
                let id = self.iocs.random_of(Kind::Domain, rng);
                self.subdomain_of(line, rng, id);
                self.planted.hit(self.iocs, id, ts, self.seed);
            }
            3 => {
                let id = self.iocs.random_of(Kind::Domain, rng);
                line.text("foo ");
                line.text(self.ioc(id));
                self.planted.near_miss(Kind::Domain);
            }
            _ => Self::background_host(line, rng),
        }
        line.text("\",\"qclass\":1,\"qclass_name\":\"C_INTERNET\",\"qtype\":28,\"qtype_name\":\"AAAA\",\"rcode\":0,\"rcode_name\":\"NOERROR\",\"AA\":false,\"TC\":false,\"RD\":true,\"RA\":true,\"Z\":0,\"answers\":[\"");
        Self::background_host(line, rng);
        line.text("\",\"");
        if carries == 2 {
            let id = *rng.pick(&self.iocs.ipv6);
            let address: Ipv6Addr = self.ioc(id).parse().expect("an IPv6 IoC");
            line.text(&expanded_ipv6(&address, rng.below(2) == 0));
            self.planted.hit(self.iocs, id, ts, self.seed);
        } else {
            line.text("2620:df:8000:1601:0:1:3:16");
        }
        line.text("\"],\"TTLs\":[2230.0,38229.0],\"rejected\":false}\n");
    }

    fn squid(&mut self, line: &mut Vec<u8>, rng: &mut Rng, ts: i64, plant: Plant) {
        push_epoch(line, ts, 3);
        let elapsed = rng.below(5000);
        line.extend(std::iter::repeat_n(
            b' ',
            1 + 6usize.saturating_sub(digit_count(elapsed)),
        ));
        line.decimal(elapsed);
        line.push(b' ');
        Self::client(line, rng);
        line.push(b' ');
        // 0 background, 1 a planted URL spelt differently, 2 a CONNECT to a planted
        // domain, 3 a planted peer address, 4 a near-miss URL, 5 a near-miss peer.
        let carries = match plant {
            Plant::Nothing => 0,
            Plant::Hit => 1 + rng.below(3),
            Plant::NearMiss => 4 + rng.below(2),
        };
        if carries == 2 {
            let id = self.iocs.random_of(Kind::Domain, rng);
            line.text("TCP_TUNNEL/200 ");
            line.decimal(rng.below(100_000));
            line.text(" CONNECT ");
            line.text(self.ioc(id));
            line.text(":443 - HIER_DIRECT/");
            Self::server(line, rng);
            line.text(" -\n");
            self.planted.hit(self.iocs, id, ts, self.seed);
            return;
        }
        line.text(rng.pick_str(&[
            "TCP_MISS/200 ",
            "TCP_HIT/200 ",
            "TCP_MISS/301 ",
            "TCP_MISS/404 ",
        ]));
        line.decimal(rng.below(100_000));
        line.text(" GET ");
        match carries {
            1 => {
                let id = self.iocs.random_of(Kind::Url, rng);
                line.text(&url_variant(self.ioc(id)));
                self.planted.hit(self.iocs, id, ts, self.seed);
            }
            4 => {
                let id = self.iocs.random_of(Kind::Url, rng);
                line.text(self.ioc(id));
                line.text(if self.ioc(id).contains('?') {
                    "&a=1"
                } else {
                    "?a=1"
                });
                self.planted.near_miss(Kind::Url);
            }
            _ => Self::background_url(line, rng),
        }
        line.text(rng.pick_str(&[" - ", " graeme ", " alice "]));
        line.text("HIER_DIRECT/");
        match carries {
            3 => {
                let id = self.iocs.random_of(Kind::Ip, rng);
                line.text(self.ioc(id));
                self.planted.hit(self.iocs, id, ts, self.seed);
            }
            5 => self.near_ipv4(line, rng),
            _ => Self::server(line, rng),
        }
        line.push(b' ');
        line.text(rng.pick_str(&CONTENT_TYPES));
        line.push(b'\n');
    }

    fn apache(&mut self, line: &mut Vec<u8>, rng: &mut Rng, ts: i64, plant: Plant) {
        // 0 background, 1 a planted client, 2 a planted URL as the referer, 3 a referer
        // below a planted domain, 4 a near-miss: the domain inside the user agent, 5 a
        // near-miss referer path.
        let carries = match plant {
            Plant::Nothing => 0,
            Plant::Hit => 1 + rng.below(3),
            Plant::NearMiss => 4 + rng.below(2),
        };
        if carries == 1 {
            let id = self.iocs.random_of(Kind::Ip, rng);
            line.text(self.ioc(id));
            self.planted.hit(self.iocs, id, ts, self.seed);
        } else {
            line.ipv4([
                *rng.pick(&BACKGROUND_V4_FIRST),
                rng.byte(),
                rng.byte(),
                rng.byte(),
            ]);
        }
        line.text(" - - ");
        push_apache_time(line, ts.div_euclid(1_000_000));
        line.text(" \"GET ");
        line.text(rng.pick_str(&URL_PATHS));
        line.text(" HTTP/1.1\" ");
        line.text(rng.pick_str(&["200", "200", "200", "304", "404"]));
        line.push(b' ');
        line.decimal(rng.below(500_000));
        line.text(" \"");
        match carries {
            2 => {
                let id = self.iocs.random_of(Kind::Url, rng);
                line.text(self.ioc(id));
                self.planted.hit(self.iocs, id, ts, self.seed);
            }
            3 => {
                let id = self.iocs.random_of(Kind::Domain, rng);
                line.text("https://cdn.");
                line.text(self.ioc(id));
                line.text("/a.js");
                self.planted.hit(self.iocs, id, ts, self.seed);
            }
            5 => {
                let id = self.iocs.random_of(Kind::Url, rng);
                line.text(self.ioc(id));
                line.push(b'x');
                self.planted.near_miss(Kind::Url);
            }
            _ if rng.below(3) == 0 => line.push(b'-'),
            _ => Self::background_url(line, rng),
        }
        line.text("\" \"");
        if carries == 4 {
            let id = self.iocs.random_of(Kind::Domain, rng);
            line.text("Mozilla/5.0 (compatible; Scanbot/1.0; +http://");
            line.text(self.ioc(id));
            line.text("/bot)");
            self.planted.near_miss(Kind::Domain);
        } else {
            line.text(rng.pick_str(&USER_AGENTS));
        }
        line.text("\"\n");
    }
}

fn digit_count(value: u64) -> usize {
    let mut digits = [0u8; 20];
    decimal_digits(value, &mut digits).len()
}

/// The feed: every planted IoC and a sample of the others, over four events; attribute
/// windows by [`window_class`]; a share of the IP attributes inside an object; some IoCs a
/// second time with an expired window (still active through their first attribute); and
/// attributes the hunt must ignore (`to_ids: false`, deleted, composite types).
fn write_feed(
    folder: &Path,
    iocs: &IocSet,
    hit_iocs: &HashSet<u32>,
    rng: &mut Rng,
    seed: u64,
) -> io::Result<usize> {
    const EVENTS: usize = 4;
    const SAMPLE: usize = 20_000;
    fs::create_dir_all(folder)?;
    let mut chosen: Vec<u32> = hit_iocs.iter().copied().collect();
    let sample = SAMPLE.min(iocs.len());
    for _ in 0..sample {
        chosen.push(rng.below(iocs.len() as u64) as u32);
    }
    chosen.sort_unstable();
    chosen.dedup();
    let uuids: Vec<String> = (0..EVENTS).map(|_| uuid_v4(rng)).collect();
    let mut attributes: Vec<Vec<String>> = vec![Vec::new(); EVENTS];
    let mut object_attributes: Vec<String> = Vec::new();
    for &id in &chosen {
        let kind = iocs.kinds[id as usize];
        let value = &iocs.canonical[id as usize];
        let class = window_class(id, seed);
        let attribute_type = misp_type(kind, value, rng);
        let attribute = attribute_json(rng, attribute_type, value, true, class.bounds());
        if kind == Kind::Ip && rng.below(4) == 0 {
            object_attributes.push(attribute);
        } else {
            attributes[rng.below(EVENTS as u64) as usize].push(attribute);
        }
        if class == WindowClass::Unbounded && rng.below(8) == 0 {
            let expired = WindowClass::Expired.bounds();
            let again_type = misp_type(kind, value, rng);
            let again = attribute_json(rng, again_type, value, true, expired);
            attributes[rng.below(EVENTS as u64) as usize].push(again);
        }
    }
    for event in &mut attributes {
        let mut decoy = String::new();
        push_letters(&mut decoy, rng, 16, 1);
        decoy.push_str(".example");
        event.push(attribute_json(rng, "domain", &decoy, false, (None, None)));
        let composite = format!("{decoy}|203.0.113.7");
        event.push(attribute_json(
            rng,
            "domain|ip",
            &composite,
            true,
            (None, None),
        ));
    }
    let mut manifest = BufWriter::new(File::create(folder.join("manifest.json"))?);
    manifest.write_all(b"{")?;
    for (position, uuid) in uuids.iter().enumerate() {
        let separator = if position > 0 { "," } else { "" };
        write!(
            manifest,
            "{separator}\n\"{uuid}\":{{\"info\":\"kizuna hunt benchmark {position}\",\"Orgc\":{{\"name\":\"Kizuna bench\",\"uuid\":\"{}\"}},\"analysis\":\"2\",\"threat_level_id\":\"3\",\"date\":\"2026-03-01\",\"timestamp\":\"1772323200\",\"Tag\":[{{\"name\":\"tlp:white\"}}]}}",
            uuids[0]
        )?;
    }
    manifest.write_all(b"\n}\n")?;
    manifest.flush()?;
    let mut written = 0;
    for (position, uuid) in uuids.iter().enumerate() {
        let mut event = BufWriter::new(File::create(folder.join(format!("{uuid}.json")))?);
        write!(
            event,
            "{{\"Event\":{{\"uuid\":\"{uuid}\",\"info\":\"kizuna hunt benchmark {position}\",\"date\":\"2026-03-01\",\"analysis\":\"2\",\"threat_level_id\":\"3\",\"published\":true,\"timestamp\":\"1772323200\",\"Orgc\":{{\"name\":\"Kizuna bench\",\"uuid\":\"{}\"}},\"Tag\":[{{\"name\":\"tlp:white\"}}],\"Attribute\":[",
            uuids[0]
        )?;
        for (index, attribute) in attributes[position].iter().enumerate() {
            if index > 0 {
                event.write_all(b",")?;
            }
            event.write_all(b"\n")?;
            event.write_all(attribute.as_bytes())?;
        }
        written += attributes[position].len();
        event.write_all(b"],\"Object\":[")?;
        if position == 0 {
            write!(
                event,
                "{{\"name\":\"ip-port\",\"meta-category\":\"network\",\"uuid\":\"{}\",\"deleted\":false,\"Attribute\":[{}]}},",
                uuid_v4(rng),
                object_attributes.join(",\n")
            )?;
            written += object_attributes.len();
        }
        let mut decoy = String::new();
        push_letters(&mut decoy, rng, 16, 1);
        decoy.push_str(".example");
        write!(
            event,
            "{{\"name\":\"domain-ip\",\"meta-category\":\"network\",\"uuid\":\"{}\",\"deleted\":true,\"Attribute\":[{}]}}",
            uuid_v4(rng),
            attribute_json(rng, "domain", &decoy, true, (None, None))
        )?;
        event.write_all(b"]}}\n")?;
        event.flush()?;
    }
    Ok(written)
}

fn misp_type(kind: Kind, value: &str, rng: &mut Rng) -> &'static str {
    match kind {
        Kind::Ip | Kind::Cidr => {
            if rng.below(2) == 0 {
                "ip-dst"
            } else {
                "ip-src"
            }
        }
        Kind::Domain => {
            if rng.below(3) == 0 {
                "hostname"
            } else {
                "domain"
            }
        }
        Kind::Url => "url",
        Kind::Hash => match value.len() {
            32 => "md5",
            40 => "sha1",
            _ => "sha256",
        },
    }
}

fn attribute_json(
    rng: &mut Rng,
    misp_type: &str,
    value: &str,
    to_ids: bool,
    (first_seen, last_seen): (Option<&str>, Option<&str>),
) -> String {
    let category = match misp_type {
        "md5" | "sha1" | "sha256" => "Payload delivery",
        _ => "Network activity",
    };
    let mut json = format!(
        "{{\"uuid\":\"{}\",\"type\":\"{misp_type}\",\"category\":\"{category}\",\"value\":\"{value}\",\"to_ids\":{to_ids},\"deleted\":false,\"timestamp\":\"1772323200\",\"comment\":\"\"",
        uuid_v4(rng)
    );
    if let Some(first_seen) = first_seen {
        json.push_str(&format!(",\"first_seen\":\"{first_seen}\""));
    }
    if let Some(last_seen) = last_seen {
        json.push_str(&format!(",\"last_seen\":\"{last_seen}\""));
    }
    json.push('}');
    json
}

fn uuid_v4(rng: &mut Rng) -> String {
    let high = rng.next_u64();
    let low = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0x0fff,
        0x8000 | (low >> 48) & 0x3fff,
        low & 0xffff_ffff_ffff
    )
}

struct Args {
    out: PathBuf,
    size_mib: u64,
    iocs: usize,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        out: PathBuf::new(),
        size_mib: 1024,
        iocs: 1_000_000,
        seed: 6,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || given.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--out" => args.out = PathBuf::from(value()?),
            "--size-mib" => args.size_mib = number(&flag, &value()?)?,
            "--iocs" => args.iocs = number(&flag, &value()?)?,
            "--seed" => args.seed = number(&flag, &value()?)?,
            _ => {
                return Err(format!(
                    "unknown argument {flag}; usage: hunt_corpus --out DIR [--size-mib 1024] [--iocs 1000000] [--seed N]"
                ));
            }
        }
    }
    if args.out.as_os_str().is_empty() {
        return Err("--out DIR is required".into());
    }
    if args.iocs < 100 {
        return Err("--iocs must be at least 100".into());
    }
    Ok(args)
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: {text:?} is not a number"))
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("hunt_corpus: {message}");
            std::process::exit(2);
        }
    };
    if let Err(error) = generate(&args) {
        eprintln!("hunt_corpus: {}: {error}", args.out.display());
        std::process::exit(2);
    }
}

fn generate(args: &Args) -> io::Result<()> {
    let started = std::time::Instant::now();
    let mut rng = Rng::new(args.seed);
    let iocs = IocSet::generate(args.iocs, &mut rng);
    let total_budget = args.size_mib * 1024 * 1024;
    for file in LogFile::ALL {
        if let Some(parent) = args.out.join(file.path()).parent() {
            fs::create_dir_all(parent)?;
        }
    }
    let results: Vec<io::Result<(LogFile, Planted)>> = std::thread::scope(|scope| {
        let list = scope.spawn(|| -> io::Result<()> {
            let mut out =
                BufWriter::with_capacity(1 << 20, File::create(args.out.join("iocs.txt"))?);
            iocs.write_list(&mut out, &mut Rng::new(args.seed ^ 0x5EED))?;
            out.flush()
        });
        let workers: Vec<_> = LogFile::ALL
            .into_iter()
            .enumerate()
            .map(|(position, file)| {
                let iocs = &iocs;
                scope.spawn(move || -> io::Result<(LogFile, Planted)> {
                    let mut rng = Rng::new(mix(args.seed.wrapping_add(position as u64 + 1)));
                    let path = args.out.join(file.path());
                    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
                    let budget = total_budget * file.share_percent() / 100;
                    let planted = write_log(file, &mut out, budget, iocs, &mut rng, args.seed)?;
                    out.flush()?;
                    Ok((file, planted))
                })
            })
            .collect();
        let mut results: Vec<_> = workers
            .into_iter()
            .map(|worker| worker.join().expect("a log writer panicked"))
            .collect();
        if let Err(error) = list.join().expect("the IoC list writer panicked") {
            results.push(Err(error));
        }
        results
    });
    let mut per_file = Vec::new();
    let mut all = Planted::default();
    for result in results {
        let (file, planted) = result?;
        let summary = Planted {
            hit_iocs: HashSet::new(),
            ..planted.clone()
        };
        per_file.push((file, summary));
        all.merge(planted);
    }
    let feed_attributes = write_feed(
        &args.out.join("misp-feed"),
        &iocs,
        &all.hit_iocs,
        &mut rng,
        args.seed,
    )?;
    let mut expected = BufWriter::new(File::create(args.out.join("expected.txt"))?);
    writeln!(
        expected,
        "# hunt_corpus --size-mib {} --iocs {} --seed {}",
        args.size_mib, args.iocs, args.seed
    )?;
    writeln!(
        expected,
        "# One hit per planted line; background traffic matches nothing. `hits` are for iocs.txt,"
    )?;
    writeln!(
        expected,
        "# `feed_hits` for misp-feed/ (windows applied); near-misses must give no hit at all."
    )?;
    writeln!(expected, "bytes {}", all.bytes)?;
    writeln!(expected, "lines {}", all.lines)?;
    writeln!(expected, "iocs {}", iocs.len())?;
    for kind in [Kind::Ip, Kind::Cidr, Kind::Domain, Kind::Url, Kind::Hash] {
        writeln!(expected, "iocs.{} {}", kind.name(), iocs.count(kind))?;
    }
    writeln!(expected, "feed_attributes {feed_attributes}")?;
    writeln!(expected, "hits {}", all.total_hits())?;
    for (kind, count) in &all.hits {
        writeln!(expected, "hits.{kind} {count}")?;
    }
    writeln!(expected, "feed_hits {}", all.feed_hits)?;
    writeln!(
        expected,
        "near_misses {}",
        all.near_misses.values().sum::<u64>()
    )?;
    for (kind, count) in &all.near_misses {
        writeln!(expected, "near_misses.{kind} {count}")?;
    }
    for (file, planted) in &per_file {
        let path = file.path();
        writeln!(
            expected,
            "file {path} bytes {} lines {}",
            planted.bytes, planted.lines
        )?;
        writeln!(expected, "file {path} hits {}", planted.total_hits())?;
        writeln!(expected, "file {path} feed_hits {}", planted.feed_hits)?;
    }
    expected.flush()?;
    eprintln!(
        "hunt_corpus: {} MiB of logs ({} lines), {} IoCs, {} planted hits, {} near-misses in {:.1} s",
        all.bytes / (1024 * 1024),
        all.lines,
        iocs.len(),
        all.total_hits(),
        all.near_misses.values().sum::<u64>(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

//! The compiled IoC index (hunt-semantics §4): built once from up to millions of IoC
//! attributes, then shared read-only by every scanning thread.
//!
//! [`IocIndex::match_value`] runs for every field value of every log line, and nearly all
//! of them match nothing, so the lookup is arranged to give up early: one pass over the
//! bytes with a class table decides which single shape the value can still have, an IPv4
//! value first consults a per-/16 table of the prefix lengths present there, a domain
//! first probes a bit filter of the IoCs' last two labels. Nothing allocates unless a URL
//! is longer than a stack buffer.

use super::ioc::{
    ByteSink, IocKey, IocKind, IocRejection, UrlHost, UrlParts, domain_len_here, is_space,
    parse_authority, parse_ioc, parse_ipv4, parse_ipv6, parse_ipv6_here, parse_url, v4_netmask,
    v6_netmask, write_normalised_url,
};

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

/// An attribute's validity window; both bounds inclusive, `None` = unbounded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    pub first_seen: Option<Micros>,
    pub last_seen: Option<Micros>,
}

impl Window {
    /// Whether `ts` lies inside the window (§4.6).
    pub fn contains(&self, ts: Micros) -> bool {
        self.first_seen.is_none_or(|first| first <= ts)
            && self.last_seen.is_none_or(|last| ts <= last)
    }

    /// No bound at all: the attribute is always active.
    pub fn is_unbounded(&self) -> bool {
        self.first_seen.is_none() && self.last_seen.is_none()
    }

    fn holds(&self, ts: Option<Micros>) -> bool {
        match ts {
            Some(ts) => self.contains(ts),
            None => self.is_unbounded(),
        }
    }
}

/// One distinct IoC (one canonical form) in an [`IocIndex`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IocId(pub u32);

/// How a log field value is to be read (hunt-semantics §4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueForm {
    /// Classified by shape: URL, IP, hash or domain (§3).
    Plain,
    /// `host:port` / `[ipv6]:port` of an HTTP CONNECT; only the host is checked.
    Authority,
}

/// What a parser has already read of a value's shape from its bytes (hunt-semantics §3):
/// a value that can have one shape only goes straight to that shape's tables, without the
/// pass over its bytes that [`IocIndex::match_value`] makes to tell the shapes apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KnownShape {
    /// Digits and exactly three dots, nothing else: an IPv4 address or no shape at all;
    /// the address, when it reads as one.
    Ipv4(Option<u32>),
    /// A dot, no colon, a byte that is neither a digit nor a dot: a domain or no shape;
    /// where its dots are (bit `i` for byte `i`) when it is at most 64 bytes long, else 0.
    Domain(u64),
    /// 32, 40 or 64 bytes without a dot or a colon: a hash or no shape; the
    /// [`hex_prefix`] of its first 16 bytes.
    Hash(u64),
    /// A colon and no dot: an IPv6 address, a URL (then with a slash) or no shape; whether
    /// it holds a slash, when the caller knows.
    Colons(Option<bool>),
}

/// An IoC a value matched, before its validity window is checked against the line's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub ioc: IocId,
    /// Byte range of the host inside the value when the match is on a URL's or an
    /// authority's host: the hit is then reported in field `<field>.host` with that host as
    /// its value.
    pub host: Option<(u32, u32)>,
}

/// Collects IoC attributes; [`IocIndexBuilder::build`] compiles them.
#[derive(Default)]
pub struct IocIndexBuilder {
    arena: String,
    starts: Vec<usize>,
    kinds: Vec<IocKind>,
    keys: Vec<IocKey>,
    dedup: DedupTable,
    /// (IoC, window, source) per attribute, in insertion order.
    attributes: Vec<(u32, Window, u32)>,
}

impl IocIndexBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for about `attributes` attributes without reallocating.
    pub fn with_capacity(attributes: usize) -> Self {
        Self {
            arena: String::with_capacity(attributes.saturating_mul(24)),
            starts: Vec::with_capacity(attributes),
            kinds: Vec::with_capacity(attributes),
            keys: Vec::with_capacity(attributes),
            dedup: DedupTable::with_capacity(attributes),
            attributes: Vec::with_capacity(attributes),
        }
    }

    /// Number of distinct IoCs added so far.
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Adds one attribute. Attributes with the same canonical form become one IoC, active
    /// whenever any of their windows is. `source` is the caller's handle for the attribute
    /// (e.g. an index into its own metadata table), given back by [`IocIndex::sources`].
    pub fn add(
        &mut self,
        misp_type: Option<&str>,
        value: &str,
        window: Window,
        source: u32,
    ) -> Result<IocId, IocRejection> {
        let parsed = parse_ioc(misp_type, value)?;
        let fingerprint = bytes_fingerprint(parsed.canonical.as_bytes());
        let existing = self.dedup.find(fingerprint, |id| {
            canonical_at(&self.arena, &self.starts, id as usize) == parsed.canonical
        });
        let id = match existing {
            Some(id) => id,
            None => {
                let id = u32::try_from(self.kinds.len())
                    .ok()
                    .filter(|&id| id != u32::MAX)
                    .ok_or(IocRejection::BadShape)?;
                self.starts.push(self.arena.len());
                self.arena.push_str(&parsed.canonical);
                self.kinds.push(parsed.kind);
                self.keys.push(parsed.key);
                self.dedup.insert(fingerprint, id);
                id
            }
        };
        self.attributes.push((id, window, source));
        Ok(IocId(id))
    }

    pub fn build(self) -> IocIndex {
        let count = self.kinds.len();
        let mut canonical_bounds = self.starts;
        canonical_bounds.push(self.arena.len());

        let mut attribute_bounds = vec![0u32; count + 1];
        for &(id, _, _) in &self.attributes {
            attribute_bounds[id as usize + 1] += 1;
        }
        for i in 0..count {
            attribute_bounds[i + 1] += attribute_bounds[i];
        }
        let mut next = attribute_bounds.clone();
        let mut sources = vec![0u32; self.attributes.len()];
        let mut windows = vec![Window::default(); self.attributes.len()];
        let mut always_active = vec![false; count];
        for &(id, window, source) in &self.attributes {
            let slot = &mut next[id as usize];
            sources[*slot as usize] = source;
            windows[*slot as usize] = window;
            *slot += 1;
            always_active[id as usize] |= window.is_unbounded();
        }
        drop(self.attributes);

        let mut lookup = Lookup::default();
        let mut ipv4 = Vec::new();
        let mut ipv6 = Vec::new();
        let mut cidr4: Vec<Vec<(u32, u32)>> = vec![Vec::new(); 33];
        let mut cidr6: Vec<Vec<(u128, u32)>> = vec![Vec::new(); 129];
        let mut domains = Vec::new();
        let mut domain_tails = Vec::new();
        let mut urls = Vec::new();
        let mut md5 = Vec::new();
        let mut sha1 = Vec::new();
        let mut sha256 = Vec::new();
        for (id, (&kind, &key)) in self.kinds.iter().zip(&self.keys).enumerate() {
            let canonical = canonical_at(&self.arena, &canonical_bounds, id).as_bytes();
            let id = id as u32;
            match key {
                IocKey::Ipv4(ip) => ipv4.push((ip, id)),
                IocKey::Ipv6(ip) => ipv6.push((ip, id)),
                IocKey::Cidr4 { network, prefix } => cidr4[prefix as usize].push((network, id)),
                IocKey::Cidr6 { network, prefix } => cidr6[prefix as usize].push((network, id)),
                IocKey::Text => match kind {
                    IocKind::Domain => domain_suffixes(canonical, |labels, start, fingerprint| {
                        if labels == 2 {
                            domain_tails.push(tail_key(canonical, start));
                        }
                        if start == 0 {
                            domains.push((fingerprint, id));
                        }
                        true
                    }),
                    IocKind::Url => urls.push((stream_fingerprint(canonical), id)),
                    IocKind::Hash => match canonical.len() {
                        32 => md5.push((decode_hex::<16>(canonical), id)),
                        40 => sha1.push((decode_hex::<20>(canonical), id)),
                        _ => sha256.push((decode_hex::<32>(canonical), id)),
                    },
                    IocKind::Ip | IocKind::Cidr => {}
                },
            }
        }

        if !ipv4.is_empty() || cidr4.iter().any(|networks| !networks.is_empty()) {
            let mut blocks = vec![0u64; 1 << 16];
            for &(ip, _) in &ipv4 {
                blocks[(ip >> 16) as usize] |= V4_EXACT_BIT;
            }
            for (prefix, networks) in cidr4.iter().enumerate() {
                for &(network, _) in networks {
                    let first = (network >> 16) as usize;
                    let covered = if prefix <= 16 { 1 << (16 - prefix) } else { 1 };
                    for block in &mut blocks[first..first + covered] {
                        *block |= 1 << prefix;
                    }
                }
            }
            lookup.v4_blocks = blocks;
        }
        lookup.ipv4 = FlatMap::build(&ipv4);
        lookup.ipv6 = FlatMap::build(&ipv6);
        lookup.cidr4 = cidr4
            .iter()
            .map(|networks| FlatMap::build(networks))
            .collect();
        lookup.cidr6 = cidr6
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, networks)| !networks.is_empty())
            .map(|(prefix, networks)| (prefix as u32, FlatMap::build(networks)))
            .collect();
        lookup.domains = FlatMap::build(&domains);
        lookup.domain_tails = BitFilter::build(&domain_tails);
        lookup.urls = FlatMap::build(&urls);
        let url_fingerprints: Vec<u64> = urls.iter().map(|&(key, _)| key).collect();
        lookup.url_filter = BitFilter::build(&url_fingerprints);
        let digest_hashes: Vec<u64> = (md5.iter().map(|(key, _)| key.slot_hash()))
            .chain(sha1.iter().map(|(key, _)| key.slot_hash()))
            .chain(sha256.iter().map(|(key, _)| key.slot_hash()))
            .collect();
        lookup.hash_filter = BitFilter::build(&digest_hashes);
        let ip_hashes: Vec<u64> = (ipv4.iter().map(|(key, _)| key.slot_hash()))
            .chain(ipv6.iter().map(|(key, _)| key.slot_hash()))
            .collect();
        lookup.ip_filter = BitFilter::build(&ip_hashes);
        lookup.md5 = FlatMap::build(&md5);
        lookup.sha1 = FlatMap::build(&sha1);
        lookup.sha256 = FlatMap::build(&sha256);

        IocIndex {
            arena: self.arena,
            canonical_bounds,
            kinds: self.kinds,
            attribute_bounds,
            sources,
            windows,
            always_active,
            lookup,
        }
    }
}

/// Immutable, `Send + Sync`.
pub struct IocIndex {
    /// Every canonical form, back to back; IoC `i` is `arena[bounds[i]..bounds[i + 1]]`.
    arena: String,
    canonical_bounds: Vec<usize>,
    kinds: Vec<IocKind>,
    /// The attributes of IoC `i` are `sources[bounds[i]..bounds[i + 1]]` (and `windows`).
    attribute_bounds: Vec<u32>,
    sources: Vec<u32>,
    windows: Vec<Window>,
    always_active: Vec<bool>,
    lookup: Lookup,
}

impl IocIndex {
    /// Number of distinct IoCs.
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn kind(&self, ioc: IocId) -> IocKind {
        self.kinds[ioc.0 as usize]
    }

    /// The canonical form (hunt-semantics §1.4): what a hit reports as `ioc`.
    pub fn canonical(&self, ioc: IocId) -> &str {
        canonical_at(&self.arena, &self.canonical_bounds, ioc.0 as usize)
    }

    /// The `source` handles of every attribute behind this IoC, in insertion order.
    pub fn sources(&self, ioc: IocId) -> &[u32] {
        &self.sources[self.attribute_range(ioc)]
    }

    /// The windows of every attribute behind this IoC, in the order of [`Self::sources`].
    pub fn windows(&self, ioc: IocId) -> &[Window] {
        &self.windows[self.attribute_range(ioc)]
    }

    /// Whether the IoC is active at `ts` (§4.6): any attribute's window holds it; a line
    /// without a timestamp (`None`) matches only IoCs with an unbounded attribute.
    pub fn is_active(&self, ioc: IocId, ts: Option<Micros>) -> bool {
        if self.always_active[ioc.0 as usize] {
            return true;
        }
        let Some(ts) = ts else { return false };
        self.windows(ioc).iter().any(|window| window.contains(ts))
    }

    /// The `source` handles of the attributes active at `ts`, appended to `out`.
    pub fn active_sources(&self, ioc: IocId, ts: Option<Micros>, out: &mut Vec<u32>) {
        let range = self.attribute_range(ioc);
        out.extend(
            self.sources[range.clone()]
                .iter()
                .zip(&self.windows[range])
                .filter(|(_, window)| window.holds(ts))
                .map(|(&source, _)| source),
        );
    }

    /// Every IoC the field value matches (§4.1–4.5), appended to `out`, windows not yet
    /// checked. Cheap for the common case of a value that matches nothing.
    pub fn match_value(&self, value: &str, form: ValueForm, out: &mut Vec<Candidate>) {
        match form {
            ValueForm::Plain => self.match_plain(value, out),
            ValueForm::Authority => self.match_authority(value, out),
        }
    }

    /// [`IocIndex::match_value`] of a plain value whose shape the caller already knows:
    /// the same candidates, found without telling the shapes apart again. Inlined, with the
    /// lookups it makes, into its caller: the Zeek TSV parser's copy for x86-64-v3 (see
    /// `hunt::logs::cpu_features`) then runs them compiled for the same features, without calls.
    ///
    /// The value as bytes, not checked to be UTF-8: each shape's parser accepts ASCII bytes
    /// only, so a value that is not UTF-8 matches nothing here, as it would not as text.
    ///
    /// The value is `preceded[start..]`: the bytes before it on its line let a domain's
    /// tail be read in whole words, whatever its labels' lengths.
    #[inline(always)]
    pub(crate) fn match_known(
        &self,
        (preceded, start): (&[u8], usize),
        shape: KnownShape,
        out: &mut Vec<Candidate>,
    ) {
        let value = &preceded[start..];
        match shape {
            KnownShape::Ipv4(Some(ip)) => self.match_ipv4(ip, None, out),
            KnownShape::Ipv4(None) => {}
            KnownShape::Domain(dots) => self.match_domain_here((preceded, start), dots, None, out),
            KnownShape::Hash(prefix) => self.match_unchecked_hash(value, prefix, out),
            // What `match_plain` does with such a value, without its pass over the bytes:
            // an address parses only from hex digits and colons, which that pass allows.
            KnownShape::Colons(slash) => {
                if slash.unwrap_or_else(|| memchr::memchr(b'/', value).is_some()) {
                    if let Ok(text) = std::str::from_utf8(value) {
                        self.match_plain(text, out);
                    }
                } else if (!self.lookup.ipv6.is_empty() || !self.lookup.cidr6.is_empty())
                    && let Some(ip) = parse_ipv6_here(value)
                {
                    self.match_ipv6(ip, None, out);
                }
            }
        }
    }

    fn attribute_range(&self, ioc: IocId) -> std::ops::Range<usize> {
        let i = ioc.0 as usize;
        self.attribute_bounds[i] as usize..self.attribute_bounds[i + 1] as usize
    }
}

fn canonical_at<'a>(arena: &'a str, starts: &[usize], id: usize) -> &'a str {
    let end = starts.get(id + 1).copied().unwrap_or(arena.len());
    &arena[starts[id]..end]
}

/// The lookup structures, one per kind of key.
#[derive(Default)]
struct Lookup {
    /// Per /16 block of the IPv4 space: bit `p` is set when a CIDR of prefix length `p`
    /// overlaps the block, [`V4_EXACT_BIT`] when an IPv4 IoC lies in it. Empty when there
    /// are no IPv4 IoCs at all.
    v4_blocks: Vec<u64>,
    ipv4: FlatMap<u32>,
    /// Indexed by prefix length, network address as key.
    cidr4: Vec<FlatMap<u32>>,
    ipv6: FlatMap<u128>,
    /// Only the prefix lengths present, longest first.
    cidr6: Vec<(u32, FlatMap<u128>)>,
    /// Fingerprint of the whole name (see [`domain_suffixes`]).
    domains: FlatMap<u64>,
    /// Fingerprints of the last two labels of every domain IoC: any domain IoC a value
    /// matches ends with the same two labels as the value.
    domain_tails: BitFilter,
    urls: FlatMap<u64>,
    /// The fingerprints of `urls` and the slot hashes of the digests: most values that
    /// match nothing stop at one bit of a small table instead of a probe of a large one.
    url_filter: BitFilter,
    hash_filter: BitFilter,
    /// The slot hashes of `ipv4` and `ipv6`.
    ip_filter: BitFilter,
    md5: FlatMap<[u8; 16]>,
    sha1: FlatMap<[u8; 20]>,
    sha256: FlatMap<[u8; 32]>,
}

const V4_EXACT_BIT: u64 = 1 << 40;

// Byte classes of the first pass over a value in `match_plain`.
const DIGIT: u16 = 1;
const HEX_LETTER: u16 = 1 << 1;
const OTHER_LETTER: u16 = 1 << 2;
const DOT: u16 = 1 << 3;
const COLON: u16 = 1 << 4;
const DASH: u16 = 1 << 5;
const SLASH: u16 = 1 << 6;
const OTHER: u16 = 1 << 7;
const SPACE: u16 = 1 << 8;
/// The byte may begin a value of some shape: alphanumerics (URL schemes, IPs, hashes,
/// domains), `_` and `-` (domain labels) and `:` (IPv6).
const START: u16 = 1 << 9;

const CLASSES: [u16; 256] = {
    let mut classes = [OTHER; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        classes[i] = match c {
            b'0'..=b'9' => DIGIT | START,
            b'a'..=b'f' | b'A'..=b'F' => HEX_LETTER | START,
            b'g'..=b'z' | b'G'..=b'Z' => OTHER_LETTER | START,
            b'.' => DOT,
            b':' => COLON | START,
            b'-' | b'_' => DASH | START,
            b'/' => SLASH,
            _ if is_space(c) => SPACE,
            _ => OTHER,
        };
        i += 1;
    }
    classes
};

impl IocIndex {
    fn canonical_bytes(&self, id: u32) -> &[u8] {
        self.canonical(IocId(id)).as_bytes()
    }

    fn match_plain(&self, value: &str, out: &mut Vec<Candidate>) {
        let bytes = value.as_bytes();
        let Some(&first) = bytes.first() else { return };
        // Addresses are the most common values with a shape: one that reads as IPv4 is
        // one (digits and dots only, so no other shape), without the pass below.
        if first.is_ascii_digit()
            && let Some(ip) = parse_ipv4(bytes)
        {
            self.match_ipv4(ip, None, out);
            return;
        }
        if CLASSES[first as usize] & START == 0 {
            return;
        }
        let mut seen = 0;
        for &c in bytes {
            let class = CLASSES[c as usize];
            if class & SPACE != 0 {
                // No shape contains whitespace (a URL neither, §3.4).
                return;
            }
            seen |= class;
        }
        let seen = seen & !START;
        if seen & COLON != 0 {
            // Only URLs and IPv6 addresses contain colons; only URLs slashes.
            if seen & SLASH != 0 {
                if let Some(parts) = parse_url(value) {
                    self.match_url(value, &parts, out);
                }
            } else if seen & !(DIGIT | HEX_LETTER | COLON | DOT) == 0
                && (!self.lookup.ipv6.is_empty() || !self.lookup.cidr6.is_empty())
                && let Some(ip) = parse_ipv6(value)
            {
                self.match_ipv6(ip, None, out);
            }
            return;
        }
        if seen & !(DIGIT | HEX_LETTER) == 0 {
            self.match_hash(bytes, out);
            return;
        }
        if seen & !(DIGIT | DOT) == 0 {
            if let Some(ip) = parse_ipv4(bytes) {
                self.match_ipv4(ip, None, out);
            }
            return;
        }
        if seen & !(DIGIT | HEX_LETTER | OTHER_LETTER | DOT | DASH) == 0 && seen & DOT != 0 {
            self.match_domain((bytes, 0), None, out);
        }
    }

    fn match_authority(&self, value: &str, out: &mut Vec<Candidate>) {
        if let Some(((start, end), host_kind)) = parse_authority(value) {
            self.match_host(value, (start, end), host_kind, out);
        }
    }

    fn match_url(&self, value: &str, parts: &UrlParts, out: &mut Vec<Candidate>) {
        if !self.lookup.urls.is_empty() {
            // The normalised form is hashed and compared piece by piece, never assembled.
            let mut hasher = StreamHasher::default();
            write_normalised_url(value, parts, &mut hasher);
            let fingerprint = hasher.finish();
            if self.lookup.url_filter.contains(fingerprint) {
                self.lookup.urls.for_each(fingerprint, |id| {
                    let mut comparison = Comparison::new(self.canonical_bytes(id));
                    write_normalised_url(value, parts, &mut comparison);
                    if comparison.is_equal() {
                        out.push(Candidate {
                            ioc: IocId(id),
                            host: None,
                        });
                    }
                });
            }
        }
        self.match_host(value, parts.host, parts.host_kind, out);
    }

    /// §4.3/§4.4: a URL's or authority's host, checked as an IP or a domain.
    fn match_host(
        &self,
        value: &str,
        (start, end): (usize, usize),
        host_kind: UrlHost,
        out: &mut Vec<Candidate>,
    ) {
        let host = Some((start as u32, end as u32));
        match host_kind {
            UrlHost::Ipv4(ip) => self.match_ipv4(ip, host, out),
            UrlHost::Ipv6(ip) => self.match_ipv6(ip, host, out),
            UrlHost::Name => self.match_domain((&value.as_bytes()[..end], start), host, out),
        }
    }

    #[inline(always)]
    fn match_ipv4(&self, ip: u32, host: Option<(u32, u32)>, out: &mut Vec<Candidate>) {
        let Some(&block) = self.lookup.v4_blocks.get((ip >> 16) as usize) else {
            return;
        };
        if block & V4_EXACT_BIT != 0
            && self.lookup.ip_filter.contains(ip.slot_hash())
            && let Some(id) = self.lookup.ipv4.get(ip)
        {
            out.push(Candidate {
                ioc: IocId(id),
                host,
            });
        }
        let mut prefixes = block & !V4_EXACT_BIT;
        while prefixes != 0 {
            let prefix = prefixes.trailing_zeros();
            prefixes &= prefixes - 1;
            if let Some(id) = self.lookup.cidr4[prefix as usize].get(ip & v4_netmask(prefix)) {
                out.push(Candidate {
                    ioc: IocId(id),
                    host,
                });
            }
        }
    }

    #[inline(always)]
    fn match_ipv6(&self, ip: u128, host: Option<(u32, u32)>, out: &mut Vec<Candidate>) {
        if self.lookup.ip_filter.contains(ip.slot_hash())
            && let Some(id) = self.lookup.ipv6.get(ip)
        {
            out.push(Candidate {
                ioc: IocId(id),
                host,
            });
        }
        for (prefix, networks) in &self.lookup.cidr6 {
            if let Some(id) = networks.get(ip & v6_netmask(*prefix)) {
                out.push(Candidate {
                    ioc: IocId(id),
                    host,
                });
            }
        }
    }

    /// `hex` holds hex digits only.
    fn match_hash(&self, hex: &[u8], out: &mut Vec<Candidate>) {
        if let Some(id) = self.find_hash(hex, None, |_| true) {
            out.push(Candidate {
                ioc: IocId(id),
                host: None,
            });
        }
    }

    /// [`IocIndex::match_hash`] of a value of a hash's length not yet known to be hex
    /// digits: only a value that passes the filter is checked, a value that is not hex
    /// matches nothing either way.
    #[inline(always)]
    fn match_unchecked_hash(&self, value: &[u8], prefix: u64, out: &mut Vec<Candidate>) {
        if let Some(id) = self.find_hash(value, Some(prefix), is_hex) {
            out.push(Candidate {
                ioc: IocId(id),
                host: None,
            });
        }
    }

    /// The hash IoC `hex` names, when its length is a hash's and `is_valid(hex)` holds.
    /// The filter is probed with the first 16 digits alone (its key is a digest's first
    /// eight bytes, [`hex_prefix`], here when the caller has it): nearly every value stops
    /// there, before the rest is decoded.
    #[inline(always)]
    fn find_hash(
        &self,
        hex: &[u8],
        prefix: Option<u64>,
        is_valid: impl Fn(&[u8]) -> bool,
    ) -> Option<u32> {
        #[inline(always)]
        fn probe<const N: usize>(
            table: &FlatMap<[u8; N]>,
            filter: &BitFilter,
            hex: &[u8],
            prefix: Option<u64>,
            is_valid: impl Fn(&[u8]) -> bool,
        ) -> Option<u32>
        where
            [u8; N]: FlatKey,
        {
            if table.is_empty() {
                return None;
            }
            let prefix = prefix.unwrap_or_else(|| hex_prefix(hex));
            if !filter.contains(finish(prefix)) || !is_valid(hex) {
                return None;
            }
            table.get(decode_hex(hex))
        }
        let filter = &self.lookup.hash_filter;
        match hex.len() {
            32 => probe(&self.lookup.md5, filter, hex, prefix, is_valid),
            40 => probe(&self.lookup.sha1, filter, hex, prefix, is_valid),
            64 => probe(&self.lookup.sha256, filter, hex, prefix, is_valid),
            _ => None,
        }
    }

    /// §4.2: the name and each of its parents with two labels or more. The name is
    /// `preceded[start..]` (see [`IocIndex::match_known`]).
    fn match_domain(
        &self,
        preceded: (&[u8], usize),
        host: Option<(u32, u32)>,
        out: &mut Vec<Candidate>,
    ) {
        self.match_domain_here(preceded, 0, host, out);
    }

    /// [`IocIndex::match_domain`], compiled into [`IocIndex::match_known`] alone.
    /// The value is `preceded[start..]` (see [`IocIndex::match_known`]). `dots`: where the
    /// value's dots are when the caller knows (see [`KnownShape::Domain`]), else 0.
    #[inline(always)]
    fn match_domain_here(
        &self,
        (preceded, start): (&[u8], usize),
        dots: u64,
        host: Option<(u32, u32)>,
        out: &mut Vec<Candidate>,
    ) {
        if self.lookup.domains.is_empty() {
            return;
        }
        let value = &preceded[start..];
        let name = value.strip_suffix(b".").unwrap_or(value);
        let tail_start = if dots != 0 {
            tail_start_at_dots(name, dots)
        } else {
            last_dot(name, name.len()).map(|dot| last_dot(name, dot).map_or(0, |dot| dot + 1))
        };
        let Some(tail_start) = tail_start else {
            return;
        };
        let name_end = start + name.len();
        let tail = tail_key(&preceded[..name_end], start + tail_start);
        if !self.lookup.domain_tails.contains(tail) || domain_len_here(value).is_none() {
            return;
        }
        domain_suffixes(name, |labels, start, fingerprint| {
            if labels >= 2 {
                self.lookup.domains.for_each(fingerprint, |id| {
                    if self
                        .canonical_bytes(id)
                        .eq_ignore_ascii_case(&name[start..])
                    {
                        out.push(Candidate {
                            ioc: IocId(id),
                            host,
                        });
                    }
                });
            }
            true
        });
    }
}

/// [`words_hash`]'s mixing fed in pieces; the result does not depend on where the pieces
/// split.
#[derive(Default)]
struct StreamHasher {
    hash: u64,
    word: u64,
    filled: u32,
    len: u64,
}

impl StreamHasher {
    fn finish(&self) -> u64 {
        let mut hash = mix_word(SEED ^ self.hash, self.len);
        if self.filled > 0 {
            hash = mix_word(hash, self.word);
        }
        finish(hash)
    }

    fn push_byte(&mut self, byte: u8) {
        self.word |= u64::from(byte) << (8 * self.filled);
        self.filled += 1;
        if self.filled == 8 {
            self.hash = mix_word(self.hash, self.word);
            self.word = 0;
            self.filled = 0;
        }
    }
}

impl ByteSink for StreamHasher {
    fn put(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        let mut rest = bytes;
        while self.filled != 0 {
            let Some((&first, after)) = rest.split_first() else {
                return;
            };
            self.push_byte(first);
            rest = after;
        }
        let mut words = rest.chunks_exact(8);
        for word in &mut words {
            let word = u64::from_le_bytes([
                word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
            ]);
            self.hash = mix_word(self.hash, word);
        }
        for &byte in words.remainder() {
            self.push_byte(byte);
        }
    }
}

fn stream_fingerprint(bytes: &[u8]) -> u64 {
    let mut hasher = StreamHasher::default();
    hasher.put(bytes);
    hasher.finish()
}

/// Compares what is written with an expected byte string.
struct Comparison<'a> {
    expected: &'a [u8],
    equal: bool,
}

impl<'a> Comparison<'a> {
    fn new(expected: &'a [u8]) -> Self {
        Self {
            expected,
            equal: true,
        }
    }

    fn is_equal(&self) -> bool {
        self.equal && self.expected.is_empty()
    }
}

impl ByteSink for Comparison<'_> {
    fn put(&mut self, bytes: &[u8]) {
        match self.expected.split_at_checked(bytes.len()) {
            Some((head, rest)) if self.equal && head == bytes => self.expected = rest,
            _ => self.equal = false,
        }
    }
}

/// Whether every byte is an ASCII hex digit, eight bytes at a time.
fn is_hex(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let each = |byte: u8| u64::from_ne_bytes([byte; 8]);
    // Bit 7 of each byte of `word` (bytes below 0x80) that lies in `low..=high`, without
    // carries between bytes.
    let within = |word: u64, low: u8, high: u8| {
        word.wrapping_add(each(0x80 - low)) & !word.wrapping_add(each(0x7f - high)) & HIGH
    };
    let hex_word = |word: u64| {
        word & HIGH == 0
            && (within(word, b'0', b'9') | within(word | each(0x20), b'a', b'f')) == HIGH
    };
    let mut words = bytes.chunks_exact(8);
    let whole = words.by_ref().all(|word| {
        hex_word(u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]))
    });
    whole && words.remainder().iter().all(u8::is_ascii_hexdigit)
}

/// `u64::from_le_bytes(decode_hex::<8>(hex))` of the first 16 digits, eight at a time in a
/// word: the filter's key for nearly every hash-length value, most of which stop there.
/// Bytes that are not hex digits give some key (the caller checks them after the filter).
#[inline(always)]
pub(crate) fn hex_prefix(hex: &[u8]) -> u64 {
    fn four_bytes(word: u64) -> u64 {
        const LOW_NIBBLES: u64 = u64::from_ne_bytes([0x0f; 8]);
        const ONES: u64 = u64::from_ne_bytes([1; 8]);
        // Each byte's digit value, as `decode_hex`'s nibble: letters (bit 6) add 9.
        let values = (word & LOW_NIBBLES) + 9 * ((word >> 6) & ONES);
        // Byte 2j: digit 2j as the high nibble, digit 2j + 1 as the low one.
        let pairs = (values << 4 | values >> 8) & 0x00ff_00ff_00ff_00ff;
        let pairs = (pairs | pairs >> 8) & 0x0000_ffff_0000_ffff;
        (pairs | pairs >> 16) & 0xffff_ffff
    }
    let (low, high) = (
        super::logs::le_word(&hex[..8]),
        super::logs::le_word(&hex[8..16]),
    );
    four_bytes(low) | four_bytes(high) << 32
}

fn decode_hex<const N: usize>(hex: &[u8]) -> [u8; N] {
    // Digits and ASCII letters only: `c & 0xf` is the digit's value, letters add 9.
    fn nibble(c: u8) -> u8 {
        (c & 0xf) + 9 * (c >> 6)
    }
    let mut bytes = [0u8; N];
    for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = nibble(pair[0]) << 4 | nibble(pair[1]);
    }
    bytes
}

const SEED: u64 = 0x243f_6a88_85a3_08d3;
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

#[inline(always)]
fn mix_word(hash: u64, word: u64) -> u64 {
    (hash.rotate_left(26) ^ word).wrapping_mul(MULTIPLIER)
}

/// MurmurHash3's finaliser: every input bit reaches every output bit, so the high bits
/// choose table slots and the low bits filter bits independently.
#[inline(always)]
fn finish(mut hash: u64) -> u64 {
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// A fast non-cryptographic hash over 8-byte words; `or_mask` is or-ed into every byte
/// (`0x20` folds ASCII case).
#[inline(always)]
fn words_hash(bytes: &[u8], or_byte: u8) -> u64 {
    let or_word = u64::from_ne_bytes([or_byte; 8]);
    let (mut hash, rest) = hash_whole_words(bytes, or_word);
    if rest != 0 {
        // The last bytes as one word, zero above them, read without a byte loop: labels
        // are a few bytes long, most of them end in such a tail.
        let tail = if bytes.len() >= 8 {
            super::logs::le_word(&bytes[bytes.len() - 8..]) >> (8 * (8 - rest))
        } else {
            super::logs::short_le_word(bytes)
        };
        hash = mix_word(hash, tail | (or_word >> (8 * (8 - rest))));
    }
    hash
}

/// The hash of `bytes`' whole 8-byte words (each or-ed with `or_word`) and how many bytes
/// are left after them, for the caller to read as a last word its own way.
#[inline(always)]
fn hash_whole_words(bytes: &[u8], or_word: u64) -> (u64, usize) {
    let mut hash = SEED ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let word = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        hash = mix_word(hash, word | or_word);
    }
    (hash, words.remainder().len())
}

/// [`words_hash`] of the label `name[start..end]` with `0x20` or-ed in. Its last bytes
/// are read from the word of the name that ends with the label whenever the name is that
/// long, not in pieces chosen by the label's length: label lengths vary from one name to
/// the next, and branches on them mispredict.
#[inline(always)]
fn label_hash(name: &[u8], start: usize, end: usize) -> u64 {
    let label = &name[start..end];
    if end < 8 {
        return words_hash(label, 0x20);
    }
    let or_word = u64::from_ne_bytes([0x20; 8]);
    let (mut hash, rest) = hash_whole_words(label, or_word);
    if rest != 0 {
        let tail = super::logs::le_word(&name[end - 8..end]) >> (8 * (8 - rest));
        hash = mix_word(hash, tail | (or_word >> (8 * (8 - rest))));
    }
    hash
}

/// Where the last dot of `name[..end]` is, eight bytes at a time from the end.
#[inline(always)]
fn last_dot(name: &[u8], mut end: usize) -> Option<usize> {
    const DOTS: u64 = u64::from_ne_bytes([b'.'; 8]);
    if name.len() >= 8 {
        // Whole words of the name only, the last one (the name's first eight bytes)
        // masked to the bytes before `end`: no byte loop, whose length would vary.
        while end > 0 {
            let start = end.saturating_sub(8);
            let inside = u64::MAX >> (8 * (8 - (end - start)));
            let word = super::logs::le_word(&name[start..start + 8]);
            let dots = super::logs::zero_bytes(word ^ DOTS) & inside;
            if dots != 0 {
                return Some(start + (63 - dots.leading_zeros() as usize) / 8);
            }
            end = start;
        }
        return None;
    }
    while end >= 8 {
        let dots = super::logs::zero_bytes(super::logs::le_word(&name[end - 8..end]) ^ DOTS);
        if dots != 0 {
            return Some(end - 8 + (63 - dots.leading_zeros() as usize) / 8);
        }
        end -= 8;
    }
    name[..end].iter().rposition(|&c| c == b'.')
}

fn bytes_fingerprint(bytes: &[u8]) -> u64 {
    finish(words_hash(bytes, 0))
}

/// Visits the suffixes of a dotted name at label boundaries, shortest first, with their
/// label count, start offset and a case-insensitive fingerprint (over the validated domain
/// alphabet, or-ing `0x20` into each byte is injective: it maps `A-Z` to `a-z` and `_` to
/// DEL, which cannot occur). Stops when `visit` returns false.
#[inline(always)]
fn domain_suffixes(name: &[u8], mut visit: impl FnMut(usize, usize, u64) -> bool) {
    let mut end = name.len();
    let mut hash = SEED;
    let mut labels = 0;
    loop {
        // Labels are short: a word at a time beats a vectorised search here.
        let start = last_dot(name, end).map_or(0, |dot| dot + 1);
        hash = mix_word(hash, label_hash(name, start, end));
        labels += 1;
        if !visit(labels, start, finish(hash)) || start == 0 {
            return;
        }
        end = start - 1;
    }
}

/// Where the name's last two labels start, from where its dots are (bit `i` for byte `i`;
/// bits past the name ignored); None for one label. The two dots are the highest bits: no
/// search for them, whose length would vary with the labels' and mispredict.
#[inline(always)]
fn tail_start_at_dots(name: &[u8], dots: u64) -> Option<usize> {
    let dots = dots & u64::MAX.checked_shr(64 - name.len() as u32).unwrap_or(0);
    if dots == 0 {
        return None;
    }
    let last = 63 - dots.leading_zeros() as usize;
    let before = dots ^ (1 << last);
    Some(64 - before.leading_zeros() as usize)
}

/// The key of the domain tail filter for the last two labels of a name, `bytes[start..]`
/// (any case): its length and its last 16 bytes, case folded. A filter key only: tails
/// alike in those are told apart by the lookups that follow. Read as two words ending with
/// the name, the bytes before the tail masked off, so without a branch on the labels'
/// lengths: they vary from name to name and mispredicted, and hashing label by label made
/// one core scan a Zeek dns log about 7 % slower.
#[inline(always)]
fn tail_key(bytes: &[u8], start: usize) -> u64 {
    let end = bytes.len();
    let length = end - start;
    let (low, high) = if end >= 16 {
        (
            super::logs::le_word(&bytes[end - 16..end - 8]),
            super::logs::le_word(&bytes[end - 8..]),
        )
    } else {
        // The start of a line: the bytes it lacks are masked off below anyway.
        let mut padded = [0u8; 16];
        padded[16 - end..].copy_from_slice(bytes);
        (
            super::logs::le_word(&padded[..8]),
            super::logs::le_word(&padded[8..]),
        )
    };
    let words = (u128::from(high) << 64 | u128::from(low)) | u128::from_ne_bytes([0x20; 16]);
    let kept = words & u128::MAX.wrapping_shl(8 * (16 - length.min(16)) as u32);
    // Two independent multiplies and one after them: a short chain before the probe.
    let mixed = (kept as u64 ^ SEED).wrapping_mul(MULTIPLIER)
        ^ ((kept >> 64) as u64 ^ length as u64).wrapping_mul(TAIL_MULTIPLIER);
    let folded = u128::from(mixed) * u128::from(MULTIPLIER);
    folded as u64 ^ (folded >> 64) as u64
}

const TAIL_MULTIPLIER: u64 = 0xc2b2_ae3d_27d4_eb4f;

/// A key of a [`FlatMap`] with the hash that places it.
trait FlatKey: Copy + Eq + Default {
    fn slot_hash(&self) -> u64;
}

impl FlatKey for u32 {
    #[inline(always)]
    fn slot_hash(&self) -> u64 {
        finish(u64::from(*self))
    }
}

impl FlatKey for u64 {
    /// Already a [`finish`]ed fingerprint.
    #[inline(always)]
    fn slot_hash(&self) -> u64 {
        *self
    }
}

impl FlatKey for u128 {
    #[inline(always)]
    fn slot_hash(&self) -> u64 {
        finish((*self as u64).wrapping_mul(MULTIPLIER) ^ (*self >> 64) as u64)
    }
}

impl<const N: usize> FlatKey for [u8; N]
where
    [u8; N]: Default,
{
    /// Digests are uniformly distributed already; their first eight bytes are hash enough.
    fn slot_hash(&self) -> u64 {
        let mut first = [0u8; 8];
        for (out, &byte) in first.iter_mut().zip(self) {
            *out = byte;
        }
        finish(u64::from_le_bytes(first))
    }
}

const EMPTY_SLOT: u32 = u32::MAX;

/// An immutable open-addressing hash map from keys to IoC ids: linear probing, at most
/// half full. A key may occur more than once (distinct names with the same fingerprint).
struct FlatMap<K> {
    slots: Vec<(K, u32)>,
    shift: u32,
}

impl<K> Default for FlatMap<K> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            shift: 0,
        }
    }
}

impl<K: FlatKey> FlatMap<K> {
    fn build(entries: &[(K, u32)]) -> Self {
        if entries.is_empty() {
            return Self::default();
        }
        let capacity = (entries.len() * 2).next_power_of_two().max(8);
        let mask = capacity - 1;
        let shift = 64 - capacity.trailing_zeros();
        let mut slots = vec![(K::default(), EMPTY_SLOT); capacity];
        for &(key, id) in entries {
            let mut slot = (key.slot_hash() >> shift) as usize;
            while slots[slot].1 != EMPTY_SLOT {
                slot = (slot + 1) & mask;
            }
            slots[slot] = (key, id);
        }
        Self { slots, shift }
    }

    fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    #[inline(always)]
    fn get(&self, key: K) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut slot = (key.slot_hash() >> self.shift) as usize;
        loop {
            let (stored, id) = self.slots[slot];
            if id == EMPTY_SLOT {
                return None;
            }
            if stored == key {
                return Some(id);
            }
            slot = (slot + 1) & mask;
        }
    }

    #[inline(always)]
    fn for_each(&self, key: K, mut visit: impl FnMut(u32)) {
        if self.slots.is_empty() {
            return;
        }
        let mask = self.slots.len() - 1;
        let mut slot = (key.slot_hash() >> self.shift) as usize;
        loop {
            let (stored, id) = self.slots[slot];
            if id == EMPTY_SLOT {
                return;
            }
            if stored == key {
                visit(id);
            }
            slot = (slot + 1) & mask;
        }
    }
}

/// A one-probe bit filter over fingerprints: "certainly absent" or "maybe present", with
/// 16 bits per entry and two bits of one word per fingerprint (about 1.5 % false positives,
/// against 6 % with one bit: each false positive is a probe of a large table that misses
/// the caches).
#[derive(Default)]
struct BitFilter {
    words: Vec<u64>,
}

impl BitFilter {
    fn build(fingerprints: &[u64]) -> Self {
        if fingerprints.is_empty() {
            return Self::default();
        }
        let words = (fingerprints.len() * 16 / 64).next_power_of_two().max(1);
        let mut filter = Self {
            words: vec![0; words],
        };
        for &fingerprint in fingerprints {
            let (word, bit) = filter.position(fingerprint);
            filter.words[word] |= bit;
        }
        filter
    }

    /// The word and its two bits: the fingerprint's low bits choose them, its high bits
    /// choose the slots of the tables the filter stands before.
    #[inline(always)]
    fn position(&self, fingerprint: u64) -> (usize, u64) {
        let word = (fingerprint >> 12) as usize & (self.words.len() - 1);
        (
            word,
            1 << (fingerprint & 63) | 1 << ((fingerprint >> 6) & 63),
        )
    }

    #[inline(always)]
    fn contains(&self, fingerprint: u64) -> bool {
        if self.words.is_empty() {
            return false;
        }
        let (word, bits) = self.position(fingerprint);
        self.words[word] & bits == bits
    }
}

/// The builder's map from canonical form to IoC id: slots hold `id + 1` (0 = empty), the
/// fingerprint of every id is kept for growing without rehashing the text.
#[derive(Default)]
struct DedupTable {
    slots: Vec<u32>,
    fingerprints: Vec<u64>,
}

impl DedupTable {
    fn with_capacity(ids: usize) -> Self {
        Self {
            slots: vec![0; (ids * 2).next_power_of_two().max(16)],
            fingerprints: Vec::with_capacity(ids),
        }
    }

    fn find(&self, fingerprint: u64, is_same: impl Fn(u32) -> bool) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut slot = fingerprint as usize & mask;
        loop {
            let entry = self.slots[slot];
            if entry == 0 {
                return None;
            }
            let id = entry - 1;
            if self.fingerprints[id as usize] == fingerprint && is_same(id) {
                return Some(id);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// `id` is the next id: the number of ids inserted so far.
    fn insert(&mut self, fingerprint: u64, id: u32) {
        self.fingerprints.push(fingerprint);
        if self.fingerprints.len() * 2 > self.slots.len() {
            let capacity = (self.slots.len() * 2).max(16);
            self.slots = vec![0; capacity];
            for (id, &fingerprint) in self.fingerprints.iter().enumerate() {
                Self::place(&mut self.slots, fingerprint, id as u32);
            }
        } else {
            Self::place(&mut self.slots, fingerprint, id);
        }
    }

    fn place(slots: &mut [u32], fingerprint: u64, id: u32) {
        let mask = slots.len() - 1;
        let mut slot = fingerprint as usize & mask;
        while slots[slot] != 0 {
            slot = (slot + 1) & mask;
        }
        slots[slot] = id + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

    proptest::proptest! {
        #[test]
        fn hex_digits_eight_at_a_time(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    4 => proptest::sample::select(b"0123456789abcdefABCDEF".to_vec()),
                    1 => proptest::num::u8::ANY,
                ],
                0..80,
            ),
        ) {
            proptest::prop_assert_eq!(is_hex(&bytes), bytes.iter().all(u8::is_ascii_hexdigit));
        }
    }

    proptest::proptest! {
        #[test]
        fn hex_prefix_is_the_decoded_first_eight_bytes(hex in "[0-9a-fA-F]{16,64}") {
            proptest::prop_assert_eq!(
                hex_prefix(hex.as_bytes()),
                u64::from_le_bytes(decode_hex::<8>(hex.as_bytes()))
            );
        }
    }

    /// [`words_hash`] and [`domain_suffixes`] as they read their bytes one at a time.
    fn words_hash_bytewise(bytes: &[u8], or_byte: u8) -> u64 {
        let mut hash = SEED ^ bytes.len() as u64;
        for word in bytes.chunks(8) {
            let mut padded = [0u8; 8];
            for (out, &c) in padded.iter_mut().zip(word) {
                *out = c | or_byte;
            }
            hash = mix_word(hash, u64::from_le_bytes(padded));
        }
        hash
    }

    fn domain_suffixes_bytewise(name: &[u8]) -> Vec<(usize, usize, u64)> {
        let mut suffixes = Vec::new();
        let mut end = name.len();
        let mut hash = SEED;
        loop {
            let start = name[..end]
                .iter()
                .rposition(|&c| c == b'.')
                .map_or(0, |dot| dot + 1);
            hash = mix_word(hash, words_hash_bytewise(&name[start..end], 0x20));
            suffixes.push((suffixes.len() + 1, start, finish(hash)));
            if start == 0 {
                return suffixes;
            }
            end = start - 1;
        }
    }

    proptest::proptest! {
        #[test]
        fn label_hashes_read_a_word_at_a_time(
            name in "[a-zA-Z0-9_.-]{0,40}|([a-z0-9]{0,12}\\.){1,5}[a-z]{0,9}",
            or_byte in proptest::sample::select(vec![0u8, 0x20]),
        ) {
            let bytes = name.as_bytes();
            proptest::prop_assert_eq!(words_hash(bytes, or_byte), words_hash_bytewise(bytes, or_byte));
            let mut suffixes = Vec::new();
            domain_suffixes(bytes, |labels, start, fingerprint| {
                suffixes.push((labels, start, fingerprint));
                true
            });
            proptest::prop_assert_eq!(&suffixes, &domain_suffixes_bytewise(bytes));
            // Dots past the name (a trailing one) must not count.
            let dots = bytes
                .iter()
                .enumerate()
                .filter(|&(_, &byte)| byte == b'.')
                .fold(1u64 << bytes.len(), |dots, (i, _)| dots | 1 << i);
            let tail = suffixes.iter().find(|&&(labels, _, _)| labels == 2).map(|&(_, start, _)| start);
            proptest::prop_assert_eq!(tail_start_at_dots(bytes, dots), tail);
        }

        #[test]
        fn tail_keys_depend_on_the_tail_alone_in_any_case(
            before in proptest::collection::vec(proptest::num::u8::ANY, 0..24),
            tail in "[a-zA-Z0-9_-]{1,20}\\.[a-zA-Z0-9_-]{1,20}",
        ) {
            let mut line = before.clone();
            line.extend_from_slice(tail.as_bytes());
            let lower = tail.to_ascii_lowercase();
            proptest::prop_assert_eq!(tail_key(&line, before.len()), tail_key(lower.as_bytes(), 0));
        }
    }

    #[test]
    fn tail_key_filters_keep_their_false_positive_rate() {
        // Random tails of a few letters: the filter's false positives stay near the 1.5 %
        // of a uniform hash (a weak key would crowd its words and bits).
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut tail = || {
            let mut text = String::new();
            for label in 0..2 {
                if label == 1 {
                    text.push('.');
                }
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                for i in 0..(2 + state % 9) {
                    text.push((b'a' + ((state >> (5 * i)) % 26) as u8) as char);
                }
            }
            text
        };
        let stored: std::collections::HashSet<String> = (0..100_000).map(|_| tail()).collect();
        let keys: Vec<u64> = stored
            .iter()
            .map(|tail| tail_key(tail.as_bytes(), 0))
            .collect();
        let filter = BitFilter::build(&keys);
        let probes: Vec<String> = (0..100_000)
            .map(|_| tail())
            .filter(|probe| !stored.contains(probe))
            .collect();
        let passed = probes
            .iter()
            .filter(|probe| filter.contains(tail_key(probe.as_bytes(), 0)))
            .count();
        let rate = passed as f64 / probes.len() as f64;
        assert!(rate < 0.03, "{rate}");
    }

    #[test]
    fn tail_keys_tell_tails_apart() {
        let keys: Vec<u64> = [
            "evil.com",
            "evil.co",
            "vil.com",
            "a-very-long-label.com",
            "very-long-label.com",
            "x.org",
        ]
        .iter()
        .map(|tail| tail_key(tail.as_bytes(), 0))
        .collect();
        for (i, key) in keys.iter().enumerate() {
            assert!(!keys[..i].contains(key), "{i}");
        }
    }

    #[test]
    fn hex_digits_and_their_neighbours() {
        for byte in 0..=255u8 {
            for position in 0..17 {
                let mut bytes = [b'a'; 17];
                bytes[position] = byte;
                assert_eq!(
                    is_hex(&bytes),
                    byte.is_ascii_hexdigit(),
                    "{byte} at {position}"
                );
            }
        }
    }

    fn index_of(iocs: &[&str]) -> IocIndex {
        let mut builder = IocIndexBuilder::new();
        for (source, value) in iocs.iter().enumerate() {
            builder
                .add(None, value, Window::default(), source as u32)
                .unwrap();
        }
        builder.build()
    }

    /// The canonical forms matched, sorted, each with the host as written when the match
    /// is on a URL's or authority's host.
    fn matches_in(index: &IocIndex, value: &str, form: ValueForm) -> Vec<(String, Option<String>)> {
        let mut candidates = Vec::new();
        index.match_value(value, form, &mut candidates);
        let mut found: Vec<_> = candidates
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
        found.sort();
        found
    }

    fn plain(index: &IocIndex, value: &str) -> Vec<String> {
        matches_in(index, value, ValueForm::Plain)
            .into_iter()
            .map(|(ioc, host)| {
                assert_eq!(host, None, "{value}");
                ioc
            })
            .collect()
    }

    fn on_host(index: &IocIndex, value: &str, form: ValueForm) -> Vec<(String, String)> {
        matches_in(index, value, form)
            .into_iter()
            .filter_map(|(ioc, host)| Some((ioc, host?)))
            .collect()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    #[test]
    fn domains_match_themselves_and_their_subdomains() {
        let index = index_of(&["evil.com"]);
        for value in ["evil.com", "a.b.evil.com", "WWW.Evil.Com.", "evil.com."] {
            assert_eq!(plain(&index, value), strings(&["evil.com"]), "{value}");
        }
        for value in [
            "evil.com.org",
            "notevil.com",
            "foo evil.com",
            "com",
            "evil.com..",
            "a..evil.com",
            "x/evil.com",
            "évil.com",
            "-",
            "",
        ] {
            assert!(plain(&index, value).is_empty(), "{value}");
        }
    }

    #[test]
    fn every_parent_domain_ioc_matches() {
        let index = index_of(&["evil.com", "a.evil.com"]);
        assert_eq!(
            plain(&index, "x.a.evil.com"),
            strings(&["a.evil.com", "evil.com"])
        );
        // Never the bare TLD, even with a TLD-looking IoC set around.
        let index = index_of(&["org.ru", "b.evil.com"]);
        assert_eq!(plain(&index, "x.org.ru"), strings(&["org.ru"]));
        assert!(plain(&index, "evil.com").is_empty());
        assert!(plain(&index, "c.evil.com").is_empty());
        assert_eq!(plain(&index, "A.B.Evil.COM"), strings(&["b.evil.com"]));
    }

    #[test]
    fn an_invalid_value_never_matches_through_its_valid_tail() {
        let index = index_of(&["evil.com"]);
        let long_label = format!("{}.evil.com", "a".repeat(64));
        let too_long = format!("{}.evil.com", vec!["b".repeat(60); 5].join("."));
        for value in [long_label.as_str(), too_long.as_str(), "a_-.x..evil.com"] {
            assert!(plain(&index, value).is_empty(), "{value}");
        }
        assert_eq!(plain(&index, "_a-.-x.evil.com"), strings(&["evil.com"]));
    }

    #[test]
    fn ipv4_matches_exactly_and_in_every_containing_cidr() {
        let index = index_of(&["1.2.3.4"]);
        assert_eq!(plain(&index, "1.2.3.4"), strings(&["1.2.3.4"]));
        for value in [
            "1.2.3.45",
            "001.2.3.4",
            "01.2.3.4",
            "::ffff:1.2.3.4",
            "1.2.3.4.",
            "1.2.3.4/32",
        ] {
            assert!(plain(&index, value).is_empty(), "{value}");
        }
        let index = index_of(&[
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.2.3/32",
            "0.0.0.0/0",
            "10.1.2.0/23",
        ]);
        assert_eq!(
            plain(&index, "10.1.2.3"),
            strings(&[
                "0.0.0.0/0",
                "10.0.0.0/8",
                "10.1.0.0/16",
                "10.1.2.0/23",
                "10.1.2.3/32"
            ])
        );
        assert_eq!(
            plain(&index, "10.1.3.255"),
            strings(&["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/23"])
        );
        assert_eq!(
            plain(&index, "10.2.0.0"),
            strings(&["0.0.0.0/0", "10.0.0.0/8"])
        );
        assert_eq!(plain(&index, "11.0.0.0"), strings(&["0.0.0.0/0"]));
        // CIDRs are of one family: an IPv6 value is never inside an IPv4 network.
        assert!(plain(&index, "::ffff:10.1.2.3").is_empty());
    }

    #[test]
    fn ipv6_compares_by_value_and_matches_cidrs_of_its_family() {
        let index = index_of(&[
            "2001:db8::1",
            "2001:470:36:1250::/60",
            "::/0",
            "::ffff:0.0.0.0/96",
        ]);
        assert_eq!(
            plain(&index, "2001:0DB8:0000:0000:0000:0000:0000:0001"),
            strings(&["2001:db8::1", "::/0"])
        );
        assert_eq!(
            plain(&index, "2001:470:36:125f::dead"),
            strings(&["2001:470:36:1250::/60", "::/0"])
        );
        assert_eq!(plain(&index, "2001:470:36:1260::"), strings(&["::/0"]));
        assert_eq!(
            plain(&index, "::ffff:1.2.3.4"),
            strings(&["::/0", "::ffff:0.0.0.0/96"])
        );
        // IPv4 and IPv4-mapped IPv6 are not equivalent.
        assert!(plain(&index, "1.2.3.4").is_empty());
        for value in [
            "fe80::1%eth0",
            "[2001:db8::1]",
            "2001:db8::1 ",
            "2001:db8:::1",
        ] {
            assert!(plain(&index, value).is_empty(), "{value}");
        }
    }

    #[test]
    fn hashes_match_ignoring_case_at_their_exact_length() {
        let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let index = index_of(&[MD5, sha1, sha256]);
        assert_eq!(plain(&index, &MD5.to_uppercase()), strings(&[MD5]));
        assert_eq!(plain(&index, sha1), strings(&[sha1]));
        assert_eq!(plain(&index, &sha256.to_uppercase()), strings(&[sha256]));
        // All digits is a hash too, not a failed IPv4.
        let digits = "12345678901234567890123456789012";
        assert_eq!(plain(&index_of(&[digits]), digits), strings(&[digits]));
        let doubled = format!("{MD5}{MD5}");
        for value in [
            &doubled,
            &MD5[..31],
            &format!("{MD5}0"),
            &format!(" {MD5}"),
            &sha1[..32],
        ] {
            assert!(plain(&index, value).is_empty(), "{value}");
        }
    }

    #[test]
    fn urls_match_by_normalised_equality_only() {
        let index = index_of(&["http://bad.example/gate.php", "https://x.example/"]);
        assert_eq!(
            plain(&index, "HTTP://BAD.Example:80/gate.php#x"),
            strings(&["http://bad.example/gate.php"])
        );
        assert_eq!(
            plain(&index, "http://user:pw@bad.example./gate.php"),
            strings(&["http://bad.example/gate.php"])
        );
        for value in [
            "http://bad.example/GATE.php",
            "http://bad.example/gate.phpx",
            "http://bad.example/gate.php?a=1",
            "http://bad.example/gate.php/",
            "https://bad.example/gate.php",
            "http://bad.example:8080/gate.php",
            "bad.example/gate.php",
            "http://bad.example/gate.php x",
        ] {
            assert!(plain(&index, value).is_empty(), "{value}");
        }
        assert_eq!(
            plain(&index, "https://x.example"),
            strings(&["https://x.example/"])
        );
        assert_eq!(
            plain(&index, "HTTPS://X.EXAMPLE:443#top"),
            strings(&["https://x.example/"])
        );
        // A URL IoC never matches a domain value.
        assert!(plain(&index, "x.example").is_empty());
        // Longer than the stack buffer: still normalised and compared.
        let long = format!("http://bad.example/{}", "p".repeat(5000));
        let index = index_of(&[&long]);
        assert_eq!(
            plain(&index, &long.replace("http://bad", "HTTP://BAD")),
            strings(&[&long])
        );
    }

    #[test]
    fn a_urls_host_is_checked_as_its_own_value() {
        let index = index_of(&["evil.com", "10.0.0.0/8", "2001:db8::/32", "1.2.3.4"]);
        let host = |value, ioc: &str, host: &str| {
            assert_eq!(
                matches_in(&index, value, ValueForm::Plain),
                vec![(ioc.to_owned(), Some(host.to_owned()))],
                "{value}"
            );
        };
        host("https://cdn.evil.com/a.js", "evil.com", "cdn.evil.com");
        host(
            "http://u:p@CDN.Evil.com.:8080/x?y#z",
            "evil.com",
            "CDN.Evil.com.",
        );
        host("http://10.9.9.9:8080/x", "10.0.0.0/8", "10.9.9.9");
        host("ftp://[2001:DB8::5]:21/", "2001:db8::/32", "2001:DB8::5");
        host("http://1.2.3.4", "1.2.3.4", "1.2.3.4");
        // Not a URL at all, or a domain only inside the path or query.
        for value in [
            "Mozilla/5.0 (+http://evil.com/bot)",
            "http://x.example/evil.com",
            "http://x.example/?u=http://evil.com/",
            "http://evil.com:99999/",
            "http://01.2.3.4/",
            "evil.com:443",
        ] {
            assert!(plain(&index, value).is_empty(), "{value}");
        }
    }

    #[test]
    fn a_url_ioc_and_the_hosts_iocs_match_together() {
        let index = index_of(&["http://cdn.evil.com/a.js", "evil.com"]);
        assert_eq!(
            matches_in(&index, "http://cdn.evil.com/a.js", ValueForm::Plain),
            vec![
                ("evil.com".to_owned(), Some("cdn.evil.com".to_owned())),
                ("http://cdn.evil.com/a.js".to_owned(), None),
            ]
        );
    }

    #[test]
    fn authority_form_checks_only_the_host() {
        let index = index_of(&["evil.com", "1.2.3.0/24", "::1", "http://evil.com:443/"]);
        let authority = ValueForm::Authority;
        assert_eq!(
            on_host(&index, "Www.Evil.com:443", authority),
            vec![("evil.com".to_owned(), "Www.Evil.com".to_owned())]
        );
        assert_eq!(
            on_host(&index, "1.2.3.9:8443", authority),
            vec![("1.2.3.0/24".to_owned(), "1.2.3.9".to_owned())]
        );
        assert_eq!(
            on_host(&index, "[0::1]:443", authority),
            vec![("::1".to_owned(), "0::1".to_owned())]
        );
        for value in [
            "evil.com",
            "evil.com:",
            "[::1]",
            "::1:443",
            "evil.com:443x",
            "https://evil.com:443/",
        ] {
            assert!(matches_in(&index, value, authority).is_empty(), "{value}");
        }
        // The same text read plainly has no shape.
        assert!(plain(&index, "evil.com:443").is_empty());
    }

    #[test]
    fn values_are_compared_as_a_whole() {
        let index = index_of(&["evil.com", "1.2.3.4", MD5]);
        for value in [
            "Mozilla/5.0 (+http://evil.com/bot)",
            "evil.com,1.2.3.4",
            "x evil.com",
            "1.2.3.4:80",
            "(1.2.3.4)",
            &format!("{MD5}{MD5}"),
            &format!("md5={MD5}"),
        ] {
            assert!(plain(&index, value).is_empty(), "{value}");
        }
    }

    const DAY2: Micros = 1_772_409_600_000_000; // 2026-03-02T00:00:00Z
    const HOUR: Micros = 3_600_000_000;
    const DAY: Micros = 24 * HOUR;

    #[test]
    fn windows_are_inclusive_at_microsecond_precision() {
        let mut builder = IocIndexBuilder::new();
        let first_seen = DAY2 + 10_500_000;
        let id = builder
            .add(
                Some("domain"),
                "evil.com",
                Window {
                    first_seen: Some(first_seen),
                    last_seen: None,
                },
                7,
            )
            .unwrap();
        let index = builder.build();
        assert!(!index.is_active(id, Some(DAY2 + 10_499_999)));
        assert!(index.is_active(id, Some(DAY2 + 10_500_000)));
        assert!(index.is_active(id, Some(i64::MAX)));
        assert!(!index.is_active(id, None));
        let mut sources = Vec::new();
        index.active_sources(id, Some(DAY2 + 10_499_999), &mut sources);
        assert!(sources.is_empty());
        index.active_sources(id, Some(DAY2 + 10_500_000), &mut sources);
        assert_eq!(sources, [7]);
    }

    #[test]
    fn an_ioc_is_active_when_any_of_its_attributes_is() {
        let mut builder = IocIndexBuilder::new();
        let ended = Window {
            first_seen: None,
            last_seen: Some(DAY2),
        };
        let started = Window {
            first_seen: Some(DAY2 + DAY),
            last_seen: None,
        };
        let id = builder.add(Some("ip-dst"), "1.2.3.4", ended, 1).unwrap();
        assert_eq!(builder.add(Some("ip-src"), " 1.2.3.4 ", started, 2), Ok(id));
        let index = builder.build();
        assert_eq!(index.len(), 1);
        assert_eq!(index.sources(id), [1, 2]);
        assert!(index.is_active(id, Some(DAY2)));
        assert!(!index.is_active(id, Some(DAY2 + HOUR)));
        assert!(index.is_active(id, Some(DAY2 + DAY)));
        assert!(!index.is_active(id, None));
        let mut sources = Vec::new();
        index.active_sources(id, Some(DAY2 + 2 * DAY), &mut sources);
        assert_eq!(sources, [2]);
    }

    #[test]
    fn an_unbounded_attribute_makes_the_ioc_always_active() {
        let mut builder = IocIndexBuilder::new();
        let windowed = Window {
            first_seen: Some(DAY2),
            last_seen: Some(DAY2 + HOUR),
        };
        let id = builder.add(None, "5.6.7.8", windowed, 1).unwrap();
        builder
            .add(Some("ip-dst"), "5.6.7.8", Window::default(), 2)
            .unwrap();
        let index = builder.build();
        for ts in [None, Some(0), Some(DAY2), Some(DAY2 + DAY), Some(i64::MIN)] {
            assert!(index.is_active(id, ts), "{ts:?}");
        }
        let mut sources = Vec::new();
        index.active_sources(id, None, &mut sources);
        assert_eq!(sources, [2]);
        sources.clear();
        index.active_sources(id, Some(DAY2), &mut sources);
        assert_eq!(sources, [1, 2]);
    }

    #[test]
    fn same_canonical_form_is_one_ioc() {
        let mut builder = IocIndexBuilder::with_capacity(4);
        let a = builder
            .add(None, "Evil.COM.", Window::default(), 10)
            .unwrap();
        let b = builder
            .add(Some("hostname"), "evil.com", Window::default(), 11)
            .unwrap();
        let c = builder
            .add(Some("ip-dst"), "10.1.2.3/8", Window::default(), 12)
            .unwrap();
        let d = builder
            .add(None, "10.0.0.0/8", Window::default(), 13)
            .unwrap();
        let e = builder
            .add(Some("url"), "HTTP://Evil.COM:80", Window::default(), 14)
            .unwrap();
        let f = builder
            .add(Some("md5"), &MD5.to_uppercase(), Window::default(), 15)
            .unwrap();
        assert_eq!((a, c), (b, d));
        assert_eq!(
            builder.add(Some("email-src"), "a@evil.com", Window::default(), 16),
            Err(IocRejection::UnsupportedType("email-src".to_owned()))
        );
        assert_eq!(builder.len(), 4);
        let index = builder.build();
        assert_eq!(index.len(), 4);
        assert_eq!(
            (index.canonical(a), index.kind(a), index.sources(a)),
            ("evil.com", IocKind::Domain, &[10, 11][..])
        );
        assert_eq!(
            (index.canonical(c), index.kind(c), index.sources(c)),
            ("10.0.0.0/8", IocKind::Cidr, &[12, 13][..])
        );
        assert_eq!(
            (index.canonical(e), index.kind(e)),
            ("http://evil.com/", IocKind::Url)
        );
        assert_eq!((index.canonical(f), index.kind(f)), (MD5, IocKind::Hash));
    }

    #[test]
    fn an_empty_index_matches_nothing() {
        let index = IocIndexBuilder::new().build();
        assert!(index.is_empty());
        for value in ["evil.com", "1.2.3.4", "::1", MD5, "http://evil.com/", ""] {
            assert!(plain(&index, value).is_empty());
            assert!(matches_in(&index, value, ValueForm::Authority).is_empty());
        }
    }

    #[test]
    fn many_iocs_sharing_fingerprint_buckets_stay_distinct() {
        let values: Vec<String> = (0..5000)
            .map(|i| format!("h{i}.evil{}.com", i % 7))
            .collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let index = index_of(&refs);
        assert_eq!(index.len(), 5000);
        for value in &values {
            assert_eq!(plain(&index, &format!("x.{value}")), vec![value.clone()]);
        }
        assert!(plain(&index, "h5000.evil0.com").is_empty());
    }
}

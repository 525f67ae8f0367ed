//! `rpz`: a DNS response policy zone (misp-reference §8, stix-taxii-reference D.4) for
//! BIND, Unbound, PowerDNS Recursor and Knot Resolver.
//!
//! The zone is an ordinary master file: `$TTL`, `SOA` and `NS` at the apex, then one
//! record per trigger, owner names relative to the origin the resolver's configuration
//! gives the zone. Triggers, as MISP writes them:
//! - `ip-src`, `ip-dst` and the address of `domain|ip`: `<prefix>.<reversed address>.rpz-ip`
//!   (IPv6 as reversed 16-bit words, the longest run of zero words as `zz`, exactly the
//!   canonical form BIND checks for);
//! - `domain` and the name of `domain|ip`: the name and `*.<name>` (its subdomains);
//! - `hostname`: the name alone.
//!
//! Every trigger carries the policy's action: `CNAME .` (NXDOMAIN, MISP's default),
//! `CNAME *.` (NODATA), `CNAME rpz-drop.`, `CNAME rpz-passthru.`, `CNAME rpz-tcp-only.`,
//! or for Local-Data the walled garden (an `A`/`AAAA` record for an address, a `CNAME`
//! for a name). Values that could break the zone (invalid names or addresses, names too
//! long to fit under a zone origin of up to 32 characters) are left out and reported.

use std::collections::HashSet;
use std::net::IpAddr;

use super::{ExportItem, ExportWriter, Network, OptionError, Skipped, dns_name};

/// What a resolver does with a query that hits a trigger (MISP's `policy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RpzPolicy {
    Drop,
    #[default]
    Nxdomain,
    Nodata,
    /// Answer with the walled garden instead.
    LocalData,
    Passthru,
    TcpOnly,
}

impl RpzPolicy {
    pub const ALL: [RpzPolicy; 6] = [
        Self::Drop,
        Self::Nxdomain,
        Self::Nodata,
        Self::LocalData,
        Self::Passthru,
        Self::TcpOnly,
    ];

    /// MISP's name for the policy.
    pub fn name(self) -> &'static str {
        match self {
            Self::Drop => "DROP",
            Self::Nxdomain => "NXDOMAIN",
            Self::Nodata => "NODATA",
            Self::LocalData => "Local-Data",
            Self::Passthru => "PASSTHRU",
            Self::TcpOnly => "TCP-only",
        }
    }

    /// MISP's number for the policy in its `Plugin.RPZ_policy` setting.
    pub fn setting_id(self) -> i64 {
        match self {
            Self::Drop => 0,
            Self::Nxdomain => 1,
            Self::Nodata => 2,
            Self::LocalData => 3,
            Self::Passthru => 4,
            Self::TcpOnly => 5,
        }
    }

    /// A policy by MISP name (any case) or setting number.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        Self::ALL.into_iter().find(|policy| {
            policy.name().eq_ignore_ascii_case(text) || policy.setting_id().to_string() == text
        })
    }

    fn explanation(self) -> &'static str {
        match self {
            Self::Drop => "drop the query without answering",
            Self::Nxdomain => "answer that the name does not exist, whatever the real answer",
            Self::Nodata => "answer that the name has no records of the asked type",
            Self::LocalData => "answer with the walled garden instead",
            Self::Passthru => "answer normally but log the hit (for testing)",
            Self::TcpOnly => "make the client ask again over TCP",
        }
    }
}

/// The zone's apex records and policy (MISP's `Plugin.RPZ_*` settings and restSearch
/// filters of the same names). `Default` gives MISP's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpzOptions {
    pub policy: RpzPolicy,
    /// Where Local-Data sends hits: an address (`A`/`AAAA` record) or a host name.
    pub walled_garden: String,
    pub ns: String,
    /// A second name server; empty = none.
    pub ns_alt: String,
    /// The SOA mailbox, in DNS form (`root.localhost`).
    pub email: String,
    /// `$date` becomes YYYYMMDD and `$time` Unix seconds, both of the export's clock.
    pub serial: String,
    pub refresh: String,
    pub retry: String,
    pub expiry: String,
    pub minimum_ttl: String,
    pub ttl: String,
}

impl Default for RpzOptions {
    fn default() -> Self {
        Self {
            policy: RpzPolicy::default(),
            walled_garden: "127.0.0.1".into(),
            ns: "localhost.".into(),
            ns_alt: String::new(),
            email: "root.localhost".into(),
            serial: "$date00".into(),
            refresh: "2h".into(),
            retry: "30m".into(),
            expiry: "30d".into(),
            minimum_ttl: "1h".into(),
            ttl: "1w".into(),
        }
    }
}

impl RpzOptions {
    /// The SOA serial at `now`.
    pub fn serial_at(&self, now: i64) -> String {
        let moment = time::OffsetDateTime::from_unix_timestamp(now)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let date = format!(
            "{:04}{:02}{:02}",
            moment.year(),
            u8::from(moment.month()),
            moment.day()
        );
        self.serial
            .trim()
            .replace("$date", &date)
            .replace("$time", &now.to_string())
    }

    /// Rejects values that would make the zone unloadable, naming MISP's parameter.
    pub fn validate(&self, now: i64) -> Result<(), OptionError> {
        let serial = self.serial_at(now);
        if serial.is_empty()
            || !serial.bytes().all(|b| b.is_ascii_digit())
            || serial.parse::<u32>().is_err()
        {
            return Err(OptionError {
                field: "serial",
                message: format!(
                    "the serial \"{serial}\" is not a number from 0 to 4294967295 \
                     ($date and $time are replaced first)."
                ),
            });
        }
        for (field, value) in [
            ("refresh", &self.refresh),
            ("retry", &self.retry),
            ("expiry", &self.expiry),
            ("minimum_ttl", &self.minimum_ttl),
            ("ttl", &self.ttl),
        ] {
            if !is_ttl(value) {
                return Err(OptionError {
                    field,
                    message: format!("\"{value}\" is not a DNS time such as 3600, 1h or 1w2d."),
                });
            }
        }
        for (field, value, required) in [
            ("ns", &self.ns, true),
            ("ns_alt", &self.ns_alt, false),
            ("email", &self.email, true),
        ] {
            if (required || !value.is_empty()) && !is_master_file_name(value) {
                return Err(OptionError {
                    field,
                    message: format!("\"{value}\" is not a DNS name."),
                });
            }
        }
        if self.policy == RpzPolicy::LocalData
            && self.walled_garden.trim().parse::<IpAddr>().is_err()
            && !is_master_file_name(self.walled_garden.trim())
        {
            return Err(OptionError {
                field: "walled_garden",
                message: format!(
                    "\"{}\" is neither an IP address nor a host name.",
                    self.walled_garden
                ),
            });
        }
        Ok(())
    }

    /// The record data every trigger carries.
    fn action(&self) -> String {
        match self.policy {
            RpzPolicy::Drop => "CNAME rpz-drop.".into(),
            RpzPolicy::Nxdomain => "CNAME .".into(),
            RpzPolicy::Nodata => "CNAME *.".into(),
            RpzPolicy::Passthru => "CNAME rpz-passthru.".into(),
            RpzPolicy::TcpOnly => "CNAME rpz-tcp-only.".into(),
            RpzPolicy::LocalData => {
                let garden = self.walled_garden.trim();
                match garden.parse::<IpAddr>() {
                    Ok(IpAddr::V4(v4)) => format!("A {v4}"),
                    Ok(IpAddr::V6(v6)) => format!("AAAA {v6}"),
                    Err(_) => format!("CNAME {}.", garden.trim_end_matches('.')),
                }
            }
        }
    }
}

/// A TTL in BIND's notation: digits, or digit runs each followed by a unit.
fn is_ttl(value: &str) -> bool {
    let value = value.trim();
    if value.is_empty() {
        return false;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    let mut digits = 0;
    for b in value.bytes() {
        match b {
            b'0'..=b'9' => digits += 1,
            b's' | b'm' | b'h' | b'd' | b'w' | b'S' | b'M' | b'H' | b'D' | b'W' if digits > 0 => {
                digits = 0;
            }
            _ => return false,
        }
    }
    digits == 0
}

/// A name that is safe in a master file as written: letters, digits, `-`, `_`, dots
/// between non-empty labels, an optional final dot.
fn is_master_file_name(value: &str) -> bool {
    let name = value.strip_suffix('.').unwrap_or(value);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Owner names longer than this may not fit under the zone's origin (the whole name is
/// at most 253 characters); this leaves room for an origin of 32.
const MAX_OWNER_CHARS: usize = 220;

/// The `rpz-ip` owner name of an address or network, in BIND's canonical form; None for a
/// prefix length of 0, which RPZ cannot express.
pub(crate) fn rpz_ip_owner(network: &Network) -> Option<String> {
    match network.addr {
        IpAddr::V4(v4) => ipv4_owner(v4.octets(), network.prefix),
        IpAddr::V6(v6) => {
            if let Some(mapped) = v6.to_ipv4_mapped()
                && network.prefix >= 96
            {
                return ipv4_owner(mapped.octets(), network.prefix - 96);
            }
            if network.prefix == 0 {
                return None;
            }
            let reversed: Vec<u16> = v6.segments().iter().rev().copied().collect();
            let (mut best_first, mut best_len) = (usize::MAX, 0);
            let (mut run_first, mut run_len) = (usize::MAX, 0);
            for (n, word) in reversed.iter().enumerate() {
                if *word != 0 {
                    (run_first, run_len) = (usize::MAX, 0);
                    continue;
                }
                run_len += 1;
                if run_first == usize::MAX {
                    run_first = n;
                } else if run_len >= best_len {
                    // Ties go to the later run in reversed order, as BIND writes it.
                    (best_first, best_len) = (run_first, run_len);
                }
            }
            let mut owner = network.prefix.to_string();
            let mut n = 0;
            while n < 8 {
                if n == best_first {
                    owner.push_str(".zz");
                    n += best_len;
                } else {
                    owner.push_str(&format!(".{:x}", reversed[n]));
                    n += 1;
                }
            }
            owner.push_str(".rpz-ip");
            Some(owner)
        }
    }
}

fn ipv4_owner(octets: [u8; 4], prefix: u8) -> Option<String> {
    (prefix > 0).then(|| {
        format!(
            "{prefix}.{}.{}.{}.{}.rpz-ip",
            octets[3], octets[2], octets[1], octets[0]
        )
    })
}

/// Writes the zone as triggers arrive; keeps only the owner names already written.
#[derive(Debug)]
pub struct RpzWriter {
    options: RpzOptions,
    now: i64,
    action: String,
    owners: HashSet<String>,
    skipped: Skipped,
}

impl RpzWriter {
    /// `options` should have passed [`RpzOptions::validate`].
    pub fn new(options: &RpzOptions, now: i64) -> Self {
        Self {
            action: options.action(),
            options: options.clone(),
            now,
            owners: HashSet::new(),
            skipped: Skipped::default(),
        }
    }

    fn record(&mut self, out: &mut String, owner: String) {
        if owner.len() > MAX_OWNER_CHARS {
            self.skipped
                .add("too long for the zone once its origin is appended", &owner);
            return;
        }
        if self.owners.contains(&owner) {
            return;
        }
        out.push_str(&owner);
        out.push(' ');
        out.push_str(&self.action);
        out.push('\n');
        self.owners.insert(owner);
    }

    fn address(&mut self, out: &mut String, raw: &str) {
        match Network::parse(raw).as_ref().and_then(rpz_ip_owner) {
            Some(owner) => self.record(out, owner),
            None => self
                .skipped
                .add("not an IP address or network RPZ can express", raw),
        }
    }

    fn name(&mut self, out: &mut String, raw: &str, with_subdomains: bool) {
        let Some(name) = dns_name(raw) else {
            self.skipped.add("not a valid DNS name", raw);
            return;
        };
        if with_subdomains {
            if name.len() + 2 > MAX_OWNER_CHARS {
                self.skipped
                    .add("too long for the zone once its origin is appended", &name);
                return;
            }
            self.record(out, name.clone());
            self.record(out, format!("*.{name}"));
        } else {
            self.record(out, name);
        }
    }
}

impl ExportWriter for RpzWriter {
    fn reads_attribute_details(&self) -> bool {
        false
    }

    fn content_type(&self) -> &'static str {
        "text/plain; charset=UTF-8"
    }

    fn begin(&mut self, out: &mut String) {
        let options = &self.options;
        out.push_str(&format!("$TTL {}\n", options.ttl.trim()));
        out.push_str(&format!(
            "@ SOA {} {} ({} {} {} {} {})\n",
            options.ns.trim(),
            options.email.trim(),
            options.serial_at(self.now),
            options.refresh.trim(),
            options.retry.trim(),
            options.expiry.trim(),
            options.minimum_ttl.trim(),
        ));
        out.push_str(&format!("  NS {}\n", options.ns.trim()));
        if !options.ns_alt.trim().is_empty() {
            out.push_str(&format!("  NS {}\n", options.ns_alt.trim()));
        }
        out.push_str("; Response policy zone from Kizuna.\n");
        out.push_str(&format!(
            "; Policy {}: {}.\n",
            options.policy.name(),
            options.policy.explanation()
        ));
        out.push_str(
            "; <name> and *.<name> match a domain and its subdomains; \
             <prefix>.<reversed address>.rpz-ip matches answers holding that address.\n",
        );
    }

    fn attribute(&mut self, out: &mut String, item: &ExportItem<'_>) {
        let attribute = item.attribute;
        match attribute.attr_type.as_str() {
            "ip-src" | "ip-dst" => self.address(out, &attribute.value1),
            "domain" => self.name(out, &attribute.value1, true),
            "hostname" => self.name(out, &attribute.value1, false),
            "domain|ip" => {
                self.name(out, &attribute.value1, true);
                self.address(out, &attribute.value2);
            }
            _ => {}
        }
    }

    fn finish(&mut self, _out: &mut String) {}

    fn warnings(&self) -> Vec<String> {
        self.skipped.warnings("rpz")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(raw: &str) -> Option<String> {
        rpz_ip_owner(&Network::parse(raw).unwrap())
    }

    #[test]
    fn ipv4_triggers_reverse_the_octets_and_clear_host_bits() {
        assert_eq!(owner("198.51.100.3").unwrap(), "32.3.100.51.198.rpz-ip");
        assert_eq!(owner("192.0.2.77/24").unwrap(), "24.0.2.0.192.rpz-ip");
        assert_eq!(owner("0.0.0.0/0"), None);
    }

    #[test]
    fn ipv6_triggers_use_bind_canonical_zz() {
        assert_eq!(owner("2001:db8::1").unwrap(), "128.1.zz.db8.2001.rpz-ip");
        // Two equal zero runs: BIND compresses the later one in reversed order, which is
        // the first in ordinary notation.
        assert_eq!(
            owner("2001:db8:0:0:1:0:0:1").unwrap(),
            "128.1.0.0.1.zz.db8.2001.rpz-ip"
        );
        // A single zero word is never compressed.
        assert_eq!(
            owner("2001:db8:0:1:1:1:1:1").unwrap(),
            "128.1.1.1.1.1.0.db8.2001.rpz-ip"
        );
        assert_eq!(owner("2001:db8::/32").unwrap(), "32.zz.db8.2001.rpz-ip");
        assert_eq!(owner("::ffff:192.0.2.1").unwrap(), "32.1.2.0.192.rpz-ip");
        assert_eq!(owner("::1").unwrap(), "128.1.zz.rpz-ip");
    }

    #[test]
    fn policies_parse_by_misp_name_or_number() {
        assert_eq!(RpzPolicy::parse("Local-Data"), Some(RpzPolicy::LocalData));
        assert_eq!(RpzPolicy::parse("nxdomain"), Some(RpzPolicy::Nxdomain));
        assert_eq!(RpzPolicy::parse("0"), Some(RpzPolicy::Drop));
        assert_eq!(RpzPolicy::parse("9"), None);
        assert_eq!(RpzPolicy::default(), RpzPolicy::Nxdomain);
    }

    #[test]
    fn serials_follow_the_template() {
        let options = RpzOptions::default();
        assert_eq!(options.serial_at(1_700_000_000), "2023111400");
        let timed = RpzOptions {
            serial: "$time".into(),
            ..RpzOptions::default()
        };
        assert_eq!(timed.serial_at(1_700_000_000), "1700000000");
    }

    #[test]
    fn options_that_would_break_the_zone_are_refused() {
        let now = 1_700_000_000;
        assert_eq!(RpzOptions::default().validate(now), Ok(()));
        let bad = |options: RpzOptions| options.validate(now).unwrap_err().field;
        let base = RpzOptions::default;
        assert_eq!(
            bad(RpzOptions {
                ns: "ns1 ; evil".into(),
                ..base()
            }),
            "ns"
        );
        assert_eq!(
            bad(RpzOptions {
                ttl: "1 week".into(),
                ..base()
            }),
            "ttl"
        );
        assert_eq!(
            bad(RpzOptions {
                serial: "$date000".into(),
                ..base()
            }),
            "serial"
        );
        assert_eq!(
            bad(RpzOptions {
                policy: RpzPolicy::LocalData,
                walled_garden: "not a host".into(),
                ..base()
            }),
            "walled_garden"
        );
        assert!(is_ttl("1w2d") && is_ttl("3600") && !is_ttl("h1") && !is_ttl("1h2"));
    }

    #[test]
    fn walled_gardens_are_address_records_or_absolute_names() {
        let with = |garden: &str| {
            RpzOptions {
                policy: RpzPolicy::LocalData,
                walled_garden: garden.into(),
                ..RpzOptions::default()
            }
            .action()
        };
        assert_eq!(with("127.0.0.1"), "A 127.0.0.1");
        assert_eq!(with("2001:db8::53"), "AAAA 2001:db8::53");
        assert_eq!(with("garden.example"), "CNAME garden.example.");
    }
}

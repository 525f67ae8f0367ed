//! MISP's correlation rules (misp-reference §6) as pure functions: which values of an attribute
//! correlate, and the IP/CIDR containment of advanced correlation.

use crate::attribute_types::{PRIMARY_ONLY_CORRELATING_TYPES, non_correlating};
use ipnet::IpNet;
use std::net::IpAddr;

/// The default cap of MISP (`MISP.correlation_limit` code fallback): a value found in more
/// attributes of other events than this is over-correlating and shows no correlations.
pub const DEFAULT_CORRELATION_LIMIT: usize = 20;

/// Types whose values take part in CIDR containment.
pub const IP_TYPES: &[&str] = &["ip-src", "ip-dst", "ip-src|port", "ip-dst|port"];

/// The values an attribute correlates on: value1, plus value2 of composites that are not
/// primary-only. Empty for non-correlating types.
pub fn correlating_values<'a>(attr_type: &str, value1: &'a str, value2: &'a str) -> Vec<&'a str> {
    if non_correlating(attr_type) {
        return Vec::new();
    }
    let mut values = Vec::with_capacity(2);
    if !value1.is_empty() {
        values.push(value1);
    }
    if !value2.is_empty() && !PRIMARY_ONLY_CORRELATING_TYPES.contains(&attr_type) {
        values.push(value2);
    }
    values
}

pub fn is_ip_type(attr_type: &str) -> bool {
    IP_TYPES.contains(&attr_type)
}

/// A CIDR block written `address/prefix` (not a bare address).
pub fn parse_cidr(value: &str) -> Option<IpNet> {
    if !value.contains('/') {
        return None;
    }
    value.parse::<IpNet>().ok().map(|net| net.trunc())
}

pub fn parse_ip(value: &str) -> Option<IpAddr> {
    value.parse().ok()
}

/// A SQL LIKE prefix every address inside `net` starts with in MISP's canonical text form, so
/// candidates can be read through the value index and then checked exactly. None when the
/// block is too wide for a useful prefix (IPv4 shorter than /8, IPv6 shorter than /16).
pub fn containment_prefix(net: &IpNet) -> Option<String> {
    match net {
        IpNet::V4(v4) => {
            let octets = usize::from(v4.prefix_len() / 8);
            if octets == 0 {
                return None;
            }
            let address = v4.network().octets();
            let parts: Vec<String> = address[..octets.min(4)].iter().map(u8::to_string).collect();
            if octets >= 4 {
                Some(parts.join("."))
            } else {
                Some(format!("{}.%", parts.join(".")))
            }
        }
        IpNet::V6(v6) => {
            if v6.prefix_len() < 16 {
                return None;
            }
            // Only the first group is stable in compressed text ("2001:db8::1").
            let first = v6.network().segments()[0];
            if first == 0 {
                return None;
            }
            Some(format!("{first:x}:%"))
        }
    }
}

/// Whether `value` (an address, or an `address|port` half already split) lies in `net`.
pub fn net_contains(net: &IpNet, value: &str) -> bool {
    parse_ip(value).is_some_and(|address| net.contains(&address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composites_correlate_on_both_halves_unless_primary_only() {
        assert_eq!(
            correlating_values("filename|md5", "a.exe", "d41d8cd98f00b204e9800998ecf8427e"),
            ["a.exe", "d41d8cd98f00b204e9800998ecf8427e"]
        );
        assert_eq!(
            correlating_values("ip-dst|port", "1.2.3.4", "80"),
            ["1.2.3.4"]
        );
        assert!(correlating_values("comment", "x", "").is_empty());
    }

    #[test]
    fn cidr_prefixes_and_containment() {
        let net = parse_cidr("10.20.0.0/16").unwrap();
        assert_eq!(containment_prefix(&net).as_deref(), Some("10.20.%"));
        assert!(net_contains(&net, "10.20.3.4"));
        assert!(!net_contains(&net, "10.21.3.4"));
        let narrow = parse_cidr("192.168.1.0/25").unwrap();
        assert_eq!(containment_prefix(&narrow).as_deref(), Some("192.168.1.%"));
        assert!(!net_contains(&narrow, "192.168.1.200"));
        assert_eq!(containment_prefix(&parse_cidr("0.0.0.0/4").unwrap()), None);
        let v6 = parse_cidr("2001:db8::/32").unwrap();
        assert_eq!(containment_prefix(&v6).as_deref(), Some("2001:%"));
        assert!(net_contains(&v6, "2001:db8::1"));
        assert!(parse_cidr("10.0.0.1").is_none());
    }
}

//! Who is on the other end of the connection: the client's IP address (behind trusted proxies,
//! the one they report) and address blocks (`10.0.0.0/8`, `2001:db8::/32`) to match it with.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use std::convert::Infallible;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The client's address, when known. Requests served in-process (tests) have none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl ClientAddress {
    /// The client of a connection from `peer`. Only when `peer` is one of the `trusted`
    /// proxies is `X-Forwarded-For` believed: read from the right, the first address that is
    /// not itself a trusted proxy is the client (anything left of it could be forged).
    pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpBlock]) -> Self {
        let Some(peer) = peer.map(|address| address.to_canonical()) else {
            return ClientAddress(None);
        };
        let is_trusted = |address: IpAddr| trusted.iter().any(|block| block.contains(address));
        if !is_trusted(peer) {
            return ClientAddress(Some(peer));
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        let mut client = peer;
        for hop in forwarded.iter().rev() {
            let Ok(address) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = address.to_canonical();
            if !is_trusted(client) {
                break;
            }
        }
        ClientAddress(Some(client))
    }

    pub fn ip(self) -> Option<IpAddr> {
        self.0
    }

    /// The address as text, empty when unknown (the audit log's `ip`).
    pub fn text(self) -> String {
        self.0
            .map(|address| address.to_string())
            .unwrap_or_default()
    }
}

/// Read from the request extensions, where the server's first layer puts it; absent means
/// unknown.
impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientAddress>()
            .copied()
            .unwrap_or_default())
    }
}

/// An IPv4 or IPv6 address block; a bare address is a block of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpBlock {
    network: IpAddr,
    prefix: u8,
}

impl IpBlock {
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = prefix_mask_32(self.prefix);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = prefix_mask_128(self.prefix);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

fn prefix_mask_32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn prefix_mask_128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for IpBlock {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let invalid = || format!("{text:?} is not an IP address or CIDR block");
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network = address
            .parse::<IpAddr>()
            .map_err(|_| invalid())?
            .to_canonical();
        let widest = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => widest,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= widest)
                .ok_or_else(invalid)?,
        };
        Ok(IpBlock { network, prefix })
    }
}

impl fmt::Display for IpBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Parses a list of blocks, naming the first entry that is not one.
pub fn parse_blocks<'a>(
    entries: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<IpBlock>, String> {
    entries
        .into_iter()
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn blocks_match_their_addresses_only() {
        let block: IpBlock = "10.1.0.0/16".parse().unwrap();
        assert!(block.contains(ip("10.1.255.3")));
        assert!(!block.contains(ip("10.2.0.1")));
        assert!(block.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped IPv6");
        let single: IpBlock = "192.0.2.7".parse().unwrap();
        assert!(single.contains(ip("192.0.2.7")) && !single.contains(ip("192.0.2.8")));
        let everything: IpBlock = "0.0.0.0/0".parse().unwrap();
        assert!(everything.contains(ip("203.0.113.1")));
        assert!(!everything.contains(ip("2001:db8::1")));
        let v6: IpBlock = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        for bad in ["", "10.0.0.0/33", "::/129", "example.org", "10.0.0.0/x"] {
            assert!(bad.parse::<IpBlock>().is_err(), "{bad:?}");
        }
        assert_eq!(parse_blocks(["10.0.0.0/8", " ", "::1"]).unwrap().len(), 2);
        assert!(
            parse_blocks(["10.0.0.0/8", "nope"])
                .unwrap_err()
                .contains("nope")
        );
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("198.51.100.9, 203.0.113.5, 10.0.0.2"),
        );
        let proxies = parse_blocks(["10.0.0.0/8"]).unwrap();
        let from_proxy = ClientAddress::resolve(Some(ip("10.0.0.1")), &headers, &proxies);
        assert_eq!(from_proxy.ip(), Some(ip("203.0.113.5")));
        let direct = ClientAddress::resolve(Some(ip("192.0.2.1")), &headers, &proxies);
        assert_eq!(
            direct.ip(),
            Some(ip("192.0.2.1")),
            "untrusted peers cannot claim"
        );
        let nobody_trusted = ClientAddress::resolve(Some(ip("10.0.0.1")), &headers, &[]);
        assert_eq!(nobody_trusted.ip(), Some(ip("10.0.0.1")));
        let mut garbage = HeaderMap::new();
        garbage.insert("x-forwarded-for", HeaderValue::from_static("not-an-ip"));
        let fallback = ClientAddress::resolve(Some(ip("10.0.0.1")), &garbage, &proxies);
        assert_eq!(fallback.ip(), Some(ip("10.0.0.1")));
        assert_eq!(ClientAddress::resolve(None, &headers, &proxies).text(), "");
    }
}

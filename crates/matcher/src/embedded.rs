//! The warninglists shipped inside the binary (data/warninglists/, see its SOURCES.md).
//! Sorted by directory name: a list's position here, counted from 1, is its id.

macro_rules! shipped {
    ($($slug:literal),* $(,)?) => {
        &[$(($slug, include_str!(concat!("../data/warninglists/", $slug, "/list.json")))),*]
    };
}

/// `(directory name, list.json text)` of every shipped list.
pub(crate) const SHIPPED: &[(&str, &str)] = shipped![
    "amazon-aws",
    "automated-malware-analysis",
    "cloudflare",
    "common-contact-emails",
    "crl-hostname",
    "empty-hashes",
    "google",
    "google-gcp",
    "ipv6-linklocal",
    "microsoft",
    "microsoft-azure",
    "microsoft-office365",
    "multicast",
    "rfc1918",
    "rfc3849",
    "rfc5735",
    "rfc6761",
    "sinkholes",
    "tlds",
    "tranco10k",
    "url-shortener",
];

/// The top-level domains of the shipped `tlds` list (IANA's root zone, lower-case, without
/// dots): what MISP's freetext import uses to tell a domain from a file name.
pub fn top_level_domains() -> Vec<String> {
    let text = SHIPPED
        .iter()
        .find(|(slug, _)| *slug == "tlds")
        .map(|(_, text)| *text)
        .unwrap_or("{}");
    let document: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    document["list"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| entry.as_str())
                .map(|tld| tld.trim_matches('.').to_ascii_lowercase())
                .filter(|tld| !tld.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tld_tests {
    #[test]
    fn the_shipped_tld_list_is_read() {
        let tlds = super::top_level_domains();
        assert!(tlds.len() > 1000, "{}", tlds.len());
        for tld in ["com", "lu", "xn--p1ai", "museum"] {
            assert!(tlds.iter().any(|known| known == tld), "{tld}");
        }
    }
}

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

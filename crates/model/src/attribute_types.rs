//! The complete MISP attribute type and category table.
//!
//! The data mirrors MISP's `describeTypes.json` (as bundled with PyMISP 2.5.34.4):
//! [`ATTRIBUTE_TYPES`] is `types` in order with each type's `sane_defaults`, and
//! [`CATEGORIES`] is `categories` in order, each with its `category_type_mappings` list in
//! order. The order matters: the server renders `describeTypes.json` from these tables and
//! PyMISP compares that rendering with its own copy. The integration test in
//! `tests/it/describe_types.rs` checks the tables against a copy of that file.

/// One MISP attribute type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeType {
    pub name: &'static str,
    pub default_category: &'static str,
    pub to_ids: bool,
}

/// One MISP category and the types it allows, in MISP's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Category {
    pub name: &'static str,
    pub types: &'static [&'static str],
}

const fn ty(name: &'static str, default_category: &'static str, to_ids: bool) -> AttributeType {
    AttributeType {
        name,
        default_category,
        to_ids,
    }
}

/// The type definition for `name` (exact, case-sensitive match as in MISP).
pub fn attribute_type(name: &str) -> Option<&'static AttributeType> {
    ATTRIBUTE_TYPES.iter().find(|t| t.name == name)
}

/// The category definition for `name` (exact, case-sensitive match as in MISP).
pub fn category(name: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|c| c.name == name)
}

/// Whether `category_name` exists and allows `type_name`.
pub fn category_allows(category_name: &str, type_name: &str) -> bool {
    category(category_name).is_some_and(|c| c.types.contains(&type_name))
}

/// The category MISP gives an attribute of this type when none is supplied.
pub fn default_category(type_name: &str) -> Option<&'static str> {
    attribute_type(type_name).map(|t| t.default_category)
}

/// The `to_ids` flag MISP gives an attribute of this type when none is supplied.
pub fn default_to_ids(type_name: &str) -> Option<bool> {
    attribute_type(type_name).map(|t| t.to_ids)
}

/// Composite types hold two values, stored split on the single `|` into `value1`/`value2`:
/// `malware-sample` (`filename|md5`) and every type whose name contains `|`.
pub fn is_composite(type_name: &str) -> bool {
    type_name.contains('|') || type_name == "malware-sample"
}

/// Types MISP never correlates on (`MispAttribute::NON_CORRELATING_TYPES`).
pub const NON_CORRELATING_TYPES: &[&str] = &[
    "comment",
    "http-method",
    "aba-rtn",
    "gender",
    "counter",
    "integer",
    "float",
    "port",
    "nationality",
    "cortex",
    "boolean",
    "anonymised",
];

/// Composite types that correlate on `value1` only (`PRIMARY_ONLY_CORRELATING_TYPES`).
pub const PRIMARY_ONLY_CORRELATING_TYPES: &[&str] =
    &["ip-src|port", "ip-dst|port", "hostname|port"];

/// Types whose attributes carry a base64 file payload in `data`.
pub const ATTACHMENT_TYPES: &[&str] = &["attachment", "malware-sample"];

/// Whether MISP skips correlation for attributes of this type.
pub fn non_correlating(type_name: &str) -> bool {
    NON_CORRELATING_TYPES.contains(&type_name)
}

/// Whether only `value1` of this composite type takes part in correlation.
pub fn primary_only_correlation(type_name: &str) -> bool {
    PRIMARY_ONLY_CORRELATING_TYPES.contains(&type_name)
}

/// Whether attributes of this type carry a file payload (`attachment`, `malware-sample`).
pub fn has_attachment(type_name: &str) -> bool {
    ATTACHMENT_TYPES.contains(&type_name)
}

/// Every MISP attribute type, in the order of MISP's `describeTypes.json` `types` list,
/// with its default category and default `to_ids` flag (`sane_defaults`).
pub static ATTRIBUTE_TYPES: &[AttributeType] = &[
    ty("md5", "Payload delivery", true),
    ty("sha1", "Payload delivery", true),
    ty("sha256", "Payload delivery", true),
    ty("filename", "Payload delivery", true),
    ty("pdb", "Artifacts dropped", false),
    ty("filename|md5", "Payload delivery", true),
    ty("filename|sha1", "Payload delivery", true),
    ty("filename|sha256", "Payload delivery", true),
    ty("ip-src", "Network activity", true),
    ty("ip-dst", "Network activity", true),
    ty("hostname", "Network activity", true),
    ty("domain", "Network activity", true),
    ty("domain|ip", "Network activity", true),
    ty("email", "Social network", true),
    ty("email-src", "Payload delivery", true),
    ty("eppn", "Network activity", true),
    ty("email-dst", "Network activity", true),
    ty("email-subject", "Payload delivery", false),
    ty("email-attachment", "Payload delivery", true),
    ty("email-body", "Payload delivery", false),
    ty("float", "Other", false),
    ty("git-commit-id", "Internal reference", false),
    ty("url", "Network activity", true),
    ty("http-method", "Network activity", false),
    ty("user-agent", "Network activity", false),
    ty("ja3-fingerprint-md5", "Network activity", true),
    ty("jarm-fingerprint", "Network activity", true),
    ty("favicon-mmh3", "Network activity", true),
    ty("hassh-md5", "Network activity", true),
    ty("hasshserver-md5", "Network activity", true),
    ty("regkey", "Persistence mechanism", true),
    ty("regkey|value", "Persistence mechanism", true),
    ty("AS", "Network activity", false),
    ty("snort", "Network activity", true),
    ty("suricata", "Network activity", true),
    ty("bro", "Network activity", true),
    ty("zeek", "Network activity", true),
    ty("community-id", "Network activity", true),
    ty("dom-hash", "Network activity", true),
    ty("pattern-in-file", "Payload installation", true),
    ty("pattern-in-traffic", "Network activity", true),
    ty("pattern-in-memory", "Payload installation", true),
    ty("filename-pattern", "Payload installation", true),
    ty("pgp-public-key", "Person", false),
    ty("pgp-private-key", "Person", false),
    ty("ssh-fingerprint", "Network activity", false),
    ty("yara", "Payload installation", true),
    ty("stix2-pattern", "Payload installation", true),
    ty("sigma", "Payload installation", true),
    ty("gene", "Artifacts dropped", false),
    ty("kusto-query", "Artifacts dropped", false),
    ty("mime-type", "Artifacts dropped", false),
    ty("identity-card-number", "Person", false),
    ty("cookie", "Network activity", false),
    ty("vulnerability", "External analysis", false),
    ty("cpe", "External analysis", false),
    ty("weakness", "External analysis", false),
    ty("attachment", "External analysis", false),
    ty("malware-sample", "Payload delivery", true),
    ty("link", "External analysis", false),
    ty("comment", "Other", false),
    ty("text", "Other", false),
    ty("hex", "Other", false),
    ty("other", "Other", false),
    ty("named pipe", "Artifacts dropped", false),
    ty("mutex", "Artifacts dropped", true),
    ty("process-state", "Artifacts dropped", false),
    ty("target-user", "Targeting data", false),
    ty("target-email", "Targeting data", false),
    ty("target-machine", "Targeting data", false),
    ty("target-org", "Targeting data", false),
    ty("target-location", "Targeting data", false),
    ty("target-external", "Targeting data", false),
    ty("btc", "Financial fraud", true),
    ty("dash", "Financial fraud", true),
    ty("xmr", "Financial fraud", true),
    ty("iban", "Financial fraud", true),
    ty("bic", "Financial fraud", true),
    ty("bank-account-nr", "Financial fraud", true),
    ty("aba-rtn", "Financial fraud", true),
    ty("bin", "Financial fraud", true),
    ty("cc-number", "Financial fraud", true),
    ty("prtn", "Financial fraud", true),
    ty("phone-number", "Person", false),
    ty("threat-actor", "Attribution", false),
    ty("campaign-name", "Attribution", false),
    ty("campaign-id", "Attribution", false),
    ty("malware-type", "Payload delivery", false),
    ty("uri", "Network activity", true),
    ty("authentihash", "Payload delivery", true),
    ty("vhash", "Payload delivery", true),
    ty("ssdeep", "Payload delivery", true),
    ty("imphash", "Payload delivery", true),
    ty("telfhash", "Payload delivery", true),
    ty("pehash", "Payload delivery", true),
    ty("impfuzzy", "Payload delivery", true),
    ty("sha224", "Payload delivery", true),
    ty("sha384", "Payload delivery", true),
    ty("sha512", "Payload delivery", true),
    ty("sha512/224", "Payload delivery", true),
    ty("sha512/256", "Payload delivery", true),
    ty("sha3-224", "Payload delivery", true),
    ty("sha3-256", "Payload delivery", true),
    ty("sha3-384", "Payload delivery", true),
    ty("sha3-512", "Payload delivery", true),
    ty("tlsh", "Payload delivery", true),
    ty("cdhash", "Payload delivery", true),
    ty("filename|authentihash", "Payload delivery", true),
    ty("filename|vhash", "Payload delivery", true),
    ty("filename|ssdeep", "Payload delivery", true),
    ty("filename|imphash", "Payload delivery", true),
    ty("filename|impfuzzy", "Payload delivery", true),
    ty("filename|pehash", "Payload delivery", true),
    ty("filename|sha224", "Payload delivery", true),
    ty("filename|sha384", "Payload delivery", true),
    ty("filename|sha512", "Payload delivery", true),
    ty("filename|sha512/224", "Payload delivery", true),
    ty("filename|sha512/256", "Payload delivery", true),
    ty("filename|sha3-224", "Payload delivery", true),
    ty("filename|sha3-256", "Payload delivery", true),
    ty("filename|sha3-384", "Payload delivery", true),
    ty("filename|sha3-512", "Payload delivery", true),
    ty("filename|tlsh", "Payload delivery", true),
    ty("windows-scheduled-task", "Artifacts dropped", false),
    ty("windows-service-name", "Artifacts dropped", false),
    ty("windows-service-displayname", "Artifacts dropped", false),
    ty("whois-registrant-email", "Attribution", false),
    ty("whois-registrant-phone", "Attribution", false),
    ty("whois-registrant-name", "Attribution", false),
    ty("whois-registrant-org", "Attribution", false),
    ty("whois-registrar", "Attribution", false),
    ty("whois-creation-date", "Attribution", false),
    ty("x509-fingerprint-sha1", "Network activity", true),
    ty("x509-fingerprint-md5", "Network activity", true),
    ty("x509-fingerprint-sha256", "Network activity", true),
    ty("dns-soa-email", "Attribution", false),
    ty("size-in-bytes", "Other", false),
    ty("counter", "Other", false),
    ty("integer", "Other", false),
    ty("datetime", "Other", false),
    ty("port", "Network activity", false),
    ty("ip-dst|port", "Network activity", true),
    ty("ip-src|port", "Network activity", true),
    ty("hostname|port", "Network activity", true),
    ty("mac-address", "Network activity", false),
    ty("mac-eui-64", "Network activity", false),
    ty("email-dst-display-name", "Payload delivery", false),
    ty("email-src-display-name", "Payload delivery", false),
    ty("email-header", "Payload delivery", false),
    ty("email-reply-to", "Payload delivery", false),
    ty("email-x-mailer", "Payload delivery", false),
    ty("email-mime-boundary", "Payload delivery", false),
    ty("email-thread-index", "Payload delivery", false),
    ty("email-message-id", "Payload delivery", false),
    ty("github-username", "Social network", false),
    ty("github-repository", "Social network", false),
    ty("github-organisation", "Social network", false),
    ty("jabber-id", "Social network", false),
    ty("twitter-id", "Social network", false),
    ty("dkim", "Network activity", false),
    ty("dkim-signature", "Network activity", false),
    ty("first-name", "Person", false),
    ty("middle-name", "Person", false),
    ty("last-name", "Person", false),
    ty("full-name", "Person", false),
    ty("date-of-birth", "Person", false),
    ty("place-of-birth", "Person", false),
    ty("gender", "Person", false),
    ty("passport-number", "Person", false),
    ty("passport-country", "Person", false),
    ty("passport-expiration", "Person", false),
    ty("redress-number", "Person", false),
    ty("nationality", "Person", false),
    ty("visa-number", "Person", false),
    ty("issue-date-of-the-visa", "Person", false),
    ty("primary-residence", "Person", false),
    ty("country-of-residence", "Person", false),
    ty("special-service-request", "Person", false),
    ty("frequent-flyer-number", "Person", false),
    ty("travel-details", "Person", false),
    ty("payment-details", "Person", false),
    ty("place-port-of-original-embarkation", "Person", false),
    ty("place-port-of-clearance", "Person", false),
    ty("place-port-of-onward-foreign-destination", "Person", false),
    ty("passenger-name-record-locator-number", "Person", false),
    ty("mobile-application-id", "Payload delivery", true),
    ty("azure-application-id", "Payload delivery", true),
    ty("chrome-extension-id", "Payload delivery", true),
    ty("edge-extension-id", "Payload delivery", true),
    ty("cortex", "External analysis", false),
    ty("boolean", "Other", false),
    ty("uuid", "Other", false),
    ty("anonymised", "Other", false),
    ty("onion-address", "Network activity", true),
];

/// Every MISP category, in the order of `describeTypes.json` `categories`, each with the
/// types it allows in the order of `category_type_mappings`.
pub static CATEGORIES: &[Category] = &[
    Category {
        name: "Internal reference",
        types: &[
            "text",
            "link",
            "comment",
            "other",
            "hex",
            "anonymised",
            "git-commit-id",
        ],
    },
    Category {
        name: "Targeting data",
        types: &[
            "target-user",
            "target-email",
            "target-machine",
            "target-org",
            "target-location",
            "target-external",
            "comment",
            "anonymised",
        ],
    },
    Category {
        name: "Antivirus detection",
        types: &[
            "link",
            "comment",
            "text",
            "hex",
            "attachment",
            "other",
            "anonymised",
        ],
    },
    Category {
        name: "Payload delivery",
        types: &[
            "md5",
            "sha1",
            "sha224",
            "sha256",
            "sha384",
            "sha512",
            "sha512/224",
            "sha512/256",
            "sha3-224",
            "sha3-256",
            "sha3-384",
            "sha3-512",
            "ssdeep",
            "imphash",
            "telfhash",
            "impfuzzy",
            "authentihash",
            "vhash",
            "pehash",
            "tlsh",
            "cdhash",
            "filename",
            "filename|md5",
            "filename|sha1",
            "filename|sha224",
            "filename|sha256",
            "filename|sha384",
            "filename|sha512",
            "filename|sha512/224",
            "filename|sha512/256",
            "filename|sha3-224",
            "filename|sha3-256",
            "filename|sha3-384",
            "filename|sha3-512",
            "filename|authentihash",
            "filename|vhash",
            "filename|ssdeep",
            "filename|tlsh",
            "filename|imphash",
            "filename|impfuzzy",
            "filename|pehash",
            "mac-address",
            "mac-eui-64",
            "ip-src",
            "ip-dst",
            "ip-dst|port",
            "ip-src|port",
            "hostname",
            "domain",
            "email",
            "email-src",
            "email-dst",
            "email-subject",
            "email-attachment",
            "email-body",
            "url",
            "user-agent",
            "AS",
            "pattern-in-file",
            "pattern-in-traffic",
            "filename-pattern",
            "stix2-pattern",
            "yara",
            "sigma",
            "mime-type",
            "attachment",
            "malware-sample",
            "link",
            "malware-type",
            "comment",
            "text",
            "hex",
            "vulnerability",
            "cpe",
            "weakness",
            "x509-fingerprint-sha1",
            "x509-fingerprint-md5",
            "x509-fingerprint-sha256",
            "ja3-fingerprint-md5",
            "jarm-fingerprint",
            "hassh-md5",
            "hasshserver-md5",
            "other",
            "hostname|port",
            "email-dst-display-name",
            "email-src-display-name",
            "email-header",
            "email-reply-to",
            "email-x-mailer",
            "email-mime-boundary",
            "email-thread-index",
            "email-message-id",
            "azure-application-id",
            "mobile-application-id",
            "chrome-extension-id",
            "edge-extension-id",
            "whois-registrant-email",
            "anonymised",
            "onion-address",
        ],
    },
    Category {
        name: "Artifacts dropped",
        types: &[
            "md5",
            "sha1",
            "sha224",
            "sha256",
            "sha384",
            "sha512",
            "sha512/224",
            "sha512/256",
            "sha3-224",
            "sha3-256",
            "sha3-384",
            "sha3-512",
            "ssdeep",
            "imphash",
            "telfhash",
            "impfuzzy",
            "authentihash",
            "vhash",
            "cdhash",
            "filename",
            "filename|md5",
            "filename|sha1",
            "filename|sha224",
            "filename|sha256",
            "filename|sha384",
            "filename|sha512",
            "filename|sha512/224",
            "filename|sha512/256",
            "filename|sha3-224",
            "filename|sha3-256",
            "filename|sha3-384",
            "filename|sha3-512",
            "filename|authentihash",
            "filename|vhash",
            "filename|ssdeep",
            "filename|tlsh",
            "filename|imphash",
            "filename|impfuzzy",
            "filename|pehash",
            "regkey",
            "regkey|value",
            "pattern-in-file",
            "pattern-in-memory",
            "filename-pattern",
            "pdb",
            "stix2-pattern",
            "yara",
            "sigma",
            "attachment",
            "malware-sample",
            "named pipe",
            "mutex",
            "process-state",
            "windows-scheduled-task",
            "windows-service-name",
            "windows-service-displayname",
            "comment",
            "text",
            "hex",
            "x509-fingerprint-sha1",
            "x509-fingerprint-md5",
            "x509-fingerprint-sha256",
            "other",
            "cookie",
            "gene",
            "kusto-query",
            "mime-type",
            "anonymised",
            "pgp-public-key",
            "pgp-private-key",
        ],
    },
    Category {
        name: "Payload installation",
        types: &[
            "md5",
            "sha1",
            "sha224",
            "sha256",
            "sha384",
            "sha512",
            "sha512/224",
            "sha512/256",
            "sha3-224",
            "sha3-256",
            "sha3-384",
            "sha3-512",
            "ssdeep",
            "imphash",
            "telfhash",
            "impfuzzy",
            "authentihash",
            "vhash",
            "pehash",
            "tlsh",
            "cdhash",
            "filename",
            "filename|md5",
            "filename|sha1",
            "filename|sha224",
            "filename|sha256",
            "filename|sha384",
            "filename|sha512",
            "filename|sha512/224",
            "filename|sha512/256",
            "filename|sha3-224",
            "filename|sha3-256",
            "filename|sha3-384",
            "filename|sha3-512",
            "filename|authentihash",
            "filename|vhash",
            "filename|ssdeep",
            "filename|tlsh",
            "filename|imphash",
            "filename|impfuzzy",
            "filename|pehash",
            "pattern-in-file",
            "pattern-in-traffic",
            "pattern-in-memory",
            "filename-pattern",
            "stix2-pattern",
            "yara",
            "sigma",
            "vulnerability",
            "cpe",
            "weakness",
            "attachment",
            "malware-sample",
            "malware-type",
            "comment",
            "text",
            "hex",
            "x509-fingerprint-sha1",
            "x509-fingerprint-md5",
            "x509-fingerprint-sha256",
            "azure-application-id",
            "mobile-application-id",
            "chrome-extension-id",
            "edge-extension-id",
            "other",
            "mime-type",
            "anonymised",
        ],
    },
    Category {
        name: "Persistence mechanism",
        types: &[
            "filename",
            "regkey",
            "regkey|value",
            "comment",
            "text",
            "other",
            "hex",
            "anonymised",
        ],
    },
    Category {
        name: "Network activity",
        types: &[
            "ip-src",
            "ip-dst",
            "ip-dst|port",
            "ip-src|port",
            "port",
            "hostname",
            "domain",
            "domain|ip",
            "mac-address",
            "mac-eui-64",
            "email",
            "email-dst",
            "email-src",
            "eppn",
            "url",
            "uri",
            "user-agent",
            "http-method",
            "AS",
            "snort",
            "suricata",
            "pattern-in-file",
            "filename-pattern",
            "stix2-pattern",
            "pattern-in-traffic",
            "attachment",
            "comment",
            "text",
            "x509-fingerprint-md5",
            "x509-fingerprint-sha1",
            "x509-fingerprint-sha256",
            "ja3-fingerprint-md5",
            "jarm-fingerprint",
            "hassh-md5",
            "hasshserver-md5",
            "other",
            "hex",
            "cookie",
            "hostname|port",
            "bro",
            "zeek",
            "anonymised",
            "community-id",
            "email-subject",
            "favicon-mmh3",
            "dkim",
            "dkim-signature",
            "ssh-fingerprint",
            "dom-hash",
            "onion-address",
        ],
    },
    Category {
        name: "Payload type",
        types: &["comment", "text", "other", "anonymised"],
    },
    Category {
        name: "Attribution",
        types: &[
            "threat-actor",
            "campaign-name",
            "campaign-id",
            "whois-registrant-phone",
            "whois-registrant-email",
            "whois-registrant-name",
            "whois-registrant-org",
            "whois-registrar",
            "whois-creation-date",
            "comment",
            "text",
            "x509-fingerprint-sha1",
            "x509-fingerprint-md5",
            "x509-fingerprint-sha256",
            "other",
            "dns-soa-email",
            "anonymised",
            "email",
        ],
    },
    Category {
        name: "External analysis",
        types: &[
            "md5",
            "sha1",
            "sha256",
            "sha3-224",
            "sha3-256",
            "sha3-384",
            "sha3-512",
            "filename",
            "filename|md5",
            "filename|sha1",
            "filename|sha256",
            "filename|sha3-224",
            "filename|sha3-256",
            "filename|sha3-384",
            "filename|sha3-512",
            "ip-src",
            "ip-dst",
            "ip-dst|port",
            "ip-src|port",
            "mac-address",
            "mac-eui-64",
            "hostname",
            "domain",
            "domain|ip",
            "url",
            "user-agent",
            "regkey",
            "regkey|value",
            "AS",
            "snort",
            "suricata",
            "bro",
            "zeek",
            "pattern-in-file",
            "pattern-in-traffic",
            "pattern-in-memory",
            "filename-pattern",
            "vulnerability",
            "cpe",
            "weakness",
            "attachment",
            "malware-sample",
            "link",
            "comment",
            "text",
            "x509-fingerprint-sha1",
            "x509-fingerprint-md5",
            "x509-fingerprint-sha256",
            "ja3-fingerprint-md5",
            "jarm-fingerprint",
            "hassh-md5",
            "hasshserver-md5",
            "github-repository",
            "other",
            "cortex",
            "anonymised",
            "community-id",
            "dom-hash",
            "onion-address",
        ],
    },
    Category {
        name: "Financial fraud",
        types: &[
            "btc",
            "dash",
            "xmr",
            "iban",
            "bic",
            "bank-account-nr",
            "aba-rtn",
            "bin",
            "cc-number",
            "prtn",
            "phone-number",
            "comment",
            "text",
            "other",
            "hex",
            "anonymised",
        ],
    },
    Category {
        name: "Support Tool",
        types: &[
            "link",
            "text",
            "attachment",
            "comment",
            "other",
            "hex",
            "anonymised",
        ],
    },
    Category {
        name: "Social network",
        types: &[
            "github-username",
            "github-repository",
            "github-organisation",
            "jabber-id",
            "twitter-id",
            "email",
            "email-src",
            "email-dst",
            "eppn",
            "comment",
            "text",
            "other",
            "whois-registrant-email",
            "anonymised",
            "pgp-public-key",
            "pgp-private-key",
        ],
    },
    Category {
        name: "Person",
        types: &[
            "first-name",
            "middle-name",
            "last-name",
            "full-name",
            "date-of-birth",
            "place-of-birth",
            "gender",
            "passport-number",
            "passport-country",
            "passport-expiration",
            "redress-number",
            "nationality",
            "visa-number",
            "issue-date-of-the-visa",
            "primary-residence",
            "country-of-residence",
            "special-service-request",
            "frequent-flyer-number",
            "travel-details",
            "payment-details",
            "place-port-of-original-embarkation",
            "place-port-of-clearance",
            "place-port-of-onward-foreign-destination",
            "passenger-name-record-locator-number",
            "comment",
            "text",
            "other",
            "phone-number",
            "identity-card-number",
            "anonymised",
            "email",
            "pgp-public-key",
            "pgp-private-key",
        ],
    },
    Category {
        name: "Other",
        types: &[
            "comment",
            "text",
            "other",
            "size-in-bytes",
            "counter",
            "integer",
            "datetime",
            "cpe",
            "port",
            "float",
            "hex",
            "phone-number",
            "boolean",
            "anonymised",
            "pgp-public-key",
            "pgp-private-key",
            "uuid",
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_sizes() {
        assert_eq!(ATTRIBUTE_TYPES.len(), 194);
        assert_eq!(CATEGORIES.len(), 16);
    }

    #[test]
    fn names_are_unique() {
        for (i, t) in ATTRIBUTE_TYPES.iter().enumerate() {
            assert!(
                ATTRIBUTE_TYPES[..i].iter().all(|u| u.name != t.name),
                "duplicate type {}",
                t.name
            );
        }
        for (i, c) in CATEGORIES.iter().enumerate() {
            assert!(
                CATEGORIES[..i].iter().all(|d| d.name != c.name),
                "duplicate {}",
                c.name
            );
        }
    }

    #[test]
    fn every_mapped_type_exists_and_every_default_category_allows_its_type() {
        for c in CATEGORIES {
            for t in c.types {
                assert!(
                    attribute_type(t).is_some(),
                    "{} lists unknown type {t}",
                    c.name
                );
            }
        }
        for t in ATTRIBUTE_TYPES {
            assert!(category(t.default_category).is_some(), "{}", t.name);
        }
    }

    #[test]
    fn lookups() {
        let md5 = attribute_type("md5").unwrap();
        assert_eq!(md5.default_category, "Payload delivery");
        assert!(md5.to_ids);
        assert_eq!(default_category("comment"), Some("Other"));
        assert_eq!(default_to_ids("comment"), Some(false));
        assert!(attribute_type("MD5").is_none());
        assert!(category_allows("Network activity", "ip-dst"));
        assert!(!category_allows("Network activity", "md5"));
        assert!(!category_allows("No such category", "md5"));
        assert!(category("Person").is_some());
    }

    #[test]
    fn flags() {
        assert!(is_composite("malware-sample"));
        assert!(is_composite("filename|sha256"));
        assert!(is_composite("ip-dst|port"));
        assert!(!is_composite("attachment"));
        assert!(!is_composite("md5"));
        assert!(non_correlating("comment"));
        assert!(non_correlating("anonymised"));
        assert!(!non_correlating("ip-dst"));
        assert!(primary_only_correlation("hostname|port"));
        assert!(!primary_only_correlation("domain|ip"));
        assert!(has_attachment("attachment"));
        assert!(has_attachment("malware-sample"));
        assert!(!has_attachment("filename"));
        for list in [
            NON_CORRELATING_TYPES,
            PRIMARY_ONLY_CORRELATING_TYPES,
            ATTACHMENT_TYPES,
        ] {
            for t in list {
                assert!(attribute_type(t).is_some(), "{t}");
            }
        }
    }
}

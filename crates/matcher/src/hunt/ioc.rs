//! IoC kinds, value shapes (hunt-semantics §3) and canonical forms (§1.4).

/// What an IoC is; decides how log values are compared with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IocKind {
    Ip,
    Cidr,
    Domain,
    Url,
    Hash,
}

impl IocKind {
    /// The `ioc_type` of the hunt output: `ip`, `cidr`, `domain`, `url` or `hash`.
    pub fn as_str(self) -> &'static str {
        match self {
            IocKind::Ip => "ip",
            IocKind::Cidr => "cidr",
            IocKind::Domain => "domain",
            IocKind::Url => "url",
            IocKind::Hash => "hash",
        }
    }
}

/// Why a value was not taken as an IoC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IocRejection {
    /// A MISP type hunting does not use (composites, e-mail, filenames …).
    UnsupportedType(String),
    /// The value does not have the shape its type (or, untyped, any kind) requires.
    BadShape,
}

impl std::fmt::Display for IocRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IocRejection::UnsupportedType(misp_type) => {
                write!(f, "type {misp_type} is not hunted")
            }
            IocRejection::BadShape => f.write_str("the value does not have the shape of its type"),
        }
    }
}

/// The kind and canonical form of an IoC value. `misp_type` as in hunt-semantics §1.1;
/// `None` (or an empty type) infers the kind from the shape as §1.2 does.
pub fn canonical_ioc(
    misp_type: Option<&str>,
    value: &str,
) -> Result<(IocKind, String), IocRejection> {
    let _ = (misp_type, value);
    unimplemented!("helper A")
}

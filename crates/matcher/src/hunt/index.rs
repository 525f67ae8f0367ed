//! The compiled IoC index (hunt-semantics §4): built once from up to millions of IoC
//! attributes, then shared read-only by every scanning thread.

use super::ioc::{IocKind, IocRejection};

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

/// An attribute's validity window; both bounds inclusive, `None` = unbounded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    pub first_seen: Option<Micros>,
    pub last_seen: Option<Micros>,
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
pub struct IocIndexBuilder {}

impl IocIndexBuilder {
    pub fn new() -> Self {
        Self::default()
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
        let _ = (misp_type, value, window, source);
        unimplemented!("helper A")
    }

    pub fn build(self) -> IocIndex {
        unimplemented!("helper A")
    }
}

/// Immutable, `Send + Sync`.
pub struct IocIndex {}

impl IocIndex {
    /// Number of distinct IoCs.
    pub fn len(&self) -> usize {
        unimplemented!("helper A")
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn kind(&self, ioc: IocId) -> IocKind {
        let _ = ioc;
        unimplemented!("helper A")
    }

    /// The canonical form (hunt-semantics §1.4): what a hit reports as `ioc`.
    pub fn canonical(&self, ioc: IocId) -> &str {
        let _ = ioc;
        unimplemented!("helper A")
    }

    /// The `source` handles of every attribute behind this IoC, in insertion order.
    pub fn sources(&self, ioc: IocId) -> &[u32] {
        let _ = ioc;
        unimplemented!("helper A")
    }

    /// Whether the IoC is active at `ts` (§4.6): any attribute's window holds it; a line
    /// without a timestamp (`None`) matches only IoCs with an unbounded attribute.
    pub fn is_active(&self, ioc: IocId, ts: Option<Micros>) -> bool {
        let _ = (ioc, ts);
        unimplemented!("helper A")
    }

    /// The `source` handles of the attributes active at `ts`, appended to `out`.
    pub fn active_sources(&self, ioc: IocId, ts: Option<Micros>, out: &mut Vec<u32>) {
        let _ = (ioc, ts, out);
        unimplemented!("helper A")
    }

    /// Every IoC the field value matches (§4.1–4.5), appended to `out`, windows not yet
    /// checked. Cheap for the common case of a value that matches nothing.
    pub fn match_value(&self, value: &str, form: ValueForm, out: &mut Vec<Candidate>) {
        let _ = (value, form, out);
        unimplemented!("helper A")
    }
}

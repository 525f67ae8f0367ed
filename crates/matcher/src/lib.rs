//! Kizuna's pure matchers: MISP warninglists (misp-reference §7.2) and the IoC hunt over
//! logs ([`hunt`], hunt-semantics.md).
//!
//! A [`WarninglistSet`] holds numbered, compiled lists — the ones shipped in the binary
//! ([`WarninglistSet::defaults`]), a directory in MISP's layout
//! ([`WarninglistSet::load_dir`]) or both ([`WarninglistSet::defaults_with_dir`]) — with an
//! on/off switch per list. [`WarninglistSet::check`] answers "which enabled lists warn about
//! this attribute" the way MISP does; [`WarninglistHit::to_misp_warning`] and
//! [`misp_event_warnings`] render the answer in MISP's JSON.
//!
//! No IO beyond reading list files: the enabled state is persisted by the caller.

pub(crate) mod embedded;
pub mod hunt;
mod pcre;
mod set;
mod warninglist;

pub use embedded::top_level_domains;
pub use set::{WarninglistHit, WarninglistSet, misp_event_warnings};
pub use warninglist::{ALL_TYPES, Category, Entry, ListType, LoadError, Warninglist};

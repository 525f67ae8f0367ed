//! The filters and paging of TAXII listings: `added_after`, `limit`, `next` and the
//! `match[…]` parameters.
//!
//! `next` is stateless: it names the next object to send (the event's change time and id,
//! and the object's position in the event's object list) plus a digest of the collection,
//! the user, the endpoint and every other parameter but `limit`, so a token used with other
//! filters is refused (400) instead of silently skipping or repeating objects. `limit` is
//! left out because clients may change it between pages (taxii2-client's `as_pages` shrinks
//! it to the size of a short page).
//!
//! Objects that many events share (the creator's identity, marking definitions, galaxy
//! clusters) are listed once per chain of pages: the token also carries a short digest of
//! each shared object already sent, so later pages leave them out. Past
//! `MAX_REMEMBERED_SHARED` of them a chain stops remembering and repeats the rest, which
//! costs bytes but never loses an object.

use super::{TaxiiCall, TaxiiError, parse_timestamp};
use kizuna_store::ChangedEvent;
use sha2::{Digest, Sha256};

/// Objects per page when the client names no limit, and the most a page holds.
pub const DEFAULT_LIMIT: usize = 1_000;
pub const MAX_LIMIT: usize = 10_000;

/// Where a page starts: an event (inclusive) and a position in its object list, with the
/// shared objects earlier pages of the chain sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub event: ChangedEvent,
    pub position: usize,
    pub shared_sent: Vec<u64>,
}

/// Shared objects a `next` token remembers (16 characters each).
pub const MAX_REMEMBERED_SHARED: usize = 128;

/// The digest a token keeps of a shared object's id.
pub fn shared_digest(id: &str) -> u64 {
    let hash = Sha256::digest(id.as_bytes());
    u64::from_le_bytes(hash[..8].try_into().unwrap_or_default())
}

/// `match[version]`: we keep one version of each object, so `first`, `last` and `all` all
/// mean it; timestamps match when equal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionMatch {
    Any,
    Exactly(Vec<i64>),
}

impl VersionMatch {
    pub fn matches(&self, version: &str) -> bool {
        match self {
            VersionMatch::Any => true,
            VersionMatch::Exactly(wanted) => {
                parse_timestamp(version).is_some_and(|micros| wanted.contains(&micros))
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct ListParams {
    pub added_after: Option<i64>,
    pub limit: usize,
    pub next: Option<Cursor>,
    pub types: Option<Vec<String>>,
    pub ids: Option<Vec<String>>,
    pub versions: VersionMatch,
    /// Whether `match[spec_version]` lets STIX 2.1 objects (all we serve) through.
    pub spec_21: bool,
    digest: String,
}

fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

impl ListParams {
    /// Reads the parameters of a listing of `collection_id` at `endpoint`.
    pub fn parse(
        call: &TaxiiCall,
        collection_id: &str,
        endpoint: &str,
    ) -> Result<Self, TaxiiError> {
        let query = &call.query;
        let added_after = match query.get("added_after") {
            None => None,
            Some(text) => Some(parse_timestamp(text).ok_or_else(|| {
                TaxiiError::bad_request(format!(
                    "added_after {text:?} is not a timestamp (RFC 3339, e.g. 2026-11-22T10:00:00.000Z)."
                ))
            })?),
        };
        let limit = match query.get("limit") {
            None => DEFAULT_LIMIT,
            Some(text) => match text.trim().parse::<i64>() {
                Ok(limit) if limit > 0 => {
                    usize::try_from(limit).unwrap_or(MAX_LIMIT).min(MAX_LIMIT)
                }
                _ => {
                    return Err(TaxiiError::bad_request(format!(
                        "limit {text:?} must be a positive integer."
                    )));
                }
            },
        };
        let versions = match query.get("match[version]") {
            None => VersionMatch::Any,
            Some(text) => {
                let items = comma_list(text);
                if items.is_empty()
                    || items
                        .iter()
                        .any(|item| matches!(item.as_str(), "first" | "last" | "all"))
                {
                    VersionMatch::Any
                } else {
                    let mut wanted = Vec::new();
                    for item in items {
                        wanted.push(parse_timestamp(&item).ok_or_else(|| {
                            TaxiiError::bad_request(format!(
                                "match[version] {item:?} is neither first, last, all nor a timestamp."
                            ))
                        })?);
                    }
                    VersionMatch::Exactly(wanted)
                }
            }
        };
        let spec_21 = query
            .get("match[spec_version]")
            .is_none_or(|text| comma_list(text).iter().any(|item| item == "2.1"));
        let digest = request_digest(call, collection_id, endpoint);
        let next = match query.get("next") {
            None => None,
            Some(token) => Some(decode_token(token, &digest)?),
        };
        Ok(Self {
            added_after,
            limit,
            next,
            types: query.get("match[type]").map(|text| comma_list(text)),
            ids: query.get("match[id]").map(|text| comma_list(text)),
            versions,
            spec_21,
            digest,
        })
    }

    /// Whether an object passes the `match[…]` filters.
    pub fn matches(&self, id: &str, object_type: &str, version: &str) -> bool {
        self.spec_21
            && self
                .types
                .as_ref()
                .is_none_or(|types| types.iter().any(|wanted| wanted == object_type))
            && self
                .ids
                .as_ref()
                .is_none_or(|ids| ids.iter().any(|wanted| wanted == id))
            && self.versions.matches(version)
    }

    /// The `next` token of a page ending before `cursor`.
    pub fn token(&self, cursor: &Cursor) -> String {
        let mut token = format!(
            "{:x}.{:x}.{:x}.{}",
            cursor.event.local_change_us, cursor.event.id, cursor.position, self.digest
        );
        if !cursor.shared_sent.is_empty() {
            token.push('.');
            for digest in &cursor.shared_sent {
                token.push_str(&format!("{digest:016x}"));
            }
        }
        token
    }
}

/// What a `next` token must have been made for: the collection, the user, the endpoint and
/// every parameter but `next` and `limit`.
fn request_digest(call: &TaxiiCall, collection_id: &str, endpoint: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(collection_id.as_bytes());
    hasher.update([0]);
    hasher.update(call.principal.user.id.to_le_bytes());
    hasher.update(endpoint.as_bytes());
    for (name, value) in &call.query {
        if name == "next" || name == "limit" {
            continue;
        }
        hasher.update([0]);
        hasher.update(name.as_bytes());
        hasher.update([1]);
        hasher.update(value.as_bytes());
    }
    hex::encode(&hasher.finalize()[..8])
}

fn decode_token(token: &str, digest: &str) -> Result<Cursor, TaxiiError> {
    let invalid = || {
        TaxiiError::bad_request(
            "The next token is not one this server gave for these parameters: repeat the first request's parameters with it, or start again without next.",
        )
    };
    let parts: Vec<&str> = token.trim().split('.').collect();
    let (change, id, position, given, shared) = match parts[..] {
        [change, id, position, given] => (change, id, position, given, ""),
        [change, id, position, given, shared] => (change, id, position, given, shared),
        _ => return Err(invalid()),
    };
    if given != digest {
        return Err(invalid());
    }
    let number = |text: &str| u64::from_str_radix(text, 16).map_err(|_| invalid());
    Ok(Cursor {
        event: ChangedEvent {
            local_change_us: i64::try_from(number(change)?).map_err(|_| invalid())?,
            id: i64::try_from(number(id)?).map_err(|_| invalid())?,
        },
        position: usize::try_from(number(position)?).map_err(|_| invalid())?,
        shared_sent: shared_digests(shared).ok_or_else(invalid)?,
    })
}

fn shared_digests(text: &str) -> Option<Vec<u64>> {
    if !text.len().is_multiple_of(16) || text.len() / 16 > MAX_REMEMBERED_SHARED {
        return None;
    }
    (0..text.len() / 16)
        .map(|index| u64::from_str_radix(text.get(index * 16..index * 16 + 16)?, 16).ok())
        .collect()
}

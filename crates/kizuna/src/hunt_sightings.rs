//! `kizuna hunt --record-sightings`: hits back as sightings, locally or through the API.
//!
//! One sighting per attribute that had an active hit: type 0 (seen), dated at the last hit's
//! line time, and its source names the hunter together with how many hits there were and
//! over which period (`kizuna-hunt@host: 12 hits 2026-03-01T10:00:00Z..2026-03-02T11:00:00Z`),
//! since a sighting itself has a single time.

use anyhow::{Context, Result};
use kizuna_matcher::hunt::Micros;
use kizuna_model::access::Viewer;
use kizuna_model::{Sighting, SightingType};
use kizuna_store::{Key, Store};
use serde_json::json;
use std::collections::BTreeMap;

/// The longest sighting source MISP and Kizuna keep.
const SOURCE_MAX_CHARS: usize = 255;

/// Hits on one attribute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub hits: u64,
    pub first: Option<Micros>,
    pub last: Option<Micros>,
}

impl Tally {
    pub fn count(&mut self, ts: Option<Micros>) {
        self.hits += 1;
        if let Some(ts) = ts {
            self.first = Some(self.first.map_or(ts, |first| first.min(ts)));
            self.last = Some(self.last.map_or(ts, |last| last.max(ts)));
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.hits += other.hits;
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = match (self.last, other.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// What recording gave.
#[derive(Debug, Default)]
pub struct SightingOutcome {
    pub recorded: u64,
    /// Attribute uuids the database or server does not know (IoCs from files).
    pub unknown: Vec<String>,
    /// Attributes whose sighting could not be stored, with the reason.
    pub failed: Vec<String>,
}

/// `kizuna-hunt@<hostname>`.
pub fn default_source_name() -> String {
    format!("kizuna-hunt@{}", hostname())
}

fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .chain(
            ["HOSTNAME", "COMPUTERNAME"]
                .iter()
                .filter_map(|name| std::env::var(name).ok()),
        )
        .map(|name| name.trim().to_string())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The sighting's source: the hunter's name, the hit count and the period they cover, cut
/// to what the source column keeps (the name is shortened, never the counts).
pub fn source_text(name: &str, tally: &Tally) -> String {
    let noun = if tally.hits == 1 { "hit" } else { "hits" };
    let mut details = format!(": {} {noun}", tally.hits);
    if let (Some(first), Some(last)) = (tally.first, tally.last) {
        details.push_str(&format!(
            " {}..{}",
            rfc3339_seconds(first),
            rfc3339_seconds(last)
        ));
    }
    let room = SOURCE_MAX_CHARS.saturating_sub(details.chars().count());
    let name: String = name.trim().chars().take(room).collect();
    format!("{name}{details}")
}

/// `2026-03-01T10:00:00Z` (sub-second digits dropped).
pub fn rfc3339_seconds(micros: Micros) -> String {
    match time::OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000)) {
        Ok(moment) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            moment.year(),
            u8::from(moment.month()),
            moment.day(),
            moment.hour(),
            moment.minute(),
            moment.second()
        ),
        Err(_) => micros.to_string(),
    }
}

/// The sighting's time in epoch seconds: the last hit's line time, else now.
fn sighting_time(tally: &Tally, now: i64) -> i64 {
    tally.last.map_or(now, |last| last.div_euclid(1_000_000))
}

/// Stores the sightings in the database, reported by `org` (name or id; default the host
/// organisation), for the attributes the database knows by uuid.
pub async fn record_in_store(
    store: &Store,
    org: Option<&str>,
    name: &str,
    tallies: &BTreeMap<String, Tally>,
) -> Result<SightingOutcome> {
    let org_id = reporting_org(store, org).await?;
    let now = kizuna_server::now();
    let mut outcome = SightingOutcome::default();
    let mut sightings = Vec::with_capacity(tallies.len());
    for (uuid, tally) in tallies {
        let found = store
            .sightable_attributes_by_key(&[Key::Uuid(uuid.clone())], &Viewer::SiteAdmin)
            .await
            .context("cannot look the sighted attributes up in the database")?;
        let Some(target) = found.first() else {
            outcome.unknown.push(uuid.clone());
            continue;
        };
        sightings.push(Sighting {
            id: 0,
            uuid: uuid::Uuid::new_v4().to_string(),
            attribute_id: target.attribute_id,
            event_id: target.event_id,
            org_id,
            date_sighting: sighting_time(tally, now),
            source: source_text(name, tally),
            sighting_type: SightingType::Sighting,
        });
    }
    let stored = store
        .add_sightings(&sightings)
        .await
        .context("cannot store the sightings")?;
    outcome.recorded = stored.len() as u64;
    Ok(outcome)
}

async fn reporting_org(store: &Store, wanted: Option<&str>) -> Result<i64> {
    if let Some(wanted) = wanted {
        let org = crate::user_cli::find_org(store, wanted)
            .await?
            .with_context(|| format!("--org: no organisation named {wanted:?}"))?;
        return Ok(org.id);
    }
    store
        .setting("host_org_id")
        .await?
        .and_then(|id| id.parse::<i64>().ok())
        .context(
            "the database has no host organisation to report the sightings; run `kizuna init` \
             first or name one with --org",
        )
}

/// Posts one `/sightings/add` per attribute to a MISP or Kizuna server.
pub async fn record_through_server(
    url: &str,
    key: &str,
    name: &str,
    tallies: &BTreeMap<String, Tally>,
) -> Result<SightingOutcome> {
    let endpoint = format!("{}/sightings/add", url.trim_end_matches('/'));
    let client = kizuna_server::http::client().map_err(anyhow::Error::msg)?;
    let now = kizuna_server::now();
    let mut outcome = SightingOutcome::default();
    for (uuid, tally) in tallies {
        let body = json!({
            "uuid": uuid,
            "source": source_text(name, tally),
            "timestamp": sighting_time(tally, now),
            "type": 0,
        });
        let sent = client
            .post(&endpoint)
            .header("Authorization", key)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                outcome.failed.push(format!("{uuid}: {error}"));
                continue;
            }
        };
        let status = response.status();
        if status.is_success() {
            outcome.recorded += 1;
        } else if status.as_u16() == 404 {
            outcome.unknown.push(uuid.clone());
        } else {
            let answer: String = kizuna_server::http::read_limited(response, 64 * 1024)
                .await
                .map(|bytes| String::from_utf8_lossy(&bytes).chars().take(200).collect())
                .unwrap_or_default();
            outcome
                .failed
                .push(format!("{uuid}: {endpoint} answered {status}: {answer}"));
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_carries_count_and_period() {
        let mut tally = Tally::default();
        tally.count(Some(1_772_359_200_000_000));
        tally.count(None);
        tally.count(Some(1_772_449_200_500_000));
        assert_eq!(
            source_text("kizuna-hunt@host", &tally),
            "kizuna-hunt@host: 3 hits 2026-03-01T10:00:00Z..2026-03-02T11:00:00Z"
        );
        assert_eq!(sighting_time(&tally, 7), 1_772_449_200);
        let untimed = Tally {
            hits: 1,
            ..Tally::default()
        };
        assert_eq!(source_text("x", &untimed), "x: 1 hit");
        assert_eq!(sighting_time(&untimed, 7), 7);
    }

    #[test]
    fn a_long_name_is_cut_and_the_counts_kept() {
        let tally = Tally {
            hits: 2,
            first: Some(0),
            last: Some(0),
        };
        let text = source_text(&"n".repeat(400), &tally);
        assert_eq!(text.chars().count(), SOURCE_MAX_CHARS);
        assert!(text.ends_with(": 2 hits 1970-01-01T00:00:00Z..1970-01-01T00:00:00Z"));
    }
}

//! Feeds (`feeds`, misp-reference §5): remote or local sources of MISP events (a MISP feed
//! folder) or of plain values (csv and freetext feeds), fetched into events.

use crate::entities::Id;
use crate::enums::Distribution;

/// What a feed holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeedSourceFormat {
    /// A MISP feed folder: `manifest.json`, one `<uuid>.json` per event, `hashes.csv`.
    Misp,
    /// Any text; values are found in it as MISP's freetext import finds them.
    Freetext,
    /// Delimited text whose configured columns hold values.
    Csv,
    /// A TAXII 2.1 (or 2.0) collection: `url` is the API root, `settings.taxii` names the
    /// collection (a Kizuna extension; MISP has no TAXII feeds).
    Taxii,
}

impl FeedSourceFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedSourceFormat::Misp => "misp",
            FeedSourceFormat::Freetext => "freetext",
            FeedSourceFormat::Csv => "csv",
            FeedSourceFormat::Taxii => "taxii",
        }
    }

    /// MISP's names, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "misp" => Some(FeedSourceFormat::Misp),
            "freetext" => Some(FeedSourceFormat::Freetext),
            "csv" => Some(FeedSourceFormat::Csv),
            "taxii" => Some(FeedSourceFormat::Taxii),
            _ => None,
        }
    }
}

/// Where a feed's `url` points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeedInputSource {
    /// An http(s) URL.
    Network,
    /// A path on the server's own file system.
    Local,
}

impl FeedInputSource {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedInputSource::Network => "network",
            FeedInputSource::Local => "local",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "network" => Some(FeedInputSource::Network),
            "local" => Some(FeedInputSource::Local),
            _ => None,
        }
    }
}

/// A feed: MISP's columns (their names and meanings) plus the schedule Kizuna runs itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Feed {
    pub id: Id,
    pub name: String,
    pub provider: String,
    pub url: String,
    /// JSON text of the filter rules (tags and orgs OR/NOT, url_params); empty = none.
    pub rules: String,
    pub enabled: bool,
    /// Distribution given to fetched events; [`Distribution::InheritEvent`] (5) keeps what
    /// the feed's events carry.
    pub distribution: Distribution,
    pub sharing_group_id: Id,
    /// Tag added to every fetched event (0 = none).
    pub tag_id: Id,
    /// One of the feeds MISP ships (MISP's `default`).
    pub default: bool,
    pub source_format: FeedSourceFormat,
    /// csv/freetext: write every fetch into one event (`event_id`) instead of a new one.
    pub fixed_event: bool,
    /// Fixed event: soft-delete values that are no longer in the feed.
    pub delta_merge: bool,
    pub event_id: Id,
    /// Publish the events a fetch writes.
    pub publish: bool,
    /// Fetched attributes get `to_ids` off.
    pub override_ids: bool,
    /// JSON text of the parser settings (`csv`, `common.excluderegex`, ...); empty = none.
    pub settings: String,
    pub input_source: FeedInputSource,
    pub delete_local_file: bool,
    /// Organisations other than the host's see the feed in the index.
    pub lookup_visible: bool,
    /// Extra request headers, one `Name: value` per line.
    pub headers: String,
    pub caching_enabled: bool,
    /// Fetched attributes get `to_ids` on.
    pub force_to_ids: bool,
    /// Creator organisation of the events csv/freetext fetches create (0 = the fetching
    /// user's organisation).
    pub orgc_id: Id,
    pub tag_collection_id: Id,
    /// Seconds between scheduled fetches of an enabled feed; 0 = fetched on request only.
    pub fetch_interval: i64,
    pub state: FeedFetchState,
}

/// What the last fetch left behind: validators for a conditional request next time and an
/// account of the outcome for the operator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedFetchState {
    /// `ETag` of the last document fetched whole (the manifest of a MISP feed).
    pub etag: String,
    /// `Last-Modified` of that document.
    pub last_modified: String,
    /// Unix seconds of the last fetch; 0 = never fetched.
    pub last_fetch_at: i64,
    pub last_fetch_ok: bool,
    /// What the last fetch did, or why it failed.
    pub last_fetch_result: String,
    /// Unix seconds the value cache was last rebuilt; 0 = never.
    pub cache_timestamp: i64,
}

impl Default for Feed {
    /// MISP's column defaults.
    fn default() -> Self {
        Self {
            id: 0,
            name: String::new(),
            provider: String::new(),
            url: String::new(),
            rules: String::new(),
            enabled: false,
            distribution: Distribution::OrganisationOnly,
            sharing_group_id: 0,
            tag_id: 0,
            default: false,
            source_format: FeedSourceFormat::Misp,
            fixed_event: false,
            delta_merge: false,
            event_id: 0,
            publish: false,
            override_ids: false,
            settings: String::new(),
            input_source: FeedInputSource::Network,
            delete_local_file: false,
            lookup_visible: false,
            headers: String::new(),
            caching_enabled: false,
            force_to_ids: false,
            orgc_id: 0,
            tag_collection_id: 0,
            fetch_interval: 0,
            state: FeedFetchState::default(),
        }
    }
}

impl Feed {
    /// Whether the scheduler should fetch this feed at `now`.
    pub fn is_due(&self, now: i64) -> bool {
        self.enabled
            && self.fetch_interval > 0
            && (self.state.last_fetch_at == 0
                || now >= self.state.last_fetch_at.saturating_add(self.fetch_interval))
    }

    pub fn is_local(&self) -> bool {
        self.input_source == FeedInputSource::Local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_any_case() {
        for format in [
            FeedSourceFormat::Misp,
            FeedSourceFormat::Freetext,
            FeedSourceFormat::Csv,
            FeedSourceFormat::Taxii,
        ] {
            assert_eq!(FeedSourceFormat::parse(format.as_str()), Some(format));
        }
        assert_eq!(
            FeedSourceFormat::parse(" CSV "),
            Some(FeedSourceFormat::Csv)
        );
        assert_eq!(FeedSourceFormat::parse("stix"), None);
        assert_eq!(
            FeedInputSource::parse("Local"),
            Some(FeedInputSource::Local)
        );
        assert_eq!(FeedInputSource::parse("ftp"), None);
    }

    #[test]
    fn only_enabled_scheduled_feeds_fall_due() {
        let mut feed = Feed {
            enabled: true,
            fetch_interval: 3600,
            ..Feed::default()
        };
        assert!(feed.is_due(10), "never fetched");
        feed.state.last_fetch_at = 1_000;
        assert!(!feed.is_due(4_599));
        assert!(feed.is_due(4_600));
        feed.fetch_interval = 0;
        assert!(!feed.is_due(1_000_000), "manual only");
        feed.fetch_interval = 60;
        feed.enabled = false;
        assert!(!feed.is_due(1_000_000), "disabled");
    }
}

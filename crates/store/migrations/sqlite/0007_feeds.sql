-- Feeds (issue 5): MISP's feeds table plus what incremental fetching needs. Keep in step
-- with ../postgres/0007_feeds.sql (only the key declaration differs).

CREATE TABLE feeds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    provider TEXT NOT NULL DEFAULT '',
    -- An http(s) URL, or a path on this machine when input_source is 'local'.
    url TEXT NOT NULL,
    -- JSON filter rules ({"tags":{"OR":[],"NOT":[]},"orgs":{...},"url_params":""}); '' = none.
    rules TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    -- 0-4 as for events; 5 = keep the distribution the feed's events carry.
    distribution BIGINT NOT NULL DEFAULT 0,
    sharing_group_id BIGINT NOT NULL DEFAULT 0,
    tag_id BIGINT NOT NULL DEFAULT 0,
    -- MISP's `default` (one of the feeds MISP ships); the word is reserved in SQL.
    default_feed BOOLEAN NOT NULL DEFAULT FALSE,
    source_format TEXT NOT NULL DEFAULT 'misp',
    fixed_event BOOLEAN NOT NULL DEFAULT FALSE,
    delta_merge BOOLEAN NOT NULL DEFAULT FALSE,
    event_id BIGINT NOT NULL DEFAULT 0,
    publish BOOLEAN NOT NULL DEFAULT FALSE,
    override_ids BOOLEAN NOT NULL DEFAULT FALSE,
    -- JSON parser settings (csv columns and delimiter, excluderegex, ...).
    settings TEXT NOT NULL DEFAULT '',
    input_source TEXT NOT NULL DEFAULT 'network',
    delete_local_file BOOLEAN NOT NULL DEFAULT FALSE,
    lookup_visible BOOLEAN NOT NULL DEFAULT FALSE,
    -- Extra HTTP request headers, one `Name: value` per line.
    headers TEXT NOT NULL DEFAULT '',
    caching_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    force_to_ids BOOLEAN NOT NULL DEFAULT FALSE,
    orgc_id BIGINT NOT NULL DEFAULT 0,
    tag_collection_id BIGINT NOT NULL DEFAULT 0,
    -- Kizuna: seconds between scheduled fetches; 0 = fetched on request only.
    fetch_interval BIGINT NOT NULL DEFAULT 0,
    -- Validators of the last document fetched (the manifest of MISP feeds), sent back as
    -- If-None-Match / If-Modified-Since so an unchanged feed costs one 304.
    etag TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT '',
    -- Unix seconds of the last fetch (0 = never), whether it worked and what it did.
    last_fetch_at BIGINT NOT NULL DEFAULT 0,
    last_fetch_ok BOOLEAN NOT NULL DEFAULT FALSE,
    last_fetch_result TEXT NOT NULL DEFAULT '',
    -- Unix seconds the value cache was last rebuilt (0 = never).
    cache_timestamp BIGINT NOT NULL DEFAULT 0
);

-- The manifest timestamp of each event of a MISP feed at its last download, and whether it
-- was imported: an event is downloaded again only when the feed announces a newer version.
CREATE TABLE feed_events (
    feed_id BIGINT NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    event_uuid TEXT NOT NULL,
    timestamp BIGINT NOT NULL,
    imported BOOLEAN NOT NULL,
    PRIMARY KEY (feed_id, event_uuid)
);

-- MISP's feed cache: the md5 of every value a feed holds (and, for MISP feeds, the event
-- holding it), for looking values up across feeds without fetching them into events.
CREATE TABLE feed_cache (
    feed_id BIGINT NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    value_md5 TEXT NOT NULL,
    event_uuid TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (feed_id, value_md5, event_uuid)
);
CREATE INDEX feed_cache_value ON feed_cache (value_md5);

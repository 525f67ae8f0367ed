-- Sync servers (issue 7): MISP's servers table (the remote instances this one pulls from and
-- pushes to) plus the state scheduled sync needs. Keep in step with ../sqlite/0008_servers.sql
-- (only the key declaration differs).

CREATE TABLE servers (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    -- Base URL of the remote, without a trailing slash.
    url TEXT NOT NULL,
    -- The API key of the sync user on the remote. Never shown back in full.
    authkey TEXT NOT NULL,
    -- Local organisation owning the link: pulled events belong to it.
    org_id BIGINT NOT NULL DEFAULT 0,
    -- Local id of the organisation running the remote instance.
    remote_org_id BIGINT NOT NULL DEFAULT 0,
    push BOOLEAN NOT NULL DEFAULT FALSE,
    pull BOOLEAN NOT NULL DEFAULT FALSE,
    push_sightings BOOLEAN NOT NULL DEFAULT FALSE,
    push_galaxy_clusters BOOLEAN NOT NULL DEFAULT FALSE,
    pull_galaxy_clusters BOOLEAN NOT NULL DEFAULT FALSE,
    push_analyst_data BOOLEAN NOT NULL DEFAULT FALSE,
    pull_analyst_data BOOLEAN NOT NULL DEFAULT FALSE,
    lastpushedid BIGINT NOT NULL DEFAULT 0,
    lastpulledid BIGINT NOT NULL DEFAULT 0,
    publish_without_email BOOLEAN NOT NULL DEFAULT FALSE,
    unpublish_event BOOLEAN NOT NULL DEFAULT FALSE,
    self_signed BOOLEAN NOT NULL DEFAULT FALSE,
    -- Paths of a CA bundle and a client certificate for the remote ('' = none).
    cert_file TEXT NOT NULL DEFAULT '',
    client_cert_file TEXT NOT NULL DEFAULT '',
    internal BOOLEAN NOT NULL DEFAULT FALSE,
    skip_proxy BOOLEAN NOT NULL DEFAULT FALSE,
    caching_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    -- Push order: lower first.
    priority BIGINT NOT NULL DEFAULT 0,
    remove_missing_tags BOOLEAN NOT NULL DEFAULT FALSE,
    -- JSON rules as MISP writes them ('' = none).
    pull_rules TEXT NOT NULL DEFAULT '',
    push_rules TEXT NOT NULL DEFAULT '',
    -- Kizuna: seconds one request to the remote may take.
    timeout_seconds BIGINT NOT NULL DEFAULT 60,
    -- ETag of the remote's event index after the last pull that completed, sent back as
    -- If-None-Match so a pull with nothing new costs one 304.
    index_etag TEXT NOT NULL DEFAULT '',
    -- Unix seconds of the last pull / push (0 = never), whether it worked and what it did.
    last_pull_at BIGINT NOT NULL DEFAULT 0,
    last_pull_ok BOOLEAN NOT NULL DEFAULT FALSE,
    last_pull_result TEXT NOT NULL DEFAULT '',
    last_push_at BIGINT NOT NULL DEFAULT 0,
    last_push_ok BOOLEAN NOT NULL DEFAULT FALSE,
    last_push_result TEXT NOT NULL DEFAULT ''
);

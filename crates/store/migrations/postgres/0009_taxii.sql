-- TAXII 2.1 (issue 8): collections (saved filters over events, optionally writable), the
-- status of each POST, and when this instance last stored a change to each event (TAXII's
-- date_added). Keep in step with ../sqlite/0009_taxii.sql (only key declarations and the
-- trigger language differ).

CREATE TABLE taxii_collections (
    -- A UUIDv4, the collection's TAXII id.
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- Another name clients may use in URLs; '' = none.
    alias TEXT NOT NULL DEFAULT '',
    writable BOOLEAN NOT NULL DEFAULT FALSE,
    -- A restSearch filter object as JSON; '' = every event the reader may see.
    filter TEXT NOT NULL DEFAULT '',
    -- JSON lists of organisation ids allowed to read / write; '[]' = every organisation.
    read_orgs TEXT NOT NULL DEFAULT '[]',
    write_orgs TEXT NOT NULL DEFAULT '[]',
    -- How events created by POSTs are shared (0-4, MISP's upload default 0).
    distribution BIGINT NOT NULL DEFAULT 0,
    sharing_group_id BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL
);
CREATE UNIQUE INDEX taxii_collections_alias ON taxii_collections (alias) WHERE alias <> '';

CREATE TABLE taxii_statuses (
    id TEXT PRIMARY KEY,
    collection_id TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    -- Microseconds since the epoch.
    request_timestamp BIGINT NOT NULL,
    total_count BIGINT NOT NULL,
    success_count BIGINT NOT NULL,
    failure_count BIGINT NOT NULL,
    pending_count BIGINT NOT NULL,
    -- JSON lists of status details ({"id", "version", "message"?}).
    successes TEXT NOT NULL DEFAULT '[]',
    failures TEXT NOT NULL DEFAULT '[]',
    pendings TEXT NOT NULL DEFAULT '[]',
    -- Unix seconds; rows are kept a week (TAXII asks for at least a day).
    created_at BIGINT NOT NULL
);
CREATE INDEX taxii_statuses_created ON taxii_statuses (created_at);

-- Microseconds of the last change this instance stored to the event: set by a trigger on
-- insert and on updates of the content columns (never by sightings).
ALTER TABLE events ADD COLUMN local_change_us BIGINT NOT NULL DEFAULT 0;
UPDATE events SET local_change_us = timestamp * 1000000;
CREATE INDEX events_local_change ON events (local_change_us, id);

CREATE FUNCTION events_stamp_local_change() RETURNS trigger AS $$
BEGIN
    NEW.local_change_us := (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER events_local_change_insert BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_stamp_local_change();

CREATE TRIGGER events_local_change_update
BEFORE UPDATE OF uuid, info, date, threat_level_id, analysis, distribution, sharing_group_id,
    published, publish_timestamp, timestamp, org_id, orgc_id, extends_uuid ON events
    FOR EACH ROW EXECUTE FUNCTION events_stamp_local_change();

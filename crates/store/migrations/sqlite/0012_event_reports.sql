-- MISP's event reports: named markdown write-ups of an event (the threat behind its
-- indicators), with their own distribution, synced with the event. Keep in step with
-- ../postgres/0012_event_reports.sql (only the key declaration differs).

CREATE TABLE event_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    event_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    distribution BIGINT NOT NULL,
    sharing_group_id BIGINT NOT NULL DEFAULT 0,
    timestamp BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX event_reports_event ON event_reports (event_id);

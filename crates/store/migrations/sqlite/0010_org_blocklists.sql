-- MISP's organisation blocklist (issue 7): events created by these organisations are refused
-- when pushed, pulled or fetched from feeds. Keep in step with ../postgres/0010_org_blocklists.sql
-- (only the key declaration differs).

CREATE TABLE org_blocklists (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_uuid TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    org_name TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT ''
);

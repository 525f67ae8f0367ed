-- Kizuna schema, version 1 (PostgreSQL). Keep in step with ../sqlite/0001_init.sql:
-- the same tables and columns; only key declarations differ.
-- UUIDs are canonical lower-case TEXT, times are BIGINT Unix seconds, first_seen /
-- last_seen / valid_until are BIGINT microseconds (MISP's own conventions).

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE organisations (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    local BOOLEAN NOT NULL DEFAULT TRUE,
    description TEXT NOT NULL DEFAULT '',
    org_type TEXT NOT NULL DEFAULT '',
    nationality TEXT NOT NULL DEFAULT '',
    sector TEXT NOT NULL DEFAULT '',
    contacts TEXT NOT NULL DEFAULT '',
    created_by BIGINT NOT NULL DEFAULT 0,
    date_created BIGINT NOT NULL,
    date_modified BIGINT NOT NULL,
    restricted_to_domain TEXT NOT NULL DEFAULT '',
    landingpage TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX organisations_name ON organisations (lower(name));

CREATE TABLE roles (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    perm_add BOOLEAN NOT NULL DEFAULT FALSE,
    perm_modify BOOLEAN NOT NULL DEFAULT FALSE,
    perm_modify_org BOOLEAN NOT NULL DEFAULT FALSE,
    perm_publish BOOLEAN NOT NULL DEFAULT FALSE,
    perm_delegate BOOLEAN NOT NULL DEFAULT FALSE,
    perm_sync BOOLEAN NOT NULL DEFAULT FALSE,
    perm_admin BOOLEAN NOT NULL DEFAULT FALSE,
    perm_audit BOOLEAN NOT NULL DEFAULT FALSE,
    perm_full BOOLEAN NOT NULL DEFAULT FALSE,
    perm_auth BOOLEAN NOT NULL DEFAULT FALSE,
    perm_site_admin BOOLEAN NOT NULL DEFAULT FALSE,
    perm_regexp_access BOOLEAN NOT NULL DEFAULT FALSE,
    perm_tagger BOOLEAN NOT NULL DEFAULT FALSE,
    perm_tag_editor BOOLEAN NOT NULL DEFAULT FALSE,
    perm_template BOOLEAN NOT NULL DEFAULT FALSE,
    perm_sharing_group BOOLEAN NOT NULL DEFAULT FALSE,
    perm_sighting BOOLEAN NOT NULL DEFAULT FALSE,
    perm_object_template BOOLEAN NOT NULL DEFAULT FALSE,
    perm_decaying BOOLEAN NOT NULL DEFAULT FALSE,
    perm_publish_zmq BOOLEAN NOT NULL DEFAULT FALSE,
    perm_publish_kafka BOOLEAN NOT NULL DEFAULT FALSE,
    perm_galaxy_editor BOOLEAN NOT NULL DEFAULT FALSE,
    perm_warninglist BOOLEAN NOT NULL DEFAULT FALSE,
    perm_view_feed_correlations BOOLEAN NOT NULL DEFAULT FALSE,
    perm_analyst_data BOOLEAN NOT NULL DEFAULT FALSE,
    perm_skip_otp BOOLEAN NOT NULL DEFAULT FALSE,
    default_role BOOLEAN NOT NULL DEFAULT FALSE,
    memory_limit TEXT NOT NULL DEFAULT '',
    max_execution_time TEXT NOT NULL DEFAULT '',
    restricted_to_site_admin BOOLEAN NOT NULL DEFAULT FALSE,
    enforce_rate_limit BOOLEAN NOT NULL DEFAULT FALSE,
    rate_limit_count BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL DEFAULT 0,
    modified BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL,
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    role_id BIGINT NOT NULL REFERENCES roles (id),
    authkey_hash TEXT NOT NULL UNIQUE,
    authkey_hint TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    autoalert BOOLEAN NOT NULL DEFAULT FALSE,
    contactalert BOOLEAN NOT NULL DEFAULT FALSE,
    termsaccepted BOOLEAN NOT NULL DEFAULT FALSE,
    change_pw BOOLEAN NOT NULL DEFAULT FALSE,
    nids_sid BIGINT NOT NULL DEFAULT 4000000,
    expiration BIGINT,
    last_login BIGINT NOT NULL DEFAULT 0,
    current_login BIGINT NOT NULL DEFAULT 0,
    last_api_access BIGINT NOT NULL DEFAULT 0,
    date_created BIGINT NOT NULL,
    date_modified BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE sharing_groups (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    releasability TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    org_id BIGINT NOT NULL,
    organisation_uuid TEXT NOT NULL,
    sync_user_id BIGINT NOT NULL DEFAULT 0,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    local BOOLEAN NOT NULL DEFAULT TRUE,
    roaming BOOLEAN NOT NULL DEFAULT FALSE,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL
);

CREATE TABLE sharing_group_orgs (
    id BIGSERIAL PRIMARY KEY,
    sharing_group_id BIGINT NOT NULL REFERENCES sharing_groups (id) ON DELETE CASCADE,
    org_id BIGINT NOT NULL,
    extend BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (sharing_group_id, org_id)
);

CREATE TABLE sharing_group_servers (
    id BIGSERIAL PRIMARY KEY,
    sharing_group_id BIGINT NOT NULL REFERENCES sharing_groups (id) ON DELETE CASCADE,
    server_id BIGINT NOT NULL,
    all_orgs BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (sharing_group_id, server_id)
);

CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    info TEXT NOT NULL,
    date TEXT NOT NULL,
    threat_level_id BIGINT NOT NULL DEFAULT 4,
    analysis BIGINT NOT NULL DEFAULT 0,
    distribution BIGINT NOT NULL DEFAULT 0,
    sharing_group_id BIGINT NOT NULL DEFAULT 0,
    published BOOLEAN NOT NULL DEFAULT FALSE,
    publish_timestamp BIGINT NOT NULL DEFAULT 0,
    timestamp BIGINT NOT NULL,
    sighting_timestamp BIGINT NOT NULL DEFAULT 0,
    org_id BIGINT NOT NULL,
    orgc_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL DEFAULT 0,
    attribute_count BIGINT NOT NULL DEFAULT 0,
    locked BOOLEAN NOT NULL DEFAULT FALSE,
    proposal_email_lock BOOLEAN NOT NULL DEFAULT FALSE,
    disable_correlation BOOLEAN NOT NULL DEFAULT FALSE,
    extends_uuid TEXT NOT NULL DEFAULT '',
    protected BOOLEAN
);
CREATE INDEX events_org ON events (org_id);
CREATE INDEX events_orgc ON events (orgc_id);
CREATE INDEX events_timestamp ON events (timestamp);
CREATE INDEX events_publish_timestamp ON events (publish_timestamp);

CREATE TABLE objects (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    event_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    meta_category TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    template_uuid TEXT NOT NULL DEFAULT '',
    template_version TEXT NOT NULL DEFAULT '',
    timestamp BIGINT NOT NULL,
    distribution BIGINT NOT NULL DEFAULT 5,
    sharing_group_id BIGINT NOT NULL DEFAULT 0,
    comment TEXT NOT NULL DEFAULT '',
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    first_seen BIGINT,
    last_seen BIGINT
);
CREATE INDEX objects_event ON objects (event_id);

CREATE TABLE attributes (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    event_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    object_id BIGINT NOT NULL DEFAULT 0,
    object_relation TEXT,
    category TEXT NOT NULL,
    type TEXT NOT NULL,
    value1 TEXT NOT NULL,
    value2 TEXT NOT NULL DEFAULT '',
    to_ids BOOLEAN NOT NULL DEFAULT TRUE,
    comment TEXT NOT NULL DEFAULT '',
    distribution BIGINT NOT NULL DEFAULT 5,
    sharing_group_id BIGINT NOT NULL DEFAULT 0,
    timestamp BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    disable_correlation BOOLEAN NOT NULL DEFAULT FALSE,
    first_seen BIGINT,
    last_seen BIGINT,
    valid_until BIGINT,
    intended_use TEXT,
    status TEXT,
    data TEXT
);
CREATE INDEX attributes_event ON attributes (event_id);
CREATE INDEX attributes_object ON attributes (object_id);

CREATE TABLE object_references (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    object_id BIGINT NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    event_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    source_uuid TEXT NOT NULL,
    referenced_uuid TEXT NOT NULL,
    referenced_id BIGINT NOT NULL DEFAULT 0,
    referenced_type BIGINT NOT NULL DEFAULT 0,
    relationship_type TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    timestamp BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX object_references_event ON object_references (event_id);

CREATE TABLE tags (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    colour TEXT NOT NULL,
    exportable BOOLEAN NOT NULL DEFAULT TRUE,
    org_id BIGINT NOT NULL DEFAULT 0,
    user_id BIGINT NOT NULL DEFAULT 0,
    hide_tag BOOLEAN NOT NULL DEFAULT FALSE,
    numerical_value BIGINT,
    is_galaxy BOOLEAN NOT NULL DEFAULT FALSE,
    is_custom_galaxy BOOLEAN NOT NULL DEFAULT FALSE,
    local_only BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX tags_name ON tags (lower(name));

CREATE TABLE event_tags (
    id BIGSERIAL PRIMARY KEY,
    event_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    tag_id BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    local BOOLEAN NOT NULL DEFAULT FALSE,
    relationship_type TEXT,
    UNIQUE (event_id, tag_id)
);
CREATE INDEX event_tags_tag ON event_tags (tag_id);

CREATE TABLE attribute_tags (
    id BIGSERIAL PRIMARY KEY,
    attribute_id BIGINT NOT NULL REFERENCES attributes (id) ON DELETE CASCADE,
    event_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    tag_id BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    local BOOLEAN NOT NULL DEFAULT FALSE,
    relationship_type TEXT,
    UNIQUE (attribute_id, tag_id)
);
CREATE INDEX attribute_tags_event ON attribute_tags (event_id);
CREATE INDEX attribute_tags_tag ON attribute_tags (tag_id);

CREATE TABLE sightings (
    id BIGSERIAL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    attribute_id BIGINT NOT NULL REFERENCES attributes (id) ON DELETE CASCADE,
    event_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    org_id BIGINT NOT NULL DEFAULT 0,
    date_sighting BIGINT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    type BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sightings_attribute ON sightings (attribute_id);
CREATE INDEX sightings_event ON sightings (event_id);

-- Deleting an event remembers its uuid so sync and feeds do not bring it back (MISP's
-- event blocklist, on by default).
CREATE TABLE event_blocklists (
    id BIGSERIAL PRIMARY KEY,
    event_uuid TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    event_info TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '',
    event_orgc TEXT NOT NULL DEFAULT ''
);

-- MISP's stock roles, with MISP's ids: PyMISP scripts and peers refer to them by number.
INSERT INTO roles (id, name, perm_add, perm_modify, perm_modify_org, perm_publish, perm_delegate,
    perm_sync, perm_admin, perm_audit, perm_full, perm_auth, perm_site_admin, perm_regexp_access,
    perm_tagger, perm_tag_editor, perm_template, perm_sharing_group, perm_sighting,
    perm_object_template, perm_decaying, perm_publish_zmq, perm_publish_kafka, perm_galaxy_editor,
    perm_warninglist, perm_view_feed_correlations, perm_analyst_data, perm_skip_otp, default_role)
VALUES
    (1, 'admin', TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE,
        TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, FALSE, FALSE),
    (2, 'Org Admin', TRUE, TRUE, TRUE, TRUE, TRUE, FALSE, TRUE, TRUE, FALSE, TRUE, FALSE, FALSE, TRUE,
        TRUE, TRUE, TRUE, TRUE, FALSE, TRUE, TRUE, TRUE, TRUE, FALSE, FALSE, TRUE, FALSE, FALSE),
    (3, 'User', TRUE, TRUE, TRUE, FALSE, FALSE, FALSE, FALSE, TRUE, FALSE, TRUE, FALSE, FALSE, TRUE,
        FALSE, FALSE, FALSE, TRUE, FALSE, TRUE, FALSE, FALSE, TRUE, FALSE, FALSE, TRUE, FALSE, TRUE),
    (4, 'Publisher', TRUE, TRUE, TRUE, TRUE, TRUE, FALSE, FALSE, TRUE, FALSE, TRUE, FALSE, FALSE, TRUE,
        FALSE, FALSE, FALSE, TRUE, FALSE, TRUE, TRUE, TRUE, TRUE, FALSE, FALSE, TRUE, FALSE, FALSE),
    (5, 'Sync user', TRUE, TRUE, TRUE, TRUE, TRUE, TRUE, FALSE, TRUE, FALSE, TRUE, FALSE, FALSE, TRUE,
        TRUE, FALSE, TRUE, TRUE, FALSE, TRUE, FALSE, FALSE, TRUE, FALSE, FALSE, TRUE, FALSE, FALSE),
    (6, 'Read Only', FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, TRUE, FALSE, TRUE, FALSE, FALSE,
        FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE, FALSE,
        FALSE, FALSE);

-- The stock roles were inserted with explicit ids; move the sequence past them.
SELECT setval('roles_id_seq', (SELECT MAX(id) FROM roles));

-- Sync servers (issue 7): the TLS material MISP keeps as files beside a server entry, kept here
-- in the database so every node of a PostgreSQL deployment has it, and who may ask a server in
-- a federated search. Identical in both databases.

-- PEM certificates trusted for the remote instead of the system roots ('' = system roots).
ALTER TABLE servers ADD COLUMN cert_pem TEXT NOT NULL DEFAULT '';
-- PEM client certificate and its private key presented to the remote ('' = none). Secret.
ALTER TABLE servers ADD COLUMN client_cert_pem TEXT NOT NULL DEFAULT '';
-- Whether federated searches ask this server at all.
ALTER TABLE servers ADD COLUMN federated_search BOOLEAN NOT NULL DEFAULT TRUE;
-- Comma-separated local organisation ids whose users may ask it ('' = every user).
ALTER TABLE servers ADD COLUMN federated_org_ids TEXT NOT NULL DEFAULT '';

-- MISP's server cache (`caching_enabled`, /servers/cache): the md5 of every value a remote
-- offers and the remote event holding it, looked up like the feed cache without pulling.
ALTER TABLE servers ADD COLUMN cache_timestamp BIGINT NOT NULL DEFAULT 0;
CREATE TABLE server_cache (
    server_id BIGINT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    value_md5 TEXT NOT NULL,
    event_uuid TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (server_id, value_md5, event_uuid)
);
CREATE INDEX server_cache_value ON server_cache (value_md5);

-- Accounts (issue 4): several API keys per user in their own table, a password hash for the
-- web UI, and the audit log. Keep in step with ../postgres/0005_accounts.sql.
--
-- SQLite cannot drop a UNIQUE column, so `users` is rebuilt without its single key; the key
-- each existing user had becomes that user's first row in `auth_keys`.

CREATE TABLE users_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    role_id BIGINT NOT NULL REFERENCES roles (id),
    password TEXT NOT NULL DEFAULT '',
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
    date_modified BIGINT NOT NULL,
    legacy_authkey_hash TEXT,
    legacy_authkey_hint TEXT
);
INSERT INTO users_rebuilt (id, email, org_id, role_id, disabled, autoalert, contactalert,
    termsaccepted, change_pw, nids_sid, expiration, last_login, current_login, last_api_access,
    date_created, date_modified, legacy_authkey_hash, legacy_authkey_hint)
SELECT id, email, org_id, role_id, disabled, autoalert, contactalert, termsaccepted, change_pw,
    nids_sid, expiration, last_login, current_login, last_api_access, date_created,
    date_modified, authkey_hash, authkey_hint
FROM users;
DROP TABLE users;
ALTER TABLE users_rebuilt RENAME TO users;
CREATE UNIQUE INDEX users_email ON users (lower(email));
CREATE INDEX users_org ON users (org_id);

CREATE TABLE auth_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    -- SHA-256 hex digest of the 40-character key; the key itself is never stored.
    authkey_hash TEXT NOT NULL UNIQUE,
    authkey_start TEXT NOT NULL,
    authkey_end TEXT NOT NULL,
    created BIGINT NOT NULL,
    -- 0 = never expires.
    expiration BIGINT NOT NULL DEFAULT 0,
    read_only BOOLEAN NOT NULL DEFAULT FALSE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    comment TEXT NOT NULL DEFAULT '',
    allowed_ips TEXT NOT NULL DEFAULT '',
    last_used BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX auth_keys_user ON auth_keys (user_id);
INSERT INTO auth_keys (uuid, authkey_hash, authkey_start, authkey_end, created, user_id, comment)
SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
        || '-8' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
    legacy_authkey_hash, substr(legacy_authkey_hint, 1, 4),
    substr(legacy_authkey_hint, length(legacy_authkey_hint) - 3), date_created, id,
    'Key created before per-user key lists'
FROM users WHERE legacy_authkey_hash IS NOT NULL;
ALTER TABLE users DROP COLUMN legacy_authkey_hash;
ALTER TABLE users DROP COLUMN legacy_authkey_hint;

-- MISP's audit log (AuditLog): logins, failed logins and every write.
CREATE TABLE audit_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created BIGINT NOT NULL,
    user_id BIGINT NOT NULL DEFAULT 0,
    org_id BIGINT NOT NULL DEFAULT 0,
    authkey_id BIGINT NOT NULL DEFAULT 0,
    ip TEXT NOT NULL DEFAULT '',
    -- 0 browser, 1 API, 2 CLI (MISP's request types).
    request_type BIGINT NOT NULL DEFAULT 1,
    request_id TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    model_id BIGINT NOT NULL DEFAULT 0,
    model_title TEXT NOT NULL DEFAULT '',
    event_id BIGINT NOT NULL DEFAULT 0,
    -- JSON object of what changed, never a key or password.
    change TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_logs_created ON audit_logs (created);
CREATE INDEX audit_logs_model ON audit_logs (model, model_id);

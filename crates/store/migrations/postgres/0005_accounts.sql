-- Accounts (issue 4): several API keys per user in their own table, a password hash for the
-- web UI, and the audit log. Keep in step with ../sqlite/0005_accounts.sql.

CREATE TABLE auth_keys (
    id BIGSERIAL PRIMARY KEY,
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
-- The key each existing user had becomes that user's first key.
INSERT INTO auth_keys (uuid, authkey_hash, authkey_start, authkey_end, created, user_id, comment)
SELECT md5(random()::text || id::text)::uuid::text, authkey_hash, left(authkey_hint, 4),
    right(authkey_hint, 4), date_created, id, 'Key created before per-user key lists'
FROM users;
ALTER TABLE users DROP COLUMN authkey_hash;
ALTER TABLE users DROP COLUMN authkey_hint;
ALTER TABLE users ADD COLUMN password TEXT NOT NULL DEFAULT '';
CREATE INDEX users_org ON users (org_id);

-- MISP's audit log (AuditLog): logins, failed logins and every write.
CREATE TABLE audit_logs (
    id BIGSERIAL PRIMARY KEY,
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

-- Accounts (issue 4): the rest of MISP's user profile. Keep in step with
-- ../sqlite/0006_user_profile.sql.

ALTER TABLE users ADD COLUMN gpgkey TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN certif_public TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN notification_daily BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN notification_weekly BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN notification_monthly BOOLEAN NOT NULL DEFAULT FALSE;
-- The user who created the account; 0 = unknown or the command line.
ALTER TABLE users ADD COLUMN invited_by BIGINT NOT NULL DEFAULT 0;
-- Unix seconds of the last password change; 0 = never set.
ALTER TABLE users ADD COLUMN last_pw_change BIGINT NOT NULL DEFAULT 0;
CREATE INDEX users_role ON users (role_id);

//! Users and their API keys. API keys are stored only as their SHA-256 hex digest, passwords
//! only as the argon2id PHC string the caller computed.

use crate::rows::{AuthKeyRow, RoleRow, UserRow};
use crate::{Result, Store, StoreError, conflict_on_unique, with_pool, with_writer};
use kizuna_model::{AuthKey, Organisation, Role, User};
use sqlx::AssertSqlSafe;

pub(crate) const USER_COLUMNS: &str = "id, email, org_id, role_id, disabled, autoalert, \
     contactalert, termsaccepted, change_pw, nids_sid, expiration, last_login, current_login, \
     last_api_access, date_created, date_modified, gpgkey, certif_public, notification_daily, \
     notification_weekly, notification_monthly, invited_by, last_pw_change";

const EMAIL_TAKEN: &str = "An account with this email address already exists.";

const AUTH_KEY_COLUMNS: &str = "id, uuid, authkey_start, authkey_end, created, expiration, \
     read_only, user_id, comment, allowed_ips, last_used";

/// Everything a request needs to know about who is calling.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: User,
    pub role: Role,
    pub org: Organisation,
    /// The key the request was made with.
    pub auth_key: AuthKey,
}

/// A key to store for a user: the digest of the key and what may be shown of it.
#[derive(Clone, Debug, Default)]
pub struct NewAuthKey {
    pub authkey_sha256: String,
    pub authkey_start: String,
    pub authkey_end: String,
    pub expiration: i64,
    pub read_only: bool,
    pub comment: String,
    pub allowed_ips: Vec<String>,
}

/// An API key with who owns it, for listings.
#[derive(Clone, Debug)]
pub struct OwnedAuthKey {
    pub key: AuthKey,
    pub email: String,
    pub org_id: i64,
}

impl Store {
    pub async fn count_users(&self) -> Result<i64> {
        let (count,): (i64,) = with_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(pool).await?
        });
        Ok(count)
    }

    /// Inserts `user` (its `id` is ignored) without a password and, when given, its first
    /// API key, in one transaction.
    pub async fn create_user(&self, user: &User, first_key: Option<&NewAuthKey>) -> Result<User> {
        self.create_user_with_password(user, "", first_key).await
    }

    /// Inserts `user` (its `id` is ignored) with `password_hash` (a PHC string, or empty for
    /// none) and, when given, its first API key, in one transaction.
    pub async fn create_user_with_password(
        &self,
        user: &User,
        password_hash: &str,
        first_key: Option<&NewAuthKey>,
    ) -> Result<User> {
        let sql = format!(
            "INSERT INTO users (email, org_id, role_id, disabled, autoalert, contactalert, \
             termsaccepted, change_pw, nids_sid, expiration, date_created, date_modified, \
             gpgkey, certif_public, notification_daily, notification_weekly, \
             notification_monthly, invited_by, last_pw_change, password) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19, $20) \
             RETURNING {USER_COLUMNS}"
        );
        let mut tx = self.begin().await?;
        let row: UserRow = crate::with_tx!(&mut tx, conn => {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(&user.email)
                .bind(user.org_id)
                .bind(user.role_id)
                .bind(user.disabled)
                .bind(user.autoalert)
                .bind(user.contactalert)
                .bind(user.termsaccepted)
                .bind(user.change_pw)
                .bind(user.nids_sid)
                .bind(user.expiration)
                .bind(user.date_created)
                .bind(user.date_modified)
                .bind(&user.gpgkey)
                .bind(&user.certif_public)
                .bind(user.notification_daily)
                .bind(user.notification_weekly)
                .bind(user.notification_monthly)
                .bind(user.invited_by)
                .bind(user.last_pw_change)
                .bind(password_hash)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| conflict_on_unique(e, EMAIL_TAKEN))?
        });
        if let Some(key) = first_key {
            insert_auth_key(&mut tx, row.id, key, user.date_created).await?;
        }
        tx.commit().await?;
        Ok(row.into())
    }

    /// Writes every editable field of `user` (found by its `id`): e-mail, organisation, role,
    /// flags, profile and `date_modified`; the password only when `new_password_hash` is
    /// given. Login times and `date_created` are left alone.
    pub async fn update_user(&self, user: &User, new_password_hash: Option<&str>) -> Result<User> {
        let sql = format!(
            "UPDATE users SET email = $1, org_id = $2, role_id = $3, disabled = $4, \
             autoalert = $5, contactalert = $6, termsaccepted = $7, change_pw = $8, \
             nids_sid = $9, expiration = $10, gpgkey = $11, certif_public = $12, \
             notification_daily = $13, notification_weekly = $14, notification_monthly = $15, \
             last_pw_change = $16, date_modified = $17, password = COALESCE($18, password) \
             WHERE id = $19 RETURNING {USER_COLUMNS}"
        );
        let row: Option<UserRow> = with_writer!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(&user.email)
                .bind(user.org_id)
                .bind(user.role_id)
                .bind(user.disabled)
                .bind(user.autoalert)
                .bind(user.contactalert)
                .bind(user.termsaccepted)
                .bind(user.change_pw)
                .bind(user.nids_sid)
                .bind(user.expiration)
                .bind(&user.gpgkey)
                .bind(&user.certif_public)
                .bind(user.notification_daily)
                .bind(user.notification_weekly)
                .bind(user.notification_monthly)
                .bind(user.last_pw_change)
                .bind(user.date_modified)
                .bind(new_password_hash)
                .bind(user.id)
                .fetch_optional(pool)
                .await
                .map_err(|e| conflict_on_unique(e, EMAIL_TAKEN))?
        });
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    /// Disables or enables user `id`; disabled users cannot authenticate.
    pub async fn set_user_disabled(&self, id: i64, disabled: bool, now: i64) -> Result<User> {
        let sql = format!(
            "UPDATE users SET disabled = $1, date_modified = $2 WHERE id = $3 \
             RETURNING {USER_COLUMNS}"
        );
        let row: Option<UserRow> = with_writer!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(disabled)
                .bind(now)
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    /// Deletes user `id` and, with it, every API key of theirs. Events, sightings and logs
    /// keep the id, as MISP's do.
    pub async fn delete_user(&self, id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let deleted = crate::with_tx!(&mut tx, conn => {
            // Explicitly, not through the foreign key alone: an SQLite connection opened
            // without foreign_keys would otherwise leave the keys behind, still working.
            sqlx::query("DELETE FROM auth_keys WHERE user_id = $1").bind(id).execute(&mut *conn).await?;
            sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *conn).await?.rows_affected()
        });
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stored password hash of user `id` (a PHC string; empty when none was set).
    pub async fn user_password_hash(&self, id: i64) -> Result<String> {
        let row: Option<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT password FROM users WHERE id = $1").bind(id).fetch_optional(pool).await?
        });
        row.map(|(hash,)| hash).ok_or(StoreError::NotFound)
    }

    /// How many users have role `role_id`.
    pub async fn count_users_with_role(&self, role_id: i64) -> Result<i64> {
        let (count,): (i64,) = with_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM users WHERE role_id = $1").bind(role_id).fetch_one(pool).await?
        });
        Ok(count)
    }

    /// Adds an API key to user `user_id`.
    pub async fn create_auth_key(
        &self,
        user_id: i64,
        key: &NewAuthKey,
        now: i64,
    ) -> Result<AuthKey> {
        let mut tx = self.begin().await?;
        let stored = insert_auth_key(&mut tx, user_id, key, now).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Keys of one user, or of every user (None), oldest first.
    pub async fn list_auth_keys(&self, user_id: Option<i64>) -> Result<Vec<AuthKey>> {
        let rows: Vec<AuthKeyRow> = match user_id {
            Some(user_id) => {
                let sql = format!(
                    "SELECT {AUTH_KEY_COLUMNS} FROM auth_keys WHERE user_id = $1 ORDER BY id"
                );
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(user_id).fetch_all(pool).await?)
            }
            None => {
                let sql = format!("SELECT {AUTH_KEY_COLUMNS} FROM auth_keys ORDER BY id");
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).fetch_all(pool).await?)
            }
        };
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn auth_key(&self, key: &crate::Key) -> Result<AuthKey> {
        let row: Option<AuthKeyRow> = match key {
            crate::Key::Id(id) => {
                let sql = format!("SELECT {AUTH_KEY_COLUMNS} FROM auth_keys WHERE id = $1");
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(*id).fetch_optional(pool).await?)
            }
            crate::Key::Uuid(uuid) => {
                let sql = format!("SELECT {AUTH_KEY_COLUMNS} FROM auth_keys WHERE uuid = $1");
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(uuid).fetch_optional(pool).await?)
            }
        };
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    pub async fn delete_auth_key(&self, id: i64) -> Result<()> {
        let deleted = with_writer!(self, pool => {
            sqlx::query("DELETE FROM auth_keys WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
        });
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Writes what may change of an existing key (found by its `id`): comment, expiration,
    /// read-only flag and allowed addresses.
    pub async fn update_auth_key(&self, key: &AuthKey) -> Result<AuthKey> {
        let sql = format!(
            "UPDATE auth_keys SET comment = $1, expiration = $2, read_only = $3, \
             allowed_ips = $4 WHERE id = $5 RETURNING {AUTH_KEY_COLUMNS}"
        );
        let row: Option<AuthKeyRow> = with_writer!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(&key.comment)
                .bind(key.expiration)
                .bind(key.read_only)
                .bind(key.allowed_ips.join(" "))
                .bind(key.id)
                .fetch_optional(pool)
                .await?
        });
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    /// MISP's key reset (AuthKey::resetAuthKey), in one transaction. With `only_key`, that
    /// key of the user expires now and the new key inherits its allowed addresses and a
    /// comment naming it; otherwise every live key of the user expires now and the new key
    /// is stored as given.
    pub async fn reset_auth_keys(
        &self,
        user_id: i64,
        only_key: Option<i64>,
        new_key: &NewAuthKey,
        now: i64,
    ) -> Result<AuthKey> {
        let mut tx = self.begin().await?;
        let mut stored = new_key.clone();
        match only_key {
            Some(key_id) => {
                let sql = format!(
                    "UPDATE auth_keys SET expiration = $1 WHERE id = $2 AND user_id = $3 \
                     RETURNING {AUTH_KEY_COLUMNS}"
                );
                let old: Option<AuthKeyRow> = crate::with_tx!(&mut tx, conn => {
                    sqlx::query_as(AssertSqlSafe(sql.as_str()))
                        .bind(now)
                        .bind(key_id)
                        .bind(user_id)
                        .fetch_optional(&mut *conn)
                        .await?
                });
                let old: AuthKey = old.ok_or(StoreError::NotFound)?.into();
                stored.comment = format!("Created by resetting auth key {key_id}\n{}", old.comment)
                    .trim_end()
                    .to_string();
                stored.allowed_ips = old.allowed_ips;
            }
            None => {
                crate::with_tx!(&mut tx, conn => {
                    sqlx::query(
                        "UPDATE auth_keys SET expiration = $1 \
                         WHERE user_id = $2 AND (expiration = 0 OR expiration > $1)",
                    )
                    .bind(now)
                    .bind(user_id)
                    .execute(&mut *conn)
                    .await?;
                });
            }
        }
        let created = insert_auth_key(&mut tx, user_id, &stored, now).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Keys with their owner's e-mail address and organisation, oldest first; `user_id` and
    /// `org_id` narrow the list to one user or to the users of one organisation.
    pub async fn auth_keys_with_owners(
        &self,
        user_id: Option<i64>,
        org_id: Option<i64>,
    ) -> Result<Vec<OwnedAuthKey>> {
        let columns = AUTH_KEY_COLUMNS
            .split(", ")
            .map(|column| format!("k.{column}"))
            .collect::<Vec<_>>()
            .join(", ");
        // NULL never equals anything, so `$n IS NULL OR …` switches each filter off.
        let sql = format!(
            "SELECT {columns}, u.email AS owner_email, u.org_id AS owner_org_id \
             FROM auth_keys k JOIN users u ON u.id = k.user_id \
             WHERE ($1 IS NULL OR k.user_id = $1) AND ($2 IS NULL OR u.org_id = $2) \
             ORDER BY k.id"
        );
        let rows = with_pool!(self, pool => {
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(user_id)
                .bind(org_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    use sqlx::{FromRow, Row};
                    Ok::<_, sqlx::Error>(OwnedAuthKey {
                        key: AuthKeyRow::from_row(row)?.into(),
                        email: row.try_get("owner_email")?,
                        org_id: row.try_get("owner_org_id")?,
                    })
                })
                .collect::<std::result::Result<Vec<_>, _>>()?
        });
        Ok(rows)
    }

    /// The user owning the API key with this digest, with role, organisation and the key
    /// itself. The caller decides whether the user, role and key allow a login.
    pub async fn principal_by_key(&self, authkey_sha256: &str) -> Result<Option<Principal>> {
        let sql = format!(
            "SELECT {AUTH_KEY_COLUMNS}, authkey_hash FROM auth_keys WHERE authkey_hash = $1"
        );
        let row: Option<(AuthKeyRow, String)> = with_pool!(self, pool => {
            sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(authkey_sha256)
                .fetch_optional(pool)
                .await?
                .map(|row| {
                    use sqlx::{FromRow, Row};
                    Ok::<_, sqlx::Error>((AuthKeyRow::from_row(&row)?, row.try_get("authkey_hash")?))
                })
                .transpose()?
        });
        let Some((key_row, stored_digest)) = row else {
            return Ok(None);
        };
        // The index lookup is by digest; compare again in constant time so that no timing of
        // ours depends on how much of a guessed digest matched.
        if !constant_time_eq(stored_digest.as_bytes(), authkey_sha256.as_bytes()) {
            return Ok(None);
        }
        let auth_key: AuthKey = key_row.into();
        let user = self.user(auth_key.user_id).await?;
        let role = self.role(user.role_id).await?;
        let org = self.org(&crate::Key::Id(user.org_id)).await?;
        Ok(Some(Principal {
            user,
            role,
            org,
            auth_key,
        }))
    }

    pub async fn user(&self, id: i64) -> Result<User> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: Option<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await?
        });
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    /// Case-insensitive lookup by e-mail address.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)");
        let row: Option<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(email).fetch_optional(pool).await?
        });
        Ok(row.map(Into::into))
    }

    /// Records the time a key was last used (and the user's latest API call).
    pub async fn touch_auth_key(&self, key_id: i64, user_id: i64, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        crate::with_tx!(&mut tx, conn => {
            sqlx::query("UPDATE auth_keys SET last_used = $1 WHERE id = $2")
                .bind(now)
                .bind(key_id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("UPDATE users SET last_api_access = $1 WHERE id = $2")
                .bind(now)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
        });
        tx.commit().await?;
        Ok(())
    }

    /// All users, oldest first; `org_id` limits them to one organisation.
    pub async fn list_users(&self, org_id: Option<i64>) -> Result<Vec<User>> {
        let rows: Vec<UserRow> = match org_id {
            Some(org_id) => {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE org_id = $1 ORDER BY id");
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(org_id).fetch_all(pool).await?)
            }
            None => {
                let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).fetch_all(pool).await?)
            }
        };
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Number of users per organisation id.
    pub async fn user_counts(&self) -> Result<std::collections::HashMap<i64, i64>> {
        let rows: Vec<(i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT org_id, COUNT(*) FROM users GROUP BY org_id").fetch_all(pool).await?
        });
        Ok(rows.into_iter().collect())
    }

    pub async fn role(&self, id: i64) -> Result<Role> {
        let row: Option<RoleRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT * FROM roles WHERE id = $1").bind(id).fetch_optional(pool).await?
        });
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    pub async fn list_roles(&self) -> Result<Vec<Role>> {
        let rows: Vec<RoleRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT * FROM roles ORDER BY id").fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

async fn insert_auth_key(
    tx: &mut crate::Tx,
    user_id: i64,
    key: &NewAuthKey,
    now: i64,
) -> Result<AuthKey> {
    let sql = format!(
        "INSERT INTO auth_keys (uuid, authkey_hash, authkey_start, authkey_end, created, \
         expiration, read_only, user_id, comment, allowed_ips) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {AUTH_KEY_COLUMNS}"
    );
    let row: AuthKeyRow = crate::with_tx!(tx, conn => {
        sqlx::query_as(AssertSqlSafe(sql.as_str()))
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&key.authkey_sha256)
            .bind(&key.authkey_start)
            .bind(&key.authkey_end)
            .bind(now)
            .bind(key.expiration)
            .bind(key.read_only)
            .bind(user_id)
            .bind(&key.comment)
            .bind(key.allowed_ips.join(" "))
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| conflict_on_unique(e, "This API key already exists."))?
    });
    Ok(row.into())
}

fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

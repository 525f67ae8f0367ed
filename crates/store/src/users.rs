//! Users and roles. API keys are stored only as their SHA-256 hex digest.

use crate::rows::{RoleRow, UserRow};
use crate::{Result, Store, StoreError, conflict_on_unique, with_pool};
use kizuna_model::{Organisation, Role, User};
use sqlx::AssertSqlSafe;

const USER_COLUMNS: &str = "id, email, org_id, role_id, authkey_hint, disabled, autoalert, \
     contactalert, termsaccepted, change_pw, nids_sid, expiration, last_login, current_login, \
     last_api_access, date_created, date_modified";

/// Everything a request needs to know about who is calling.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: User,
    pub role: Role,
    pub org: Organisation,
}

impl Store {
    pub async fn count_users(&self) -> Result<i64> {
        let (count,): (i64,) = with_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(pool).await?
        });
        Ok(count)
    }

    /// Inserts `user` (its `id` is ignored) with the digest of its API key.
    pub async fn create_user(&self, user: &User, authkey_sha256: &str) -> Result<User> {
        let sql = format!(
            "INSERT INTO users (email, org_id, role_id, authkey_hash, authkey_hint, disabled, \
             autoalert, contactalert, termsaccepted, change_pw, nids_sid, expiration, \
             date_created, date_modified) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             RETURNING {USER_COLUMNS}"
        );
        let row: UserRow = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(&user.email)
                .bind(user.org_id)
                .bind(user.role_id)
                .bind(authkey_sha256)
                .bind(&user.authkey_hint)
                .bind(user.disabled)
                .bind(user.autoalert)
                .bind(user.contactalert)
                .bind(user.termsaccepted)
                .bind(user.change_pw)
                .bind(user.nids_sid)
                .bind(user.expiration)
                .bind(user.date_created)
                .bind(user.date_modified)
                .fetch_one(pool)
                .await
                .map_err(|e| conflict_on_unique(e, format!("A user with the e-mail address {} already exists.", user.email)))?
        });
        Ok(row.into())
    }

    /// The enabled user owning the API key with this digest, with role and organisation.
    pub async fn principal_by_key(&self, authkey_sha256: &str) -> Result<Option<Principal>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE authkey_hash = $1");
        let row: Option<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(authkey_sha256).fetch_optional(pool).await?
        });
        let Some(row) = row else { return Ok(None) };
        let user: User = row.into();
        let role = self.role(user.role_id).await?;
        let org = self.org(&crate::Key::Id(user.org_id)).await?;
        Ok(Some(Principal { user, role, org }))
    }

    /// Records the time of the user's latest API call.
    pub async fn touch_api_access(&self, user_id: i64, now: i64) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE users SET last_api_access = $1 WHERE id = $2")
                .bind(now)
                .bind(user_id)
                .execute(pool)
                .await?;
        });
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

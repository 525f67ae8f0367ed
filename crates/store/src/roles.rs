//! Roles: MISP's permission sets. The stock roles 1–6 come with the first migration; one
//! role at a time is the default for new users (`default_role`).

use crate::rows::RoleRow;
use crate::{Result, Store, StoreError, conflict_on_unique, with_pool, with_writer};
use kizuna_model::Role;
use sqlx::AssertSqlSafe;

/// The non-flag columns a caller may set, after `name` and the `perm_*` flags.
const SETTINGS_COLUMNS: [&str; 5] = [
    "memory_limit",
    "max_execution_time",
    "restricted_to_site_admin",
    "enforce_rate_limit",
    "rate_limit_count",
];

fn role_name_taken(name: &str) -> String {
    format!("A role named {name:?} already exists.")
}

/// Binds `name`, every flag and the settings of `role`, in the order of [`writable_columns`].
macro_rules! bind_role {
    ($query:expr, $role:expr) => {{
        let mut query = $query.bind(&$role.name);
        for (_, value) in $role.permissions.flags() {
            query = query.bind(value);
        }
        query
            .bind(&$role.memory_limit)
            .bind(&$role.max_execution_time)
            .bind($role.restricted_to_site_admin)
            .bind($role.enforce_rate_limit)
            .bind($role.rate_limit_count)
    }};
}

/// `name`, the flag columns and the settings columns, in binding order.
fn writable_columns() -> Vec<&'static str> {
    let mut columns = vec!["name"];
    columns.extend(
        kizuna_model::RolePermissions::default()
            .flags()
            .iter()
            .map(|(name, _)| *name),
    );
    columns.extend(SETTINGS_COLUMNS);
    columns
}

impl Store {
    /// Inserts `role` (its `id` and `default_role` are ignored) with `now` as its creation
    /// and modification time.
    pub async fn create_role(&self, role: &Role, now: i64) -> Result<Role> {
        let columns = writable_columns();
        let placeholders: Vec<String> = (1..=columns.len()).map(|n| format!("${n}")).collect();
        let next = columns.len() + 1;
        let sql = format!(
            "INSERT INTO roles ({}, created, modified) VALUES ({}, ${next}, ${next}) RETURNING *",
            columns.join(", "),
            placeholders.join(", "),
        );
        let row: RoleRow = with_writer!(self, pool => {
            bind_role!(sqlx::query_as(AssertSqlSafe(sql.as_str())), role)
                .bind(now)
                .fetch_one(pool)
                .await
                .map_err(|e| conflict_on_unique(e, role_name_taken(&role.name)))?
        });
        Ok(row.into())
    }

    /// Writes name, flags and settings of `role` (found by its `id`) and sets `modified`.
    pub async fn update_role(&self, role: &Role, now: i64) -> Result<Role> {
        let columns = writable_columns();
        let assignments: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(index, column)| format!("{column} = ${}", index + 1))
            .collect();
        let sql = format!(
            "UPDATE roles SET {}, modified = ${} WHERE id = ${} RETURNING *",
            assignments.join(", "),
            columns.len() + 1,
            columns.len() + 2,
        );
        let row: Option<RoleRow> = with_writer!(self, pool => {
            bind_role!(sqlx::query_as(AssertSqlSafe(sql.as_str())), role)
                .bind(now)
                .bind(role.id)
                .fetch_optional(pool)
                .await
                .map_err(|e| conflict_on_unique(e, role_name_taken(&role.name)))?
        });
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    /// Deletes role `id`, unless users still have it or it is the default role
    /// ([`StoreError::Conflict`] saying which).
    pub async fn delete_role(&self, id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let found: Option<(bool, i64)> = crate::with_tx!(&mut tx, conn => {
            sqlx::query_as(
                "SELECT default_role, (SELECT COUNT(*) FROM users WHERE role_id = $1) \
                 FROM roles WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        });
        match found {
            None => return Err(StoreError::NotFound),
            Some((_, users)) if users > 0 => {
                return Err(StoreError::Conflict(
                    "It is not possible to delete a role that is assigned to users.".into(),
                ));
            }
            Some((true, _)) => {
                return Err(StoreError::Conflict(
                    "The default role cannot be deleted; make another role the default first."
                        .into(),
                ));
            }
            Some(_) => {}
        }
        crate::with_tx!(&mut tx, conn => {
            sqlx::query("DELETE FROM roles WHERE id = $1").bind(id).execute(&mut *conn).await?;
        });
        tx.commit().await?;
        Ok(())
    }

    /// Makes role `id` the one default role.
    pub async fn set_default_role(&self, id: i64) -> Result<Role> {
        let mut tx = self.begin().await?;
        let exists: Option<(i64,)> = crate::with_tx!(&mut tx, conn => {
            sqlx::query_as("SELECT id FROM roles WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?
        });
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        crate::with_tx!(&mut tx, conn => {
            sqlx::query(
                "UPDATE roles SET default_role = CASE WHEN id = $1 THEN TRUE ELSE FALSE END \
                 WHERE default_role OR id = $1",
            )
            .bind(id)
            .execute(&mut *conn)
            .await?;
        });
        tx.commit().await?;
        self.role(id).await
    }

    /// The default role of new users, if one is set.
    pub async fn default_role(&self) -> Result<Option<Role>> {
        let row: Option<RoleRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT * FROM roles WHERE default_role ORDER BY id LIMIT 1")
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(Into::into))
    }

    /// Case-insensitive lookup by name.
    pub async fn role_by_name(&self, name: &str) -> Result<Option<Role>> {
        let row: Option<RoleRow> = with_pool!(self, pool => {
            sqlx::query_as("SELECT * FROM roles WHERE lower(name) = lower($1)")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(Into::into))
    }
}

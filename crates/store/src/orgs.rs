//! Organisations.

use crate::rows::OrganisationRow;
use crate::{Key, Result, Store, StoreError, conflict_on_unique, with_pool, with_writer};
use kizuna_model::Organisation;
use sqlx::AssertSqlSafe;

const ORG_COLUMNS: &str = "id, uuid, name, local, description, org_type, nationality, sector, \
     contacts, created_by, date_created, date_modified, restricted_to_domain, landingpage";

impl Store {
    /// Inserts `org` (its `id` is ignored) and returns it with its new id.
    pub async fn create_org(&self, org: &Organisation) -> Result<Organisation> {
        let sql = format!(
            "INSERT INTO organisations (uuid, name, local, description, org_type, nationality, \
             sector, contacts, created_by, date_created, date_modified, restricted_to_domain, \
             landingpage) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             RETURNING {ORG_COLUMNS}"
        );
        let row: OrganisationRow = with_writer!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(&org.uuid)
                .bind(&org.name)
                .bind(org.local)
                .bind(&org.description)
                .bind(&org.org_type)
                .bind(&org.nationality)
                .bind(&org.sector)
                .bind(&org.contacts)
                .bind(org.created_by)
                .bind(org.date_created)
                .bind(org.date_modified)
                .bind(org.restricted_to_domain.join("\n"))
                .bind(&org.landingpage)
                .fetch_one(pool)
                .await
                .map_err(|e| conflict_on_unique(e, format!("An organisation named {:?} or with uuid {} already exists.", org.name, org.uuid)))?
        });
        Ok(row.into())
    }

    /// Writes every field of `org` (found by its `id`) except `created_by` and
    /// `date_created`.
    pub async fn update_org(&self, org: &Organisation) -> Result<Organisation> {
        let sql = format!(
            "UPDATE organisations SET uuid = $1, name = $2, local = $3, description = $4, \
             org_type = $5, nationality = $6, sector = $7, contacts = $8, date_modified = $9, \
             restricted_to_domain = $10, landingpage = $11 WHERE id = $12 \
             RETURNING {ORG_COLUMNS}"
        );
        let row: Option<OrganisationRow> = with_writer!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(&org.uuid)
                .bind(&org.name)
                .bind(org.local)
                .bind(&org.description)
                .bind(&org.org_type)
                .bind(&org.nationality)
                .bind(&org.sector)
                .bind(&org.contacts)
                .bind(org.date_modified)
                .bind(org.restricted_to_domain.join("\n"))
                .bind(&org.landingpage)
                .bind(org.id)
                .fetch_optional(pool)
                .await
                .map_err(|e| conflict_on_unique(e, format!("An organisation named {:?} or with uuid {} already exists.", org.name, org.uuid)))?
        });
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    /// Deletes organisation `id`, refused ([`StoreError::Conflict`] saying why) while it
    /// still has users or owns or created events, as MISP refuses (Organisation::beforeDelete).
    pub async fn delete_org(&self, id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let found: Option<(i64, i64)> = crate::with_tx!(&mut tx, conn => {
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM users WHERE org_id = $1), \
                 (SELECT COUNT(*) FROM events WHERE org_id = $1 OR orgc_id = $1) \
                 FROM organisations WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        });
        match found {
            None => return Err(StoreError::NotFound),
            Some((users, _)) if users > 0 => {
                return Err(StoreError::Conflict(format!(
                    "The organisation still has {users} user(s); delete or move them first."
                )));
            }
            Some((_, events)) if events > 0 => {
                return Err(StoreError::Conflict(format!(
                    "The organisation still owns or created {events} event(s)."
                )));
            }
            Some(_) => {}
        }
        crate::with_tx!(&mut tx, conn => {
            sqlx::query("DELETE FROM organisations WHERE id = $1").bind(id).execute(&mut *conn).await?;
        });
        tx.commit().await?;
        Ok(())
    }

    pub async fn org(&self, key: &Key) -> Result<Organisation> {
        let row: Option<OrganisationRow> = match key {
            Key::Id(id) => {
                let sql = format!("SELECT {ORG_COLUMNS} FROM organisations WHERE id = $1");
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(*id).fetch_optional(pool).await?)
            }
            Key::Uuid(uuid) => {
                let sql = format!("SELECT {ORG_COLUMNS} FROM organisations WHERE uuid = $1");
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(uuid).fetch_optional(pool).await?)
            }
        };
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    /// Case-insensitive lookup by name.
    pub async fn org_by_name(&self, name: &str) -> Result<Option<Organisation>> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM organisations WHERE lower(name) = lower($1)");
        let row: Option<OrganisationRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(name).fetch_optional(pool).await?
        });
        Ok(row.map(Into::into))
    }

    /// Organisations by id, for embedding in events.
    pub async fn orgs_by_ids(&self, ids: &[i64]) -> Result<Vec<Organisation>> {
        let mut orgs = Vec::with_capacity(ids.len());
        for id in ids {
            match self.org(&Key::Id(*id)).await {
                Ok(org) => orgs.push(org),
                Err(StoreError::NotFound) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(orgs)
    }

    pub async fn list_orgs(&self) -> Result<Vec<Organisation>> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM organisations ORDER BY id");
        let rows: Vec<OrganisationRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

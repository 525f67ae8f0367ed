//! Sharing groups with their member organisations and servers (server 0 is this instance).
//!
//! Every write runs in one transaction. Member lists are keyed by (group, organisation) and
//! (group, server): writing a member that is already there updates its flag (`extend`,
//! `all_orgs`) instead of failing, which is how MISP merges the lists of an edit.

use crate::sql::{Sql, bind_all};
use crate::{Key, Result, Store, StoreError, Tx, conflict_on_unique, with_pool, with_tx};
use kizuna_model::{SharingGroup, SharingGroupOrg, SharingGroupServer};
use sqlx::AssertSqlSafe;
use std::collections::{HashMap, HashSet};

const GROUP_COLUMNS: &str = "id, uuid, name, releasability, description, org_id, \
     organisation_uuid, sync_user_id, active, local, roaming, created, modified";

const NAME_TAKEN: &str = "A sharing group with this name already exists.";
const IN_USE: &str = "The sharing group is still used by events, attributes or objects.";

#[derive(sqlx::FromRow)]
struct SharingGroupRow {
    id: i64,
    uuid: String,
    name: String,
    releasability: String,
    description: String,
    org_id: i64,
    organisation_uuid: String,
    sync_user_id: i64,
    active: bool,
    local: bool,
    roaming: bool,
    created: i64,
    modified: i64,
}

impl From<SharingGroupRow> for SharingGroup {
    fn from(row: SharingGroupRow) -> Self {
        SharingGroup {
            id: row.id,
            uuid: row.uuid,
            name: row.name,
            releasability: row.releasability,
            description: row.description,
            org_id: row.org_id,
            organisation_uuid: row.organisation_uuid,
            sync_user_id: row.sync_user_id,
            active: row.active,
            local: row.local,
            roaming: row.roaming,
            created: row.created,
            modified: row.modified,
            orgs: Vec::new(),
            servers: Vec::new(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct MemberOrgRow {
    id: i64,
    sharing_group_id: i64,
    org_id: i64,
    extend: bool,
}

#[derive(sqlx::FromRow)]
struct MemberServerRow {
    id: i64,
    sharing_group_id: i64,
    server_id: i64,
    all_orgs: bool,
}

impl Store {
    /// Inserts `group` (its ids are ignored) with its member organisations and servers and
    /// returns it as stored. A taken uuid or name is a [`StoreError::Conflict`].
    pub async fn create_sharing_group(&self, group: &SharingGroup) -> Result<SharingGroup> {
        let mut tx = self.begin().await?;
        let taken: Option<(String, String)> = with_tx!(&mut tx, conn => {
            sqlx::query_as("SELECT uuid, name FROM sharing_groups WHERE uuid = $1 OR name = $2")
                .bind(&group.uuid)
                .bind(&group.name)
                .fetch_optional(&mut *conn)
                .await?
        });
        if let Some((uuid, _)) = taken {
            return Err(StoreError::Conflict(if uuid == group.uuid {
                format!("A sharing group with uuid {uuid} already exists.")
            } else {
                NAME_TAKEN.to_string()
            }));
        }
        let sql = format!(
            "INSERT INTO sharing_groups (uuid, name, releasability, description, org_id, \
             organisation_uuid, sync_user_id, active, local, roaming, created, modified) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {GROUP_COLUMNS}"
        );
        let row: SharingGroupRow = with_tx!(&mut tx, conn => {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(&group.uuid)
                .bind(&group.name)
                .bind(&group.releasability)
                .bind(&group.description)
                .bind(group.org_id)
                .bind(&group.organisation_uuid)
                .bind(group.sync_user_id)
                .bind(group.active)
                .bind(group.local)
                .bind(group.roaming)
                .bind(group.created)
                .bind(group.modified)
                .fetch_one(&mut *conn)
                .await
                .map_err(|error| {
                    conflict_on_unique(error, "A sharing group with this name or uuid already exists.")
                })?
        });
        let id = row.id;
        for member in &group.orgs {
            tx.put_sharing_group_org(id, member.org_id, member.extend)
                .await?;
        }
        for member in &group.servers {
            tx.put_sharing_group_server(id, member.server_id, member.all_orgs)
                .await?;
        }
        let stored = tx.load_sharing_group(&Key::Id(id)).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Writes the fields of `group` (found by its id) and merges its member lists: listed
    /// organisations and servers are added or get their flag updated, unlisted ones stay.
    /// Another group's name is a [`StoreError::Conflict`].
    pub async fn update_sharing_group(&self, group: &SharingGroup) -> Result<SharingGroup> {
        let mut tx = self.begin().await?;
        let clash: Option<(i64,)> = with_tx!(&mut tx, conn => {
            sqlx::query_as("SELECT id FROM sharing_groups WHERE name = $1 AND id <> $2")
                .bind(&group.name)
                .bind(group.id)
                .fetch_optional(&mut *conn)
                .await?
        });
        if clash.is_some() {
            return Err(StoreError::Conflict(NAME_TAKEN.into()));
        }
        let affected = with_tx!(&mut tx, conn => {
            sqlx::query(
                "UPDATE sharing_groups SET name = $1, releasability = $2, description = $3, \
                 org_id = $4, organisation_uuid = $5, sync_user_id = $6, active = $7, \
                 local = $8, roaming = $9, created = $10, modified = $11 WHERE id = $12",
            )
            .bind(&group.name)
            .bind(&group.releasability)
            .bind(&group.description)
            .bind(group.org_id)
            .bind(&group.organisation_uuid)
            .bind(group.sync_user_id)
            .bind(group.active)
            .bind(group.local)
            .bind(group.roaming)
            .bind(group.created)
            .bind(group.modified)
            .bind(group.id)
            .execute(&mut *conn)
            .await
            .map_err(|error| conflict_on_unique(error, NAME_TAKEN))?
            .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        for member in &group.orgs {
            tx.put_sharing_group_org(group.id, member.org_id, member.extend)
                .await?;
        }
        for member in &group.servers {
            tx.put_sharing_group_server(group.id, member.server_id, member.all_orgs)
                .await?;
        }
        let stored = tx.load_sharing_group(&Key::Id(group.id)).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Deletes a group and its member lists. A group that an event, attribute or object
    /// still names is kept and the answer is a [`StoreError::Conflict`] (MISP refuses too).
    pub async fn delete_sharing_group(&self, id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let used: Option<(i64,)> = with_tx!(&mut tx, conn => {
            sqlx::query_as(
                "SELECT sharing_group_id FROM events WHERE sharing_group_id = $1 \
                 UNION ALL SELECT sharing_group_id FROM attributes WHERE sharing_group_id = $1 \
                 UNION ALL SELECT sharing_group_id FROM objects WHERE sharing_group_id = $1 \
                 LIMIT 1",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        });
        if used.is_some() {
            return Err(StoreError::Conflict(IN_USE.into()));
        }
        let affected = with_tx!(&mut tx, conn => {
            sqlx::query("DELETE FROM sharing_group_orgs WHERE sharing_group_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM sharing_group_servers WHERE sharing_group_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM sharing_groups WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await
    }

    /// A group by id or uuid, with its members in the order they were added.
    pub async fn sharing_group(&self, key: &Key) -> Result<SharingGroup> {
        let mut tx = self.begin().await?;
        let group = tx.load_sharing_group(key).await?;
        tx.commit().await?;
        Ok(group)
    }

    /// The group with exactly this name, if any.
    pub async fn sharing_group_by_name(&self, name: &str) -> Result<Option<SharingGroup>> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM sharing_groups WHERE name = $1");
        let row: Option<SharingGroupRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(name).fetch_optional(pool).await?
        });
        match row {
            Some(row) => self.sharing_group(&Key::Id(row.id)).await.map(Some),
            None => Ok(None),
        }
    }

    /// Every group with its members, by name.
    pub async fn list_sharing_groups(&self) -> Result<Vec<SharingGroup>> {
        self.sharing_groups_where(Sql::new(self.dialect())).await
    }

    /// The groups with these ids (unknown ids are skipped), by name.
    pub async fn sharing_groups_by_ids(&self, ids: &[i64]) -> Result<Vec<SharingGroup>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new(self.dialect());
        sql.int_in("id", ids);
        self.sharing_groups_where(sql).await
    }

    /// Ids of the groups an organisation may use for distribution 4 (MISP's
    /// SharingGroup::checkIfAuthorised): those it owns, those listing it, and those open to
    /// every organisation of this instance. `None` (a site admin) gets every group.
    pub async fn sharing_groups_usable_by(&self, org_id: Option<i64>) -> Result<HashSet<i64>> {
        let rows: Vec<(i64,)> = with_pool!(self, pool => {
            match org_id {
                None => sqlx::query_as("SELECT id FROM sharing_groups").fetch_all(pool).await?,
                Some(org_id) => sqlx::query_as(
                    "SELECT id FROM sharing_groups WHERE org_id = $1 \
                     UNION SELECT sharing_group_id FROM sharing_group_orgs WHERE org_id = $1 \
                     UNION SELECT sharing_group_id FROM sharing_group_servers \
                     WHERE server_id = 0 AND all_orgs = TRUE",
                )
                .bind(org_id)
                .fetch_all(pool)
                .await?,
            }
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Adds an organisation to a group and touches the group's `modified`. An organisation
    /// already in the group is a [`StoreError::Conflict`]; an unknown group is NotFound.
    pub async fn add_sharing_group_org(
        &self,
        sharing_group_id: i64,
        org_id: i64,
        extend: bool,
        now: i64,
    ) -> Result<SharingGroupOrg> {
        let mut tx = self.begin().await?;
        tx.touch_sharing_group(sharing_group_id, now).await?;
        let row: MemberOrgRow = with_tx!(&mut tx, conn => {
            sqlx::query_as(
                "INSERT INTO sharing_group_orgs (sharing_group_id, org_id, extend) \
                 VALUES ($1, $2, $3) RETURNING id, sharing_group_id, org_id, extend",
            )
            .bind(sharing_group_id)
            .bind(org_id)
            .bind(extend)
            .fetch_one(&mut *conn)
            .await
            .map_err(|error| {
                conflict_on_unique(error, "The organisation is already in the sharing group.")
            })?
        });
        tx.commit().await?;
        Ok(SharingGroupOrg {
            id: row.id,
            org_id: row.org_id,
            extend: row.extend,
        })
    }

    /// Removes an organisation from a group and touches the group's `modified`; NotFound
    /// when the organisation is not in it.
    pub async fn remove_sharing_group_org(
        &self,
        sharing_group_id: i64,
        org_id: i64,
        now: i64,
    ) -> Result<()> {
        self.remove_sharing_group_member(
            "DELETE FROM sharing_group_orgs WHERE sharing_group_id = $1 AND org_id = $2",
            sharing_group_id,
            org_id,
            now,
        )
        .await
    }

    /// Adds a server (0: this instance) to a group and touches the group's `modified`. A
    /// server already in the group is a [`StoreError::Conflict`].
    pub async fn add_sharing_group_server(
        &self,
        sharing_group_id: i64,
        server_id: i64,
        all_orgs: bool,
        now: i64,
    ) -> Result<SharingGroupServer> {
        let mut tx = self.begin().await?;
        tx.touch_sharing_group(sharing_group_id, now).await?;
        let row: MemberServerRow = with_tx!(&mut tx, conn => {
            sqlx::query_as(
                "INSERT INTO sharing_group_servers (sharing_group_id, server_id, all_orgs) \
                 VALUES ($1, $2, $3) RETURNING id, sharing_group_id, server_id, all_orgs",
            )
            .bind(sharing_group_id)
            .bind(server_id)
            .bind(all_orgs)
            .fetch_one(&mut *conn)
            .await
            .map_err(|error| {
                conflict_on_unique(error, "The server is already in the sharing group.")
            })?
        });
        tx.commit().await?;
        Ok(SharingGroupServer {
            id: row.id,
            server_id: row.server_id,
            all_orgs: row.all_orgs,
        })
    }

    /// Removes a server from a group and touches the group's `modified`; NotFound when the
    /// server is not in it.
    pub async fn remove_sharing_group_server(
        &self,
        sharing_group_id: i64,
        server_id: i64,
        now: i64,
    ) -> Result<()> {
        self.remove_sharing_group_member(
            "DELETE FROM sharing_group_servers WHERE sharing_group_id = $1 AND server_id = $2",
            sharing_group_id,
            server_id,
            now,
        )
        .await
    }

    /// Runs `delete` (a member row of one group, `$1` the group, `$2` the member) and touches
    /// the group's `modified`; NotFound when there was no such member.
    async fn remove_sharing_group_member(
        &self,
        delete: &'static str,
        sharing_group_id: i64,
        member_id: i64,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.touch_sharing_group(sharing_group_id, now).await?;
        let affected = with_tx!(&mut tx, conn => {
            sqlx::query(delete)
                .bind(sharing_group_id)
                .bind(member_id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await
    }

    /// The groups matching `filter` (on `sharing_groups` columns) with their members.
    async fn sharing_groups_where(&self, filter: Sql) -> Result<Vec<SharingGroup>> {
        let clause = filter.where_clause();
        let groups_sql =
            format!("SELECT {GROUP_COLUMNS} FROM sharing_groups{clause} ORDER BY name, id");
        let member_filter = if clause.is_empty() {
            String::new()
        } else {
            format!(" WHERE sharing_group_id IN (SELECT id FROM sharing_groups{clause})")
        };
        let orgs_sql = format!(
            "SELECT id, sharing_group_id, org_id, extend FROM sharing_group_orgs{member_filter} \
             ORDER BY id"
        );
        let servers_sql = format!(
            "SELECT id, sharing_group_id, server_id, all_orgs FROM sharing_group_servers\
             {member_filter} ORDER BY id"
        );
        let (rows, org_rows, server_rows): (
            Vec<SharingGroupRow>,
            Vec<MemberOrgRow>,
            Vec<MemberServerRow>,
        ) = with_pool!(self, pool => {
            let groups = bind_all!(sqlx::query_as(AssertSqlSafe(groups_sql.as_str())), filter)
                .fetch_all(pool)
                .await?;
            let orgs = bind_all!(sqlx::query_as(AssertSqlSafe(orgs_sql.as_str())), filter)
                .fetch_all(pool)
                .await?;
            let servers = bind_all!(sqlx::query_as(AssertSqlSafe(servers_sql.as_str())), filter)
                .fetch_all(pool)
                .await?;
            (groups, orgs, servers)
        });
        let mut orgs: HashMap<i64, Vec<SharingGroupOrg>> = HashMap::new();
        for row in org_rows {
            orgs.entry(row.sharing_group_id)
                .or_default()
                .push(SharingGroupOrg {
                    id: row.id,
                    org_id: row.org_id,
                    extend: row.extend,
                });
        }
        let mut servers: HashMap<i64, Vec<SharingGroupServer>> = HashMap::new();
        for row in server_rows {
            servers
                .entry(row.sharing_group_id)
                .or_default()
                .push(SharingGroupServer {
                    id: row.id,
                    server_id: row.server_id,
                    all_orgs: row.all_orgs,
                });
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let id = row.id;
                let mut group = SharingGroup::from(row);
                group.orgs = orgs.remove(&id).unwrap_or_default();
                group.servers = servers.remove(&id).unwrap_or_default();
                group
            })
            .collect())
    }
}

impl Tx {
    async fn load_sharing_group(&mut self, key: &Key) -> Result<SharingGroup> {
        let column = match key {
            Key::Id(_) => "id",
            Key::Uuid(_) => "uuid",
        };
        let sql = format!("SELECT {GROUP_COLUMNS} FROM sharing_groups WHERE {column} = $1");
        let row: Option<SharingGroupRow> = with_tx!(self, conn => {
            let query = sqlx::query_as(AssertSqlSafe(sql.as_str()));
            match key {
                Key::Id(id) => query.bind(*id).fetch_optional(&mut *conn).await?,
                Key::Uuid(uuid) => query.bind(uuid.as_str()).fetch_optional(&mut *conn).await?,
            }
        });
        let mut group = SharingGroup::from(row.ok_or(StoreError::NotFound)?);
        let (org_rows, server_rows): (Vec<MemberOrgRow>, Vec<MemberServerRow>) = with_tx!(self, conn => {
            let orgs = sqlx::query_as(
                "SELECT id, sharing_group_id, org_id, extend FROM sharing_group_orgs \
                 WHERE sharing_group_id = $1 ORDER BY id",
            )
            .bind(group.id)
            .fetch_all(&mut *conn)
            .await?;
            let servers = sqlx::query_as(
                "SELECT id, sharing_group_id, server_id, all_orgs FROM sharing_group_servers \
                 WHERE sharing_group_id = $1 ORDER BY id",
            )
            .bind(group.id)
            .fetch_all(&mut *conn)
            .await?;
            (orgs, servers)
        });
        group.orgs = org_rows
            .into_iter()
            .map(|row| SharingGroupOrg {
                id: row.id,
                org_id: row.org_id,
                extend: row.extend,
            })
            .collect();
        group.servers = server_rows
            .into_iter()
            .map(|row| SharingGroupServer {
                id: row.id,
                server_id: row.server_id,
                all_orgs: row.all_orgs,
            })
            .collect();
        Ok(group)
    }

    /// Adds a member organisation or updates its `extend`.
    async fn put_sharing_group_org(
        &mut self,
        sharing_group_id: i64,
        org_id: i64,
        extend: bool,
    ) -> Result<()> {
        with_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO sharing_group_orgs (sharing_group_id, org_id, extend) \
                 VALUES ($1, $2, $3) \
                 ON CONFLICT (sharing_group_id, org_id) DO UPDATE SET extend = excluded.extend",
            )
            .bind(sharing_group_id)
            .bind(org_id)
            .bind(extend)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    /// Adds a member server or updates its `all_orgs`.
    async fn put_sharing_group_server(
        &mut self,
        sharing_group_id: i64,
        server_id: i64,
        all_orgs: bool,
    ) -> Result<()> {
        with_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO sharing_group_servers (sharing_group_id, server_id, all_orgs) \
                 VALUES ($1, $2, $3) \
                 ON CONFLICT (sharing_group_id, server_id) DO UPDATE SET all_orgs = excluded.all_orgs",
            )
            .bind(sharing_group_id)
            .bind(server_id)
            .bind(all_orgs)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    /// Sets a group's `modified`; NotFound for an unknown group.
    async fn touch_sharing_group(&mut self, sharing_group_id: i64, now: i64) -> Result<()> {
        let affected = with_tx!(self, conn => {
            sqlx::query("UPDATE sharing_groups SET modified = $1 WHERE id = $2")
                .bind(now)
                .bind(sharing_group_id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

//! TAXII: collections (saved restSearch filters over events, optionally writable), the
//! status resources of POSTs, and events read in the order this instance stored their
//! changes (`events.local_change_us`, TAXII's `date_added`).

use crate::sql::bind_all;
use crate::{Dialect, Result, Store, StoreError, conflict_on_unique, with_pool, with_writer};
use kizuna_model::access::Viewer;
use kizuna_model::query::AttributeCriteria;
use sqlx::AssertSqlSafe;

/// Bound values per `IN (...)` list, far below both backends' placeholder limits.
const IN_CHUNK: usize = 500;

/// Status resources are kept this long (TAXII asks for at least a day).
pub const TAXII_STATUS_RETENTION_SECONDS: i64 = 7 * 24 * 3600;

/// A TAXII collection: a view of events chosen by `filter` and read under each reader's
/// own visibility; a writable one turns POSTed objects into events of the writer's
/// organisation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaxiiCollection {
    /// The collection's TAXII id (a UUIDv4).
    pub id: String,
    pub title: String,
    pub description: String,
    /// '' = none.
    pub alias: String,
    pub writable: bool,
    /// restSearch filters as JSON text; '' = every event the reader may see.
    pub filter: String,
    /// Organisations allowed to read / write; empty = every organisation.
    pub read_orgs: Vec<i64>,
    pub write_orgs: Vec<i64>,
    /// Distribution (0-4) and sharing group of events created by POSTs.
    pub distribution: i64,
    pub sharing_group_id: i64,
    pub created: i64,
    pub modified: i64,
}

#[derive(sqlx::FromRow)]
struct CollectionRow {
    id: String,
    title: String,
    description: String,
    alias: String,
    writable: bool,
    filter: String,
    read_orgs: String,
    write_orgs: String,
    distribution: i64,
    sharing_group_id: i64,
    created: i64,
    modified: i64,
}

const COLLECTION_COLUMNS: &str = "id, title, description, alias, writable, filter, read_orgs, \
     write_orgs, distribution, sharing_group_id, created, modified";

impl CollectionRow {
    fn into_collection(self) -> Result<TaxiiCollection> {
        let orgs = |text: &str, what: &str| -> Result<Vec<i64>> {
            parse_org_list(text).ok_or_else(|| {
                StoreError::Corrupt(format!("taxii collection {}: {what} {text:?}", self.id))
            })
        };
        Ok(TaxiiCollection {
            read_orgs: orgs(&self.read_orgs, "read_orgs")?,
            write_orgs: orgs(&self.write_orgs, "write_orgs")?,
            id: self.id,
            title: self.title,
            description: self.description,
            alias: self.alias,
            writable: self.writable,
            filter: self.filter,
            distribution: self.distribution,
            sharing_group_id: self.sharing_group_id,
            created: self.created,
            modified: self.modified,
        })
    }
}

/// A JSON list of organisation ids, `[1,2]`.
fn org_list(orgs: &[i64]) -> String {
    let ids: Vec<String> = orgs.iter().map(i64::to_string).collect();
    format!("[{}]", ids.join(","))
}

fn parse_org_list(text: &str) -> Option<Vec<i64>> {
    let inner = text.trim().strip_prefix('[')?.strip_suffix(']')?.trim();
    if inner.is_empty() {
        return Some(Vec::new());
    }
    inner.split(',').map(|id| id.trim().parse().ok()).collect()
}

/// The outcome of one POST of objects, as TAXII's status resource reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaxiiStatus {
    pub id: String,
    pub collection_id: String,
    pub user_id: i64,
    /// Microseconds since the epoch.
    pub request_timestamp: i64,
    pub total_count: i64,
    pub success_count: i64,
    pub failure_count: i64,
    pub pending_count: i64,
    /// JSON lists of status details.
    pub successes: String,
    pub failures: String,
    pub pendings: String,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct StatusRow {
    id: String,
    collection_id: String,
    user_id: i64,
    request_timestamp: i64,
    total_count: i64,
    success_count: i64,
    failure_count: i64,
    pending_count: i64,
    successes: String,
    failures: String,
    pendings: String,
    created_at: i64,
}

/// An event in TAXII order: its id and when this instance last stored a change to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChangedEvent {
    pub local_change_us: i64,
    pub id: i64,
}

/// What a uuid names in the database, for TAXII's POST (is this object already stored?)
/// and GET of one object (which events may hold it?).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredUuid {
    pub uuid: String,
    pub kind: StoredKind,
    pub id: i64,
    pub event_id: i64,
    pub timestamp: i64,
    pub deleted: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredKind {
    Attribute,
    Object,
    Event,
}

/// The change time below which no PostgreSQL transaction still running can store a change:
/// the start of the oldest one holding a transaction id (only writers get one). Changes are
/// stamped when written but seen when committed, so without this bound a poller could read a
/// later change, move its `added_after` past it, and never see an earlier one committed
/// after. SQLite needs none: its one writer commits before the next one writes.
const SETTLED_HORIZON_PG: &str = "COALESCE((SELECT (extract(epoch FROM min(xact_start)) * 1000000)::BIGINT \
     FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND datname = current_database() \
     AND pid <> pg_backend_pid()), 9223372036854775807)";

impl Store {
    /// Stores a new collection; an alias already in use is a conflict.
    pub async fn create_taxii_collection(&self, collection: &TaxiiCollection) -> Result<()> {
        let text = format!(
            "INSERT INTO taxii_collections ({COLLECTION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        with_writer!(self, pool => {
            sqlx::query(AssertSqlSafe(text.as_str()))
                .bind(&collection.id)
                .bind(&collection.title)
                .bind(&collection.description)
                .bind(&collection.alias)
                .bind(collection.writable)
                .bind(&collection.filter)
                .bind(org_list(&collection.read_orgs))
                .bind(org_list(&collection.write_orgs))
                .bind(collection.distribution)
                .bind(collection.sharing_group_id)
                .bind(collection.created)
                .bind(collection.modified)
                .execute(pool)
                .await
                .map_err(|error| conflict_on_unique(error, alias_taken(collection)))?;
        });
        Ok(())
    }

    /// Writes every field of an existing collection (named by `collection.id`).
    pub async fn update_taxii_collection(&self, collection: &TaxiiCollection) -> Result<()> {
        let affected = with_writer!(self, pool => {
            sqlx::query(
                "UPDATE taxii_collections SET title = $1, description = $2, alias = $3, \
                 writable = $4, filter = $5, read_orgs = $6, write_orgs = $7, distribution = $8, \
                 sharing_group_id = $9, modified = $10 WHERE id = $11",
            )
            .bind(&collection.title)
            .bind(&collection.description)
            .bind(&collection.alias)
            .bind(collection.writable)
            .bind(&collection.filter)
            .bind(org_list(&collection.read_orgs))
            .bind(org_list(&collection.write_orgs))
            .bind(collection.distribution)
            .bind(collection.sharing_group_id)
            .bind(collection.modified)
            .bind(&collection.id)
            .execute(pool)
            .await
            .map_err(|error| conflict_on_unique(error, alias_taken(collection)))?
            .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn delete_taxii_collection(&self, id: &str) -> Result<()> {
        let affected = with_writer!(self, pool => {
            sqlx::query("DELETE FROM taxii_collections WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The collection with this id, else the one with this alias.
    pub async fn taxii_collection(&self, id_or_alias: &str) -> Result<TaxiiCollection> {
        let text = format!(
            "SELECT {COLLECTION_COLUMNS} FROM taxii_collections \
             WHERE id = $1 OR (alias = $1 AND alias <> '') ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1"
        );
        let row: Option<CollectionRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(text.as_str()))
                .bind(id_or_alias)
                .fetch_optional(pool)
                .await?
        });
        row.ok_or(StoreError::NotFound)?.into_collection()
    }

    /// Every collection, by title.
    pub async fn taxii_collections(&self) -> Result<Vec<TaxiiCollection>> {
        let text = format!("SELECT {COLLECTION_COLUMNS} FROM taxii_collections ORDER BY title, id");
        let rows: Vec<CollectionRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(text.as_str())).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(CollectionRow::into_collection)
            .collect()
    }

    /// Stores a status resource and forgets those older than the retention period.
    pub async fn insert_taxii_status(&self, status: &TaxiiStatus) -> Result<()> {
        let oldest = status.created_at - TAXII_STATUS_RETENTION_SECONDS;
        with_writer!(self, pool => {
            sqlx::query("DELETE FROM taxii_statuses WHERE created_at < $1")
                .bind(oldest)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO taxii_statuses (id, collection_id, user_id, request_timestamp, \
                 total_count, success_count, failure_count, pending_count, successes, failures, \
                 pendings, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&status.id)
            .bind(&status.collection_id)
            .bind(status.user_id)
            .bind(status.request_timestamp)
            .bind(status.total_count)
            .bind(status.success_count)
            .bind(status.failure_count)
            .bind(status.pending_count)
            .bind(&status.successes)
            .bind(&status.failures)
            .bind(&status.pendings)
            .bind(status.created_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn taxii_status(&self, id: &str) -> Result<TaxiiStatus> {
        let row: Option<StatusRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, collection_id, user_id, request_timestamp, total_count, success_count, \
                 failure_count, pending_count, successes, failures, pendings, created_at \
                 FROM taxii_statuses WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        let row = row.ok_or(StoreError::NotFound)?;
        Ok(TaxiiStatus {
            id: row.id,
            collection_id: row.collection_id,
            user_id: row.user_id,
            request_timestamp: row.request_timestamp,
            total_count: row.total_count,
            success_count: row.success_count,
            failure_count: row.failure_count,
            pending_count: row.pending_count,
            successes: row.successes,
            failures: row.failures,
            pendings: row.pendings,
            created_at: row.created_at,
        })
    }

    /// Events an event-scope search matches, visible to `viewer`, in TAXII order
    /// (`local_change_us`, id): from `from` on (inclusive), changed after `added_after_us`
    /// (exclusive), among `only_ids` when given, at most `limit`.
    pub async fn taxii_events_page(
        &self,
        criteria: &AttributeCriteria,
        viewer: &Viewer,
        from: Option<ChangedEvent>,
        added_after_us: Option<i64>,
        only_ids: Option<&[i64]>,
        limit: u64,
    ) -> Result<Vec<ChangedEvent>> {
        let mut sql = self.event_search_sql(criteria, viewer).await?;
        if let Some(ids) = only_ids {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let ids = &ids[..ids.len().min(IN_CHUNK)];
            let list = sql.ints(ids);
            sql.push(format!("events.id IN ({list})"));
        }
        if let Some(from) = from {
            let change = sql.int(from.local_change_us);
            let change_again = sql.int(from.local_change_us);
            let id = sql.int(from.id);
            sql.push(format!(
                "(events.local_change_us > {change} OR (events.local_change_us = {change_again} \
                 AND events.id >= {id}))"
            ));
        }
        if let Some(after) = added_after_us {
            let after = sql.int(after);
            sql.push(format!("events.local_change_us > {after}"));
        }
        if self.dialect() == Dialect::Postgres {
            sql.push(format!("events.local_change_us < {SETTLED_HORIZON_PG}"));
        }
        let text = format!(
            "SELECT events.local_change_us, events.id FROM events{} \
             ORDER BY events.local_change_us, events.id LIMIT {limit}",
            sql.where_clause()
        );
        let rows: Vec<(i64, i64)> = with_pool!(self, pool => {
            bind_all!(sqlx::query_as(AssertSqlSafe(text.as_str())), sql).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(local_change_us, id)| ChangedEvent {
                local_change_us,
                id,
            })
            .collect())
    }

    /// When this instance last stored a change to each of these events.
    pub async fn events_local_change(&self, ids: &[i64]) -> Result<Vec<ChangedEvent>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let text = format!(
                "SELECT local_change_us, id FROM events WHERE id IN ({})",
                crate::tags::placeholders(1, chunk.len())
            );
            let rows: Vec<(i64, i64)> = with_pool!(self, pool => {
                let mut query = sqlx::query_as(AssertSqlSafe(text.as_str()));
                for id in chunk {
                    query = query.bind(*id);
                }
                query.fetch_all(pool).await?
            });
            found.extend(rows.into_iter().map(|(local_change_us, id)| ChangedEvent {
                local_change_us,
                id,
            }));
        }
        found.sort_unstable();
        Ok(found)
    }

    /// The attributes, objects and events these (lower-case) uuids name.
    pub async fn stored_uuids(&self, uuids: &[String]) -> Result<Vec<StoredUuid>> {
        let mut found = Vec::new();
        for chunk in uuids.chunks(IN_CHUNK) {
            let list = crate::tags::placeholders(1, chunk.len());
            let text = format!(
                "SELECT uuid, CAST(0 AS BIGINT) AS kind, id, event_id, timestamp, deleted FROM attributes \
                 WHERE uuid IN ({list}) \
                 UNION ALL SELECT uuid, CAST(1 AS BIGINT) AS kind, id, event_id, timestamp, deleted FROM objects \
                 WHERE uuid IN ({list}) \
                 UNION ALL SELECT uuid, CAST(2 AS BIGINT) AS kind, id, id AS event_id, timestamp, FALSE AS deleted \
                 FROM events WHERE uuid IN ({list})"
            );
            let rows: Vec<(String, i64, i64, i64, i64, bool)> = with_pool!(self, pool => {
                let mut query = sqlx::query_as(AssertSqlSafe(text.as_str()));
                for uuid in chunk {
                    query = query.bind(uuid.as_str());
                }
                query.fetch_all(pool).await?
            });
            found.extend(
                rows.into_iter().map(
                    |(uuid, kind, id, event_id, timestamp, deleted)| StoredUuid {
                        uuid,
                        kind: match kind {
                            0 => StoredKind::Attribute,
                            1 => StoredKind::Object,
                            _ => StoredKind::Event,
                        },
                        id,
                        event_id,
                        timestamp,
                        deleted,
                    },
                ),
            );
        }
        Ok(found)
    }

    /// Events created by the organisation with this uuid (where its identity appears),
    /// most recently changed last, at most `limit`.
    pub async fn events_created_by_org_uuid(&self, org_uuid: &str, limit: u64) -> Result<Vec<i64>> {
        let text = format!(
            "SELECT events.id FROM events JOIN organisations ON organisations.id = events.orgc_id \
             WHERE organisations.uuid = $1 ORDER BY events.local_change_us DESC, events.id DESC \
             LIMIT {limit}"
        );
        let rows: Vec<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(text.as_str()))
                .bind(org_uuid)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

fn alias_taken(collection: &TaxiiCollection) -> String {
    format!(
        "A TAXII collection with alias {:?} already exists.",
        collection.alias
    )
}

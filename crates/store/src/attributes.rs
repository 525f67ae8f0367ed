//! Attributes: the bulk insert path, single reads and edits, soft and hard deletes.

use crate::rows::{ATTRIBUTE_COLUMNS, AttachedTagRow, AttributeRow, TAG_COLUMNS};
use crate::{Key, Result, Store, StoreError, Tx, conflict_on_unique, with_pool, with_tx};
use kizuna_model::Attribute;
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

/// Columns written per attribute by PostgreSQL's insert (SQLite's is in `sqlite_bulk`).
const INSERT_COLUMNS: &str = "uuid, event_id, object_id, object_relation, category, type, value1, \
     value2, to_ids, comment, distribution, sharing_group_id, timestamp, deleted, \
     disable_correlation, first_seen, last_seen, valid_until, intended_use, status, data";
const INSERT_COLUMN_COUNT: usize = 21;
/// Rows per INSERT statement: 21 × 1000 binds stays under PostgreSQL's 65,535 parameter limit
/// while amortising the statement cost.
const ROWS_PER_STATEMENT: usize = 1000;

/// One page of `/attributes/index`.
#[derive(Clone, Debug, Default)]
pub struct AttributePage {
    pub limit: Option<i64>,
    pub page: Option<i64>,
}

/// PostgreSQL's multi-row INSERT for `rows` attributes.
fn insert_sql(rows: usize, returning: bool) -> String {
    let mut sql = String::with_capacity(60 + rows * INSERT_COLUMN_COUNT * 6);
    sql.push_str("INSERT INTO attributes (");
    sql.push_str(INSERT_COLUMNS);
    sql.push_str(") VALUES ");
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push('(');
        for column in 0..INSERT_COLUMN_COUNT {
            if column > 0 {
                sql.push(',');
            }
            sql.push('$');
            sql.push_str(&(row * INSERT_COLUMN_COUNT + column + 1).to_string());
        }
        sql.push(')');
    }
    if returning {
        sql.push_str(" RETURNING id, uuid");
    }
    sql
}

/// Binds the INSERT_COLUMNS of every attribute in `$chunk` to `$query`, in order.
macro_rules! bind_rows {
    ($query:expr, $chunk:expr, $event_id:expr, $object_id:expr) => {{
        let mut query = $query;
        for attribute in $chunk {
            let object = if $object_id != 0 {
                $object_id
            } else {
                attribute.object_id
            };
            query = query
                .bind(&attribute.uuid)
                .bind($event_id)
                .bind(object)
                .bind(&attribute.object_relation)
                .bind(&attribute.category)
                .bind(&attribute.attr_type)
                .bind(&attribute.value1)
                .bind(&attribute.value2)
                .bind(attribute.to_ids)
                .bind(&attribute.comment)
                .bind(attribute.distribution.as_i64())
                .bind(attribute.sharing_group_id)
                .bind(attribute.timestamp)
                .bind(attribute.deleted)
                .bind(attribute.disable_correlation)
                .bind(attribute.first_seen)
                .bind(attribute.last_seen)
                .bind(attribute.valid_until)
                .bind(attribute.intended_use.map(|use_| use_.as_str()))
                .bind(attribute.status.map(|status| status.as_str()))
                .bind(&attribute.data);
        }
        query
    }};
}

/// The conflict message of a failed insert of `chunk`: the attribute PostgreSQL names in the
/// violation's detail (`Key (uuid)=(…) already exists.`), as SQLite's path names it too.
fn duplicate_uuid(error: &sqlx::Error, chunk: &[Attribute]) -> String {
    let detail = match error {
        sqlx::Error::Database(db_error) => db_error
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .and_then(|pg_error| pg_error.detail()),
        _ => None,
    };
    let named = match (detail, chunk) {
        (_, [only]) => Some(only),
        (Some(detail), _) => chunk
            .iter()
            .find(|attribute| detail.contains(attribute.uuid.as_str())),
        (None, _) => None,
    };
    match named {
        Some(attribute) => format!("An attribute with uuid {} already exists.", attribute.uuid),
        None => "An attribute with one of these uuids already exists.".to_string(),
    }
}

/// PostgreSQL's attribute insert: multi-row statements, ids read back only when tags need them.
async fn insert_attributes_postgres(
    conn: &mut sqlx::PgConnection,
    event_id: i64,
    object_id: i64,
    attributes: &[Attribute],
    needs_ids: bool,
) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(if needs_ids { attributes.len() } else { 0 });
    for chunk in attributes.chunks(ROWS_PER_STATEMENT) {
        let sql = insert_sql(chunk.len(), needs_ids);
        let returned: Vec<(i64, String)> = if needs_ids {
            let query = bind_rows!(
                sqlx::query_as(AssertSqlSafe(sql.as_str())),
                chunk,
                event_id,
                object_id
            );
            query.fetch_all(&mut *conn).await
        } else {
            let query = bind_rows!(
                sqlx::query(AssertSqlSafe(sql.as_str())),
                chunk,
                event_id,
                object_id
            );
            query.execute(&mut *conn).await.map(|_| Vec::new())
        }
        .map_err(|error| {
            let message = duplicate_uuid(&error, chunk);
            conflict_on_unique(error, message)
        })?;
        if needs_ids {
            let by_uuid: HashMap<String, i64> =
                returned.into_iter().map(|(id, uuid)| (uuid, id)).collect();
            for attribute in chunk {
                let id = by_uuid.get(&attribute.uuid).copied().ok_or_else(|| {
                    StoreError::Corrupt(format!("attribute {} was not stored", attribute.uuid))
                })?;
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

impl Tx {
    /// Inserts attributes of one event (and of object `object_id`, 0 = none) in multi-row
    /// statements, then their tags. Returns the new ids in input order.
    pub(crate) async fn insert_attributes(
        &mut self,
        event_id: i64,
        object_id: i64,
        attributes: &[Attribute],
        may_create_tags: bool,
    ) -> Result<Vec<i64>> {
        let needs_ids = attributes
            .iter()
            .any(|attribute| !attribute.tags.is_empty());
        let ids = match self {
            Tx::Sqlite(transaction, _) => {
                crate::sqlite_bulk::insert_attributes(transaction, event_id, object_id, attributes)
                    .await?
            }
            Tx::Postgres(transaction) => {
                insert_attributes_postgres(transaction, event_id, object_id, attributes, needs_ids)
                    .await?
            }
        };
        if needs_ids {
            let tagged: Vec<(i64, &[kizuna_model::AttachedTag])> = attributes
                .iter()
                .zip(&ids)
                .filter(|(attribute, _)| !attribute.tags.is_empty())
                .map(|(attribute, id)| (*id, attribute.tags.as_slice()))
                .collect();
            self.attach_tags_of_attributes(event_id, &tagged, may_create_tags)
                .await?;
        }
        Ok(ids)
    }

    pub(crate) async fn update_attribute_row(&mut self, attribute: &Attribute) -> Result<()> {
        let affected = with_tx!(self, conn => {
            sqlx::query(
                "UPDATE attributes SET object_relation = $1, category = $2, type = $3, value1 = $4, \
                 value2 = $5, to_ids = $6, comment = $7, distribution = $8, sharing_group_id = $9, \
                 timestamp = $10, deleted = $11, disable_correlation = $12, first_seen = $13, \
                 last_seen = $14, valid_until = $15, intended_use = $16, status = $17, data = $18 \
                 WHERE id = $19",
            )
            .bind(&attribute.object_relation)
            .bind(&attribute.category)
            .bind(&attribute.attr_type)
            .bind(&attribute.value1)
            .bind(&attribute.value2)
            .bind(attribute.to_ids)
            .bind(&attribute.comment)
            .bind(attribute.distribution.as_i64())
            .bind(attribute.sharing_group_id)
            .bind(attribute.timestamp)
            .bind(attribute.deleted)
            .bind(attribute.disable_correlation)
            .bind(attribute.first_seen)
            .bind(attribute.last_seen)
            .bind(attribute.valid_until)
            .bind(attribute.intended_use.map(|use_| use_.as_str()))
            .bind(attribute.status.map(|status| status.as_str()))
            .bind(&attribute.data)
            .bind(attribute.id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub(crate) async fn touch_attribute(&mut self, attribute_id: i64, now: i64) -> Result<()> {
        with_tx!(self, conn => {
            sqlx::query("UPDATE attributes SET timestamp = $1 WHERE id = $2")
                .bind(now)
                .bind(attribute_id)
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }
}

impl Store {
    /// Adds attributes to an event in one transaction (all or nothing), unpublishing the
    /// event and moving its timestamp. Returns the stored attributes with their ids.
    pub async fn add_attributes(
        &self,
        event_id: i64,
        attributes: &[Attribute],
        now: i64,
        may_create_tags: bool,
    ) -> Result<Vec<Attribute>> {
        let mut tx = self.begin().await?;
        tx.insert_attributes(event_id, 0, attributes, may_create_tags)
            .await?;
        tx.touch_event(event_id, now).await?;
        tx.refresh_attribute_count(event_id).await?;
        tx.commit().await?;
        let mut stored = Vec::with_capacity(attributes.len());
        for attribute in attributes {
            stored.push(
                self.attribute(&Key::Uuid(attribute.uuid.clone()), true)
                    .await?,
            );
        }
        Ok(stored)
    }

    /// The fast path for imports and benchmarks: inserts without reading anything back, and
    /// adds to `attribute_count` instead of recounting the event.
    pub async fn bulk_insert_attributes(
        &self,
        event_id: i64,
        attributes: &[Attribute],
        now: i64,
    ) -> Result<()> {
        let live = attributes
            .iter()
            .filter(|attribute| !attribute.deleted)
            .count() as i64;
        let mut tx = self.begin().await?;
        tx.insert_attributes(event_id, 0, attributes, true).await?;
        with_tx!(&mut tx, conn => {
            sqlx::query(
                "UPDATE events SET timestamp = $1, published = FALSE, \
                 attribute_count = attribute_count + $2 WHERE id = $3",
            )
            .bind(now)
            .bind(live)
            .bind(event_id)
            .execute(&mut *conn)
            .await?;
        });
        tx.commit().await
    }

    /// One attribute with its tags.
    pub async fn attribute(&self, key: &Key, include_deleted: bool) -> Result<Attribute> {
        let deleted_clause = if include_deleted {
            ""
        } else {
            " AND deleted = FALSE"
        };
        let row: Option<AttributeRow> = match key {
            Key::Id(id) => {
                let sql = format!(
                    "SELECT {ATTRIBUTE_COLUMNS} FROM attributes WHERE id = $1{deleted_clause}"
                );
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(*id).fetch_optional(pool).await?)
            }
            Key::Uuid(uuid) => {
                let sql = format!(
                    "SELECT {ATTRIBUTE_COLUMNS} FROM attributes WHERE uuid = $1{deleted_clause}"
                );
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(uuid).fetch_optional(pool).await?)
            }
        };
        let mut attribute = row.ok_or(StoreError::NotFound)?.into_attribute()?;
        let tag_sql = format!(
            "SELECT attribute_tags.attribute_id AS owner_id, attribute_tags.local, \
             attribute_tags.relationship_type, {TAG_COLUMNS} FROM attribute_tags \
             JOIN tags ON tags.id = attribute_tags.tag_id \
             WHERE attribute_tags.attribute_id = $1 ORDER BY attribute_tags.id"
        );
        let tags: Vec<AttachedTagRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(tag_sql.as_str())).bind(attribute.id).fetch_all(pool).await?
        });
        attribute.tags = tags
            .into_iter()
            .map(AttachedTagRow::into_attached)
            .collect();
        Ok(attribute)
    }

    /// Writes an edited attribute (attaching any new tags it carries), unpublishing its event.
    pub async fn update_attribute(
        &self,
        attribute: &Attribute,
        now: i64,
        may_create_tags: bool,
    ) -> Result<Attribute> {
        let mut tx = self.begin().await?;
        tx.update_attribute_row(attribute).await?;
        tx.attach_attribute_tags(
            attribute.event_id,
            attribute.id,
            &attribute.tags,
            may_create_tags,
        )
        .await?;
        tx.touch_event(attribute.event_id, now).await?;
        tx.refresh_attribute_count(attribute.event_id).await?;
        tx.commit().await?;
        self.attribute(&Key::Id(attribute.id), true).await
    }

    /// Soft delete (MISP's default: `deleted`, new timestamp; it still syncs) or hard delete
    /// (the row and its tags and sightings are gone).
    pub async fn delete_attribute(
        &self,
        attribute: &Attribute,
        hard: bool,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let affected = with_tx!(&mut tx, conn => {
            if hard {
                sqlx::query("DELETE FROM attribute_tags WHERE attribute_id = $1").bind(attribute.id).execute(&mut *conn).await?;
                sqlx::query("DELETE FROM sightings WHERE attribute_id = $1").bind(attribute.id).execute(&mut *conn).await?;
                sqlx::query("DELETE FROM attributes WHERE id = $1").bind(attribute.id).execute(&mut *conn).await?.rows_affected()
            } else {
                sqlx::query("UPDATE attributes SET deleted = TRUE, timestamp = $1 WHERE id = $2")
                    .bind(now)
                    .bind(attribute.id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected()
            }
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        tx.touch_event(attribute.event_id, now).await?;
        tx.refresh_attribute_count(attribute.event_id).await?;
        tx.commit().await
    }

    /// Undoes a soft delete.
    pub async fn restore_attribute(&self, attribute: &Attribute, now: i64) -> Result<Attribute> {
        let mut tx = self.begin().await?;
        let affected = with_tx!(&mut tx, conn => {
            sqlx::query("UPDATE attributes SET deleted = FALSE, timestamp = $1 WHERE id = $2")
                .bind(now)
                .bind(attribute.id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        tx.touch_event(attribute.event_id, now).await?;
        tx.refresh_attribute_count(attribute.event_id).await?;
        tx.commit().await?;
        self.attribute(&Key::Id(attribute.id), true).await
    }

    /// Whether the event already has a live, non-object attribute with this type, category
    /// and value (MISP refuses such duplicates). `except_id` skips the attribute being edited.
    pub async fn attribute_duplicate_exists(
        &self,
        event_id: i64,
        attribute: &Attribute,
        except_id: i64,
    ) -> Result<bool> {
        let found: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id FROM attributes WHERE event_id = $1 AND type = $2 AND category = $3 \
                 AND value1 = $4 AND value2 = $5 AND object_id = 0 AND deleted = FALSE AND id <> $6 \
                 LIMIT 1",
            )
            .bind(event_id)
            .bind(&attribute.attr_type)
            .bind(&attribute.category)
            .bind(&attribute.value1)
            .bind(&attribute.value2)
            .bind(except_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(found.is_some())
    }

    /// Live attributes, oldest first, one page at a time.
    pub async fn list_attributes(&self, page: &AttributePage) -> Result<Vec<Attribute>> {
        let mut paging = String::new();
        if let Some(limit) = page.limit.filter(|limit| *limit > 0) {
            let number = page.page.unwrap_or(1).max(1);
            paging = format!(" LIMIT {limit} OFFSET {}", (number - 1) * limit);
        }
        let sql = format!(
            "SELECT {ATTRIBUTE_COLUMNS} FROM attributes WHERE deleted = FALSE ORDER BY id{paging}"
        );
        let rows: Vec<AttributeRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).fetch_all(pool).await?
        });
        rows.into_iter().map(AttributeRow::into_attribute).collect()
    }
}

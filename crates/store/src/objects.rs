//! MISP objects and object references.

use crate::rows::{
    ATTRIBUTE_COLUMNS, AttachedTagRow, AttributeRow, OBJECT_COLUMNS, ObjectRow, REFERENCE_COLUMNS,
    ReferenceRow, TAG_COLUMNS,
};
use crate::{Key, Result, Store, StoreError, Tx, conflict_on_unique, with_pool, with_tx};
use kizuna_model::{AttachedTag, MispObject, ObjectReference};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

impl Tx {
    /// Inserts an object with its attributes and references.
    pub(crate) async fn insert_object(
        &mut self,
        event_id: i64,
        object: &MispObject,
        may_create_tags: bool,
    ) -> Result<i64> {
        let (object_id,): (i64,) = with_tx!(self, conn => {
            sqlx::query_as(
                "INSERT INTO objects (uuid, event_id, name, meta_category, description, \
                 template_uuid, template_version, timestamp, distribution, sharing_group_id, \
                 comment, deleted, first_seen, last_seen) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
            )
            .bind(&object.uuid)
            .bind(event_id)
            .bind(&object.name)
            .bind(&object.meta_category)
            .bind(&object.description)
            .bind(&object.template_uuid)
            .bind(&object.template_version)
            .bind(object.timestamp)
            .bind(object.distribution.as_i64())
            .bind(object.sharing_group_id)
            .bind(&object.comment)
            .bind(object.deleted)
            .bind(object.first_seen)
            .bind(object.last_seen)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| conflict_on_unique(e, format!("An object with uuid {} already exists.", object.uuid)))?
        });
        self.insert_attributes(event_id, object_id, &object.attributes, may_create_tags)
            .await?;
        for reference in &object.references {
            let mut reference = reference.clone();
            reference.object_id = object_id;
            reference.source_uuid = object.uuid.clone();
            self.insert_reference(event_id, &reference).await?;
        }
        Ok(object_id)
    }

    pub(crate) async fn update_object_row(&mut self, object: &MispObject) -> Result<()> {
        let affected = with_tx!(self, conn => {
            sqlx::query(
                "UPDATE objects SET name = $1, meta_category = $2, description = $3, \
                 template_uuid = $4, template_version = $5, timestamp = $6, distribution = $7, \
                 sharing_group_id = $8, comment = $9, deleted = $10, first_seen = $11, \
                 last_seen = $12 WHERE id = $13",
            )
            .bind(&object.name)
            .bind(&object.meta_category)
            .bind(&object.description)
            .bind(&object.template_uuid)
            .bind(&object.template_version)
            .bind(object.timestamp)
            .bind(object.distribution.as_i64())
            .bind(object.sharing_group_id)
            .bind(&object.comment)
            .bind(object.deleted)
            .bind(object.first_seen)
            .bind(object.last_seen)
            .bind(object.id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Inserts a reference; its target id and kind are resolved afterwards per event.
    pub(crate) async fn insert_reference(
        &mut self,
        event_id: i64,
        reference: &ObjectReference,
    ) -> Result<i64> {
        let (id,): (i64,) = with_tx!(self, conn => {
            sqlx::query_as(
                "INSERT INTO object_references (uuid, object_id, event_id, source_uuid, \
                 referenced_uuid, referenced_id, referenced_type, relationship_type, comment, \
                 timestamp, deleted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 RETURNING id",
            )
            .bind(&reference.uuid)
            .bind(reference.object_id)
            .bind(event_id)
            .bind(&reference.source_uuid)
            .bind(&reference.referenced_uuid)
            .bind(reference.referenced_id)
            .bind(reference.referenced_type.as_i64())
            .bind(&reference.relationship_type)
            .bind(&reference.comment)
            .bind(reference.timestamp)
            .bind(reference.deleted)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| conflict_on_unique(e, format!("An object reference with uuid {} already exists.", reference.uuid)))?
        });
        Ok(id)
    }
}

impl Store {
    /// Adds an object (with attributes and references) to an event, unpublishing it.
    pub async fn add_object(
        &self,
        event_id: i64,
        object: &MispObject,
        now: i64,
        may_create_tags: bool,
    ) -> Result<MispObject> {
        let mut tx = self.begin().await?;
        let object_id = tx.insert_object(event_id, object, may_create_tags).await?;
        tx.resolve_references(event_id).await?;
        tx.touch_event(event_id, now).await?;
        tx.refresh_attribute_count(event_id).await?;
        tx.commit().await?;
        self.object(&Key::Id(object_id), true).await
    }

    /// One object with its attributes (and their tags) and references.
    pub async fn object(&self, key: &Key, include_deleted: bool) -> Result<MispObject> {
        let deleted_clause = if include_deleted {
            ""
        } else {
            " AND deleted = FALSE"
        };
        let row: Option<ObjectRow> = match key {
            Key::Id(id) => {
                let sql =
                    format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE id = $1{deleted_clause}");
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(*id).fetch_optional(pool).await?)
            }
            Key::Uuid(uuid) => {
                let sql =
                    format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE uuid = $1{deleted_clause}");
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(uuid).fetch_optional(pool).await?)
            }
        };
        let mut object = row.ok_or(StoreError::NotFound)?.into_object()?;
        let attribute_sql = format!(
            "SELECT {ATTRIBUTE_COLUMNS} FROM attributes WHERE object_id = $1{deleted_clause} ORDER BY id"
        );
        let attribute_rows: Vec<AttributeRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(attribute_sql.as_str())).bind(object.id).fetch_all(pool).await?
        });
        let tag_sql = format!(
            "SELECT attribute_tags.attribute_id AS owner_id, attribute_tags.local, \
             attribute_tags.relationship_type, {TAG_COLUMNS} FROM attribute_tags \
             JOIN tags ON tags.id = attribute_tags.tag_id \
             JOIN attributes ON attributes.id = attribute_tags.attribute_id \
             WHERE attributes.object_id = $1 ORDER BY attribute_tags.id"
        );
        let tag_rows: Vec<AttachedTagRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(tag_sql.as_str())).bind(object.id).fetch_all(pool).await?
        });
        let mut tags: HashMap<i64, Vec<AttachedTag>> = HashMap::new();
        for row in tag_rows {
            tags.entry(row.owner_id)
                .or_default()
                .push(row.into_attached());
        }
        for row in attribute_rows {
            let mut attribute = row.into_attribute()?;
            attribute.tags = tags.remove(&attribute.id).unwrap_or_default();
            object.attributes.push(attribute);
        }
        let reference_sql = format!(
            "SELECT {REFERENCE_COLUMNS} FROM object_references WHERE object_id = $1{deleted_clause} ORDER BY id"
        );
        let references: Vec<ReferenceRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(reference_sql.as_str())).bind(object.id).fetch_all(pool).await?
        });
        object.references = references.into_iter().map(Into::into).collect();
        Ok(object)
    }

    /// Soft delete (object and its attributes marked deleted) or hard delete (gone, with its
    /// attributes and references).
    pub async fn delete_object(&self, object: &MispObject, hard: bool, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let affected = with_tx!(&mut tx, conn => {
            if hard {
                sqlx::query("DELETE FROM attribute_tags WHERE attribute_id IN (SELECT id FROM attributes WHERE object_id = $1)")
                    .bind(object.id).execute(&mut *conn).await?;
                sqlx::query("DELETE FROM sightings WHERE attribute_id IN (SELECT id FROM attributes WHERE object_id = $1)")
                    .bind(object.id).execute(&mut *conn).await?;
                sqlx::query("DELETE FROM attributes WHERE object_id = $1").bind(object.id).execute(&mut *conn).await?;
                sqlx::query("DELETE FROM object_references WHERE object_id = $1").bind(object.id).execute(&mut *conn).await?;
                sqlx::query("DELETE FROM objects WHERE id = $1").bind(object.id).execute(&mut *conn).await?.rows_affected()
            } else {
                sqlx::query("UPDATE attributes SET deleted = TRUE, timestamp = $1 WHERE object_id = $2 AND deleted = FALSE")
                    .bind(now).bind(object.id).execute(&mut *conn).await?;
                sqlx::query("UPDATE object_references SET deleted = TRUE, timestamp = $1 WHERE object_id = $2")
                    .bind(now).bind(object.id).execute(&mut *conn).await?;
                sqlx::query("UPDATE objects SET deleted = TRUE, timestamp = $1 WHERE id = $2")
                    .bind(now).bind(object.id).execute(&mut *conn).await?.rows_affected()
            }
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        tx.touch_event(object.event_id, now).await?;
        tx.refresh_attribute_count(object.event_id).await?;
        tx.commit().await
    }

    /// Adds a reference from an object of `event_id`; returns it with its target resolved.
    pub async fn add_object_reference(
        &self,
        event_id: i64,
        reference: &ObjectReference,
        now: i64,
    ) -> Result<ObjectReference> {
        let mut tx = self.begin().await?;
        let id = tx.insert_reference(event_id, reference).await?;
        tx.resolve_references(event_id).await?;
        tx.touch_event(event_id, now).await?;
        tx.commit().await?;
        let sql = format!("SELECT {REFERENCE_COLUMNS} FROM object_references WHERE id = $1");
        let row: ReferenceRow = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(id).fetch_one(pool).await?
        });
        Ok(row.into())
    }
}

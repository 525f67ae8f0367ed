//! Tags and their attachment to events and attributes.

use crate::rows::{AttachedTagRow, TAG_COLUMNS, TagRow};
use crate::sql::{Sql, bind_all};
use crate::{Result, Store, StoreError, Tx, conflict_on_unique, with_pool, with_tx, with_writer};
use kizuna_model::access::Viewer;
use kizuna_model::{AttachedTag, Tag};
use sqlx::AssertSqlSafe;

/// How often a tag is used, for `/tags/index`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagUsage {
    /// Events carrying the tag.
    pub count: i64,
    /// Attributes carrying the tag.
    pub attribute_count: i64,
}

fn tag_name_taken(name: &str) -> String {
    format!("A tag named {name:?} already exists.")
}

impl Tx {
    /// The id of the tag named like `tag` (case-insensitively), creating it when missing and
    /// `may_create`; None when missing and not allowed to create. Concurrent writers creating
    /// the same new tag both end up with the one row (the insert yields on conflict).
    pub(crate) async fn capture_tag(&mut self, tag: &Tag, may_create: bool) -> Result<Option<i64>> {
        if let Some(id) = self.tag_id_by_name(&tag.name).await? {
            return Ok(Some(id));
        }
        if !may_create {
            return Ok(None);
        }
        with_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO tags (name, colour, exportable, org_id, user_id, hide_tag, \
                 numerical_value, is_galaxy, is_custom_galaxy, local_only) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
            )
            .bind(&tag.name)
            .bind(&tag.colour)
            .bind(tag.exportable)
            .bind(tag.org_id)
            .bind(tag.user_id)
            .bind(tag.hide_tag)
            .bind(tag.numerical_value)
            .bind(tag.is_galaxy)
            .bind(tag.is_custom_galaxy)
            .bind(tag.local_only)
            .execute(&mut *conn)
            .await?;
        });
        self.tag_id_by_name(&tag.name).await
    }

    async fn tag_id_by_name(&mut self, name: &str) -> Result<Option<i64>> {
        let found: Option<(i64,)> = with_tx!(self, conn => {
            sqlx::query_as("SELECT id FROM tags WHERE lower(name) = lower($1)")
                .bind(name)
                .fetch_optional(&mut *conn)
                .await?
        });
        Ok(found.map(|(id,)| id))
    }

    pub(crate) async fn insert_tag(&mut self, tag: &Tag) -> Result<Tag> {
        let sql = format!(
            "INSERT INTO tags (name, colour, exportable, org_id, user_id, hide_tag, \
             numerical_value, is_galaxy, is_custom_galaxy, local_only) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {TAG_COLUMNS}"
        );
        let row: TagRow = with_tx!(self, conn => {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(&tag.name)
                .bind(&tag.colour)
                .bind(tag.exportable)
                .bind(tag.org_id)
                .bind(tag.user_id)
                .bind(tag.hide_tag)
                .bind(tag.numerical_value)
                .bind(tag.is_galaxy)
                .bind(tag.is_custom_galaxy)
                .bind(tag.local_only)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| conflict_on_unique(e, tag_name_taken(&tag.name)))?
        });
        Ok(row.into())
    }

    /// Attaches tags to an event, capturing them by name; already attached tags are kept.
    pub(crate) async fn attach_event_tags(
        &mut self,
        event_id: i64,
        tags: &[AttachedTag],
        may_create: bool,
    ) -> Result<()> {
        for attached in tags {
            if let Some(tag_id) = self.capture_tag(&attached.tag, may_create).await? {
                self.link_event_tag(event_id, tag_id, attached).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn link_event_tag(
        &mut self,
        event_id: i64,
        tag_id: i64,
        attached: &AttachedTag,
    ) -> Result<bool> {
        let result = with_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO event_tags (event_id, tag_id, local, relationship_type) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (event_id, tag_id) DO NOTHING",
            )
            .bind(event_id)
            .bind(tag_id)
            .bind(attached.local)
            .bind(&attached.relationship_type)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        Ok(result > 0)
    }

    pub(crate) async fn attach_attribute_tags(
        &mut self,
        event_id: i64,
        attribute_id: i64,
        tags: &[AttachedTag],
        may_create: bool,
    ) -> Result<()> {
        for attached in tags {
            if let Some(tag_id) = self.capture_tag(&attached.tag, may_create).await? {
                self.link_attribute_tag(event_id, attribute_id, tag_id, attached)
                    .await?;
            }
        }
        Ok(())
    }

    /// Attaches the tags of many attributes of one event, capturing each distinct tag name
    /// once rather than once per attribute (an import of thousands of attributes usually
    /// names a handful of tags).
    pub(crate) async fn attach_tags_of_attributes(
        &mut self,
        event_id: i64,
        attributes: &[(i64, &[AttachedTag])],
        may_create: bool,
    ) -> Result<()> {
        let mut captured: std::collections::HashMap<String, Option<i64>> =
            std::collections::HashMap::new();
        let mut links = Vec::new();
        for (attribute_id, tags) in attributes {
            for attached in *tags {
                // Tag names match case-insensitively, as capture_tag's lookup does.
                let key = attached.tag.name.to_lowercase();
                let tag_id = match captured.get(&key) {
                    Some(tag_id) => *tag_id,
                    None => {
                        let tag_id = self.capture_tag(&attached.tag, may_create).await?;
                        captured.insert(key, tag_id);
                        tag_id
                    }
                };
                if let Some(tag_id) = tag_id {
                    links.push((*attribute_id, tag_id, attached));
                }
            }
        }
        match self {
            Tx::Sqlite(transaction, _) => {
                let links: Vec<crate::sqlite_bulk::TagLink<'_>> = links
                    .iter()
                    .map(
                        |(attribute_id, tag_id, attached)| crate::sqlite_bulk::TagLink {
                            attribute_id: *attribute_id,
                            tag_id: *tag_id,
                            local: attached.local,
                            relationship_type: attached.relationship_type.as_deref(),
                        },
                    )
                    .collect();
                crate::sqlite_bulk::link_attribute_tags(transaction, event_id, &links).await?;
            }
            Tx::Postgres(_) => {
                for (attribute_id, tag_id, attached) in links {
                    self.link_attribute_tag(event_id, attribute_id, tag_id, attached)
                        .await?;
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn link_attribute_tag(
        &mut self,
        event_id: i64,
        attribute_id: i64,
        tag_id: i64,
        attached: &AttachedTag,
    ) -> Result<bool> {
        let result = with_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO attribute_tags (attribute_id, event_id, tag_id, local, relationship_type) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (attribute_id, tag_id) DO NOTHING",
            )
            .bind(attribute_id)
            .bind(event_id)
            .bind(tag_id)
            .bind(attached.local)
            .bind(&attached.relationship_type)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        Ok(result > 0)
    }
}

impl Store {
    pub async fn create_tag(&self, tag: &Tag) -> Result<Tag> {
        let mut tx = self.begin().await?;
        let created = tx.insert_tag(tag).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn tag(&self, id: i64) -> Result<Tag> {
        let sql = format!("SELECT {TAG_COLUMNS} FROM tags WHERE id = $1");
        let row: Option<TagRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await?
        });
        row.map(Into::into).ok_or(StoreError::NotFound)
    }

    /// Case-insensitive lookup by exact name.
    pub async fn tag_by_name(&self, name: &str) -> Result<Option<Tag>> {
        let sql = format!("SELECT {TAG_COLUMNS} FROM tags WHERE lower(name) = lower($1)");
        let row: Option<TagRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(name).fetch_optional(pool).await?
        });
        Ok(row.map(Into::into))
    }

    pub async fn update_tag(&self, tag: &Tag) -> Result<Tag> {
        let affected = with_writer!(self, pool => {
            sqlx::query(
                "UPDATE tags SET name = $1, colour = $2, exportable = $3, org_id = $4, \
                 user_id = $5, hide_tag = $6, numerical_value = $7, is_galaxy = $8, \
                 is_custom_galaxy = $9, local_only = $10 WHERE id = $11",
            )
            .bind(&tag.name)
            .bind(&tag.colour)
            .bind(tag.exportable)
            .bind(tag.org_id)
            .bind(tag.user_id)
            .bind(tag.hide_tag)
            .bind(tag.numerical_value)
            .bind(tag.is_galaxy)
            .bind(tag.is_custom_galaxy)
            .bind(tag.local_only)
            .bind(tag.id)
            .execute(pool)
            .await
            .map_err(|e| conflict_on_unique(e, tag_name_taken(&tag.name)))?
            .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        self.tag(tag.id).await
    }

    /// Deletes a tag and every attachment of it.
    pub async fn delete_tag(&self, id: i64) -> Result<()> {
        let affected = with_writer!(self, pool => {
            sqlx::query("DELETE FROM tags WHERE id = $1").bind(id).execute(pool).await?.rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// All tags with their usage counts, ordered by name. Only events and attributes
    /// `viewer` may see are counted: a count over hidden events would tell an organisation
    /// how much others hold under a tag.
    pub async fn list_tags(&self, viewer: &Viewer) -> Result<Vec<(Tag, TagUsage)>> {
        let sql = format!("SELECT {TAG_COLUMNS} FROM tags ORDER BY name");
        let rows: Vec<TagRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).fetch_all(pool).await?
        });
        let mut events_seen = Sql::new(self.dialect());
        events_seen.event_visible(viewer);
        let event_sql = format!(
            "SELECT event_tags.tag_id, COUNT(*) FROM event_tags \
             JOIN events ON events.id = event_tags.event_id{} GROUP BY event_tags.tag_id",
            events_seen.where_clause()
        );
        let event_counts: Vec<(i64, i64)> = with_pool!(self, pool => {
            bind_all!(sqlx::query_as(AssertSqlSafe(event_sql.as_str())), events_seen).fetch_all(pool).await?
        });
        let mut attributes_seen = Sql::new(self.dialect());
        attributes_seen.event_visible(viewer);
        attributes_seen.attribute_visible(viewer);
        let attribute_sql = format!(
            "SELECT attribute_tags.tag_id, COUNT(*) FROM attribute_tags \
             JOIN attributes ON attributes.id = attribute_tags.attribute_id \
             JOIN events ON events.id = attributes.event_id{} GROUP BY attribute_tags.tag_id",
            attributes_seen.where_clause()
        );
        let attribute_counts: Vec<(i64, i64)> = with_pool!(self, pool => {
            bind_all!(sqlx::query_as(AssertSqlSafe(attribute_sql.as_str())), attributes_seen).fetch_all(pool).await?
        });
        let events: std::collections::HashMap<i64, i64> = event_counts.into_iter().collect();
        let attributes: std::collections::HashMap<i64, i64> =
            attribute_counts.into_iter().collect();
        Ok(rows
            .into_iter()
            .map(|row| {
                let usage = TagUsage {
                    count: events.get(&row.id).copied().unwrap_or(0),
                    attribute_count: attributes.get(&row.id).copied().unwrap_or(0),
                };
                (row.into(), usage)
            })
            .collect())
    }

    /// Tags whose name matches a SQL LIKE pattern (`%` wildcards), case-insensitively.
    pub async fn search_tags(&self, pattern: &str) -> Result<Vec<Tag>> {
        let sql = format!(
            "SELECT {TAG_COLUMNS} FROM tags WHERE lower(name) LIKE lower($1) ORDER BY name"
        );
        let rows: Vec<TagRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(pattern).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Attaches a tag to an event. A global (non-local) attachment is a change of the event:
    /// it bumps the event's timestamp and unpublishes it. Returns false if already attached.
    pub async fn attach_event_tag(
        &self,
        event_id: i64,
        attached: &AttachedTag,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let added = tx
            .link_event_tag(event_id, attached.tag.id, attached)
            .await?;
        if added && !attached.local {
            tx.touch_event(event_id, now).await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Removes a tag from an event; returns false if it was not attached.
    pub async fn detach_event_tag(&self, event_id: i64, tag_id: i64, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let removed: Option<(bool,)> = with_tx!(&mut tx, conn => {
            sqlx::query_as("DELETE FROM event_tags WHERE event_id = $1 AND tag_id = $2 RETURNING local")
                .bind(event_id)
                .bind(tag_id)
                .fetch_optional(&mut *conn)
                .await?
        });
        if let Some((local,)) = removed
            && !local
        {
            tx.touch_event(event_id, now).await?;
        }
        tx.commit().await?;
        Ok(removed.is_some())
    }

    /// Attaches a tag to an attribute; a global attachment touches the attribute and its event.
    pub async fn attach_attribute_tag(
        &self,
        event_id: i64,
        attribute_id: i64,
        attached: &AttachedTag,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let added = tx
            .link_attribute_tag(event_id, attribute_id, attached.tag.id, attached)
            .await?;
        if added && !attached.local {
            tx.touch_attribute(attribute_id, now).await?;
            tx.touch_event(event_id, now).await?;
        }
        tx.commit().await?;
        Ok(added)
    }

    pub async fn detach_attribute_tag(
        &self,
        event_id: i64,
        attribute_id: i64,
        tag_id: i64,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let removed: Option<(bool,)> = with_tx!(&mut tx, conn => {
            sqlx::query_as("DELETE FROM attribute_tags WHERE attribute_id = $1 AND tag_id = $2 RETURNING local")
                .bind(attribute_id)
                .bind(tag_id)
                .fetch_optional(&mut *conn)
                .await?
        });
        if let Some((local,)) = removed
            && !local
        {
            tx.touch_attribute(attribute_id, now).await?;
            tx.touch_event(event_id, now).await?;
        }
        tx.commit().await?;
        Ok(removed.is_some())
    }

    pub(crate) async fn event_tags_for(
        &self,
        event_ids: &[i64],
    ) -> Result<Vec<(i64, AttachedTag)>> {
        let mut out = Vec::new();
        for chunk in event_ids.chunks(500) {
            let placeholders = placeholders(1, chunk.len());
            let sql = format!(
                "SELECT event_tags.event_id AS owner_id, event_tags.local, \
                 event_tags.relationship_type, {TAG_COLUMNS} FROM event_tags \
                 JOIN tags ON tags.id = event_tags.tag_id \
                 WHERE event_tags.event_id IN ({placeholders}) ORDER BY event_tags.id"
            );
            let rows: Vec<AttachedTagRow> = with_pool!(self, pool => {
                let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()));
                for id in chunk {
                    query = query.bind(*id);
                }
                query.fetch_all(pool).await?
            });
            out.extend(
                rows.into_iter()
                    .map(|row| (row.owner_id, row.into_attached())),
            );
        }
        Ok(out)
    }
}

/// `$first, $first+1, …` for `count` values.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

//! Events: whole-event writes in one transaction, full loads, the index, publishing.

use crate::rows::{
    ATTRIBUTE_COLUMNS, AttachedTagRow, AttributeRow, EVENT_COLUMNS, EventRow, OBJECT_COLUMNS,
    ObjectRow, REFERENCE_COLUMNS, ReferenceRow, TAG_COLUMNS, format_date,
};
use crate::{
    Key, Result, Store, StoreError, Tx, conflict_on_unique, with_pool, with_tx, with_writer,
};
use kizuna_model::access::Viewer;
use kizuna_model::{AttachedTag, Attribute, Distribution, Event, MispObject, ObjectReference};
use sqlx::AssertSqlSafe;
use std::collections::{HashMap, HashSet};

/// What a load may return.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Also return soft-deleted attributes and objects.
    pub include_deleted: bool,
    /// The organisation looking, for MISP's item-level distribution rules; None = site
    /// admin (sees everything).
    pub viewer_org: Option<i64>,
}

/// Everything one event edit writes, applied in one transaction.
#[derive(Clone, Debug)]
pub struct EventChanges {
    /// The event's scalar fields as they must be stored (its `id` names the row).
    pub event: Event,
    pub new_attributes: Vec<Attribute>,
    pub updated_attributes: Vec<Attribute>,
    pub new_objects: Vec<MispObject>,
    /// Scalar fields of existing objects.
    pub updated_objects: Vec<MispObject>,
    pub new_references: Vec<ObjectReference>,
    pub add_event_tags: Vec<AttachedTag>,
    /// Whether tags unknown by name may be created (the user's perm_tag_editor).
    pub may_create_tags: bool,
}

/// The event columns that may be used to sort the index.
pub(crate) const SORTABLE: &[&str] = &[
    "id",
    "date",
    "info",
    "timestamp",
    "publish_timestamp",
    "threat_level_id",
    "analysis",
    "distribution",
    "attribute_count",
    "org_id",
    "orgc_id",
    "uuid",
];

impl Tx {
    pub(crate) async fn insert_event_row(&mut self, event: &Event) -> Result<i64> {
        let (id,): (i64,) = with_tx!(self, conn => {
            sqlx::query_as(
                "INSERT INTO events (uuid, info, date, threat_level_id, analysis, distribution, \
                 sharing_group_id, published, publish_timestamp, timestamp, sighting_timestamp, \
                 org_id, orgc_id, user_id, attribute_count, locked, proposal_email_lock, \
                 disable_correlation, extends_uuid, protected) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0, $15, $16, \
                 $17, $18, $19) RETURNING id",
            )
            .bind(&event.uuid)
            .bind(&event.info)
            .bind(format_date(event.date))
            .bind(event.threat_level.as_i64())
            .bind(event.analysis.as_i64())
            .bind(event.distribution.as_i64())
            .bind(event.sharing_group_id)
            .bind(event.published)
            .bind(event.publish_timestamp)
            .bind(event.timestamp)
            .bind(event.sighting_timestamp)
            .bind(event.org_id)
            .bind(event.orgc_id)
            .bind(event.user_id)
            .bind(event.locked)
            .bind(event.proposal_email_lock)
            .bind(event.disable_correlation)
            .bind(&event.extends_uuid)
            .bind(event.protected)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| conflict_on_unique(e, format!("An event with uuid {} already exists.", event.uuid)))?
        });
        Ok(id)
    }

    pub(crate) async fn update_event_row(&mut self, event: &Event) -> Result<()> {
        let affected = with_tx!(self, conn => {
            sqlx::query(
                "UPDATE events SET info = $1, date = $2, threat_level_id = $3, analysis = $4, \
                 distribution = $5, sharing_group_id = $6, published = $7, publish_timestamp = $8, \
                 timestamp = $9, sighting_timestamp = $10, org_id = $11, orgc_id = $12, \
                 locked = $13, proposal_email_lock = $14, disable_correlation = $15, \
                 extends_uuid = $16, protected = $17 WHERE id = $18",
            )
            .bind(&event.info)
            .bind(format_date(event.date))
            .bind(event.threat_level.as_i64())
            .bind(event.analysis.as_i64())
            .bind(event.distribution.as_i64())
            .bind(event.sharing_group_id)
            .bind(event.published)
            .bind(event.publish_timestamp)
            .bind(event.timestamp)
            .bind(event.sighting_timestamp)
            .bind(event.org_id)
            .bind(event.orgc_id)
            .bind(event.locked)
            .bind(event.proposal_email_lock)
            .bind(event.disable_correlation)
            .bind(&event.extends_uuid)
            .bind(event.protected)
            .bind(event.id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Any change to an event's content unpublishes it and moves its timestamp (MISP).
    pub(crate) async fn touch_event(&mut self, event_id: i64, now: i64) -> Result<()> {
        with_tx!(self, conn => {
            sqlx::query("UPDATE events SET timestamp = $1, published = FALSE WHERE id = $2")
                .bind(now)
                .bind(event_id)
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }

    /// Recounts the event's non-deleted attributes into `attribute_count`.
    pub(crate) async fn refresh_attribute_count(&mut self, event_id: i64) -> Result<()> {
        with_tx!(self, conn => {
            sqlx::query(
                "UPDATE events SET attribute_count = (SELECT COUNT(*) FROM attributes \
                 WHERE attributes.event_id = $1 AND attributes.deleted = FALSE) WHERE id = $1",
            )
            .bind(event_id)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    /// Points every reference of the event at the local id and kind of what it names.
    pub(crate) async fn resolve_references(&mut self, event_id: i64) -> Result<()> {
        with_tx!(self, conn => {
            sqlx::query(
                "UPDATE object_references SET \
                 referenced_type = CASE WHEN EXISTS (SELECT 1 FROM objects \
                   WHERE objects.uuid = object_references.referenced_uuid) THEN 1 ELSE 0 END, \
                 referenced_id = COALESCE( \
                   (SELECT objects.id FROM objects WHERE objects.uuid = object_references.referenced_uuid), \
                   (SELECT attributes.id FROM attributes WHERE attributes.uuid = object_references.referenced_uuid), \
                   0) \
                 WHERE event_id = $1",
            )
            .bind(event_id)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    async fn apply_changes(&mut self, event_id: i64, changes: &EventChanges) -> Result<()> {
        let may_create = changes.may_create_tags;
        self.insert_attributes(event_id, 0, &changes.new_attributes, may_create)
            .await?;
        for attribute in &changes.updated_attributes {
            self.update_attribute_row(attribute).await?;
            self.attach_attribute_tags(event_id, attribute.id, &attribute.tags, may_create)
                .await?;
        }
        for object in &changes.new_objects {
            self.insert_object(event_id, object, may_create).await?;
        }
        for object in &changes.updated_objects {
            self.update_object_row(object).await?;
        }
        for reference in &changes.new_references {
            self.insert_reference(event_id, reference).await?;
        }
        self.attach_event_tags(event_id, &changes.add_event_tags, may_create)
            .await?;
        self.resolve_references(event_id).await?;
        self.refresh_attribute_count(event_id).await?;
        Ok(())
    }

    /// A new event with its attributes, objects, references and tags; the same steps as
    /// [`Tx::apply_changes`] with everything new, without copying the event into an
    /// [`EventChanges`].
    async fn insert_whole_event(&mut self, event: &Event, may_create: bool) -> Result<i64> {
        let event_id = self.insert_event_row(event).await?;
        self.insert_attributes(event_id, 0, &event.attributes, may_create)
            .await?;
        for object in &event.objects {
            self.insert_object(event_id, object, may_create).await?;
        }
        self.attach_event_tags(event_id, &event.tags, may_create)
            .await?;
        self.resolve_references(event_id).await?;
        self.refresh_attribute_count(event_id).await?;
        Ok(event_id)
    }
}

impl Store {
    /// Stores a new event with its attributes, objects, references and tags, all or nothing.
    /// Returns the new event id.
    pub async fn insert_event(&self, event: &Event, may_create_tags: bool) -> Result<i64> {
        let mut tx = self.begin().await?;
        let event_id = tx.insert_whole_event(event, may_create_tags).await?;
        tx.commit().await?;
        Ok(event_id)
    }

    /// Stores several new events in one transaction, all or nothing; returns their ids in
    /// order. One commit instead of one per event: on SQLite every commit rewrites the index
    /// pages it touched, which for a feed of many small events costs more than the inserts.
    pub async fn insert_events(&self, events: &[Event], may_create_tags: bool) -> Result<Vec<i64>> {
        let mut tx = self.begin().await?;
        let mut ids = Vec::with_capacity(events.len());
        for event in events {
            ids.push(tx.insert_whole_event(event, may_create_tags).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Writes an event edit, all or nothing.
    pub async fn apply_event_changes(&self, changes: &EventChanges) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.update_event_row(&changes.event).await?;
        tx.apply_changes(changes.event.id, changes).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes an event edit and takes the global attachments `detached` (attribute id, tag
    /// id) off their attributes, all or nothing: a pulled version that no longer names a tag
    /// (a sync server's `remove_missing_tags`). Local attachments stay. Nothing is touched:
    /// the rows carry the source's timestamps.
    pub async fn apply_event_changes_detaching_tags(
        &self,
        changes: &EventChanges,
        detached: &[(i64, i64)],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.update_event_row(&changes.event).await?;
        tx.apply_changes(changes.event.id, changes).await?;
        for (attribute_id, tag_id) in detached {
            with_tx!(&mut tx, conn => {
                sqlx::query(
                    "DELETE FROM attribute_tags WHERE attribute_id = $1 AND tag_id = $2 \
                     AND event_id = $3 AND local = FALSE",
                )
                .bind(*attribute_id)
                .bind(*tag_id)
                .bind(changes.event.id)
                .execute(&mut *conn)
                .await?;
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes the event's scalar fields.
    pub async fn update_event(&self, event: &Event) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.update_event_row(event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The event's own row with `Org`/`Orgc` and event tags, without attributes or objects.
    pub async fn event_meta(&self, key: &Key) -> Result<Event> {
        let row: Option<EventRow> = match key {
            Key::Id(id) => {
                let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(*id).fetch_optional(pool).await?)
            }
            Key::Uuid(uuid) => {
                let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE uuid = $1");
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(uuid).fetch_optional(pool).await?)
            }
        };
        let mut event = row.ok_or(StoreError::NotFound)?.into_event()?;
        self.decorate_events(std::slice::from_mut(&mut event))
            .await?;
        Ok(event)
    }

    /// The whole event: attributes (with tags), objects (with their attributes and
    /// references), event tags, `Org` and `Orgc`.
    pub async fn event(&self, key: &Key, options: &LoadOptions) -> Result<Event> {
        let mut event = self.event_meta(key).await?;
        let event_id = event.id;
        let deleted_clause = if options.include_deleted {
            ""
        } else {
            " AND deleted = FALSE"
        };
        let attribute_sql = format!(
            "SELECT {ATTRIBUTE_COLUMNS} FROM attributes WHERE event_id = $1{deleted_clause} ORDER BY id"
        );
        let tag_sql = format!(
            "SELECT attribute_tags.attribute_id AS owner_id, attribute_tags.local, \
             attribute_tags.relationship_type, {TAG_COLUMNS} FROM attribute_tags \
             JOIN tags ON tags.id = attribute_tags.tag_id \
             WHERE attribute_tags.event_id = $1 ORDER BY attribute_tags.id"
        );
        // On SQLite the rows are read on this task: through sqlx each of the event's rows
        // would cross to the connection's worker thread and back (a wakeup per row), which a
        // sync pull's event views paid for every attribute and every tag link.
        let (attribute_rows, tag_rows): (Vec<AttributeRow>, Vec<AttachedTagRow>) = match &self
            .backend
        {
            crate::Backend::Sqlite(pool) => {
                let mut conn = self.event_reader(pool).await?;
                let binds = [crate::sql::Bind::Int(event_id)];
                let attributes =
                    crate::sqlite_bulk::select_attribute_rows(&mut conn, &attribute_sql, &binds)
                        .await?;
                let tags =
                    crate::sqlite_bulk::select_attached_tag_rows(&mut conn, &tag_sql, &binds)
                        .await?;
                (attributes, tags)
            }
            crate::Backend::Postgres(pool) => {
                let attributes = sqlx::query_as(AssertSqlSafe(attribute_sql.as_str()))
                    .bind(event_id)
                    .fetch_all(pool)
                    .await?;
                let tags = sqlx::query_as(AssertSqlSafe(tag_sql.as_str()))
                    .bind(event_id)
                    .fetch_all(pool)
                    .await?;
                (attributes, tags)
            }
        };
        let object_sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE event_id = $1{deleted_clause} ORDER BY id"
        );
        let object_rows: Vec<ObjectRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(object_sql.as_str())).bind(event_id).fetch_all(pool).await?
        });
        let reference_sql = format!(
            "SELECT {REFERENCE_COLUMNS} FROM object_references WHERE event_id = $1{deleted_clause} ORDER BY id"
        );
        let reference_rows: Vec<ReferenceRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(reference_sql.as_str())).bind(event_id).fetch_all(pool).await?
        });

        let viewer = match options.viewer_org {
            Some(org_id) => {
                Viewer::organisation(org_id, self.authorised_sharing_groups(org_id).await?)
            }
            None => Viewer::SiteAdmin,
        };
        let owner = event.org_id;
        let visible = |distribution: Distribution, sharing_group_id: i64| {
            viewer.sees_item(owner, distribution, sharing_group_id)
        };

        let mut tags_by_attribute: HashMap<i64, Vec<AttachedTag>> = HashMap::new();
        for row in tag_rows {
            tags_by_attribute
                .entry(row.owner_id)
                .or_default()
                .push(row.into_attached());
        }
        let mut objects = Vec::with_capacity(object_rows.len());
        let mut object_index = HashMap::new();
        for row in object_rows {
            let object = row.into_object()?;
            if visible(object.distribution, object.sharing_group_id) {
                object_index.insert(object.id, objects.len());
                objects.push(object);
            }
        }
        for row in reference_rows {
            if let Some(&index) = object_index.get(&row.object_id) {
                objects[index].references.push(row.into());
            }
        }
        for row in attribute_rows {
            let mut attribute = row.into_attribute()?;
            if !visible(attribute.distribution, attribute.sharing_group_id) {
                continue;
            }
            attribute.tags = tags_by_attribute.remove(&attribute.id).unwrap_or_default();
            if attribute.object_id == 0 {
                event.attributes.push(attribute);
            } else if let Some(&index) = object_index.get(&attribute.object_id) {
                objects[index].attributes.push(attribute);
            }
        }
        event.objects = objects;
        Ok(event)
    }

    /// Adds `Org`, `Orgc` and event tags to events loaded from their rows.
    pub(crate) async fn decorate_events(&self, events: &mut [Event]) -> Result<()> {
        let org_ids: HashSet<i64> = events
            .iter()
            .flat_map(|event| [event.org_id, event.orgc_id])
            .collect();
        let org_ids: Vec<i64> = org_ids.into_iter().collect();
        let orgs: HashMap<i64, kizuna_model::Organisation> = self
            .orgs_by_ids(&org_ids)
            .await?
            .into_iter()
            .map(|org| (org.id, org))
            .collect();
        let event_ids: Vec<i64> = events.iter().map(|event| event.id).collect();
        let mut tags: HashMap<i64, Vec<AttachedTag>> = HashMap::new();
        for (event_id, tag) in self.event_tags_for(&event_ids).await? {
            tags.entry(event_id).or_default().push(tag);
        }
        for event in events {
            event.org = orgs.get(&event.org_id).cloned();
            event.orgc = orgs.get(&event.orgc_id).cloned();
            event.tags = tags.remove(&event.id).unwrap_or_default();
        }
        Ok(())
    }

    /// Sharing groups whose content `org_id` may see: those listing the organisation and
    /// those open to every organisation of this instance (MISP's authorizedSGs).
    pub async fn authorised_sharing_groups(&self, org_id: i64) -> Result<HashSet<i64>> {
        let rows: Vec<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT sharing_group_id FROM sharing_group_orgs WHERE org_id = $1 \
                 UNION SELECT sharing_group_id FROM sharing_group_servers \
                 WHERE server_id = 0 AND all_orgs = TRUE",
            )
            .bind(org_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Publishes (`published`, `publish_timestamp = now`) or unpublishes an event.
    pub async fn set_published(&self, event_id: i64, published: bool, now: i64) -> Result<()> {
        let affected = with_writer!(self, pool => {
            if published {
                sqlx::query("UPDATE events SET published = TRUE, publish_timestamp = $1 WHERE id = $2")
                    .bind(now)
                    .bind(event_id)
                    .execute(pool)
                    .await?
                    .rows_affected()
            } else {
                sqlx::query("UPDATE events SET published = FALSE WHERE id = $1")
                    .bind(event_id)
                    .execute(pool)
                    .await?
                    .rows_affected()
            }
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deletes an event and everything in it. With `blocklist`, its uuid is remembered so
    /// that sync and feeds do not bring it back (MISP's default).
    pub async fn delete_event(&self, event: &Event, blocklist: bool, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let affected = with_tx!(&mut tx, conn => {
            sqlx::query("DELETE FROM sightings WHERE event_id = $1").bind(event.id).execute(&mut *conn).await?;
            sqlx::query("DELETE FROM attribute_tags WHERE event_id = $1").bind(event.id).execute(&mut *conn).await?;
            sqlx::query("DELETE FROM event_tags WHERE event_id = $1").bind(event.id).execute(&mut *conn).await?;
            sqlx::query("DELETE FROM object_references WHERE event_id = $1").bind(event.id).execute(&mut *conn).await?;
            sqlx::query("DELETE FROM attributes WHERE event_id = $1").bind(event.id).execute(&mut *conn).await?;
            sqlx::query("DELETE FROM objects WHERE event_id = $1").bind(event.id).execute(&mut *conn).await?;
            sqlx::query("DELETE FROM events WHERE id = $1").bind(event.id).execute(&mut *conn).await?.rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        if blocklist {
            let orgc_name = event
                .orgc
                .as_ref()
                .map(|org| org.name.clone())
                .unwrap_or_default();
            with_tx!(&mut tx, conn => {
                sqlx::query(
                    "INSERT INTO event_blocklists (event_uuid, created, event_info, comment, event_orgc) \
                     VALUES ($1, $2, $3, '', $4) ON CONFLICT (event_uuid) DO NOTHING",
                )
                .bind(&event.uuid)
                .bind(now)
                .bind(&event.info)
                .bind(orgc_name)
                .execute(&mut *conn)
                .await?;
            });
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn is_event_blocklisted(&self, uuid: &str) -> Result<bool> {
        let found: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM event_blocklists WHERE event_uuid = $1")
                .bind(uuid)
                .fetch_optional(pool)
                .await?
        });
        Ok(found.is_some())
    }

    /// The id of the event with this uuid, if any.
    pub async fn event_id_by_uuid(&self, uuid: &str) -> Result<Option<i64>> {
        let found: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM events WHERE uuid = $1")
                .bind(uuid)
                .fetch_optional(pool)
                .await?
        });
        Ok(found.map(|(id,)| id))
    }
}

/// The minimal event index a sync peer reads before pulling (misp-reference §3.3), as the
/// JSON array MISP answers: per event `id`, `timestamp`, `sighting_timestamp` (strings),
/// `published` (boolean), `uuid` and the creator's `orgc_uuid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinimalIndex {
    pub json: String,
    /// Matching events before paging.
    pub total: u64,
}

/// The local copy of an event as a pushing peer's offer is judged against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventSyncState {
    pub timestamp: i64,
    /// Arrived by sync: sync users may overwrite it.
    pub locked: bool,
}

/// Uuid lists longer than this are looked up in several statements (bind-parameter limits).
const UUIDS_PER_STATEMENT: usize = 5_000;

impl Store {
    /// The minimal event index (`/events/index` with `minimal`) of the events matching
    /// `criteria` that `viewer` may see and that hold at least one live attribute (MISP
    /// leaves empty events out of this form). The database writes the JSON itself: a pull
    /// reads the index of every event, and one text value costs far less than decoding a row
    /// per event.
    pub async fn minimal_event_index(
        &self,
        criteria: &kizuna_model::query::AttributeCriteria,
        viewer: &Viewer,
        sort: Option<&str>,
        descending: bool,
        paging: kizuna_model::query::Paging,
    ) -> Result<MinimalIndex> {
        let mut sql = self.event_search_sql(criteria, viewer).await?;
        // MISP's minimal index leaves out events with neither attributes nor reports.
        sql.push(
            "(events.attribute_count > 0 OR EXISTS (SELECT 1 FROM event_reports \
             WHERE event_reports.event_id = events.id AND event_reports.deleted = FALSE))"
                .to_string(),
        );
        let where_clause = sql.where_clause();
        let column = sort
            .filter(|column| SORTABLE.contains(column))
            .unwrap_or("id");
        let direction = if descending { "DESC" } else { "ASC" };
        let order = format!("events.{column} {direction}, events.id {direction}");
        let page = match paging.limit {
            Some(limit) => format!(" LIMIT {limit} OFFSET {}", paging.offset()),
            None => String::new(),
        };
        let orgc_uuid = "COALESCE((SELECT organisations.uuid FROM organisations \
             WHERE organisations.id = events.orgc_id), '')";
        let text = match self.dialect() {
            // A subquery's order is the order json_group_array sees its rows in.
            crate::Dialect::Sqlite => format!(
                "SELECT COALESCE(json_group_array(json(entry)), '[]'), COUNT(*) FROM (\
                 SELECT json_object('id', CAST(events.id AS TEXT), \
                 'timestamp', CAST(events.timestamp AS TEXT), \
                 'sighting_timestamp', CAST(events.sighting_timestamp AS TEXT), \
                 'published', CASE WHEN events.published THEN json('true') ELSE json('false') END, \
                 'uuid', events.uuid, 'orgc_uuid', {orgc_uuid}) AS entry \
                 FROM events{where_clause} ORDER BY {order}{page})"
            ),
            crate::Dialect::Postgres => format!(
                "SELECT COALESCE(json_agg(entry ORDER BY position)::text, '[]'), COUNT(*) FROM (\
                 SELECT json_build_object('id', events.id::text, \
                 'timestamp', events.timestamp::text, \
                 'sighting_timestamp', events.sighting_timestamp::text, \
                 'published', events.published, \
                 'uuid', events.uuid, 'orgc_uuid', {orgc_uuid}) AS entry, \
                 row_number() OVER (ORDER BY {order}) AS position \
                 FROM events{where_clause} ORDER BY {order}{page}) AS page"
            ),
        };
        let (json, rows): (String, i64) = with_pool!(self, pool => {
            crate::sql::bind_all!(sqlx::query_as(AssertSqlSafe(text.as_str())), sql).fetch_one(pool).await?
        });
        // A pull reads the whole index: then the rows are the count, and a second pass over
        // every event is saved.
        if paging.limit.is_none() {
            return Ok(MinimalIndex {
                json,
                total: rows.max(0) as u64,
            });
        }
        let count_text = format!("SELECT COUNT(*) FROM events{where_clause}");
        let (total,): (i64,) = with_pool!(self, pool => {
            crate::sql::bind_all!(sqlx::query_as(AssertSqlSafe(count_text.as_str())), sql).fetch_one(pool).await?
        });
        Ok(MinimalIndex {
            json,
            total: total.max(0) as u64,
        })
    }

    /// The local copies of these events that exist here, by uuid.
    pub async fn event_sync_states(
        &self,
        uuids: &[String],
    ) -> Result<HashMap<String, EventSyncState>> {
        let mut found = HashMap::with_capacity(uuids.len());
        for chunk in uuids.chunks(UUIDS_PER_STATEMENT) {
            let mut sql = crate::sql::Sql::new(self.dialect());
            let placeholders = sql.texts(chunk);
            let text = format!(
                "SELECT uuid, timestamp, locked FROM events WHERE uuid IN ({placeholders})"
            );
            let rows: Vec<(String, i64, bool)> = with_pool!(self, pool => {
                crate::sql::bind_all!(sqlx::query_as(AssertSqlSafe(text.as_str())), sql).fetch_all(pool).await?
            });
            found.extend(
                rows.into_iter()
                    .map(|(uuid, timestamp, locked)| (uuid, EventSyncState { timestamp, locked })),
            );
        }
        Ok(found)
    }

    /// Which of these event uuids are on the event blocklist.
    pub async fn blocklisted_event_uuids(&self, uuids: &[String]) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in uuids.chunks(UUIDS_PER_STATEMENT) {
            let mut sql = crate::sql::Sql::new(self.dialect());
            let placeholders = sql.texts(chunk);
            let text = format!(
                "SELECT event_uuid FROM event_blocklists WHERE event_uuid IN ({placeholders})"
            );
            let rows: Vec<(String,)> = with_pool!(self, pool => {
                crate::sql::bind_all!(sqlx::query_as(AssertSqlSafe(text.as_str())), sql).fetch_all(pool).await?
            });
            found.extend(rows.into_iter().map(|(uuid,)| uuid));
        }
        Ok(found)
    }

    /// Marks new sightings on these events (`sighting_timestamp = now`), which is what makes
    /// sync peers fetch or receive them.
    pub async fn touch_sighting_timestamps(&self, event_ids: &[i64], now: i64) -> Result<()> {
        for chunk in event_ids.chunks(UUIDS_PER_STATEMENT) {
            let mut sql = crate::sql::Sql::new(self.dialect());
            let moment = sql.int(now);
            let placeholders = sql.ints(chunk);
            let text = format!(
                "UPDATE events SET sighting_timestamp = {moment} WHERE id IN ({placeholders})"
            );
            with_writer!(self, pool => {
                crate::sql::bind_all!(sqlx::query(AssertSqlSafe(text.as_str())), sql).execute(pool).await?;
            });
        }
        Ok(())
    }
}

//! Sightings: adding them (one expiration per organisation and attribute), finding the
//! attributes a sighting applies to, listing and counting them under MISP's default sighting
//! policy, deleting them.
//!
//! Visibility has two layers (misp-reference §1.9, §2.2–2.3): the sighted attribute must be
//! visible to the viewer ([`Viewer`]: event, attribute and object distribution), and under
//! `Plugin.Sightings_policy` 0 — the default, and the only policy Kizuna implements — the
//! event's owner organisation sees every sighting of its events while other organisations
//! see only the sightings they reported. Site admins see everything.

use crate::sql::{Sql, bind_all};
use crate::{Key, Result, Store, StoreError, conflict_on_unique, with_pool, with_tx, with_writer};
use kizuna_model::access::Viewer;
use kizuna_model::attribute_types::is_composite;
use kizuna_model::{
    Distribution, Organisation, SightedAttribute, SightedEvent, Sighting, SightingDetails,
    SightingType,
};
use sqlx::AssertSqlSafe;
use std::collections::{HashMap, HashSet};

/// Which sightings to list. Empty lists and `None` bounds do not filter; the lists of one
/// field are alternatives, the fields are all required.
#[derive(Clone, Debug, Default)]
pub struct SightingFilter {
    pub ids: Vec<i64>,
    pub attribute_ids: Vec<i64>,
    pub attribute_uuids: Vec<String>,
    pub event_ids: Vec<i64>,
    pub event_uuids: Vec<String>,
    /// Reporting organisations to keep.
    pub org_ids: Vec<i64>,
    /// Reporting organisations to leave out.
    pub excluded_org_ids: Vec<i64>,
    pub types: Vec<SightingType>,
    /// Exact sources, compared case-insensitively as MISP's MySQL collation does.
    pub sources: Vec<String>,
    /// `date_sighting` lower bound, inclusive.
    pub date_from: Option<i64>,
    /// `date_sighting` upper bound, inclusive.
    pub date_to: Option<i64>,
    /// Also sightings of soft-deleted attributes and of attributes in soft-deleted objects.
    pub include_deleted_attributes: bool,
    /// Newest `date_sighting` first (MISP's listSightings); otherwise by id.
    pub newest_first: bool,
}

/// A live attribute the viewer may see, and so may sight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SightableAttribute {
    pub attribute_id: i64,
    pub event_id: i64,
}

/// How many sightings of each type one attribute has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SightingCounts {
    pub sightings: i64,
    pub false_positives: i64,
    pub expirations: i64,
}

const SIGHTING_COLUMNS: &str = "sightings.id, sightings.uuid, sightings.attribute_id, \
     sightings.event_id, sightings.org_id, sightings.date_sighting, sightings.source, \
     sightings.type AS sighting_type";

/// Distribution of the attribute, its event and its object (5 = inherit when there is none),
/// which decide whether a viewer may see the attribute.
const VISIBILITY_COLUMNS: &str = "attributes.distribution AS attribute_distribution, \
     attributes.sharing_group_id AS attribute_sharing_group_id, \
     events.org_id AS event_org_id, events.distribution AS event_distribution, \
     events.sharing_group_id AS event_sharing_group_id, events.published AS event_published, \
     COALESCE(objects.distribution, 5) AS object_distribution, \
     COALESCE(objects.sharing_group_id, 0) AS object_sharing_group_id";

const ATTRIBUTE_JOINS: &str = "JOIN events ON events.id = attributes.event_id \
     LEFT JOIN objects ON objects.id = attributes.object_id AND attributes.object_id <> 0";

const LIVE_ATTRIBUTE: &str =
    "attributes.deleted = FALSE AND (objects.id IS NULL OR objects.deleted = FALSE)";

/// Item lists longer than this are split over several statements (bind-parameter limits).
const IDS_PER_STATEMENT: usize = 5_000;

#[derive(sqlx::FromRow)]
struct Visibility {
    attribute_distribution: i64,
    attribute_sharing_group_id: i64,
    event_org_id: i64,
    event_distribution: i64,
    event_sharing_group_id: i64,
    event_published: bool,
    object_distribution: i64,
    object_sharing_group_id: i64,
}

impl Visibility {
    /// Whether `viewer` may see the attribute: its event, itself and its object.
    fn allows(&self, viewer: &Viewer) -> Result<bool> {
        let level = |value: i64| {
            Distribution::from_i64(value).ok_or_else(|| {
                StoreError::Corrupt(format!("a sighted item has distribution {value}"))
            })
        };
        let owner = self.event_org_id;
        Ok(viewer.sees_event(
            owner,
            level(self.event_distribution)?,
            self.event_sharing_group_id,
            self.event_published,
        ) && viewer.sees_item(
            owner,
            level(self.attribute_distribution)?,
            self.attribute_sharing_group_id,
        ) && viewer.sees_item(
            owner,
            level(self.object_distribution)?,
            self.object_sharing_group_id,
        ))
    }
}

#[derive(sqlx::FromRow)]
struct SightableRow {
    attribute_id: i64,
    event_id: i64,
    #[sqlx(flatten)]
    visibility: Visibility,
}

#[derive(sqlx::FromRow)]
struct SightingRow {
    id: i64,
    uuid: String,
    attribute_id: i64,
    event_id: i64,
    org_id: i64,
    date_sighting: i64,
    source: String,
    sighting_type: i64,
}

impl SightingRow {
    fn into_sighting(self) -> Result<Sighting> {
        let sighting_type = SightingType::from_i64(self.sighting_type).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "sighting {} has type {}",
                self.id, self.sighting_type
            ))
        })?;
        Ok(Sighting {
            id: self.id,
            uuid: self.uuid,
            attribute_id: self.attribute_id,
            event_id: self.event_id,
            org_id: self.org_id,
            date_sighting: self.date_sighting,
            source: self.source,
            sighting_type,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DetailsRow {
    #[sqlx(flatten)]
    sighting: SightingRow,
    attribute_uuid: String,
    attribute_type: String,
    attribute_category: String,
    value1: String,
    value2: String,
    to_ids: bool,
    event_uuid: String,
    event_orgc_id: i64,
    event_info: String,
    #[sqlx(flatten)]
    visibility: Visibility,
}

impl Sql {
    /// MISP's default sighting policy in SQL: a non-admin sees every sighting of the events
    /// its organisation owns, and its own sightings elsewhere.
    fn sighting_policy(&mut self, viewer: &Viewer) {
        if let Viewer::Organisation { org_id, .. } = viewer {
            let first = self.int(*org_id);
            let second = self.int(*org_id);
            self.push(format!(
                "(events.org_id = {first} OR sightings.org_id = {second})"
            ));
        }
    }
}

impl Store {
    /// Stores sightings (their `id` is ignored) in one transaction and returns them with
    /// their ids. An expiration first removes the reporting organisation's previous
    /// expiration of the same attribute: there is at most one per organisation (MISP).
    pub async fn add_sightings(&self, sightings: &[Sighting]) -> Result<Vec<Sighting>> {
        let mut tx = self.begin().await?;
        let mut stored = Vec::with_capacity(sightings.len());
        for sighting in sightings {
            let id: i64 = with_tx!(&mut tx, conn => {
                if sighting.sighting_type == SightingType::Expiration {
                    sqlx::query(
                        "DELETE FROM sightings WHERE org_id = $1 AND attribute_id = $2 AND type = $3",
                    )
                    .bind(sighting.org_id)
                    .bind(sighting.attribute_id)
                    .bind(SightingType::Expiration.as_i64())
                    .execute(&mut *conn)
                    .await?;
                }
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO sightings (uuid, attribute_id, event_id, org_id, date_sighting, \
                     source, type) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(&sighting.uuid)
                .bind(sighting.attribute_id)
                .bind(sighting.event_id)
                .bind(sighting.org_id)
                .bind(sighting.date_sighting)
                .bind(&sighting.source)
                .bind(sighting.sighting_type.as_i64())
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| {
                    conflict_on_unique(e, format!("A sighting with uuid {} already exists.", sighting.uuid))
                })?;
                id
            });
            stored.push(Sighting {
                id,
                ..sighting.clone()
            });
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// One sighting by id or uuid, without any visibility check.
    pub async fn sighting(&self, key: &Key) -> Result<Sighting> {
        let row: Option<SightingRow> = match key {
            Key::Id(id) => {
                let sql = format!("SELECT {SIGHTING_COLUMNS} FROM sightings WHERE id = $1");
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(*id).fetch_optional(pool).await?)
            }
            Key::Uuid(uuid) => {
                let sql = format!("SELECT {SIGHTING_COLUMNS} FROM sightings WHERE uuid = $1");
                with_pool!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(uuid).fetch_optional(pool).await?)
            }
        };
        row.ok_or(StoreError::NotFound)?.into_sighting()
    }

    /// Removes one sighting for good (sightings are never soft-deleted).
    pub async fn delete_sighting(&self, id: i64) -> Result<()> {
        let affected = with_writer!(self, pool => {
            sqlx::query("DELETE FROM sightings WHERE id = $1")
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

    /// The live attributes named by id or uuid that `viewer` may see, by id.
    pub async fn sightable_attributes_by_key(
        &self,
        keys: &[Key],
        viewer: &Viewer,
    ) -> Result<Vec<SightableAttribute>> {
        let ids: Vec<i64> = keys
            .iter()
            .filter_map(|key| match key {
                Key::Id(id) => Some(*id),
                Key::Uuid(_) => None,
            })
            .collect();
        let uuids: Vec<String> = keys
            .iter()
            .filter_map(|key| match key {
                Key::Uuid(uuid) => Some(uuid.clone()),
                Key::Id(_) => None,
            })
            .collect();
        if ids.is_empty() && uuids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conditions = Sql::new(self.dialect());
        let mut alternatives = Vec::new();
        if !ids.is_empty() {
            alternatives.push(format!("attributes.id IN ({})", conditions.ints(&ids)));
        }
        if !uuids.is_empty() {
            alternatives.push(format!("attributes.uuid IN ({})", conditions.texts(&uuids)));
        }
        conditions.push(format!("({})", alternatives.join(" OR ")));
        self.sightable_attributes(conditions, viewer).await
    }

    /// Every live attribute that `viewer` may see whose `value1` or `value2` equals one of
    /// `values`, compared case-insensitively as MISP does; by id.
    pub async fn sightable_attributes_by_value(
        &self,
        values: &[String],
        viewer: &Viewer,
    ) -> Result<Vec<SightableAttribute>> {
        let values: Vec<&String> = values.iter().filter(|value| !value.is_empty()).collect();
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let mut conditions = Sql::new(self.dialect());
        let mut alternatives = Vec::new();
        for value in values {
            alternatives.push(conditions.text_equals("attributes.value1", value));
            // Only composite attributes have a value2; saying so lets the partial index serve.
            let second = conditions.text_equals("attributes.value2", value);
            alternatives.push(format!("(attributes.value2 <> '' AND {second})"));
        }
        conditions.push(format!("({})", alternatives.join(" OR ")));
        self.sightable_attributes(conditions, viewer).await
    }

    async fn sightable_attributes(
        &self,
        mut conditions: Sql,
        viewer: &Viewer,
    ) -> Result<Vec<SightableAttribute>> {
        conditions.push(LIVE_ATTRIBUTE.to_string());
        let sql = format!(
            "SELECT attributes.id AS attribute_id, attributes.event_id, {VISIBILITY_COLUMNS} \
             FROM attributes {ATTRIBUTE_JOINS}{} ORDER BY attributes.id",
            conditions.where_clause()
        );
        let rows: Vec<SightableRow> = with_pool!(self, pool => {
            bind_all!(sqlx::query_as(AssertSqlSafe(sql.as_str())), conditions).fetch_all(pool).await?
        });
        let mut sightable = Vec::with_capacity(rows.len());
        for row in rows {
            if row.visibility.allows(viewer)? {
                sightable.push(SightableAttribute {
                    attribute_id: row.attribute_id,
                    event_id: row.event_id,
                });
            }
        }
        Ok(sightable)
    }

    /// The sightings matching `filter` that `viewer` may see (the attribute is visible and
    /// the sighting policy allows it), with their attribute, event and reporter.
    pub async fn list_sightings(
        &self,
        filter: &SightingFilter,
        viewer: &Viewer,
    ) -> Result<Vec<SightingDetails>> {
        let mut conditions = Sql::new(self.dialect());
        conditions.int_in("sightings.id", &filter.ids);
        conditions.int_in("sightings.attribute_id", &filter.attribute_ids);
        conditions.text_in("attributes.uuid", &filter.attribute_uuids);
        conditions.int_in("sightings.event_id", &filter.event_ids);
        conditions.text_in("events.uuid", &filter.event_uuids);
        conditions.int_in("sightings.org_id", &filter.org_ids);
        if !filter.excluded_org_ids.is_empty() {
            let params = conditions.ints(&filter.excluded_org_ids);
            conditions.push(format!("sightings.org_id NOT IN ({params})"));
        }
        let types: Vec<i64> = filter.types.iter().map(|kind| kind.as_i64()).collect();
        conditions.int_in("sightings.type", &types);
        if !filter.sources.is_empty() {
            let alternatives: Vec<String> = filter
                .sources
                .iter()
                .map(|source| conditions.text_equals("sightings.source", source))
                .collect();
            conditions.push(format!("({})", alternatives.join(" OR ")));
        }
        if let Some(from) = filter.date_from {
            let param = conditions.int(from);
            conditions.push(format!("sightings.date_sighting >= {param}"));
        }
        if let Some(to) = filter.date_to {
            let param = conditions.int(to);
            conditions.push(format!("sightings.date_sighting <= {param}"));
        }
        if !filter.include_deleted_attributes {
            conditions.push(LIVE_ATTRIBUTE.to_string());
        }
        conditions.sighting_policy(viewer);
        let order = if filter.newest_first {
            "sightings.date_sighting DESC, sightings.id DESC"
        } else {
            "sightings.id"
        };
        let sql = format!(
            "SELECT {SIGHTING_COLUMNS}, attributes.uuid AS attribute_uuid, \
             attributes.type AS attribute_type, attributes.category AS attribute_category, \
             attributes.value1, attributes.value2, attributes.to_ids, \
             events.uuid AS event_uuid, events.orgc_id AS event_orgc_id, \
             events.info AS event_info, {VISIBILITY_COLUMNS} \
             FROM sightings JOIN attributes ON attributes.id = sightings.attribute_id \
             {ATTRIBUTE_JOINS}{} ORDER BY {order}",
            conditions.where_clause()
        );
        let rows: Vec<DetailsRow> = with_pool!(self, pool => {
            bind_all!(sqlx::query_as(AssertSqlSafe(sql.as_str())), conditions).fetch_all(pool).await?
        });
        let mut visible = Vec::with_capacity(rows.len());
        for row in rows {
            if row.visibility.allows(viewer)? {
                visible.push(row);
            }
        }
        let org_ids: HashSet<i64> = visible
            .iter()
            .flat_map(|row| [row.sighting.org_id, row.event_orgc_id])
            .filter(|id| *id != 0)
            .collect();
        let org_ids: Vec<i64> = org_ids.into_iter().collect();
        let orgs: HashMap<i64, Organisation> = self
            .orgs_by_ids(&org_ids)
            .await?
            .into_iter()
            .map(|org| (org.id, org))
            .collect();
        visible
            .into_iter()
            .map(|row| {
                let value = if is_composite(&row.attribute_type) {
                    format!("{}|{}", row.value1, row.value2)
                } else {
                    row.value1
                };
                let reporter = orgs.get(&row.sighting.org_id).cloned();
                let orgc_name = orgs
                    .get(&row.event_orgc_id)
                    .map(|org| org.name.clone())
                    .unwrap_or_default();
                Ok(SightingDetails {
                    sighting: row.sighting.into_sighting()?,
                    attribute: SightedAttribute {
                        uuid: row.attribute_uuid,
                        attr_type: row.attribute_type,
                        category: row.attribute_category,
                        value,
                        to_ids: row.to_ids,
                    },
                    event: SightedEvent {
                        uuid: row.event_uuid,
                        org_id: row.visibility.event_org_id,
                        orgc_id: row.event_orgc_id,
                        info: row.event_info,
                        orgc_name,
                    },
                    reporter,
                })
            })
            .collect()
    }

    /// The numbers of sightings of each attribute that `viewer` may see under the sighting
    /// policy. The caller passes attributes it already knows to be visible; attributes
    /// without sightings are absent from the answer.
    pub async fn sighting_counts(
        &self,
        attribute_ids: &[i64],
        viewer: &Viewer,
    ) -> Result<HashMap<i64, SightingCounts>> {
        let mut counts: HashMap<i64, SightingCounts> = HashMap::new();
        for chunk in attribute_ids.chunks(IDS_PER_STATEMENT) {
            let mut conditions = Sql::new(self.dialect());
            conditions.int_in("sightings.attribute_id", chunk);
            conditions.sighting_policy(viewer);
            let sql = format!(
                "SELECT sightings.attribute_id, sightings.type, COUNT(*) FROM sightings \
                 JOIN events ON events.id = sightings.event_id{} \
                 GROUP BY sightings.attribute_id, sightings.type",
                conditions.where_clause()
            );
            let rows: Vec<(i64, i64, i64)> = with_pool!(self, pool => {
                bind_all!(sqlx::query_as(AssertSqlSafe(sql.as_str())), conditions).fetch_all(pool).await?
            });
            for (attribute_id, kind, count) in rows {
                let entry = counts.entry(attribute_id).or_default();
                match SightingType::from_i64(kind) {
                    Some(SightingType::Sighting) => entry.sightings += count,
                    Some(SightingType::FalsePositive) => entry.false_positives += count,
                    Some(SightingType::Expiration) => entry.expirations += count,
                    None => {
                        return Err(StoreError::Corrupt(format!(
                            "attribute {attribute_id} has sightings of type {kind}"
                        )));
                    }
                }
            }
        }
        Ok(counts)
    }
}

impl Store {
    /// Which of these sighting uuids event `event_id` already holds (a pushing peer offers
    /// only the others).
    pub async fn sighting_uuids_of_event(
        &self,
        event_id: i64,
        uuids: &[String],
    ) -> Result<Vec<String>> {
        let mut found = Vec::new();
        for chunk in uuids.chunks(IDS_PER_STATEMENT) {
            let mut conditions = Sql::new(self.dialect());
            conditions.text_in("uuid", chunk);
            let event = conditions.int(event_id);
            conditions.push(format!("event_id = {event}"));
            let sql = format!(
                "SELECT uuid FROM sightings{} ORDER BY id",
                conditions.where_clause()
            );
            let rows: Vec<(String,)> = with_pool!(self, pool => {
                bind_all!(sqlx::query_as(AssertSqlSafe(sql.as_str())), conditions).fetch_all(pool).await?
            });
            found.extend(rows.into_iter().map(|(uuid,)| uuid));
        }
        Ok(found)
    }

    /// Which of these sighting uuids exist here, on any event (sightings never change, so a
    /// known uuid is skipped).
    pub async fn known_sighting_uuids(&self, uuids: &[String]) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in uuids.chunks(IDS_PER_STATEMENT) {
            let mut conditions = Sql::new(self.dialect());
            conditions.text_in("uuid", chunk);
            let sql = format!("SELECT uuid FROM sightings{}", conditions.where_clause());
            let rows: Vec<(String,)> = with_pool!(self, pool => {
                bind_all!(sqlx::query_as(AssertSqlSafe(sql.as_str())), conditions).fetch_all(pool).await?
            });
            found.extend(rows.into_iter().map(|(uuid,)| uuid));
        }
        Ok(found)
    }

    /// The attributes with these uuids that `viewer` may see, soft-deleted ones included (a
    /// peer's sightings of an attribute deleted since are still its sightings), by uuid.
    pub async fn attributes_for_sightings(
        &self,
        uuids: &[String],
        viewer: &Viewer,
    ) -> Result<HashMap<String, SightableAttribute>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            uuid: String,
            attribute_id: i64,
            event_id: i64,
            #[sqlx(flatten)]
            visibility: Visibility,
        }
        let mut found = HashMap::new();
        for chunk in uuids.chunks(IDS_PER_STATEMENT) {
            let mut conditions = Sql::new(self.dialect());
            conditions.text_in("attributes.uuid", chunk);
            let sql = format!(
                "SELECT attributes.uuid, attributes.id AS attribute_id, attributes.event_id, \
                 {VISIBILITY_COLUMNS} FROM attributes {ATTRIBUTE_JOINS}{}",
                conditions.where_clause()
            );
            let rows: Vec<Row> = with_pool!(self, pool => {
                bind_all!(sqlx::query_as(AssertSqlSafe(sql.as_str())), conditions).fetch_all(pool).await?
            });
            for row in rows {
                if row.visibility.allows(viewer)? {
                    found.insert(
                        row.uuid,
                        SightableAttribute {
                            attribute_id: row.attribute_id,
                            event_id: row.event_id,
                        },
                    );
                }
            }
        }
        Ok(found)
    }
}

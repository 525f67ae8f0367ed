//! restSearch: attribute criteria and the caller's access rules compiled into one SQL query
//! per page, read in keyset order (attribute or event id) so a result of any size streams in
//! bounded memory.

use crate::rows::{
    ATTRIBUTE_COLUMNS, AttachedTagRow, AttributeRow, EVENT_COLUMNS, EventRow, OBJECT_COLUMNS,
    ObjectRow, TAG_COLUMNS,
};
use crate::sql::{Sql, bind_all};
use crate::{Dialect, Result, Store, with_pool};
use kizuna_model::access::Viewer;
use kizuna_model::query::{
    AttributeCriteria, DeletedFilter, OrderField, SortOrder, Terms, TimeBound, is_pattern,
};
use kizuna_model::{AttachedTag, Attribute, Event};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

/// Which restSearch runs: filters that name "the" timestamp, uuid or distribution read the
/// attribute in one and the event in the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchScope {
    Attributes,
    Events,
}

/// Where the next page of a search starts.
#[derive(Clone, Debug)]
pub struct SearchCursor {
    after_id: i64,
    skip: u64,
    remaining: Option<u64>,
}

impl SearchCursor {
    /// A search skipping `skip` matches and returning at most `limit` (None = all).
    pub fn new(skip: u64, limit: Option<u64>) -> Self {
        Self {
            after_id: 0,
            skip,
            remaining: limit,
        }
    }

    pub fn is_done(&self) -> bool {
        self.remaining == Some(0)
    }

    /// Rows to ask for next: at most `page_size`, never past the caller's limit.
    fn take(&self, page_size: u64) -> u64 {
        self.remaining.map_or(page_size, |left| left.min(page_size))
    }

    fn advance(&mut self, last_id: i64, returned: u64, asked: u64) {
        self.after_id = last_id;
        self.skip = 0;
        self.count_down(returned, asked);
    }

    /// Sorted on something else than the id, pages follow by offset.
    fn advance_by_offset(&mut self, returned: u64, asked: u64) {
        self.skip += returned;
        self.count_down(returned, asked);
    }

    fn count_down(&mut self, returned: u64, asked: u64) {
        if let Some(left) = self.remaining.as_mut() {
            *left = left.saturating_sub(returned);
        }
        if returned < asked {
            self.remaining = Some(0);
        }
    }
}

impl Sql {
    /// One term against one column: LIKE when it has a `%` at either end, else equality.
    fn term(&mut self, column: &str, term: &str) -> String {
        if is_pattern(term) {
            self.text_like(column, term)
        } else if column == "attributes.value2" && !term.is_empty() {
            // Spelled out so the planner may use the partial index on non-empty value2.
            let equals = self.text_equals(column, term);
            format!("({equals} AND {column} <> '')")
        } else {
            self.text_equals(column, term)
        }
    }

    /// MISP's generic filter over text columns: any positive term in any column matches
    /// (MISP folds AND terms into the same alternatives); no negative term may match any
    /// column.
    fn text_terms(&mut self, columns: &[&str], terms: &Terms) {
        let positives: Vec<&String> = terms.any.iter().chain(&terms.all).collect();
        if !positives.is_empty() {
            let mut alternatives = Vec::new();
            for term in positives {
                for column in columns {
                    alternatives.push(self.term(column, term));
                }
            }
            self.push(format!("({})", alternatives.join(" OR ")));
        }
        for term in &terms.none {
            for column in columns {
                let matches = self.term(column, term);
                self.push(format!("NOT ({matches})"));
            }
        }
    }

    fn time(&mut self, column: &str, bound: Option<TimeBound>) {
        let Some(bound) = bound else { return };
        let (from, to) = bound.bounds();
        if let Some(from) = from {
            let param = self.int(from);
            self.push(format!("{column} >= {param}"));
        }
        if let Some(to) = to {
            let param = self.int(to);
            self.push(format!("{column} <= {param}"));
        }
    }

    /// MISP's event visibility (§2.2) in SQL.
    pub(crate) fn event_visible(&mut self, viewer: &Viewer) {
        if let Viewer::Organisation {
            org_id,
            sharing_groups,
            unpublished_private,
        } = viewer
        {
            let org = self.int(*org_id);
            let published = if *unpublished_private {
                "events.published = TRUE AND "
            } else {
                ""
            };
            let mut clause =
                format!("(events.org_id = {org} OR {published}(events.distribution IN (1, 2, 3)");
            if !sharing_groups.is_empty() {
                let groups: Vec<i64> = sharing_groups.iter().copied().collect();
                let params = self.ints(&groups);
                clause.push_str(&format!(
                    " OR (events.distribution = 4 AND events.sharing_group_id IN ({params}))"
                ));
            }
            clause.push_str("))");
            self.push(clause);
        }
    }

    /// MISP's item rule (§2.3) for attributes, and for the object holding them.
    pub(crate) fn attribute_visible(&mut self, viewer: &Viewer) {
        if let Viewer::Organisation {
            org_id,
            sharing_groups,
            ..
        } = viewer
        {
            let groups: Vec<i64> = sharing_groups.iter().copied().collect();
            let org = self.int(*org_id);
            let item = |sql: &mut Sql, table: &str| {
                let mut clause =
                    format!("(events.org_id = {org} OR {table}.distribution IN (1, 2, 3, 5)");
                if !groups.is_empty() {
                    let params = sql.ints(&groups);
                    clause.push_str(&format!(
                        " OR ({table}.distribution = 4 AND {table}.sharing_group_id IN ({params}))"
                    ));
                }
                clause.push(')');
                clause
            };
            let attribute_clause = item(self, "attributes");
            self.push(attribute_clause);
            let object_clause = item(self, "objects");
            self.push(format!(
                "(attributes.object_id = 0 OR EXISTS (SELECT 1 FROM objects WHERE objects.id = \
                 attributes.object_id AND {object_clause}))"
            ));
        }
    }

    /// Filters on the event row (both scopes).
    fn event_filters(&mut self, criteria: &AttributeCriteria, scope: SearchScope) {
        if !criteria.event.is_empty() {
            let (positive, negative) = split_ids(&criteria.event);
            if !positive.is_empty() {
                let alternatives: Vec<String> =
                    positive.iter().map(|key| self.event_key(key)).collect();
                self.push(format!("({})", alternatives.join(" OR ")));
            }
            for key in negative {
                let matches = self.event_key(&key);
                self.push(format!("NOT ({matches})"));
            }
        }
        if !criteria.orgc.is_empty() {
            let positives: Vec<&String> =
                criteria.orgc.any.iter().chain(&criteria.orgc.all).collect();
            if !positives.is_empty() {
                let alternatives: Vec<String> =
                    positives.iter().map(|org| self.org_match(org)).collect();
                self.push(format!("({})", alternatives.join(" OR ")));
            }
            for org in &criteria.orgc.none {
                let matches = self.org_match(org);
                self.push(format!("NOT ({matches})"));
            }
        }
        self.text_terms(&["events.info"], &criteria.event_info);
        if let Some(from) = &criteria.event_date.from {
            let param = self.text(from);
            self.push(format!("events.date >= {param}"));
        }
        if let Some(to) = &criteria.event_date.to {
            let param = self.text(to);
            self.push(format!("events.date <= {param}"));
        }
        self.time("events.timestamp", criteria.event_timestamp);
        self.time("events.publish_timestamp", criteria.publish_timestamp);
        if let Some(published) = criteria.published {
            self.push(format!(
                "events.published = {}",
                if published { "TRUE" } else { "FALSE" }
            ));
        }
        if let Some(user) = criteria.creator_user {
            let param = self.int(user);
            self.push(format!("events.user_id = {param}"));
        }
        if !criteria.creator_email.is_empty() {
            let positives: Vec<String> = criteria
                .creator_email
                .any
                .iter()
                .chain(&criteria.creator_email.all)
                .cloned()
                .collect();
            let users = |sql: &mut Sql, part: &str| {
                let pattern = sql.text(&format!("%{}%", part.to_lowercase()));
                format!(
                    "events.user_id IN (SELECT users.id FROM users WHERE lower(users.email) LIKE {pattern})"
                )
            };
            if !positives.is_empty() {
                let alternatives: Vec<String> =
                    positives.iter().map(|part| users(self, part)).collect();
                self.push(format!("({})", alternatives.join(" OR ")));
            }
            for part in &criteria.creator_email.none {
                let matches = users(self, part);
                self.push(format!("NOT ({matches})"));
            }
        }
        if criteria.has_proposal == Some(true) {
            self.push("1 = 0".into());
        }
        self.int_in("events.threat_level_id", &criteria.threat_level);
        self.int_in("events.analysis", &criteria.analysis);
        match scope {
            SearchScope::Events => {
                self.int_in("events.distribution", &criteria.distribution);
                self.int_in("events.sharing_group_id", &criteria.sharing_group);
            }
            SearchScope::Attributes => {
                self.int_in("attributes.distribution", &criteria.distribution);
                self.int_in("attributes.sharing_group_id", &criteria.sharing_group);
            }
        }
    }

    fn event_key(&mut self, key: &str) -> String {
        match key.parse::<i64>() {
            Ok(id) => {
                let param = self.int(id);
                format!("events.id = {param}")
            }
            Err(_) => {
                let param = self.text(&key.to_ascii_lowercase());
                format!("events.uuid = {param}")
            }
        }
    }

    /// An organisation given by id, uuid or name (names compared case-insensitively).
    fn org_match(&mut self, org: &str) -> String {
        match org.parse::<i64>() {
            Ok(id) => {
                let param = self.int(id);
                format!("events.orgc_id = {param}")
            }
            Err(_) => {
                let uuid = self.text(&org.to_ascii_lowercase());
                let name = self.text_equals("organisations.name", org);
                format!(
                    "events.orgc_id IN (SELECT organisations.id FROM organisations \
                     WHERE organisations.uuid = {uuid} OR {name})"
                )
            }
        }
    }

    /// Filters on the attribute row. In the event scope they run inside an EXISTS over the
    /// event's attributes.
    fn attribute_filters(&mut self, criteria: &AttributeCriteria, viewer: &Viewer) {
        self.text_terms(&["attributes.value1", "attributes.value2"], &criteria.value);
        self.text_terms(&["attributes.value1"], &criteria.value1);
        self.text_terms(&["attributes.value2"], &criteria.value2);
        self.text_terms(&["attributes.type"], &criteria.attr_type);
        self.text_terms(&["attributes.category"], &criteria.category);
        self.text_terms(&["attributes.object_relation"], &criteria.object_relation);
        self.text_terms(&["attributes.comment"], &criteria.comment);
        self.text_terms(&["attributes.uuid"], &lowercase(&criteria.attribute_uuid));
        self.time("attributes.timestamp", criteria.attribute_timestamp);
        self.time("attributes.first_seen", criteria.first_seen);
        self.time("attributes.last_seen", criteria.last_seen);
        if let Some(at) = criteria.valid_at {
            // kizuna_model::validity::is_valid_at, in SQL.
            let (first, last, until) = (self.int(at), self.int(at), self.int(at));
            self.push(format!(
                "(attributes.status IS NULL OR attributes.status <> 'withdrawn') \
                 AND (attributes.first_seen IS NULL OR attributes.first_seen <= {first}) \
                 AND (attributes.last_seen IS NULL OR attributes.last_seen >= {last}) \
                 AND (attributes.valid_until IS NULL OR attributes.valid_until >= {until})"
            ));
        }
        if let Some(to_ids) = criteria.to_ids {
            self.push(format!(
                "attributes.to_ids = {}",
                if to_ids { "TRUE" } else { "FALSE" }
            ));
        }
        // Soft-deleted attributes, when asked for, are an organisation's own business: other
        // organisations see them on their own events only (misp-reference §2.3).
        match (&criteria.deleted, viewer.org_id()) {
            (DeletedFilter::LiveOnly, _) => self.push("attributes.deleted = FALSE".into()),
            (DeletedFilter::DeletedOnly, None) => self.push("attributes.deleted = TRUE".into()),
            (DeletedFilter::Both, None) => {}
            (DeletedFilter::DeletedOnly, Some(org_id)) => {
                let org = self.int(org_id);
                self.push(format!(
                    "(attributes.deleted = TRUE AND events.org_id = {org})"
                ));
            }
            (DeletedFilter::Both, Some(org_id)) => {
                let org = self.int(org_id);
                self.push(format!(
                    "(attributes.deleted = FALSE OR events.org_id = {org})"
                ));
            }
        }
        if !criteria.object_name.is_empty() {
            let mut inner = Sql {
                dialect: self.dialect,
                conditions: Vec::new(),
                binds: std::mem::take(&mut self.binds),
            };
            inner.text_terms(&["objects.name"], &criteria.object_name);
            self.binds = inner.binds;
            self.push(format!(
                "attributes.object_id IN (SELECT objects.id FROM objects WHERE {})",
                inner.conditions.join(" AND ")
            ));
        }
        if let Some(text) = &criteria.search_all {
            let pattern = if is_pattern(text) {
                text.clone()
            } else {
                format!("%{text}%")
            };
            let alternatives = [
                self.text_like("attributes.value1", &pattern),
                self.text_like("attributes.value2", &pattern),
                self.text_like("attributes.comment", &pattern),
                self.text_like("events.info", &pattern),
            ];
            self.push(format!("({})", alternatives.join(" OR ")));
        }
        self.attribute_visible(viewer);
    }

    /// Tag filters with tag ids already resolved. `by_event` / `by_attribute` are the SQL
    /// expressions of the event id and attribute id being filtered.
    fn tag_filters(
        &mut self,
        tags: &ResolvedTags,
        event_tags_only: bool,
        scope: SearchScope,
        viewer: &Viewer,
    ) {
        // In the attribute scope the event is named through the attribute's own column, so an
        // OR with attribute tags stays a filter on attributes alone (PostgreSQL otherwise turns
        // the join into a nested-loop filter: 15 s instead of 24 ms at 10M attributes).
        let event_column = match scope {
            SearchScope::Attributes => "attributes.event_id",
            SearchScope::Events => "events.id",
        };
        let event_has = |sql: &mut Sql, ids: &[i64]| {
            let params = sql.ints(ids);
            format!(
                "{event_column} IN (SELECT event_tags.event_id FROM event_tags WHERE event_tags.tag_id IN ({params}))"
            )
        };
        let attribute_has = |sql: &mut Sql, ids: &[i64]| {
            let params = sql.ints(ids);
            match scope {
                SearchScope::Attributes => format!(
                    "attributes.id IN (SELECT attribute_tags.attribute_id FROM attribute_tags \
                     WHERE attribute_tags.tag_id IN ({params}))"
                ),
                SearchScope::Events if viewer.org_id().is_none() => format!(
                    "events.id IN (SELECT attribute_tags.event_id FROM attribute_tags \
                     WHERE attribute_tags.tag_id IN ({params}))"
                ),
                // Only a tag on an attribute the viewer may see makes the event match, as with
                // the value filters: a match must not betray a hidden attribute (§2.3).
                SearchScope::Events => {
                    let mut visible = Sql {
                        dialect: sql.dialect,
                        conditions: Vec::new(),
                        binds: std::mem::take(&mut sql.binds),
                    };
                    visible.attribute_visible(viewer);
                    sql.binds = visible.binds;
                    format!(
                        "EXISTS (SELECT 1 FROM attribute_tags JOIN attributes \
                         ON attributes.id = attribute_tags.attribute_id \
                         WHERE attribute_tags.event_id = events.id \
                         AND attribute_tags.tag_id IN ({params}) AND {})",
                        visible.conditions.join(" AND ")
                    )
                }
            }
        };
        if tags.unknown_required {
            self.push("1 = 0".into());
            return;
        }
        if let Some(any) = &tags.any {
            if any.is_empty() {
                self.push("1 = 0".into());
            } else {
                let mut alternatives = vec![event_has(self, any)];
                if !event_tags_only {
                    alternatives.push(attribute_has(self, any));
                }
                self.push(format!("({})", alternatives.join(" OR ")));
            }
        }
        for required in &tags.all {
            let mut alternatives = vec![event_has(self, &[*required])];
            if !event_tags_only {
                alternatives.push(attribute_has(self, &[*required]));
            }
            self.push(format!("({})", alternatives.join(" OR ")));
        }
        if !tags.none.is_empty() {
            // MISP: the event scope excludes events carrying the tag (attributes carrying it are
            // stripped on output); the attribute scope excludes attributes carrying it.
            let clause = match scope {
                SearchScope::Events => event_has(self, &tags.none),
                SearchScope::Attributes => attribute_has(self, &tags.none),
            };
            self.push(format!("NOT ({clause})"));
        }
    }
}

/// The ORDER BY of a search, and whether pages follow by offset: the requested column (then
/// the id, for a stable order), or the id alone (keyset pages). Attribute fields do not apply
/// to the event scope.
fn order_by(order: Option<SortOrder>, scope: SearchScope) -> (String, bool) {
    let id = match scope {
        SearchScope::Attributes => "attributes.id",
        SearchScope::Events => "events.id",
    };
    let Some(order) = order else {
        return (id.to_string(), false);
    };
    let column = match (order.field, scope) {
        (OrderField::AttributeId, SearchScope::Attributes) => "attributes.id",
        (OrderField::AttributeTimestamp, SearchScope::Attributes) => "attributes.timestamp",
        (OrderField::AttributeValue, SearchScope::Attributes) => "attributes.value1",
        (OrderField::AttributeType, SearchScope::Attributes) => "attributes.type",
        (OrderField::AttributeCategory, SearchScope::Attributes) => "attributes.category",
        (OrderField::EventId, _) => "events.id",
        (OrderField::EventDate, _) => "events.date",
        (OrderField::EventTimestamp, _) => "events.timestamp",
        (OrderField::EventPublishTimestamp, _) => "events.publish_timestamp",
        (OrderField::EventInfo, _) => "events.info",
        (_, SearchScope::Events) => return (id.to_string(), false),
    };
    let direction = if order.descending { "DESC" } else { "ASC" };
    (format!("{column} {direction}, {id} {direction}"), true)
}

fn lowercase(terms: &Terms) -> Terms {
    terms.clone().map(|term| term.to_ascii_lowercase())
}

/// Event keys split into wanted and excluded, keeping MISP's AND-as-OR reading.
fn split_ids(terms: &Terms) -> (Vec<String>, Vec<String>) {
    (
        terms.any.iter().chain(&terms.all).cloned().collect(),
        terms.none.clone(),
    )
}

/// Tag filters with names resolved to ids. `any = Some(empty)` means the caller asked for tags
/// none of which exist: nothing can match.
#[derive(Debug, Default)]
struct ResolvedTags {
    any: Option<Vec<i64>>,
    all: Vec<i64>,
    none: Vec<i64>,
    unknown_required: bool,
}

/// An attribute found by a search, with the event holding it (shared between the attributes
/// of one page).
#[derive(Clone, Debug)]
pub struct AttributeHit {
    pub attribute: Attribute,
    pub event: std::sync::Arc<Event>,
    /// The object holding the attribute (without its attributes), if any.
    pub object: Option<std::sync::Arc<kizuna_model::MispObject>>,
}

/// Whether a search page reads each attribute's details (see
/// [`Store::search_attributes_page_reading`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Details {
    Read,
    Skip,
}

/// `ATTRIBUTE_COLUMNS` with the details left empty, in the same order (the row decoders
/// read columns by position).
const ATTRIBUTE_VALUE_COLUMNS: &str = "attributes.id, '' AS uuid, attributes.event_id, \
     attributes.object_id, CAST(NULL AS TEXT) AS object_relation, '' AS category, \
     attributes.type, attributes.value1, attributes.value2, attributes.to_ids, '' AS comment, \
     attributes.distribution, attributes.sharing_group_id, attributes.timestamp, \
     attributes.deleted, attributes.disable_correlation, attributes.first_seen, \
     attributes.last_seen, attributes.valid_until, attributes.intended_use, attributes.status, \
     CAST(NULL AS TEXT) AS data";

/// Attributes read per query while streaming.
pub const SEARCH_PAGE_SIZE: u64 = 5_000;

impl Store {
    /// Tag names (LIKE patterns, case-sensitive as MISP's binary collation) or ids → ids.
    async fn resolve_tag_terms(&self, terms: &[String]) -> Result<Vec<i64>> {
        let mut ids = Vec::new();
        for term in terms {
            if let Ok(id) = term.parse::<i64>() {
                ids.push(id);
                continue;
            }
            let found: Vec<(i64,)> = match self.dialect() {
                Dialect::Sqlite => {
                    with_pool!(self, pool => sqlx::query_as("SELECT id FROM tags WHERE name GLOB $1")
                        .bind(like_to_glob(term))
                        .fetch_all(pool)
                        .await?)
                }
                Dialect::Postgres => {
                    with_pool!(self, pool => sqlx::query_as("SELECT id FROM tags WHERE name LIKE $1")
                        .bind(term.as_str())
                        .fetch_all(pool)
                        .await?)
                }
            };
            ids.extend(found.into_iter().map(|(id,)| id));
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    async fn resolve_tags(&self, terms: &Terms) -> Result<ResolvedTags> {
        let mut resolved = ResolvedTags::default();
        if !terms.any.is_empty() {
            resolved.any = Some(self.resolve_tag_terms(&terms.any).await?);
        }
        for term in &terms.all {
            let ids = self.resolve_tag_terms(std::slice::from_ref(term)).await?;
            if ids.is_empty() {
                resolved.unknown_required = true;
            }
            resolved.all.extend(ids);
        }
        resolved.none = self.resolve_tag_terms(&terms.none).await?;
        Ok(resolved)
    }

    /// The WHERE clause of an attribute-scope search (attributes JOIN events).
    async fn attribute_search_sql(
        &self,
        criteria: &AttributeCriteria,
        viewer: &Viewer,
    ) -> Result<Sql> {
        let mut sql = Sql::new(self.dialect());
        sql.event_visible(viewer);
        sql.event_filters(criteria, SearchScope::Attributes);
        sql.attribute_filters(criteria, viewer);
        if !criteria.tags.is_empty() {
            let tags = self.resolve_tags(&criteria.tags).await?;
            sql.tag_filters(
                &tags,
                criteria.event_tags_only,
                SearchScope::Attributes,
                viewer,
            );
        }
        Ok(sql)
    }

    /// How many attributes a search matches (before paging).
    pub async fn count_attributes(
        &self,
        criteria: &AttributeCriteria,
        viewer: &Viewer,
    ) -> Result<u64> {
        let sql = self.attribute_search_sql(criteria, viewer).await?;
        let text = format!(
            "SELECT COUNT(*) FROM attributes {} events ON events.id = attributes.event_id{}",
            self.attribute_event_join(criteria),
            sql.where_clause()
        );
        let (count,): (i64,) = with_pool!(self, pool => {
            bind_all!(sqlx::query_as(AssertSqlSafe(text.as_str())), sql).fetch_one(pool).await?
        });
        Ok(count.max(0) as u64)
    }

    /// How an attribute search joins events. Only event-wide filters that keep most events
    /// (published, distribution, threat level, analysis, visibility) — the shape of every
    /// device export — make SQLite's planner start from the events and sort every match
    /// by attribute id for each page, which turns a million-attribute export quadratic;
    /// `CROSS JOIN` makes SQLite walk attributes in id order instead, so a keyset page stops
    /// after its rows. Selective event filters (ids, organisations, tags, dates, info) keep
    /// the planner's choice; PostgreSQL plans this well by itself.
    fn attribute_event_join(&self, criteria: &AttributeCriteria) -> &'static str {
        let selective_event_filters = !criteria.event.is_empty()
            || !criteria.uuid.is_empty()
            || !criteria.orgc.is_empty()
            || !criteria.event_info.is_empty()
            || criteria.event_date.from.is_some()
            || criteria.event_date.to.is_some()
            || criteria.event_timestamp.is_some()
            || criteria.publish_timestamp.is_some()
            || !criteria.tags.is_empty()
            || !criteria.sharing_group.is_empty()
            || !criteria.creator_email.is_empty()
            || criteria.creator_user.is_some();
        match self.dialect() {
            Dialect::Sqlite if !selective_event_filters => "CROSS JOIN",
            _ => "JOIN",
        }
    }

    /// The next page of an attribute search, in id order, with tags and event stubs; empty
    /// when the search is exhausted.
    pub async fn search_attributes_page(
        &self,
        criteria: &AttributeCriteria,
        viewer: &Viewer,
        cursor: &mut SearchCursor,
        events: &mut EventStubCache,
    ) -> Result<Vec<AttributeHit>> {
        self.search_attributes_page_reading(criteria, viewer, cursor, events, Details::Read)
            .await
    }

    /// [`Store::search_attributes_page`], optionally without each attribute's uuid, category,
    /// comment, object relation, payload, tags and object (for exports that only write
    /// values).
    pub async fn search_attributes_page_reading(
        &self,
        criteria: &AttributeCriteria,
        viewer: &Viewer,
        cursor: &mut SearchCursor,
        events: &mut EventStubCache,
        details: Details,
    ) -> Result<Vec<AttributeHit>> {
        if cursor.is_done() {
            return Ok(Vec::new());
        }
        let mut sql = self.attribute_search_sql(criteria, viewer).await?;
        let (order, by_offset) = order_by(criteria.order, SearchScope::Attributes);
        if !by_offset {
            let after = sql.int(cursor.after_id);
            sql.push(format!("attributes.id > {after}"));
        }
        let asked = cursor.take(SEARCH_PAGE_SIZE);
        let text = format!(
            "SELECT {} FROM attributes {} events ON events.id = attributes.event_id{} \
             ORDER BY {order} LIMIT {asked} OFFSET {}",
            match details {
                Details::Read => ATTRIBUTE_COLUMNS,
                Details::Skip => ATTRIBUTE_VALUE_COLUMNS,
            },
            self.attribute_event_join(criteria),
            sql.where_clause(),
            cursor.skip
        );
        let rows: Vec<AttributeRow> = match &self.backend {
            crate::Backend::Sqlite(pool) => {
                let mut conn = self.bulk_reader(pool).await?;
                crate::sqlite_bulk::select_attribute_rows(&mut conn, &text, &sql.binds).await?
            }
            crate::Backend::Postgres(pool) => {
                bind_all!(sqlx::query_as(AssertSqlSafe(text.as_str())), sql)
                    .fetch_all(pool)
                    .await?
            }
        };
        let returned = rows.len() as u64;
        let mut attributes = rows
            .into_iter()
            .map(AttributeRow::into_attribute)
            .collect::<Result<Vec<_>>>()?;
        if by_offset {
            cursor.advance_by_offset(returned, asked);
        } else {
            let last_id = attributes
                .last()
                .map_or(cursor.after_id, |attribute| attribute.id);
            cursor.advance(last_id, returned, asked);
        }
        let objects = match details {
            Details::Read => {
                self.attach_tags_to(&mut attributes).await?;
                self.objects_of(&attributes).await?
            }
            Details::Skip => HashMap::new(),
        };
        let event_ids: Vec<i64> = attributes
            .iter()
            .map(|attribute| attribute.event_id)
            .collect();
        events.load(self, &event_ids).await?;
        let mut hits = Vec::with_capacity(attributes.len());
        for attribute in attributes {
            let event = events.event(self, attribute.event_id).await?;
            let object = objects.get(&attribute.object_id).cloned();
            hits.push(AttributeHit {
                attribute,
                event,
                object,
            });
        }
        Ok(hits)
    }

    /// The objects holding a page of attributes, in one query.
    async fn objects_of(
        &self,
        attributes: &[Attribute],
    ) -> Result<HashMap<i64, std::sync::Arc<kizuna_model::MispObject>>> {
        let mut ids: Vec<i64> = attributes
            .iter()
            .map(|attribute| attribute.object_id)
            .filter(|id| *id != 0)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
        let text = format!(
            "SELECT {OBJECT_COLUMNS} FROM objects WHERE objects.id IN ({})",
            placeholders.join(", ")
        );
        let rows: Vec<ObjectRow> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(AssertSqlSafe(text.as_str()));
            for id in &ids {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        });
        let mut objects = HashMap::with_capacity(rows.len());
        for row in rows {
            let object = row.into_object()?;
            objects.insert(object.id, std::sync::Arc::new(object));
        }
        Ok(objects)
    }

    /// Tags of a page of attributes, in one query.
    async fn attach_tags_to(&self, attributes: &mut [Attribute]) -> Result<()> {
        let (Some(first), Some(last)) = (attributes.first(), attributes.last()) else {
            return Ok(());
        };
        let text = format!(
            "SELECT attribute_tags.attribute_id AS owner_id, attribute_tags.local, \
             attribute_tags.relationship_type, {TAG_COLUMNS} FROM attribute_tags \
             JOIN tags ON tags.id = attribute_tags.tag_id \
             WHERE attribute_tags.attribute_id BETWEEN $1 AND $2 ORDER BY attribute_tags.id"
        );
        let rows: Vec<AttachedTagRow> = match &self.backend {
            crate::Backend::Sqlite(pool) => {
                let mut conn = self.bulk_reader(pool).await?;
                crate::sqlite_bulk::select_attached_tag_rows(
                    &mut conn,
                    &text,
                    &[
                        crate::sql::Bind::Int(first.id),
                        crate::sql::Bind::Int(last.id),
                    ],
                )
                .await?
            }
            crate::Backend::Postgres(pool) => {
                sqlx::query_as(AssertSqlSafe(text.as_str()))
                    .bind(first.id)
                    .bind(last.id)
                    .fetch_all(pool)
                    .await?
            }
        };
        if rows.is_empty() {
            return Ok(());
        }
        let mut by_attribute: HashMap<i64, Vec<AttachedTag>> = HashMap::new();
        for row in rows {
            by_attribute
                .entry(row.owner_id)
                .or_default()
                .push(row.into_attached());
        }
        for attribute in attributes {
            if let Some(tags) = by_attribute.remove(&attribute.id) {
                attribute.tags = tags;
            }
        }
        Ok(())
    }

    /// The WHERE clause of an event-scope search over `events`: event filters directly,
    /// attribute filters as "has a matching attribute the caller may see".
    pub(crate) async fn event_search_sql(
        &self,
        criteria: &AttributeCriteria,
        viewer: &Viewer,
    ) -> Result<Sql> {
        let mut sql = Sql::new(self.dialect());
        sql.event_visible(viewer);
        sql.event_filters(criteria, SearchScope::Events);
        if !criteria.tags.is_empty() {
            let tags = self.resolve_tags(&criteria.tags).await?;
            sql.tag_filters(&tags, criteria.event_tags_only, SearchScope::Events, viewer);
        }
        if !criteria.uuid.is_empty() {
            let uuids = lowercase(&criteria.uuid);
            let positives: Vec<&String> = uuids.any.iter().chain(&uuids.all).collect();
            if !positives.is_empty() {
                let mut alternatives = Vec::new();
                for uuid in positives {
                    let event = sql.text(uuid);
                    let attribute = sql.text(uuid);
                    alternatives.push(format!(
                        "events.uuid = {event} OR events.id IN (SELECT attributes.event_id FROM \
                         attributes WHERE attributes.uuid = {attribute})"
                    ));
                }
                sql.push(format!("({})", alternatives.join(" OR ")));
            }
            for uuid in &uuids.none {
                let param = sql.text(uuid);
                sql.push(format!("events.uuid <> {param}"));
            }
        }
        if has_attribute_filters(criteria) {
            let mut inner = Sql {
                dialect: sql.dialect,
                conditions: Vec::new(),
                binds: std::mem::take(&mut sql.binds),
            };
            inner.push("attributes.event_id = events.id".into());
            inner.attribute_filters(criteria, viewer);
            sql.binds = inner.binds;
            sql.push(format!(
                "EXISTS (SELECT 1 FROM attributes WHERE {})",
                inner.conditions.join(" AND ")
            ));
        }
        Ok(sql)
    }

    /// How many events an event-scope search matches (before paging).
    pub async fn count_events(&self, criteria: &AttributeCriteria, viewer: &Viewer) -> Result<u64> {
        let sql = self.event_search_sql(criteria, viewer).await?;
        let text = format!("SELECT COUNT(*) FROM events{}", sql.where_clause());
        let (count,): (i64,) = with_pool!(self, pool => {
            bind_all!(sqlx::query_as(AssertSqlSafe(text.as_str())), sql).fetch_one(pool).await?
        });
        Ok(count.max(0) as u64)
    }

    /// The next page of event ids an event-scope search matches, in id order.
    pub async fn search_event_ids_page(
        &self,
        criteria: &AttributeCriteria,
        viewer: &Viewer,
        cursor: &mut SearchCursor,
        page_size: u64,
    ) -> Result<Vec<i64>> {
        if cursor.is_done() {
            return Ok(Vec::new());
        }
        let mut sql = self.event_search_sql(criteria, viewer).await?;
        let (order, by_offset) = order_by(criteria.order, SearchScope::Events);
        if !by_offset {
            let after = sql.int(cursor.after_id);
            sql.push(format!("events.id > {after}"));
        }
        let asked = cursor.take(page_size);
        let text = format!(
            "SELECT events.id FROM events{} ORDER BY {order} LIMIT {asked} OFFSET {}",
            sql.where_clause(),
            cursor.skip
        );
        let rows: Vec<(i64,)> = with_pool!(self, pool => {
            bind_all!(sqlx::query_as(AssertSqlSafe(text.as_str())), sql).fetch_all(pool).await?
        });
        let ids: Vec<i64> = rows.into_iter().map(|(id,)| id).collect();
        if by_offset {
            cursor.advance_by_offset(ids.len() as u64, asked);
        } else {
            let last = ids.last().copied().unwrap_or(cursor.after_id);
            cursor.advance(last, ids.len() as u64, asked);
        }
        Ok(ids)
    }

    /// The next page of ids of objects holding an attribute that matches (objects scope), in
    /// id order.
    pub async fn search_object_ids_page(
        &self,
        criteria: &AttributeCriteria,
        viewer: &Viewer,
        cursor: &mut SearchCursor,
        page_size: u64,
    ) -> Result<Vec<i64>> {
        if cursor.is_done() {
            return Ok(Vec::new());
        }
        let mut sql = self.attribute_search_sql(criteria, viewer).await?;
        let after = sql.int(cursor.after_id);
        sql.push(format!("attributes.object_id > {after}"));
        let asked = cursor.take(page_size);
        let text = format!(
            "SELECT DISTINCT attributes.object_id FROM attributes JOIN events ON events.id = attributes.event_id{} \
             ORDER BY attributes.object_id LIMIT {asked} OFFSET {}",
            sql.where_clause(),
            cursor.skip
        );
        let rows: Vec<(i64,)> = with_pool!(self, pool => {
            bind_all!(sqlx::query_as(AssertSqlSafe(text.as_str())), sql).fetch_all(pool).await?
        });
        let ids: Vec<i64> = rows.into_iter().map(|(id,)| id).collect();
        let last = ids.last().copied().unwrap_or(cursor.after_id);
        cursor.advance(last, ids.len() as u64, asked);
        Ok(ids)
    }

    /// How many objects an objects-scope search matches (before paging).
    pub async fn count_objects(
        &self,
        criteria: &AttributeCriteria,
        viewer: &Viewer,
    ) -> Result<u64> {
        let mut sql = self.attribute_search_sql(criteria, viewer).await?;
        sql.push("attributes.object_id <> 0".into());
        let text = format!(
            "SELECT COUNT(DISTINCT attributes.object_id) FROM attributes JOIN events ON events.id = attributes.event_id{}",
            sql.where_clause()
        );
        let (count,): (i64,) = with_pool!(self, pool => {
            bind_all!(sqlx::query_as(AssertSqlSafe(text.as_str())), sql).fetch_one(pool).await?
        });
        Ok(count.max(0) as u64)
    }

    /// One page of an event-scope search sorted on an events column (the event index), and
    /// the number of matches before paging.
    pub async fn search_events_sorted(
        &self,
        criteria: &AttributeCriteria,
        viewer: &Viewer,
        sort: Option<&str>,
        descending: bool,
        paging: kizuna_model::query::Paging,
    ) -> Result<(Vec<Event>, u64)> {
        let total = self.count_events(criteria, viewer).await?;
        let sql = self.event_search_sql(criteria, viewer).await?;
        let column = sort
            .filter(|column| crate::events::SORTABLE.contains(column))
            .unwrap_or("id");
        let direction = if descending { "DESC" } else { "ASC" };
        let page = match paging.limit {
            Some(limit) => format!(" LIMIT {limit} OFFSET {}", paging.offset()),
            None => String::new(),
        };
        let text = format!(
            "SELECT events.id FROM events{} ORDER BY events.{column} {direction}, events.id {direction}{page}",
            sql.where_clause()
        );
        let rows: Vec<(i64,)> = with_pool!(self, pool => {
            bind_all!(sqlx::query_as(AssertSqlSafe(text.as_str())), sql).fetch_all(pool).await?
        });
        let ids: Vec<i64> = rows.into_iter().map(|(id,)| id).collect();
        let mut by_id: HashMap<i64, Event> = self
            .events_meta_by_ids(&ids)
            .await?
            .into_iter()
            .map(|event| (event.id, event))
            .collect();
        let events = ids.iter().filter_map(|id| by_id.remove(id)).collect();
        Ok((events, total))
    }

    /// Event rows with `Org`, `Orgc` and tags, for stubs next to attributes.
    pub async fn events_meta_by_ids(&self, ids: &[i64]) -> Result<Vec<Event>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
        let text = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE events.id IN ({})",
            placeholders.join(", ")
        );
        let rows: Vec<EventRow> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(AssertSqlSafe(text.as_str()));
            for id in ids {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        });
        let mut events = rows
            .into_iter()
            .map(EventRow::into_event)
            .collect::<Result<Vec<_>>>()?;
        self.decorate_events(&mut events).await?;
        Ok(events)
    }
}

fn has_attribute_filters(criteria: &AttributeCriteria) -> bool {
    !(criteria.value.is_empty()
        && criteria.value1.is_empty()
        && criteria.value2.is_empty()
        && criteria.attr_type.is_empty()
        && criteria.category.is_empty()
        && criteria.object_relation.is_empty()
        && criteria.comment.is_empty()
        && criteria.attribute_uuid.is_empty()
        && criteria.attribute_timestamp.is_none()
        && criteria.first_seen.is_none()
        && criteria.last_seen.is_none()
        && criteria.valid_at.is_none()
        && criteria.to_ids.is_none()
        && criteria.object_name.is_empty()
        && criteria.search_all.is_none())
}

/// A SQL LIKE pattern as an SQLite GLOB (case-sensitive like MISP's binary tag names).
fn like_to_glob(pattern: &str) -> String {
    let mut glob = String::with_capacity(pattern.len());
    for character in pattern.chars() {
        match character {
            '%' => glob.push('*'),
            '_' => glob.push('?'),
            '*' => glob.push_str("[*]"),
            '?' => glob.push_str("[?]"),
            '[' => glob.push_str("[[]"),
            other => glob.push(other),
        }
    }
    glob
}

/// Event stubs already loaded during one search, so a page of attributes from the same event
/// costs one lookup. Bounded: cleared when it grows past a few thousand events.
#[derive(Default)]
pub struct EventStubCache {
    events: HashMap<i64, std::sync::Arc<Event>>,
}

impl EventStubCache {
    const CAPACITY: usize = 4_096;

    /// Loads the events of a page that are not cached yet, in one query.
    async fn load(&mut self, store: &Store, event_ids: &[i64]) -> Result<()> {
        let mut missing: Vec<i64> = event_ids
            .iter()
            .copied()
            .filter(|id| !self.events.contains_key(id))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        if self.events.len() + missing.len() > Self::CAPACITY {
            self.events.clear();
        }
        for event in store.events_meta_by_ids(&missing).await? {
            self.events.insert(event.id, std::sync::Arc::new(event));
        }
        Ok(())
    }

    /// The event (metadata, Org, Orgc, tags) with this id, cached for the rest of a search.
    pub async fn event(&mut self, store: &Store, event_id: i64) -> Result<std::sync::Arc<Event>> {
        if let Some(event) = self.events.get(&event_id) {
            return Ok(event.clone());
        }
        if self.events.len() >= Self::CAPACITY {
            self.events.clear();
        }
        let mut found = store.events_meta_by_ids(&[event_id]).await?;
        let event = std::sync::Arc::new(found.pop().ok_or(crate::StoreError::NotFound)?);
        self.events.insert(event_id, event.clone());
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_become_globs() {
        assert_eq!(like_to_glob("tlp:%"), "tlp:*");
        assert_eq!(like_to_glob("a_b*[c]"), "a?b[*][[]c]");
    }

    #[test]
    fn cursors_stop_at_the_limit() {
        let mut cursor = SearchCursor::new(10, Some(3));
        assert_eq!(cursor.take(2_000), 3);
        cursor.advance(42, 3, 3);
        assert!(cursor.is_done());
        let mut open = SearchCursor::new(0, None);
        open.advance(7, 2_000, 2_000);
        assert!(!open.is_done());
        open.advance(9, 5, 2_000);
        assert!(open.is_done());
    }
}

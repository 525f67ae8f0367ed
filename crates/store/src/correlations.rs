//! Correlations (misp-reference §6), computed when asked through the value indexes instead of
//! stored pairwise: storage stays one index entry per attribute value, nothing to rebuild when
//! events change, and access rules apply at read time as in MISP.

use crate::{Dialect, Result, Store, with_pool};
use kizuna_model::access::Viewer;
use kizuna_model::attribute_types::{NON_CORRELATING_TYPES, PRIMARY_ONLY_CORRELATING_TYPES};
use kizuna_model::correlation::{
    IP_TYPES, containment_prefix, correlating_values, is_ip_type, net_contains, parse_cidr,
    parse_ip,
};
use kizuna_model::{Attribute, Distribution, Event};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

/// One attribute of the event asked about, related to one attribute of another event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Correlation {
    pub attribute_id: i64,
    pub other_attribute_id: i64,
    pub other_event_id: i64,
    /// The value they share (as stored on the other side), or the CIDR block / address.
    pub value: String,
}

#[derive(Clone, sqlx::FromRow)]
struct CandidateRow {
    id: i64,
    event_id: i64,
    value1: String,
    value2: String,
    distribution: i64,
    sharing_group_id: i64,
    object_distribution: Option<i64>,
    object_sharing_group_id: Option<i64>,
    event_org_id: i64,
    event_distribution: i64,
    event_sharing_group_id: i64,
    event_published: bool,
}

impl CandidateRow {
    fn visible_to(&self, viewer: &Viewer) -> bool {
        let level =
            |value: i64| Distribution::from_i64(value).unwrap_or(Distribution::OrganisationOnly);
        viewer.sees_event(
            self.event_org_id,
            level(self.event_distribution),
            self.event_sharing_group_id,
            self.event_published,
        ) && viewer.sees_item(
            self.event_org_id,
            level(self.distribution),
            self.sharing_group_id,
        ) && match (self.object_distribution, self.object_sharing_group_id) {
            (Some(distribution), Some(group)) => {
                viewer.sees_item(self.event_org_id, level(distribution), group)
            }
            _ => true,
        }
    }
}

const CANDIDATE_COLUMNS: &str = "attributes.id, attributes.event_id, attributes.value1, \
    attributes.value2, attributes.distribution, attributes.sharing_group_id, \
    objects.distribution AS object_distribution, \
    objects.sharing_group_id AS object_sharing_group_id, events.org_id AS event_org_id, \
    events.distribution AS event_distribution, \
    events.sharing_group_id AS event_sharing_group_id, events.published AS event_published";

fn quoted_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|value| format!("'{value}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which candidates may correlate at all (MISP's conditions besides the value); `event` is
/// the placeholder of the asking event's id.
fn correlatable_clause(event: &str) -> String {
    format!(
        "attributes.event_id <> {event} AND attributes.deleted = FALSE \
         AND attributes.disable_correlation = FALSE AND events.disable_correlation = FALSE \
         AND attributes.type NOT IN ({})",
        quoted_list(NON_CORRELATING_TYPES)
    )
}

/// A candidate of a batched lookup, with the (1-based) position of the value it matched.
#[derive(sqlx::FromRow)]
struct NumberedCandidateRow {
    position: i64,
    #[sqlx(flatten)]
    row: CandidateRow,
}

/// PostgreSQL: the exact candidates of every value in one statement, each value still capped
/// at `limit + 1` rows by a LATERAL subquery. No ORDER BY inside it: with one, PostgreSQL walks
/// the primary key in order and filters (seconds per value at 10M attributes) instead of
/// using the value index; the caller sorts what it keeps. Index i of the answer belongs to `values[i]`;
/// None marks an over-correlating value.
async fn exact_candidates_batched(
    pool: &sqlx::PgPool,
    values: &[String],
    event_id: i64,
    limit: usize,
) -> Result<Vec<Option<Vec<CandidateRow>>>> {
    let sql = format!(
        "SELECT wanted.position, candidate.* FROM unnest($1::text[]) WITH ORDINALITY \
         AS wanted(value, position) CROSS JOIN LATERAL ( \
         SELECT {CANDIDATE_COLUMNS} FROM attributes JOIN events ON events.id = attributes.event_id \
         LEFT JOIN objects ON objects.id = attributes.object_id AND attributes.object_id <> 0 \
         WHERE (lower(attributes.value1) = lower(wanted.value) OR \
         (lower(attributes.value2) = lower(wanted.value) AND attributes.value2 <> '' \
         AND attributes.type NOT IN ({primary_only}))) AND {correlatable} \
         LIMIT {cap}) AS candidate",
        primary_only = quoted_list(PRIMARY_ONLY_CORRELATING_TYPES),
        correlatable = correlatable_clause("$2"),
        cap = limit + 1,
    );
    let rows: Vec<NumberedCandidateRow> = sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(values)
        .bind(event_id)
        .fetch_all(pool)
        .await?;
    let mut grouped: Vec<Vec<CandidateRow>> = (0..values.len()).map(|_| Vec::new()).collect();
    for numbered in rows {
        if let Some(slot) = usize::try_from(numbered.position - 1)
            .ok()
            .and_then(|index| grouped.get_mut(index))
        {
            slot.push(numbered.row);
        }
    }
    Ok(grouped
        .into_iter()
        .map(|rows| (rows.len() <= limit).then_some(rows))
        .collect())
}

impl Store {
    /// Correlations of the (loaded) `event`'s attributes with attributes of other events that
    /// `viewer` may see. A value shared by more than `limit` attributes elsewhere is
    /// over-correlating and yields nothing, as in MISP.
    pub async fn event_correlations(
        &self,
        event: &Event,
        viewer: &Viewer,
        limit: usize,
    ) -> Result<Vec<Correlation>> {
        if event.disable_correlation {
            return Ok(Vec::new());
        }
        let attributes = event
            .attributes
            .iter()
            .chain(event.objects.iter().flat_map(|object| &object.attributes))
            .filter(|attribute| !attribute.deleted && !attribute.disable_correlation);
        // Each distinct value (MISP compares case-insensitively) is looked up once.
        let mut by_value: HashMap<String, (String, Vec<&Attribute>)> = HashMap::new();
        let mut cidr_or_ip: Vec<&Attribute> = Vec::new();
        for attribute in attributes {
            for value in
                correlating_values(&attribute.attr_type, &attribute.value1, &attribute.value2)
            {
                by_value
                    .entry(value.to_lowercase())
                    .or_insert_with(|| (value.to_string(), Vec::new()))
                    .1
                    .push(attribute);
            }
            if is_ip_type(&attribute.attr_type) {
                cidr_or_ip.push(attribute);
            }
        }
        let mut found = Vec::new();
        let values: Vec<&(String, Vec<&Attribute>)> = by_value.values().collect();
        let mut candidates = match &self.backend {
            // One round trip for the whole event: per-query latency dominates on PostgreSQL.
            crate::Backend::Postgres(pool) => {
                let texts: Vec<String> = values.iter().map(|(value, _)| value.clone()).collect();
                exact_candidates_batched(pool, &texts, event.id, limit).await?
            }
            crate::Backend::Sqlite(_) => {
                let mut each = Vec::with_capacity(values.len());
                for (value, _) in &values {
                    each.push(self.exact_candidates(value, event.id, limit).await?);
                }
                each
            }
        };
        for (index, (value, owners)) in values.iter().enumerate() {
            let Some(rows) = candidates[index].take() else {
                continue;
            };
            for row in rows.iter().filter(|row| row.visible_to(viewer)) {
                let shared = if row.value2.eq_ignore_ascii_case(value) {
                    row.value2.clone()
                } else {
                    row.value1.clone()
                };
                for owner in owners {
                    found.push(Correlation {
                        attribute_id: owner.id,
                        other_attribute_id: row.id,
                        other_event_id: row.event_id,
                        value: shared.clone(),
                    });
                }
            }
        }
        let containment = self
            .containment_correlations(&cidr_or_ip, event.id, viewer, limit)
            .await?;
        for correlation in containment {
            if !found.iter().any(|known| {
                known.attribute_id == correlation.attribute_id
                    && known.other_attribute_id == correlation.other_attribute_id
            }) {
                found.push(correlation);
            }
        }
        found.sort_by_key(|correlation| (correlation.attribute_id, correlation.other_attribute_id));
        Ok(found)
    }

    /// Attributes of other events holding `value` in value1, or in value2 of a composite that
    /// correlates on both halves. None when over-correlating.
    async fn exact_candidates(
        &self,
        value: &str,
        event_id: i64,
        limit: usize,
    ) -> Result<Option<Vec<CandidateRow>>> {
        let (value1, value2) = match self.dialect() {
            Dialect::Sqlite => (
                "attributes.value1 = $1 COLLATE NOCASE",
                "attributes.value2 = $1 COLLATE NOCASE",
            ),
            Dialect::Postgres => (
                "lower(attributes.value1) = lower($1)",
                "lower(attributes.value2) = lower($1)",
            ),
        };
        let sql = format!(
            "SELECT {CANDIDATE_COLUMNS} FROM attributes JOIN events ON events.id = attributes.event_id \
             LEFT JOIN objects ON objects.id = attributes.object_id AND attributes.object_id <> 0 \
             WHERE ({value1} OR ({value2} AND attributes.value2 <> '' \
             AND attributes.type NOT IN ({primary_only}))) AND {correlatable} \
             ORDER BY attributes.id LIMIT {cap}",
            primary_only = quoted_list(PRIMARY_ONLY_CORRELATING_TYPES),
            correlatable = correlatable_clause("$2"),
            cap = limit + 1,
        );
        let rows: Vec<CandidateRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(value)
                .bind(event_id)
                .fetch_all(pool)
                .await?
        });
        Ok((rows.len() <= limit).then_some(rows))
    }

    /// Advanced correlation: a CIDR attribute relates to addresses inside it, an address to
    /// CIDR attributes containing it (IP types only, value1). The CIDR blocks of other events
    /// are read once for all addresses of the event.
    async fn containment_correlations(
        &self,
        attributes: &[&Attribute],
        event_id: i64,
        viewer: &Viewer,
        limit: usize,
    ) -> Result<Vec<Correlation>> {
        let mut found = Vec::new();
        let mut blocks: Option<Vec<CandidateRow>> = None;
        for attribute in attributes {
            let inside: Vec<CandidateRow> = if let Some(net) = parse_cidr(&attribute.value1) {
                let Some(prefix) = containment_prefix(&net) else {
                    continue;
                };
                self.ip_candidates("attributes.value1 LIKE $2", Some(&prefix), event_id)
                    .await?
                    .into_iter()
                    .filter(|row| net_contains(&net, &row.value1))
                    .collect()
            } else if let Some(address) = parse_ip(&attribute.value1) {
                if blocks.is_none() {
                    // The partial index attributes_cidr holds exactly the rows of this condition.
                    blocks = Some(
                        self.ip_candidates("attributes.value1 LIKE '%/%'", None, event_id)
                            .await?,
                    );
                }
                blocks
                    .iter()
                    .flatten()
                    .filter(|row| parse_cidr(&row.value1).is_some_and(|net| net.contains(&address)))
                    .cloned()
                    .collect()
            } else {
                continue;
            };
            if inside.len() > limit {
                continue;
            }
            found.extend(
                inside
                    .into_iter()
                    .filter(|row| row.visible_to(viewer))
                    .map(|row| Correlation {
                        attribute_id: attribute.id,
                        other_attribute_id: row.id,
                        other_event_id: row.event_id,
                        value: row.value1,
                    }),
            );
        }
        Ok(found)
    }

    /// Correlatable IP-typed attributes of events other than `event_id` meeting `condition`
    /// ($1 is the event id, $2 the optional `pattern`). The attributes are found first and their
    /// events reached by primary key: joined the usual way, PostgreSQL misjudges how few rows
    /// the CIDR index yields and hashes the whole events table for every lookup.
    async fn ip_candidates(
        &self,
        condition: &str,
        pattern: Option<&str>,
        event_id: i64,
    ) -> Result<Vec<CandidateRow>> {
        let events_join = match self.dialect() {
            // OFFSET 0 keeps PostgreSQL from flattening the lateral lookup back into a hash join.
            Dialect::Postgres => {
                "CROSS JOIN LATERAL (SELECT events.org_id, events.distribution, \
                 events.sharing_group_id, events.published FROM events WHERE events.id = a.event_id \
                 AND events.disable_correlation = FALSE OFFSET 0) AS e"
            }
            Dialect::Sqlite => {
                "JOIN events AS e ON e.id = a.event_id AND e.disable_correlation = FALSE"
            }
        };
        let sql = format!(
            "SELECT a.id, a.event_id, a.value1, a.value2, a.distribution, a.sharing_group_id, \
             o.distribution AS object_distribution, o.sharing_group_id AS object_sharing_group_id, \
             e.org_id AS event_org_id, e.distribution AS event_distribution, \
             e.sharing_group_id AS event_sharing_group_id, e.published AS event_published \
             FROM (SELECT attributes.id, attributes.event_id, attributes.object_id, \
             attributes.value1, attributes.value2, attributes.distribution, \
             attributes.sharing_group_id FROM attributes \
             WHERE attributes.type IN ({ip_types}) AND {condition} \
             AND attributes.event_id <> $1 AND attributes.deleted = FALSE \
             AND attributes.disable_correlation = FALSE) AS a {events_join} \
             LEFT JOIN objects AS o ON o.id = a.object_id AND a.object_id <> 0 \
             ORDER BY a.id",
            ip_types = quoted_list(IP_TYPES),
        );
        let rows: Vec<CandidateRow> = with_pool!(self, pool => {
            let query = sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(event_id);
            match pattern {
                Some(pattern) => query.bind(pattern),
                None => query,
            }
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }
}

//! Event reports (MISP's `event_reports`): named markdown write-ups attached to an event,
//! with their own distribution. A change made here unpublishes the event and moves its
//! timestamp, so the new version reaches pollers and sync peers; a synced report only
//! replaces ours when its timestamp is newer.

use crate::{Key, Result, Store, StoreError, Tx, with_pool, with_tx};
use kizuna_model::{Distribution, EventReport};
use sqlx::AssertSqlSafe;

const REPORT_COLUMNS: &str =
    "id, uuid, event_id, name, content, distribution, sharing_group_id, timestamp, deleted";
/// Bound values per statement when a list goes into `IN (...)`.
const IN_CHUNK: usize = 500;

#[derive(sqlx::FromRow)]
struct EventReportRow {
    id: i64,
    uuid: String,
    event_id: i64,
    name: String,
    content: String,
    distribution: i64,
    sharing_group_id: i64,
    timestamp: i64,
    deleted: bool,
}

impl EventReportRow {
    fn into_model(self) -> Result<EventReport> {
        let distribution = Distribution::from_i64(self.distribution).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "event report {} has distribution {}",
                self.id, self.distribution
            ))
        })?;
        Ok(EventReport {
            id: self.id,
            uuid: self.uuid,
            event_id: self.event_id,
            name: self.name,
            content: self.content,
            distribution,
            sharing_group_id: self.sharing_group_id,
            timestamp: self.timestamp,
            deleted: self.deleted,
        })
    }
}

/// What a synced report did to ours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncedReports {
    pub added: usize,
    pub updated: usize,
    /// Ours is as new, or the uuid belongs to a report of another event.
    pub kept: usize,
}

impl Store {
    /// A report by id or uuid.
    pub async fn event_report(&self, key: &Key) -> Result<EventReport> {
        let row: Option<EventReportRow> = match key {
            Key::Id(id) => {
                let sql = format!("SELECT {REPORT_COLUMNS} FROM event_reports WHERE id = $1");
                with_pool!(self, pool => {
                    sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(*id).fetch_optional(pool).await?
                })
            }
            Key::Uuid(uuid) => {
                let sql = format!("SELECT {REPORT_COLUMNS} FROM event_reports WHERE uuid = $1");
                with_pool!(self, pool => {
                    sqlx::query_as(AssertSqlSafe(sql.as_str()))
                        .bind(uuid.to_ascii_lowercase())
                        .fetch_optional(pool)
                        .await?
                })
            }
        };
        row.ok_or(StoreError::NotFound)?.into_model()
    }

    /// The reports of these events, by event then id; soft-deleted ones only when asked.
    pub async fn event_reports_of(
        &self,
        event_ids: &[i64],
        include_deleted: bool,
    ) -> Result<Vec<EventReport>> {
        let mut reports = Vec::new();
        for chunk in event_ids.chunks(IN_CHUNK) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "SELECT {REPORT_COLUMNS} FROM event_reports WHERE event_id IN ({}){} \
                 ORDER BY event_id, id",
                placeholders.join(", "),
                if include_deleted {
                    ""
                } else {
                    " AND deleted = FALSE"
                }
            );
            let rows: Vec<EventReportRow> = with_pool!(self, pool => {
                let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()));
                for id in chunk {
                    query = query.bind(*id);
                }
                query.fetch_all(pool).await?
            });
            for row in rows {
                reports.push(row.into_model()?);
            }
        }
        Ok(reports)
    }

    /// Every report, soft-deleted ones only when asked, by event then id.
    pub async fn all_event_reports(&self, include_deleted: bool) -> Result<Vec<EventReport>> {
        let sql = format!(
            "SELECT {REPORT_COLUMNS} FROM event_reports{} ORDER BY event_id, id",
            if include_deleted {
                ""
            } else {
                " WHERE deleted = FALSE"
            }
        );
        let rows: Vec<EventReportRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).fetch_all(pool).await?
        });
        rows.into_iter().map(EventReportRow::into_model).collect()
    }

    /// Adds a report to its event (unpublishing the event, moving its timestamp to `now`)
    /// and returns it as stored. A uuid already used is [`StoreError::Conflict`].
    pub async fn create_event_report(&self, report: &EventReport, now: i64) -> Result<EventReport> {
        let mut tx = self.begin().await?;
        let taken: Option<i64> = with_tx!(&mut tx, conn => {
            sqlx::query_scalar("SELECT id FROM event_reports WHERE uuid = $1")
                .bind(&report.uuid)
                .fetch_optional(&mut *conn)
                .await?
        });
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "an event report with uuid {} exists",
                report.uuid
            )));
        }
        let id: i64 = with_tx!(&mut tx, conn => {
            sqlx::query_scalar(
                "INSERT INTO event_reports (uuid, event_id, name, content, distribution, \
                 sharing_group_id, timestamp, deleted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 RETURNING id",
            )
            .bind(&report.uuid)
            .bind(report.event_id)
            .bind(&report.name)
            .bind(&report.content)
            .bind(report.distribution.as_i64())
            .bind(report.sharing_group_id)
            .bind(report.timestamp)
            .bind(report.deleted)
            .fetch_one(&mut *conn)
            .await?
        });
        tx.touch_event(report.event_id, now).await?;
        tx.commit().await?;
        self.event_report(&Key::Id(id)).await
    }

    /// Writes a report's name, content, distribution, sharing group, timestamp and deleted
    /// flag (found by its id), unpublishing its event and moving its timestamp to `now`.
    pub async fn update_event_report(&self, report: &EventReport, now: i64) -> Result<EventReport> {
        let mut tx = self.begin().await?;
        let affected = write_report_fields(&mut tx, report, report.id).await?;
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        tx.touch_event(report.event_id, now).await?;
        tx.commit().await?;
        self.event_report(&Key::Id(report.id)).await
    }

    /// Removes a report for good, unpublishing its event and moving its timestamp to `now`.
    pub async fn delete_event_report(&self, report: &EventReport, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let affected = with_tx!(&mut tx, conn => {
            sqlx::query("DELETE FROM event_reports WHERE id = $1")
                .bind(report.id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        tx.touch_event(report.event_id, now).await?;
        tx.commit().await
    }

    /// Saves the reports a synced or imported version of an event carries (MISP's capture
    /// from a pull or push): unknown uuids are added to the event, known ones of the same
    /// event replaced when the incoming timestamp is newer. The event itself is not touched:
    /// its timestamp comes with the synced version.
    pub async fn save_synced_event_reports(
        &self,
        event_id: i64,
        reports: &[EventReport],
    ) -> Result<SyncedReports> {
        let mut outcome = SyncedReports::default();
        if reports.is_empty() {
            return Ok(outcome);
        }
        let mut tx = self.begin().await?;
        for report in reports {
            let existing: Option<(i64, i64, i64)> = with_tx!(&mut tx, conn => {
                sqlx::query_as("SELECT id, event_id, timestamp FROM event_reports WHERE uuid = $1")
                    .bind(&report.uuid)
                    .fetch_optional(&mut *conn)
                    .await?
            });
            match existing {
                None => {
                    with_tx!(&mut tx, conn => {
                        sqlx::query(
                            "INSERT INTO event_reports (uuid, event_id, name, content, \
                             distribution, sharing_group_id, timestamp, deleted) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        )
                        .bind(&report.uuid)
                        .bind(event_id)
                        .bind(&report.name)
                        .bind(&report.content)
                        .bind(report.distribution.as_i64())
                        .bind(report.sharing_group_id)
                        .bind(report.timestamp)
                        .bind(report.deleted)
                        .execute(&mut *conn)
                        .await?;
                    });
                    outcome.added += 1;
                }
                Some((id, owner, timestamp))
                    if owner == event_id && report.timestamp > timestamp =>
                {
                    write_report_fields(&mut tx, report, id).await?;
                    outcome.updated += 1;
                }
                Some(_) => outcome.kept += 1,
            }
        }
        tx.commit().await?;
        Ok(outcome)
    }
}

/// Writes the fields an edit may change into the report with id `id`; the rows changed.
async fn write_report_fields(tx: &mut Tx, report: &EventReport, id: i64) -> Result<u64> {
    Ok(with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE event_reports SET name = $1, content = $2, distribution = $3, \
             sharing_group_id = $4, timestamp = $5, deleted = $6 WHERE id = $7",
        )
        .bind(&report.name)
        .bind(&report.content)
        .bind(report.distribution.as_i64())
        .bind(report.sharing_group_id)
        .bind(report.timestamp)
        .bind(report.deleted)
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    }))
}

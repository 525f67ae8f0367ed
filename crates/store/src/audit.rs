//! The audit log (MISP's AuditLog): logins, failed authentications and every write, newest
//! first. Entries are only ever added; nothing here updates or deletes one.

use crate::sql::{Sql, bind_all};
use crate::{Result, Store, with_pool, with_writer};
use sqlx::AssertSqlSafe;

/// MISP's request types: how the request reached the instance.
pub const REQUEST_TYPE_BROWSER: i64 = 0;
pub const REQUEST_TYPE_API: i64 = 1;
pub const REQUEST_TYPE_CLI: i64 = 2;

/// One entry of the audit log. Ids of 0 mean "none" (MISP's SYSTEM user and organisation).
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    /// Assigned by the store; ignored on insert.
    pub id: i64,
    /// Unix seconds.
    pub created: i64,
    pub user_id: i64,
    pub org_id: i64,
    pub authkey_id: i64,
    /// The client's address as text; empty when unknown.
    pub ip: String,
    pub request_type: i64,
    pub request_id: String,
    /// `add`, `edit`, `delete`, `publish`, `tag`, … `login`, `login_fail`.
    pub action: String,
    /// MISP's model name: `Event`, `Attribute`, `User`, …
    pub model: String,
    pub model_id: i64,
    pub model_title: String,
    pub event_id: i64,
    /// A JSON text of what the request asked for, with secrets removed; may be empty.
    pub change: String,
}

/// An entry as listed: with the e-mail address of its user and the name and uuid of its
/// organisation, when they still exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedAuditEntry {
    pub entry: AuditEntry,
    pub user_email: Option<String>,
    pub user_org_id: Option<i64>,
    pub org_name: Option<String>,
    pub org_uuid: Option<String>,
}

/// What to list. Empty lists and `None` do not filter; the others are ANDed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub ids: Vec<i64>,
    pub user_ids: Vec<i64>,
    pub org_ids: Vec<i64>,
    pub authkey_ids: Vec<i64>,
    pub ips: Vec<String>,
    pub request_ids: Vec<String>,
    pub request_types: Vec<i64>,
    pub actions: Vec<String>,
    pub models: Vec<String>,
    pub model_ids: Vec<i64>,
    pub event_ids: Vec<i64>,
    /// A LIKE pattern on `model_title`, case-insensitive.
    pub model_title_like: Option<String>,
    /// A LIKE pattern on `change`, case-insensitive.
    pub change_like: Option<String>,
    /// Inclusive bounds on `created`.
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
}

const INSERTED_COLUMNS: &str = "created, user_id, org_id, authkey_id, ip, request_type, \
     request_id, action, model, model_id, model_title, event_id, change";

#[derive(sqlx::FromRow)]
struct ListedRow {
    #[sqlx(flatten)]
    entry: AuditEntry,
    user_email: Option<String>,
    user_org_id: Option<i64>,
    org_name: Option<String>,
    org_uuid: Option<String>,
}

impl Store {
    /// Appends `entry` (its `id` is ignored) and returns the new id.
    pub async fn insert_audit_entry(&self, entry: &AuditEntry) -> Result<i64> {
        let sql = format!(
            "INSERT INTO audit_logs ({INSERTED_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id"
        );
        let (id,): (i64,) = with_writer!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(entry.created)
                .bind(entry.user_id)
                .bind(entry.org_id)
                .bind(entry.authkey_id)
                .bind(&entry.ip)
                .bind(entry.request_type)
                .bind(&entry.request_id)
                .bind(&entry.action)
                .bind(&entry.model)
                .bind(entry.model_id)
                .bind(&entry.model_title)
                .bind(entry.event_id)
                .bind(&entry.change)
                .fetch_one(pool)
                .await?
        });
        Ok(id)
    }

    /// The entries matching `filter`, newest first, `limit` of them after skipping `offset`.
    pub async fn list_audit_entries(
        &self,
        filter: &AuditFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ListedAuditEntry>> {
        let mut conditions = self.audit_conditions(filter);
        let limit_param = conditions.int(limit.max(0));
        let offset_param = conditions.int(offset.max(0));
        let sql = format!(
            "SELECT audit_logs.id, {columns}, users.email AS user_email, users.org_id AS user_org_id, \
             organisations.name AS org_name, organisations.uuid AS org_uuid \
             FROM audit_logs \
             LEFT JOIN users ON users.id = audit_logs.user_id \
             LEFT JOIN organisations ON organisations.id = audit_logs.org_id\
             {where_clause} ORDER BY audit_logs.id DESC LIMIT {limit_param} OFFSET {offset_param}",
            columns = qualified_columns(),
            where_clause = conditions.where_clause(),
        );
        let rows: Vec<ListedRow> = with_pool!(self, pool => {
            bind_all!(sqlx::query_as(AssertSqlSafe(sql.as_str())), conditions).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|row| ListedAuditEntry {
                entry: row.entry,
                user_email: row.user_email,
                user_org_id: row.user_org_id,
                org_name: row.org_name,
                org_uuid: row.org_uuid,
            })
            .collect())
    }

    /// How many entries match `filter`.
    pub async fn count_audit_entries(&self, filter: &AuditFilter) -> Result<i64> {
        let conditions = self.audit_conditions(filter);
        let sql = format!(
            "SELECT COUNT(*) FROM audit_logs{}",
            conditions.where_clause()
        );
        let (count,): (i64,) = with_pool!(self, pool => {
            bind_all!(sqlx::query_as(AssertSqlSafe(sql.as_str())), conditions).fetch_one(pool).await?
        });
        Ok(count)
    }

    fn audit_conditions(&self, filter: &AuditFilter) -> Sql {
        let mut conditions = Sql::new(self.dialect());
        conditions.int_in("audit_logs.id", &filter.ids);
        conditions.int_in("audit_logs.user_id", &filter.user_ids);
        conditions.int_in("audit_logs.org_id", &filter.org_ids);
        conditions.int_in("audit_logs.authkey_id", &filter.authkey_ids);
        conditions.text_in("audit_logs.ip", &filter.ips);
        conditions.text_in("audit_logs.request_id", &filter.request_ids);
        conditions.int_in("audit_logs.request_type", &filter.request_types);
        conditions.text_in("audit_logs.action", &filter.actions);
        conditions.text_in("audit_logs.model", &filter.models);
        conditions.int_in("audit_logs.model_id", &filter.model_ids);
        conditions.int_in("audit_logs.event_id", &filter.event_ids);
        if let Some(pattern) = &filter.model_title_like {
            let condition = conditions.text_like("audit_logs.model_title", pattern);
            conditions.push(condition);
        }
        if let Some(pattern) = &filter.change_like {
            let condition = conditions.text_like("audit_logs.change", pattern);
            conditions.push(condition);
        }
        if let Some(from) = filter.created_from {
            let param = conditions.int(from);
            conditions.push(format!("audit_logs.created >= {param}"));
        }
        if let Some(to) = filter.created_to {
            let param = conditions.int(to);
            conditions.push(format!("audit_logs.created <= {param}"));
        }
        conditions
    }
}

fn qualified_columns() -> String {
    INSERTED_COLUMNS
        .split(", ")
        .map(|column| format!("audit_logs.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

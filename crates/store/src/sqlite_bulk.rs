//! SQLite's attribute hot paths through its C API: the insert (one prepared single-row
//! INSERT, stepped once per attribute with borrowed text) and the page read of searches and
//! exports (rows decoded straight from the statement).
//!
//! Why not sqlx here: through sqlx every bound value is copied twice (into an owned argument,
//! then by SQLite under SQLITE_TRANSIENT) and every copy takes SQLite's memory mutex. Profiling
//! a 300k-attribute import showed about a third of the time in malloc, free and that mutex.
//! Stepping a persistent statement with SQLITE_STATIC text removes all of it. sqlx hands us the
//! connection handle with `lock_handle`, which guarantees its worker thread is not using the
//! connection meanwhile; everything stays inside the caller's transaction.
#![allow(unsafe_code)]

use crate::rows::{AttachedTagRow, AttributeRow, TagRow};
use crate::sql::Bind;
use crate::{Result, StoreError};
use kizuna_model::Attribute;
use libsqlite3_sys as ffi;
use sqlx::SqliteConnection;
use std::ffi::{CStr, CString, c_int};
use std::ptr::{self, NonNull};

const INSERT_SQL: &CStr = c"INSERT INTO attributes (uuid, event_id, object_id, object_relation, \
    category, type, value1, value2, to_ids, comment, distribution, sharing_group_id, timestamp, \
    deleted, disable_correlation, first_seen, last_seen, valid_until, intended_use, status, data) \
    VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

/// Rows stepped per hold of the connection handle: the calling task runs SQLite directly while
/// it holds it, so a long import gives the executor a turn every few milliseconds.
const ROWS_PER_HOLD: usize = 2048;

/// Inserts `attributes` into event `event_id` (object `object_id`, or each attribute's own when
/// 0) and returns their new ids in input order.
pub(crate) async fn insert_attributes(
    conn: &mut SqliteConnection,
    event_id: i64,
    object_id: i64,
    attributes: &[Attribute],
) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(attributes.len());
    for chunk in attributes.chunks(ROWS_PER_HOLD) {
        let mut handle = conn.lock_handle().await?;
        let db = handle.as_raw_handle();
        let statement = Statement::prepare(db)?;
        for attribute in chunk {
            let object = if object_id != 0 {
                object_id
            } else {
                attribute.object_id
            };
            statement.bind_attribute(attribute, event_id, object)?;
            // SAFETY: `statement` is a live statement of `db`, which this task holds exclusively.
            let step = unsafe { ffi::sqlite3_step(statement.raw.as_ptr()) };
            if step != ffi::SQLITE_DONE {
                return Err(step_error(db, attribute));
            }
            // SAFETY: as above; the row was just inserted on this connection.
            ids.push(unsafe { ffi::sqlite3_last_insert_rowid(db.as_ptr()) });
            // SAFETY: as above. Reset's return code repeats the step's, checked already.
            unsafe { ffi::sqlite3_reset(statement.raw.as_ptr()) };
        }
    }
    Ok(ids)
}

const TAG_LINK_SQL: &CStr = c"INSERT INTO attribute_tags (attribute_id, event_id, tag_id, local, \
    relationship_type) VALUES (?,?,?,?,?) ON CONFLICT (attribute_id, tag_id) DO NOTHING";

/// One attachment of a tag to an attribute, as `attribute_tags` stores it.
pub(crate) struct TagLink<'t> {
    pub attribute_id: i64,
    pub tag_id: i64,
    pub local: bool,
    pub relationship_type: Option<&'t str>,
}

/// Links tags to attributes of event `event_id`; an attachment already there is kept as it
/// is. The same statement `Tx::link_attribute_tag` runs through sqlx, stepped here: an
/// import tags most attributes, and through sqlx each link was a round trip to the
/// connection's worker thread (a third of an envelope's POST was that handoff).
pub(crate) async fn link_attribute_tags(
    conn: &mut SqliteConnection,
    event_id: i64,
    links: &[TagLink<'_>],
) -> Result<()> {
    for chunk in links.chunks(ROWS_PER_HOLD) {
        let mut handle = conn.lock_handle().await?;
        let db = handle.as_raw_handle();
        let statement = Statement::prepare_sql(
            db,
            TAG_LINK_SQL,
            ffi::SQLITE_PREPARE_PERSISTENT,
            "preparing the attribute tag link",
        )?;
        for link in chunk {
            statement.int(1, Some(link.attribute_id))?;
            statement.int(2, Some(event_id))?;
            statement.int(3, Some(link.tag_id))?;
            statement.int(4, Some(i64::from(link.local)))?;
            statement.text(5, link.relationship_type)?;
            // SAFETY: `statement` is a live statement of `db`, which this task holds exclusively.
            let step = unsafe { ffi::sqlite3_step(statement.raw.as_ptr()) };
            if step != ffi::SQLITE_DONE {
                return Err(engine_error(db, "linking a tag to an attribute"));
            }
            // SAFETY: as above. Reset's return code repeats the step's, checked already.
            unsafe { ffi::sqlite3_reset(statement.raw.as_ptr()) };
        }
    }
    Ok(())
}

/// A prepared statement, finalized when dropped (also on early returns).
struct Statement {
    raw: NonNull<ffi::sqlite3_stmt>,
    db: NonNull<ffi::sqlite3>,
}

impl Statement {
    fn prepare(db: NonNull<ffi::sqlite3>) -> Result<Statement> {
        Self::prepare_sql(
            db,
            INSERT_SQL,
            ffi::SQLITE_PREPARE_PERSISTENT,
            "preparing the attribute insert",
        )
    }

    fn prepare_sql(
        db: NonNull<ffi::sqlite3>,
        sql: &CStr,
        flags: u32,
        doing: &str,
    ) -> Result<Statement> {
        let mut raw = ptr::null_mut();
        // SAFETY: `db` is an open connection held exclusively by this task; the SQL is
        // NUL-terminated and `raw` a valid out-pointer.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db.as_ptr(),
                sql.as_ptr(),
                -1,
                flags,
                &mut raw,
                ptr::null_mut(),
            )
        };
        match NonNull::new(raw) {
            Some(raw) if rc == ffi::SQLITE_OK => Ok(Statement { raw, db }),
            _ => Err(engine_error(db, doing)),
        }
    }

    fn bind_attribute(&self, attribute: &Attribute, event_id: i64, object_id: i64) -> Result<()> {
        self.text(1, Some(&attribute.uuid))?;
        self.int(2, Some(event_id))?;
        self.int(3, Some(object_id))?;
        self.text(4, attribute.object_relation.as_deref())?;
        self.text(5, Some(&attribute.category))?;
        self.text(6, Some(&attribute.attr_type))?;
        self.text(7, Some(&attribute.value1))?;
        self.text(8, Some(&attribute.value2))?;
        self.int(9, Some(i64::from(attribute.to_ids)))?;
        self.text(10, Some(&attribute.comment))?;
        self.int(11, Some(attribute.distribution.as_i64()))?;
        self.int(12, Some(attribute.sharing_group_id))?;
        self.int(13, Some(attribute.timestamp))?;
        self.int(14, Some(i64::from(attribute.deleted)))?;
        self.int(15, Some(i64::from(attribute.disable_correlation)))?;
        self.int(16, attribute.first_seen)?;
        self.int(17, attribute.last_seen)?;
        self.int(18, attribute.valid_until)?;
        self.text(19, attribute.intended_use.map(|use_| use_.as_str()))?;
        self.text(20, attribute.status.map(|status| status.as_str()))?;
        self.text(21, attribute.data.as_deref())
    }

    /// Binds borrowed text. SQLITE_STATIC is sound because the text outlives the step that
    /// reads it: the next bind replaces it, and the statement is reset before its owner is
    /// dropped.
    fn text(&self, index: c_int, value: Option<&str>) -> Result<()> {
        let rc = match value {
            // SAFETY: live statement, valid parameter index.
            None => unsafe { ffi::sqlite3_bind_null(self.raw.as_ptr(), index) },
            Some(text) => {
                let length = c_int::try_from(text.len())
                    .map_err(|_| StoreError::Engine("a text value is over 2 GiB".into()))?;
                // SAFETY: `text` is valid UTF-8 of `length` bytes that stays alive and unmoved
                // until the statement's next reset (see above).
                unsafe {
                    ffi::sqlite3_bind_text(
                        self.raw.as_ptr(),
                        index,
                        text.as_ptr().cast(),
                        length,
                        ffi::SQLITE_STATIC(),
                    )
                }
            }
        };
        self.check_bind(rc)
    }

    fn int(&self, index: c_int, value: Option<i64>) -> Result<()> {
        // SAFETY: live statement, valid parameter index.
        let rc = unsafe {
            match value {
                None => ffi::sqlite3_bind_null(self.raw.as_ptr(), index),
                Some(number) => ffi::sqlite3_bind_int64(self.raw.as_ptr(), index, number),
            }
        };
        self.check_bind(rc)
    }

    fn check_bind(&self, rc: c_int) -> Result<()> {
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(engine_error(self.db, "binding an attribute"))
        }
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: finalizing our own statement exactly once, while the handle is still held
        // (the statement is dropped before the lock guard in `insert_attributes`).
        unsafe {
            ffi::sqlite3_reset(self.raw.as_ptr());
            ffi::sqlite3_finalize(self.raw.as_ptr());
        }
    }
}

/// A failed step: a uuid clash is the caller's conflict, anything else an engine error.
fn step_error(db: NonNull<ffi::sqlite3>, attribute: &Attribute) -> StoreError {
    // SAFETY: `db` is held by this task; the extended code describes the failed step.
    let code = unsafe { ffi::sqlite3_extended_errcode(db.as_ptr()) };
    if code == ffi::SQLITE_CONSTRAINT_UNIQUE || code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY {
        return StoreError::Conflict(format!(
            "An attribute with uuid {} already exists.",
            attribute.uuid
        ));
    }
    engine_error(db, "inserting an attribute")
}

fn engine_error(db: NonNull<ffi::sqlite3>, doing: &str) -> StoreError {
    // SAFETY: `db` is held by this task; sqlite3_errmsg returns a NUL-terminated string owned
    // by the connection, copied before any other call.
    let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db.as_ptr())) }
        .to_string_lossy()
        .into_owned();
    StoreError::Engine(format!("{doing}: {message}"))
}

/// Runs a search's page query (`sql` selects `rows::ATTRIBUTE_COLUMNS`, in that order, with
/// `$n` placeholders for `binds`) and decodes its rows.
///
/// Why not sqlx here: sqlx hands each row from its worker thread to the task through a
/// channel, allocating per value; profiling a million-attribute export showed most of the
/// time in malloc, free and the handoff's mutex. Stepping the statement on the task that
/// holds the connection reads a page of 5,000 rows in a few milliseconds.
pub(crate) async fn select_attribute_rows(
    conn: &mut SqliteConnection,
    sql: &str,
    binds: &[Bind],
) -> Result<Vec<AttributeRow>> {
    select_rows(conn, sql, binds, Statement::attribute_row).await
}

/// Runs a query selecting `owner_id, local, relationship_type` and then
/// `rows::TAG_COLUMNS` (an event's or a page's attribute tags) and decodes its rows. The same
/// reasons as for attribute rows: through sqlx, loading a 1,000-attribute event spent as
/// long on its tag links as on its attributes.
pub(crate) async fn select_attached_tag_rows(
    conn: &mut SqliteConnection,
    sql: &str,
    binds: &[Bind],
) -> Result<Vec<AttachedTagRow>> {
    select_rows(conn, sql, binds, Statement::attached_tag_row).await
}

async fn select_rows<Row>(
    conn: &mut SqliteConnection,
    sql: &str,
    binds: &[Bind],
    decode: fn(&Statement) -> Result<Row>,
) -> Result<Vec<Row>> {
    let sql = CString::new(sql)
        .map_err(|_| StoreError::Engine("a query holds a NUL character".into()))?;
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    let statement = Statement::prepare_sql(db, &sql, 0, "preparing a query")?;
    for (index, bind) in binds.iter().enumerate() {
        let name = CString::new(format!("${}", index + 1)).expect("no NUL in a placeholder");
        // SAFETY: live statement; `name` is NUL-terminated.
        let position =
            unsafe { ffi::sqlite3_bind_parameter_index(statement.raw.as_ptr(), name.as_ptr()) };
        if position == 0 {
            continue;
        }
        match bind {
            Bind::Int(value) => statement.int(position, Some(*value))?,
            // The binds outlive the statement, which `text` requires.
            Bind::Text(value) => statement.text(position, Some(value))?,
        }
    }
    let mut rows = Vec::new();
    loop {
        // SAFETY: live statement of `db`, which this task holds exclusively.
        match unsafe { ffi::sqlite3_step(statement.raw.as_ptr()) } {
            ffi::SQLITE_ROW => rows.push(decode(&statement)?),
            ffi::SQLITE_DONE => break,
            _ => return Err(engine_error(db, "reading rows")),
        }
    }
    Ok(rows)
}

impl Statement {
    /// The current row as `select_attached_tag_rows` lays it out.
    fn attached_tag_row(&self) -> Result<AttachedTagRow> {
        let required = |index: c_int| -> Result<String> {
            self.column_text(index)?
                .ok_or_else(|| StoreError::Engine(format!("column {index} of a tag is NULL")))
        };
        let number = |index: c_int| self.column_int(index).unwrap_or(0);
        Ok(AttachedTagRow {
            owner_id: number(0),
            local: number(1) != 0,
            relationship_type: self.column_text(2)?,
            tag: TagRow {
                id: number(3),
                name: required(4)?,
                colour: required(5)?,
                exportable: number(6) != 0,
                org_id: number(7),
                user_id: number(8),
                hide_tag: number(9) != 0,
                numerical_value: self.column_int(10),
                is_galaxy: number(11) != 0,
                is_custom_galaxy: number(12) != 0,
                local_only: number(13) != 0,
            },
        })
    }

    /// The current row as `rows::ATTRIBUTE_COLUMNS` lays it out.
    fn attribute_row(&self) -> Result<AttributeRow> {
        let required = |index: c_int| -> Result<String> {
            self.column_text(index)?.ok_or_else(|| {
                StoreError::Engine(format!("column {index} of an attribute is NULL"))
            })
        };
        let number = |index: c_int| self.column_int(index).unwrap_or(0);
        Ok(AttributeRow {
            id: number(0),
            uuid: required(1)?,
            event_id: number(2),
            object_id: number(3),
            object_relation: self.column_text(4)?,
            category: required(5)?,
            attr_type: required(6)?,
            value1: required(7)?,
            value2: required(8)?,
            to_ids: number(9) != 0,
            comment: required(10)?,
            distribution: number(11),
            sharing_group_id: number(12),
            timestamp: number(13),
            deleted: number(14) != 0,
            disable_correlation: number(15) != 0,
            first_seen: self.column_int(16),
            last_seen: self.column_int(17),
            valid_until: self.column_int(18),
            intended_use: self.column_text(19)?,
            status: self.column_text(20)?,
            data: self.column_text(21)?,
        })
    }

    fn column_int(&self, index: c_int) -> Option<i64> {
        // SAFETY: live statement positioned on a row; `index` is within its columns.
        unsafe {
            if ffi::sqlite3_column_type(self.raw.as_ptr(), index) == ffi::SQLITE_NULL {
                None
            } else {
                Some(ffi::sqlite3_column_int64(self.raw.as_ptr(), index))
            }
        }
    }

    fn column_text(&self, index: c_int) -> Result<Option<String>> {
        // SAFETY: live statement positioned on a row; the text pointer is valid until the next
        // step or column call on this column, and is copied before either.
        unsafe {
            let text = ffi::sqlite3_column_text(self.raw.as_ptr(), index);
            if text.is_null() {
                return Ok(None);
            }
            let length =
                usize::try_from(ffi::sqlite3_column_bytes(self.raw.as_ptr(), index)).unwrap_or(0);
            let bytes = std::slice::from_raw_parts(text, length);
            String::from_utf8(bytes.to_vec())
                .map(Some)
                .map_err(|_| StoreError::Engine(format!("column {index} is not UTF-8")))
        }
    }
}

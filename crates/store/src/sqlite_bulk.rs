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

const ATTRIBUTE_COLUMNS: &str = "uuid, event_id, object_id, object_relation, category, type, \
    value1, value2, to_ids, comment, distribution, sharing_group_id, timestamp, deleted, \
    disable_correlation, first_seen, last_seen, valid_until, intended_use, status, data";

/// Values bound per attribute row, in `ATTRIBUTE_COLUMNS` order.
const VALUES_PER_ATTRIBUTE: usize = 21;

/// Rows stepped per hold of the connection handle: the calling task runs SQLite directly while
/// it holds it, so a long import gives the executor a turn every few milliseconds.
const ROWS_PER_HOLD: usize = 2048;

/// Rows written by one execution of a multi-row INSERT. Each execution of an INSERT into
/// `attributes` also builds a temporary table for the IN list of the `attributes_cidr`
/// partial index, reads and rewrites the table's `sqlite_sequence` row (AUTOINCREMENT) and
/// opens a cursor on every index; a POST of 1,000 indicators spent about a quarter of its
/// inserts doing that once per row.
const ROWS_PER_INSERT: usize = 32;

fn attribute_insert_sql(rows: usize) -> CString {
    let row = format!("({})", ["?"; VALUES_PER_ATTRIBUTE].join(","));
    let sql = format!(
        "INSERT INTO attributes ({ATTRIBUTE_COLUMNS}) VALUES {} RETURNING id, uuid",
        vec![row; rows].join(",")
    );
    CString::new(sql).expect("no NUL in the attribute insert")
}

/// Inserts `attributes` into event `event_id` (object `object_id`, or each attribute's own when
/// 0) and returns their new ids in input order.
pub(crate) async fn insert_attributes(
    conn: &mut SqliteConnection,
    event_id: i64,
    object_id: i64,
    attributes: &[Attribute],
) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(attributes.len());
    for held in attributes.chunks(ROWS_PER_HOLD) {
        let mut handle = conn.lock_handle().await?;
        let db = handle.as_raw_handle();
        let mut statements = SizedStatements::new(db, attribute_insert_sql, "the attribute insert");
        for rows in held.chunks(ROWS_PER_INSERT) {
            let statement = statements.for_rows(rows.len())?;
            insert_attribute_rows(db, statement, rows, event_id, object_id, &mut ids)?;
        }
    }
    Ok(ids)
}

/// Statements of one shape for a number of rows, prepared when first needed: most calls
/// want the full size and at most one shorter tail.
struct SizedStatements {
    db: NonNull<ffi::sqlite3>,
    sql_for_rows: fn(usize) -> CString,
    doing: &'static str,
    prepared: Vec<(usize, Statement)>,
}

impl SizedStatements {
    fn new(
        db: NonNull<ffi::sqlite3>,
        sql_for_rows: fn(usize) -> CString,
        doing: &'static str,
    ) -> Self {
        Self {
            db,
            sql_for_rows,
            doing,
            prepared: Vec::new(),
        }
    }

    fn for_rows(&mut self, rows: usize) -> Result<&Statement> {
        let position = match self.prepared.iter().position(|(size, _)| *size == rows) {
            Some(position) => position,
            None => {
                let sql = (self.sql_for_rows)(rows);
                let statement = Statement::prepare_sql(
                    self.db,
                    &sql,
                    ffi::SQLITE_PREPARE_PERSISTENT,
                    &format!("preparing {}", self.doing),
                )?;
                self.prepared.push((rows, statement));
                self.prepared.len() - 1
            }
        };
        Ok(&self.prepared[position].1)
    }
}

/// One execution of a multi-row insert of `rows`, their ids appended to `ids` in input order.
/// A failed execution changes nothing (SQLite undoes the statement); the rows are then
/// inserted one by one, so that an error names the attribute it is about.
fn insert_attribute_rows(
    db: NonNull<ffi::sqlite3>,
    statement: &Statement,
    rows: &[Attribute],
    event_id: i64,
    object_id: i64,
    ids: &mut Vec<i64>,
) -> Result<()> {
    for (position, attribute) in rows.iter().enumerate() {
        statement.bind_attribute(
            position * VALUES_PER_ATTRIBUTE,
            attribute,
            event_id,
            row_object_id(object_id, attribute),
        )?;
    }
    // RETURNING promises no order, so each id is matched to its row by uuid; rows come back
    // in input order in practice, which the comparison confirms without a lookup.
    let first = ids.len();
    let mut in_order = true;
    let mut returned: Vec<(i64, String)> = Vec::new();
    loop {
        // SAFETY: `statement` is a live statement of `db`, which this task holds exclusively.
        match unsafe { ffi::sqlite3_step(statement.raw.as_ptr()) } {
            ffi::SQLITE_ROW => {
                let id = statement.column_int(0).unwrap_or(0);
                let uuid = statement.column_bytes(1);
                let position = ids.len() - first;
                if in_order
                    && rows
                        .get(position)
                        .is_some_and(|row| row.uuid.as_bytes() == uuid)
                {
                    ids.push(id);
                } else {
                    in_order = false;
                    returned.push((id, String::from_utf8_lossy(uuid).into_owned()));
                }
            }
            ffi::SQLITE_DONE => break,
            _ => {
                // SAFETY: as above. The code is read before the reset clears it.
                let (code, in_transaction) = unsafe {
                    let code = ffi::sqlite3_extended_errcode(db.as_ptr());
                    ffi::sqlite3_reset(statement.raw.as_ptr());
                    (code, ffi::sqlite3_get_autocommit(db.as_ptr()) == 0)
                };
                // Only a constraint undoes just the statement; after anything else the
                // transaction may be gone, and rows stepped now would be committed alone.
                if code & 0xff != ffi::SQLITE_CONSTRAINT || !in_transaction {
                    return Err(engine_error(db, "inserting attributes"));
                }
                ids.truncate(first);
                return insert_attributes_one_by_one(db, rows, event_id, object_id, ids);
            }
        }
    }
    // SAFETY: as above. Reset's return code repeats the step's, checked already.
    unsafe { ffi::sqlite3_reset(statement.raw.as_ptr()) };
    if !in_order {
        let mut by_uuid: std::collections::HashMap<String, i64> = ids
            .drain(first..)
            .zip(rows)
            .map(|(id, row)| (row.uuid.clone(), id))
            .collect();
        by_uuid.extend(returned.into_iter().map(|(id, uuid)| (uuid, id)));
        for row in rows {
            let id = by_uuid.get(&row.uuid).copied().ok_or_else(|| {
                StoreError::Corrupt(format!("attribute {} was not stored", row.uuid))
            })?;
            ids.push(id);
        }
    }
    if ids.len() - first != rows.len() {
        return Err(StoreError::Corrupt(format!(
            "{} attributes were stored for {} given",
            ids.len() - first,
            rows.len()
        )));
    }
    Ok(())
}

/// The object an attribute row goes to: `object_id` when given (not 0), else its own.
fn row_object_id(object_id: i64, attribute: &Attribute) -> i64 {
    if object_id != 0 {
        object_id
    } else {
        attribute.object_id
    }
}

/// Inserts `rows` with a single-row statement each; the first that fails is the error.
fn insert_attributes_one_by_one(
    db: NonNull<ffi::sqlite3>,
    rows: &[Attribute],
    event_id: i64,
    object_id: i64,
    ids: &mut Vec<i64>,
) -> Result<()> {
    let sql = attribute_insert_sql(1);
    let statement = Statement::prepare_sql(db, &sql, 0, "preparing the attribute insert")?;
    for attribute in rows {
        statement.bind_attribute(0, attribute, event_id, row_object_id(object_id, attribute))?;
        // SAFETY: `statement` is a live statement of `db`, which this task holds exclusively.
        // The first step inserts the row and returns its id; the second ends the statement.
        let id = unsafe {
            match ffi::sqlite3_step(statement.raw.as_ptr()) {
                ffi::SQLITE_ROW => statement
                    .column_int(0)
                    .filter(|_| ffi::sqlite3_step(statement.raw.as_ptr()) == ffi::SQLITE_DONE),
                _ => None,
            }
        };
        let Some(id) = id else {
            let error = step_error(db, attribute);
            // SAFETY: as above.
            unsafe { ffi::sqlite3_reset(statement.raw.as_ptr()) };
            return Err(error);
        };
        ids.push(id);
        // SAFETY: as above.
        unsafe { ffi::sqlite3_reset(statement.raw.as_ptr()) };
    }
    Ok(())
}

/// Values bound per tag link row.
const VALUES_PER_TAG_LINK: usize = 5;

fn tag_link_sql(rows: usize) -> CString {
    let row = format!("({})", ["?"; VALUES_PER_TAG_LINK].join(","));
    let sql = format!(
        "INSERT INTO attribute_tags (attribute_id, event_id, tag_id, local, relationship_type) \
         VALUES {} ON CONFLICT (attribute_id, tag_id) DO NOTHING",
        vec![row; rows].join(",")
    );
    CString::new(sql).expect("no NUL in the tag link insert")
}

/// One attachment of a tag to an attribute, as `attribute_tags` stores it.
pub(crate) struct TagLink<'t> {
    pub attribute_id: i64,
    pub tag_id: i64,
    pub local: bool,
    pub relationship_type: Option<&'t str>,
}

/// Links tags to attributes of event `event_id`; an attachment already there is kept as it
/// is. The same statement `Tx::link_attribute_tag` runs through sqlx, stepped here for many
/// rows at once: an import tags most attributes, and through sqlx each link was a round trip
/// to the connection's worker thread (a third of an envelope's POST was that handoff).
pub(crate) async fn link_attribute_tags(
    conn: &mut SqliteConnection,
    event_id: i64,
    links: &[TagLink<'_>],
) -> Result<()> {
    for held in links.chunks(ROWS_PER_HOLD) {
        let mut handle = conn.lock_handle().await?;
        let db = handle.as_raw_handle();
        let mut statements = SizedStatements::new(db, tag_link_sql, "the attribute tag link");
        for rows in held.chunks(ROWS_PER_INSERT) {
            let statement = statements.for_rows(rows.len())?;
            for (position, link) in rows.iter().enumerate() {
                let base = c_int::try_from(position * VALUES_PER_TAG_LINK).unwrap_or(c_int::MAX);
                statement.int(base + 1, Some(link.attribute_id))?;
                statement.int(base + 2, Some(event_id))?;
                statement.int(base + 3, Some(link.tag_id))?;
                statement.int(base + 4, Some(i64::from(link.local)))?;
                statement.text(base + 5, link.relationship_type)?;
            }
            // SAFETY: `statement` is a live statement of `db`, which this task holds exclusively.
            let step = unsafe { ffi::sqlite3_step(statement.raw.as_ptr()) };
            if step != ffi::SQLITE_DONE {
                let error = engine_error(db, "linking a tag to an attribute");
                // SAFETY: as above.
                unsafe { ffi::sqlite3_reset(statement.raw.as_ptr()) };
                return Err(error);
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

    /// Binds one attribute row's values from parameter `offset + 1` on.
    fn bind_attribute(
        &self,
        offset: usize,
        attribute: &Attribute,
        event_id: i64,
        object_id: i64,
    ) -> Result<()> {
        let at = |column: c_int| c_int::try_from(offset).unwrap_or(c_int::MAX - 32) + column;
        self.text(at(1), Some(&attribute.uuid))?;
        self.int(at(2), Some(event_id))?;
        self.int(at(3), Some(object_id))?;
        self.text(at(4), attribute.object_relation.as_deref())?;
        self.text(at(5), Some(&attribute.category))?;
        self.text(at(6), Some(&attribute.attr_type))?;
        self.text(at(7), Some(&attribute.value1))?;
        self.text(at(8), Some(&attribute.value2))?;
        self.int(at(9), Some(i64::from(attribute.to_ids)))?;
        self.text(at(10), Some(&attribute.comment))?;
        self.int(at(11), Some(attribute.distribution.as_i64()))?;
        self.int(at(12), Some(attribute.sharing_group_id))?;
        self.int(at(13), Some(attribute.timestamp))?;
        self.int(at(14), Some(i64::from(attribute.deleted)))?;
        self.int(at(15), Some(i64::from(attribute.disable_correlation)))?;
        self.int(at(16), attribute.first_seen)?;
        self.int(at(17), attribute.last_seen)?;
        self.int(at(18), attribute.valid_until)?;
        self.text(at(19), attribute.intended_use.map(|use_| use_.as_str()))?;
        self.text(at(20), attribute.status.map(|status| status.as_str()))?;
        self.text(at(21), attribute.data.as_deref())
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

    /// The current row's column as bytes, borrowed until the next step or reset.
    fn column_bytes(&self, index: c_int) -> &[u8] {
        // SAFETY: live statement positioned on a row; the text stays valid until the next
        // step, reset or column call on this column, none of which happen while the slice
        // (tied to `&self`, used before the next step) lives.
        unsafe {
            let text = ffi::sqlite3_column_text(self.raw.as_ptr(), index);
            if text.is_null() {
                return &[];
            }
            let length =
                usize::try_from(ffi::sqlite3_column_bytes(self.raw.as_ptr(), index)).unwrap_or(0);
            std::slice::from_raw_parts(text, length)
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

//! The value caches of feeds and sync servers (MISP's feed and server caches): the md5 of
//! every value a source offers, with the event holding it when the source has events, so a
//! value can be looked up across sources without fetching them into events. Both caches
//! have the same shape and rules; only their tables differ.

use crate::feeds::FeedCacheEntry;
use crate::{Result, Store, StoreError, with_pool, with_tx};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

/// Placeholders per `IN (...)` lookup.
const IN_CHUNK: usize = 500;
/// Rows per INSERT: a big source holds hundreds of thousands of values.
const ROWS_PER_INSERT: usize = 300;

/// Whose cache: a feed's or a sync server's.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CacheOf {
    Feed,
    Server,
}

impl CacheOf {
    fn table(self) -> &'static str {
        match self {
            CacheOf::Feed => "feed_cache",
            CacheOf::Server => "server_cache",
        }
    }

    fn owner_column(self) -> &'static str {
        match self {
            CacheOf::Feed => "feed_id",
            CacheOf::Server => "server_id",
        }
    }

    fn owner_table(self) -> &'static str {
        match self {
            CacheOf::Feed => "feeds",
            CacheOf::Server => "servers",
        }
    }
}

/// A cached value found: whose cache, the digest, the event holding it ('' when unknown).
pub(crate) struct CachedValue {
    pub owner_id: i64,
    pub value_md5: String,
    pub event_uuid: String,
}

/// Replaces the cache of one feed or server and stamps its `cache_timestamp` with `now`,
/// in one transaction: readers see the old cache or the new one, never a mix.
pub(crate) async fn replace(
    store: &Store,
    of: CacheOf,
    owner_id: i64,
    entries: &[FeedCacheEntry],
    now: i64,
) -> Result<()> {
    let (table, owner) = (of.table(), of.owner_column());
    let delete = format!("DELETE FROM {table} WHERE {owner} = $1");
    let mut tx = store.begin().await?;
    with_tx!(&mut tx, conn => {
        sqlx::query(AssertSqlSafe(delete.as_str())).bind(owner_id).execute(&mut *conn).await?;
    });
    for chunk in entries.chunks(ROWS_PER_INSERT) {
        let tuples: Vec<String> = (0..chunk.len())
            .map(|row| format!("($1, ${}, ${})", 2 * row + 2, 2 * row + 3))
            .collect();
        let sql = format!(
            "INSERT INTO {table} ({owner}, value_md5, event_uuid) VALUES {} \
             ON CONFLICT DO NOTHING",
            tuples.join(", ")
        );
        with_tx!(&mut tx, conn => {
            let mut query = sqlx::query(AssertSqlSafe(sql.as_str())).bind(owner_id);
            for entry in chunk {
                query = query.bind(&entry.value_md5).bind(&entry.event_uuid);
            }
            query.execute(&mut *conn).await?;
        });
    }
    let stamp = format!(
        "UPDATE {} SET cache_timestamp = $1 WHERE id = $2",
        of.owner_table()
    );
    let affected = with_tx!(&mut tx, conn => {
        sqlx::query(AssertSqlSafe(stamp.as_str()))
            .bind(now)
            .bind(owner_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    if affected == 0 {
        return Err(StoreError::NotFound);
    }
    tx.commit().await
}

/// How many distinct values each feed's or server's cache holds, by its id.
pub(crate) async fn counts(store: &Store, of: CacheOf) -> Result<HashMap<i64, u64>> {
    let sql = format!(
        "SELECT {owner}, COUNT(DISTINCT value_md5) FROM {table} GROUP BY {owner}",
        owner = of.owner_column(),
        table = of.table()
    );
    let rows: Vec<(i64, i64)> = with_pool!(store, pool => {
        sqlx::query_as(AssertSqlSafe(sql.as_str())).fetch_all(pool).await?
    });
    Ok(rows
        .into_iter()
        .map(|(owner_id, count)| (owner_id, count.max(0) as u64))
        .collect())
}

/// Cached values among these md5 digests in every feed's or server's cache, ordered by
/// owner, digest and event.
pub(crate) async fn hits(
    store: &Store,
    of: CacheOf,
    value_md5s: &[String],
) -> Result<Vec<CachedValue>> {
    let mut hits = Vec::new();
    for chunk in value_md5s.chunks(IN_CHUNK) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT {owner}, value_md5, event_uuid FROM {table} WHERE value_md5 IN ({}) \
             ORDER BY {owner}, value_md5, event_uuid",
            placeholders.join(", "),
            owner = of.owner_column(),
            table = of.table()
        );
        let rows: Vec<(i64, String, String)> = with_pool!(store, pool => {
            let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()));
            for md5 in chunk {
                query = query.bind(md5);
            }
            query.fetch_all(pool).await?
        });
        hits.extend(
            rows.into_iter()
                .map(|(owner_id, value_md5, event_uuid)| CachedValue {
                    owner_id,
                    value_md5,
                    event_uuid,
                }),
        );
    }
    hits.sort_by(|a, b| {
        (a.owner_id, &a.value_md5, &a.event_uuid).cmp(&(b.owner_id, &b.value_md5, &b.event_uuid))
    });
    Ok(hits)
}

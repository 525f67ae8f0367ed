//! Feeds: their settings, what the last fetch left behind (validators, outcome, the
//! timestamp of each event downloaded), and the value cache MISP keeps per feed.

use crate::value_cache::{self, CacheOf};
use crate::{Result, Store, StoreError, with_pool, with_tx, with_writer};
use kizuna_model::Distribution;
use kizuna_model::feed::{Feed, FeedFetchState, FeedInputSource, FeedSourceFormat};
use sqlx::AssertSqlSafe;
use std::collections::HashMap;

const FEED_COLUMNS: &str = "id, name, provider, url, rules, enabled, distribution, \
     sharing_group_id, tag_id, default_feed, source_format, fixed_event, delta_merge, event_id, \
     publish, override_ids, settings, input_source, delete_local_file, lookup_visible, headers, \
     caching_enabled, force_to_ids, orgc_id, tag_collection_id, fetch_interval, etag, \
     last_modified, last_fetch_at, last_fetch_ok, last_fetch_result, cache_timestamp";

/// Bound values per statement when a list goes into `IN (...)`: far below SQLite's and
/// PostgreSQL's limits on placeholders.
const IN_CHUNK: usize = 500;

#[derive(sqlx::FromRow)]
struct FeedRow {
    id: i64,
    name: String,
    provider: String,
    url: String,
    rules: String,
    enabled: bool,
    distribution: i64,
    sharing_group_id: i64,
    tag_id: i64,
    default_feed: bool,
    source_format: String,
    fixed_event: bool,
    delta_merge: bool,
    event_id: i64,
    publish: bool,
    override_ids: bool,
    settings: String,
    input_source: String,
    delete_local_file: bool,
    lookup_visible: bool,
    headers: String,
    caching_enabled: bool,
    force_to_ids: bool,
    orgc_id: i64,
    tag_collection_id: i64,
    fetch_interval: i64,
    etag: String,
    last_modified: String,
    last_fetch_at: i64,
    last_fetch_ok: bool,
    last_fetch_result: String,
    cache_timestamp: i64,
}

impl FeedRow {
    fn into_feed(self) -> Result<Feed> {
        let corrupt = |what: &str, value: &str| {
            StoreError::Corrupt(format!("feed {}: {what} {value:?}", self.id))
        };
        let distribution = Distribution::from_i64(self.distribution)
            .ok_or_else(|| corrupt("distribution", &self.distribution.to_string()))?;
        let source_format = FeedSourceFormat::parse(&self.source_format)
            .ok_or_else(|| corrupt("source_format", &self.source_format))?;
        let input_source = FeedInputSource::parse(&self.input_source)
            .ok_or_else(|| corrupt("input_source", &self.input_source))?;
        Ok(Feed {
            id: self.id,
            name: self.name,
            provider: self.provider,
            url: self.url,
            rules: self.rules,
            enabled: self.enabled,
            distribution,
            sharing_group_id: self.sharing_group_id,
            tag_id: self.tag_id,
            default: self.default_feed,
            source_format,
            fixed_event: self.fixed_event,
            delta_merge: self.delta_merge,
            event_id: self.event_id,
            publish: self.publish,
            override_ids: self.override_ids,
            settings: self.settings,
            input_source,
            delete_local_file: self.delete_local_file,
            lookup_visible: self.lookup_visible,
            headers: self.headers,
            caching_enabled: self.caching_enabled,
            force_to_ids: self.force_to_ids,
            orgc_id: self.orgc_id,
            tag_collection_id: self.tag_collection_id,
            fetch_interval: self.fetch_interval,
            state: FeedFetchState {
                etag: self.etag,
                last_modified: self.last_modified,
                last_fetch_at: self.last_fetch_at,
                last_fetch_ok: self.last_fetch_ok,
                last_fetch_result: self.last_fetch_result,
                cache_timestamp: self.cache_timestamp,
            },
        })
    }
}

/// What a feed's manifest said about one event when it was last downloaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedEventMark {
    /// The manifest timestamp of the version downloaded.
    pub timestamp: i64,
    /// Whether that version was saved (false: the file was broken or the save refused).
    pub imported: bool,
}

/// One value a feed holds, for the cache: the md5 of the value and, for MISP feeds, the
/// event holding it ('' for csv and freetext feeds).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FeedCacheEntry {
    pub value_md5: String,
    pub event_uuid: String,
}

/// A cached value found in a feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedCacheHit {
    pub feed_id: i64,
    pub value_md5: String,
    pub event_uuid: String,
}

impl Store {
    /// Inserts `feed` (its id and fetch state are ignored) and returns it as stored.
    pub async fn create_feed(&self, feed: &Feed) -> Result<Feed> {
        let sql = format!(
            "INSERT INTO feeds (name, provider, url, rules, enabled, distribution, \
             sharing_group_id, tag_id, default_feed, source_format, fixed_event, delta_merge, \
             event_id, publish, override_ids, settings, input_source, delete_local_file, \
             lookup_visible, headers, caching_enabled, force_to_ids, orgc_id, tag_collection_id, \
             fetch_interval) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
             $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25) RETURNING {FEED_COLUMNS}"
        );
        let row: FeedRow = with_writer!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(&feed.name)
                .bind(&feed.provider)
                .bind(&feed.url)
                .bind(&feed.rules)
                .bind(feed.enabled)
                .bind(feed.distribution.as_i64())
                .bind(feed.sharing_group_id)
                .bind(feed.tag_id)
                .bind(feed.default)
                .bind(feed.source_format.as_str())
                .bind(feed.fixed_event)
                .bind(feed.delta_merge)
                .bind(feed.event_id)
                .bind(feed.publish)
                .bind(feed.override_ids)
                .bind(&feed.settings)
                .bind(feed.input_source.as_str())
                .bind(feed.delete_local_file)
                .bind(feed.lookup_visible)
                .bind(&feed.headers)
                .bind(feed.caching_enabled)
                .bind(feed.force_to_ids)
                .bind(feed.orgc_id)
                .bind(feed.tag_collection_id)
                .bind(feed.fetch_interval)
                .fetch_one(pool)
                .await?
        });
        row.into_feed()
    }

    pub async fn feed(&self, id: i64) -> Result<Feed> {
        let sql = format!("SELECT {FEED_COLUMNS} FROM feeds WHERE id = $1");
        let row: Option<FeedRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)?.into_feed()
    }

    /// Every feed in MISP's index order: the feeds MISP ships first, then by id.
    pub async fn list_feeds(&self) -> Result<Vec<Feed>> {
        let sql = format!("SELECT {FEED_COLUMNS} FROM feeds ORDER BY default_feed DESC, id ASC");
        let rows: Vec<FeedRow> = with_pool!(self, pool => {
            sqlx::query_as(AssertSqlSafe(sql.as_str())).fetch_all(pool).await?
        });
        rows.into_iter().map(FeedRow::into_feed).collect()
    }

    /// Writes the settings of `feed` (found by its id); its fetch state is left as stored.
    /// A new URL, source or format forgets the validators and event marks of the old one.
    pub async fn update_feed(&self, feed: &Feed) -> Result<Feed> {
        let before = self.feed(feed.id).await?;
        let source_changed = before.url != feed.url
            || before.input_source != feed.input_source
            || before.source_format != feed.source_format;
        let mut tx = self.begin().await?;
        let affected = with_tx!(&mut tx, conn => {
            sqlx::query(
                "UPDATE feeds SET name = $1, provider = $2, url = $3, rules = $4, enabled = $5, \
                 distribution = $6, sharing_group_id = $7, tag_id = $8, default_feed = $9, \
                 source_format = $10, fixed_event = $11, delta_merge = $12, event_id = $13, \
                 publish = $14, override_ids = $15, settings = $16, input_source = $17, \
                 delete_local_file = $18, lookup_visible = $19, headers = $20, \
                 caching_enabled = $21, force_to_ids = $22, orgc_id = $23, \
                 tag_collection_id = $24, fetch_interval = $25 WHERE id = $26",
            )
            .bind(&feed.name)
            .bind(&feed.provider)
            .bind(&feed.url)
            .bind(&feed.rules)
            .bind(feed.enabled)
            .bind(feed.distribution.as_i64())
            .bind(feed.sharing_group_id)
            .bind(feed.tag_id)
            .bind(feed.default)
            .bind(feed.source_format.as_str())
            .bind(feed.fixed_event)
            .bind(feed.delta_merge)
            .bind(feed.event_id)
            .bind(feed.publish)
            .bind(feed.override_ids)
            .bind(&feed.settings)
            .bind(feed.input_source.as_str())
            .bind(feed.delete_local_file)
            .bind(feed.lookup_visible)
            .bind(&feed.headers)
            .bind(feed.caching_enabled)
            .bind(feed.force_to_ids)
            .bind(feed.orgc_id)
            .bind(feed.tag_collection_id)
            .bind(feed.fetch_interval)
            .bind(feed.id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        // Rules and headers change what a fetch lets through or receives, so an unchanged
        // manifest must be read again rather than answered with 304.
        let forget_validators = source_changed
            || before.rules != feed.rules
            || before.headers != feed.headers
            || before.settings != feed.settings;
        if forget_validators {
            with_tx!(&mut tx, conn => {
                sqlx::query("UPDATE feeds SET etag = '', last_modified = '' WHERE id = $1")
                    .bind(feed.id)
                    .execute(&mut *conn)
                    .await?;
            });
        }
        if source_changed {
            with_tx!(&mut tx, conn => {
                sqlx::query("DELETE FROM feed_events WHERE feed_id = $1")
                    .bind(feed.id)
                    .execute(&mut *conn)
                    .await?;
            });
        }
        tx.commit().await?;
        self.feed(feed.id).await
    }

    /// Deletes a feed with its event marks and cache; the events it brought stay.
    pub async fn delete_feed(&self, id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let affected = with_tx!(&mut tx, conn => {
            sqlx::query("DELETE FROM feed_events WHERE feed_id = $1").bind(id).execute(&mut *conn).await?;
            sqlx::query("DELETE FROM feed_cache WHERE feed_id = $1").bind(id).execute(&mut *conn).await?;
            sqlx::query("DELETE FROM feeds WHERE id = $1").bind(id).execute(&mut *conn).await?.rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await
    }

    /// Records the outcome of a fetch: validators, time, success and summary (the cache
    /// timestamp is [`Store::replace_feed_cache`]'s).
    pub async fn record_feed_fetch(&self, feed_id: i64, state: &FeedFetchState) -> Result<()> {
        let affected = with_writer!(self, pool => {
            sqlx::query(
                "UPDATE feeds SET etag = $1, last_modified = $2, last_fetch_at = $3, \
                 last_fetch_ok = $4, last_fetch_result = $5 WHERE id = $6",
            )
            .bind(&state.etag)
            .bind(&state.last_modified)
            .bind(state.last_fetch_at)
            .bind(state.last_fetch_ok)
            .bind(&state.last_fetch_result)
            .bind(feed_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Points a csv/freetext feed at the fixed event it created on its first fetch.
    pub async fn set_feed_event_id(&self, feed_id: i64, event_id: i64) -> Result<()> {
        let affected = with_writer!(self, pool => {
            sqlx::query("UPDATE feeds SET event_id = $1 WHERE id = $2")
                .bind(event_id)
                .bind(feed_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The event marks of a feed, by event uuid.
    pub async fn feed_event_marks(&self, feed_id: i64) -> Result<HashMap<String, FeedEventMark>> {
        let rows: Vec<(String, i64, bool)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT event_uuid, timestamp, imported FROM feed_events WHERE feed_id = $1",
            )
            .bind(feed_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(uuid, timestamp, imported)| {
                (
                    uuid,
                    FeedEventMark {
                        timestamp,
                        imported,
                    },
                )
            })
            .collect())
    }

    /// Records (or replaces) the marks of the events one fetch downloaded, all at once.
    pub async fn mark_feed_events(
        &self,
        feed_id: i64,
        marks: &[(String, FeedEventMark)],
    ) -> Result<()> {
        if marks.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for (uuid, mark) in marks {
            with_tx!(&mut tx, conn => {
                sqlx::query(
                    "INSERT INTO feed_events (feed_id, event_uuid, timestamp, imported) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (feed_id, event_uuid) DO UPDATE \
                     SET timestamp = excluded.timestamp, imported = excluded.imported",
                )
                .bind(feed_id)
                .bind(uuid)
                .bind(mark.timestamp)
                .bind(mark.imported)
                .execute(&mut *conn)
                .await?;
            });
        }
        tx.commit().await
    }

    /// The `timestamp` of each of these events that exists here, by uuid.
    pub async fn event_timestamps_by_uuid(&self, uuids: &[String]) -> Result<HashMap<String, i64>> {
        let mut found = HashMap::with_capacity(uuids.len());
        for chunk in uuids.chunks(IN_CHUNK) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "SELECT uuid, timestamp FROM events WHERE uuid IN ({})",
                placeholders.join(", ")
            );
            let rows: Vec<(String, i64)> = with_pool!(self, pool => {
                let mut query = sqlx::query_as(AssertSqlSafe(sql.as_str()));
                for uuid in chunk {
                    query = query.bind(uuid);
                }
                query.fetch_all(pool).await?
            });
            found.extend(rows);
        }
        Ok(found)
    }

    /// Soft-deletes these live attributes of one event (a fixed feed event's values that
    /// left the feed) in one transaction; the event is touched and unpublished once.
    /// Returns how many were deleted.
    pub async fn soft_delete_event_attributes(
        &self,
        event_id: i64,
        attribute_ids: &[i64],
        now: i64,
    ) -> Result<u64> {
        if attribute_ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let mut deleted = 0;
        for chunk in attribute_ids.chunks(IN_CHUNK) {
            let placeholders: Vec<String> = (3..chunk.len() + 3).map(|n| format!("${n}")).collect();
            let sql = format!(
                "UPDATE attributes SET deleted = TRUE, timestamp = $1 \
                 WHERE event_id = $2 AND deleted = FALSE AND id IN ({})",
                placeholders.join(", ")
            );
            deleted += with_tx!(&mut tx, conn => {
                let mut query = sqlx::query(AssertSqlSafe(sql.as_str())).bind(now).bind(event_id);
                for id in chunk {
                    query = query.bind(*id);
                }
                query.execute(&mut *conn).await?.rows_affected()
            });
        }
        if deleted > 0 {
            tx.touch_event(event_id, now).await?;
            tx.refresh_attribute_count(event_id).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// Replaces the cached values of a feed and stamps the cache with `now`.
    pub async fn replace_feed_cache(
        &self,
        feed_id: i64,
        entries: &[FeedCacheEntry],
        now: i64,
    ) -> Result<()> {
        value_cache::replace(self, CacheOf::Feed, feed_id, entries, now).await
    }

    /// How many distinct values the cache holds for each feed, by feed id.
    pub async fn feed_cache_counts(&self) -> Result<HashMap<i64, u64>> {
        value_cache::counts(self, CacheOf::Feed).await
    }

    /// Cached values among these md5 digests, in every feed, ordered by feed and digest.
    pub async fn feed_cache_hits(&self, value_md5s: &[String]) -> Result<Vec<FeedCacheHit>> {
        Ok(value_cache::hits(self, CacheOf::Feed, value_md5s)
            .await?
            .into_iter()
            .map(|hit| FeedCacheHit {
                feed_id: hit.owner_id,
                value_md5: hit.value_md5,
                event_uuid: hit.event_uuid,
            })
            .collect())
    }
}

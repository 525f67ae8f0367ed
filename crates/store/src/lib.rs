//! Kizuna's storage: the only crate that knows SQL.
//!
//! [`Store`] is a cheap-to-clone handle over either an embedded SQLite database (the default)
//! or PostgreSQL, chosen by the URL scheme. The SQL is written once with `$n` placeholders and
//! run on whichever pool is in use through the [`with_pool!`] macro, which compiles the body
//! once per backend (vaultwarden's `db_run!` idea applied to query text); where the dialects
//! really differ, the text is chosen per backend in one place.
//!
//! Writes that belong together (an event with its attributes, objects and tags) run in one
//! transaction: all or nothing.

mod attributes;
mod audit;
mod blocklists;
mod correlations;
mod event_reports;
mod events;
mod feeds;
mod objects;
mod orgs;
mod roles;
mod rows;
mod search;
mod servers;
mod settings;
mod sharing_groups;
mod sightings;
mod sql;
mod sqlite_bulk;
mod tags;
mod taxii;
mod users;
mod value_cache;
mod wal_checkpoints;
mod wal_gather;
mod warninglists;

pub use attributes::AttributePage;
pub use audit::{
    AuditEntry, AuditFilter, ListedAuditEntry, REQUEST_TYPE_API, REQUEST_TYPE_BROWSER,
    REQUEST_TYPE_CLI,
};
pub use blocklists::{BlocklistEntry, BlocklistKind};
pub use correlations::Correlation;
pub use event_reports::SyncedReports;
pub use events::{EventChanges, EventSyncState, LoadOptions, MinimalIndex};
pub use feeds::{FeedCacheEntry, FeedCacheHit, FeedEventMark};
pub use search::{
    AttributeHit, Details, EventStubCache, SEARCH_PAGE_SIZE, SearchCursor, SearchScope,
};
pub use servers::{
    PushCandidate, Server, ServerCacheHit, ServerSyncState, SyncMark, SyncOutcome, SyncSighting,
};
pub use sightings::{SightableAttribute, SightingCounts, SightingFilter};
pub use tags::TagUsage;
pub use taxii::{
    ChangedEvent, StoredKind, StoredUuid, TAXII_STATUS_RETENTION_SECONDS, TaxiiCollection,
    TaxiiStatus,
};
pub use users::{NewAuthKey, OwnedAuthKey, Principal};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use wal_checkpoints::CheckpointWaker;

/// How callers name an event, attribute or object: MISP accepts the local id or the UUID
/// wherever either could appear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    Id(i64),
    Uuid(String),
}

impl Key {
    /// Digits → id; a UUID (any case) → uuid; anything else → None.
    pub fn parse(text: &str) -> Option<Key> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().ok().map(Key::Id);
        }
        uuid::Uuid::parse_str(text)
            .ok()
            .map(|u| Key::Uuid(u.hyphenated().to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the text says which.
    #[error("{0}")]
    Conflict(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// An error reported by SQLite's C API on the paths that bypass sqlx.
    #[error("database error: {0}")]
    Engine(String),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database engine a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The database handle. Clone it freely: it is a pool.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// SQLite only: the connections that read whole events and search pages. Each SQLite
    /// connection maps the database file separately and the pool hands out its idle
    /// connections in turn, so bulk reads spread over all eight touched every page up to eight
    /// times (RSS counts a page once per mapping: ~100 MiB of a 45 MB database after reading
    /// a 100,000-indicator TAXII collection). Two readers, one per core, touch it at most
    /// twice; writers and small queries keep the main pool's concurrency.
    bulk_readers: Option<SqlitePool>,
    /// SQLite only: the connections that read whole events, without mapping the file. A
    /// TAXII reader walks whole events, whose pages the mapping of either bulk reader kept
    /// resident and counted in RSS once per mapping (40–80 MiB of a 100,000-indicator
    /// collection); copied through a 4 MiB page cache they cost a `pread` each, a fraction
    /// of a millisecond per 1,000-attribute event. Search pages (exports of millions of
    /// values) keep the mapping, which made them ~30 % faster.
    event_readers: Option<SqlitePool>,
    /// SQLite only: the one connection every write goes through (transactions and single
    /// statements, [`with_writer!`]). SQLite writes one at a time anyway; what a single writer
    /// adds is a page cache that stays valid, since SQLite empties a connection's whole cache
    /// when another connection has written since. Spread over the main pool's connections in
    /// turn, each TAXII POST of 1,000 indicators read the indexes it updates back into a cold
    /// cache of freshly faulted memory (`PE attributes` 21.8 → 15.3 ms with one connection).
    writer: Option<SqlitePool>,
    /// SQLite only: wakes the task that copies the write-ahead log into the database file.
    checkpoints: Option<CheckpointWaker>,
}

/// Runs `$body` with `$pool` bound to the concrete pool of `$store`, compiled once per backend.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// [`with_pool!`] for a statement that writes: on SQLite `$pool` is the writer connection.
macro_rules! with_writer {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite(main) => {
                let $pool = $store.writer.as_ref().unwrap_or(main);
                $body
            }
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_writer;

/// An open transaction on either backend. Primitive writes are methods on it (each written
/// once through [`with_tx!`]); compound writes are plain async code calling them, so an
/// event with everything in it commits or rolls back as one.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>, CheckpointWaker),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs `$body` with `$conn` bound to the transaction's concrete connection.
macro_rules! with_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::Tx::Sqlite(transaction, _) => {
                let $conn = &mut **transaction;
                $body
            }
            $crate::Tx::Postgres(transaction) => {
                let $conn = &mut **transaction;
                $body
            }
        }
    };
}
pub(crate) use with_tx;

impl Tx {
    pub(crate) async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(transaction, checkpoints) => {
                transaction.commit().await?;
                checkpoints.committed();
            }
            Tx::Postgres(transaction) => transaction.commit().await?,
        }
        Ok(())
    }
}

impl Store {
    /// Opens (creating if needed) the database named by `url` and brings its schema up to date.
    /// `sqlite://path/to/kizuna.db` or `postgres://user@host:port/db`.
    pub async fn connect(url: &str) -> Result<Store> {
        let store = if url.starts_with("sqlite:") {
            wal_gather::register().map_err(StoreError::Engine)?;
            let options = SqliteConnectOptions::from_str(url)?
                // Commits write their WAL frames in a few large writes (wal_gather.rs).
                .vfs(wal_gather::VFS_NAME)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // A 64 MiB page cache per connection keeps the uuid index of a few million
                // attributes in memory, so bulk inserts do not thrash on random keys.
                .pragma("cache_size", "-65536")
                // Reads of large exports map the file instead of copying every page through
                // read(); the mapping is address space, shared by the page cache.
                .pragma("mmap_size", "1073741824")
                .pragma("temp_store", "memory")
                // Checkpoint the WAL every 64 MiB instead of every 4 MiB: an import's commits
                // then copy their index pages into the database file a few times instead of
                // after every commit (60k-attribute feed: 0.8–1.1 s → 0.87–0.95 s).
                .pragma("wal_autocheckpoint", "16384");
            let bulk_readers = SqlitePoolOptions::new()
                .max_connections(2)
                .connect_lazy_with(options.clone());
            let event_readers = SqlitePoolOptions::new()
                .max_connections(2)
                .connect_lazy_with(
                    options
                        .clone()
                        .pragma("mmap_size", "0")
                        .pragma("cache_size", "-4096"),
                );
            let checkpoints = CheckpointWaker::start(options.clone());
            // A quarter of a reader's cache: the writer's cache stays valid, so at 64 MiB it
            // kept every page it wrote (peak RSS of the TAXII benchmark 192 → 236 MiB), while
            // what it reuses from one write to the next is the index pages of random keys.
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(options.clone().pragma("cache_size", "-16384"));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await?;
            Store {
                backend: Backend::Sqlite(pool),
                bulk_readers: Some(bulk_readers),
                event_readers: Some(event_readers),
                writer: Some(writer),
                checkpoints: Some(checkpoints),
            }
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            // JIT compilation costs 10–15 ms per statement whenever the planner's estimate
            // crosses jit_above_cost, which partial-index lookups (no statistics for their
            // predicate) do constantly; our statements are short index lookups that never
            // repay it (a CIDR correlation lookup: 38 ms with JIT, 3 ms without).
            let options = PgConnectOptions::from_str(url)?.options([("jit", "off")]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Store {
                backend: Backend::Postgres(pool),
                bulk_readers: None,
                event_readers: None,
                writer: None,
                checkpoints: None,
            }
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The SQLite URL for `<dir>/kizuna.db`.
    pub fn sqlite_url_for_dir(dir: &Path) -> String {
        format!("sqlite://{}", dir.join("kizuna.db").display())
    }

    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    async fn migrate(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Backend::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// A connection for reading a whole event or a search page on SQLite (see `bulk_readers`).
    pub(crate) async fn bulk_reader(
        &self,
        pool: &SqlitePool,
    ) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        Ok(self.bulk_readers.as_ref().unwrap_or(pool).acquire().await?)
    }

    /// A connection for reading a whole event on SQLite (see `event_readers`).
    pub(crate) async fn event_reader(
        &self,
        pool: &SqlitePool,
    ) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        Ok(self
            .event_readers
            .as_ref()
            .unwrap_or(pool)
            .acquire()
            .await?)
    }

    pub(crate) async fn begin(&self) -> Result<Tx> {
        Ok(match &self.backend {
            Backend::Sqlite(pool) => Tx::Sqlite(
                self.writer.as_ref().unwrap_or(pool).begin().await?,
                self.checkpoints
                    .clone()
                    .expect("an SQLite store has a checkpoint task"),
            ),
            Backend::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub async fn close(&self) {
        for readers in [&self.bulk_readers, &self.event_readers]
            .into_iter()
            .flatten()
        {
            readers.close().await;
        }
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        with_pool!(self, pool => pool.close().await)
    }
}

/// A database URL with any password replaced, safe for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] with `message`.
pub(crate) fn conflict_on_unique(error: sqlx::Error, message: impl Into<String>) -> StoreError {
    if let sqlx::Error::Database(db_error) = &error
        && db_error.is_unique_violation()
    {
        return StoreError::Conflict(message.into());
    }
    StoreError::Db(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_accept_ids_and_uuids_only() {
        assert_eq!(Key::parse("42"), Some(Key::Id(42)));
        assert_eq!(
            Key::parse("5F0C7A1E-0000-4000-8000-000000000001"),
            Some(Key::Uuid("5f0c7a1e-0000-4000-8000-000000000001".into()))
        );
        assert_eq!(Key::parse("abc"), None);
        assert_eq!(Key::parse(""), None);
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://kizuna:secret@127.0.0.1:5432/db"),
            "postgres://kizuna:***@127.0.0.1:5432/db"
        );
        assert_eq!(
            redact_url("postgres://kizuna@127.0.0.1/db"),
            "postgres://kizuna@127.0.0.1/db"
        );
    }

    #[test]
    fn migration_folders_have_the_same_versions() {
        let list = |dir: &str| {
            let mut names: Vec<String> =
                std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
                    .unwrap()
                    .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
            names.sort();
            names
        };
        assert_eq!(list("migrations/sqlite"), list("migrations/postgres"));
    }
}

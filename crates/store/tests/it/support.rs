//! Running one contract test against a fresh database of each backend, and the raw-SQL
//! side door the contract tests use to set up or inspect what the store has no API for.

use kizuna_store::{Dialect, Store};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, SqliteConnection};
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::task::JoinError;

/// The PostgreSQL server the postgres half of the suite runs against.
pub const PG_URL_VAR: &str = "KIZUNA_TEST_PG_URL";

tokio::task_local! {
    /// The URL of the database the running contract test was given.
    static DATABASE_URL: String;
}

/// The URL of the current test's database (for a second connection or raw SQL).
pub fn database_url() -> String {
    DATABASE_URL.with(Clone::clone)
}

/// Whether we run under CI, where the PostgreSQL half is mandatory (same rule as
/// scripts/test: any value but empty, 0, false or no).
fn in_ci() -> bool {
    match std::env::var("CI") {
        Ok(value) => !matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "false" | "no"
        ),
        Err(_) => false,
    }
}

/// Runs `test` in its own task with the database URL in scope, then closes the store. A
/// panic of the test comes back as the error, for the caller to re-raise after cleaning up.
async fn run_isolated<F, Fut>(url: String, store: Store, test: F) -> Result<(), JoinError>
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(DATABASE_URL.scope(url, test(store.clone()))).await;
    store.close().await;
    outcome
}

fn reraise(outcome: Result<(), JoinError>) {
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("contract test task failed: {error}"),
        }
    }
}

/// Runs a contract test on a brand-new SQLite database in a temporary directory.
pub async fn run_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = Store::connect(&url).await.expect("open SQLite store");
    assert_eq!(store.dialect(), Dialect::Sqlite);
    reraise(run_isolated(url, store, test).await);
}

/// `base` with its database name replaced by `database` (query string kept).
fn with_database(base: &str, database: &str) -> String {
    let (without_query, query) = match base.find('?') {
        Some(at) => (&base[..at], &base[at..]),
        None => (base, ""),
    };
    let authority_start = without_query.find("://").map_or(0, |at| at + 3);
    let root = match without_query[authority_start..].find('/') {
        Some(slash) => &without_query[..authority_start + slash],
        None => without_query,
    };
    format!("{root}/{database}{query}")
}

fn unique_database_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    format!(
        "kz_{}_{}_{:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos ^ uuid::Uuid::new_v4().as_u128() as u32
    )
}

/// Runs a contract test on a throwaway database created in the PostgreSQL server named by
/// `KIZUNA_TEST_PG_URL`, dropped again afterwards (best effort). Without that variable the
/// test is skipped, except under CI where it fails.
pub async fn run_postgres<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let base = match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            if in_ci() {
                panic!("{PG_URL_VAR} not set: the PostgreSQL contract tests must run in CI");
            }
            eprintln!("SKIPPED: {PG_URL_VAR} not set");
            return;
        }
    };
    let name = unique_database_name();
    let mut admin = PgConnection::connect(&base)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to {PG_URL_VAR}: {error}"));
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|error| panic!("CREATE DATABASE {name} failed: {error}"));
    let url = with_database(&base, &name);
    let opened = Store::connect(&url).await;
    let outcome = match opened {
        Ok(store) => {
            assert_eq!(store.dialect(), Dialect::Postgres);
            run_isolated(url, store, test).await
        }
        Err(error) => {
            drop_database(&mut admin, &name).await;
            panic!("open PostgreSQL store: {error}");
        }
    };
    drop_database(&mut admin, &name).await;
    let _ = admin.close().await;
    reraise(outcome);
}

async fn drop_database(admin: &mut PgConnection, name: &str) {
    if let Err(error) = sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut *admin)
    .await
    {
        eprintln!("warning: could not drop test database {name}: {error}");
    }
}

/// A second, raw connection to the current test's database.
enum Raw {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

async fn raw_connection(store: &Store) -> Raw {
    let url = database_url();
    match store.dialect() {
        Dialect::Sqlite => {
            let options = SqliteConnectOptions::from_str(&url)
                .expect("SQLite URL")
                .foreign_keys(true);
            Raw::Sqlite(
                SqliteConnection::connect_with(&options)
                    .await
                    .expect("raw SQLite connection"),
            )
        }
        Dialect::Postgres => Raw::Postgres(
            PgConnection::connect(&url)
                .await
                .expect("raw PostgreSQL connection"),
        ),
    }
}

/// Executes SQL statements (no parameters) on the test's database, outside the store.
pub async fn execute(store: &Store, statements: &[String]) {
    let mut connection = raw_connection(store).await;
    for statement in statements {
        let sql = AssertSqlSafe(statement.as_str());
        let result = match &mut connection {
            Raw::Sqlite(conn) => sqlx::raw_sql(sql).execute(conn).await.map(|_| ()),
            Raw::Postgres(conn) => sqlx::raw_sql(sql).execute(conn).await.map(|_| ()),
        };
        result.unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
    match connection {
        Raw::Sqlite(conn) => conn.close().await.expect("close"),
        Raw::Postgres(conn) => conn.close().await.expect("close"),
    }
}

/// The single integer a query returns (e.g. a `COUNT(*)`), read outside the store.
pub async fn scalar(store: &Store, query: &str) -> i64 {
    let mut connection = raw_connection(store).await;
    let sql = AssertSqlSafe(query);
    let result: Result<(i64,), sqlx::Error> = match &mut connection {
        Raw::Sqlite(conn) => sqlx::query_as(sql).fetch_one(conn).await,
        Raw::Postgres(conn) => sqlx::query_as(sql).fetch_one(conn).await,
    };
    let (value,) = result.unwrap_or_else(|error| panic!("{query}: {error}"));
    match connection {
        Raw::Sqlite(conn) => conn.close().await.expect("close"),
        Raw::Postgres(conn) => conn.close().await.expect("close"),
    }
    value
}

/// The number of rows in `table`.
pub async fn count(store: &Store, table: &str) -> i64 {
    scalar(store, &format!("SELECT COUNT(*) FROM {table}")).await
}

#[test]
fn database_names_are_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://kizuna@127.0.0.1:55432/kizuna_test", "kz_1"),
        "postgres://kizuna@127.0.0.1:55432/kz_1"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "kz_2"),
        "postgres://u:p@h/kz_2?sslmode=disable"
    );
    assert_eq!(
        with_database("postgresql://h:5432", "kz_3"),
        "postgresql://h:5432/kz_3"
    );
}

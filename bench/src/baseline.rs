//! The no-tenancy baseline: the demo's notes handlers served from one SQLite database through
//! one pool, with no identification, so that a run against it and a run against
//! `tenancy serve` differ only in what tenancy adds.
//!
//! The SQLite database is opened with the same settings as a tenant database (WAL,
//! `synchronous = NORMAL`, a 5 s busy timeout, foreign keys) and seeded with notes titled
//! `t1: …`, so the load generator checks it as tenant `t1`. The PostgreSQL baseline keeps the
//! same notes in one schema, set on each connection once when it opens (never per checkout).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::{Extension, Router};
use tenancy::sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use tenancy::sqlx::pool::PoolConnection;
use tenancy::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tenancy::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tenancy::sqlx::{self, MySql, Postgres, Sqlite};
use tenancy_axum::Problem;
use tenancy_server::demo::{self, NotesStore};
use tenancy_server::notes::NotesDb;

/// The demo's SQLite migration, applied to the baseline database as it is.
const NOTES_TABLE: &str =
    include_str!("../../crates/tenancy-server/migrations/sqlite/0001_notes.sql");

/// The demo's PostgreSQL migration, for the baseline schema.
const NOTES_TABLE_POSTGRES: &str =
    include_str!("../../crates/tenancy-server/migrations/postgres/0001_notes.sql");

/// The demo's MySQL migration, for the baseline database.
const NOTES_TABLE_MYSQL: &str =
    include_str!("../../crates/tenancy-server/migrations/mysql/0001_notes.sql");

/// The schema the PostgreSQL baseline keeps its notes in, and the database of the MySQL one.
pub const POSTGRES_SCHEMA: &str = "bench_baseline";

/// The database the MySQL/MariaDB baseline keeps its notes in.
pub const MYSQL_DATABASE: &str = POSTGRES_SCHEMA;

/// The tenant whose rows the baseline database holds, as far as the checks are concerned.
pub const BASELINE_TENANT: &str = "t1";

/// How the baseline's pool is sized and waits.
#[derive(Debug, Clone)]
pub struct BaselineOptions {
    /// Connections in the one pool. Default 4, the tenancy pool's per-database cap, so that
    /// with one tenant both sides may use the same number of connections.
    pub max_connections: u32,
    /// Notes seeded into an empty database. Default 100, as for a benchmark tenant.
    pub notes: usize,
}

impl Default for BaselineOptions {
    fn default() -> Self {
        BaselineOptions {
            max_connections: 4,
            notes: 100,
        }
    }
}

/// Inserts `notes` notes titled `t1: note n` into `pool` with `insert` (the backend's
/// spelling of the two-parameter insert), in one transaction.
macro_rules! seed {
    ($pool:expr, $insert:expr, $notes:expr) => {{
        let mut tx = $pool.begin().await?;
        for n in 1..=$notes {
            sqlx::query($insert)
                .bind(format!("{BASELINE_TENANT}: note {n}"))
                .bind(format!("Seeded note {n} for the baseline"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }};
}

/// Opens (creating and seeding when new) the baseline database at `path`.
pub async fn open(path: &Path, options: &BaselineOptions) -> anyhow::Result<SqlitePool> {
    let connect = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    // No ping before each checkout: the tenancy pool does not ping SQLite either, and the
    // baseline should be the fastest honest setup, not a handicapped one.
    let pool = SqlitePoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .test_before_acquire(false)
        .connect_with(connect)
        .await?;

    let exists: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'notes'",
    )
    .fetch_optional(&pool)
    .await?;
    if exists.is_none() {
        sqlx::raw_sql(NOTES_TABLE).execute(&pool).await?;
        seed!(
            pool,
            "INSERT INTO notes (title, body) VALUES (?, ?)",
            options.notes
        );
    }
    Ok(pool)
}

/// Opens (creating and seeding when new) the PostgreSQL baseline: schema
/// [`POSTGRES_SCHEMA`] on the server at `url`.
pub async fn open_postgres(url: &str, options: &BaselineOptions) -> anyhow::Result<PgPool> {
    let connect = PgConnectOptions::from_str(url)?.options([("search_path", POSTGRES_SCHEMA)]);
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .test_before_acquire(false)
        .connect_with(connect)
        .await?;

    sqlx::raw_sql("CREATE SCHEMA IF NOT EXISTS bench_baseline")
        .execute(&pool)
        .await?;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('bench_baseline.notes') IS NOT NULL")
        .fetch_one(&pool)
        .await?;
    if !exists {
        sqlx::raw_sql(NOTES_TABLE_POSTGRES).execute(&pool).await?;
        seed!(
            pool,
            "INSERT INTO notes (title, body) VALUES ($1, $2)",
            options.notes
        );
    }
    Ok(pool)
}

/// Opens (creating and seeding when new) the MySQL/MariaDB baseline: database
/// [`MYSQL_DATABASE`] on the server at `url`, created with the character set tenant
/// databases get.
pub async fn open_mysql(url: &str, options: &BaselineOptions) -> anyhow::Result<MySqlPool> {
    let server = MySqlConnectOptions::from_str(url)?;
    let mut admin = <sqlx::MySqlConnection as sqlx::Connection>::connect_with(&server).await?;
    sqlx::raw_sql(
        "CREATE DATABASE IF NOT EXISTS bench_baseline \
         CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    )
    .execute(&mut admin)
    .await?;
    sqlx::Connection::close(admin).await?;

    let pool = MySqlPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .test_before_acquire(false)
        .connect_with(server.database(MYSQL_DATABASE))
        .await?;
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = 'bench_baseline' AND table_name = 'notes'",
    )
    .fetch_one(&pool)
    .await?;
    if exists == 0 {
        sqlx::raw_sql(NOTES_TABLE_MYSQL).execute(&pool).await?;
        seed!(
            pool,
            "INSERT INTO notes (title, body) VALUES (?, ?)",
            options.notes
        );
    }
    Ok(pool)
}

/// The notes routes on every host, from the PostgreSQL baseline's `pool`.
pub fn app_postgres(pool: PgPool) -> Router {
    demo::router_with::<PgBaselineDb>().layer(Extension(pool))
}

/// The notes routes on every host, from the MySQL baseline's `pool`.
pub fn app_mysql(pool: MySqlPool) -> Router {
    demo::router_with::<MySqlBaselineDb>().layer(Extension(pool))
}

/// The notes routes on every host, from `pool`.
pub fn app(pool: SqlitePool) -> Router {
    demo::router_with::<BaselineDb>().layer(Extension(pool))
}

/// A baseline connection source: one backend's single pool, carried as a request extension,
/// handing the demo's handlers that backend's notes queries.
macro_rules! baseline_db {
    ($(#[$doc:meta])* $name:ident, $pool:ty, $database:ty, $variant:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name($pool);

        impl<S: Send + Sync> FromRequestParts<S> for $name {
            type Rejection = Problem;

            async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
                let pool = parts.extensions.get::<$pool>().cloned().ok_or_else(no_pool)?;
                Ok($name(pool))
            }
        }

        impl NotesStore for $name {
            type Conn = PoolConnection<$database>;

            async fn acquire(&self) -> Result<Self::Conn, Problem> {
                self.0.acquire().await.map_err(pool_problem)
            }

            fn notes_db(conn: &mut Self::Conn) -> NotesDb<'_> {
                NotesDb::$variant(conn)
            }
        }
    };
}

baseline_db!(
    /// The SQLite baseline's connection source.
    BaselineDb, SqlitePool, Sqlite, Sqlite
);
baseline_db!(
    /// The PostgreSQL baseline's connection source.
    PgBaselineDb, PgPool, Postgres, Postgres
);
baseline_db!(
    /// The MySQL/MariaDB baseline's connection source.
    MySqlBaselineDb, MySqlPool, MySql, MySql
);

fn no_pool() -> Problem {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "no_pool",
        "the baseline router is served without its pool",
    )
}

fn pool_problem(error: sqlx::Error) -> Problem {
    match error {
        sqlx::Error::PoolTimedOut => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "pool_timeout",
            "no connection became free in time",
        )
        .retry_after(1),
        other => Problem::from(tenancy::Error::Database(other)),
    }
}

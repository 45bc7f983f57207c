//! The catalog's three backends behind one small query interface.
//!
//! Catalog SQL is written once, with `?` placeholders, and runs on SQLite, PostgreSQL and
//! MySQL/MariaDB. What differs per backend lives here and nowhere else: opening the pool,
//! numbering placeholders for PostgreSQL, how a write transaction starts, and how an
//! inserted row's generated id is read back.
//!
//! Values cross this interface as [`Arg`]s (text, integers, timestamps), the only types the
//! catalog stores, and rows come back as [`CatalogRow`], read by column name.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::mysql::MySqlRow;
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, ColumnIndex, Decode, Row, Transaction, Type};

use crate::error::Error;

/// At most this many connections to the catalog, per process: the change poller, a writer
/// and reads on cache misses. A network catalog counts them against its server's limit.
pub(super) const MAX_CONNECTIONS: u32 = 4;

/// How long a catalog query waits for a connection of the pool, or for a new connection
/// to a network server to open. A catalog that cannot be reached answers within this, not
/// after the writers' lock wait.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an unused catalog connection to a network server stays open. The change poller
/// keeps one in use, so a quiet process holds one connection.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One value bound to a placeholder.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Time(Option<DateTime<Utc>>),
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Arg::Text(Some(value.to_owned()))
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Arg::Text(Some(value))
    }
}

impl From<&String> for Arg {
    fn from(value: &String) -> Self {
        Arg::Text(Some(value.clone()))
    }
}

impl From<Option<&str>> for Arg {
    fn from(value: Option<&str>) -> Self {
        Arg::Text(value.map(str::to_owned))
    }
}

impl From<Option<&String>> for Arg {
    fn from(value: Option<&String>) -> Self {
        Arg::Text(value.cloned())
    }
}

impl From<&Option<String>> for Arg {
    fn from(value: &Option<String>) -> Self {
        Arg::Text(value.clone())
    }
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Arg::Int(Some(value))
    }
}

impl From<Option<i64>> for Arg {
    fn from(value: Option<i64>) -> Self {
        Arg::Int(value)
    }
}

impl From<DateTime<Utc>> for Arg {
    fn from(value: DateTime<Utc>) -> Self {
        Arg::Time(Some(value))
    }
}

impl From<Option<DateTime<Utc>>> for Arg {
    fn from(value: Option<DateTime<Utc>>) -> Self {
        Arg::Time(value)
    }
}

/// A catalog statement and its arguments, in placeholder order.
#[derive(Debug)]
pub(crate) struct Query {
    sql: Cow<'static, str>,
    args: Vec<Arg>,
}

/// Starts a statement. Placeholders are `?` on every backend; SQL text must hold no other
/// `?` (none is needed: the catalog's literals are plain words).
pub(crate) fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query {
        sql: sql.into(),
        args: Vec::new(),
    }
}

impl Query {
    /// Binds the next placeholder.
    pub(crate) fn bind(mut self, arg: impl Into<Arg>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// [`Conn::execute`], written in the order sqlx reads.
    pub(crate) async fn execute(self, conn: &mut Conn<'_>) -> Result<u64, Error> {
        conn.execute(self).await
    }

    /// [`Conn::scalar`].
    pub(crate) async fn scalar<T: Column>(self, conn: &mut Conn<'_>) -> Result<T, Error> {
        conn.scalar(self).await
    }

    /// [`Conn::scalar_optional`].
    pub(crate) async fn scalar_optional<T: Column>(
        self,
        conn: &mut Conn<'_>,
    ) -> Result<Option<T>, Error> {
        conn.scalar_optional(self).await
    }
}

/// Builds the sqlx query of one backend from a [`Query`].
macro_rules! sqlx_query {
    ($db:ty, $sql:expr, $args:expr) => {{
        let mut built = sqlx::query::<$db>(AssertSqlSafe($sql));
        for arg in $args {
            built = match arg {
                Arg::Text(value) => built.bind(value),
                Arg::Int(value) => built.bind(value),
                Arg::Time(value) => built.bind(value),
            };
        }
        built
    }};
}

/// PostgreSQL numbers its placeholders: the n-th `?` becomes `$n`.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// A row of a catalog query.
pub(crate) enum CatalogRow {
    Sqlite(SqliteRow),
    Postgres(PgRow),
    MySql(MySqlRow),
}

/// A Rust type every backend can decode a catalog column into.
pub(crate) trait Column:
    for<'r> Decode<'r, Sqlite>
    + Type<Sqlite>
    + for<'r> Decode<'r, Postgres>
    + Type<Postgres>
    + for<'r> Decode<'r, MySql>
    + Type<MySql>
{
}

impl<T> Column for T where
    T: for<'r> Decode<'r, Sqlite>
        + Type<Sqlite>
        + for<'r> Decode<'r, Postgres>
        + Type<Postgres>
        + for<'r> Decode<'r, MySql>
        + Type<MySql>
{
}

/// A column name or position, on every backend.
pub(crate) trait Index:
    ColumnIndex<SqliteRow> + ColumnIndex<PgRow> + ColumnIndex<MySqlRow>
{
}

impl<I> Index for I where I: ColumnIndex<SqliteRow> + ColumnIndex<PgRow> + ColumnIndex<MySqlRow> {}

impl CatalogRow {
    /// The value of one column.
    pub(crate) fn get<T: Column>(&self, index: impl Index) -> Result<T, Error> {
        match self {
            CatalogRow::Sqlite(row) => row.try_get(index),
            CatalogRow::Postgres(row) => row.try_get(index),
            CatalogRow::MySql(row) => row.try_get(index),
        }
        .map_err(Error::Catalog)
    }
}

/// A connection to the catalog, inside a transaction or not.
pub(crate) enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
    MySql(&'c mut MySqlConnection),
}

impl Conn<'_> {
    /// Runs a statement; returns how many rows it changed.
    pub(crate) async fn execute(&mut self, query: Query) -> Result<u64, Error> {
        let affected = match self {
            Conn::Sqlite(conn) => sqlx_query!(Sqlite, query.sql, query.args)
                .execute(&mut **conn)
                .await
                .map(|done| done.rows_affected()),
            Conn::Postgres(conn) => sqlx_query!(Postgres, numbered(&query.sql), query.args)
                .execute(&mut **conn)
                .await
                .map(|done| done.rows_affected()),
            Conn::MySql(conn) => sqlx_query!(MySql, query.sql, query.args)
                .execute(&mut **conn)
                .await
                .map(|done| done.rows_affected()),
        };
        affected.map_err(Error::Catalog)
    }

    /// Every row the query answers.
    pub(crate) async fn fetch_all(&mut self, query: Query) -> Result<Vec<CatalogRow>, Error> {
        let rows = match self {
            Conn::Sqlite(conn) => sqlx_query!(Sqlite, query.sql, query.args)
                .fetch_all(&mut **conn)
                .await
                .map(|rows| rows.into_iter().map(CatalogRow::Sqlite).collect()),
            Conn::Postgres(conn) => sqlx_query!(Postgres, numbered(&query.sql), query.args)
                .fetch_all(&mut **conn)
                .await
                .map(|rows| rows.into_iter().map(CatalogRow::Postgres).collect()),
            Conn::MySql(conn) => sqlx_query!(MySql, query.sql, query.args)
                .fetch_all(&mut **conn)
                .await
                .map(|rows| rows.into_iter().map(CatalogRow::MySql).collect()),
        };
        rows.map_err(Error::Catalog)
    }

    /// The first row the query answers, if any.
    pub(crate) async fn fetch_optional(
        &mut self,
        query: Query,
    ) -> Result<Option<CatalogRow>, Error> {
        let row = match self {
            Conn::Sqlite(conn) => sqlx_query!(Sqlite, query.sql, query.args)
                .fetch_optional(&mut **conn)
                .await
                .map(|row| row.map(CatalogRow::Sqlite)),
            Conn::Postgres(conn) => sqlx_query!(Postgres, numbered(&query.sql), query.args)
                .fetch_optional(&mut **conn)
                .await
                .map(|row| row.map(CatalogRow::Postgres)),
            Conn::MySql(conn) => sqlx_query!(MySql, query.sql, query.args)
                .fetch_optional(&mut **conn)
                .await
                .map(|row| row.map(CatalogRow::MySql)),
        };
        row.map_err(Error::Catalog)
    }

    /// The first column of the first row, if there is a row.
    pub(crate) async fn scalar_optional<T: Column>(
        &mut self,
        query: Query,
    ) -> Result<Option<T>, Error> {
        self.fetch_optional(query)
            .await?
            .map(|row| row.get(0))
            .transpose()
    }

    /// The first column of the one row the query must answer.
    pub(crate) async fn scalar<T: Column>(&mut self, query: Query) -> Result<T, Error> {
        self.scalar_optional(query)
            .await?
            .ok_or(Error::Catalog(sqlx::Error::RowNotFound))
    }

    /// Runs an `INSERT` into a table whose `id` the database generates; returns that id.
    /// MySQL has no `RETURNING`, so it reads the id the insert reports instead.
    pub(crate) async fn insert_returning_id(&mut self, mut query: Query) -> Result<i64, Error> {
        if let Conn::MySql(conn) = self {
            let done = sqlx_query!(MySql, query.sql, query.args)
                .execute(&mut **conn)
                .await
                .map_err(Error::Catalog)?;
            return i64::try_from(done.last_insert_id())
                .map_err(|error| Error::Catalog(sqlx::Error::Decode(Box::new(error))));
        }
        query.sql = format!("{} RETURNING id", query.sql).into();
        self.scalar(query).await
    }
}

/// The catalog's connection pool, on one of the three backends.
#[derive(Debug, Clone)]
pub(crate) enum CatalogPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
}

/// A pooled catalog connection, outside any transaction.
pub(crate) enum PooledConn {
    Sqlite(sqlx::pool::PoolConnection<Sqlite>),
    Postgres(sqlx::pool::PoolConnection<Postgres>),
    MySql(sqlx::pool::PoolConnection<MySql>),
}

impl PooledConn {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            PooledConn::Sqlite(conn) => Conn::Sqlite(conn),
            PooledConn::Postgres(conn) => Conn::Postgres(conn),
            PooledConn::MySql(conn) => Conn::MySql(conn),
        }
    }
}

/// A catalog write transaction.
pub(crate) enum CatalogTx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
    MySql(Transaction<'static, MySql>),
}

impl CatalogTx {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            CatalogTx::Sqlite(tx) => Conn::Sqlite(tx),
            CatalogTx::Postgres(tx) => Conn::Postgres(tx),
            CatalogTx::MySql(tx) => Conn::MySql(tx),
        }
    }

    pub(crate) async fn commit(self) -> Result<(), Error> {
        match self {
            CatalogTx::Sqlite(tx) => tx.commit().await,
            CatalogTx::Postgres(tx) => tx.commit().await,
            CatalogTx::MySql(tx) => tx.commit().await,
        }
        .map_err(Error::Catalog)
    }
}

/// The options of a network catalog's pool (`$options` is the backend's `PoolOptions`):
/// small, opened on demand, closed when unused, each new connection running the `$session`
/// statements first.
macro_rules! network_pool {
    ($options:ty, $session:expr) => {{
        let session: String = $session;
        <$options>::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .idle_timeout(IDLE_TIMEOUT)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                let statements = session.clone();
                Box::pin(async move {
                    sqlx::raw_sql(AssertSqlSafe(statements))
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
    }};
}

impl CatalogPool {
    /// Connects to a PostgreSQL catalog. A writer waiting for another's row lock gives up
    /// after `lock_wait`, as a SQLite writer does after its busy timeout.
    pub(super) async fn postgres(
        options: PgConnectOptions,
        lock_wait: Duration,
    ) -> Result<Self, Error> {
        // Notices ("relation already exists, skipping" on every start) would reach the log
        // at INFO; warnings still do.
        let session = format!(
            "SET lock_timeout = {}; SET client_min_messages = warning",
            lock_wait.as_millis()
        );
        let location = location(
            options.get_host(),
            options.get_port(),
            options.get_database(),
        );
        reachable::<PgConnection>(&options, &location).await?;
        let pool = network_pool!(PgPoolOptions, session).connect_lazy_with(options);
        Ok(CatalogPool::Postgres(pool))
    }

    /// Connects to a MySQL or MariaDB catalog. Sessions read committed data (each statement
    /// sees what committed before it, as on PostgreSQL) and wait `lock_wait` for row locks.
    pub(super) async fn mysql(
        options: MySqlConnectOptions,
        lock_wait: Duration,
    ) -> Result<Self, Error> {
        let session = format!(
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; \
             SET SESSION innodb_lock_wait_timeout = {}",
            lock_wait.as_secs().max(1)
        );
        let location = location(
            options.get_host(),
            options.get_port(),
            options.get_database(),
        );
        reachable::<MySqlConnection>(&options, &location).await?;
        let pool = network_pool!(MySqlPoolOptions, session).connect_lazy_with(options);
        Ok(CatalogPool::MySql(pool))
    }

    /// A connection of the pool, within [`ACQUIRE_TIMEOUT`].
    pub(crate) async fn acquire(&self) -> Result<PooledConn, Error> {
        match self {
            CatalogPool::Sqlite(pool) => pool.acquire().await.map(PooledConn::Sqlite),
            CatalogPool::Postgres(pool) => pool.acquire().await.map(PooledConn::Postgres),
            CatalogPool::MySql(pool) => pool.acquire().await.map(PooledConn::MySql),
        }
        .map_err(Error::Catalog)
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN
    /// IMMEDIATE`), so a second writer waits in the busy handler instead of failing when
    /// its read lock cannot be upgraded. On the servers the first statement of every write
    /// transaction locks the clock row (see [`super::next_seq`]), which has the same effect.
    pub(crate) async fn begin_write(&self) -> Result<CatalogTx, Error> {
        match self {
            CatalogPool::Sqlite(pool) => pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map(CatalogTx::Sqlite),
            CatalogPool::Postgres(pool) => pool.begin().await.map(CatalogTx::Postgres),
            CatalogPool::MySql(pool) => pool.begin().await.map(CatalogTx::MySql),
        }
        .map_err(Error::Catalog)
    }

    /// [`Conn::execute`] on a connection of the pool.
    pub(crate) async fn execute(&self, query: Query) -> Result<u64, Error> {
        self.acquire().await?.conn().execute(query).await
    }

    /// [`Conn::fetch_all`] on a connection of the pool.
    pub(crate) async fn fetch_all(&self, query: Query) -> Result<Vec<CatalogRow>, Error> {
        self.acquire().await?.conn().fetch_all(query).await
    }

    /// [`Conn::fetch_optional`] on a connection of the pool.
    pub(crate) async fn fetch_optional(&self, query: Query) -> Result<Option<CatalogRow>, Error> {
        self.acquire().await?.conn().fetch_optional(query).await
    }

    /// [`Conn::scalar`] on a connection of the pool.
    pub(crate) async fn scalar<T: Column>(&self, query: Query) -> Result<T, Error> {
        self.acquire().await?.conn().scalar(query).await
    }

    /// Brings the catalog's schema up to date with this backend's migrations.
    pub(super) async fn migrate(&self) -> Result<(), Error> {
        let result = match self {
            CatalogPool::Sqlite(pool) => {
                let migrator = crate::migrate::catalog_migrator(crate::server::Backend::Sqlite);
                migrator.run(pool).await
            }
            CatalogPool::Postgres(pool) => {
                let migrator = crate::migrate::catalog_migrator(crate::server::Backend::Postgres);
                migrator.run(pool).await
            }
            CatalogPool::MySql(pool) => return migrate_mysql(pool).await,
        };
        result.map_err(migrate_error)
    }

    pub(crate) fn is_closed(&self) -> bool {
        match self {
            CatalogPool::Sqlite(pool) => pool.is_closed(),
            CatalogPool::Postgres(pool) => pool.is_closed(),
            CatalogPool::MySql(pool) => pool.is_closed(),
        }
    }

    pub(crate) async fn close(&self) {
        match self {
            CatalogPool::Sqlite(pool) => pool.close().await,
            CatalogPool::Postgres(pool) => pool.close().await,
            CatalogPool::MySql(pool) => pool.close().await,
        }
    }
}

/// Where a network catalog is, for messages: no user, no password.
/// Connects a `$connection` with `$options`, counts the tenants through it as the `$variant`
/// [`Conn`], and closes it.
macro_rules! count_once {
    ($connection:ty, $variant:ident, $options:expr) => {{
        let mut conn = <$connection as sqlx::Connection>::connect_with($options)
            .await
            .map_err(Error::Catalog)?;
        let count = Conn::$variant(&mut conn)
            .scalar(query("SELECT COUNT(*) FROM tenants"))
            .await;
        sqlx::Connection::close(conn)
            .await
            .map_err(Error::Catalog)?;
        count
    }};
}

impl CatalogPool {
    /// Opens one connection outside the pool (SQLite: read-only, never creating the file),
    /// counts the tenants through it and closes it.
    pub(crate) async fn probe(&self, wait: Duration) -> Result<i64, Error> {
        match self {
            CatalogPool::Sqlite(pool) => {
                let options = (*pool.connect_options())
                    .clone()
                    .create_if_missing(false)
                    .read_only(true)
                    .busy_timeout(wait);
                count_once!(SqliteConnection, Sqlite, &options)
            }
            CatalogPool::Postgres(pool) => {
                count_once!(PgConnection, Postgres, &pool.connect_options())
            }
            CatalogPool::MySql(pool) => {
                count_once!(MySqlConnection, MySql, &pool.connect_options())
            }
        }
    }
}

fn location(host: &str, port: u16, database: Option<&str>) -> String {
    format!("{host}:{port}/{}", database.unwrap_or_default())
}

/// Opens and closes one connection outside the pool. A pool that cannot connect retries
/// until its timeout and then reports only that it timed out; this says why (refused, no
/// such database, wrong password).
async fn reachable<C: sqlx::Connection>(options: &C::Options, location: &str) -> Result<(), Error> {
    let unavailable = |source| Error::CatalogUnavailable {
        location: location.to_owned(),
        source,
    };
    let timed_out = || {
        let why = format!(
            "connecting took longer than {} s",
            ACQUIRE_TIMEOUT.as_secs()
        );
        sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, why))
    };
    let conn = tokio::time::timeout(ACQUIRE_TIMEOUT, C::connect_with(options))
        .await
        .map_err(|_| unavailable(timed_out()))?
        .map_err(unavailable)?;
    conn.close().await.map_err(Error::Catalog)
}

fn migrate_error(error: sqlx::migrate::MigrateError) -> Error {
    match error {
        sqlx::migrate::MigrateError::Execute(error) => Error::Catalog(error),
        other => Error::Catalog(sqlx::Error::Migrate(Box::new(other))),
    }
}

/// The MySQL migrator's own lock is `GET_LOCK(name, -1)`, which MariaDB answers at once with
/// NULL instead of waiting, so two processes opening a new catalog together both created its
/// tables. The migration runs under a lock of ours, on the same connection, instead.
async fn migrate_mysql(pool: &MySqlPool) -> Result<(), Error> {
    let mut conn = pool.acquire().await.map_err(Error::Catalog)?;
    let name = "tenancy_catalog_migrations";
    let timeout = i64::try_from(super::BUSY_TIMEOUT.as_secs()).unwrap_or(i64::MAX);
    let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(CONCAT(DATABASE(), '.', ?), ?)")
        .bind(name)
        .bind(timeout)
        .fetch_one(&mut *conn)
        .await
        .map_err(Error::Catalog)?;
    if locked != Some(1) {
        return Err(Error::InvalidInput {
            field: "catalog",
            reason: format!("another process held the catalog's migration lock for {timeout} s"),
        });
    }

    let migrator = crate::migrate::catalog_migrator(crate::server::Backend::MySql);
    let result = migrator.run(&mut *conn).await.map_err(migrate_error);
    let released = sqlx::query("SELECT RELEASE_LOCK(CONCAT(DATABASE(), '.', ?))")
        .bind(name)
        .execute(&mut *conn)
        .await;
    result?;
    released.map_err(Error::Catalog)?;
    Ok(())
}

/// Whether a failed write transaction may simply be run again: the database chose it as a
/// deadlock victim or refused it as a serialization failure, and rolled it back whole.
pub(crate) fn is_retryable(error: &Error) -> bool {
    let Error::Catalog(sqlx::Error::Database(error)) = error else {
        return false;
    };
    // 40001: serialization failure (also MySQL's deadlock, 1213); 40P01: PostgreSQL deadlock.
    matches!(error.code().as_deref(), Some("40001" | "40P01"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order_for_postgres() {
        let sql = "UPDATE t SET a = ?, b = ? WHERE (? IS NULL OR c = ?)";
        assert_eq!(
            numbered(sql),
            "UPDATE t SET a = $1, b = $2 WHERE ($3 IS NULL OR c = $4)"
        );
    }

    #[test]
    fn sql_without_placeholders_is_unchanged() {
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
    }
}

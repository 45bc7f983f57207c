//! Servers: the named database endpoints tenants are placed on, and their storage.
//!
//! Each backend keeps the same four storage operations (create, drop, list, exists), the
//! same connect and the same switch, in its own file: `sqlite.rs`, `postgres.rs`,
//! `mysql.rs`. This file dispatches and owns what they share: naming and quoting.

mod mysql;
mod postgres;
mod sqlite;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::{MySqlConnection, PgConnection, SqliteConnection};

use crate::error::Error;
use crate::tenant_id::TenantId;

pub use sqlite::FileLock;

/// Suffix of a SQLite tenant database that is still being built.
pub(crate) const PARTIAL_SUFFIX: &str = ".partial";

/// The default prefix of database and schema names on PostgreSQL and MySQL servers.
pub const DEFAULT_PREFIX: &str = "tenant_";

/// The kind of database a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

/// How a PostgreSQL server separates tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// A database per tenant, with a pool per tenant database.
    Database,
    /// A schema per tenant in the server's database, with one shared pool.
    Schema,
}

/// What kind of server this is and how it reaches tenant databases.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServerKind {
    /// One SQLite file per tenant, `<dir>/<database>.sqlite`.
    Sqlite {
        /// The folder holding tenant files.
        dir: PathBuf,
    },
    /// A PostgreSQL server.
    Postgres {
        /// Connection options; their database is the one schemas live in (schema mode) and
        /// DDL connects to.
        options: Box<PgConnectOptions>,
        /// Database or schema per tenant.
        isolation: Isolation,
        /// Prefix of tenant database or schema names.
        prefix: String,
    },
    /// A MySQL or MariaDB server.
    MySql {
        /// Connection options (no database needed).
        options: Box<MySqlConnectOptions>,
        /// Prefix of tenant database names.
        prefix: String,
    },
}

/// A named database endpoint.
#[derive(Debug, Clone)]
pub struct Server {
    name: String,
    kind: ServerKind,
}

/// An open connection to one tenant database (or a shared server connection).
#[derive(Debug)]
#[non_exhaustive]
pub enum Connection {
    /// A SQLite connection.
    Sqlite(SqliteConnection),
    /// A PostgreSQL connection.
    Postgres(PgConnection),
    /// A MySQL or MariaDB connection.
    MySql(MySqlConnection),
}

impl Connection {
    /// The backend this connection talks to, for choosing SQL dialect.
    pub fn backend(&self) -> Backend {
        match self {
            Connection::Sqlite(_) => Backend::Sqlite,
            Connection::Postgres(_) => Backend::Postgres,
            Connection::MySql(_) => Backend::MySql,
        }
    }

    /// The SQLite connection, if this is one.
    pub fn as_sqlite(&mut self) -> Option<&mut SqliteConnection> {
        match self {
            Connection::Sqlite(conn) => Some(conn),
            _ => None,
        }
    }

    /// The PostgreSQL connection, if this is one.
    ///
    /// Note: on a schema-mode server the connection's `search_path` is the tenant's schema.
    /// Do not change it; if you must, [`crate::PooledConnection::discard`] the connection.
    pub fn as_postgres(&mut self) -> Option<&mut PgConnection> {
        match self {
            Connection::Postgres(conn) => Some(conn),
            _ => None,
        }
    }

    /// The MySQL connection, if this is one.
    ///
    /// Note: the connection is pointed at the tenant's database with `USE`. Do not switch
    /// it; if you must, [`crate::PooledConnection::discard`] the connection.
    pub fn as_mysql(&mut self) -> Option<&mut MySqlConnection> {
        match self {
            Connection::MySql(conn) => Some(conn),
            _ => None,
        }
    }

    /// Whether the connection still answers.
    pub async fn ping(&mut self) -> bool {
        use sqlx::Connection as _;
        let result = match self {
            Connection::Sqlite(conn) => conn.ping().await,
            Connection::Postgres(conn) => conn.ping().await,
            Connection::MySql(conn) => conn.ping().await,
        };
        result.is_ok()
    }

    /// Closes the connection cleanly: the server is told the session ends, and the socket
    /// is shut down.
    ///
    /// Note: the server may go on counting the session against its connection limits for a
    /// moment after this returns, until its backend has exited; the pool retries a connect
    /// refused for that reason.
    pub async fn close(self) {
        let result = match self {
            Connection::Sqlite(conn) => sqlite::close(conn).await,
            Connection::Postgres(conn) => postgres::close(conn).await,
            Connection::MySql(conn) => mysql::close(conn).await,
        };
        if let Err(error) = result {
            tracing::debug!(%error, "closing a tenant connection failed");
        }
    }
}

impl Server {
    /// A SQLite server keeping one file per tenant in `dir`.
    pub fn sqlite(name: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        Server {
            name: name.into(),
            kind: ServerKind::Sqlite { dir: dir.into() },
        }
    }

    /// A PostgreSQL server at `url` (`postgres://user@host:5432/database`).
    pub fn postgres(
        name: impl Into<String>,
        url: &str,
        isolation: Isolation,
        prefix: impl Into<String>,
    ) -> Result<Self, Error> {
        let options = PgConnectOptions::from_str(url).map_err(|error| invalid_url(url, error))?;
        let kind = ServerKind::Postgres {
            options: Box::new(options),
            isolation,
            prefix: prefix.into(),
        };
        Ok(Server {
            name: name.into(),
            kind,
        })
    }

    /// A MySQL or MariaDB server at `url` (`mysql://user@host:3306`).
    pub fn mysql(
        name: impl Into<String>,
        url: &str,
        prefix: impl Into<String>,
    ) -> Result<Self, Error> {
        let options =
            MySqlConnectOptions::from_str(url).map_err(|error| invalid_url(url, error))?;
        let kind = ServerKind::MySql {
            options: Box::new(options),
            prefix: prefix.into(),
        };
        Ok(Server {
            name: name.into(),
            kind,
        })
    }

    /// The server's configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's kind.
    pub fn kind(&self) -> &ServerKind {
        &self.kind
    }

    /// The backend the server speaks.
    pub fn backend(&self) -> Backend {
        match self.kind {
            ServerKind::Sqlite { .. } => Backend::Sqlite,
            ServerKind::Postgres { .. } => Backend::Postgres,
            ServerKind::MySql { .. } => Backend::MySql,
        }
    }

    /// Whether tenants share connections that are switched per checkout (PostgreSQL schema
    /// mode, MySQL) rather than each tenant database having its own.
    pub fn is_shared(&self) -> bool {
        matches!(
            self.kind,
            ServerKind::Postgres {
                isolation: Isolation::Schema,
                ..
            } | ServerKind::MySql { .. }
        )
    }

    /// The database (or schema) name of a tenant on this server: the id for SQLite files,
    /// the prefix and the id (`-` as `_`) elsewhere. Refused, before any DDL, when it does
    /// not fit the backend's limit: names are never truncated, so two tenants can never map
    /// to one database.
    pub fn database_name(&self, id: &TenantId) -> Result<String, Error> {
        let (prefix, limit, unit) = match &self.kind {
            ServerKind::Sqlite { .. } => return Ok(id.as_str().to_owned()),
            ServerKind::Postgres { prefix, .. } => (prefix, postgres::NAME_LIMIT, "bytes"),
            ServerKind::MySql { prefix, .. } => (prefix, mysql::NAME_LIMIT, "characters"),
        };
        // Ids hold no '_', so mapping '-' to '_' keeps distinct ids distinct.
        let name = format!("{prefix}{}", id.as_str().replace('-', "_"));
        let length = if unit == "bytes" {
            name.len()
        } else {
            name.chars().count()
        };
        if length > limit {
            return Err(Error::InvalidInput {
                field: "tenant id",
                reason: format!(
                    "the database name '{name}' on server '{}' would be {length} {unit}; \
                     {:?} allows {limit}: choose a shorter id",
                    self.name,
                    self.backend()
                ),
            });
        }
        Ok(name)
    }

    /// Where a database lives, for messages.
    pub fn location(&self, database: &str) -> String {
        match &self.kind {
            ServerKind::Sqlite { dir } => sqlite::location(dir, database),
            ServerKind::Postgres {
                isolation: Isolation::Schema,
                ..
            } => {
                format!("schema {database} on server {}", self.name)
            }
            _ => format!("database {database} on server {}", self.name),
        }
    }

    /// Opens a connection for `database`. On a shared server the connection goes to the
    /// server's own database and is switched to the tenant by the pool.
    ///
    /// A server that cannot be reached gives [`Error::ServerUnavailable`] (a 503), not a
    /// database error.
    pub async fn connect(&self, database: &str) -> Result<Connection, Error> {
        self.connect_raw(database)
            .await
            .map_err(|error| self.unavailable(error))
    }

    fn unavailable(&self, error: Error) -> Error {
        match error {
            // Refused, reset, or "the database system is starting up / shutting down".
            Error::Database(source) if crate::error::connection_lost(&source) => {
                Error::ServerUnavailable {
                    server: self.name.clone(),
                    source,
                }
            }
            other => other,
        }
    }

    async fn connect_raw(&self, database: &str) -> Result<Connection, Error> {
        match &self.kind {
            ServerKind::Sqlite { dir } => sqlite::connect(dir, database).await,
            ServerKind::Postgres {
                options,
                isolation: Isolation::Database,
                ..
            } => postgres::connect(options, Some(database)).await,
            ServerKind::Postgres { options, .. } => postgres::connect(options, None).await,
            ServerKind::MySql { options, .. } => mysql::connect(options).await,
        }
    }

    /// Opens a connection for DDL (create, drop, list). `None` for SQLite, which needs none.
    pub(crate) async fn connect_admin(&self) -> Result<Option<Connection>, Error> {
        match &self.kind {
            ServerKind::Sqlite { .. } => Ok(None),
            ServerKind::Postgres { options, .. } => {
                postgres::connect(options, None).await.map(Some)
            }
            ServerKind::MySql { options, .. } => mysql::connect(options).await.map(Some),
        }
    }

    /// Points a shared connection at `database`.
    pub(crate) async fn switch(&self, conn: &mut Connection, database: &str) -> Result<(), Error> {
        match conn {
            Connection::Postgres(conn) => postgres::switch(conn, database).await,
            Connection::MySql(conn) => mysql::switch(conn, database).await,
            Connection::Sqlite(_) => Ok(()),
        }
    }

    /// Creates the storage of a new tenant database and returns a connection to build it
    /// on, for SQLite (under its partial name). Network servers return `None`: the caller
    /// builds through the pool.
    pub(crate) async fn create_storage(
        &self,
        admin: Option<&mut Connection>,
        database: &str,
    ) -> Result<Option<Connection>, Error> {
        match (&self.kind, admin) {
            (ServerKind::Sqlite { dir }, _) => {
                sqlite::create_partial(dir, database).await.map(Some)
            }
            (ServerKind::Postgres { isolation, .. }, Some(Connection::Postgres(conn))) => {
                postgres::create(conn, *isolation == Isolation::Schema, database).await?;
                Ok(None)
            }
            (ServerKind::MySql { .. }, Some(Connection::MySql(conn))) => {
                mysql::create(conn, database).await?;
                Ok(None)
            }
            _ => Err(admin_missing(self)),
        }
    }

    /// Makes a built database visible under its name (SQLite renames the partial file).
    pub(crate) fn commit_storage(&self, database: &str) -> Result<(), Error> {
        match &self.kind {
            ServerKind::Sqlite { dir } => sqlite::commit(dir, database),
            _ => Ok(()),
        }
    }

    /// Removes a partial SQLite database left by a failed or interrupted creation.
    pub(crate) fn drop_partial(&self, database: &str) -> Result<(), Error> {
        match &self.kind {
            ServerKind::Sqlite { dir } => sqlite::drop_partial(dir, database),
            _ => Ok(()),
        }
    }

    /// Removes a tenant database. A database that is already gone is not an error.
    pub(crate) async fn drop_storage(
        &self,
        admin: Option<&mut Connection>,
        database: &str,
    ) -> Result<(), Error> {
        match (&self.kind, admin) {
            (ServerKind::Sqlite { dir }, _) => sqlite::drop_database(dir, database),
            (ServerKind::Postgres { isolation, .. }, Some(Connection::Postgres(conn))) => {
                postgres::drop(conn, *isolation == Isolation::Schema, database).await
            }
            (ServerKind::MySql { .. }, Some(Connection::MySql(conn))) => {
                mysql::drop(conn, database).await
            }
            _ => Err(admin_missing(self)),
        }
    }

    /// Whether the tenant database exists.
    pub(crate) async fn storage_exists(
        &self,
        admin: Option<&mut Connection>,
        database: &str,
    ) -> Result<bool, Error> {
        match (&self.kind, admin) {
            (ServerKind::Sqlite { dir }, _) => Ok(sqlite::exists(dir, database)),
            (ServerKind::Postgres { isolation, .. }, Some(Connection::Postgres(conn))) => {
                postgres::exists(conn, *isolation == Isolation::Schema, database).await
            }
            (ServerKind::MySql { .. }, Some(Connection::MySql(conn))) => {
                mysql::exists(conn, database).await
            }
            _ => Err(admin_missing(self)),
        }
    }

    /// The bytes a tenant database takes: SQLite its file and write-ahead log, PostgreSQL
    /// `pg_database_size` or the total size of the schema's tables (with their indexes and
    /// TOAST), MySQL the data and index lengths `information_schema` reports (an estimate
    /// InnoDB refreshes from time to time).
    pub(crate) async fn storage_size(
        &self,
        admin: Option<&mut Connection>,
        database: &str,
    ) -> Result<u64, Error> {
        match (&self.kind, admin) {
            (ServerKind::Sqlite { dir }, _) => sqlite::size(dir, database),
            (ServerKind::Postgres { isolation, .. }, Some(Connection::Postgres(conn))) => {
                postgres::size(conn, *isolation == Isolation::Schema, database).await
            }
            (ServerKind::MySql { .. }, Some(Connection::MySql(conn))) => {
                mysql::size(conn, database).await
            }
            _ => Err(admin_missing(self)),
        }
    }

    /// Every tenant database on the server (SQLite: half-built ones with their suffix;
    /// elsewhere: every database or schema carrying the prefix).
    pub(crate) async fn list_storage(
        &self,
        admin: Option<&mut Connection>,
    ) -> Result<Vec<String>, Error> {
        match (&self.kind, admin) {
            (ServerKind::Sqlite { dir }, _) => sqlite::list(dir),
            (
                ServerKind::Postgres {
                    isolation, prefix, ..
                },
                Some(Connection::Postgres(conn)),
            ) => postgres::list(conn, *isolation == Isolation::Schema, prefix).await,
            (ServerKind::MySql { prefix, .. }, Some(Connection::MySql(conn))) => {
                mysql::list(conn, prefix).await
            }
            _ => Err(admin_missing(self)),
        }
    }

    /// The file lock of a SQLite tenant database, waiting at most `wait`; `None` when it
    /// stayed taken. Network servers lock through a connection: see [`Self::try_lock`].
    pub async fn lock_file(
        &self,
        database: &str,
        wait: Duration,
    ) -> Result<Option<FileLock>, Error> {
        match &self.kind {
            ServerKind::Sqlite { dir } => {
                FileLock::acquire(&sqlite::lock_path(dir, database), wait).await
            }
            _ => Ok(None),
        }
    }

    /// Tries the server-side lock of one tenant on a connection (PostgreSQL advisory lock,
    /// MySQL named lock), released by [`Self::unlock`] or when the connection closes.
    pub(crate) async fn try_lock(
        &self,
        conn: &mut Connection,
        database: &str,
    ) -> Result<bool, Error> {
        let key = lock_key(database);
        match conn {
            Connection::Postgres(conn) => postgres::try_lock(conn, &key).await,
            Connection::MySql(conn) => mysql::try_lock(conn, &key).await,
            Connection::Sqlite(_) => Ok(true),
        }
    }

    /// Releases a lock taken with [`Self::try_lock`].
    pub(crate) async fn unlock(&self, conn: &mut Connection, database: &str) -> Result<(), Error> {
        let key = lock_key(database);
        match conn {
            Connection::Postgres(conn) => postgres::unlock(conn, &key).await,
            Connection::MySql(conn) => mysql::unlock(conn, &key).await,
            Connection::Sqlite(_) => Ok(()),
        }
    }
}

/// MySQL lock names hold 64 characters, as do its database names.
fn lock_key(database: &str) -> String {
    database.to_owned()
}

fn invalid_url(url: &str, error: sqlx::Error) -> Error {
    // The URL may hold a password: name the scheme and host only.
    let shown = url.split('@').next_back().unwrap_or("");
    Error::InvalidInput {
        field: "server url",
        reason: format!("cannot parse '…@{shown}': {error}"),
    }
}

fn admin_missing(server: &Server) -> Error {
    Error::InvalidInput {
        field: "server",
        reason: format!(
            "server '{}' needs an admin connection for this operation",
            server.name
        ),
    }
}

/// Quotes a PostgreSQL identifier.
pub(crate) fn quote_double(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a MySQL identifier.
pub(crate) fn quote_backtick(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> TenantId {
        TenantId::parse(raw).unwrap()
    }

    #[test]
    fn network_names_carry_the_prefix_and_map_hyphens_to_underscores() {
        let pg = Server::postgres(
            "pg1",
            "postgres://localhost/app",
            Isolation::Schema,
            "tenant_",
        )
        .unwrap();
        assert_eq!(pg.database_name(&id("acme-eu")).unwrap(), "tenant_acme_eu");
        let local = Server::sqlite("local", "data/tenants");
        assert_eq!(local.database_name(&id("acme-eu")).unwrap(), "acme-eu");
    }

    #[test]
    fn names_past_the_backend_limit_are_refused_not_truncated() {
        let pg = Server::postgres(
            "pg1",
            "postgres://localhost/app",
            Isolation::Database,
            "tenant_",
        )
        .unwrap();
        let long_a = format!("a{}", "x".repeat(60));
        let long_b = format!("a{}y", "x".repeat(59));
        for raw in [&long_a, &long_b] {
            let error = pg.database_name(&id(raw)).unwrap_err();
            assert!(error.to_string().contains("63"), "{error}");
        }
        let my = Server::mysql("my1", "mysql://root@localhost", "tenant_").unwrap();
        assert!(my.database_name(&id(&"m".repeat(57))).is_ok());
        assert!(my.database_name(&id(&"m".repeat(58))).is_err());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_double("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_backtick("a`b"), "`a``b`");
    }

    #[test]
    fn a_bad_url_does_not_echo_its_password() {
        let error = Server::postgres(
            "pg",
            "postgres://u:secret@host:notaport/db",
            Isolation::Schema,
            "t_",
        )
        .unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
    }
}

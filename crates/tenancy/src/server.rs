//! Servers: the named database endpoints tenants are placed on, and their storage.
//!
//! Only the embedded SQLite server (one file per tenant) exists so far. PostgreSQL and MySQL
//! servers are further variants of [`ServerKind`] with the same four storage operations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection as _, SqliteConnection};

use crate::error::Error;

/// How long a tenant database connection waits for SQLite's write lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Suffix of a tenant database that is still being built; renamed away when complete.
pub(crate) const PARTIAL_SUFFIX: &str = ".partial";

/// The kind of database a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Backend {
    /// SQLite.
    Sqlite,
}

/// What kind of server this is and where it keeps tenant databases.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServerKind {
    /// One SQLite file per tenant, `<dir>/<database>.sqlite`.
    Sqlite {
        /// The folder holding tenant files.
        dir: PathBuf,
    },
}

/// A named database endpoint.
#[derive(Debug, Clone)]
pub struct Server {
    name: String,
    kind: ServerKind,
}

/// An open connection to one tenant database.
#[derive(Debug)]
#[non_exhaustive]
pub enum Connection {
    /// A SQLite connection.
    Sqlite(SqliteConnection),
}

impl Connection {
    /// The backend this connection talks to, for choosing SQL dialect.
    pub fn backend(&self) -> Backend {
        match self {
            Connection::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The SQLite connection, if this is one.
    pub fn as_sqlite(&mut self) -> Option<&mut SqliteConnection> {
        match self {
            Connection::Sqlite(conn) => Some(conn),
        }
    }

    /// Closes the connection cleanly, waiting until the database is released.
    pub async fn close(self) {
        let result = match self {
            Connection::Sqlite(conn) => conn.close().await,
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
        }
    }

    /// Where a database lives, for messages (`data/tenants/acme.sqlite`).
    pub fn location(&self, database: &str) -> String {
        match &self.kind {
            ServerKind::Sqlite { dir } => sqlite_path(dir, database).display().to_string(),
        }
    }

    /// Opens a new connection to an existing tenant database.
    pub async fn connect(&self, database: &str) -> Result<Connection, Error> {
        match &self.kind {
            ServerKind::Sqlite { dir } => {
                let options = sqlite_options(&sqlite_path(dir, database)).create_if_missing(false);
                let conn = options.connect().await.map_err(Error::Database)?;
                Ok(Connection::Sqlite(conn))
            }
        }
    }

    /// Whether the tenant database exists.
    pub fn database_exists(&self, database: &str) -> Result<bool, Error> {
        match &self.kind {
            ServerKind::Sqlite { dir } => Ok(sqlite_path(dir, database).exists()),
        }
    }

    /// Every tenant database on the server, including half-built ones (with their suffix).
    pub fn list_databases(&self) -> Result<Vec<String>, Error> {
        match &self.kind {
            ServerKind::Sqlite { dir } => list_sqlite_files(dir),
        }
    }

    /// Creates the storage for a new database under its partial name and connects to it.
    ///
    /// The database becomes visible under its real name only through [`Self::commit_database`],
    /// so a failure at any step leaves nothing that looks like a tenant database.
    pub(crate) async fn create_partial(&self, database: &str) -> Result<Connection, Error> {
        match &self.kind {
            ServerKind::Sqlite { dir } => {
                std::fs::create_dir_all(dir)
                    .map_err(|error| Error::io("creating directory", dir, error))?;
                let partial = partial_path(dir, database);
                remove_sqlite_files(&partial)?;
                let options = sqlite_options(&partial).create_if_missing(true);
                let conn = options.connect().await.map_err(Error::Database)?;
                Ok(Connection::Sqlite(conn))
            }
        }
    }

    /// Gives a completed partial database its real name.
    pub(crate) fn commit_database(&self, database: &str) -> Result<(), Error> {
        match &self.kind {
            ServerKind::Sqlite { dir } => {
                let (from, to) = (partial_path(dir, database), sqlite_path(dir, database));
                // The partial connection was closed, which checkpoints and removes its WAL;
                // a stray WAL left by a crash belongs to the partial file and goes with it.
                remove_file_if_exists(&with_suffix(&from, "-wal"))?;
                remove_file_if_exists(&with_suffix(&from, "-shm"))?;
                std::fs::rename(&from, &to).map_err(|error| Error::io("renaming", &from, error))
            }
        }
    }

    /// Removes a partial database left by a failed or interrupted creation.
    pub(crate) fn drop_partial(&self, database: &str) -> Result<(), Error> {
        match &self.kind {
            ServerKind::Sqlite { dir } => remove_sqlite_files(&partial_path(dir, database)),
        }
    }

    /// Removes a tenant database. A database that is already gone is not an error.
    pub(crate) async fn drop_database(&self, database: &str) -> Result<(), Error> {
        match &self.kind {
            ServerKind::Sqlite { dir } => {
                remove_sqlite_files(&sqlite_path(dir, database))?;
                remove_file_if_exists(&lock_path(dir, database))
            }
        }
    }

    /// Takes the exclusive maintenance lock of one database (held by migrations), waiting at
    /// most `wait`. `None` means another holder kept it the whole time.
    ///
    /// The lock is the operating system's file lock, so it is released when its holder
    /// exits, even by a crash.
    pub async fn lock_database(
        &self,
        database: &str,
        wait: Duration,
    ) -> Result<Option<DatabaseLock>, Error> {
        match &self.kind {
            ServerKind::Sqlite { dir } => FileLock::acquire(&lock_path(dir, database), wait)
                .await
                .map(|lock| lock.map(|lock| DatabaseLock { _lock: lock })),
        }
    }
}

/// An exclusive lock on one tenant database; released when dropped.
#[derive(Debug)]
pub struct DatabaseLock {
    _lock: FileLock,
}

/// An exclusive advisory lock on a file, released when dropped or when the process exits.
#[derive(Debug)]
pub struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    /// Takes the lock, polling until `wait` has passed. `None` when it stayed taken.
    pub async fn acquire(path: &Path, wait: Duration) -> Result<Option<FileLock>, Error> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| Error::io("creating directory", parent, error))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|error| Error::io("opening lock file", path, error))?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Some(FileLock { _file: file })),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(error)) => {
                    return Err(Error::io("locking", path, error));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(LOCK_POLL_INTERVAL).await;
        }
    }
}

/// How often a waiting lock is tried again.
const LOCK_POLL_INTERVAL: Duration = Duration::from_millis(25);

fn lock_path(dir: &Path, database: &str) -> PathBuf {
    dir.join(format!("{database}.sqlite.lock"))
}

fn sqlite_path(dir: &Path, database: &str) -> PathBuf {
    dir.join(format!("{database}.sqlite"))
}

fn partial_path(dir: &Path, database: &str) -> PathBuf {
    dir.join(format!("{database}.sqlite{PARTIAL_SUFFIX}"))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut text = path.as_os_str().to_owned();
    text.push(suffix);
    PathBuf::from(text)
}

fn sqlite_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true)
}

fn remove_file_if_exists(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io("removing", path, error))
        }
        _ => Ok(()),
    }
}

fn remove_sqlite_files(path: &Path) -> Result<(), Error> {
    remove_file_if_exists(path)?;
    remove_file_if_exists(&with_suffix(path, "-wal"))?;
    remove_file_if_exists(&with_suffix(path, "-shm"))
}

fn list_sqlite_files(dir: &Path) -> Result<Vec<String>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(Error::io("listing", dir, error)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| Error::io("listing", dir, error))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".sqlite") {
            names.push(stem.to_owned());
        } else if let Some(stem) = name.strip_suffix(&format!(".sqlite{PARTIAL_SUFFIX}")) {
            names.push(format!("{stem}{PARTIAL_SUFFIX}"));
        }
    }
    names.sort();
    Ok(names)
}

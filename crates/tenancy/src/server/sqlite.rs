//! SQLite: one database file per tenant, `<dir>/<database>.sqlite`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection as _};

use super::{Connection, PARTIAL_SUFFIX};
use crate::error::Error;

/// How long a tenant database connection waits for SQLite's write lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a waiting file lock is tried again.
const LOCK_POLL_INTERVAL: Duration = Duration::from_millis(25);

pub(super) async fn connect(dir: &Path, database: &str) -> Result<Connection, Error> {
    let options = options(&sqlite_path(dir, database)).create_if_missing(false);
    let conn = options.connect().await.map_err(Error::Database)?;
    Ok(Connection::Sqlite(conn))
}

/// Creates the database under its partial name; [`commit`] gives it its real name.
pub(super) async fn create_partial(dir: &Path, database: &str) -> Result<Connection, Error> {
    std::fs::create_dir_all(dir).map_err(|error| Error::io("creating directory", dir, error))?;
    let partial = partial_path(dir, database);
    remove_sqlite_files(&partial)?;
    let conn = options(&partial)
        .create_if_missing(true)
        .connect()
        .await
        .map_err(Error::Database)?;
    Ok(Connection::Sqlite(conn))
}

pub(super) fn commit(dir: &Path, database: &str) -> Result<(), Error> {
    let (from, to) = (partial_path(dir, database), sqlite_path(dir, database));
    // The partial connection was closed, which checkpoints and removes its WAL; a stray
    // WAL left by a crash belongs to the partial file and goes with it.
    remove_file_if_exists(&with_suffix(&from, "-wal"))?;
    remove_file_if_exists(&with_suffix(&from, "-shm"))?;
    std::fs::rename(&from, &to).map_err(|error| Error::io("renaming", &from, error))
}

pub(super) fn drop_partial(dir: &Path, database: &str) -> Result<(), Error> {
    remove_sqlite_files(&partial_path(dir, database))
}

pub(super) fn drop_database(dir: &Path, database: &str) -> Result<(), Error> {
    remove_sqlite_files(&sqlite_path(dir, database))?;
    remove_file_if_exists(&lock_path(dir, database))
}

pub(super) fn exists(dir: &Path, database: &str) -> bool {
    sqlite_path(dir, database).exists()
}

pub(super) fn size(dir: &Path, database: &str) -> Result<u64, Error> {
    let path = sqlite_path(dir, database);
    let main = std::fs::metadata(&path).map_err(|error| Error::io("reading", &path, error))?;
    // The write-ahead log holds pages not yet checkpointed into the file; it may be absent.
    let wal = std::fs::metadata(with_suffix(&path, "-wal")).map_or(0, |meta| meta.len());
    Ok(main.len() + wal)
}

pub(super) fn location(dir: &Path, database: &str) -> String {
    sqlite_path(dir, database).display().to_string()
}

pub(super) fn lock_path(dir: &Path, database: &str) -> PathBuf {
    dir.join(format!("{database}.sqlite.lock"))
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

fn options(path: &Path) -> SqliteConnectOptions {
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

pub(super) fn list(dir: &Path) -> Result<Vec<String>, Error> {
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

pub(super) async fn close(conn: sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    conn.close().await
}

//! The notes workload's queries, once per backend.
//!
//! The demo's handlers and seeder speak to [`NotesDb`], a borrowed connection to one
//! tenant's database on SQLite, PostgreSQL or MySQL. Each operation below matches on the
//! backend and runs that backend's SQL: the placeholders, the way an insert hands back its
//! row, and the type of `created_at` differ, the results do not.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use sqlx::{MySqlConnection, PgConnection, Row, SqliteConnection};
use tenancy::Connection;

/// A note as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// Generated, only grows.
    pub id: i64,
    /// Not empty.
    pub title: String,
    /// Not empty.
    pub body: String,
    /// RFC 3339 in UTC with milliseconds, the same text on every backend.
    pub created_at: String,
}

/// A connection to one tenant's notes, whichever backend holds them.
#[derive(Debug)]
pub enum NotesDb<'c> {
    /// A SQLite tenant file.
    Sqlite(&'c mut SqliteConnection),
    /// A PostgreSQL database or schema.
    Postgres(&'c mut PgConnection),
    /// A MySQL or MariaDB database.
    MySql(&'c mut MySqlConnection),
}

impl<'c> From<&'c mut Connection> for NotesDb<'c> {
    fn from(conn: &'c mut Connection) -> Self {
        // `Connection` is non-exhaustive, so it cannot be matched from this crate; these are
        // all the backends it has. A new one must get its queries here before it can serve
        // the demo, and the panic below names the mistake.
        if conn.as_sqlite().is_some() {
            return NotesDb::Sqlite(conn.as_sqlite().expect("checked just above"));
        }
        if conn.as_postgres().is_some() {
            return NotesDb::Postgres(conn.as_postgres().expect("checked just above"));
        }
        NotesDb::MySql(
            conn.as_mysql()
                .expect("a tenant connection is SQLite, PostgreSQL or MySQL"),
        )
    }
}

const COLUMNS: &str = "id, title, body, created_at";

// The statements below differ per backend only in their placeholders and row types, which
// sqlx fixes at compile time per database; these macros spell the shared steps once.

/// Runs one insert per note inside a transaction on `$conn`.
macro_rules! insert_each {
    ($conn:expr, $sql:literal, $notes:expr) => {{
        let mut tx = sqlx::Connection::begin($conn).await?;
        for (title, body) in $notes {
            sqlx::query($sql)
                .bind(title)
                .bind(body)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }};
}

/// Runs a delete by id on `$conn`, giving the rows it removed.
macro_rules! delete_by_id {
    ($conn:expr, $sql:literal, $id:expr) => {
        sqlx::query($sql)
            .bind($id)
            .execute($conn)
            .await?
            .rows_affected()
    };
}

/// The newest `limit` notes, newest first.
pub async fn list(db: NotesDb<'_>, limit: i64) -> Result<Vec<Note>, sqlx::Error> {
    match db {
        NotesDb::Sqlite(conn) => {
            let sql = format!("SELECT {COLUMNS} FROM notes ORDER BY id DESC LIMIT ?");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(limit)
                .fetch_all(conn)
                .await?;
            rows.iter().map(sqlite_note).collect()
        }
        NotesDb::Postgres(conn) => {
            let sql = format!("SELECT {COLUMNS} FROM notes ORDER BY id DESC LIMIT $1");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(limit)
                .fetch_all(conn)
                .await?;
            rows.iter().map(postgres_note).collect()
        }
        NotesDb::MySql(conn) => {
            let sql = format!("SELECT {COLUMNS} FROM notes ORDER BY id DESC LIMIT ?");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(limit)
                .fetch_all(conn)
                .await?;
            rows.iter().map(mysql_note).collect()
        }
    }
}

/// The note with this id, if any.
pub async fn get(db: NotesDb<'_>, id: i64) -> Result<Option<Note>, sqlx::Error> {
    match db {
        NotesDb::Sqlite(conn) => {
            let sql = format!("SELECT {COLUMNS} FROM notes WHERE id = ?");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(conn)
                .await?;
            row.as_ref().map(sqlite_note).transpose()
        }
        NotesDb::Postgres(conn) => {
            let sql = format!("SELECT {COLUMNS} FROM notes WHERE id = $1");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(conn)
                .await?;
            row.as_ref().map(postgres_note).transpose()
        }
        NotesDb::MySql(conn) => get_mysql(conn, id).await,
    }
}

async fn get_mysql(conn: &mut MySqlConnection, id: i64) -> Result<Option<Note>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM notes WHERE id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(mysql_note).transpose()
}

/// Writes a note and returns it as stored.
pub async fn insert(db: NotesDb<'_>, title: &str, body: &str) -> Result<Note, sqlx::Error> {
    match db {
        NotesDb::Sqlite(conn) => {
            let sql = format!("INSERT INTO notes (title, body) VALUES (?, ?) RETURNING {COLUMNS}");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(title)
                .bind(body)
                .fetch_one(conn)
                .await?;
            sqlite_note(&row)
        }
        NotesDb::Postgres(conn) => {
            let sql =
                format!("INSERT INTO notes (title, body) VALUES ($1, $2) RETURNING {COLUMNS}");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(title)
                .bind(body)
                .fetch_one(conn)
                .await?;
            postgres_note(&row)
        }
        NotesDb::MySql(conn) => insert_mysql(conn, title, body).await,
    }
}

/// MySQL has no `RETURNING`: the generated id comes back with the result, and the row is
/// read on the same connection.
async fn insert_mysql(
    conn: &mut MySqlConnection,
    title: &str,
    body: &str,
) -> Result<Note, sqlx::Error> {
    let done = sqlx::query("INSERT INTO notes (title, body) VALUES (?, ?)")
        .bind(title)
        .bind(body)
        .execute(&mut *conn)
        .await?;
    let id = i64::try_from(done.last_insert_id()).map_err(|e| sqlx::Error::Decode(e.into()))?;

    get_mysql(conn, id).await?.ok_or(sqlx::Error::RowNotFound)
}

/// Deletes a note; whether it existed.
pub async fn delete(db: NotesDb<'_>, id: i64) -> Result<bool, sqlx::Error> {
    let affected = match db {
        NotesDb::Sqlite(conn) => delete_by_id!(conn, "DELETE FROM notes WHERE id = ?", id),
        NotesDb::Postgres(conn) => delete_by_id!(conn, "DELETE FROM notes WHERE id = $1", id),
        NotesDb::MySql(conn) => delete_by_id!(conn, "DELETE FROM notes WHERE id = ?", id),
    };
    Ok(affected > 0)
}

/// Writes `notes` in one transaction: a hundred separate commits would each wait for the
/// disk.
pub async fn insert_many(db: NotesDb<'_>, notes: &[(String, String)]) -> Result<(), sqlx::Error> {
    match db {
        NotesDb::Sqlite(conn) => {
            insert_each!(conn, "INSERT INTO notes (title, body) VALUES (?, ?)", notes)
        }
        NotesDb::Postgres(conn) => {
            insert_each!(
                conn,
                "INSERT INTO notes (title, body) VALUES ($1, $2)",
                notes
            )
        }
        NotesDb::MySql(conn) => {
            insert_each!(conn, "INSERT INTO notes (title, body) VALUES (?, ?)", notes)
        }
    }
}

fn sqlite_note(row: &sqlx::sqlite::SqliteRow) -> Result<Note, sqlx::Error> {
    Ok(Note {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        // Stored as RFC 3339 text by the column's default.
        created_at: row.try_get("created_at")?,
    })
}

fn postgres_note(row: &sqlx::postgres::PgRow) -> Result<Note, sqlx::Error> {
    let created_at: DateTime<Utc> = row.try_get("created_at")?;
    Ok(Note {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        created_at: rfc3339(created_at),
    })
}

fn mysql_note(row: &sqlx::mysql::MySqlRow) -> Result<Note, sqlx::Error> {
    // DATETIME has no zone; the column's default writes UTC.
    let created_at: NaiveDateTime = row.try_get("created_at")?;
    Ok(Note {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        created_at: rfc3339(created_at.and_utc()),
    })
}

/// The format SQLite's column default writes, so every backend answers alike.
fn rfc3339(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

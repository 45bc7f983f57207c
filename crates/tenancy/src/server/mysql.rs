//! MySQL and MariaDB: a database per tenant, reached through one shared pool per server.

use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection as _, MySqlConnection};

use super::{Connection, quote_backtick};
use crate::error::Error;

/// MySQL's identifier limit, in characters.
pub(super) const NAME_LIMIT: usize = 64;

pub(super) async fn connect(options: &MySqlConnectOptions) -> Result<Connection, Error> {
    let conn = options.clone().connect().await.map_err(Error::Database)?;
    Ok(Connection::MySql(conn))
}

/// Points the connection at a tenant's database. `USE` is refused by the prepared-statement
/// protocol, so it goes as plain text.
///
/// The server binds a prepared statement's tables to the database that was current when it
/// was prepared: a statement cached for the previous tenant would keep reading that tenant's
/// tables after `USE`. The connection's statement cache is therefore emptied on every switch.
pub(super) async fn switch(conn: &mut MySqlConnection, database: &str) -> Result<(), Error> {
    let sql = format!("USE {}", quote_backtick(database));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .map_err(Error::Database)?;
    conn.clear_cached_statements()
        .await
        .map_err(Error::Database)?;
    Ok(())
}

pub(super) async fn create(conn: &mut MySqlConnection, name: &str) -> Result<(), Error> {
    let sql = format!(
        "CREATE DATABASE {} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        quote_backtick(name)
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map_err(Error::Database)?;
    Ok(())
}

pub(super) async fn drop(conn: &mut MySqlConnection, name: &str) -> Result<(), Error> {
    let sql = format!("DROP DATABASE IF EXISTS {}", quote_backtick(name));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map_err(Error::Database)?;
    Ok(())
}

pub(super) async fn list(conn: &mut MySqlConnection, prefix: &str) -> Result<Vec<String>, Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata ORDER BY 1",
    )
    .fetch_all(conn)
    .await
    .map_err(Error::Database)?;
    Ok(names
        .into_iter()
        .filter(|name| name.starts_with(prefix))
        .collect())
}

pub(super) async fn exists(conn: &mut MySqlConnection, name: &str) -> Result<bool, Error> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?",
    )
    .bind(name)
    .fetch_one(conn)
    .await
    .map_err(Error::Database)?;
    Ok(count > 0)
}

pub(super) async fn size(conn: &mut MySqlConnection, name: &str) -> Result<u64, Error> {
    let bytes: u64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(data_length + index_length), 0) AS UNSIGNED) \
         FROM information_schema.tables WHERE table_schema = ?",
    )
    .bind(name)
    .fetch_one(conn)
    .await
    .map_err(Error::Database)?;
    Ok(bytes)
}

/// Tries the named lock of one tenant; held until released or the connection closes.
pub(super) async fn try_lock(conn: &mut MySqlConnection, key: &str) -> Result<bool, Error> {
    let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)")
        .bind(key)
        .fetch_one(conn)
        .await
        .map_err(Error::Database)?;
    Ok(got == Some(1))
}

pub(super) async fn unlock(conn: &mut MySqlConnection, key: &str) -> Result<(), Error> {
    sqlx::query("SELECT RELEASE_LOCK(?)")
        .bind(key)
        .execute(conn)
        .await
        .map_err(Error::Database)?;
    Ok(())
}

pub(super) async fn close(conn: MySqlConnection) -> Result<(), sqlx::Error> {
    conn.close().await
}

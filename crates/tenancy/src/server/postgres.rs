//! PostgreSQL: a database per tenant, or a schema per tenant in the server's database.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection as _, Executor, PgConnection};

use super::{Connection, quote_double};
use crate::error::Error;

/// PostgreSQL's identifier limit, in bytes.
pub(super) const NAME_LIMIT: usize = 63;

pub(super) async fn connect(
    options: &PgConnectOptions,
    database: Option<&str>,
) -> Result<Connection, Error> {
    let options = match database {
        Some(database) => options.clone().database(database),
        None => options.clone(),
    };
    let conn = options.connect().await.map_err(Error::Database)?;
    Ok(Connection::Postgres(conn))
}

/// Points the connection at a tenant's schema, and only it: `public` is left out so an
/// unqualified name can never resolve to a shared table by accident.
pub(super) async fn switch(conn: &mut PgConnection, schema: &str) -> Result<(), Error> {
    let sql = format!("SET search_path TO {}", quote_double(schema));
    conn.execute(sqlx::AssertSqlSafe(sql))
        .await
        .map_err(Error::Database)?;
    Ok(())
}

pub(super) async fn create(
    conn: &mut PgConnection,
    schema_mode: bool,
    name: &str,
) -> Result<(), Error> {
    // CREATE DATABASE cannot run inside a transaction; a plain statement does not start one.
    let kind = if schema_mode { "SCHEMA" } else { "DATABASE" };
    let sql = format!("CREATE {kind} {}", quote_double(name));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map_err(Error::Database)?;
    Ok(())
}

pub(super) async fn drop(
    conn: &mut PgConnection,
    schema_mode: bool,
    name: &str,
) -> Result<(), Error> {
    let sql = match schema_mode {
        true => format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_double(name)),
        false => format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_double(name)
        ),
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map_err(Error::Database)?;
    Ok(())
}

pub(super) async fn list(
    conn: &mut PgConnection,
    schema_mode: bool,
    prefix: &str,
) -> Result<Vec<String>, Error> {
    let sql = match schema_mode {
        true => "SELECT nspname FROM pg_namespace ORDER BY 1",
        false => "SELECT datname FROM pg_database ORDER BY 1",
    };
    let names: Vec<String> = sqlx::query_scalar(sql)
        .fetch_all(conn)
        .await
        .map_err(Error::Database)?;
    Ok(names
        .into_iter()
        .filter(|name| name.starts_with(prefix))
        .collect())
}

pub(super) async fn exists(
    conn: &mut PgConnection,
    schema_mode: bool,
    name: &str,
) -> Result<bool, Error> {
    let sql = match schema_mode {
        true => "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
        false => "SELECT count(*) FROM pg_database WHERE datname = $1",
    };
    let count: i64 = sqlx::query_scalar(sql)
        .bind(name)
        .fetch_one(conn)
        .await
        .map_err(Error::Database)?;
    Ok(count > 0)
}

pub(super) async fn size(
    conn: &mut PgConnection,
    schema_mode: bool,
    name: &str,
) -> Result<u64, Error> {
    let sql = match schema_mode {
        true => {
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')"
        }
        false => "SELECT pg_database_size($1)",
    };
    let bytes: i64 = sqlx::query_scalar(sql)
        .bind(name)
        .fetch_one(conn)
        .await
        .map_err(Error::Database)?;
    Ok(u64::try_from(bytes).unwrap_or(0))
}

/// Tries the session-level advisory lock of one tenant; held until unlocked or the
/// connection closes, so a crashed holder cannot keep it.
pub(super) async fn try_lock(conn: &mut PgConnection, key: &str) -> Result<bool, Error> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(key)
        .fetch_one(conn)
        .await
        .map_err(Error::Database)
}

pub(super) async fn unlock(conn: &mut PgConnection, key: &str) -> Result<(), Error> {
    sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
        .bind(key)
        .execute(conn)
        .await
        .map_err(Error::Database)?;
    Ok(())
}

pub(super) async fn close(conn: PgConnection) -> Result<(), sqlx::Error> {
    conn.close().await
}

//! The network servers the tests run against, and clearing what an interrupted run left.
//!
//! URLs come from `TENANCY_TEST_POSTGRES_URL` and `TENANCY_TEST_MYSQL_URL`, defaulting to the
//! servers of a development machine. A server that cannot be reached fails the test that
//! needs it: these tests never skip.

use tenancy::sqlx::{self, Connection as _};

pub fn postgres_url() -> String {
    std::env::var("TENANCY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn mysql_url() -> String {
    std::env::var("TENANCY_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// Drops every schema whose name starts with `prefix` in the server's database.
pub async fn drop_postgres_schemas(prefix: &str) {
    let mut conn = sqlx::PgConnection::connect(&postgres_url())
        .await
        .expect("PostgreSQL must be reachable at TENANCY_TEST_POSTGRES_URL");
    let names: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)")
            .bind(prefix)
            .fetch_all(&mut conn)
            .await
            .expect("listing schemas");
    for name in names {
        let drop = format!("DROP SCHEMA \"{name}\" CASCADE");
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&mut conn)
            .await
            .expect("dropping a leftover schema");
    }
}

/// Drops every database whose name starts with `prefix`.
pub async fn drop_mysql_databases(prefix: &str) {
    let mut conn = sqlx::MySqlConnection::connect(&mysql_url())
        .await
        .expect("MariaDB must be reachable at TENANCY_TEST_MYSQL_URL");
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA \
         WHERE SCHEMA_NAME LIKE CONCAT(?, '%')",
    )
    .bind(prefix)
    .fetch_all(&mut conn)
    .await
    .expect("listing databases");
    for name in names {
        let drop = format!("DROP DATABASE `{name}`");
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&mut conn)
            .await
            .expect("dropping a leftover database");
    }
}

/// Drops every database whose name starts with `prefix` on the PostgreSQL server.
pub async fn drop_postgres_databases(prefix: &str) {
    let mut conn = sqlx::PgConnection::connect(&postgres_url())
        .await
        .expect("PostgreSQL must be reachable at TENANCY_TEST_POSTGRES_URL");
    for name in postgres_names(prefix, false).await {
        let drop = format!("DROP DATABASE \"{name}\" WITH (FORCE)");
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&mut conn)
            .await
            .expect("dropping a leftover database");
    }
}

/// Schemas (in the URL's database) or databases on the PostgreSQL server whose names start
/// with `prefix`, as the server spells them.
pub async fn postgres_names(prefix: &str, schemas: bool) -> Vec<String> {
    let mut conn = sqlx::PgConnection::connect(&postgres_url())
        .await
        .expect("PostgreSQL must be reachable at TENANCY_TEST_POSTGRES_URL");
    let sql = match schemas {
        true => "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY 1",
        false => "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1",
    };
    sqlx::query_scalar(sql)
        .bind(prefix)
        .fetch_all(&mut conn)
        .await
        .expect("listing PostgreSQL names")
}

/// Databases on the MariaDB server whose names start with `prefix`.
pub async fn mysql_names(prefix: &str) -> Vec<String> {
    let mut conn = sqlx::MySqlConnection::connect(&mysql_url())
        .await
        .expect("MariaDB must be reachable at TENANCY_TEST_MYSQL_URL");
    sqlx::query_scalar(
        "SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA \
         WHERE SCHEMA_NAME LIKE CONCAT(?, '%') ORDER BY 1",
    )
    .bind(prefix)
    .fetch_all(&mut conn)
    .await
    .expect("listing databases")
}

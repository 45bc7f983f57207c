//! The network servers the binary's tests place tenants on, and clearing what an interrupted
//! run left there.
//!
//! URLs come from `TENANCY_TEST_POSTGRES_URL` and `TENANCY_TEST_MYSQL_URL`, defaulting to the
//! local servers. A server that cannot be reached fails the test: these tests never skip.

use sqlx::Connection as _;

pub fn postgres_url() -> String {
    std::env::var("TENANCY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn mysql_url() -> String {
    std::env::var("TENANCY_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// What to clear on PostgreSQL: databases or schemas.
#[derive(Debug, Clone, Copy)]
pub enum PgObjects {
    Databases,
    Schemas,
}

/// Drops every PostgreSQL database or schema whose name starts with `prefix`.
pub fn drop_postgres(objects: PgObjects, prefix: &str) {
    let (list, drop) = match objects {
        PgObjects::Databases => (
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)",
            "DROP DATABASE \"{}\" WITH (FORCE)",
        ),
        PgObjects::Schemas => (
            "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)",
            "DROP SCHEMA \"{}\" CASCADE",
        ),
    };
    crate::support::block_on(async {
        let mut pg = sqlx::PgConnection::connect(&postgres_url())
            .await
            .expect("PostgreSQL must be reachable at TENANCY_TEST_POSTGRES_URL");
        let names: Vec<String> = sqlx::query_scalar(list)
            .bind(prefix)
            .fetch_all(&mut pg)
            .await
            .expect("listing PostgreSQL leftovers");
        for name in names {
            let statement = drop.replace("{}", &name);
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut pg)
                .await
                .expect("dropping a PostgreSQL leftover");
        }
    });
}

/// Drops every MySQL or MariaDB database whose name starts with `prefix`.
pub fn drop_mysql_databases(prefix: &str) {
    crate::support::block_on(async {
        let mut my = sqlx::MySqlConnection::connect(&mysql_url())
            .await
            .expect("MariaDB must be reachable at TENANCY_TEST_MYSQL_URL");
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA \
             WHERE SCHEMA_NAME LIKE CONCAT(?, '%')",
        )
        .bind(prefix)
        .fetch_all(&mut my)
        .await
        .expect("listing MariaDB leftovers");
        for name in names {
            let statement = format!("DROP DATABASE `{name}`");
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut my)
                .await
                .expect("dropping a MariaDB leftover");
        }
    });
}

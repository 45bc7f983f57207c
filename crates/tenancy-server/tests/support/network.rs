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

/// A catalog database of its own on the test PostgreSQL or MariaDB server, for the binary's
/// `TENANCY_CATALOG_URL`; dropped when this is dropped (also when the test panics).
pub struct CatalogDatabase {
    server: CatalogServer,
    name: String,
    /// The `catalog.url` naming it.
    pub url: String,
}

/// Which test server holds a [`CatalogDatabase`].
#[derive(Debug, Clone, Copy)]
pub enum CatalogServer {
    Postgres,
    MySql,
}

impl CatalogDatabase {
    /// Creates an empty database with a name no other test uses.
    pub fn create(server: CatalogServer) -> Self {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .subsec_nanos();
        let name = format!("tcatbin_{}_{n}_{nanos}", std::process::id());
        let server_url = match server {
            CatalogServer::Postgres => postgres_url(),
            CatalogServer::MySql => mysql_url(),
        };
        let (scheme, rest) = server_url
            .split_once("://")
            .expect("a test server URL has a scheme");
        let authority = rest.split(['/', '?']).next().unwrap_or(rest);
        let url = format!("{scheme}://{authority}/{name}");
        let database = CatalogDatabase { server, name, url };
        database.execute(&server_url, false);
        database
    }

    fn execute(&self, server_url: &str, drop: bool) {
        let statement = match (self.server, drop) {
            (CatalogServer::Postgres, false) => format!("CREATE DATABASE \"{}\"", self.name),
            (CatalogServer::Postgres, true) => {
                format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)
            }
            (CatalogServer::MySql, false) => format!("CREATE DATABASE `{}`", self.name),
            (CatalogServer::MySql, true) => format!("DROP DATABASE IF EXISTS `{}`", self.name),
        };
        crate::support::block_on(async {
            let sql = sqlx::AssertSqlSafe(statement.clone());
            let result = match self.server {
                CatalogServer::Postgres => {
                    let mut pg = sqlx::PgConnection::connect(server_url)
                        .await
                        .expect("PostgreSQL must be reachable at TENANCY_TEST_POSTGRES_URL");
                    sqlx::raw_sql(sql).execute(&mut pg).await.map(drop_result)
                }
                CatalogServer::MySql => {
                    let mut my = sqlx::MySqlConnection::connect(server_url)
                        .await
                        .expect("MariaDB must be reachable at TENANCY_TEST_MYSQL_URL");
                    sqlx::raw_sql(sql).execute(&mut my).await.map(drop_result)
                }
            };
            result.unwrap_or_else(|error| panic!("{statement}: {error}"));
        });
    }
}

fn drop_result<T>(_: T) {}

impl Drop for CatalogDatabase {
    fn drop(&mut self) {
        let server_url = match self.server {
            CatalogServer::Postgres => postgres_url(),
            CatalogServer::MySql => mysql_url(),
        };
        self.execute(&server_url, true);
    }
}

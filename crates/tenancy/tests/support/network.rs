//! The network servers the tests run against, clearing what an interrupted run left, and
//! catalogs of their own on them. The HTTP tests of `tenancy-axum` include this file too.
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

/// A catalog database of its own on the test PostgreSQL or MariaDB server, dropped when
/// this is dropped (also when the test panics).
pub struct CatalogDatabase {
    backend: tenancy::Backend,
    name: String,
    /// The `catalog.url` naming it.
    pub url: String,
}

impl CatalogDatabase {
    /// Creates an empty database with a name no other test uses.
    pub async fn create(backend: tenancy::Backend) -> Self {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .subsec_nanos();
        let name = format!("tcat_{}_{n}_{nanos}", std::process::id());
        let (server_url, url) = match backend {
            tenancy::Backend::Postgres => {
                let server = postgres_url();
                let url = with_database(&server, &name);
                (server, url)
            }
            tenancy::Backend::MySql => {
                let server = mysql_url();
                let url = with_database(&server, &name);
                (server, url)
            }
            other => panic!("no test server for a {other:?} catalog"),
        };
        let database = CatalogDatabase { backend, name, url };
        database.run_on_server(&server_url, "CREATE DATABASE").await;
        database
    }

    async fn run_on_server(&self, server_url: &str, verb: &str) {
        let statement = match (self.backend, verb) {
            (tenancy::Backend::Postgres, "DROP DATABASE") => {
                format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)
            }
            (tenancy::Backend::Postgres, _) => format!("{verb} \"{}\"", self.name),
            (_, "DROP DATABASE") => format!("DROP DATABASE IF EXISTS `{}`", self.name),
            _ => format!("{verb} `{}`", self.name),
        };
        let result = match self.backend {
            tenancy::Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(server_url)
                    .await
                    .expect("PostgreSQL must be reachable at TENANCY_TEST_POSTGRES_URL");
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&mut conn)
                    .await
                    .map(drop)
            }
            _ => {
                let mut conn = sqlx::MySqlConnection::connect(server_url)
                    .await
                    .expect("MariaDB must be reachable at TENANCY_TEST_MYSQL_URL");
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                    .execute(&mut conn)
                    .await
                    .map(drop)
            }
        };
        result.unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
}

impl Drop for CatalogDatabase {
    fn drop(&mut self) {
        let server_url = match self.backend {
            tenancy::Backend::Postgres => postgres_url(),
            _ => mysql_url(),
        };
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its
        // own with a small runtime drops the database.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a Tokio runtime starts")
                    .block_on(self.run_on_server(&server_url, "DROP DATABASE"));
            });
        });
    }
}

/// The server URL with its database replaced by `database`.
fn with_database(server_url: &str, database: &str) -> String {
    let (scheme, rest) = server_url
        .split_once("://")
        .expect("a test server URL has a scheme");
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    format!("{scheme}://{authority}/{database}")
}

/// The catalog of a test: the default SQLite file in the data directory, or a database of
/// its own on the test PostgreSQL or MariaDB server, dropped with this.
pub struct TestCatalog {
    database: Option<CatalogDatabase>,
}

impl TestCatalog {
    pub async fn new(backend: tenancy::Backend) -> Self {
        let database = match backend {
            tenancy::Backend::Sqlite => None,
            network => Some(CatalogDatabase::create(network).await),
        };
        TestCatalog { database }
    }

    /// The catalog URL, `None` for the default SQLite file.
    pub fn url(&self) -> Option<&str> {
        self.database.as_ref().map(|database| database.url.as_str())
    }

    /// The catalog alone, for a tenancy whose data is in `data_dir`.
    pub async fn open(&self, data_dir: &std::path::Path) -> tenancy::catalog::Catalog {
        let opened = match self.url() {
            Some(url) => tenancy::catalog::Catalog::open(url).await,
            None => tenancy::catalog::Catalog::open_sqlite(&data_dir.join("catalog.sqlite")).await,
        };
        opened.expect("the test catalog opens")
    }

    /// Points a builder at this catalog.
    pub fn apply(&self, builder: tenancy::TenancyBuilder) -> tenancy::TenancyBuilder {
        match self.url() {
            Some(url) => builder.catalog_url(url),
            None => builder,
        }
    }
}

/// Declares an async test function taking a [`Backend`] as one test per catalog backend:
/// `name::sqlite`, `name::postgres` and `name::mysql`.
#[macro_export]
macro_rules! on_every_catalog {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(tenancy::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(tenancy::Backend::Postgres).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    super::$name(tenancy::Backend::MySql).await
                }
            }
        )*
    };
}

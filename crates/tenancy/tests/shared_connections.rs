//! A shared connection (MySQL, PostgreSQL schema mode) handed from one tenant to the next
//! must not carry the first tenant's prepared statements along: on MySQL a prepared
//! statement keeps the database it was prepared in, whatever `USE` says afterwards.
//!
//! With a budget of one connection every checkout below gets the same connection, so each
//! query runs right after a switch. The servers come from `TENANCY_TEST_POSTGRES_URL` and
//! `TENANCY_TEST_MYSQL_URL`; an unreachable server fails the test.

use tenancy::sqlx::{self, Connection as _};
use tenancy::{
    EmbeddedMigration, Isolation, NewTenant, PoolOptions, Server, ServerOptions, Tenancy, TenantId,
    TenantMigrations,
};

fn postgres_url() -> String {
    std::env::var("TENANCY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn mysql_url() -> String {
    std::env::var("TENANCY_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

const TENANTS: [&str; 3] = ["red", "green", "blue"];

async fn open(dir: &std::path::Path, server: Server, notes: &'static str) -> Tenancy {
    let pool = PoolOptions {
        max_connections: 1,
        ..PoolOptions::default()
    };
    Tenancy::builder(dir)
        .local_server(None)
        .pool(pool)
        .server(server, ServerOptions::default())
        .migrations(TenantMigrations::embedded(&[EmbeddedMigration {
            version: 1,
            description: "notes",
            sql: notes,
        }]))
        .build()
        .await
        .expect("tenancy opens")
}

fn id(raw: &str) -> TenantId {
    TenantId::parse(raw).expect("valid test id")
}

/// Creates the tenants, each holding one note titled with its id.
async fn create_all(tenancy: &Tenancy) {
    for raw in TENANTS {
        let tenant = tenancy
            .create_tenant(NewTenant::new(id(raw)))
            .await
            .unwrap();
        let insert = format!("INSERT INTO notes (title) VALUES ('{raw}')");
        tenancy.run_sql(&tenant, &insert).await.unwrap();
    }
}

/// Connections the pools have opened so far (admin connections aside).
fn opened(tenancy: &Tenancy) -> u64 {
    tenancy.pools().stats().iter().map(|s| s.misses).sum()
}

async fn delete_all(tenancy: &Tenancy) {
    for raw in TENANTS {
        tenancy.delete_tenant(&id(raw)).await.unwrap();
    }
    tenancy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_prepared_statements_follow_the_tenant_after_a_switch() {
    let prefix = "shared_my_";
    drop_mysql_leftovers(prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::mysql("my", &mysql_url(), prefix).unwrap();
    let tenancy = open(
        dir.path(),
        server,
        "CREATE TABLE notes (id BIGINT AUTO_INCREMENT PRIMARY KEY, title VARCHAR(50) NOT NULL)",
    )
    .await;
    create_all(&tenancy).await;
    let opened_before = opened(&tenancy);

    for round in 0..5 {
        for raw in TENANTS {
            let tenant = tenancy.catalog().require_tenant(&id(raw)).await.unwrap();
            let mut conn = tenancy.connect(&tenant).await.unwrap();
            let mysql = conn.as_mysql().expect("a MySQL connection");
            // The same text every time: sqlx prepares it once per connection and caches it.
            let titles: Vec<String> = sqlx::query_scalar("SELECT title FROM notes WHERE id > ?")
                .bind(0_i64)
                .fetch_all(&mut *mysql)
                .await
                .unwrap();
            assert_eq!(titles, vec![raw.to_owned()], "round {round}, tenant {raw}");
            let database: String = sqlx::query_scalar("SELECT DATABASE()")
                .fetch_one(&mut *mysql)
                .await
                .unwrap();
            assert_eq!(database, format!("{prefix}{raw}"));
        }
    }
    let opened_after = opened(&tenancy);
    assert!(
        opened_after <= opened_before + 1,
        "one connection served every tenant: {:?}",
        tenancy.pools().stats()
    );
    delete_all(&tenancy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_mode_prepared_statements_follow_the_tenant_after_a_switch() {
    let prefix = "shared_pg_";
    drop_postgres_leftovers(prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::postgres("pg", &postgres_url(), Isolation::Schema, prefix).unwrap();
    let tenancy = open(
        dir.path(),
        server,
        "CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL)",
    )
    .await;
    create_all(&tenancy).await;
    let opened_before = opened(&tenancy);

    for round in 0..5 {
        for raw in TENANTS {
            let tenant = tenancy.catalog().require_tenant(&id(raw)).await.unwrap();
            let mut conn = tenancy.connect(&tenant).await.unwrap();
            let pg = conn.as_postgres().expect("a PostgreSQL connection");
            let titles: Vec<String> = sqlx::query_scalar("SELECT title FROM notes WHERE id > $1")
                .bind(0_i64)
                .fetch_all(&mut *pg)
                .await
                .unwrap();
            assert_eq!(titles, vec![raw.to_owned()], "round {round}, tenant {raw}");
            let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
                .fetch_one(&mut *pg)
                .await
                .unwrap();
            assert_eq!(schema, format!("{prefix}{raw}"));
        }
    }
    let opened_after = opened(&tenancy);
    assert!(
        opened_after <= opened_before + 1,
        "one connection served every tenant: {:?}",
        tenancy.pools().stats()
    );
    delete_all(&tenancy).await;
}

async fn drop_mysql_leftovers(prefix: &str) {
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
    .unwrap();
    for name in names {
        let drop = format!("DROP DATABASE `{name}`");
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

async fn drop_postgres_leftovers(prefix: &str) {
    let mut conn = sqlx::PgConnection::connect(&postgres_url())
        .await
        .expect("PostgreSQL must be reachable at TENANCY_TEST_POSTGRES_URL");
    let names: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)")
            .bind(prefix)
            .fetch_all(&mut conn)
            .await
            .unwrap();
    for name in names {
        let drop = format!("DROP SCHEMA \"{name}\" CASCADE");
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

//! A shared connection (MySQL, PostgreSQL schema mode) handed from one tenant to the next
//! must not carry the first tenant's prepared statements along: on MySQL a prepared
//! statement keeps the database it was prepared in, whatever `USE` says afterwards.
//!
//! With a budget of one connection every checkout below gets the same connection, so each
//! query runs right after a switch. The servers come from `TENANCY_TEST_POSTGRES_URL` and
//! `TENANCY_TEST_MYSQL_URL`; an unreachable server fails the test.

mod support;

use support::network::{drop_mysql_databases, drop_postgres_schemas, mysql_url, postgres_url};
use tenancy::sqlx;
use tenancy::{
    Connection, EmbeddedMigration, Isolation, NewTenant, PoolOptions, Server, ServerOptions,
    Tenancy, TenantId, TenantMigrations,
};

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

/// Five rounds over the tenants, each checkout right after a switch: every query reads the
/// tenant it was handed to, and no connection beyond the one is opened.
async fn every_query_reads_the_tenant_it_was_handed_to(tenancy: &Tenancy, prefix: &str) {
    let opened_before = opened(tenancy);
    for round in 0..5 {
        for raw in TENANTS {
            let tenant = tenancy.catalog().require_tenant(&id(raw)).await.unwrap();
            let mut conn = tenancy.connect(&tenant).await.unwrap();
            let (titles, location) = read_back(&mut conn).await;
            assert_eq!(titles, vec![raw.to_owned()], "round {round}, tenant {raw}");
            assert_eq!(location, format!("{prefix}{raw}"));
        }
    }
    assert!(
        opened(tenancy) <= opened_before + 1,
        "one connection served every tenant: {:?}",
        tenancy.pools().stats()
    );
}

/// The notes' titles through a prepared (and cached) statement, and where the connection
/// points.
async fn read_back(conn: &mut Connection) -> (Vec<String>, String) {
    match conn {
        Connection::MySql(mysql) => {
            let titles = sqlx::query_scalar("SELECT title FROM notes WHERE id > ?")
                .bind(0_i64)
                .fetch_all(&mut *mysql)
                .await
                .unwrap();
            let database = sqlx::query_scalar("SELECT DATABASE()")
                .fetch_one(&mut *mysql)
                .await
                .unwrap();
            (titles, database)
        }
        Connection::Postgres(pg) => {
            let titles = sqlx::query_scalar("SELECT title FROM notes WHERE id > $1")
                .bind(0_i64)
                .fetch_all(&mut *pg)
                .await
                .unwrap();
            let schema = sqlx::query_scalar("SELECT current_schema()::text")
                .fetch_one(&mut *pg)
                .await
                .unwrap();
            (titles, schema)
        }
        other => panic!("not a shared server's connection: {:?}", other.backend()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_prepared_statements_follow_the_tenant_after_a_switch() {
    let prefix = "shared_my_";
    drop_mysql_databases(prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::mysql("my", &mysql_url(), prefix).unwrap();
    let notes =
        "CREATE TABLE notes (id BIGINT AUTO_INCREMENT PRIMARY KEY, title VARCHAR(50) NOT NULL)";
    let tenancy = open(dir.path(), server, notes).await;
    create_all(&tenancy).await;
    every_query_reads_the_tenant_it_was_handed_to(&tenancy, prefix).await;
    delete_all(&tenancy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_mode_prepared_statements_follow_the_tenant_after_a_switch() {
    let prefix = "shared_pg_";
    drop_postgres_schemas(prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::postgres("pg", &postgres_url(), Isolation::Schema, prefix).unwrap();
    let notes = "CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL)";
    let tenancy = open(dir.path(), server, notes).await;
    create_all(&tenancy).await;
    every_query_reads_the_tenant_it_was_handed_to(&tenancy, prefix).await;
    delete_all(&tenancy).await;
}

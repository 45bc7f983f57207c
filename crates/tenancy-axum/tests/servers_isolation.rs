//! Tenants sharing a few connections (PostgreSQL schema mode, MariaDB) never see each
//! other's data: concurrent writes for many tenants, each tagged with the tenant the client
//! asked for, some of them from work the handler spawned with `tenancy::scope::spawn`, all
//! land in the asking tenant's schema or database and nowhere else (case C05).

mod network;

use std::sync::Arc;

use axum::http::StatusCode;
use network::{Client, Kind, clear_leftovers, mysql_admin, postgres_admin};
use tenancy::sqlx;
use tenancy::{NewTenant, PoolOptions, ServerOptions};
use tokio::sync::Semaphore;

const TENANTS: usize = 40;
const WRITES_PER_TENANT: usize = 10;
/// Far fewer connections than tenants, so connections pass from tenant to tenant.
const BUDGET: usize = 4;
const CONCURRENCY: usize = 48;

/// Rows of `table` (schema-qualified) whose title does not carry `tenant`'s tag, and all rows.
async fn foreign_and_total(kind: Kind, table: &str, tenant: &str) -> (i64, i64) {
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(CASE WHEN title LIKE '{tenant}: %' THEN 0 ELSE 1 END), 0) \
         AS {int}), COUNT(*) FROM {table}",
        int = if kind == Kind::MySql {
            "SIGNED"
        } else {
            "BIGINT"
        },
    );
    let sql = sqlx::AssertSqlSafe(sql);
    match kind {
        Kind::MySql => {
            sqlx::query_as(sql)
                .fetch_one(&mut mysql_admin().await)
                .await
        }
        _ => {
            sqlx::query_as(sql)
                .fetch_one(&mut postgres_admin().await)
                .await
        }
    }
    .unwrap_or_else(|error| panic!("reading {table}: {error}"))
}

async fn concurrent_writes_stay_in_their_tenant(kind: Kind, prefix: &str) {
    clear_leftovers(prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let pool = PoolOptions {
        max_connections: BUDGET,
        acquire_timeout: network::PATIENCE,
        ..PoolOptions::default()
    };
    let servers = vec![(kind.default_server("net", prefix), ServerOptions::default())];
    let tenancy = network::open(dir.path(), servers, pool, false).await;
    let tenants: Vec<String> = (1..=TENANTS).map(|n| format!("t{n}")).collect();
    for raw in &tenants {
        let new = NewTenant::new(network::tenant_id(raw));
        tenancy.create_tenant(new).await.unwrap();
    }
    let client = Client::new(network::serve(network::app(tenancy.clone())).await);

    // Interleaved: t1, t2, …, t40, t1, t2, … so consecutive checkouts switch tenants.
    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = Vec::new();
    for n in 0..WRITES_PER_TENANT {
        for tenant in &tenants {
            let (client, gate, tenant) = (client.clone(), gate.clone(), tenant.clone());
            tasks.push(tokio::spawn(async move {
                let _turn = gate.acquire().await.unwrap();
                let note = serde_json::json!({ "title": format!("{tenant}: {n}"), "spawn": true });
                let reply = client.post(&tenant, "/notes", note).await;
                (tenant, reply)
            }));
        }
    }
    for task in tasks {
        let (tenant, reply) = task.await.unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{tenant}: {reply:?}");
        let own = format!("{prefix}{tenant}");
        assert_eq!(reply.field("schema"), own, "the handler's write: {reply:?}");
        assert_eq!(
            reply.field("spawned_schema"),
            own,
            "the spawned write: {reply:?}"
        );
    }
    let switches = tenancy.pools().stats()[0].switches;
    assert!(
        switches as usize > TENANTS,
        "connections were shared: {switches} switches"
    );

    // What the server holds, read around the pool: every row where it belongs.
    for tenant in &tenants {
        let table = match kind {
            Kind::MySql => format!("`{prefix}{tenant}`.notes"),
            _ => format!("\"{prefix}{tenant}\".notes"),
        };
        let (foreign, total) = foreign_and_total(kind, &table, tenant).await;
        assert_eq!(foreign, 0, "rows of other tenants in {table}");
        assert_eq!(total as usize, 2 * WRITES_PER_TENANT, "{table}");
    }
    tenancy.shutdown().await;
    clear_leftovers(prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_tenants_sharing_connections_write_only_their_own_schema() {
    concurrent_writes_stay_in_their_tenant(Kind::PostgresSchema, "iso_pgs_").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_tenants_sharing_connections_write_only_their_own_database() {
    concurrent_writes_stay_in_their_tenant(Kind::MySql, "iso_my_").await;
}

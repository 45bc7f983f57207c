//! Warm connections stay: after warm-up, a thousand sequential requests for one tenant are
//! served by the server sessions the warm-up opened, as the server itself reports them
//! (PostgreSQL `pg_backend_pid()` and `pg_stat_activity`, MySQL `CONNECTION_ID()`), not as
//! the pool's counters say.

mod network;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use network::{Client, Kind, clear_leftovers, postgres_admin, with_param};
use tenancy::sqlx;
use tenancy::{NewTenant, PoolOptions, ServerOptions};

const WARM_UP: usize = 20;
const REQUESTS: usize = 1_000;

/// Server session ids that answered `count` sequential requests for `tenant`.
async fn sessions_serving(client: &Client, tenant: &str, count: usize) -> BTreeSet<i64> {
    let mut seen = BTreeSet::new();
    for n in 0..count {
        let reply = client.get(tenant, "/session").await;
        assert_eq!(reply.status, StatusCode::OK, "request {n}: {reply:?}");
        assert_eq!(reply.field("tenant"), tenant);
        seen.insert(reply.body["conn_id"].as_i64().expect("a session id"));
    }
    seen
}

/// PostgreSQL sessions carrying this application name.
async fn postgres_sessions(application: &str) -> BTreeSet<i64> {
    let pids: Vec<i32> =
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE application_name = $1")
            .bind(application)
            .fetch_all(&mut postgres_admin().await)
            .await
            .unwrap();
    pids.into_iter().map(i64::from).collect()
}

async fn warm_connections_serve_a_thousand_requests(kind: Kind, prefix: &str) {
    clear_leftovers(prefix).await;
    let application = format!("{prefix}app");
    let url = match kind {
        Kind::MySql => network::mysql_url(),
        _ => with_param(&network::postgres_url(), "application_name", &application),
    };
    let dir = tempfile::tempdir().unwrap();
    let servers = vec![(kind.server("net", &url, prefix), ServerOptions::default())];
    let tenancy = network::open(dir.path(), servers, PoolOptions::default(), false).await;
    let client = Client::new(network::serve(network::app(tenancy.clone())).await);
    let tenant = tenancy
        .create_tenant(NewTenant::new(network::tenant_id("acme")))
        .await
        .unwrap();

    let warm = sessions_serving(&client, "acme", WARM_UP).await;
    let opened_before = tenancy.pools().stats()[0].misses;
    let after = sessions_serving(&client, "acme", REQUESTS).await;
    assert!(
        after.is_subset(&warm),
        "new server sessions {:?} beyond the warm-up's {warm:?}",
        after.difference(&warm).collect::<Vec<_>>()
    );
    assert_eq!(tenancy.pools().stats()[0].misses, opened_before);
    if kind != Kind::MySql {
        // The server agrees: every session of ours it holds is one the warm-up saw.
        let on_server = postgres_sessions(&application).await;
        assert!(on_server.is_subset(&warm), "{on_server:?} vs {warm:?}");
        assert!(!on_server.is_empty());
    }

    tenancy.delete_tenant(&tenant.id).await.unwrap();
    tenancy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_database_tenant_reuses_its_warm_connection_for_a_thousand_requests() {
    warm_connections_serve_a_thousand_requests(Kind::PostgresDatabase, "keep_pgd_").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_tenant_reuses_its_warm_connection_for_a_thousand_requests() {
    warm_connections_serve_a_thousand_requests(Kind::PostgresSchema, "keep_pgs_").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_tenant_reuses_its_warm_connection_for_a_thousand_requests() {
    warm_connections_serve_a_thousand_requests(Kind::MySql, "keep_my_").await;
}

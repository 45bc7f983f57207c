//! A network server that stops: its tenants get a 503 with `Retry-After` within the connect
//! wait, without piling up, while tenants on SQLite keep answering; when it comes back, its
//! tenants answer again without a restart.
//!
//! The server is the machine's PostgreSQL or MariaDB behind a TCP proxy the test owns, so "stopping" it
//! is closing the proxy: the shared servers on 5432 and 3306 are never touched.

mod network;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use network::proxy::{Proxy, url_addr, url_via};
use network::{Client, Kind, Reply, clear_leftovers, postgres_url};
use tenancy::{NewTenant, PoolOptions, ServerOptions, Tenancy};

/// How long a checkout may wait for a connection, opening one included.
const CONNECT_WAIT: Duration = Duration::from_secs(2);
/// Slack for a loaded 2-core machine on top of the wait.
const MARGIN: Duration = Duration::from_millis(1500);
const CONCURRENT: usize = 40;

async fn create(tenancy: &Tenancy, raw: &str, server: &str) {
    let mut new = NewTenant::new(network::tenant_id(raw));
    new.server = Some(server.to_owned());
    tenancy.create_tenant(new).await.unwrap();
}

/// Tenant `far` on a network server reached through a proxy the test can cut or freeze,
/// tenant `near` on SQLite, both served on a real socket.
struct Outage {
    proxy: Proxy,
    tenancy: Tenancy,
    client: Client,
    _dir: tempfile::TempDir,
}

impl Outage {
    async fn start(kind: Kind, prefix: &str) -> Outage {
        clear_leftovers(prefix).await;
        let upstream = match kind {
            Kind::MySql => network::mysql_url(),
            _ => postgres_url(),
        };
        let proxy = Proxy::start(url_addr(&upstream)).await;
        let url = url_via(&upstream, proxy.addr());
        let dir = tempfile::tempdir().unwrap();
        let pool = PoolOptions {
            acquire_timeout: CONNECT_WAIT,
            ..PoolOptions::default()
        };
        let servers = vec![(kind.server("pg", &url, prefix), ServerOptions::default())];
        let tenancy = network::open(dir.path(), servers, pool, true).await;
        create(&tenancy, "far", "pg").await;
        create(&tenancy, "near", tenancy::LOCAL_SERVER).await;
        let client = Client::new(network::serve(network::app(tenancy.clone())).await);
        Outage {
            proxy,
            tenancy,
            client,
            _dir: dir,
        }
    }
}

/// Drops the network tenant's storage once its server is back.
async fn finish(tenancy: Tenancy) {
    tenancy
        .delete_tenant(&network::tenant_id("far"))
        .await
        .unwrap();
    tenancy.shutdown().await;
}

/// `CONCURRENT` requests for each tenant at once, each with how long it took.
async fn burst(client: &Client, tenants: &[&str]) -> Vec<(String, Reply, Duration)> {
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENT {
        for tenant in tenants {
            let (client, tenant) = (client.clone(), tenant.to_string());
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                let reply = client.get(&tenant, "/session").await;
                (tenant, reply, started.elapsed())
            }));
        }
    }
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

async fn stopped_server_fails_fast_and_comes_back(kind: Kind, prefix: &str) {
    let Outage {
        proxy,
        tenancy,
        client,
        _dir,
    } = Outage::start(kind, prefix).await;
    for tenant in ["far", "near"] {
        assert_eq!(client.get(tenant, "/session").await.status, StatusCode::OK);
    }

    proxy.cut().await;
    for (tenant, reply, took) in burst(&client, &["far", "near"]).await {
        assert!(
            took < CONNECT_WAIT + MARGIN,
            "{tenant} took {took:?}: {reply:?}"
        );
        if tenant == "near" {
            assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
            continue;
        }
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
        assert!(
            ["server_unavailable", "pool_timeout"].contains(&reply.code()),
            "{reply:?}"
        );
        assert!(reply.header("retry-after").parse::<u32>().unwrap() > 0);
    }
    // Nothing is left waiting or half-open on the stopped server.
    let pg = tenancy.pools().server("pg").unwrap().clone();
    let drained = network::eventually(async || pg.stats().connections_open == 0).await;
    assert!(drained, "{:?}", pg.stats());

    proxy.restore().await;
    let back =
        network::eventually(async || client.get("far", "/session").await.status == StatusCode::OK)
            .await;
    assert!(back, "the tenant answers again once its server is back");
    for (tenant, reply, _) in burst(&client, &["far"]).await {
        assert_eq!(reply.status, StatusCode::OK, "{tenant}: {reply:?}");
    }

    finish(tenancy).await;
}

/// A server that accepts connections but never answers (hung, or the network drops
/// packets): a checkout gives up within its wait, and so does doctor's admin connection.
async fn hung_server_fails_within_the_wait_and_comes_back(kind: Kind, prefix: &str) {
    let Outage {
        proxy,
        tenancy,
        client,
        _dir,
    } = Outage::start(kind, prefix).await;
    assert_eq!(client.get("far", "/session").await.status, StatusCode::OK);

    proxy.freeze();
    // Past the pool's one-second ping interval, so the warm connection is pinged before it
    // is handed out: a query on it would hang like any query on a hung server, which only
    // the application can bound.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for (tenant, reply, took) in burst(&client, &["far", "near"]).await {
        assert!(
            took < CONNECT_WAIT + MARGIN,
            "{tenant} took {took:?}: {reply:?}"
        );
        let expected = match tenant.as_str() {
            "near" => StatusCode::OK,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        assert_eq!(reply.status, expected, "{reply:?}");
    }
    // The connects that gave up closed their sockets: nothing is left half-open.
    let pg = tenancy.pools().server("pg").unwrap().clone();
    let drained = network::eventually(async || pg.stats().connections_open == 0).await;
    assert!(drained, "{:?}", pg.stats());
    let doctor = tokio::time::timeout(CONNECT_WAIT + MARGIN, tenancy.doctor()).await;
    let report = doctor
        .expect("doctor gives up on a hung server")
        .expect("a server that cannot be checked is a finding of the report");
    let unreachable: Vec<&str> = report
        .unreachable
        .iter()
        .map(|u| u.server.as_str())
        .collect();
    assert_eq!(unreachable, ["pg"], "{report:?}");
    assert!(
        report.missing.is_empty(),
        "far is not missing, only unknown: {report:?}"
    );

    proxy.restore().await;
    let back =
        network::eventually(async || client.get("far", "/session").await.status == StatusCode::OK)
            .await;
    assert!(back, "the tenant answers again once its server is back");

    finish(tenancy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_postgres_server_gets_503_within_the_wait_while_sqlite_tenants_answer() {
    hung_server_fails_within_the_wait_and_comes_back(Kind::PostgresSchema, "hung_pgs_").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_mysql_server_gets_503_within_the_wait_while_sqlite_tenants_answer() {
    hung_server_fails_within_the_wait_and_comes_back(Kind::MySql, "hung_my_").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_postgres_schema_server_gets_503_fast_while_sqlite_tenants_answer() {
    stopped_server_fails_fast_and_comes_back(Kind::PostgresSchema, "down_pgs_").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_postgres_database_server_gets_503_fast_while_sqlite_tenants_answer() {
    stopped_server_fails_fast_and_comes_back(Kind::PostgresDatabase, "down_pgd_").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_mysql_server_gets_503_fast_while_sqlite_tenants_answer() {
    stopped_server_fails_fast_and_comes_back(Kind::MySql, "down_my_").await;
}

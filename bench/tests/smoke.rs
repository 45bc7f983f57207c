//! A short run of the load generator against a real socket, so the benchmark tools keep
//! working. No timing thresholds: only errors and foreign rows are asserted.

use std::net::SocketAddr;
use std::time::Duration;

use artflow_tenancy_bench::baseline::{self, BaselineOptions};
use artflow_tenancy_bench::loadgen::{self, LoadOptions, LoadReport, Popularity};
use artflow_tenancy_bench::verify;
use tenancy::{NewTenant, Tenancy, TenantId};
use tenancy_server::config::{Config, Overrides};
use tokio::net::TcpListener;

const TENANTS: usize = 3;

async fn tenancy_with_tenants(dir: &std::path::Path) -> Tenancy {
    let overrides = Overrides {
        data_dir: Some(dir.to_path_buf()),
        ..Overrides::default()
    };
    let config = Config::load(None, &overrides).expect("default configuration");
    let tenancy = tenancy_server::open_with_seed_notes(&config, "test", 20)
        .await
        .expect("tenancy opens");
    for n in 1..=TENANTS {
        let id = TenantId::parse(&format!("t{n}")).expect("valid id");
        let new = NewTenant {
            seed: true,
            ..NewTenant::new(id)
        };
        tenancy.create_tenant(new).await.expect("tenant created");
    }
    tenancy
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    address
}

fn short(target: SocketAddr, tenants: usize) -> LoadOptions {
    LoadOptions {
        connections: 8,
        duration: Duration::from_secs(2),
        warmup: Duration::from_millis(200),
        write_percent: 20,
        popularity: Popularity::Zipf(1.1),
        ..LoadOptions::new(target, tenants)
    }
}

fn assert_clean(report: &LoadReport) {
    assert!(report.requests > 0, "no request completed: {report:?}");
    assert!(report.writes > 0, "no write was timed: {report:?}");
    assert_eq!(report.errors, 0, "{report:?}");
    assert_eq!(report.foreign_rows, 0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_on_three_tenants_sees_no_errors_and_no_foreign_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tenancy = tenancy_with_tenants(dir.path()).await;
    let target = serve(tenancy_server::serve::app(tenancy.clone())).await;

    let report = loadgen::run(short(target, TENANTS))
        .await
        .expect("load runs");
    assert_clean(&report);

    let isolation = verify::tenants(&tenancy).await.expect("tenants read");
    assert_eq!(isolation.tenants, TENANTS as u64);
    assert_eq!(isolation.foreign_rows, 0, "{isolation:?}");
    tenancy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_serves_the_same_workload_cleanly_as_one_tenant() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("baseline.sqlite");
    let pool = baseline::open(&path, &BaselineOptions::default())
        .await
        .expect("baseline opens");
    let target = serve(baseline::app(pool.clone())).await;

    let report = loadgen::run(short(target, 1)).await.expect("load runs");
    assert_clean(&report);

    let isolation = verify::baseline(&pool, baseline::BASELINE_TENANT)
        .await
        .expect("read");
    assert_eq!(isolation.foreign_rows, 0, "{isolation:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_another_tenant_are_counted_as_foreign() {
    // The baseline answers every host from t1's rows, so asking for t2 must be caught.
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = baseline::open(&dir.path().join("b.sqlite"), &BaselineOptions::default())
        .await
        .expect("baseline opens");
    let target = serve(baseline::app(pool)).await;

    let options = LoadOptions {
        duration: Duration::from_millis(500),
        popularity: Popularity::Uniform,
        ..short(target, 2)
    };
    let report = loadgen::run(options).await.expect("load runs");
    assert!(report.foreign_rows > 0, "{report:?}");
}

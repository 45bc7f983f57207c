//! Micro-benchmarks of what tenancy adds to each request: host normalisation and a cached
//! identification, a warm connection checkout, and a switch between tenants on a shared
//! connection (PostgreSQL schema mode, MariaDB).
//!
//! The network servers come from `TENANCY_BENCH_POSTGRES_URL` and `TENANCY_BENCH_MYSQL_URL`
//! (defaults: the development machine's `postgres://postgres@127.0.0.1:5432/postgres` and
//! `mysql://root@127.0.0.1:3306`); one that cannot be reached is skipped with a message.
//! Run with `cargo bench -p artflow-tenancy-bench --bench micro`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tenancy::identify::Request;
use tenancy::{
    Isolation, NewTenant, PoolOptions, Server, ServerOptions, Tenancy, Tenant, TenantId,
};
use tokio::runtime::Runtime;

/// Schemas and databases the switch benchmarks create, removed again at the end.
const PREFIX: &str = "benchsw_";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime starts")
}

fn id(raw: &str) -> TenantId {
    TenantId::parse(raw).expect("benchmark ids are valid")
}

/// A tenancy with only a SQLite server in `dir`, and tenant `t1` created.
async fn sqlite_tenancy(dir: &std::path::Path) -> (Tenancy, Tenant) {
    let tenancy = Tenancy::builder(dir)
        .migrations(tenancy_server::demo::migrations())
        .build()
        .await
        .expect("tenancy opens");
    let tenant = tenancy
        .create_tenant(NewTenant::new(id("t1")))
        .await
        .expect("tenant created");
    (tenancy, tenant)
}

fn identification(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let (tenancy, tenant) = rt.block_on(sqlite_tenancy(dir.path()));
    let request = Request {
        host: "T1.Localhost:8080",
        header: None,
        path: "/notes",
    };
    rt.block_on(tenancy.identify(request))
        .expect("warms the cache");
    // One idle connection in the slot, so checkouts below are warm.
    drop(
        rt.block_on(tenancy.connect(&tenant))
            .expect("first checkout"),
    );

    let mut group = c.benchmark_group("request");
    group.bench_function("normalize_host", |b| {
        b.iter(|| tenancy::host::normalize_host(black_box(request.host)))
    });
    group.bench_function("identify_cached", |b| {
        b.to_async(&rt)
            .iter(|| async { tenancy.identify(black_box(request)).await.unwrap() })
    });
    group.bench_function("checkout_warm_sqlite", |b| {
        b.to_async(&rt)
            .iter(|| async { drop(tenancy.connect(black_box(&tenant)).await.unwrap()) })
    });
    group.bench_function("identify_cached_plus_checkout_warm_sqlite", |b| {
        b.to_async(&rt).iter(|| async {
            let identified = tenancy.identify(black_box(request)).await.unwrap();
            black_box(identified);
            drop(tenancy.connect(&tenant).await.unwrap())
        })
    });
    group.finish();
    rt.block_on(tenancy.shutdown());
}

/// What a miss costs on SQLite: with a budget of one connection and two tenants taken in
/// turn, every checkout closes the other tenant's idle connection and opens its own.
fn sqlite_eviction(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = PoolOptions {
        max_connections: 1,
        max_connections_per_database: 1,
        ..PoolOptions::default()
    };
    let tenancy = rt
        .block_on(
            Tenancy::builder(dir.path())
                .pool(pool)
                .migrations(tenancy_server::demo::migrations())
                .build(),
        )
        .expect("tenancy opens");
    let [a, b] = ["t1", "t2"].map(|raw| {
        rt.block_on(tenancy.create_tenant(NewTenant::new(id(raw))))
            .expect("tenant created")
    });

    let mut group = c.benchmark_group("request");
    group.bench_function("checkout_evicting_sqlite_x2", |bench| {
        bench.to_async(&rt).iter(|| async {
            drop(tenancy.connect(&a).await.unwrap());
            drop(tenancy.connect(&b).await.unwrap());
        })
    });
    group.finish();
    rt.block_on(tenancy.shutdown());
}

/// A tenancy whose only server is `server`, with a budget of one connection, so every
/// checkout gets the same shared connection; tenants `a` and `b` on it.
async fn shared_tenancy(dir: &std::path::Path, server: Server) -> anyhow::Result<Tenancy> {
    let pool = PoolOptions {
        max_connections: 1,
        max_connections_per_database: 1,
        ..PoolOptions::default()
    };
    let tenancy = Tenancy::builder(dir)
        .local_server(None)
        .pool(pool)
        .server(server, ServerOptions::default())
        .migrations(tenancy_server::demo::migrations())
        .build()
        .await?;
    for raw in ["a", "b"] {
        if tenancy.catalog().tenant(&id(raw)).await?.is_none() {
            tenancy.create_tenant(NewTenant::new(id(raw))).await?;
        }
    }
    Ok(tenancy)
}

fn switches(c: &mut Criterion) {
    let postgres = std::env::var("TENANCY_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mysql = std::env::var("TENANCY_BENCH_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    let servers = [
        (
            "postgres_schema",
            Server::postgres("pg1", &postgres, Isolation::Schema, PREFIX),
        ),
        ("mariadb", Server::mysql("my1", &mysql, PREFIX)),
    ];
    for (label, server) in servers {
        let server = server.expect("the benchmark URLs parse");
        switch_on(c, label, server);
    }
}

fn switch_on(c: &mut Criterion, label: &str, server: Server) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let tenancy = match rt.block_on(shared_tenancy(dir.path(), server)) {
        Ok(tenancy) => tenancy,
        Err(error) => {
            eprintln!("skipping the {label} switch benchmarks: {error:#}");
            return;
        }
    };
    let tenant = |raw| {
        rt.block_on(tenancy.catalog().require_tenant(&id(raw)))
            .expect("created above")
    };
    let (a, b) = (tenant("a"), tenant("b"));

    let mut group = c.benchmark_group(format!("shared_{label}"));
    group.bench_function("checkout_same_tenant", |bench| {
        bench
            .to_async(&rt)
            .iter(|| async { drop(tenancy.connect(&a).await.unwrap()) })
    });
    group.bench_function("checkout_switching_tenants_x2", |bench| {
        bench.to_async(&rt).iter(|| async {
            drop(tenancy.connect(&a).await.unwrap());
            drop(tenancy.connect(&b).await.unwrap());
        })
    });
    group.finish();

    for raw in ["a", "b"] {
        if let Err(error) = rt.block_on(tenancy.delete_tenant(&id(raw))) {
            eprintln!("could not delete benchmark tenant {raw} on {label}: {error}");
        }
    }
    rt.block_on(tenancy.shutdown());
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = identification, sqlite_eviction, switches
}
criterion_main!(benches);

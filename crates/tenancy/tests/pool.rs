//! The connection manager's bounds, seen from outside the pool: files this process holds
//! open, and what a checkout beyond the budget gets.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{TestTenancy, count_notes, eventually, open_tenant_databases};
use tenancy::{Error, PoolOptions, Tenant};

/// Generous for a loaded machine; no test waits this long when it passes.
const PATIENCE: Duration = Duration::from_secs(10);

fn pool_options(max_connections: usize, per_database: usize) -> PoolOptions {
    PoolOptions {
        max_connections,
        max_connections_per_database: per_database,
        acquire_timeout: PATIENCE,
        ..PoolOptions::default()
    }
}

async fn create_many(test: &TestTenancy, count: usize) -> Vec<Tenant> {
    let mut tenants = Vec::with_capacity(count);
    for n in 0..count {
        tenants.push(test.create(&format!("t{n}")).await);
    }
    tenants
}

/// Samples the number of tenant databases open in this process on its own thread, so
/// that it keeps sampling whatever the runtime is busy with.
struct OpenFilesSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<usize>,
}

impl OpenFilesSampler {
    fn start(test: &TestTenancy) -> Self {
        let (stop, peak) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
        );
        let dir = test.tenants_dir();
        let (stop_flag, peak_seen) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            let mut samples = 0;
            while !stop_flag.load(Ordering::SeqCst) {
                let open = open_tenant_databases(&dir).len();
                peak_seen.fetch_max(open, Ordering::SeqCst);
                samples += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            samples
        });
        OpenFilesSampler { stop, peak, thread }
    }

    /// Stops sampling; returns the peak and how many samples were taken.
    fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        let samples = self.thread.join().expect("the sampler does not panic");
        (self.peak.load(Ordering::SeqCst), samples)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_tenant_databases_never_exceed_the_budget() {
    let test = TestTenancy::new(pool_options(4, 2)).await;
    let tenants = Arc::new(create_many(&test, 30).await);
    let sampler = OpenFilesSampler::start(&test);

    for tenant in tenants.iter() {
        assert_eq!(count_notes(&test.tenancy, tenant).await.unwrap(), 3);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..8 {
        let (tenancy, tenants) = (test.tenancy.clone(), tenants.clone());
        tasks.spawn(async move {
            for k in 0..tenants.len() {
                let tenant = &tenants[(k * 7 + task * 3) % tenants.len()];
                count_notes(&tenancy, tenant).await.unwrap();
            }
        });
    }
    tokio::time::timeout(PATIENCE * 6, tasks.join_all())
        .await
        .expect("touching tenants under the budget does not hang");

    let (peak, samples) = sampler.finish();
    assert!(samples > 0);
    assert!(peak >= 1, "the sampler saw no tenant database open at all");
    assert!(
        peak <= 4,
        "{peak} tenant databases were open at once; budget 4"
    );
    let stats = &test.tenancy.pools().stats()[0];
    assert!(stats.evictions > 0, "{stats:?}");
    assert!(stats.connections_open <= 4, "{stats:?}");
}

#[tokio::test]
async fn checkouts_beyond_the_budget_time_out_instead_of_hanging() {
    let options = PoolOptions {
        max_connections: 2,
        max_connections_per_database: 1,
        acquire_timeout: Duration::from_millis(200),
        ..PoolOptions::default()
    };
    let test = TestTenancy::new(options).await;
    let tenants = create_many(&test, 10).await;

    let mut checkouts = tokio::task::JoinSet::new();
    for tenant in tenants {
        let tenancy = test.tenancy.clone();
        checkouts.spawn(async move { tenancy.connect(&tenant).await });
    }
    let results = tokio::time::timeout(PATIENCE, checkouts.join_all())
        .await
        .expect("checkouts beyond the budget give up after the acquire timeout");

    let held = results.iter().filter(|result| result.is_ok()).count();
    let timed_out = results
        .iter()
        .filter(|result| matches!(result, Err(Error::PoolTimeout { budget: 2, .. })))
        .count();
    assert_eq!((held, timed_out), (2, 8));
    assert_eq!(test.open_databases().len(), 2);
    assert_eq!(test.tenancy.pools().stats()[0].timeouts, 8);
}

#[tokio::test]
async fn idle_pools_close_after_the_idle_timeout() {
    let options = PoolOptions {
        idle_timeout: Duration::from_millis(200),
        ..PoolOptions::default()
    };
    let test = TestTenancy::new(options).await;
    let tenants = create_many(&test, 20).await;
    for tenant in &tenants {
        count_notes(&test.tenancy, tenant).await.unwrap();
    }
    // Counted by the pool rather than by the open files: on a loaded machine the first
    // tenants' connections may already have timed out before the last one opened.
    let pools = test.tenancy.pools();
    assert_eq!(pools.stats()[0].misses, 20, "{:?}", pools.stats());

    let drained = eventually(PATIENCE, || {
        let stats = &pools.stats()[0];
        stats.connections_open == 0 && stats.pools_open == 0
    })
    .await;
    assert!(drained, "{:?}", pools.stats());
    assert!(eventually(PATIENCE, || test.open_databases().is_empty()).await);
    assert_eq!(pools.stats()[0].idle_closed, 20);
}

#[tokio::test]
async fn suspending_a_tenant_closes_its_database_file() {
    let test = TestTenancy::new(PoolOptions::default()).await;
    let india = test.create("india").await;
    let juliett = test.create("juliett").await;
    count_notes(&test.tenancy, &india).await.unwrap();
    count_notes(&test.tenancy, &juliett).await.unwrap();
    let checked_out = test.tenancy.connect(&india).await.unwrap();
    assert!(test.open_databases().contains("india"));

    test.tenancy.suspend_tenant(&india.id, None).await.unwrap();
    // The connection in use is closed when it comes back, not returned to the pool.
    drop(checked_out);

    let closed = eventually(PATIENCE, || !test.open_databases().contains("india")).await;
    assert!(closed, "india is still open: {:?}", test.open_databases());
    assert!(test.open_databases().contains("juliett"));
}

#[tokio::test]
async fn deleting_a_tenant_closes_and_removes_its_database() {
    let test = TestTenancy::new(PoolOptions::default()).await;
    let kilo = test.create("kilo").await;
    count_notes(&test.tenancy, &kilo).await.unwrap();
    assert!(test.open_databases().contains("kilo"));

    test.tenancy.delete_tenant(&kilo.id).await.unwrap();

    assert!(eventually(PATIENCE, || test.open_databases().is_empty()).await);
    assert!(!test.tenants_dir().join("kilo.sqlite").exists());
    assert_eq!(test.tenancy.pools().stats()[0].pools_open, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_over_every_tenant_repeated_stay_within_the_budget_and_drain_when_idle() {
    let options = PoolOptions {
        max_connections: 6,
        max_connections_per_database: 2,
        acquire_timeout: PATIENCE,
        idle_timeout: Duration::from_millis(300),
    };
    let test = TestTenancy::new(options).await;
    let tenants = create_many(&test, 50).await;
    let ids: Vec<_> = tenants.iter().map(|t| t.id.clone()).collect();
    let sampler = OpenFilesSampler::start(&test);

    for round in 0..5 {
        // What `migrate status` does: every tenant, one after the other.
        for tenant in &tenants {
            let state = test.tenancy.migration_status(tenant).await.unwrap();
            assert_eq!(state.applied, vec![1], "round {round}: {}", tenant.id);
        }
        // What `migrate` does: every tenant, more at once than the budget allows.
        let options = tenancy::migrate::RunOptions {
            parallel: 10,
            ..tenancy::migrate::RunOptions::for_budget(6)
        };
        let stop = Arc::new(AtomicBool::new(false));
        let report = test
            .tenancy
            .run_migrations(
                tenancy::migrate::RunKind::Migrate,
                ids.clone(),
                options,
                &|_, _, _| {},
                stop,
            )
            .await
            .unwrap();
        assert_eq!(report.count("up_to_date"), 50, "round {round}: {report:?}");
    }

    let (peak, samples) = sampler.finish();
    assert!(samples > 0 && peak >= 1);
    assert!(peak <= 6, "{peak} tenant databases open at once; budget 6");
    let pools = test.tenancy.pools();
    assert!(
        pools.stats()[0].connections_open <= 6,
        "{:?}",
        pools.stats()
    );
    let drained = eventually(PATIENCE, || pools.stats()[0].connections_open == 0).await;
    assert!(drained, "{:?}", pools.stats());
    assert!(eventually(PATIENCE, || test.open_databases().is_empty()).await);
}

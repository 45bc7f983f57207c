//! A warm tenant reuses its connection: counted from outside the pool, by the SQLite worker
//! threads of this process. Alone in its test binary, so no other test opens connections
//! while it counts.

mod support;

use axum::http::StatusCode;
use support::{TestApp, eventually, get_from, open_tenant_databases, sqlite_worker_threads};

#[tokio::test]
async fn warm_tenant_serves_1000_requests_without_opening_a_connection() {
    let test = TestApp::new().await;
    let alpha = test.create("alpha", &[]).await;
    let app = test.router();
    for _ in 0..10 {
        assert_eq!(
            get_from(&app, "alpha.localhost", "/notes").await.status,
            StatusCode::OK
        );
    }
    let threads_before = sqlite_worker_threads();
    let stats_before = test.tenancy.pools().stats()[0].clone();
    assert!(!threads_before.is_empty(), "no SQLite worker thread found");

    for n in 0..1000 {
        let reply = get_from(&app, "alpha.localhost", "/notes").await;
        assert_eq!(reply.body[0], "alpha: note 3", "request {n}: {reply:?}");
    }

    assert_eq!(sqlite_worker_threads(), threads_before);
    let stats = test.tenancy.pools().stats()[0].clone();
    assert_eq!(stats.misses, stats_before.misses);
    assert_eq!(stats.hits, stats_before.hits + 1000);

    test.tenancy.suspend_tenant(&alpha.id, None).await.unwrap();
    let tenants_dir = test.tenants_dir();
    assert!(eventually(async || open_tenant_databases(&tenants_dir).is_empty()).await);
    // Its connection's worker thread ends with it.
    let fewer = eventually(async || sqlite_worker_threads().len() < threads_before.len()).await;
    assert!(fewer, "{:?}", sqlite_worker_threads());
}

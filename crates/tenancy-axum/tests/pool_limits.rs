//! What a request gets when its tenant's server is at its connection budget.

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use support::{PATIENCE, TestApp, get_from};
use tenancy::PoolOptions;
use tenancy::identify::IdentifyOptions;

#[tokio::test]
async fn request_beyond_the_budget_gets_503_with_retry_after() {
    let options = PoolOptions {
        max_connections: 2,
        max_connections_per_database: 1,
        acquire_timeout: Duration::from_millis(200),
        ..PoolOptions::default()
    };
    let test = TestApp::with(IdentifyOptions::default(), options).await;
    let t0 = test.create("t0", &[]).await;
    let t1 = test.create("t1", &[]).await;
    test.create("t2", &[]).await;
    let app = test.router();
    let held = (
        test.tenancy.connect(&t0).await.unwrap(),
        test.tenancy.connect(&t1).await.unwrap(),
    );

    let reply = tokio::time::timeout(PATIENCE, get_from(&app, "t2.localhost", "/notes"))
        .await
        .expect("a request at the budget gives up instead of hanging");
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.code(), "pool_timeout");
    assert_eq!(reply.content_type(), "application/problem+json");
    let retry_after: u32 = reply.header("retry-after").parse().expect("a Retry-After");
    assert!(retry_after > 0);

    drop(held);
    let reply = get_from(&app, "t2.localhost", "/notes").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(test.tenancy.pools().stats()[0].timeouts, 1);
}

#[tokio::test]
async fn busy_tenant_waits_for_its_own_connection_to_come_back() {
    let options = PoolOptions {
        max_connections: 4,
        max_connections_per_database: 1,
        acquire_timeout: PATIENCE,
        ..PoolOptions::default()
    };
    let test = TestApp::with(IdentifyOptions::default(), options).await;
    let t0 = test.create("t0", &[]).await;
    let app = test.router();
    let held = test.tenancy.connect(&t0).await.unwrap();

    let waiting = tokio::spawn({
        let app = app.clone();
        async move { get_from(&app, "t0.localhost", "/notes").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiting.is_finished(),
        "the per-database cap of 1 was not applied"
    );
    drop(held);

    let reply = tokio::time::timeout(PATIENCE, waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(test.tenancy.pools().stats()[0].waits, 1);
}

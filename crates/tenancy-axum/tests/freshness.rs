//! Freshness of what the layer caches: a change is seen on the next request in the process
//! that made it and soon in every other, while steady state asks the catalog nothing. Each
//! runs with the catalog on SQLite, PostgreSQL and MariaDB.

mod support;

use axum::http::StatusCode;
use support::{TestApp, app, eventually, get_from, tenant_id};
use tenancy::Backend;

on_every_catalog!(
    change_through_the_same_handle_is_seen_on_the_next_request,
    change_through_another_handle_reaches_this_one_through_the_change_log,
    warm_tenant_is_served_with_the_catalog_closed,
    tenant_created_by_another_handle_replaces_a_cached_not_found,
);

async fn change_through_the_same_handle_is_seen_on_the_next_request(catalog: Backend) {
    let test = TestApp::on(catalog, Default::default(), Default::default()).await;
    let alpha = test.create("alpha", &[]).await;
    let app = test.router();
    assert_eq!(
        get_from(&app, "alpha.localhost", "/notes").await.status,
        StatusCode::OK
    );
    let unknown = get_from(&app, "alpha.example.test", "/whoami").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    test.tenancy.suspend_tenant(&alpha.id, None).await.unwrap();
    let reply = get_from(&app, "alpha.localhost", "/notes").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    test.tenancy.activate_tenant(&alpha.id).await.unwrap();
    test.tenancy
        .add_domain(&alpha.id, "alpha.example.test", false)
        .await
        .unwrap();
    let reply = get_from(&app, "alpha.example.test", "/whoami").await;
    assert_eq!(reply.answered_by(), "alpha");
}

async fn change_through_another_handle_reaches_this_one_through_the_change_log(catalog: Backend) {
    let test = TestApp::on(catalog, Default::default(), Default::default()).await;
    let alpha = test.create("alpha", &[]).await;
    let serving = test.router();
    assert_eq!(
        get_from(&serving, "alpha.localhost", "/notes").await.status,
        StatusCode::OK
    );
    let unknown = get_from(&serving, "alpha.example.test", "/whoami").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // A second handle on the same data directory stands for another process (the CLI).
    let other = test.open_again().await;
    other.suspend_tenant(&alpha.id, None).await.unwrap();
    other
        .add_domain(&alpha.id, "alpha.example.test", false)
        .await
        .unwrap();

    // The promise is one second (the poller reads the log every 500 ms); the wait allowed
    // here is longer for a loaded machine, and still far below the caches' 300 s lifetime.
    let suspended = eventually(async || {
        let reply = get_from(&serving, "alpha.localhost", "/notes").await;
        reply.status == StatusCode::FORBIDDEN
    })
    .await;
    assert!(suspended, "the suspension never reached the serving handle");
    let reply = get_from(&serving, "alpha.example.test", "/whoami").await;
    assert_eq!(reply.code(), "tenant_suspended");

    other.activate_tenant(&alpha.id).await.unwrap();
    let active = eventually(async || {
        let reply = get_from(&serving, "alpha.example.test", "/whoami").await;
        reply.answered_by() == "alpha"
    })
    .await;
    assert!(active, "the activation never reached the serving handle");
}

async fn warm_tenant_is_served_with_the_catalog_closed(catalog: Backend) {
    let test = TestApp::on(catalog, Default::default(), Default::default()).await;
    test.create("alpha", &[]).await;
    let app = app(test.tenancy.clone());
    assert_eq!(
        get_from(&app, "alpha.localhost", "/notes").await.status,
        StatusCode::OK
    );

    // Closing the catalog makes any catalog query fail, so every answer below comes from
    // the caches: steady state asks the catalog nothing per request.
    test.tenancy.catalog().close().await;
    assert!(
        test.tenancy
            .catalog()
            .tenant(&tenant_id("alpha"))
            .await
            .is_err()
    );

    for n in 0..1000 {
        let reply = get_from(&app, "alpha.localhost", "/notes").await;
        assert_eq!(reply.status, StatusCode::OK, "request {n}: {reply:?}");
    }
    let cold = get_from(&app, "beta.localhost", "/notes").await;
    assert_eq!(cold.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(cold.code(), "catalog_unavailable");
}

async fn tenant_created_by_another_handle_replaces_a_cached_not_found(catalog: Backend) {
    let test = TestApp::on(catalog, Default::default(), Default::default()).await;
    let serving = test.router();
    let before = get_from(&serving, "zulu.localhost", "/whoami").await;
    assert_eq!(before.code(), "tenant_not_found");

    let other = test.open_again().await;
    let mut zulu = tenancy::NewTenant::new(tenant_id("zulu"));
    zulu.domains = vec!["zulu.example.test".into()];
    other.create_tenant(zulu).await.unwrap();

    let served = eventually(async || {
        let reply = get_from(&serving, "zulu.localhost", "/whoami").await;
        reply.answered_by() == "zulu"
    })
    .await;
    assert!(served, "the new tenant never reached the serving handle");
    let by_domain = get_from(&serving, "zulu.example.test", "/whoami").await;
    assert_eq!(by_domain.answered_by(), "zulu");
}

//! The tenant travels with the request and with the work it spawns, never as state left
//! behind for the next request.

mod support;

use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Router};
use serde_json::Value;
use support::{TestApp, central_routes, get_from, notes_routes};
use tenancy::scope;
use tenancy::sqlx;
use tokio::sync::{Notify, mpsc};

#[tokio::test(flavor = "current_thread")]
async fn central_requests_never_see_a_tenant_on_one_thread() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    let app = test.router();

    for _ in 0..200 {
        let tenant = get_from(&app, "alpha.localhost", "/notes").await;
        assert_eq!(tenant.body[0], "alpha: note 3");
        let central = get_from(&app, "localhost", "/notes").await;
        assert_eq!(central.answered_by(), "central");
        assert_eq!(central.body["scope"], Value::Null);
        assert_eq!(central.body["context"], false);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn interleaved_central_requests_never_see_a_tenant_on_one_thread() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    let app = test.router();

    let mut requests = tokio::task::JoinSet::new();
    for n in 0..200_u32 {
        let app = app.clone();
        let host = if n.is_multiple_of(2) {
            "alpha.localhost"
        } else {
            "localhost"
        };
        requests.spawn(async move { (host, get_from(&app, host, "/whoami").await) });
    }
    for (host, reply) in requests.join_all().await {
        if host == "localhost" {
            assert_eq!(reply.answered_by(), "central");
            assert_eq!(reply.body["scope"], Value::Null);
            assert_eq!(reply.body["context"], false);
        } else {
            assert_eq!(reply.answered_by(), "alpha");
        }
    }
}

/// What the export handler's background work reports back to the test.
struct Exports {
    release: Notify,
    titles: mpsc::UnboundedSender<Result<Vec<String>, String>>,
    unscoped: mpsc::UnboundedSender<bool>,
}

/// Answers at once and leaves the export to background work that waits to be released.
async fn export(Extension(exports): Extension<Arc<Exports>>) -> &'static str {
    let background = exports.clone();
    scope::spawn(async move {
        background.release.notified().await;
        let titles = read_titles_in_scope().await;
        let _ = background.titles.send(titles);
    });
    let plain = exports.clone();
    tokio::spawn(async move {
        let _ = plain.unscoped.send(scope::current().is_none());
    });
    "export started"
}

async fn read_titles_in_scope() -> Result<Vec<String>, String> {
    let context = scope::current().ok_or("no tenant in the spawned work")?;
    let mut conn = context.connect().await.map_err(|e| e.to_string())?;
    let sqlite = conn.as_sqlite().expect("tests run on SQLite only");
    sqlx::query_scalar("SELECT title FROM notes ORDER BY id")
        .fetch_all(sqlite)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_work_keeps_its_tenant_after_the_response() {
    let test = TestApp::new().await;
    test.create("alpha", &[]).await;
    test.create("beta", &[]).await;
    let (titles_tx, mut titles) = mpsc::unbounded_channel();
    let (unscoped_tx, mut unscoped) = mpsc::unbounded_channel();
    let exports = Arc::new(Exports {
        release: Notify::new(),
        titles: titles_tx,
        unscoped: unscoped_tx,
    });
    let tenant_routes = Router::new()
        .route("/export", get(export))
        .merge(notes_routes())
        .layer(Extension(exports.clone()));
    let app = tenancy_axum::split(test.tenancy.clone(), central_routes(), tenant_routes);

    let reply = get_from(&app, "alpha.localhost", "/export").await;
    assert_eq!(reply.body, "export started");

    // Release the export while beta's traffic runs.
    exports.release.notify_one();
    for _ in 0..50 {
        let beta = get_from(&app, "beta.localhost", "/notes").await;
        assert_eq!(beta.body[0], "beta: note 3");
    }

    let exported = tokio::time::timeout(support::PATIENCE, titles.recv()).await;
    let exported = exported.expect("the export finishes").expect("one export");
    assert_eq!(
        exported.unwrap(),
        ["alpha: note 1", "alpha: note 2", "alpha: note 3"]
    );
    let plain = tokio::time::timeout(support::PATIENCE, unscoped.recv()).await;
    assert_eq!(
        plain.unwrap(),
        Some(true),
        "plain tokio::spawn saw a tenant"
    );
}

#[tokio::test]
async fn work_outside_any_request_has_no_tenant() {
    assert!(scope::current().is_none());
    let spawned = scope::spawn(async { scope::current().is_none() });
    assert!(spawned.await.unwrap());
}

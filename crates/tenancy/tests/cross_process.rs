//! Two handles on one data directory stand for two processes (a server and the CLI):
//! what one does to a tenant reaches the other's connections, not only its caches. Each
//! runs with the catalog on SQLite, PostgreSQL and MariaDB.

mod support;

use std::time::Duration;

use support::{TestCatalog, TestTenancy, count_notes, eventually, tenant_id};
use tenancy::identify::{Identified, Request};
use tenancy::sqlx;
use tenancy::{Backend, NewTenant, PoolOptions, Tenancy, TenantStatus};

const PATIENCE: Duration = Duration::from_secs(10);

on_every_catalog!(
    a_suspension_elsewhere_closes_this_process_connections,
    a_tenant_deleted_and_created_again_elsewhere_is_not_served_from_the_old_file,
    two_processes_opening_a_new_catalog_at_once_both_succeed,
    a_write_right_after_a_delete_and_create_elsewhere_is_refused_or_kept,
);

async fn a_suspension_elsewhere_closes_this_process_connections(catalog: Backend) {
    let server = TestTenancy::on(catalog, PoolOptions::default()).await;
    let alpha = server.create("alpha").await;
    count_notes(&server.tenancy, &alpha).await.unwrap();
    assert!(
        server.open_databases().contains("alpha"),
        "warm connection expected"
    );

    let cli = server.open_again(PoolOptions::default()).await;
    cli.suspend_tenant(&tenant_id("alpha"), None).await.unwrap();

    let closed = eventually(PATIENCE, || !server.open_databases().contains("alpha")).await;
    assert!(
        closed,
        "the serving process still holds the suspended tenant's database"
    );
}

async fn a_tenant_deleted_and_created_again_elsewhere_is_not_served_from_the_old_file(
    catalog: Backend,
) {
    let server = TestTenancy::on(catalog, PoolOptions::default()).await;
    let alpha = server.create("alpha").await;
    let seeded = count_notes(&server.tenancy, &alpha).await.unwrap();
    assert!(seeded > 0);

    let cli = server.open_again(PoolOptions::default()).await;
    cli.delete_tenant(&tenant_id("alpha")).await.unwrap();
    // The new tenant is created without seed: an empty notes table tells it apart.
    cli.create_tenant(NewTenant::new(tenant_id("alpha")))
        .await
        .unwrap();

    let mut fresh = false;
    for _ in 0..(PATIENCE.as_millis() / 50) {
        let tenant = server
            .tenancy
            .catalog()
            .require_tenant(&tenant_id("alpha"))
            .await
            .unwrap();
        if count_notes(&server.tenancy, &tenant).await.unwrap() == 0 {
            fresh = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        fresh,
        "the serving process kept reading the deleted database"
    );
}

async fn two_processes_opening_a_new_catalog_at_once_both_succeed(catalog: Backend) {
    for _ in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let catalog = TestCatalog::new(catalog).await;
        let (a, b) = tokio::join!(
            catalog.apply(Tenancy::builder(dir.path())).build(),
            catalog.apply(Tenancy::builder(dir.path())).build()
        );
        a.expect("first opener");
        b.expect("second opener");
    }
}

#[tokio::test]
async fn creating_a_tenant_again_waits_for_connections_to_its_deleted_database() {
    let server = TestTenancy::new(PoolOptions {
        acquire_timeout: Duration::from_millis(300),
        ..PoolOptions::default()
    })
    .await;
    let alpha = server.create("alpha").await;
    let held = server.tenancy.connect(&alpha).await.unwrap();
    server
        .tenancy
        .delete_tenant(&tenant_id("alpha"))
        .await
        .unwrap();

    let error = server
        .tenancy
        .create_tenant(NewTenant::new(tenant_id("alpha")))
        .await;
    assert!(
        matches!(error, Err(tenancy::Error::StillInUse(_))),
        "{error:?}"
    );

    drop(held);
    server
        .tenancy
        .create_tenant(NewTenant::new(tenant_id("alpha")))
        .await
        .unwrap();
}

/// One request as `serve` handles it: identify by host, and write only to an active tenant.
/// `Some(id)` when the write was acknowledged.
async fn write_as_a_request(tenancy: &Tenancy, host: &str, title: &str) -> Option<i64> {
    let request = Request {
        host,
        header: None,
        path: "/notes",
    };
    let Ok(Identified::Tenant { tenant, .. }) = tenancy.identify(request).await else {
        return None;
    };
    if tenant.status != TenantStatus::Active {
        return None;
    }
    let mut conn = tenancy.connect(&tenant).await.ok()?;
    let sqlite = conn.as_sqlite().expect("tests run on SQLite only");
    sqlx::query_scalar("INSERT INTO notes (title, body) VALUES (?, '') RETURNING id")
        .bind(title)
        .fetch_one(sqlite)
        .await
        .ok()
}

async fn notes_titled(tenancy: &Tenancy, id: &str, title: &str) -> i64 {
    let tenant = tenancy.catalog().require_tenant(&tenant_id(id)).await;
    let mut conn = tenancy.connect(&tenant.unwrap()).await.unwrap();
    let sqlite = conn.as_sqlite().expect("tests run on SQLite only");
    sqlx::query_scalar("SELECT COUNT(*) FROM notes WHERE title = ?")
        .bind(title)
        .fetch_one(sqlite)
        .await
        .unwrap()
}

async fn a_write_right_after_a_delete_and_create_elsewhere_is_refused_or_kept(catalog: Backend) {
    let server = TestTenancy::on(catalog, PoolOptions::default()).await;
    let cli = server.open_again(PoolOptions::default()).await;

    // The race with the server's change poller is won or lost by timing: a few rounds.
    for round in ["golf", "hotel", "india"] {
        server.create(round).await;
        let host = format!("{round}.localhost");
        let warm = write_as_a_request(&server.tenancy, &host, "warm-up").await;
        assert!(warm.is_some(), "{round}: the tenant is served and written");
        assert!(
            server.open_databases().contains(round),
            "{round}: a warm connection"
        );

        cli.delete_tenant(&tenant_id(round)).await.unwrap();
        cli.create_tenant(NewTenant::new(tenant_id(round)))
            .await
            .unwrap();
        let acknowledged = write_as_a_request(&server.tenancy, &host, "after").await;

        // Long enough for the server to have read every change, closing what it held.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let kept = notes_titled(&cli, round, "after").await;
        match acknowledged {
            Some(_) => assert_eq!(kept, 1, "{round}: an acknowledged write was lost"),
            None => assert_eq!(kept, 0, "{round}: a refused write landed"),
        }
        assert_eq!(
            notes_titled(&cli, round, "warm-up").await,
            0,
            "{round}: old data"
        );
    }
}

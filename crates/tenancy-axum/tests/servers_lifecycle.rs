//! A tenant's life on each kind of network server, served through the layer on a real
//! socket: created, served, suspended, activated, deleted and created again; and storage
//! left over from an old tenant refuses a create, naming the leftover, and shows in doctor.

mod network;

use axum::http::StatusCode;
use network::{Client, Kind, Reply, clear_leftovers, execute_pg, mysql_admin, postgres_admin};
use tenancy::sqlx;
use tenancy::{Error, NewTenant, PoolOptions, ServerOptions, Tenancy};

/// The tenant's storage as the request sees it: its schema on PostgreSQL schema mode, its
/// database elsewhere.
fn storage_seen(kind: Kind, reply: &Reply) -> &str {
    match kind {
        Kind::PostgresSchema => reply.field("schema"),
        _ => reply.field("database"),
    }
}

async fn open(dir: &std::path::Path, kind: Kind, prefix: &str) -> Tenancy {
    let server = kind.default_server("net", prefix);
    let servers = vec![(server, ServerOptions::default())];
    network::open(dir, servers, PoolOptions::default(), false).await
}

async fn create(tenancy: &Tenancy, raw: &str) -> Result<tenancy::Tenant, Error> {
    tenancy
        .create_tenant(NewTenant::new(network::tenant_id(raw)))
        .await
}

/// Create, serve, suspend, activate, delete, create again.
async fn a_tenant_lives_and_dies_on(kind: Kind, prefix: &str) {
    clear_leftovers(prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let tenancy = open(dir.path(), kind, prefix).await;
    let client = Client::new(network::serve(network::app(tenancy.clone())).await);
    let acme = format!("{prefix}acme");

    let tenant = create(&tenancy, "acme").await.unwrap();
    assert_eq!(tenant.database, acme);
    assert_eq!(kind.names(prefix).await, vec![acme.clone()]);

    let reply = client.get("acme", "/session").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.field("tenant"), "acme");
    assert_eq!(storage_seen(kind, &reply), acme, "{reply:?}");
    let note = serde_json::json!({ "title": "acme: one" });
    assert_eq!(
        client.post("acme", "/notes", note).await.status,
        StatusCode::OK
    );
    let notes = client.get("acme", "/notes").await;
    assert_eq!(notes.body, serde_json::json!(["acme: one"]));

    tenancy.suspend_tenant(&tenant.id, None).await.unwrap();
    let reply = client.get("acme", "/session").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
    assert_eq!(reply.code(), "tenant_suspended");
    if kind == Kind::PostgresDatabase {
        let closed = network::eventually(async || backends_on(&acme).await == 0).await;
        assert!(
            closed,
            "suspending closes the tenant's connections on the server"
        );
    }

    tenancy.activate_tenant(&tenant.id).await.unwrap();
    let notes = client.get("acme", "/notes").await;
    assert_eq!(notes.status, StatusCode::OK, "{notes:?}");
    assert_eq!(notes.body, serde_json::json!(["acme: one"]));

    tenancy.delete_tenant(&tenant.id).await.unwrap();
    let reply = client.get("acme", "/session").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{reply:?}");
    assert!(
        kind.names(prefix).await.is_empty(),
        "delete drops the storage"
    );

    // The id can be used again, and the new tenant starts empty.
    create(&tenancy, "acme").await.unwrap();
    let notes = client.get("acme", "/notes").await;
    assert_eq!(notes.body, serde_json::json!([]), "{notes:?}");
    tenancy.delete_tenant(&tenant.id).await.unwrap();
    tenancy.shutdown().await;
}

/// Server sessions connected to one PostgreSQL database.
async fn backends_on(database: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
        .bind(database)
        .fetch_one(&mut postgres_admin().await)
        .await
        .unwrap()
}

/// Makes storage named like a tenant's, behind the catalog's back.
async fn make_leftover(kind: Kind, name: &str) {
    match kind {
        Kind::PostgresDatabase => {
            execute_pg(
                &mut postgres_admin().await,
                format!("CREATE DATABASE \"{name}\""),
            )
            .await
        }
        Kind::PostgresSchema => {
            execute_pg(
                &mut postgres_admin().await,
                format!("CREATE SCHEMA \"{name}\""),
            )
            .await
        }
        Kind::MySql => {
            let sql = format!("CREATE DATABASE `{name}`");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut mysql_admin().await)
                .await
                .unwrap();
        }
    }
}

/// A leftover refuses the create, naming itself, leaves no tenant, and doctor lists it;
/// once it is removed, the create succeeds.
async fn a_leftover_is_named_and_listed_on(kind: Kind, prefix: &str) {
    clear_leftovers(prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let tenancy = open(dir.path(), kind, prefix).await;
    let ghost = format!("{prefix}ghost");
    make_leftover(kind, &ghost).await;

    let error = create(&tenancy, "ghost").await.unwrap_err();
    assert!(matches!(error, Error::LeftoverStorage { .. }), "{error:?}");
    assert!(error.to_string().contains(&ghost), "{error}");
    let id = network::tenant_id("ghost");
    assert!(tenancy.catalog().tenant(&id).await.unwrap().is_none());
    assert_eq!(
        kind.names(prefix).await,
        vec![ghost.clone()],
        "the leftover is untouched"
    );

    let report = tenancy.doctor().await.unwrap();
    let listed: Vec<_> = report
        .orphans
        .iter()
        .map(|o| (o.server.as_str(), o.database.as_str()))
        .collect();
    assert_eq!(listed, vec![("net", ghost.as_str())], "{report:?}");
    assert!(report.orphans[0].location.contains(&ghost), "{report:?}");

    clear_leftovers(prefix).await;
    create(&tenancy, "ghost").await.unwrap();
    assert!(tenancy.doctor().await.unwrap().is_healthy());
    tenancy.delete_tenant(&id).await.unwrap();
    tenancy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_database_tenant_is_created_served_suspended_and_deleted() {
    a_tenant_lives_and_dies_on(Kind::PostgresDatabase, "lc_pgd_").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_tenant_is_created_served_suspended_and_deleted() {
    a_tenant_lives_and_dies_on(Kind::PostgresSchema, "lc_pgs_").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_tenant_is_created_served_suspended_and_deleted() {
    a_tenant_lives_and_dies_on(Kind::MySql, "lc_my_").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_database_leftover_refuses_create_and_is_listed_by_doctor() {
    a_leftover_is_named_and_listed_on(Kind::PostgresDatabase, "lo_pgd_").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_leftover_refuses_create_and_is_listed_by_doctor() {
    a_leftover_is_named_and_listed_on(Kind::PostgresSchema, "lo_pgs_").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_leftover_refuses_create_and_is_listed_by_doctor() {
    a_leftover_is_named_and_listed_on(Kind::MySql, "lo_my_").await;
}

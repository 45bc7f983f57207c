//! Creating and deleting tenants when things go wrong: failed migrations, interrupted
//! deletes, leftover files, and ids used again. Most run on every catalog backend.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::network::{drop_postgres_schemas, postgres_names, postgres_url};
use support::{TestTenancy, count_notes, tenant_id};
use tenancy::catalog::Mutation;
use tenancy::{
    Backend, EmbeddedMigration, Error, Isolation, NewTenant, PoolOptions, Server, ServerOptions,
    Tenancy, TenantMigrations, TenantStatus,
};

on_every_catalog!(
    failed_migration_leaves_a_failed_tenant_and_no_file,
    failed_tenant_is_created_once_the_migration_is_fixed,
    deleted_id_can_be_created_again_with_a_fresh_database,
    a_delete_finished_twice_leaves_the_tenant_created_since_alone,
    two_finishers_of_one_delete_take_turns,
    delete_interrupted_after_marking_finishes_when_run_again,
    leftover_file_without_a_tenant_is_refused_and_listed_by_doctor,
    repair_leaves_a_creation_that_is_still_running_alone,
    asking_to_seed_without_a_seeder_is_refused_before_anything_is_made,
);

/// The first statement works and the second fails, so a half-applied schema would show.
const BROKEN_MIGRATION: &str = "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT);
INSERT INTO no_such_table VALUES (1);";

async fn tenancy_with_broken_migration(test: &TestTenancy) -> Tenancy {
    let migrations = TenantMigrations::embedded(&[EmbeddedMigration {
        version: 1,
        description: "notes",
        sql: BROKEN_MIGRATION,
    }]);
    test.catalog
        .apply(Tenancy::builder(test.dir.path()))
        .migrations(migrations)
        .build()
        .await
        .unwrap()
}

/// Every file in the tenants folder, by name.
fn tenant_files(test: &TestTenancy) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(test.tenants_dir()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

async fn failed_migration_leaves_a_failed_tenant_and_no_file(catalog: Backend) {
    let test = TestTenancy::on(catalog, PoolOptions::default()).await;
    let broken = tenancy_with_broken_migration(&test).await;

    let error = broken
        .create_tenant(NewTenant::new(tenant_id("charlie")))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::Migration { .. }), "{error:?}");
    assert_eq!(tenant_files(&test), Vec::<String>::new());
    let charlie = broken.catalog().tenant(&tenant_id("charlie")).await;
    let charlie = charlie.unwrap().expect("the failed tenant keeps its row");
    assert_eq!(charlie.status, TenantStatus::Failed);
    let reason = charlie.reason.unwrap_or_default();
    assert!(reason.contains("no_such_table"), "reason: {reason}");
}

async fn failed_tenant_is_created_once_the_migration_is_fixed(catalog: Backend) {
    let test = TestTenancy::on(catalog, PoolOptions::default()).await;
    let broken = tenancy_with_broken_migration(&test).await;
    broken
        .create_tenant(NewTenant::new(tenant_id("charlie")))
        .await
        .unwrap_err();
    broken.shutdown().await;

    let fixed = test.open_again(PoolOptions::default()).await;
    let mut again = NewTenant::new(tenant_id("charlie"));
    again.seed = true;
    let charlie = fixed.create_tenant(again).await.unwrap();

    assert_eq!(charlie.status, TenantStatus::Active);
    assert_eq!(charlie.reason, None);
    assert_eq!(count_notes(&fixed, &charlie).await.unwrap(), 3);
    let files = tenant_files(&test);
    assert!(files.contains(&"charlie.sqlite".to_owned()), "{files:?}");
    assert!(
        !files.iter().any(|name| name.contains("partial")),
        "{files:?}"
    );
}

async fn deleted_id_can_be_created_again_with_a_fresh_database(catalog: Backend) {
    let test = TestTenancy::on(catalog, PoolOptions::default()).await;
    let foxtrot = test.create("foxtrot").await;
    assert_eq!(count_notes(&test.tenancy, &foxtrot).await.unwrap(), 3);

    test.tenancy.delete_tenant(&foxtrot.id).await.unwrap();
    assert_eq!(
        test.tenancy.catalog().tenant(&foxtrot.id).await.unwrap(),
        None
    );
    assert_eq!(tenant_files(&test), Vec::<String>::new());

    let fresh = NewTenant::new(foxtrot.id.clone());
    let foxtrot = test.tenancy.create_tenant(fresh).await.unwrap();
    assert_eq!(foxtrot.status, TenantStatus::Active);
    assert_eq!(count_notes(&test.tenancy, &foxtrot).await.unwrap(), 0);
}

async fn a_delete_finished_twice_leaves_the_tenant_created_since_alone(catalog: Backend) {
    // A delete asked twice has two finishers; one that comes late must not drop the
    // storage of a tenant created since under the same id.
    let test = TestTenancy::on(catalog, PoolOptions::default()).await;
    let hotel = test.create("hotel").await;
    let marked = test.tenancy.mark_deleting(&hotel.id).await.unwrap();
    test.tenancy.finish_delete(&marked).await.unwrap();

    let again = test.create("hotel").await;
    assert_eq!(count_notes(&test.tenancy, &again).await.unwrap(), 3);
    test.tenancy.finish_delete(&marked).await.unwrap();

    let kept = test
        .tenancy
        .catalog()
        .require_tenant(&hotel.id)
        .await
        .unwrap();
    assert_eq!(kept.status, TenantStatus::Active);
    assert_eq!(count_notes(&test.tenancy, &kept).await.unwrap(), 3);
    assert!(test.tenancy.doctor().await.unwrap().is_healthy());
}

async fn two_finishers_of_one_delete_take_turns(catalog: Backend) {
    let test = TestTenancy::on(catalog, PoolOptions::default()).await;
    let india = test.create("india").await;
    let marked = test.tenancy.mark_deleting(&india.id).await.unwrap();
    let again = test.tenancy.mark_deleting(&india.id).await.unwrap();
    let (first, second) = tokio::join!(
        test.tenancy.finish_delete(&marked),
        test.tenancy.finish_delete(&again)
    );
    first.unwrap();
    second.unwrap();
    assert_eq!(
        test.tenancy.catalog().tenant(&india.id).await.unwrap(),
        None
    );
    assert!(test.tenancy.doctor().await.unwrap().is_healthy());
}

async fn delete_interrupted_after_marking_finishes_when_run_again(catalog: Backend) {
    let test = TestTenancy::on(catalog, PoolOptions::default()).await;
    let golf = test.create("golf").await;
    let mark = Mutation::MarkDeleting {
        id: golf.id.clone(),
    };
    test.tenancy.catalog().apply(mark, None).await.unwrap();

    let report = test.tenancy.doctor().await.unwrap();
    let stuck: Vec<_> = report.stuck.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(stuck, ["golf"]);

    test.tenancy.delete_tenant(&golf.id).await.unwrap();
    assert_eq!(test.tenancy.catalog().tenant(&golf.id).await.unwrap(), None);
    assert_eq!(tenant_files(&test), Vec::<String>::new());
    assert!(test.tenancy.doctor().await.unwrap().is_healthy());
}

async fn leftover_file_without_a_tenant_is_refused_and_listed_by_doctor(catalog: Backend) {
    let test = TestTenancy::on(catalog, PoolOptions::default()).await;
    std::fs::create_dir_all(test.tenants_dir()).unwrap();
    let leftover = test.tenants_dir().join("hotel.sqlite");
    std::fs::write(&leftover, b"someone's data").unwrap();

    let error = test
        .tenancy
        .create_tenant(NewTenant::new(tenant_id("hotel")))
        .await
        .unwrap_err();

    match &error {
        Error::LeftoverStorage { location, .. } => {
            assert_eq!(Path::new(location), leftover.as_path());
        }
        other => panic!("expected LeftoverStorage, got {other:?}"),
    }
    assert!(error.to_string().contains("hotel.sqlite"), "{error}");
    assert_eq!(
        test.tenancy
            .catalog()
            .tenant(&tenant_id("hotel"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(std::fs::read(&leftover).unwrap(), b"someone's data");
    let orphans = test.tenancy.doctor().await.unwrap().orphans;
    let orphans: Vec<_> = orphans.iter().map(|o| o.database.as_str()).collect();
    assert_eq!(orphans, ["hotel"]);
}

/// Counts to six million before creating the table: a creation that takes a second or more.
const SLOW_SQLITE_MIGRATION: &str = "WITH RECURSIVE c(x) AS
    (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 6000000) SELECT count(*) FROM c;
CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT);";

const SLOW_POSTGRES_MIGRATION: &str = "CREATE TABLE notes (id BIGINT PRIMARY KEY, title TEXT);
SELECT pg_sleep(2);";

fn slow(sql: &'static str) -> TenantMigrations {
    TenantMigrations::embedded(&[EmbeddedMigration {
        version: 1,
        description: "slow",
        sql,
    }])
}

/// Waits until `exists` holds, while the creation is still under way.
async fn until_building(mut exists: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !exists().await {
        assert!(
            Instant::now() < deadline,
            "the creation never started building"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn repair_leaves_a_creation_that_is_still_running_alone(catalog: Backend) {
    let test = TestTenancy::on(catalog, PoolOptions::default()).await;
    let open_slow = || async {
        test.catalog
            .apply(Tenancy::builder(test.dir.path()))
            .migrations(slow(SLOW_SQLITE_MIGRATION))
            .build()
            .await
            .unwrap()
    };
    let (creator, repairer) = (open_slow().await, open_slow().await);
    let partial = test.tenants_dir().join("india.sqlite.partial");

    let creation = tokio::spawn(async move {
        creator
            .create_tenant(NewTenant::new(tenant_id("india")))
            .await
    });
    until_building(async || partial.exists()).await;
    let report = repairer.repair(Duration::ZERO).await.unwrap();
    let created = creation.await.unwrap();

    let outcomes: Vec<_> = report.tenants.iter().map(|t| t.outcome.as_str()).collect();
    assert_eq!(outcomes, ["skipped: its creation is still running"]);
    let india = created.expect("the creation was left to finish");
    assert_eq!(india.status, TenantStatus::Active);
    assert!(test.tenants_dir().join("india.sqlite").exists());
    assert_eq!(count_rows(&repairer, &india).await, 0);
}

async fn count_rows(tenancy: &Tenancy, tenant: &tenancy::Tenant) -> i64 {
    let rows = tenancy
        .run_sql(tenant, "SELECT COUNT(*) FROM notes")
        .await
        .expect("the tenant's notes table is there")
        .rows;
    rows[0][0].as_i64().expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_during_a_slow_creation_never_leaves_an_active_tenant_without_storage() {
    let prefix = "rep_slow_pg_";
    drop_postgres_schemas(prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let open_slow = || async {
        let server = Server::postgres("pg", &postgres_url(), Isolation::Schema, prefix).unwrap();
        Tenancy::builder(dir.path())
            .local_server(None)
            .server(server, ServerOptions::default())
            .migrations(slow(SLOW_POSTGRES_MIGRATION))
            .build()
            .await
            .unwrap()
    };
    let (creator, repairer) = (open_slow().await, open_slow().await);

    let creation = tokio::spawn(async move {
        creator
            .create_tenant(NewTenant::new(tenant_id("xray")))
            .await
    });
    until_building(async || !postgres_names(prefix, true).await.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = repairer.repair(Duration::ZERO).await.unwrap();
    let created = creation.await.unwrap();

    let xray = repairer
        .catalog()
        .require_tenant(&tenant_id("xray"))
        .await
        .unwrap();
    let schemas = postgres_names(prefix, true).await;
    match xray.status {
        TenantStatus::Active => {
            assert_eq!(schemas, ["rep_slow_pg_xray"], "{report:?}");
            assert!(created.is_ok(), "{created:?}");
            assert_eq!(count_rows(&repairer, &xray).await, 0);
        }
        TenantStatus::Failed => {
            assert_eq!(schemas, Vec::<String>::new(), "{report:?}");
            assert!(created.is_err(), "{created:?}");
        }
        other => panic!("xray ended {other}: {report:?}"),
    }
    drop_postgres_schemas(prefix).await;
}

async fn asking_to_seed_without_a_seeder_is_refused_before_anything_is_made(catalog: Backend) {
    let test = TestTenancy::on(catalog, PoolOptions::default()).await;
    let unseeded = tenancy_with_broken_migration(&test).await;
    let mut new = NewTenant::new(tenant_id("hotel"));
    new.seed = true;

    let error = unseeded.create_tenant(new).await.unwrap_err();
    assert!(error.to_string().contains("no seeder"), "{error}");
    let hotel = unseeded
        .catalog()
        .tenant(&tenant_id("hotel"))
        .await
        .unwrap();
    assert!(hotel.is_none(), "no row is written: {hotel:?}");
    assert!(tenant_files(&test).is_empty(), "{:?}", tenant_files(&test));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_and_a_delete_of_a_postgres_tenant_take_turns() {
    // Schema mode has no lock file: the process's own turn keeps two resets from building
    // the same schema at once, and a delete from dropping it under a reset.
    let prefix = "reset_turn_pg_";
    drop_postgres_schemas(prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::postgres("pg", &postgres_url(), Isolation::Schema, prefix).unwrap();
    let tenancy = Tenancy::builder(dir.path())
        .local_server(None)
        .server(server, ServerOptions::default())
        .build()
        .await
        .unwrap();
    let yankee = tenancy
        .create_tenant(NewTenant::new(tenant_id("yankee")))
        .await
        .unwrap();

    let (first, second) = tokio::join!(
        tenancy.reset_tenant(&yankee.id, false),
        tenancy.reset_tenant(&yankee.id, false)
    );
    for reset in [&first, &second] {
        match reset {
            Ok(tenant) => assert_eq!(tenant.status, TenantStatus::Active),
            Err(Error::StillInUse(_)) => {}
            Err(other) => panic!("a reset failed: {other:?}"),
        }
    }
    assert!(first.is_ok() || second.is_ok(), "{first:?} {second:?}");

    let reset = tenancy.reset_tenant(&yankee.id, false);
    let delete = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        tenancy.mark_deleting(&yankee.id).await
    };
    let (reset, delete) = tokio::join!(reset, delete);
    reset.unwrap();
    assert!(matches!(delete, Err(Error::StillInUse(_))), "{delete:?}");

    let kept = tenancy.catalog().require_tenant(&yankee.id).await.unwrap();
    assert_eq!(kept.status, TenantStatus::Active);
    assert_eq!(postgres_names(prefix, true).await, ["reset_turn_pg_yankee"]);
    tenancy.delete_tenant(&yankee.id).await.unwrap();
    drop_postgres_schemas(prefix).await;
}

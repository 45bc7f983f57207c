//! Migrations across tenants: a failure stays with its tenant, runs resume, rollbacks touch
//! only tenants that applied the batch, edits are refused, and locks are per tenant. The
//! runs are journaled in the catalog, so each test runs on every catalog backend.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::TestCatalog;
use tempfile::TempDir;
use tenancy::migrate::{RunKind, RunOptions, RunReport, TenantResult};
use tenancy::{Backend, EmbeddedMigration, NewTenant, Tenancy, TenantId, TenantMigrations};

const V1: &str = "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT);";

/// Rebuilds the table with `title NOT NULL`: fails on a tenant holding a note without one.
const V2: &str = "CREATE TABLE notes_v2 (id INTEGER PRIMARY KEY, title TEXT NOT NULL);
INSERT INTO notes_v2 (id, title) SELECT id, title FROM notes;
DROP TABLE notes;
ALTER TABLE notes_v2 RENAME TO notes;";

fn v1() -> TenantMigrations {
    TenantMigrations::embedded(&[EmbeddedMigration {
        version: 1,
        description: "notes",
        sql: V1,
    }])
}

fn v1_v2(v2: &'static str) -> TenantMigrations {
    TenantMigrations::embedded(&[
        EmbeddedMigration {
            version: 1,
            description: "notes",
            sql: V1,
        },
        EmbeddedMigration {
            version: 2,
            description: "title required",
            sql: v2,
        },
    ])
}

on_every_catalog!(
    a_failing_tenant_is_reported_untouched_and_the_others_migrate,
    an_edited_migration_is_refused_naming_the_file,
    rollback_touches_only_tenants_that_applied_the_batch,
    an_interrupted_run_resumes_with_only_the_tenants_not_finished,
    a_tenant_locked_by_another_run_waits_then_is_busy_while_others_proceed,
    two_runs_on_the_same_tenant_do_not_both_apply,
    a_dry_run_changes_nothing,
    suspended_tenants_are_skipped,
);

/// A data folder, and a catalog on the backend under test.
struct Place {
    dir: TempDir,
    catalog: TestCatalog,
}

impl Place {
    async fn new(catalog: Backend) -> Self {
        Place {
            dir: TempDir::new().unwrap(),
            catalog: TestCatalog::new(catalog).await,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

async fn open(place: &Place, migrations: TenantMigrations) -> Tenancy {
    place
        .catalog
        .apply(Tenancy::builder(place.path()))
        .migrations(migrations)
        .build()
        .await
        .expect("tenancy opens")
}

fn id(raw: &str) -> TenantId {
    TenantId::parse(raw).expect("valid test id")
}

async fn create(tenancy: &Tenancy, raw: &str) {
    tenancy
        .create_tenant(NewTenant::new(id(raw)))
        .await
        .expect("tenant created");
}

async fn sql(tenancy: &Tenancy, raw: &str, statement: &str) -> Vec<Vec<serde_json::Value>> {
    let tenant = tenancy.catalog().require_tenant(&id(raw)).await.unwrap();
    tenancy
        .run_sql(&tenant, statement)
        .await
        .expect("statement runs")
        .rows
}

async fn migrate(tenancy: &Tenancy, tenants: &[&str], kind: RunKind) -> RunReport {
    let ids = tenants.iter().map(|raw| id(raw)).collect();
    let options = RunOptions {
        parallel: 3,
        ..RunOptions::for_budget(8)
    };
    let stop = Arc::new(AtomicBool::new(false));
    tenancy
        .run_migrations(kind, ids, options, &|_, _, _| {}, stop)
        .await
        .expect("run completes")
}

fn result<'r>(report: &'r RunReport, raw: &str) -> &'r TenantResult {
    report
        .results
        .iter()
        .find(|r| r.tenant_id.as_str() == raw)
        .expect("tenant in report")
}

fn names(count: usize) -> Vec<String> {
    (1..=count).map(|n| format!("t{n:02}")).collect()
}

async fn a_failing_tenant_is_reported_untouched_and_the_others_migrate(catalog: Backend) {
    let dir = Place::new(catalog).await;
    let tenants = names(10);
    let tenants: Vec<&str> = tenants.iter().map(String::as_str).collect();
    let before = open(&dir, v1()).await;
    for raw in &tenants {
        create(&before, raw).await;
        sql(
            &before,
            raw,
            "INSERT INTO notes (title, body) VALUES ('kept', 'b')",
        )
        .await;
    }
    sql(
        &before,
        "t05",
        "INSERT INTO notes (title, body) VALUES (NULL, 'no title')",
    )
    .await;
    before.shutdown().await;

    let tenancy = open(&dir, v1_v2(V2)).await;
    let report = migrate(&tenancy, &tenants, RunKind::Migrate).await;

    assert_eq!(report.count("migrated"), 9, "{report:?}");
    let failed = result(&report, "t05");
    assert_eq!(failed.status, "failed");
    assert!(
        failed
            .detail
            .as_deref()
            .unwrap()
            .contains("0002_title_required.sql"),
        "{failed:?}"
    );
    assert_eq!(report.failures(), 1);
    // Untouched: still at version 1, with its old columns.
    let t05 = tenancy.catalog().require_tenant(&id("t05")).await.unwrap();
    let state = tenancy.migration_status(&t05).await.unwrap();
    assert_eq!((state.applied, state.pending), (vec![1], vec![2]));
    assert_eq!(
        sql(
            &tenancy,
            "t05",
            "SELECT count(*) FROM pragma_table_info('notes')"
        )
        .await[0][0],
        3
    );

    sql(
        &tenancy,
        "t05",
        "UPDATE notes SET title = 'fixed' WHERE title IS NULL",
    )
    .await;
    let second = migrate(&tenancy, &tenants, RunKind::Migrate).await;
    assert_eq!(result(&second, "t05").status, "migrated");
    assert_eq!(second.count("migrated"), 1);
    assert_eq!(second.count("up_to_date"), 9);
}

async fn an_edited_migration_is_refused_naming_the_file(catalog: Backend) {
    let dir = Place::new(catalog).await;
    let tenancy = open(&dir, v1_v2(V2)).await;
    create(&tenancy, "alpha").await;
    tenancy.shutdown().await;

    let edited = "CREATE TABLE something_else (id INTEGER);";
    let tenancy = open(&dir, v1_v2(edited)).await;
    let report = migrate(&tenancy, &["alpha"], RunKind::Migrate).await;

    let refused = result(&report, "alpha");
    assert_eq!(refused.status, "failed");
    let detail = refused.detail.as_deref().unwrap();
    assert!(
        detail.contains("0002_title_required.sql") && detail.contains("edited"),
        "{detail}"
    );
    let tables = sql(
        &tenancy,
        "alpha",
        "SELECT count(*) FROM sqlite_master WHERE name = 'something_else'",
    )
    .await;
    assert_eq!(tables[0][0], 0);
}

fn reversible_dir(root: &Path) -> std::path::PathBuf {
    let dir = root.join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("0001_notes.sql"), V1).unwrap();
    std::fs::write(
        dir.join("0002_tags.up.sql"),
        "ALTER TABLE notes ADD COLUMN tag TEXT;",
    )
    .unwrap();
    std::fs::write(
        dir.join("0002_tags.down.sql"),
        "ALTER TABLE notes DROP COLUMN tag;",
    )
    .unwrap();
    dir
}

async fn rollback_touches_only_tenants_that_applied_the_batch(catalog: Backend) {
    let dir = Place::new(catalog).await;
    let tenancy = open(&dir, v1()).await;
    for raw in ["alpha", "beta", "gamma"] {
        create(&tenancy, raw).await;
    }
    tenancy.shutdown().await;

    let migrations = TenantMigrations::from_dir(&reversible_dir(dir.path()))
        .await
        .unwrap();
    let tenancy = open(&dir, migrations).await;
    migrate(&tenancy, &["alpha", "beta"], RunKind::Migrate).await;

    let target = tenancy.migrations().rollback_target(1).unwrap();
    assert_eq!(target, 1);
    let report = migrate(
        &tenancy,
        &["alpha", "beta", "gamma"],
        RunKind::Rollback { target },
    )
    .await;

    assert_eq!(result(&report, "alpha").status, "rolled_back");
    assert_eq!(result(&report, "beta").status, "rolled_back");
    assert_eq!(result(&report, "gamma").status, "not_applied");
    for raw in ["alpha", "beta", "gamma"] {
        let columns = sql(
            &tenancy,
            raw,
            "SELECT count(*) FROM pragma_table_info('notes') WHERE name = 'tag'",
        )
        .await;
        assert_eq!(columns[0][0], 0, "{raw} still has the column");
    }
    let changes = tenancy.catalog().changes_since(0, 1000).await.unwrap();
    let rolled_back: Vec<_> = changes
        .iter()
        .filter(|c| c.action == "tenant.rolled_back")
        .collect();
    assert_eq!(
        rolled_back.len(),
        2,
        "one change-log row per tenant rolled back"
    );
}

async fn an_interrupted_run_resumes_with_only_the_tenants_not_finished(catalog: Backend) {
    let dir = Place::new(catalog).await;
    let tenancy = open(&dir, v1()).await;
    let tenants = names(8);
    for raw in &tenants {
        create(&tenancy, raw).await;
    }
    tenancy.shutdown().await;

    let tenancy = open(&dir, v1_v2(V2)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // Stop after the third tenant, as Ctrl-C would.
    let progress = move |_: &TenantResult, done: usize, _: usize| {
        if done == 3 {
            flag.store(true, Ordering::SeqCst);
        }
    };
    let ids = tenants.iter().map(|raw| id(raw)).collect();
    let options = RunOptions {
        parallel: 1,
        ..RunOptions::for_budget(8)
    };
    let first = tenancy
        .run_migrations(RunKind::Migrate, ids, options, &progress, stop)
        .await
        .unwrap();

    assert_eq!(first.results.len(), 3, "{first:?}");
    assert_eq!(first.not_run.len(), 5);
    let run = tenancy.catalog().run(first.run_id).await.unwrap().unwrap();
    assert_eq!(run.status, "interrupted");

    let stop = Arc::new(AtomicBool::new(false));
    let resumed = tenancy
        .resume_run(&|_, _, _| {}, stop)
        .await
        .unwrap()
        .expect("a run to resume");
    assert_eq!(resumed.run_id, first.run_id);
    let mut handled: Vec<_> = resumed
        .results
        .iter()
        .map(|r| r.tenant_id.clone())
        .collect();
    handled.sort();
    assert_eq!(
        handled, first.not_run,
        "only the tenants not finished are in the report"
    );
    assert_eq!(resumed.count("migrated"), 5);
    assert_eq!(
        tenancy
            .catalog()
            .run(first.run_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "completed"
    );
    assert!(
        tenancy
            .catalog()
            .latest_unfinished_run()
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_tenant_locked_by_another_run_waits_then_is_busy_while_others_proceed(catalog: Backend) {
    let dir = Place::new(catalog).await;
    let tenancy = open(&dir, v1()).await;
    for raw in ["alpha", "beta"] {
        create(&tenancy, raw).await;
    }
    tenancy.shutdown().await;
    let tenancy = open(&dir, v1_v2(V2)).await;

    // Another run holds alpha.
    let server = tenancy.server(tenancy::LOCAL_SERVER).unwrap();
    let held = server
        .lock_file("alpha", Duration::ZERO)
        .await
        .unwrap()
        .expect("free");

    let options = RunOptions {
        lock_wait_secs: 1,
        ..RunOptions::for_budget(8)
    };
    let stop = Arc::new(AtomicBool::new(false));
    let ids = vec![id("alpha"), id("beta")];
    let report = tenancy
        .run_migrations(RunKind::Migrate, ids, options, &|_, _, _| {}, stop)
        .await
        .unwrap();

    assert_eq!(
        result(&report, "beta").status,
        "migrated",
        "an unrelated tenant is not held up"
    );
    assert_eq!(result(&report, "alpha").status, "busy");
    drop(held);
    let again = migrate(&tenancy, &["alpha"], RunKind::Migrate).await;
    assert_eq!(result(&again, "alpha").status, "migrated");
}

async fn two_runs_on_the_same_tenant_do_not_both_apply(catalog: Backend) {
    let dir = Place::new(catalog).await;
    let tenancy = open(&dir, v1()).await;
    create(&tenancy, "alpha").await;
    tenancy.shutdown().await;
    let tenancy = open(&dir, v1_v2(V2)).await;

    let (a, b) = tokio::join!(
        migrate(&tenancy, &["alpha"], RunKind::Migrate),
        migrate(&tenancy, &["alpha"], RunKind::Migrate)
    );
    let mut outcomes = [result(&a, "alpha").status, result(&b, "alpha").status];
    outcomes.sort_unstable();
    assert_eq!(outcomes, ["migrated", "up_to_date"]);
}

async fn a_dry_run_changes_nothing(catalog: Backend) {
    let dir = Place::new(catalog).await;
    let tenancy = open(&dir, v1()).await;
    create(&tenancy, "alpha").await;
    tenancy.shutdown().await;
    let tenancy = open(&dir, v1_v2(V2)).await;

    let ids = vec![id("alpha")];
    let options = RunOptions {
        dry_run: true,
        ..RunOptions::for_budget(8)
    };
    let stop = Arc::new(AtomicBool::new(false));
    let report = tenancy
        .run_migrations(RunKind::Migrate, ids, options, &|_, _, _| {}, stop)
        .await
        .unwrap();

    assert_eq!(result(&report, "alpha").status, "would_migrate");
    assert_eq!(result(&report, "alpha").versions, vec![2]);
    let tenant = tenancy
        .catalog()
        .require_tenant(&id("alpha"))
        .await
        .unwrap();
    assert_eq!(
        tenancy.migration_status(&tenant).await.unwrap().pending,
        vec![2]
    );
}

async fn suspended_tenants_are_skipped(catalog: Backend) {
    let dir = Place::new(catalog).await;
    let tenancy = open(&dir, v1()).await;
    create(&tenancy, "alpha").await;
    tenancy.suspend_tenant(&id("alpha"), None).await.unwrap();
    tenancy.shutdown().await;
    let tenancy = open(&dir, v1_v2(V2)).await;

    let report = migrate(&tenancy, &["alpha"], RunKind::Migrate).await;
    let skipped = result(&report, "alpha");
    assert_eq!(skipped.status, "skipped");
    assert!(skipped.detail.as_deref().unwrap().contains("suspended"));
}

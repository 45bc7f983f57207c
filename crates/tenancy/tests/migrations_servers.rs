//! Migrations across tenants on the network servers: PostgreSQL rolls a failing tenant back
//! whole, MySQL (whose DDL commits as it goes) marks a tenant that failed half-way dirty and
//! refuses it afterwards.
//!
//! The servers come from `TENANCY_TEST_POSTGRES_URL` and `TENANCY_TEST_MYSQL_URL` (defaults:
//! the machine's own). A server that cannot be reached fails these tests; it never skips them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

mod support;

use support::network::{drop_mysql_databases, drop_postgres_schemas, mysql_url, postgres_url};
use tenancy::migrate::{RunKind, RunOptions, RunReport, TenantResult};
use tenancy::{
    EmbeddedMigration, Isolation, NewTenant, Server, ServerOptions, Tenancy, TenantId,
    TenantMigrations,
};

const PG_V1: &str = "CREATE TABLE notes (id BIGINT PRIMARY KEY, title TEXT)";
const PG_V2: &str = "ALTER TABLE notes ADD COLUMN tag TEXT;
ALTER TABLE notes ALTER COLUMN title SET NOT NULL;";

const MY_V1: &str = "CREATE TABLE notes (id BIGINT PRIMARY KEY, title VARCHAR(100) NULL)";
/// The first statement commits on its own; the second fails on a tenant with a note
/// without a title.
const MY_V2: &str = "ALTER TABLE notes ADD COLUMN tag VARCHAR(20) NULL;
ALTER TABLE notes MODIFY title VARCHAR(100) NOT NULL;";

fn migrations(v1: &'static str, v2: Option<&'static str>) -> TenantMigrations {
    let mut set = vec![EmbeddedMigration {
        version: 1,
        description: "notes",
        sql: v1,
    }];
    if let Some(sql) = v2 {
        set.push(EmbeddedMigration {
            version: 2,
            description: "title required",
            sql,
        });
    }
    TenantMigrations::embedded(&set)
}

async fn open(dir: &Path, server: Server, migrations: TenantMigrations) -> Tenancy {
    Tenancy::builder(dir)
        .local_server(None)
        .server(server, ServerOptions::default())
        .migrations(migrations)
        .build()
        .await
        .expect("tenancy opens")
}

fn id(raw: &str) -> TenantId {
    TenantId::parse(raw).expect("valid test id")
}

async fn sql(tenancy: &Tenancy, raw: &str, statement: &str) -> Vec<Vec<serde_json::Value>> {
    let tenant = tenancy.catalog().require_tenant(&id(raw)).await.unwrap();
    tenancy
        .run_sql(&tenant, statement)
        .await
        .unwrap_or_else(|e| panic!("{statement} on {raw}: {e:?}"))
        .rows
}

async fn migrate(tenancy: &Tenancy, tenants: &[&str]) -> RunReport {
    let ids = tenants.iter().map(|raw| id(raw)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    tenancy
        .run_migrations(
            RunKind::Migrate,
            ids,
            RunOptions::for_budget(4),
            &|_, _, _| {},
            stop,
        )
        .await
        .expect("the run is recorded and executed")
}

fn result<'r>(report: &'r RunReport, raw: &str) -> &'r TenantResult {
    report
        .results
        .iter()
        .find(|r| r.tenant_id.as_str() == raw)
        .unwrap_or_else(|| panic!("{raw} missing from {report:?}"))
}

/// Creates `tenants` at version 1; alpha gets a note with a title, bravo one without.
async fn create_at_v1(dir: &Path, server: Server, v1: &'static str, tenants: &[&str]) {
    let tenancy = open(dir, server, migrations(v1, None)).await;
    for raw in tenants {
        let new = NewTenant::new(id(raw));
        tenancy.create_tenant(new).await.unwrap();
    }
    sql(
        &tenancy,
        "alpha",
        "INSERT INTO notes VALUES (1, 'alpha: one')",
    )
    .await;
    sql(&tenancy, "bravo", "INSERT INTO notes VALUES (1, NULL)").await;
    tenancy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_tenants_migrate_and_a_failing_one_is_rolled_back_whole() {
    let prefix = "mig_pg_";
    drop_postgres_schemas(prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let server = || Server::postgres("pg", &postgres_url(), Isolation::Schema, prefix).unwrap();
    let tenants = ["alpha", "bravo", "charlie"];
    create_at_v1(dir.path(), server(), PG_V1, &tenants).await;

    let tenancy = open(dir.path(), server(), migrations(PG_V1, Some(PG_V2))).await;
    let report = migrate(&tenancy, &tenants).await;
    assert_eq!(result(&report, "alpha").status, "migrated", "{report:?}");
    assert_eq!(result(&report, "charlie").status, "migrated", "{report:?}");
    let bravo = result(&report, "bravo");
    assert_eq!(bravo.status, "failed", "{report:?}");
    let detail = bravo.detail.as_deref().unwrap();
    assert!(detail.contains("0002_title_required.sql"), "{detail}");

    // The failed tenant kept neither statement: its column list and version are as before.
    let columns = sql(
        &tenancy,
        "bravo",
        "SELECT count(*) FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'notes' AND column_name = 'tag'",
    )
    .await;
    assert_eq!(columns, vec![vec![serde_json::json!(0)]]);
    let bravo_tenant = tenancy
        .catalog()
        .require_tenant(&id("bravo"))
        .await
        .unwrap();
    let state = tenancy.migration_status(&bravo_tenant).await.unwrap();
    assert_eq!(state.applied, vec![1]);
    assert_eq!(state.problem, None);

    // After the data is fixed, a second run migrates only that tenant.
    sql(&tenancy, "bravo", "UPDATE notes SET title = 'bravo: fixed'").await;
    let again = migrate(&tenancy, &tenants).await;
    assert_eq!(result(&again, "bravo").status, "migrated", "{again:?}");
    assert_eq!(result(&again, "alpha").status, "up_to_date", "{again:?}");
    assert_eq!(result(&again, "charlie").status, "up_to_date", "{again:?}");

    for raw in tenants {
        tenancy.delete_tenant(&id(raw)).await.unwrap();
    }
    tenancy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_migration_failing_half_way_marks_the_tenant_dirty_and_refuses_it_afterwards() {
    let prefix = "mig_my_";
    drop_mysql_databases(prefix).await;
    let dir = tempfile::tempdir().unwrap();
    let server = || Server::mysql("my", &mysql_url(), prefix).unwrap();
    let tenants = ["alpha", "bravo"];
    create_at_v1(dir.path(), server(), MY_V1, &tenants).await;

    let tenancy = open(dir.path(), server(), migrations(MY_V1, Some(MY_V2))).await;
    let report = migrate(&tenancy, &tenants).await;
    assert_eq!(result(&report, "alpha").status, "migrated", "{report:?}");
    let bravo = result(&report, "bravo");
    assert_eq!(bravo.status, "dirty", "{report:?}");
    assert!(bravo.is_failure());
    let detail = bravo.detail.as_deref().unwrap();
    assert!(
        detail.contains("0002_title_required.sql") && detail.contains("dirty"),
        "{detail}"
    );
    // The first statement did commit: that is why the tenant needs repair.
    let tag = sql(
        &tenancy,
        "bravo",
        "SELECT COUNT(*) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'notes' AND COLUMN_NAME = 'tag'",
    )
    .await;
    assert_eq!(tag, vec![vec![serde_json::json!(1)]]);

    // Fixing the data is not enough: the tenant stays refused until it is repaired, and
    // status says why.
    sql(&tenancy, "bravo", "UPDATE notes SET title = 'bravo: fixed'").await;
    let again = migrate(&tenancy, &tenants).await;
    assert_eq!(result(&again, "bravo").status, "dirty", "{again:?}");
    assert_eq!(result(&again, "alpha").status, "up_to_date", "{again:?}");
    let bravo_tenant = tenancy
        .catalog()
        .require_tenant(&id("bravo"))
        .await
        .unwrap();
    let state = tenancy.migration_status(&bravo_tenant).await.unwrap();
    let problem = state.problem.expect("a dirty tenant has a problem");
    assert!(problem.contains("dirty"), "{problem}");

    // The documented repair: finish or undo the migration by hand, then clear the mark.
    sql(&tenancy, "bravo", "ALTER TABLE notes DROP COLUMN tag").await;
    sql(
        &tenancy,
        "bravo",
        "DELETE FROM _sqlx_migrations WHERE version = 2 AND success = 0",
    )
    .await;
    let repaired = migrate(&tenancy, &tenants).await;
    assert_eq!(
        result(&repaired, "bravo").status,
        "migrated",
        "{repaired:?}"
    );

    for raw in tenants {
        tenancy.delete_tenant(&id(raw)).await.unwrap();
    }
    tenancy.shutdown().await;
}

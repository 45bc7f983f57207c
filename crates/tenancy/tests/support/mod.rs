//! Shared setup for the core crate's integration tests: a tenancy in a temporary directory
//! with a tiny notes schema, a seeder, and views of this process from the outside
//! (open files, SQLite worker threads) that do not trust the pool's own counters.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

pub mod network;

pub use network::TestCatalog;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tenancy::sqlx;
use tenancy::{
    Backend, BoxError, BoxFuture, Connection, EmbeddedMigration, NewTenant, PoolOptions, Seeder,
    Tenancy, Tenant, TenantId, TenantMigrations,
};

/// The notes table of the workload, reduced to what the tests read.
pub const NOTES_SQL: &str = "CREATE TABLE notes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);";

/// How many notes [`NotesSeeder`] writes into each tenant.
pub const SEEDED_NOTES: i64 = 3;

pub fn notes_migrations() -> TenantMigrations {
    TenantMigrations::embedded(&[EmbeddedMigration {
        version: 1,
        description: "notes",
        sql: NOTES_SQL,
    }])
}

/// Seeds notes titled `<tenant id>: note N`.
pub struct NotesSeeder;

impl Seeder for NotesSeeder {
    fn seed<'a>(
        &'a self,
        tenant: &'a Tenant,
        conn: &'a mut Connection,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let sqlite = conn.as_sqlite().ok_or("tests run on SQLite only")?;
            for n in 1..=SEEDED_NOTES {
                sqlx::query("INSERT INTO notes (title, body) VALUES (?, ?)")
                    .bind(format!("{}: note {n}", tenant.id))
                    .bind("seeded")
                    .execute(&mut *sqlite)
                    .await?;
            }
            Ok(())
        })
    }
}

/// A tenancy whose data lives in a temporary directory, removed when this is dropped.
pub struct TestTenancy {
    pub tenancy: Tenancy,
    pub dir: TempDir,
    pub catalog: TestCatalog,
}

impl TestTenancy {
    /// On the default SQLite catalog.
    pub async fn new(pool: PoolOptions) -> Self {
        Self::on(Backend::Sqlite, pool).await
    }

    /// With the catalog on `backend`; tenants on the built-in SQLite server.
    pub async fn on(backend: Backend, pool: PoolOptions) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let catalog = TestCatalog::new(backend).await;
        let tenancy = open_on(dir.path(), &catalog, pool).await;
        TestTenancy {
            tenancy,
            dir,
            catalog,
        }
    }

    /// A second handle on the same data and catalog, as another process would open it.
    pub async fn open_again(&self, pool: PoolOptions) -> Tenancy {
        open_on(self.dir.path(), &self.catalog, pool).await
    }

    /// Where tenant databases are kept.
    pub fn tenants_dir(&self) -> PathBuf {
        self.dir.path().join("tenants")
    }

    /// Creates and seeds an active tenant.
    pub async fn create(&self, id: &str) -> Tenant {
        let mut new = NewTenant::new(tenant_id(id));
        new.seed = true;
        self.tenancy
            .create_tenant(new)
            .await
            .expect("creating a test tenant")
    }

    /// Tenant databases of this tenancy that the process holds open now.
    pub fn open_databases(&self) -> BTreeSet<String> {
        open_tenant_databases(&self.tenants_dir())
    }
}

/// A tenancy on an existing data directory, as a second process would open it.
pub async fn open(data_dir: &Path, pool: PoolOptions) -> Tenancy {
    Tenancy::builder(data_dir)
        .pool(pool)
        .migrations(notes_migrations())
        .seeder(NotesSeeder)
        .build()
        .await
        .expect("building a tenancy in a temporary directory")
}

/// [`open`] with the catalog elsewhere.
pub async fn open_on(data_dir: &Path, catalog: &TestCatalog, pool: PoolOptions) -> Tenancy {
    catalog
        .apply(Tenancy::builder(data_dir))
        .pool(pool)
        .migrations(notes_migrations())
        .seeder(NotesSeeder)
        .build()
        .await
        .expect("building a tenancy in a temporary directory")
}

pub fn tenant_id(raw: &str) -> TenantId {
    TenantId::parse(raw).expect("a valid test tenant id")
}

/// Runs a query on the tenant's database and returns how many notes it holds.
pub async fn count_notes(tenancy: &Tenancy, tenant: &Tenant) -> Result<i64, tenancy::Error> {
    let mut conn = tenancy.connect(tenant).await?;
    let sqlite = conn.as_sqlite().expect("tests run on SQLite only");
    sqlx::query_scalar("SELECT COUNT(*) FROM notes")
        .fetch_one(sqlite)
        .await
        .map_err(tenancy::Error::Database)
}

/// The tenant databases in `tenants_dir` that some file descriptor of this process points
/// at, by tenant database name. The database file, its WAL and its shared memory all count
/// for the one database.
///
/// `/proc/self/fd` cannot be read in one instant: a database closed while it is being read
/// and another opened on a descriptor read later would both be counted, although they were
/// never open together. So it is read twice, and only databases seen both times count.
pub fn open_tenant_databases(tenants_dir: &Path) -> BTreeSet<String> {
    let Ok(tenants_dir) = tenants_dir.canonicalize() else {
        return BTreeSet::new();
    };
    let first = databases_behind_descriptors(&tenants_dir);
    let second = databases_behind_descriptors(&tenants_dir);
    first.intersection(&second).cloned().collect()
}

fn databases_behind_descriptors(tenants_dir: &Path) -> BTreeSet<String> {
    let entries = std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd is readable");
    let descriptors: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    descriptors
        .iter()
        .filter_map(|fd| std::fs::read_link(fd).ok())
        .filter(|target| target.parent() == Some(tenants_dir))
        .filter_map(|target| database_name(&target))
        .collect()
}

fn database_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = ["-wal", "-shm"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name);
    stem.strip_suffix(".sqlite").map(str::to_owned)
}

/// Thread ids of sqlx's SQLite workers: every SQLite connection runs on one, so a new
/// id means a new connection, whatever the pool believes.
pub fn sqlite_worker_threads() -> BTreeSet<u32> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task is readable");
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            // The kernel keeps 15 bytes of `sqlx-sqlite-worker-N`.
            comm.starts_with("sqlx-sqlite-wor")
                .then(|| task.file_name().to_str()?.parse().ok())?
        })
        .collect()
}

/// Polls `check` until it holds or `limit` has passed; returns whether it held.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

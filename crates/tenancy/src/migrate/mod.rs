//! Tenant migrations: the application's schema, applied to every tenant database.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

mod ops;
mod run;
mod tenant;

use crate::error::Error;
use crate::server::{Backend, Connection};
use crate::tenant_id::TenantId;

pub use ops::SqlOutcome;
pub use run::{ClaimedRun, Progress, RunKind, RunOptions, RunReport, TenantResult};
pub use tenant::MigrationState;

/// A migration compiled into the binary, usually with `include_str!`.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedMigration {
    /// Version; migrations apply in ascending order.
    pub version: i64,
    /// A short description, stored with the version.
    pub description: &'static str,
    /// The SQL to run.
    pub sql: &'static str,
}

/// The set of migrations every tenant database receives, per backend where SQL differs.
///
/// Versions and checksums are recorded in each tenant database (sqlx's `_sqlx_migrations`
/// table), so an edited migration is refused instead of silently skipped.
#[derive(Debug, Clone)]
pub struct TenantMigrations {
    sqlite: Arc<Migrator>,
    postgres: Arc<Migrator>,
    mysql: Arc<Migrator>,
}

/// The folders `from_dir` looks for, one per backend.
const BACKEND_FOLDERS: [(Backend, &str); 3] = [
    (Backend::Sqlite, "sqlite"),
    (Backend::Postgres, "postgres"),
    (Backend::MySql, "mysql"),
];

impl TenantMigrations {
    /// Migrations compiled into the binary, the same SQL for every backend.
    pub fn embedded(migrations: &[EmbeddedMigration]) -> Self {
        Self::per_backend(migrations, migrations, migrations)
    }

    /// Migrations compiled into the binary, with SQL per backend.
    pub fn per_backend(
        sqlite: &[EmbeddedMigration],
        postgres: &[EmbeddedMigration],
        mysql: &[EmbeddedMigration],
    ) -> Self {
        TenantMigrations {
            sqlite: Arc::new(embedded_migrator(sqlite)),
            postgres: Arc::new(embedded_migrator(postgres)),
            mysql: Arc::new(embedded_migrator(mysql)),
        }
    }

    /// Migrations read from a folder of `<VERSION>_<DESCRIPTION>.sql` files (or
    /// `.up.sql` / `.down.sql` pairs for reversible ones).
    ///
    /// When the folder has `sqlite/`, `postgres/` or `mysql/` subfolders, each backend reads
    /// its own (a backend without one gets no migrations); otherwise every backend reads the
    /// folder itself.
    pub async fn from_dir(dir: &Path) -> Result<Self, Error> {
        if !dir.is_dir() {
            return Err(Error::InvalidInput {
                field: "tenant_migrations_dir",
                reason: format!("{} is not a directory", dir.display()),
            });
        }
        let split = BACKEND_FOLDERS
            .iter()
            .any(|(_, folder)| dir.join(folder).is_dir());
        if !split {
            let shared = Arc::new(read_migrator(dir).await?);
            let (sqlite, postgres, mysql) = (shared.clone(), shared.clone(), shared);
            return Ok(TenantMigrations {
                sqlite,
                postgres,
                mysql,
            });
        }
        let read = |folder: &str| {
            let path = dir.join(folder);
            async move {
                match path.is_dir() {
                    true => read_migrator(&path).await.map(Arc::new),
                    false => Ok(Arc::new(embedded_migrator(&[]))),
                }
            }
        };
        Ok(TenantMigrations {
            sqlite: read("sqlite").await?,
            postgres: read("postgres").await?,
            mysql: read("mysql").await?,
        })
    }

    /// No migrations at all (tenant databases start empty).
    pub fn none() -> Self {
        Self::embedded(&[])
    }

    /// The migrator of one backend.
    pub fn for_backend(&self, backend: Backend) -> &Migrator {
        match backend {
            Backend::Sqlite => &self.sqlite,
            Backend::Postgres => &self.postgres,
            Backend::MySql => &self.mysql,
        }
    }

    /// The migrator that describes the set in reports (versions are the same everywhere;
    /// SQLite's is the one every application has).
    fn reference(&self) -> &Migrator {
        &self.sqlite
    }

    /// How many migrations the set holds.
    pub fn len(&self) -> usize {
        self.reference().iter().count()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies every pending migration to one tenant's database.
    pub async fn run(&self, tenant_id: &TenantId, conn: &mut Connection) -> Result<(), Error> {
        self.apply_pending(conn, false)
            .await
            .map(drop)
            .map_err(|source| Error::Migration {
                tenant_id: tenant_id.clone(),
                source,
            })
    }
}

fn embedded_migrator(migrations: &[EmbeddedMigration]) -> Migrator {
    let migrations = migrations.iter().map(|m| {
        let (version, description) = (m.version, Cow::Borrowed(m.description));
        Migration::new(
            version,
            description,
            MigrationType::Simple,
            m.sql.into_sql_str(),
            false,
        )
    });
    Migrator::with_migrations(migrations.collect())
}

async fn read_migrator(dir: &Path) -> Result<Migrator, Error> {
    Migrator::new(dir.to_path_buf())
        .await
        .map_err(|error| Error::InvalidInput {
            field: "tenant_migrations_dir",
            reason: format!("cannot read migrations from {}: {error}", dir.display()),
        })
}

/// The catalog's migrations for one backend, with the same versions on every backend.
macro_rules! catalog_migrations {
    ($dir:literal) => {
        [
            (
                1,
                "catalog",
                include_str!(concat!(
                    "../../migrations/catalog/",
                    $dir,
                    "/0001_catalog.sql"
                )),
            ),
            (
                2,
                "migration runs",
                include_str!(concat!(
                    "../../migrations/catalog/",
                    $dir,
                    "/0002_migration_runs.sql"
                )),
            ),
            (
                3,
                "traffic rules",
                include_str!(concat!(
                    "../../migrations/catalog/",
                    $dir,
                    "/0003_traffic_rules.sql"
                )),
            ),
            (
                4,
                "api keys and audit origin",
                include_str!(concat!(
                    "../../migrations/catalog/",
                    $dir,
                    "/0004_api_keys.sql"
                )),
            ),
            (
                5,
                "change clock",
                include_str!(concat!(
                    "../../migrations/catalog/",
                    $dir,
                    "/0005_change_clock.sql"
                )),
            ),
        ]
    };
}

pub(crate) fn catalog_migrator(backend: Backend) -> Migrator {
    let files = match backend {
        Backend::Sqlite => catalog_migrations!("sqlite"),
        Backend::Postgres => catalog_migrations!("postgres"),
        Backend::MySql => catalog_migrations!("mysql"),
    };
    let migrations = files.into_iter().map(|(version, description, sql)| {
        let kind = MigrationType::Simple;
        Migration::new(
            version,
            Cow::Borrowed(description),
            kind,
            sql.into_sql_str(),
            false,
        )
    });
    Migrator::with_migrations(migrations.collect())
}

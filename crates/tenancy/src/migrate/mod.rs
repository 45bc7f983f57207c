//! Tenant migrations: the application's schema, applied to every tenant database.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{SqlSafeStr, SqliteConnection};

mod ops;
mod run;
mod tenant;

use crate::error::Error;
use crate::tenant_id::TenantId;

pub use ops::SqlOutcome;
pub use run::{Progress, RunKind, RunOptions, RunReport, TenantResult};
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

/// The set of migrations every tenant database receives.
///
/// Versions and checksums are recorded in each tenant database (sqlx's `_sqlx_migrations`
/// table), so an edited migration is refused instead of silently skipped.
#[derive(Debug, Clone)]
pub struct TenantMigrations {
    migrator: Arc<Migrator>,
}

impl TenantMigrations {
    /// Migrations compiled into the binary.
    pub fn embedded(migrations: &[EmbeddedMigration]) -> Self {
        let migrations = migrations.iter().map(|m| {
            let kind = MigrationType::Simple;
            Migration::new(
                m.version,
                Cow::Borrowed(m.description),
                kind,
                m.sql.into_sql_str(),
                false,
            )
        });
        TenantMigrations {
            migrator: Arc::new(Migrator::with_migrations(migrations.collect())),
        }
    }

    /// Migrations read from a folder of `<VERSION>_<DESCRIPTION>.sql` files.
    pub async fn from_dir(dir: &Path) -> Result<Self, Error> {
        if !dir.is_dir() {
            return Err(Error::InvalidInput {
                field: "tenant_migrations_dir",
                reason: format!("{} is not a directory", dir.display()),
            });
        }
        let migrator =
            Migrator::new(dir.to_path_buf())
                .await
                .map_err(|error| Error::InvalidInput {
                    field: "tenant_migrations_dir",
                    reason: format!("cannot read migrations from {}: {error}", dir.display()),
                })?;
        Ok(TenantMigrations {
            migrator: Arc::new(migrator),
        })
    }

    /// No migrations at all (tenant databases start empty).
    pub fn none() -> Self {
        Self::embedded(&[])
    }

    /// How many migrations the set holds.
    pub fn len(&self) -> usize {
        self.migrator.iter().count()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies every pending migration to one tenant's database.
    pub async fn run(
        &self,
        tenant_id: &TenantId,
        conn: &mut SqliteConnection,
    ) -> Result<(), Error> {
        self.apply_pending(conn, false)
            .await
            .map(drop)
            .map_err(|source| Error::Migration {
                tenant_id: tenant_id.clone(),
                source,
            })
    }
}

pub(crate) fn catalog_migrator() -> Migrator {
    let files = [
        (
            1,
            "catalog",
            include_str!("../../migrations/catalog/sqlite/0001_catalog.sql"),
        ),
        (
            2,
            "migration runs",
            include_str!("../../migrations/catalog/sqlite/0002_migration_runs.sql"),
        ),
    ];
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

//! One tenant database against the migration set: what is applied, what is pending, and
//! applying or reverting in one transaction.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::migrate::{Migrate, MigrateError, Migration, MigrationType, Migrator};

use super::TenantMigrations;
use crate::server::Connection;

/// Where one tenant database stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MigrationState {
    /// Versions applied, ascending.
    pub applied: Vec<i64>,
    /// Versions of the set not applied yet, ascending.
    pub pending: Vec<i64>,
    /// Why the database cannot be migrated as it is (edited or missing migration,
    /// half-applied migration), naming the file.
    pub problem: Option<String>,
}

impl MigrationState {
    /// The newest applied version, if any.
    pub fn version(&self) -> Option<i64> {
        self.applied.last().copied()
    }
}

/// Runs `$body` with `$conn` bound to the concrete connection and `$m` to its backend's
/// migrator: the generic functions below then work the same on every backend.
macro_rules! on_backend {
    ($self:ident, $conn:ident, $m:ident => $body:expr) => {
        match $conn {
            Connection::Sqlite($conn) => {
                let $m = $self.for_backend(crate::server::Backend::Sqlite);
                $body
            }
            Connection::Postgres($conn) => {
                let $m = $self.for_backend(crate::server::Backend::Postgres);
                $body
            }
            Connection::MySql($conn) => {
                let $m = $self.for_backend(crate::server::Backend::MySql);
                $body
            }
        }
    };
}

impl TenantMigrations {
    fn ups(&self) -> impl Iterator<Item = &Migration> {
        self.reference()
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
    }

    /// Every version of the set, ascending.
    pub fn versions(&self) -> Vec<i64> {
        self.ups().map(|m| m.version).collect()
    }

    /// The file a version comes from, as people name it: `0002_add_tags.sql`.
    pub fn file_name(&self, version: i64) -> String {
        match self.ups().find(|m| m.version == version) {
            Some(m) => {
                let suffix = match m.migration_type {
                    MigrationType::ReversibleUp => ".up.sql",
                    _ => ".sql",
                };
                format!("{version:04}_{}{suffix}", m.description.replace(' ', "_"))
            }
            None => format!("version {version}"),
        }
    }

    /// Explains a migrator error in terms of files, for reports.
    pub fn describe(&self, error: &MigrateError) -> String {
        match error {
            MigrateError::VersionMismatch(v) => format!(
                "{} was applied to this tenant but has been edited since (checksum mismatch)",
                self.file_name(*v)
            ),
            MigrateError::VersionMissing(v) => format!(
                "migration {v} was applied to this tenant but is missing from the migration files"
            ),
            MigrateError::Dirty(v) => format!(
                "{} is partially applied (dirty); repair the database before migrating again",
                self.file_name(*v)
            ),
            MigrateError::ExecuteMigration(source, v) => {
                format!("{} failed: {source}", self.file_name(*v))
            }
            other => other.to_string(),
        }
    }

    /// Reads where a tenant database stands. Creates the bookkeeping table if missing.
    ///
    /// The database is checked against its own backend's migrations: the SQL, and so the
    /// checksums, differ from one backend to the next.
    pub async fn state(&self, conn: &mut Connection) -> Result<MigrationState, MigrateError> {
        let (state, error) = on_backend!(self, conn, m => state_on(m, conn).await?);
        let problem = error.map(|e| self.describe(&e));

        Ok(MigrationState { problem, ..state })
    }

    /// Applies every pending migration in one transaction: all of them, or none (on
    /// backends with transactional DDL; MySQL commits each DDL statement, and a failure
    /// there leaves the version marked dirty).
    ///
    /// Returns the versions applied. With `dry_run`, checks and returns what would be
    /// applied without applying it.
    pub async fn apply_pending(
        &self,
        conn: &mut Connection,
        dry_run: bool,
    ) -> Result<Vec<i64>, MigrateError> {
        on_backend!(self, conn, m => apply(m, conn, dry_run).await)
    }

    /// The version left half-applied by a failed migration, if any (only MySQL, whose
    /// DDL commits as it goes, can leave one).
    pub async fn dirty_version(&self, conn: &mut Connection) -> Result<Option<i64>, MigrateError> {
        let (_, dirty) = on_backend!(self, conn, m => read(m, conn).await?);
        Ok(dirty)
    }

    /// The version a rollback of `steps` migrations goes back to: everything newer than it
    /// is undone. Only reversible migrations (with a `.down.sql`) count.
    pub fn rollback_target(&self, steps: usize) -> Result<i64, String> {
        let mut reversible: Vec<i64> = self
            .reference()
            .iter()
            .filter(|m| m.migration_type.is_down_migration())
            .map(|m| m.version)
            .collect();
        reversible.sort_unstable();
        if steps == 0 || steps > reversible.len() {
            return Err(format!(
                "cannot roll back {steps} migration(s): the set has {} reversible one(s)",
                reversible.len()
            ));
        }
        let undone = reversible[reversible.len() - steps];
        Ok(self
            .versions()
            .into_iter()
            .filter(|v| *v < undone)
            .max()
            .unwrap_or(0))
    }

    /// Reverts, in one transaction, every applied migration newer than `target` that has a
    /// down migration. Returns the versions reverted (none when the tenant never applied
    /// them).
    pub async fn revert_to(
        &self,
        conn: &mut Connection,
        target: i64,
        dry_run: bool,
    ) -> Result<Vec<i64>, MigrateError> {
        on_backend!(self, conn, m => revert(m, conn, target, dry_run).await)
    }
}

type Applied = HashMap<i64, Vec<u8>>;

async fn read<C>(migrator: &Migrator, conn: &mut C) -> Result<(Applied, Option<i64>), MigrateError>
where
    C: Migrate + Send,
{
    let table = &migrator.table_name;
    conn.ensure_migrations_table(table).await?;
    let applied = conn.list_applied_migrations(table).await?;
    let applied = applied
        .into_iter()
        .map(|m| (m.version, m.checksum.into_owned()))
        .collect();
    Ok((applied, conn.dirty_version(table).await?))
}

/// Where a database stands against `migrator`, with the error that keeps it from being
/// migrated (a dirty version first, then an edited or missing one).
async fn state_on<C>(
    migrator: &Migrator,
    conn: &mut C,
) -> Result<(MigrationState, Option<MigrateError>), MigrateError>
where
    C: Migrate + Send,
{
    let (applied, dirty) = read(migrator, conn).await?;
    let error = dirty
        .map(MigrateError::Dirty)
        .or_else(|| validate(migrator, &applied).err());

    let pending = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains_key(&m.version))
        .map(|m| m.version)
        .collect();
    let mut applied: Vec<i64> = applied.into_keys().collect();
    applied.sort_unstable();
    let state = MigrationState {
        applied,
        pending,
        problem: None,
    };

    Ok((state, error))
}

fn validate(migrator: &Migrator, applied: &Applied) -> Result<(), MigrateError> {
    let ups = || {
        migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
    };
    for (version, checksum) in applied {
        match ups().find(|m| m.version == *version) {
            None => return Err(MigrateError::VersionMissing(*version)),
            Some(m) if m.checksum.as_ref() != checksum.as_slice() => {
                return Err(MigrateError::VersionMismatch(*version));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

async fn apply<C>(
    migrator: &Migrator,
    conn: &mut C,
    dry_run: bool,
) -> Result<Vec<i64>, MigrateError>
where
    C: Migrate + sqlx::Connection + Send,
    C::Database: sqlx::Database<Connection = C>,
{
    let (applied, dirty) = read(migrator, conn).await?;
    if let Some(version) = dirty {
        return Err(MigrateError::Dirty(version));
    }
    validate(migrator, &applied)?;
    let pending: Vec<&Migration> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains_key(&m.version))
        .collect();
    if dry_run || pending.is_empty() {
        return Ok(pending.iter().map(|m| m.version).collect());
    }

    let table = &migrator.table_name;
    if !transactional_ddl::<C>() {
        // MySQL commits at every DDL statement, which would end an enclosing transaction
        // and its savepoints: each migration is applied on its own, and one that fails
        // half-way stays marked dirty.
        for migration in &pending {
            conn.apply(table, migration).await?;
        }
        return Ok(pending.iter().map(|m| m.version).collect());
    }
    // Each migration runs in a savepoint inside this transaction, so a failure in the
    // third leaves the first two undone as well: the tenant is untouched.
    let mut tx = conn.begin().await?;
    for migration in &pending {
        tx.apply(table, migration).await?;
    }
    tx.commit().await?;
    Ok(pending.iter().map(|m| m.version).collect())
}

async fn revert<C>(
    migrator: &Migrator,
    conn: &mut C,
    target: i64,
    dry_run: bool,
) -> Result<Vec<i64>, MigrateError>
where
    C: Migrate + sqlx::Connection + Send,
    C::Database: sqlx::Database<Connection = C>,
{
    let (applied, _) = read(migrator, conn).await?;
    validate(migrator, &applied)?;
    let mut downs: Vec<&Migration> = migrator
        .iter()
        .filter(|m| m.migration_type.is_down_migration())
        .filter(|m| m.version > target && applied.contains_key(&m.version))
        .collect();
    downs.sort_by_key(|m| std::cmp::Reverse(m.version));
    if dry_run || downs.is_empty() {
        return Ok(downs.iter().map(|m| m.version).collect());
    }

    let table = &migrator.table_name;
    if !transactional_ddl::<C>() {
        for migration in &downs {
            conn.revert(table, migration).await?;
        }
        return Ok(downs.iter().map(|m| m.version).collect());
    }
    let mut tx = conn.begin().await?;
    for migration in &downs {
        tx.revert(table, migration).await?;
    }
    tx.commit().await?;
    Ok(downs.iter().map(|m| m.version).collect())
}

/// Whether DDL on this backend can be rolled back (not on MySQL, which commits at each
/// DDL statement).
fn transactional_ddl<C>() -> bool
where
    C: sqlx::Connection,
{
    <C::Database as sqlx::Database>::NAME != <sqlx::MySql as sqlx::Database>::NAME
}

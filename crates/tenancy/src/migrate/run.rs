//! Runs over many tenants: bounded parallelism, one outcome per tenant, journaled in the
//! catalog so an interrupted run can be resumed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::migrate::MigrateError;
use tokio::task::JoinSet;

use crate::catalog::Mutation;
use crate::error::{Error, error_chain};
use crate::server::{Backend, FileLock};
use crate::tenancy::Tenancy;
use crate::tenant::TenantStatus;
use crate::tenant_id::TenantId;

/// What a run does to each tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// Apply pending migrations.
    Migrate,
    /// Revert applied migrations newer than a target version.
    Rollback {
        /// Everything newer than this version is reverted.
        target: i64,
    },
}

impl RunKind {
    fn name(self) -> &'static str {
        match self {
            RunKind::Migrate => "migrate",
            RunKind::Rollback { .. } => "rollback",
        }
    }
}

/// How a run proceeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunOptions {
    /// Tenants migrated at once. Default: the smaller of 8 and the connection budget, so a
    /// run leaves room for live traffic.
    pub parallel: usize,
    /// Stop starting tenants after the first failure (the run can be resumed later).
    pub fail_fast: bool,
    /// Report what would change without changing anything.
    pub dry_run: bool,
    /// Also touch tenants in maintenance (active ones always).
    pub include_maintenance: bool,
    /// How long to wait for a tenant another run holds before reporting it busy, in seconds.
    pub lock_wait_secs: u64,
}

impl RunOptions {
    /// Defaults sized to the connection budget.
    pub fn for_budget(budget: usize) -> Self {
        RunOptions {
            parallel: budget.clamp(1, 8),
            fail_fast: false,
            dry_run: false,
            include_maintenance: false,
            lock_wait_secs: 10,
        }
    }
}

/// One tenant's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct TenantResult {
    /// The tenant.
    pub tenant_id: TenantId,
    /// `migrated`, `up_to_date`, `would_migrate`, `rolled_back`, `not_applied`,
    /// `would_roll_back`, `failed`, `busy` or `skipped`.
    pub status: &'static str,
    /// Versions applied or reverted (or that would be, in a dry run).
    pub versions: Vec<i64>,
    /// The error, or why the tenant was skipped.
    pub detail: Option<String>,
    /// Time spent on the tenant, in milliseconds.
    pub elapsed_ms: u64,
}

impl TenantResult {
    /// Whether this outcome counts as a failure for the run's exit status.
    pub fn is_failure(&self) -> bool {
        matches!(self.status, "failed" | "busy" | "dirty")
    }
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The run's id in the catalog.
    pub run_id: i64,
    /// What it did.
    pub kind: RunKind,
    /// One result per tenant handled in this execution, in tenant id order.
    pub results: Vec<TenantResult>,
    /// Tenants left pending (stopped by Ctrl-C or by `fail_fast`); `--resume` does them.
    pub not_run: Vec<TenantId>,
}

impl RunReport {
    /// How many tenants failed or were busy.
    pub fn failures(&self) -> usize {
        self.results
            .iter()
            .filter(|result| result.is_failure())
            .count()
    }

    /// How many results have this status.
    pub fn count(&self, status: &str) -> usize {
        self.results
            .iter()
            .filter(|result| result.status == status)
            .count()
    }
}

/// A run recorded in the catalog and held by this process until it is executed (or
/// dropped, which leaves it for [`Tenancy::claim_run`]).
#[derive(Debug)]
pub struct ClaimedRun {
    run_id: i64,
    kind: RunKind,
    tenants: Vec<TenantId>,
    options: RunOptions,
    lock: FileLock,
}

impl ClaimedRun {
    /// The run's id in the catalog.
    pub fn id(&self) -> i64 {
        self.run_id
    }

    /// The tenants it will handle.
    pub fn tenants(&self) -> &[TenantId] {
        &self.tenants
    }
}

/// Called after each tenant: the result, how many are done, how many in all.
pub type Progress<'a> = &'a (dyn Fn(&TenantResult, usize, usize) + Send + Sync);

impl Tenancy {
    /// Records and executes a run over `tenants`.
    ///
    /// Setting `stop` stops starting new tenants; tenants in flight finish. Tenants not
    /// started stay pending in the journal and [`Tenancy::resume_run`] finishes them.
    pub async fn run_migrations(
        &self,
        kind: RunKind,
        tenants: Vec<TenantId>,
        options: RunOptions,
        progress: Progress<'_>,
        stop: Arc<AtomicBool>,
    ) -> Result<RunReport, Error> {
        let claimed = self.start_run(kind, tenants, options).await?;
        self.execute_run(claimed, progress, stop).await
    }

    /// Records a run over `tenants` and claims it for this process without starting it, so
    /// that its id is known before any tenant is touched: for a caller that executes it in
    /// the background with [`Tenancy::execute_run`]. The change log records the start
    /// (`migration.started`).
    pub async fn start_run(
        &self,
        kind: RunKind,
        tenants: Vec<TenantId>,
        options: RunOptions,
    ) -> Result<ClaimedRun, Error> {
        let target = match kind {
            RunKind::Rollback { target } => Some(target),
            RunKind::Migrate => None,
        };
        let options_json = serde_json::to_value(&options).expect("options serialise");
        let run_id = self
            .catalog()
            .create_run(kind.name(), target, &options_json, &tenants, self.actor())
            .await?;
        let lock = self.lock_run(run_id).await?;

        let started = Mutation::RunStarted {
            run_id,
            kind: kind.name(),
            tenants: tenants.len(),
            resumed: false,
        };
        self.apply(started).await?;
        Ok(ClaimedRun {
            run_id,
            kind,
            tenants,
            options,
            lock,
        })
    }

    /// Resumes the newest run that did not complete, with its own options: only its tenants
    /// still pending are handled, and only they appear in the report.
    pub async fn resume_run(
        &self,
        progress: Progress<'_>,
        stop: Arc<AtomicBool>,
    ) -> Result<Option<RunReport>, Error> {
        let Some(run) = self.catalog().latest_unfinished_run().await? else {
            return Ok(None);
        };
        let claimed = self.claim_run(run.id).await?;
        self.execute_run(claimed, progress, stop).await.map(Some)
    }

    /// Claims a run that did not complete (interrupted, or left `running` by a process that
    /// stopped) to finish its pending tenants with its own options. The change log records
    /// the resumption (`migration.resumed`).
    ///
    /// Refused when there is no such run, when it completed, or while another execution
    /// holds it.
    pub async fn claim_run(&self, run_id: i64) -> Result<ClaimedRun, Error> {
        let refused = |reason: String| Error::InvalidInput {
            field: "run",
            reason,
        };
        let Some(run) = self.catalog().run(run_id).await? else {
            return Err(refused(format!("no migration run {run_id}")));
        };
        if run.status == "completed" {
            return Err(refused(format!(
                "migration run {run_id} completed: nothing is left to resume"
            )));
        }
        let lock = self.lock_run(run_id).await?;

        let kind = match (run.kind.as_str(), run.target) {
            ("rollback", Some(target)) => RunKind::Rollback { target },
            _ => RunKind::Migrate,
        };
        let options: RunOptions = serde_json::from_value(run.options.clone())
            .map_err(|e| refused(format!("run {run_id}: its options do not read: {e}")))?;
        let tenants: Vec<TenantId> = self
            .catalog()
            .run_tenants(run_id)
            .await?
            .into_iter()
            .filter(|t| t.status == "pending")
            .map(|t| t.tenant_id)
            .collect();

        self.catalog().reopen_run(run_id).await?;
        let resumed = Mutation::RunStarted {
            run_id,
            kind: kind.name(),
            tenants: tenants.len(),
            resumed: true,
        };
        self.apply(resumed).await?;
        Ok(ClaimedRun {
            run_id,
            kind,
            tenants,
            options,
            lock,
        })
    }

    /// Whether an execution, in this process or another, holds the run now. A run recorded
    /// `running` that nobody holds was stopped by a crash or a kill: it is interrupted, and
    /// [`Tenancy::claim_run`] takes it over.
    pub async fn run_in_progress(&self, run_id: i64) -> Result<bool, Error> {
        let probe = FileLock::acquire(&self.run_lock_path(run_id), Duration::ZERO).await?;
        Ok(probe.is_none())
    }

    /// Executes a claimed run, and releases the claim when done.
    ///
    /// Setting `stop` stops starting new tenants; tenants in flight finish. Tenants not
    /// started stay pending in the journal and the run is `interrupted`.
    pub async fn execute_run(
        &self,
        claimed: ClaimedRun,
        progress: Progress<'_>,
        stop: Arc<AtomicBool>,
    ) -> Result<RunReport, Error> {
        let ClaimedRun {
            run_id,
            kind,
            tenants,
            options,
            lock: _lock,
        } = claimed;
        let total = tenants.len();
        let parallel = options.parallel.max(1);
        let failed = Arc::new(AtomicBool::new(false));
        let mut tasks = JoinSet::new();
        let mut not_run = Vec::new();
        let mut results = Vec::with_capacity(total);

        for tenant_id in tenants {
            // Waiting for a task to finish here (not for a permit it releases) means its
            // result is reported, and the stop flag read, before the next tenant starts.
            while tasks.len() >= parallel {
                let done = tasks.join_next().await.expect("the set is not empty");
                collect(done, &mut results, progress, total);
            }
            let stopped =
                stop.load(Ordering::SeqCst) || (options.fail_fast && failed.load(Ordering::SeqCst));
            if stopped {
                not_run.push(tenant_id);
                continue;
            }
            let (tenancy, options, failed) = (self.clone(), options.clone(), failed.clone());
            tasks.spawn(async move {
                let result = tenancy.run_one(run_id, kind, &tenant_id, &options).await;
                if result.is_failure() {
                    failed.store(true, Ordering::SeqCst);
                }
                result
            });
        }
        while let Some(done) = tasks.join_next().await {
            collect(done, &mut results, progress, total);
        }

        let status = if not_run.is_empty() {
            "completed"
        } else {
            "interrupted"
        };
        self.catalog().finish_run(run_id, status).await?;
        results.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        Ok(RunReport {
            run_id,
            kind,
            results,
            not_run,
        })
    }

    fn run_lock_path(&self, run_id: i64) -> std::path::PathBuf {
        let name = format!("migration-run-{run_id}.lock");
        self.inner.data_dir.join("locks").join(name)
    }

    async fn lock_run(&self, run_id: i64) -> Result<FileLock, Error> {
        FileLock::acquire(&self.run_lock_path(run_id), Duration::ZERO)
            .await?
            .ok_or(Error::InvalidInput {
                field: "run",
                reason: format!("migration run {run_id} is still in progress in another process"),
            })
    }

    async fn run_one(
        &self,
        run_id: i64,
        kind: RunKind,
        tenant_id: &TenantId,
        options: &RunOptions,
    ) -> TenantResult {
        let started = Instant::now();
        let (status, versions, detail) = match self.migrate_one(kind, tenant_id, options).await {
            Ok(outcome) => outcome,
            Err(error) => ("failed", Vec::new(), Some(error)),
        };
        let result = TenantResult {
            tenant_id: tenant_id.clone(),
            status,
            versions,
            detail,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        if let Err(error) = self.journal(run_id, kind, &result, options.dry_run).await {
            tracing::warn!(run_id, tenant_id = %tenant_id, error = %error_chain(&error), "recording a run result failed");
        }
        result
    }

    /// One tenant: `(status, versions, detail)`; `Err` holds the failure as text.
    async fn migrate_one(
        &self,
        kind: RunKind,
        tenant_id: &TenantId,
        options: &RunOptions,
    ) -> Result<(&'static str, Vec<i64>, Option<String>), String> {
        let describe = |error: Error| error_chain(&error);
        let Some(tenant) = self.catalog().tenant(tenant_id).await.map_err(describe)? else {
            return Ok((
                "skipped",
                Vec::new(),
                Some("the tenant no longer exists".into()),
            ));
        };
        let runnable = tenant.status == TenantStatus::Active
            || (options.include_maintenance && tenant.status == TenantStatus::Maintenance);
        if !runnable {
            return Ok((
                "skipped",
                Vec::new(),
                Some(format!("the tenant is {}", tenant.status)),
            ));
        }

        let server = self.server(&tenant.server).map_err(describe)?;
        let wait = Duration::from_secs(options.lock_wait_secs);
        let busy = || {
            let detail = format!(
                "another run held the tenant for {} s",
                options.lock_wait_secs
            );
            Ok(("busy", Vec::new(), Some(detail)))
        };
        // SQLite tenants lock a file; network tenants a server-side lock on the very
        // connection that migrates, so it cannot outlive a crashed holder.
        let file_lock = server
            .lock_file(&tenant.database, wait)
            .await
            .map_err(describe)?;
        if server.backend() == Backend::Sqlite && file_lock.is_none() {
            return busy();
        }
        let mut conn = self.connect(&tenant).await.map_err(describe)?;
        if !lock_on_connection(server, &mut conn, &tenant.database, wait)
            .await
            .map_err(describe)?
        {
            return busy();
        }

        let outcome = self.migrate_on(kind, &mut conn, options.dry_run).await;
        if let Err(error) = server.unlock(&mut conn, &tenant.database).await {
            // A connection that may still hold the lock must not go back to the pool.
            conn.discard();
            tracing::warn!(tenant_id = %tenant.id, error = %error_chain(&error), "releasing a tenant lock failed");
        }
        drop(file_lock);
        let versions = match outcome {
            Ok(versions) => versions,
            Err(Failure::Dirty(detail)) => return Ok(("dirty", Vec::new(), Some(detail))),
            Err(Failure::Failed(detail)) => return Err(detail),
        };
        Ok((
            outcome_status(kind, options.dry_run, versions.is_empty()),
            versions,
            None,
        ))
    }

    async fn migrate_on(
        &self,
        kind: RunKind,
        conn: &mut crate::pool::PooledConnection,
        dry: bool,
    ) -> Result<Vec<i64>, Failure> {
        let migrations = self.migrations();
        let backend = conn.backend();
        let outcome = match kind {
            RunKind::Migrate => migrations.apply_pending(conn, dry).await,
            RunKind::Rollback { target } => migrations.revert_to(conn, target, dry).await,
        };
        let error = match outcome {
            Ok(versions) => return Ok(versions),
            Err(error) => error,
        };
        let mut detail = migrations.describe(&error);
        // MySQL commits each DDL statement: a migration that failed there may have stopped
        // half-way, which leaves its version marked dirty until someone repairs it.
        let mut dirty = matches!(error, MigrateError::Dirty(_));
        if backend == Backend::MySql
            && matches!(error, MigrateError::ExecuteMigration(..))
            && let Ok(Some(version)) = migrations.dirty_version(conn).await
        {
            dirty = true;
            detail = format!(
                "{detail}; the statements before the failing one were committed, so {} \
                     is now marked dirty",
                migrations.file_name(version)
            );
        }
        // A failed migration may leave a transaction or session state behind.
        conn.discard();
        Err(if dirty {
            Failure::Dirty(detail)
        } else {
            Failure::Failed(detail)
        })
    }

    async fn journal(
        &self,
        run_id: i64,
        kind: RunKind,
        result: &TenantResult,
        dry_run: bool,
    ) -> Result<(), Error> {
        let changed = !dry_run && matches!(result.status, "migrated" | "rolled_back");
        if !changed {
            let detail = result.detail.as_deref();
            return self
                .catalog()
                .record_run_tenant(run_id, &result.tenant_id, result.status, detail)
                .await;
        }
        let mutation = Mutation::RecordMigration {
            id: result.tenant_id.clone(),
            run_id,
            versions: result.versions.clone(),
            reverted: matches!(kind, RunKind::Rollback { .. }),
        };
        self.apply(mutation).await.map(drop)
    }
}

/// Why a tenant's migration did not complete.
enum Failure {
    /// It failed; nothing of it stayed behind.
    Failed(String),
    /// It stopped half-way, or an earlier one had: the tenant needs repair first.
    Dirty(String),
}

/// Takes the server-side lock of a network tenant, polling until `wait` has passed.
async fn lock_on_connection(
    server: &crate::server::Server,
    conn: &mut crate::pool::PooledConnection,
    database: &str,
    wait: Duration,
) -> Result<bool, Error> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if server.try_lock(conn, database).await? {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn outcome_status(kind: RunKind, dry_run: bool, nothing: bool) -> &'static str {
    match (kind, dry_run, nothing) {
        (RunKind::Migrate, _, true) => "up_to_date",
        (RunKind::Migrate, true, false) => "would_migrate",
        (RunKind::Migrate, false, false) => "migrated",
        (RunKind::Rollback { .. }, _, true) => "not_applied",
        (RunKind::Rollback { .. }, true, false) => "would_roll_back",
        (RunKind::Rollback { .. }, false, false) => "rolled_back",
    }
}

fn collect(
    done: Result<TenantResult, tokio::task::JoinError>,
    results: &mut Vec<TenantResult>,
    progress: Progress<'_>,
    total: usize,
) {
    match done {
        Ok(result) => {
            results.push(result);
            progress(results.last().expect("just pushed"), results.len(), total);
        }
        Err(error) => tracing::error!(%error, "a migration task panicked"),
    }
}

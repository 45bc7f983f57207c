//! `/api/v1/migrations`: migration runs over many tenants as background jobs, their
//! progress, where each tenant stands; and migrating one tenant at once.
//!
//! A run is the same job `tenancy migrate` starts, recorded in the catalog with each
//! tenant's outcome as it finishes. The API answers 202 as soon as the run is recorded and
//! executes it in the background; `GET /api/v1/migrations/{run}` reads its progress. A
//! run whose server stopped reads `interrupted` and is resumed like `migrate --resume`,
//! from the API or the CLI.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Json;
use axum::extract::Path;
use axum::response::Response;
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tenancy::catalog::{RunRecord, RunTenant};
use tenancy::migrate::{ClaimedRun, MigrationState, RunKind, RunOptions, TenantResult};
use tenancy::{Tenancy, TenantStatus};
use utoipa::ToSchema;

use super::auth::{Caller, TenantsRead, TenantsWrite};
use super::body::Body;
use super::database::Selection;
use super::problem::{ApiError, ProblemBody};
use super::query::Params;
use super::tenants::{path_id, with_location};

/// The most tenants a run handles at once, as `migrate --parallel` allows.
const MAX_PARALLEL: u16 = 256;
/// The longest wait for a tenant another run holds, in seconds.
const MAX_LOCK_WAIT_SECS: u64 = 3600;
/// How long a run waits for a busy tenant by default, as `migrate --lock-wait`.
const DEFAULT_LOCK_WAIT_SECS: u64 = 10;

/// What a run does.
#[derive(Debug, Default, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunAction {
    /// Apply pending migrations.
    #[default]
    Migrate,
    /// Revert the newest reversible migrations.
    Rollback,
}

/// The body of `POST /api/v1/migrations`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// `migrate` (default) or `rollback`.
    #[serde(default)]
    pub kind: RunAction,
    /// With `rollback`: how many reversible migrations to revert; default 1.
    pub steps: Option<u16>,
    /// Only these tenants; default every active one (and those in maintenance with
    /// `include_maintenance`).
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Only tenants on this server.
    pub server: Option<String>,
    /// Tenants handled at once, 1 to 256; default the connection budget, at most 8.
    pub parallel: Option<u16>,
    /// Stop starting tenants after the first failure (resume later).
    #[serde(default)]
    pub fail_fast: bool,
    /// Report what would change without changing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Also migrate tenants in maintenance.
    #[serde(default)]
    pub include_maintenance: bool,
    /// Seconds to wait for a tenant another run holds before reporting it `busy`, 0 to
    /// 3600; default 10.
    pub lock_wait_secs: Option<u64>,
}

/// The body of `POST /api/v1/tenants/{id}/migrate`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateTenant {
    /// Report what would change without changing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Migrate the tenant in maintenance too (an active tenant always is).
    #[serde(default)]
    pub include_maintenance: bool,
    /// Seconds to wait for the tenant if another run holds it, 0 to 3600; default 10.
    pub lock_wait_secs: Option<u64>,
}

/// A migration run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    /// The run's id.
    pub id: i64,
    /// `migrate` or `rollback`.
    pub kind: String,
    /// For a rollback, the version it goes back to.
    pub target: Option<i64>,
    /// The options it runs with.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// `running`; `interrupted` when it stopped before every tenant was done (stopped,
    /// `fail_fast`, or its server went away): resume it; `completed`.
    pub status: String,
    /// Who started it: `api:<key id>`, `cli`.
    pub actor: Option<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished or stopped.
    pub finished_at: Option<DateTime<Utc>>,
}

impl RunView {
    /// The run as recorded, except that a run recorded `running` which no process
    /// executes any more is `interrupted`.
    async fn of(tenancy: &Tenancy, run: RunRecord) -> Result<Self, ApiError> {
        let orphaned = run.status == "running" && !tenancy.run_in_progress(run.id).await?;
        let status = match orphaned {
            true => "interrupted".to_owned(),
            false => run.status,
        };
        Ok(RunView {
            id: run.id,
            kind: run.kind,
            target: run.target,
            options: run.options,
            status,
            actor: run.actor,
            started_at: run.started_at,
            finished_at: run.finished_at,
        })
    }
}

/// One tenant's line in a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunTenantView {
    /// The tenant.
    pub tenant_id: String,
    /// `pending` until done, then `migrated`, `up_to_date`, `would_migrate`,
    /// `rolled_back`, `not_applied`, `would_roll_back`, `failed`, `busy`, `dirty` or
    /// `skipped`.
    pub status: String,
    /// The error (naming the file), or why the tenant was skipped.
    pub detail: Option<String>,
    /// Versions applied or reverted.
    pub versions: Vec<i64>,
    /// When the tenant was done.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<RunTenant> for RunTenantView {
    fn from(tenant: RunTenant) -> Self {
        RunTenantView {
            tenant_id: tenant.tenant_id.to_string(),
            status: tenant.status,
            detail: tenant.detail,
            versions: tenant.versions,
            finished_at: tenant.finished_at,
        }
    }
}

/// How far a run got.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunProgress {
    /// Tenants in the run.
    pub total: usize,
    /// Tenants done, whatever the outcome.
    pub done: usize,
    /// Tenants not done yet.
    pub pending: usize,
    /// Tenants that failed, were busy or are dirty.
    pub failed: usize,
    /// Tenants per status, `pending` included.
    pub counts: BTreeMap<String, usize>,
}

impl RunProgress {
    fn of(tenants: &[RunTenantView]) -> Self {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for tenant in tenants {
            *counts.entry(tenant.status.clone()).or_default() += 1;
        }
        let count =
            |statuses: &[&str]| -> usize { statuses.iter().filter_map(|s| counts.get(*s)).sum() };
        let pending = count(&["pending"]);
        RunProgress {
            total: tenants.len(),
            done: tenants.len() - pending,
            pending,
            failed: count(&["failed", "busy", "dirty"]),
            counts,
        }
    }
}

/// A run with its progress and every tenant's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDetail {
    /// The run.
    pub run: RunView,
    /// How far it got.
    pub progress: RunProgress,
    /// Its tenants, by id.
    pub tenants: Vec<RunTenantView>,
}

/// The newest runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunPage {
    /// The runs, newest first.
    pub items: Vec<RunView>,
}

/// Where one tenant's database stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantMigrationState {
    /// The tenant.
    pub tenant_id: String,
    /// The tenant's status.
    pub status: String,
    /// Versions applied, ascending.
    pub applied: Vec<i64>,
    /// Versions not applied yet, ascending.
    pub pending: Vec<i64>,
    /// Why the database cannot be migrated as it is (an edited, missing or half-applied
    /// migration), or why it could not be read.
    pub problem: Option<String>,
}

/// Where tenants stand against the migration set.
#[derive(Debug, Serialize, ToSchema)]
pub struct MigrationStatus {
    /// The newest version of the set.
    pub latest: Option<i64>,
    /// The tenants asked for (with `pending=true`, only those with pending migrations or
    /// a problem).
    pub tenants: Vec<TenantMigrationState>,
    /// How many tenants are at each version (`none` for none applied).
    pub per_version: BTreeMap<String, usize>,
}

/// One tenant's outcome of `POST /api/v1/tenants/{id}/migrate`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantMigration {
    /// The run recorded for it.
    pub run_id: i64,
    /// The tenant.
    pub tenant_id: String,
    /// `migrated`, `up_to_date`, `would_migrate`, `failed`, `busy`, `dirty` or `skipped`.
    pub status: String,
    /// Versions applied (or that would be).
    pub versions: Vec<i64>,
    /// The error, naming the file, or why the tenant was skipped.
    pub detail: Option<String>,
    /// Time spent, in milliseconds.
    pub elapsed_ms: u64,
}

impl From<(i64, TenantResult)> for TenantMigration {
    fn from((run_id, result): (i64, TenantResult)) -> Self {
        TenantMigration {
            run_id,
            tenant_id: result.tenant_id.to_string(),
            status: result.status.to_owned(),
            versions: result.versions,
            detail: result.detail,
            elapsed_ms: result.elapsed_ms,
        }
    }
}

fn lock_wait(secs: Option<u64>) -> Result<u64, ApiError> {
    match secs.unwrap_or(DEFAULT_LOCK_WAIT_SECS) {
        secs @ 0..=MAX_LOCK_WAIT_SECS => Ok(secs),
        _ => Err(ApiError::invalid(
            "lock_wait_secs",
            format!("must be between 0 and {MAX_LOCK_WAIT_SECS}"),
        )),
    }
}

fn run_options(tenancy: &Tenancy, body: &StartRun) -> Result<RunOptions, ApiError> {
    let defaults = RunOptions::for_budget(tenancy.pool_options().max_connections);
    let parallel = match body.parallel {
        None => defaults.parallel,
        Some(n @ 1..=MAX_PARALLEL) => usize::from(n),
        Some(_) => {
            let detail = format!("must be between 1 and {MAX_PARALLEL}");
            return Err(ApiError::invalid("parallel", detail));
        }
    };
    Ok(RunOptions {
        parallel,
        fail_fast: body.fail_fast,
        dry_run: body.dry_run,
        include_maintenance: body.include_maintenance,
        lock_wait_secs: lock_wait(body.lock_wait_secs)?,
    })
}

fn run_kind(tenancy: &Tenancy, body: &StartRun) -> Result<RunKind, ApiError> {
    match (body.kind, body.steps) {
        (RunAction::Migrate, None) => Ok(RunKind::Migrate),
        (RunAction::Migrate, Some(_)) => {
            Err(ApiError::invalid("steps", "only a rollback takes steps"))
        }
        (RunAction::Rollback, steps) => {
            let steps = usize::from(steps.unwrap_or(1));
            let target = tenancy
                .migrations()
                .rollback_target(steps)
                .map_err(|reason| ApiError::invalid("steps", reason))?;
            Ok(RunKind::Rollback { target })
        }
    }
}

/// A run id from the path; one that is not a number names no run.
fn path_run(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::new("run_not_found", format!("no migration run '{raw}'")))
}

async fn run_detail(tenancy: &Tenancy, run_id: i64) -> Result<RunDetail, ApiError> {
    let Some(run) = tenancy.catalog().run(run_id).await? else {
        return Err(ApiError::new(
            "run_not_found",
            format!("no migration run {run_id}"),
        ));
    };
    let tenants: Vec<RunTenantView> = tenancy
        .catalog()
        .run_tenants(run_id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(RunDetail {
        run: RunView::of(tenancy, run).await?,
        progress: RunProgress::of(&tenants),
        tenants,
    })
}

/// Executes a claimed run in the background. Its outcome is in the catalog, tenant by
/// tenant; a server that stops meanwhile leaves the run to be resumed.
fn spawn_run(tenancy: Tenancy, claimed: ClaimedRun) {
    tokio::spawn(async move {
        let run_id = claimed.id();
        let stop = Arc::new(AtomicBool::new(false));
        if let Err(error) = tenancy.execute_run(claimed, &|_, _, _| {}, stop).await {
            let error = tenancy::error_chain(&error);
            tracing::warn!(run_id, %error, "a background migration run failed");
        }
    });
}

async fn accepted(tenancy: &Tenancy, run_id: i64) -> Result<Response, ApiError> {
    let detail = run_detail(tenancy, run_id).await?;
    let location = format!("/api/v1/migrations/{run_id}");
    Ok(with_location(StatusCode::ACCEPTED, Json(detail), &location))
}

/// Start a migration or rollback run over tenants, executed in the background.
#[utoipa::path(
    post, path = "/api/v1/migrations", tag = "migrations",
    request_body(content = StartRun, description = "Optional; default: migrate every active tenant"),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 202, description = "The run, recorded; `Location` names it", body = RunDetail),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 422, body = ProblemBody),
    )
)]
pub async fn start(
    caller: Caller<TenantsWrite>,
    Body(body): Body<StartRun>,
) -> Result<Response, ApiError> {
    let options = run_options(&caller.tenancy, &body)?;
    let mut statuses = vec![TenantStatus::Active];
    if body.include_maintenance {
        statuses.push(TenantStatus::Maintenance);
    }
    let selection = Selection {
        tenants: body.tenants.clone(),
        server: body.server.clone(),
    };
    // The selection first: a mistyped tenant is the error to report, as in the CLI.
    let tenants = selection.resolve(&caller.tenancy, &statuses).await?;
    let kind = run_kind(&caller.tenancy, &body)?;

    let ids = tenants.into_iter().map(|tenant| tenant.id).collect();
    let claimed = caller.tenancy.start_run(kind, ids, options).await?;
    let run_id = claimed.id();
    spawn_run(caller.tenancy.clone(), claimed);
    accepted(&caller.tenancy, run_id).await
}

/// List migration runs, newest first.
#[utoipa::path(
    get, path = "/api/v1/migrations", tag = "migrations",
    params(("limit" = Option<i64>, Query, description = "How many, 1 to 500; default 50")),
    security(("bearer" = ["tenants:read"])),
    responses(
        (status = 200, body = RunPage),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 422, body = ProblemBody),
    )
)]
pub async fn list(caller: Caller<TenantsRead>, params: Params) -> Result<Json<RunPage>, ApiError> {
    params.only(&["limit"])?;
    let runs = caller.tenancy.catalog().runs(params.limit()?).await?;
    let mut items = Vec::with_capacity(runs.len());
    for run in runs {
        items.push(RunView::of(&caller.tenancy, run).await?);
    }
    Ok(Json(RunPage { items }))
}

/// Show a run: its status, progress and every tenant's outcome.
#[utoipa::path(
    get, path = "/api/v1/migrations/{run}", tag = "migrations",
    params(("run" = i64, Path, description = "The run id")),
    security(("bearer" = ["tenants:read"])),
    responses(
        (status = 200, body = RunDetail),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
pub async fn show(
    caller: Caller<TenantsRead>,
    Path(run): Path<String>,
) -> Result<Json<RunDetail>, ApiError> {
    let run_id = path_run(&run)?;
    Ok(Json(run_detail(&caller.tenancy, run_id).await?))
}

/// Resume an interrupted run: its pending tenants, with its own options, in the background.
#[utoipa::path(
    post, path = "/api/v1/migrations/{run}/resume", tag = "migrations",
    params(("run" = i64, Path, description = "The run id")),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 202, description = "The run, resumed; `Location` names it", body = RunDetail),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, description = "Completed, or still being executed", body = ProblemBody),
    )
)]
pub async fn resume(
    caller: Caller<TenantsWrite>,
    Path(run): Path<String>,
) -> Result<Response, ApiError> {
    let run_id = path_run(&run)?;
    let detail = run_detail(&caller.tenancy, run_id).await?;
    if detail.run.status != "interrupted" {
        let detail = format!("migration run {run_id} is {}", detail.run.status);
        return Err(ApiError::new("run_not_resumable", detail));
    }

    let claimed = caller
        .tenancy
        .claim_run(run_id)
        .await
        .map_err(|error| match error {
            // Another request claimed it since it was read.
            tenancy::Error::InvalidInput {
                field: "run",
                reason,
            } => ApiError::new("run_not_resumable", reason),
            other => other.into(),
        })?;
    spawn_run(caller.tenancy.clone(), claimed);
    accepted(&caller.tenancy, run_id).await
}

/// Where each tenant stands: applied and pending versions, and tenants per version.
#[utoipa::path(
    get, path = "/api/v1/migrations/status", tag = "migrations",
    params(
        ("tenant" = Option<String>, Query, description = "Only this tenant"),
        ("server" = Option<String>, Query, description = "Only tenants on this server"),
        ("pending" = Option<bool>, Query, description = "List only tenants with pending migrations or a problem (the counts still cover all)"),
    ),
    security(("bearer" = ["tenants:read"])),
    responses(
        (status = 200, body = MigrationStatus),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 422, body = ProblemBody),
    )
)]
pub async fn status(
    caller: Caller<TenantsRead>,
    params: Params,
) -> Result<Json<MigrationStatus>, ApiError> {
    params.only(&["tenant", "server", "pending"])?;
    let pending_only = params.parsed::<bool>("pending")?.unwrap_or(false);
    let selection = Selection {
        tenants: params.text("tenant").into_iter().collect(),
        server: params.text("server"),
    };
    let statuses = [
        TenantStatus::Active,
        TenantStatus::Maintenance,
        TenantStatus::Suspended,
    ];
    let tenants = selection
        .resolve(&caller.tenancy, &statuses)
        .await
        .map_err(|error| match error.0.field() {
            // The one tenant came as a query parameter, not in a list.
            Some(field) if field.starts_with("tenants[") => error.field("tenant"),
            _ => error,
        })?;

    let mut rows = Vec::new();
    let mut per_version: BTreeMap<String, usize> = BTreeMap::new();
    for tenant in &tenants {
        let state = state_of(&caller.tenancy, tenant).await;
        let version = state.version().map_or("none".to_owned(), |v| v.to_string());
        *per_version.entry(version).or_default() += 1;
        if !pending_only || !state.pending.is_empty() || state.problem.is_some() {
            rows.push(TenantMigrationState {
                tenant_id: tenant.id.to_string(),
                status: tenant.status.to_string(),
                applied: state.applied,
                pending: state.pending,
                problem: state.problem,
            });
        }
    }
    Ok(Json(MigrationStatus {
        latest: caller.tenancy.migrations().versions().last().copied(),
        tenants: rows,
        per_version,
    }))
}

/// Where a tenant's database stands; one that cannot be read has that as its problem.
async fn state_of(tenancy: &Tenancy, tenant: &tenancy::Tenant) -> MigrationState {
    match tenancy.migration_status(tenant).await {
        Ok(state) => state,
        Err(error) => MigrationState {
            problem: Some(tenancy::error_chain(&error)),
            ..MigrationState::default()
        },
    }
}

/// Apply a tenant's pending migrations now, as a run of one, and answer its outcome.
#[utoipa::path(
    post, path = "/api/v1/tenants/{id}/migrate", tag = "migrations",
    params(("id" = String, Path, description = "The tenant id")),
    request_body(content = MigrateTenant, description = "Optional"),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 200, description = "The tenant's outcome", body = TenantMigration),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 422, body = ProblemBody),
    )
)]
pub async fn migrate_tenant(
    caller: Caller<TenantsWrite>,
    Path(id): Path<String>,
    Body(body): Body<MigrateTenant>,
) -> Result<Json<TenantMigration>, ApiError> {
    let id = path_id(&id)?;
    caller.tenancy.catalog().require_tenant(&id).await?;
    let options = RunOptions {
        parallel: 1,
        fail_fast: false,
        dry_run: body.dry_run,
        include_maintenance: body.include_maintenance,
        lock_wait_secs: lock_wait(body.lock_wait_secs)?,
    };

    let tenancy = &caller.tenancy;
    let claimed = tenancy
        .start_run(RunKind::Migrate, vec![id], options)
        .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let report = tenancy.execute_run(claimed, &|_, _, _| {}, stop).await?;
    let result = report.results.into_iter().next().ok_or_else(|| {
        ApiError::new(
            "internal_error",
            "the run of one tenant reported no outcome",
        )
    })?;
    Ok(Json((report.run_id, result).into()))
}

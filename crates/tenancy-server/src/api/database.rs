//! Tenant databases: reset one, seed some, run an SQL statement on some.
//!
//! Each answers once the work is done, with one outcome per tenant: a failure on one
//! tenant does not stop the others, and is reported in its place. The change log records
//! each tenant's reset, seed and statement.

use axum::Json;
use axum::extract::Path;
use serde::{Deserialize, Serialize};
use tenancy::catalog::TenantFilter;
use tenancy::migrate::SqlOutcome;
use tenancy::{Tenancy, Tenant, TenantId, TenantStatus};
use utoipa::ToSchema;

use super::auth::{Admin, Caller, TenantsWrite};
use super::body::Body;
use super::problem::{ApiError, ProblemBody};
use super::tenants::path_id;
use super::views::TenantView;

/// The longest statement `POST /api/v1/sql` takes, in characters.
const MAX_SQL: usize = 16 * 1024;

/// Which tenants a job touches: the listed ones, or every one in the statuses the job
/// works on; either way only those on `server` when it is given.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// Only these tenants; each must exist. Default: every tenant the job works on.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Only tenants on this server.
    pub server: Option<String>,
}

impl Selection {
    /// The tenants selected, by id. A listed tenant that does not exist, is on another
    /// server than the one named, or is listed twice, is refused naming its place in
    /// `tenants`.
    pub async fn resolve(
        &self,
        tenancy: &Tenancy,
        statuses: &[TenantStatus],
    ) -> Result<Vec<Tenant>, ApiError> {
        if let Some(server) = &self.server {
            tenancy.server(server)?;
        }
        let all = tenancy.catalog().tenants(&TenantFilter::default()).await?;
        let on_server = |tenant: &Tenant| {
            let server = self.server.as_deref();
            server.is_none_or(|name| tenant.server == name)
        };
        if self.tenants.is_empty() {
            let chosen = all
                .into_iter()
                .filter(|t| on_server(t) && statuses.contains(&t.status));
            return Ok(chosen.collect());
        }

        let mut chosen = Vec::new();
        for (index, raw) in self.tenants.iter().enumerate() {
            let field = format!("tenants[{index}]");
            let id = TenantId::parse(raw).map_err(|error| {
                ApiError::new("invalid_tenant_id", error.to_string()).field(field.clone())
            })?;
            // Listed twice, a tenant would be seeded (or changed by the statement) twice.
            if chosen.iter().any(|tenant: &Tenant| tenant.id == id) {
                let detail = format!("tenant '{id}' is listed already");
                return Err(ApiError::invalid(field, detail));
            }
            match all.iter().find(|tenant| tenant.id == id) {
                Some(tenant) if on_server(tenant) => chosen.push(tenant.clone()),
                Some(tenant) => {
                    let detail = format!("tenant '{id}' is on server '{}'", tenant.server);
                    return Err(ApiError::invalid(field, detail));
                }
                None => {
                    let detail = format!("tenant '{id}' not found");
                    return Err(ApiError::new("tenant_not_found", detail).field(field));
                }
            }
        }
        Ok(chosen)
    }
}

/// The body of `POST /api/v1/tenants/{id}/reset`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reset {
    /// The tenant's id again, to confirm that its data is to go.
    pub confirm: String,
    /// Run the application's seeder on the new database.
    #[serde(default)]
    pub seed: bool,
}

/// The body of `POST /api/v1/sql`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSql {
    /// The statement (several, separated by `;`, are run as one script).
    pub sql: String,
    /// Only these tenants; default every active one.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Only tenants on this server.
    pub server: Option<String>,
}

/// One tenant's outcome of a seed.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedResult {
    /// The tenant.
    pub tenant_id: String,
    /// Whether the seeder succeeded.
    pub ok: bool,
    /// Why it failed.
    pub error: Option<String>,
}

/// What a seed did, tenant by tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeedReport {
    /// One outcome per selected tenant, by id.
    pub results: Vec<SeedResult>,
}

/// One tenant's outcome of a statement.
#[derive(Debug, Serialize, ToSchema)]
pub struct SqlResult {
    /// The tenant.
    pub tenant_id: String,
    /// Whether the statement succeeded.
    pub ok: bool,
    /// Column names of the rows returned.
    pub columns: Vec<String>,
    /// The rows, each value as JSON (blobs as byte counts).
    #[schema(value_type = Vec<Vec<Value>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Rows changed.
    pub rows_affected: u64,
    /// Why it failed.
    pub error: Option<String>,
}

impl SqlResult {
    fn of(tenant: &Tenant, outcome: Result<SqlOutcome, tenancy::Error>) -> Self {
        let (outcome, error) = match outcome {
            Ok(outcome) => (outcome, None),
            Err(error) => (SqlOutcome::default(), Some(tenancy::error_chain(&error))),
        };
        SqlResult {
            tenant_id: tenant.id.to_string(),
            ok: error.is_none(),
            columns: outcome.columns,
            rows: outcome.rows,
            rows_affected: outcome.rows_affected,
            error,
        }
    }
}

/// What a statement did, tenant by tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct SqlReport {
    /// One outcome per selected tenant, by id.
    pub results: Vec<SqlResult>,
}

/// Drop a tenant's database and build it again, empty and migrated. Needs the tenant's id
/// as `confirm`.
#[utoipa::path(
    post, path = "/api/v1/tenants/{id}/reset", tag = "database",
    params(("id" = String, Path, description = "The tenant id")),
    request_body = Reset,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The tenant, its database new", body = TenantView),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody),
        (status = 422, description = "`confirm` is missing or not the id", body = ProblemBody),
    )
)]
pub async fn reset(
    caller: Caller<Admin>,
    Path(id): Path<String>,
    Body(body): Body<Reset>,
) -> Result<Json<TenantView>, ApiError> {
    let id = path_id(&id)?;
    // An unknown tenant is 404 whatever the confirmation says.
    caller.tenancy.catalog().require_tenant(&id).await?;
    if body.confirm != id.as_str() {
        let detail = format!("must be the tenant id '{id}', to confirm that its data is to go");
        return Err(ApiError::invalid("confirm", detail));
    }
    let tenant = caller.tenancy.reset_tenant(&id, body.seed).await?;
    Ok(Json(tenant.into()))
}

/// Run the application's seeder on tenants (default every active one).
#[utoipa::path(
    post, path = "/api/v1/seed", tag = "database",
    request_body(content = Selection, description = "Optional; default every active tenant"),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 200, description = "Each tenant's outcome", body = SeedReport),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 422, body = ProblemBody),
    )
)]
pub async fn seed(
    caller: Caller<TenantsWrite>,
    Body(selection): Body<Selection>,
) -> Result<Json<SeedReport>, ApiError> {
    let tenants = selection
        .resolve(&caller.tenancy, &[TenantStatus::Active])
        .await?;
    let mut results = Vec::with_capacity(tenants.len());
    for tenant in &tenants {
        let outcome = caller.tenancy.seed_tenant(tenant).await;
        results.push(SeedResult {
            tenant_id: tenant.id.to_string(),
            ok: outcome.is_ok(),
            error: outcome.err().map(|error| tenancy::error_chain(&error)),
        });
    }
    Ok(Json(SeedReport { results }))
}

/// Run one SQL statement on tenants (default every active one) and answer each result.
#[utoipa::path(
    post, path = "/api/v1/sql", tag = "database",
    request_body = RunSql,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Each tenant's outcome", body = SqlReport),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 422, body = ProblemBody),
    )
)]
pub async fn run_sql(
    caller: Caller<Admin>,
    Body(body): Body<RunSql>,
) -> Result<Json<SqlReport>, ApiError> {
    if body.sql.trim().is_empty() {
        return Err(ApiError::invalid("sql", "must not be empty"));
    }
    if body.sql.chars().count() > MAX_SQL {
        return Err(ApiError::invalid(
            "sql",
            format!("at most {MAX_SQL} characters"),
        ));
    }
    let selection = Selection {
        tenants: body.tenants,
        server: body.server,
    };
    let tenants = selection
        .resolve(&caller.tenancy, &[TenantStatus::Active])
        .await?;

    let mut results = Vec::with_capacity(tenants.len());
    for tenant in &tenants {
        let outcome = caller.tenancy.run_sql(tenant, &body.sql).await;
        results.push(SqlResult::of(tenant, outcome));
    }
    Ok(Json(SqlReport { results }))
}

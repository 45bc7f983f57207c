//! `/api/v1/tenants/{id}/cache` and `/api/v1/cache`: make every server forget what it cached.
//!
//! Changes made through the catalog's path invalidate caches by themselves; these routes are
//! for a catalog changed by hand. Clearing goes through the change log, so it reaches every
//! server within a second and is audited.

use axum::extract::Path;
use http::StatusCode;

use super::auth::{Caller, TenantsWrite};
use super::problem::{ApiError, ProblemBody};
use super::tenants::path_id;

/// Forget one tenant's cached state and the hosts that lead to it, on every server.
#[utoipa::path(
    delete, path = "/api/v1/tenants/{id}/cache", tag = "caches",
    params(("id" = String, Path, description = "The tenant id")),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 204, description = "Cleared"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
pub async fn clear_tenant(
    caller: Caller<TenantsWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(&id)?;
    caller.tenancy.clear_cache(Some(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Forget everything every server cached about tenants and hosts.
#[utoipa::path(
    delete, path = "/api/v1/cache", tag = "caches",
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 204, description = "Cleared"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
    )
)]
pub async fn clear_all(caller: Caller<TenantsWrite>) -> Result<StatusCode, ApiError> {
    caller.tenancy.clear_cache(None).await?;
    Ok(StatusCode::NO_CONTENT)
}

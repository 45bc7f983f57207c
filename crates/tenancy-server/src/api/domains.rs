//! `/api/v1/tenants/{id}/domains`: list, add, remove, set primary.

use axum::Json;
use axum::extract::Path;
use http::StatusCode;
use serde::Deserialize;
use tenancy::{Tenancy, TenantId};
use utoipa::ToSchema;

use super::auth::{Caller, TenantsRead, TenantsWrite};
use super::body::Body;
use super::problem::{ApiError, ProblemBody};
use super::tenants::path_id;
use super::views::DomainView;

/// The body of `POST /api/v1/tenants/{id}/domains`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDomain {
    /// The host, for example `shop.example.com`.
    pub host: String,
    /// Make it the tenant's primary domain (a tenant's first domain is primary anyway).
    #[serde(default)]
    pub primary: bool,
}

async fn domains_of(tenancy: &Tenancy, id: &TenantId) -> Result<Vec<DomainView>, ApiError> {
    tenancy.catalog().require_tenant(id).await?;
    let domains = tenancy.catalog().domains(Some(id)).await?;
    Ok(domains.into_iter().map(Into::into).collect())
}

/// The normalised host, when it is one of this tenant's domains; 404 otherwise, so that a
/// route under one tenant never changes another's domain.
async fn owned_host(tenancy: &Tenancy, id: &TenantId, raw: &str) -> Result<String, ApiError> {
    tenancy.catalog().require_tenant(id).await?;
    let not_found = || {
        ApiError::new(
            "domain_not_found",
            format!("tenant '{id}' has no domain '{raw}'"),
        )
    };
    let host = tenancy::host::normalize_host(raw).map_err(|_| not_found())?;
    match tenancy.catalog().tenant_for_domain(&host).await? {
        Some(owner) if &owner == id => Ok(host),
        _ => Err(not_found()),
    }
}

/// List a tenant's domains, primary first.
#[utoipa::path(
    get, path = "/api/v1/tenants/{id}/domains", tag = "domains",
    params(("id" = String, Path, description = "The tenant id")),
    security(("bearer" = ["tenants:read"])),
    responses(
        (status = 200, body = Vec<DomainView>),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
pub async fn list(
    caller: Caller<TenantsRead>,
    Path(id): Path<String>,
) -> Result<Json<Vec<DomainView>>, ApiError> {
    let id = path_id(&id)?;
    Ok(Json(domains_of(&caller.tenancy, &id).await?))
}

/// Attach a domain to a tenant.
#[utoipa::path(
    post, path = "/api/v1/tenants/{id}/domains", tag = "domains",
    params(("id" = String, Path, description = "The tenant id")),
    request_body = AddDomain,
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 201, description = "The tenant's domains", body = Vec<DomainView>),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, description = "Another tenant has the domain", body = ProblemBody),
        (status = 422, body = ProblemBody),
    )
)]
pub async fn add(
    caller: Caller<TenantsWrite>,
    Path(id): Path<String>,
    Body(body): Body<AddDomain>,
) -> Result<(StatusCode, Json<Vec<DomainView>>), ApiError> {
    let id = path_id(&id)?;
    caller
        .tenancy
        .normalize_domain(&body.host)
        .map_err(|error| ApiError::from(error).field("host"))?;
    caller
        .tenancy
        .add_domain(&id, &body.host, body.primary)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(domains_of(&caller.tenancy, &id).await?),
    ))
}

/// Detach a domain from its tenant. Another domain becomes primary if it was.
#[utoipa::path(
    delete, path = "/api/v1/tenants/{id}/domains/{host}", tag = "domains",
    params(
        ("id" = String, Path, description = "The tenant id"),
        ("host" = String, Path, description = "One of the tenant's domains"),
    ),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
pub async fn remove(
    caller: Caller<TenantsWrite>,
    Path((id, host)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(&id)?;
    let host = owned_host(&caller.tenancy, &id, &host).await?;
    caller.tenancy.remove_domain(&host).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make a domain its tenant's primary domain.
#[utoipa::path(
    put, path = "/api/v1/tenants/{id}/domains/{host}/primary", tag = "domains",
    params(
        ("id" = String, Path, description = "The tenant id"),
        ("host" = String, Path, description = "One of the tenant's domains"),
    ),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 200, description = "The tenant's domains", body = Vec<DomainView>),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
pub async fn set_primary(
    caller: Caller<TenantsWrite>,
    Path((id, host)): Path<(String, String)>,
) -> Result<Json<Vec<DomainView>>, ApiError> {
    let id = path_id(&id)?;
    let host = owned_host(&caller.tenancy, &id, &host).await?;
    caller.tenancy.set_primary_domain(&host).await?;
    Ok(Json(domains_of(&caller.tenancy, &id).await?))
}

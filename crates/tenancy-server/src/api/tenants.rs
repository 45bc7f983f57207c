//! `/api/v1/tenants`: create, list, show, update, delete, and the status switches.

use axum::Json;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use tenancy::catalog::TenantFilter;
use tenancy::{
    MAX_MAINTENANCE_RETRY_AFTER_SECS, NewTenant, Tenancy, TenantId, TenantStatus, TenantUpdate,
};
use utoipa::ToSchema;

use super::auth::{Caller, TenantsRead, TenantsWrite};
use super::body::Body;
use super::listing;
use super::problem::{ApiError, ProblemBody};
use super::query::Params;
use super::views::{TenantDetail, TenantPage, TenantView};

/// The longest name, plan and reason accepted.
const MAX_NAME: usize = 255;
const MAX_PLAN: usize = 64;
const MAX_REASON: usize = 1000;

/// The body of `POST /api/v1/tenants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// The id: a-z, 0-9 and '-', starting with a letter, at most 63 characters.
    pub id: String,
    /// Display name; default the id.
    pub name: Option<String>,
    /// Plan.
    pub plan: Option<String>,
    /// Application data, a JSON object; default `{}`.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// Domains; the first is primary.
    #[serde(default)]
    pub domains: Vec<String>,
    /// The server to place the tenant on; default the accepting server with the fewest.
    pub server: Option<String>,
    /// Run the application's seeder after the migrations.
    #[serde(default)]
    pub seed: bool,
}

/// The body of `PATCH /api/v1/tenants/{id}`: the fields to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    /// New display name.
    pub name: Option<String>,
    /// New plan; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub plan: Option<Option<String>>,
    /// New application data, a JSON object (replaces the old one).
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
}

/// A field that is present, `null` included, as opposed to left out.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// The body of `POST /api/v1/tenants/{id}/suspend`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Suspend {
    /// Why, kept with the tenant.
    pub reason: Option<String>,
}

/// The body of `PUT /api/v1/tenants/{id}/maintenance`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// Seconds clients are told to wait (`Retry-After`), 1 to 86400; default 60.
    pub retry_after_secs: Option<u32>,
}

/// A tenant id from the path. One that breaks the slug rules names no tenant: 404.
pub fn path_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw)
        .map_err(|_| ApiError::new("tenant_not_found", format!("tenant '{raw}' not found")))
}

fn check_length(field: &str, value: Option<&str>, max: usize) -> Result<(), ApiError> {
    match value {
        Some(text) if text.trim().is_empty() => Err(ApiError::invalid(field, "must not be empty")),
        Some(text) if text.chars().count() > max => Err(ApiError::invalid(
            field,
            format!("at most {max} characters"),
        )),
        _ => Ok(()),
    }
}

fn check_data(data: Option<&serde_json::Value>) -> Result<(), ApiError> {
    match data {
        Some(value) if !value.is_object() => {
            Err(ApiError::invalid("data", "must be a JSON object"))
        }
        _ => Ok(()),
    }
}

fn validate_create(tenancy: &Tenancy, body: CreateTenant) -> Result<NewTenant, ApiError> {
    let id = TenantId::parse(&body.id)
        .map_err(|error| ApiError::new("invalid_tenant_id", error.to_string()).field("id"))?;
    check_length("name", body.name.as_deref(), MAX_NAME)?;
    check_length("plan", body.plan.as_deref(), MAX_PLAN)?;
    check_data(body.data.as_ref())?;
    for (index, domain) in body.domains.iter().enumerate() {
        tenancy
            .normalize_domain(domain)
            .map_err(|error| ApiError::from(error).field(format!("domains[{index}]")))?;
    }
    if let Some(server) = &body.server {
        tenancy.server(server)?;
    }
    Ok(NewTenant {
        name: body.name,
        plan: body.plan,
        data: body.data,
        domains: body.domains,
        server: body.server,
        seed: body.seed,
        ..NewTenant::new(id)
    })
}

async fn detail(tenancy: &Tenancy, id: &TenantId) -> Result<TenantDetail, ApiError> {
    let tenant = tenancy.catalog().require_tenant(id).await?;
    let domains = tenancy.catalog().domains(Some(id)).await?;
    Ok(TenantDetail {
        tenant: tenant.into(),
        domains: domains.into_iter().map(Into::into).collect(),
    })
}

/// Create a tenant: storage, migrations, optional seed; answered once it is active, or at
/// once with `?background=true`.
#[utoipa::path(
    post, path = "/api/v1/tenants", tag = "tenants",
    params(
        ("background" = Option<bool>, Query, description = "Answer 202 as soon as the tenant is recorded `provisioning`; poll `Location` until it is `active` or `failed`"),
    ),
    request_body = CreateTenant,
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 201, description = "The tenant, active", body = TenantDetail),
        (status = 202, description = "The tenant, provisioning; `Location` names it", body = TenantDetail),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 409, description = "The id is taken", body = ProblemBody),
        (status = 422, description = "A value was refused", body = ProblemBody),
    )
)]
pub async fn create(
    caller: Caller<TenantsWrite>,
    params: Params,
    Body(body): Body<CreateTenant>,
) -> Result<Response, ApiError> {
    params.only(&["background"])?;
    let background = params.parsed::<bool>("background")?.unwrap_or(false);
    let new = validate_create(&caller.tenancy, body)?;
    let id = new.id.clone();
    let creation = caller.tenancy.start_creation(new).await?;

    let status = match background {
        true => {
            tokio::spawn(finish_creation(creation));
            StatusCode::ACCEPTED
        }
        false => {
            creation.finish().await?;
            StatusCode::CREATED
        }
    };
    let detail = detail(&caller.tenancy, &id).await?;
    Ok(with_location(
        status,
        Json(detail),
        &format!("/api/v1/tenants/{id}"),
    ))
}

/// Finishes a creation answered 202. Its failure is the tenant's: `failed` with the reason,
/// which is where the client looks.
async fn finish_creation(creation: tenancy::Creation) {
    let tenant_id = creation.tenant().id.clone();
    if let Err(error) = creation.finish().await {
        let error = tenancy::error_chain(&error);
        tracing::warn!(%tenant_id, %error, "a background creation failed");
    }
}

/// An answer with a `Location` header.
pub fn with_location(status: StatusCode, body: impl IntoResponse, location: &str) -> Response {
    let mut response = (status, body).into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The longest search text accepted.
const MAX_SEARCH: usize = 255;

/// List tenants a page at a time: filtered, searched, sorted (by id unless asked).
#[utoipa::path(
    get, path = "/api/v1/tenants", tag = "tenants",
    params(
        ("status" = Option<String>, Query, description = "Only tenants in this status"),
        ("plan" = Option<String>, Query, description = "Only tenants on this plan"),
        ("server" = Option<String>, Query, description = "Only tenants on this server"),
        ("q" = Option<String>, Query, max_length = 255, description = "Only tenants whose id, name or a domain contains this text (ASCII letters without case), at most 255 characters"),
        ("sort" = Option<String>, Query, pattern = "^-?(id|name|created_at|updated_at)$", description = "`id`, `name`, `created_at` or `updated_at`; a leading `-` sorts descending. Default `id`"),
        ("order" = Option<String>, Query, pattern = "^(asc|desc)$", description = "`asc` or `desc`, for a `sort` without `-`; default `asc`"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page, with the same `sort`"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size, 1 to 500; default 50"),
    ),
    security(("bearer" = ["tenants:read"])),
    responses(
        (status = 200, body = TenantPage),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 422, body = ProblemBody),
    )
)]
pub async fn list(
    caller: Caller<TenantsRead>,
    params: Params,
) -> Result<Json<TenantPage>, ApiError> {
    let known = [
        "status", "plan", "server", "q", "sort", "order", "cursor", "limit",
    ];
    params.only(&known)?;
    let limit = params.limit()?;
    let sort = listing::sort(&params)?;
    let search = params.text("q");
    check_length("q", search.as_deref(), MAX_SEARCH)?;
    let filter = TenantFilter {
        status: params.parsed::<TenantStatus>("status")?,
        plan: params.text("plan"),
        server: params.text("server"),
        search,
        sort,
        after: listing::position(&params, sort)?,
        // One more than asked tells whether another page follows.
        limit: Some(limit + 1),
    };

    let mut tenants = caller.tenancy.catalog().tenants(&filter).await?;
    let more = tenants.len() as i64 > limit;
    tenants.truncate(limit as usize);
    let next_cursor = more
        .then(|| tenants.last().map(|tenant| listing::cursor(sort, tenant)))
        .flatten();
    Ok(Json(TenantPage {
        items: tenants.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// Show one tenant with its domains.
#[utoipa::path(
    get, path = "/api/v1/tenants/{id}", tag = "tenants",
    params(("id" = String, Path, description = "The tenant id")),
    security(("bearer" = ["tenants:read"])),
    responses(
        (status = 200, body = TenantDetail),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
pub async fn show(
    caller: Caller<TenantsRead>,
    Path(id): Path<String>,
) -> Result<Json<TenantDetail>, ApiError> {
    let id = path_id(&id)?;
    Ok(Json(detail(&caller.tenancy, &id).await?))
}

/// Change a tenant's name, plan or data.
#[utoipa::path(
    patch, path = "/api/v1/tenants/{id}", tag = "tenants",
    params(("id" = String, Path, description = "The tenant id")),
    request_body = UpdateTenant,
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 200, body = TenantView),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody),
        (status = 422, body = ProblemBody),
    )
)]
pub async fn update(
    caller: Caller<TenantsWrite>,
    Path(id): Path<String>,
    Body(body): Body<UpdateTenant>,
) -> Result<Json<TenantView>, ApiError> {
    let id = path_id(&id)?;
    check_length("name", body.name.as_deref(), MAX_NAME)?;
    check_length("plan", body.plan.clone().flatten().as_deref(), MAX_PLAN)?;
    check_data(body.data.as_ref())?;
    if body.name.is_none() && body.plan.is_none() && body.data.is_none() {
        return Err(ApiError::invalid(
            "body",
            "give at least one of name, plan, data",
        ));
    }
    let update = TenantUpdate {
        name: body.name,
        plan: body.plan,
        data: body.data,
    };
    let tenant = caller.tenancy.update_tenant(&id, update).await?;
    Ok(Json(tenant.into()))
}

/// Delete a tenant and its storage: answered 202 once the tenant is `deleting` (no longer
/// served); it is gone (404) once its storage is dropped.
#[utoipa::path(
    delete, path = "/api/v1/tenants/{id}", tag = "tenants",
    params(("id" = String, Path, description = "The tenant id")),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 202, description = "The tenant, deleting; `Location` names it", body = TenantView),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody),
    )
)]
pub async fn delete(
    caller: Caller<TenantsWrite>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let tenant = caller.tenancy.mark_deleting(&id).await?;
    let view = TenantView::from(tenant.clone());

    let tenancy = caller.tenancy.clone();
    tokio::spawn(async move {
        // A delete stopped here leaves the tenant `deleting`; deleting again finishes it.
        if let Err(error) = tenancy.finish_delete(&tenant).await {
            let error = tenancy::error_chain(&error);
            tracing::warn!(tenant_id = %tenant.id, %error, "a background delete failed");
        }
    });
    let location = format!("/api/v1/tenants/{id}");
    Ok(with_location(StatusCode::ACCEPTED, Json(view), &location))
}

/// Suspend a tenant: its requests get 403 and its connections close.
#[utoipa::path(
    post, path = "/api/v1/tenants/{id}/suspend", tag = "status",
    params(("id" = String, Path, description = "The tenant id")),
    request_body(content = Option<Suspend>, description = "Optional"),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 200, body = TenantView),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody),
        (status = 422, body = ProblemBody),
    )
)]
pub async fn suspend(
    caller: Caller<TenantsWrite>,
    Path(id): Path<String>,
    Body(body): Body<Suspend>,
) -> Result<Json<TenantView>, ApiError> {
    let id = path_id(&id)?;
    check_length("reason", body.reason.as_deref(), MAX_REASON)?;
    let tenant = caller.tenancy.suspend_tenant(&id, body.reason).await?;
    Ok(Json(tenant.into()))
}

/// Activate a suspended tenant or one in maintenance.
#[utoipa::path(
    post, path = "/api/v1/tenants/{id}/activate", tag = "status",
    params(("id" = String, Path, description = "The tenant id")),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 200, body = TenantView),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody),
    )
)]
pub async fn activate(
    caller: Caller<TenantsWrite>,
    Path(id): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    let id = path_id(&id)?;
    let tenant = caller.tenancy.activate_tenant(&id).await?;
    Ok(Json(tenant.into()))
}

/// Switch maintenance on: requests get 503 with `Retry-After`.
#[utoipa::path(
    put, path = "/api/v1/tenants/{id}/maintenance", tag = "status",
    params(("id" = String, Path, description = "The tenant id")),
    request_body(content = Option<Maintenance>, description = "Optional"),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 200, body = TenantView),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody),
        (status = 422, body = ProblemBody),
    )
)]
pub async fn maintenance_on(
    caller: Caller<TenantsWrite>,
    Path(id): Path<String>,
    Body(body): Body<Maintenance>,
) -> Result<Json<TenantView>, ApiError> {
    let id = path_id(&id)?;
    let secs = body
        .retry_after_secs
        .unwrap_or(tenancy::DEFAULT_MAINTENANCE_RETRY_AFTER_SECS);
    if !(1..=MAX_MAINTENANCE_RETRY_AFTER_SECS).contains(&secs) {
        let detail = format!("must be between 1 and {MAX_MAINTENANCE_RETRY_AFTER_SECS}");
        return Err(ApiError::invalid("retry_after_secs", detail));
    }
    let tenant = caller.tenancy.start_maintenance(&id, secs).await?;
    Ok(Json(tenant.into()))
}

/// Switch maintenance off.
#[utoipa::path(
    delete, path = "/api/v1/tenants/{id}/maintenance", tag = "status",
    params(("id" = String, Path, description = "The tenant id")),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 200, body = TenantView),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 409, body = ProblemBody),
    )
)]
pub async fn maintenance_off(
    caller: Caller<TenantsWrite>,
    Path(id): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    let id = path_id(&id)?;
    let tenant = caller.tenancy.end_maintenance(&id).await?;
    Ok(Json(tenant.into()))
}

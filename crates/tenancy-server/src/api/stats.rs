//! `/api/v1/stats` and `/api/v1/tenants/{id}/stats`: what the service and one tenant use.
//!
//! Both need `metrics:read`, the scope of `/metrics`: they are operating figures, and a
//! monitoring key should read them without reading tenants' data. Request figures are
//! this process's ([`crate::stats`]); database sizes and pool figures are read now.

use axum::Json;
use axum::extract::Path;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tenancy::{PoolStats, Tenancy, TenantStatus};
use utoipa::ToSchema;

use super::auth::{Caller, MetricsRead};
use super::problem::{ApiError, ProblemBody};
use super::tenants::path_id;
use crate::stats::{self, MAX_TRACKED_TENANTS, RequestStats};

/// What one tenant uses.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantStats {
    /// The tenant.
    pub tenant_id: String,
    /// Its requests answered by this process; `null` when it was not served lately.
    pub requests: Option<RequestFigures>,
    /// Its database.
    pub database: DatabaseFigures,
    /// Its connections on this process.
    pub pool: TenantPool,
}

/// Requests answered for one tenant by this process.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestFigures {
    /// When counting began: the first request this process served the tenant, or the
    /// first after its figures were dropped (not served for an hour, or crowded out).
    pub since: DateTime<Utc>,
    /// Answered requests, refusals included.
    pub total: u64,
    /// Of which 4xx.
    pub client_errors: u64,
    /// Of which 5xx.
    pub server_errors: u64,
    /// Latency, two significant digits.
    pub latency_ms: Latency,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Serialize, ToSchema)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest (a minute or more counts as a minute).
    pub max: f64,
}

/// A tenant's database and its size.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseFigures {
    /// The server it lives on.
    pub server: String,
    /// Its name there.
    pub database: String,
    /// Bytes it takes; `null` when the server could not tell (see `size_error`).
    pub size_bytes: Option<u64>,
    /// The problem code when the size could not be read, such as `server_unavailable`.
    pub size_error: Option<String>,
}

/// A tenant's connections on this process.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantPool {
    /// Whether its server shares connections among tenants (PostgreSQL schema mode,
    /// MySQL); the figures are then the server's shared ones.
    pub shared: bool,
    /// Open connections waiting for a request.
    pub connections_idle: usize,
    /// Connections handed out now.
    pub connections_in_use: usize,
}

/// What the whole service uses, as this process sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceStats {
    /// Tenants in the catalog.
    pub tenants: TenantCounts,
    /// Every server's connections against its budget, in name order.
    pub servers: Vec<ServerFigures>,
    /// Tenants whose request figures are kept now.
    pub tracked_tenants: u64,
    /// The most tenants whose request figures are kept at once.
    pub tracked_tenants_max: u64,
    /// This process.
    pub process: ProcessFigures,
}

/// Tenants by status.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct TenantCounts {
    /// Every tenant.
    pub total: i64,
    /// Being set up.
    pub provisioning: i64,
    /// Served.
    pub active: i64,
    /// Refused with 403.
    pub suspended: i64,
    /// Refused with 503.
    pub maintenance: i64,
    /// Being removed.
    pub deleting: i64,
    /// Provisioning failed.
    pub failed: i64,
}

/// One server's pool.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerFigures {
    /// The server's name.
    pub server: String,
    /// Tenants placed on it.
    pub tenants: i64,
    /// Connections it may have open at once.
    pub budget: usize,
    /// Connections open now.
    pub connections_open: usize,
    /// Of which idle.
    pub connections_idle: usize,
    /// Of which handed out.
    pub connections_in_use: usize,
    /// Tenant databases with a connection open (one on a shared server).
    pub databases_open: usize,
    /// Checkouts that gave up waiting (answered 503).
    pub timeouts: u64,
}

/// This process.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessFigures {
    /// Resident memory in bytes; `null` where the system does not tell (outside Linux).
    pub resident_memory_bytes: Option<u64>,
    /// Seconds since the application started.
    pub uptime_secs: u64,
}

/// Requests, database size and connections of one tenant.
#[utoipa::path(
    get, path = "/api/v1/tenants/{id}/stats", tag = "stats",
    params(("id" = String, Path, description = "The tenant id")),
    security(("bearer" = ["metrics:read"])),
    responses(
        (status = 200, body = TenantStats),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
pub async fn tenant(
    caller: Caller<MetricsRead>,
    recorded: Option<axum::Extension<RequestStats>>,
    Path(id): Path<String>,
) -> Result<Json<TenantStats>, ApiError> {
    let id = path_id(&id)?;
    let tenant = caller.tenancy.catalog().require_tenant(&id).await?;
    let requests = recorded.and_then(|axum::Extension(stats)| stats.tenant(&id));

    let (size_bytes, size_error) = match caller.tenancy.database_size(&tenant).await {
        Ok(bytes) => (Some(bytes), None),
        Err(error) => {
            let chain = tenancy::error_chain(&error);
            tracing::warn!(tenant_id = %id, error = %chain, "reading a database size failed");
            (None, Some(error.code().to_owned()))
        }
    };
    let pool = caller.tenancy.pools().server(&tenant.server)?;
    let held = pool.database_stats(&tenant.database);

    Ok(Json(TenantStats {
        tenant_id: id.to_string(),
        requests: requests.map(request_figures),
        database: DatabaseFigures {
            server: tenant.server,
            database: tenant.database,
            size_bytes,
            size_error,
        },
        pool: TenantPool {
            shared: held.shared,
            connections_idle: held.connections_idle,
            connections_in_use: held.connections_in_use,
        },
    }))
}

fn request_figures(requests: stats::TenantRequests) -> RequestFigures {
    let [p50, p90, p99, max] = requests.latency_ms.unwrap_or_default();
    RequestFigures {
        since: requests.since,
        total: requests.requests,
        client_errors: requests.client_errors,
        server_errors: requests.server_errors,
        latency_ms: Latency { p50, p90, p99, max },
    }
}

/// Tenants by status, connections per server against its budget, memory.
#[utoipa::path(
    get, path = "/api/v1/stats", tag = "stats",
    security(("bearer" = ["metrics:read"])),
    responses(
        (status = 200, body = ServiceStats),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
    )
)]
pub async fn service(
    caller: Caller<MetricsRead>,
    recorded: Option<axum::Extension<RequestStats>>,
) -> Result<Json<ServiceStats>, ApiError> {
    let tenancy = &caller.tenancy;
    let tenants = tenant_counts(tenancy).await?;
    let placed = tenancy.catalog().tenants_per_server().await?;
    let servers = tenancy
        .pools()
        .stats()
        .into_iter()
        .map(|pool| server_figures(pool, &placed))
        .collect();
    let recorded = recorded.map(|axum::Extension(stats)| stats);

    Ok(Json(ServiceStats {
        tenants,
        servers,
        tracked_tenants: recorded.as_ref().map_or(0, RequestStats::tracked),
        tracked_tenants_max: MAX_TRACKED_TENANTS,
        process: ProcessFigures {
            resident_memory_bytes: stats::resident_memory_bytes(),
            uptime_secs: recorded.map_or(0, |stats| stats.uptime().as_secs()),
        },
    }))
}

async fn tenant_counts(tenancy: &Tenancy) -> Result<TenantCounts, ApiError> {
    let mut counts = TenantCounts::default();
    for (status, count) in tenancy.catalog().tenants_per_status().await? {
        counts.total += count;
        let slot = match status {
            TenantStatus::Provisioning => &mut counts.provisioning,
            TenantStatus::Active => &mut counts.active,
            TenantStatus::Suspended => &mut counts.suspended,
            TenantStatus::Maintenance => &mut counts.maintenance,
            TenantStatus::Deleting => &mut counts.deleting,
            TenantStatus::Failed => &mut counts.failed,
        };
        *slot += count;
    }
    Ok(counts)
}

fn server_figures(
    pool: PoolStats,
    placed: &std::collections::HashMap<String, i64>,
) -> ServerFigures {
    ServerFigures {
        tenants: placed.get(&pool.server).copied().unwrap_or(0),
        server: pool.server,
        budget: pool.budget,
        connections_open: pool.connections_open,
        connections_idle: pool.connections_idle,
        connections_in_use: pool.connections_in_use,
        databases_open: pool.pools_open,
        timeouts: pool.timeouts,
    }
}

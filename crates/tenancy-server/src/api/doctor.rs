//! `/api/v1/doctor`: the catalog checked against the servers' storage, and the repair of
//! what a crash left, as `tenancy doctor [--repair]` does.

use std::time::Duration;

use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenancy::{DoctorReport, Orphan, RepairReport, TenantRef, Unreachable};
use utoipa::ToSchema;

use super::auth::{Caller, TenantsRead, TenantsWrite};
use super::body::Body;
use super::problem::{ApiError, ProblemBody};

/// The longest `stale_after_secs` a repair takes: a week.
const MAX_STALE_AFTER_SECS: u64 = 7 * 86_400;

/// The body of `POST /api/v1/doctor/repair`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Repair {
    /// Only touch tenants unchanged for this many seconds, so that a creation still running
    /// elsewhere is left alone; 0 to 604800, default 60.
    pub stale_after_secs: Option<u64>,
}

/// A tenant named in a report.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantRefView {
    /// The tenant.
    pub id: String,
    /// Its status.
    pub status: String,
    /// Its server.
    pub server: String,
    /// Its database on that server.
    pub database: String,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<TenantRef> for TenantRefView {
    fn from(tenant: TenantRef) -> Self {
        TenantRefView {
            id: tenant.id.to_string(),
            status: tenant.status.to_string(),
            server: tenant.server,
            database: tenant.database,
            updated_at: tenant.updated_at,
        }
    }
}

/// A database no tenant owns.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrphanView {
    /// The server.
    pub server: String,
    /// The database (with `.partial` for a half-built one).
    pub database: String,
    /// Where it is.
    pub location: String,
}

impl From<Orphan> for OrphanView {
    fn from(orphan: Orphan) -> Self {
        OrphanView {
            server: orphan.server,
            database: orphan.database,
            location: orphan.location,
        }
    }
}

/// A server that could not be checked.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnreachableView {
    /// The server.
    pub server: String,
    /// Why, with its causes.
    pub error: String,
}

impl From<Unreachable> for UnreachableView {
    fn from(entry: Unreachable) -> Self {
        UnreachableView {
            server: entry.server,
            error: entry.error,
        }
    }
}

/// What the doctor found. Reading it changes nothing.
#[derive(Debug, Serialize, ToSchema)]
pub struct DoctorView {
    /// Whether catalog and storage agree, on every server.
    pub healthy: bool,
    /// Databases no tenant owns.
    pub orphans: Vec<OrphanView>,
    /// Tenants whose database is missing.
    pub missing: Vec<TenantRefView>,
    /// Tenants in `provisioning` or `deleting`: in progress, or stuck after a crash.
    pub stuck: Vec<TenantRefView>,
    /// Servers that could not be checked; their tenants were not.
    pub unreachable: Vec<UnreachableView>,
}

impl From<DoctorReport> for DoctorView {
    fn from(report: DoctorReport) -> Self {
        let refs = |tenants: Vec<TenantRef>| tenants.into_iter().map(Into::into).collect();
        DoctorView {
            healthy: report.is_healthy(),
            orphans: report.orphans.into_iter().map(Into::into).collect(),
            missing: refs(report.missing),
            stuck: refs(report.stuck),
            unreachable: report.unreachable.into_iter().map(Into::into).collect(),
        }
    }
}

/// One stuck tenant and what the repair made of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepairedView {
    /// The tenant.
    pub id: String,
    /// Its status before.
    pub was: String,
    /// `active`, `failed`, `deleted`, `skipped: …` or `failed: …`.
    pub outcome: String,
}

/// What a repair did, and the doctor's report after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepairView {
    /// Stuck tenants and what became of them.
    pub tenants: Vec<RepairedView>,
    /// Half-built databases removed.
    pub removed: Vec<String>,
    /// The report after the repair.
    pub report: DoctorView,
}

impl RepairView {
    fn of(repair: RepairReport, report: DoctorReport) -> Self {
        let tenants = repair.tenants.into_iter().map(|tenant| RepairedView {
            id: tenant.id.to_string(),
            was: tenant.was.to_string(),
            outcome: tenant.outcome,
        });
        RepairView {
            tenants: tenants.collect(),
            removed: repair.removed,
            report: report.into(),
        }
    }
}

/// Check the catalog against every server's storage. Changes nothing.
#[utoipa::path(
    get, path = "/api/v1/doctor", tag = "doctor",
    security(("bearer" = ["tenants:read"])),
    responses(
        (status = 200, body = DoctorView),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
    )
)]
pub async fn check(caller: Caller<TenantsRead>) -> Result<Json<DoctorView>, ApiError> {
    Ok(Json(caller.tenancy.doctor().await?.into()))
}

/// Finish or roll back tenants stuck in `provisioning` or `deleting`, and remove
/// half-built databases; then check again.
#[utoipa::path(
    post, path = "/api/v1/doctor/repair", tag = "doctor",
    request_body(content = Repair, description = "Optional"),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 200, body = RepairView),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 422, body = ProblemBody),
    )
)]
pub async fn repair(
    caller: Caller<TenantsWrite>,
    Body(body): Body<Repair>,
) -> Result<Json<RepairView>, ApiError> {
    let stale_after = match body.stale_after_secs.unwrap_or(60) {
        secs @ 0..=MAX_STALE_AFTER_SECS => Duration::from_secs(secs),
        _ => {
            let detail = format!("must be between 0 and {MAX_STALE_AFTER_SECS}");
            return Err(ApiError::invalid("stale_after_secs", detail));
        }
    };
    let repaired = caller.tenancy.repair(stale_after).await?;
    let report = caller.tenancy.doctor().await?;
    Ok(Json(RepairView::of(repaired, report)))
}

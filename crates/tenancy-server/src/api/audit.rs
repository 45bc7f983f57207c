//! `/api/v1/audit`: the change log, filtered, newest first.

use axum::Json;
use chrono::{DateTime, Utc};
use tenancy::TenantId;
use tenancy::catalog::AuditFilter;

use super::auth::{AuditRead, Caller};
use super::problem::{ApiError, ProblemBody};
use super::query::Params;
use super::views::{AuditEntry, AuditPage};

/// List audit entries: every change to the catalog, who made it, from where.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "audit",
    params(
        ("actor" = Option<String>, Query, description = "Only this actor (`api:<key id>`, `cli`)"),
        ("key_id" = Option<String>, Query, description = "Only changes made with this API key"),
        ("tenant" = Option<String>, Query, description = "Only changes about this tenant"),
        ("action" = Option<String>, Query, description = "Only this action (`tenant.suspended`), or a family ending in '.' (`tenant.`)"),
        ("since" = Option<String>, Query, description = "RFC 3339; only changes at or after"),
        ("until" = Option<String>, Query, description = "RFC 3339; only changes before"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size, 1 to 500; default 50"),
    ),
    security(("bearer" = ["audit:read"])),
    responses(
        (status = 200, body = AuditPage),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 422, body = ProblemBody),
    )
)]
pub async fn list(caller: Caller<AuditRead>, params: Params) -> Result<Json<AuditPage>, ApiError> {
    let known = [
        "actor", "key_id", "tenant", "action", "since", "until", "cursor", "limit",
    ];
    params.only(&known)?;
    let filter = filter(&params)?;
    let limit = filter.limit - 1;

    let mut changes = caller.tenancy.catalog().audit(&filter).await?;
    let more = changes.len() as i64 > limit;
    changes.truncate(limit as usize);
    let next_cursor = more
        .then(|| changes.last().map(|change| change.seq.to_string()))
        .flatten();
    Ok(Json(AuditPage {
        items: changes.into_iter().map(AuditEntry::from).collect(),
        next_cursor,
    }))
}

fn filter(params: &Params) -> Result<AuditFilter, ApiError> {
    let actor = match (params.text("actor"), params.text("key_id")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "key_id",
                "give actor or key_id, not both",
            ));
        }
        (actor, key_id) => actor.or(key_id.map(|id| format!("api:{id}"))),
    };
    let tenant_id = params
        .text("tenant")
        .map(|raw| TenantId::parse(&raw))
        .transpose()
        .map_err(|error| ApiError::new("invalid_tenant_id", error.to_string()).field("tenant"))?;
    let before_seq = params
        .parsed::<i64>("cursor")
        .map_err(|_| ApiError::invalid("cursor", "not a cursor this API gave out"))?;
    Ok(AuditFilter {
        actor,
        tenant_id,
        action: params.text("action"),
        since: time(params, "since")?,
        until: time(params, "until")?,
        before_seq,
        // One more than asked tells whether another page follows.
        limit: params.limit()? + 1,
    })
}

/// A time parameter, which must be RFC 3339 (`2026-12-04T10:00:00Z`).
fn time(params: &Params, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    params
        .parsed::<DateTime<Utc>>(name)
        .map_err(|_| ApiError::invalid(name, "not an RFC 3339 time, such as 2026-12-04T10:00:00Z"))
}

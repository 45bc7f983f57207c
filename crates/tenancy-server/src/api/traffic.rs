//! `/api/v1/traffic`, `/api/v1/tenants/{id}/traffic`, `/api/v1/plans/{plan}/traffic`: rate
//! limits and IP allow and block lists, per plan and per tenant.

use axum::Json;
use axum::extract::Path;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tenancy::Tenancy;
use tenancy::traffic::{RateLimit, RateRule, RuleScope, TrafficRules, parse_network};
use utoipa::ToSchema;

use super::auth::{Caller, TenantsRead, TenantsWrite};
use super::body::Body;
use super::problem::{ApiError, ProblemBody};
use super::tenants::path_id;

/// The word that overrides a plan's rate limit with none.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoLimit {
    /// No rate limit.
    Unlimited,
}

/// A rate rule: `"unlimited"`, or a steady rate with a burst.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Rate {
    /// No limit, whatever the plan says.
    Unlimited(NoLimit),
    /// A token bucket.
    Limit {
        /// Requests per second, sustained; 1 to 1000000.
        per_second: u32,
        /// Requests that may arrive at once; 1 to 1000000.
        burst: u32,
    },
}

/// The rules of one plan or tenant. A field left out is inherited (a tenant's from its
/// plan); an empty list is a list that allows or blocks nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// The rate limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// When set and not empty, only these networks (CIDR or address) may reach the tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// These networks may not (checked before `allow`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<Vec<String>>,
}

/// One scope's rules.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeRules {
    /// `plan:<name>` or `tenant:<id>`.
    pub scope: String,
    /// Its rules.
    pub rules: Rules,
}

/// A tenant's own rules and the ones in force (its plan's merged in).
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantTraffic {
    /// The tenant's plan.
    pub plan: Option<String>,
    /// The tenant's own rules, if any.
    pub own: Option<Rules>,
    /// What its requests are held to; a missing `rate` is no limit.
    pub effective: Rules,
}

impl From<TrafficRules> for Rules {
    fn from(rules: TrafficRules) -> Self {
        let networks = |list: Option<Vec<ipnet::IpNet>>| {
            list.map(|list| list.iter().map(ToString::to_string).collect())
        };
        Rules {
            rate: rules.rate.map(|rate| match rate {
                RateRule::Unlimited => Rate::Unlimited(NoLimit::Unlimited),
                RateRule::Limit(limit) => Rate::Limit {
                    per_second: limit.per_second,
                    burst: limit.burst,
                },
            }),
            allow: networks(rules.allow),
            block: networks(rules.block),
        }
    }
}

fn networks(field: &str, list: Option<Vec<String>>) -> Result<Option<Vec<ipnet::IpNet>>, ApiError> {
    let Some(list) = list else {
        return Ok(None);
    };
    list.iter()
        .enumerate()
        .map(|(index, text)| {
            parse_network(text)
                .map_err(|error| ApiError::from(error).field(format!("{field}[{index}]")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn to_core(rules: Rules) -> Result<TrafficRules, ApiError> {
    let rate = match rules.rate {
        None => None,
        Some(Rate::Unlimited(_)) => Some(RateRule::Unlimited),
        Some(Rate::Limit { per_second, burst }) => Some(RateRule::Limit(
            RateLimit::new(per_second, burst)
                .map_err(|error| field_under("rate", ApiError::from(error)))?,
        )),
    };
    let core = TrafficRules {
        rate,
        allow: networks("allow", rules.allow)?,
        block: networks("block", rules.block)?,
    };
    if core.is_empty() {
        return Err(ApiError::invalid(
            "body",
            "set at least one of rate, allow, block",
        ));
    }
    core.validate()?;
    Ok(core)
}

/// `per_second` becomes `rate.per_second`.
fn field_under(parent: &str, error: ApiError) -> ApiError {
    match error.0.field().map(str::to_owned) {
        Some(field) => error.field(format!("{parent}.{field}")),
        None => error,
    }
}

fn plan_scope(plan: &str) -> Result<RuleScope, ApiError> {
    RuleScope::plan(plan).map_err(|error| ApiError::from(error).field("plan"))
}

fn scope_rules(tenancy: &Tenancy, scope: &RuleScope) -> ScopeRules {
    ScopeRules {
        scope: scope.to_string(),
        rules: tenancy
            .traffic()
            .get(scope)
            .map(Into::into)
            .unwrap_or_default(),
    }
}

/// Every plan's and tenant's rules.
#[utoipa::path(
    get, path = "/api/v1/traffic", tag = "traffic",
    security(("bearer" = ["tenants:read"])),
    responses(
        (status = 200, body = Vec<ScopeRules>),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
    )
)]
pub async fn list(caller: Caller<TenantsRead>) -> Json<Vec<ScopeRules>> {
    let all = caller.tenancy.traffic().all();
    Json(
        all.into_iter()
            .map(|(scope, rules)| ScopeRules {
                scope: scope.to_string(),
                rules: rules.into(),
            })
            .collect(),
    )
}

/// A tenant's own rules and the ones in force.
#[utoipa::path(
    get, path = "/api/v1/tenants/{id}/traffic", tag = "traffic",
    params(("id" = String, Path, description = "The tenant id")),
    security(("bearer" = ["tenants:read"])),
    responses(
        (status = 200, body = TenantTraffic),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
pub async fn show_tenant(
    caller: Caller<TenantsRead>,
    Path(id): Path<String>,
) -> Result<Json<TenantTraffic>, ApiError> {
    let id = path_id(&id)?;
    let tenant = caller.tenancy.catalog().require_tenant(&id).await?;
    let table = caller.tenancy.traffic();
    let effective = table.effective(&tenant);
    let in_force = TrafficRules {
        rate: effective.rate.map(RateRule::Limit),
        allow: Some(effective.allow),
        block: Some(effective.block),
    };
    Ok(Json(TenantTraffic {
        plan: tenant.plan,
        own: table.get(&RuleScope::Tenant(id)).map(Into::into),
        effective: in_force.into(),
    }))
}

/// Set a tenant's rules, replacing the ones it had.
#[utoipa::path(
    put, path = "/api/v1/tenants/{id}/traffic", tag = "traffic",
    params(("id" = String, Path, description = "The tenant id")),
    request_body = Rules,
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 200, body = ScopeRules),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody), (status = 422, body = ProblemBody),
    )
)]
pub async fn set_tenant(
    caller: Caller<TenantsWrite>,
    Path(id): Path<String>,
    Body(body): Body<Rules>,
) -> Result<Json<ScopeRules>, ApiError> {
    let scope = RuleScope::Tenant(path_id(&id)?);
    set(&caller.tenancy, scope, body).await
}

/// Remove a tenant's rules: it follows its plan's.
#[utoipa::path(
    delete, path = "/api/v1/tenants/{id}/traffic", tag = "traffic",
    params(("id" = String, Path, description = "The tenant id")),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
pub async fn clear_tenant(
    caller: Caller<TenantsWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(&id)?;
    caller.tenancy.catalog().require_tenant(&id).await?;
    clear(&caller.tenancy, RuleScope::Tenant(id)).await
}

/// A plan's rules.
#[utoipa::path(
    get, path = "/api/v1/plans/{plan}/traffic", tag = "traffic",
    params(("plan" = String, Path, description = "The plan name")),
    security(("bearer" = ["tenants:read"])),
    responses(
        (status = 200, body = ScopeRules),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 422, body = ProblemBody),
    )
)]
pub async fn show_plan(
    caller: Caller<TenantsRead>,
    Path(plan): Path<String>,
) -> Result<Json<ScopeRules>, ApiError> {
    let scope = plan_scope(&plan)?;
    Ok(Json(scope_rules(&caller.tenancy, &scope)))
}

/// Set a plan's rules, replacing the ones it had.
#[utoipa::path(
    put, path = "/api/v1/plans/{plan}/traffic", tag = "traffic",
    params(("plan" = String, Path, description = "The plan name")),
    request_body = Rules,
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 200, body = ScopeRules),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 422, body = ProblemBody),
    )
)]
pub async fn set_plan(
    caller: Caller<TenantsWrite>,
    Path(plan): Path<String>,
    Body(body): Body<Rules>,
) -> Result<Json<ScopeRules>, ApiError> {
    let scope = plan_scope(&plan)?;
    set(&caller.tenancy, scope, body).await
}

/// Remove a plan's rules.
#[utoipa::path(
    delete, path = "/api/v1/plans/{plan}/traffic", tag = "traffic",
    params(("plan" = String, Path, description = "The plan name")),
    security(("bearer" = ["tenants:write"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 422, body = ProblemBody),
    )
)]
pub async fn clear_plan(
    caller: Caller<TenantsWrite>,
    Path(plan): Path<String>,
) -> Result<StatusCode, ApiError> {
    let scope = plan_scope(&plan)?;
    clear(&caller.tenancy, scope).await
}

async fn set(
    tenancy: &Tenancy,
    scope: RuleScope,
    body: Rules,
) -> Result<Json<ScopeRules>, ApiError> {
    let rules = to_core(body)?;
    tenancy
        .set_traffic_rules(scope.clone(), Some(rules))
        .await?;
    Ok(Json(scope_rules(tenancy, &scope)))
}

/// Removing rules a scope does not have changes nothing and is still a success: the
/// caller's wish, no rules, holds.
async fn clear(tenancy: &Tenancy, scope: RuleScope) -> Result<StatusCode, ApiError> {
    if tenancy.traffic().get(&scope).is_some() {
        tenancy.set_traffic_rules(scope, None).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

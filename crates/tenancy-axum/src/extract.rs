//! Extractors that hand a handler its tenant and its tenant's database.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::request::Parts;
use tenancy::scope::TenantContext;
use tenancy::{PooledConnection, Tenant};

use crate::layer::unknown_tenant;
use crate::problem::Problem;

fn context(parts: &Parts) -> Result<TenantContext, Problem> {
    // Missing only when the route is not behind the layer or the host is central.
    parts
        .extensions
        .get::<TenantContext>()
        .cloned()
        .ok_or_else(unknown_tenant)
}

/// The tenant of the request. Rejected with 404 `tenant_not_found` outside a tenant request.
#[derive(Debug, Clone)]
pub struct CurrentTenant(pub Arc<Tenant>);

impl<S: Send + Sync> FromRequestParts<S> for CurrentTenant {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        Ok(CurrentTenant(context(parts)?.tenant().clone()))
    }
}

/// The tenant's database, checked out lazily with [`TenantDb::acquire`].
///
/// Taking this extractor costs nothing until a connection is asked for, so a handler that
/// answers from a cache never touches the pool.
#[derive(Debug, Clone)]
pub struct TenantDb(TenantContext);

impl TenantDb {
    /// Checks out a connection to the tenant's database.
    ///
    /// When none is available within the pool's wait, the error converts to a 503 with
    /// `Retry-After`.
    pub async fn acquire(&self) -> Result<PooledConnection, Problem> {
        self.0.connect().await.map_err(Problem::from)
    }

    /// The tenant whose database this is.
    pub fn tenant(&self) -> &Arc<Tenant> {
        self.0.tenant()
    }

    /// The whole context, for work spawned off the request.
    pub fn context(&self) -> &TenantContext {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TenantDb {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        Ok(TenantDb(context(parts)?))
    }
}

/// A connection to the tenant's database, checked out before the handler runs.
#[derive(Debug)]
pub struct TenantConnection(pub PooledConnection);

impl<S: Send + Sync> FromRequestParts<S> for TenantConnection {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let conn = context(parts)?.connect().await.map_err(Problem::from)?;
        Ok(TenantConnection(conn))
    }
}

//! The tenant of the work in progress, carried explicitly.
//!
//! There is no process-global "current tenant". The HTTP layer runs each request inside
//! [`TenantContext::scope`], and work a handler spawns keeps its tenant by being spawned
//! with [`spawn`], which captures the context at the call. Code outside any scope gets
//! `None` from [`current`] and so cannot reach a tenant database by accident.

use std::future::Future;
use std::sync::Arc;

use crate::error::Error;
use crate::pool::PooledConnection;
use crate::tenancy::Tenancy;
use crate::tenant::Tenant;

tokio::task_local! {
    static CURRENT: TenantContext;
}

/// A tenant together with the handle that reaches its database.
#[derive(Clone, Debug)]
pub struct TenantContext {
    tenant: Arc<Tenant>,
    tenancy: Tenancy,
}

impl TenantContext {
    /// A context for `tenant`, served by `tenancy`.
    pub fn new(tenant: Arc<Tenant>, tenancy: Tenancy) -> Self {
        TenantContext { tenant, tenancy }
    }

    /// The tenant.
    pub fn tenant(&self) -> &Arc<Tenant> {
        &self.tenant
    }

    /// The tenancy handle the tenant belongs to.
    pub fn tenancy(&self) -> &Tenancy {
        &self.tenancy
    }

    /// Checks out a connection to the tenant's database.
    pub async fn connect(&self) -> Result<PooledConnection, Error> {
        self.tenancy.connect(&self.tenant).await
    }

    /// Runs `future` with this context as the [`current`] one.
    pub async fn scope<F: Future>(self, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }
}

/// The context of the running task, if it runs inside a tenant scope.
pub fn current() -> Option<TenantContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Spawns `future` on the runtime inside the caller's tenant scope (or none, outside one).
///
/// Use it instead of `tokio::spawn` for work that must outlive the request but still
/// belongs to its tenant (an export, a notification).
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match current() {
        Some(context) => tokio::spawn(context.scope(future)),
        None => tokio::spawn(future),
    }
}

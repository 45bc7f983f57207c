//! axum integration for Artflow Tenancy.
//!
//! [`TenancyLayer`] identifies the tenant of every request and lets only active tenants
//! through; [`CurrentTenant`], [`TenantDb`] and [`TenantConnection`] hand a handler its
//! tenant and its tenant's database. [`split`] serves central hosts (health, admin) and
//! tenant hosts from one listener. Every refusal is an `application/problem+json`
//! [`Problem`] with a stable code.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tenancy::Tenancy;
//! use tenancy_axum::{CurrentTenant, split};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tenancy = Tenancy::builder("./data").build().await?;
//! let central = Router::new().route("/healthz", get(|| async { "ok" }));
//! let tenants = Router::new().route(
//!     "/hello",
//!     get(|CurrentTenant(tenant): CurrentTenant| async move { format!("hello, {}", tenant.name) }),
//! );
//! let app = split(tenancy, central, tenants);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```

mod extract;
mod layer;
mod problem;
mod traffic;

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use http::Request;
use tenancy::Tenancy;
use tenancy::scope::TenantContext;
use tower::{ServiceExt, service_fn};

pub use extract::{CurrentTenant, TenantConnection, TenantDb};
pub use layer::{Central, ClientAddr, ServedTenant, TenancyLayer, TenancyService};
pub use problem::Problem;

/// One router for both sides: `central` for central hosts, `tenants` for tenant hosts,
/// behind a [`TenancyLayer`].
pub fn split(tenancy: Tenancy, central: Router, tenants: Router) -> Router {
    split_with(TenancyLayer::new(tenancy), central, tenants)
}

/// [`split`] with a layer configured by the caller (trusted proxies, for one).
pub fn split_with(layer: TenancyLayer, central: Router, tenants: Router) -> Router {
    let dispatch = service_fn(move |request: Request<Body>| {
        let for_tenant = request.extensions().get::<TenantContext>().is_some();
        let router = if for_tenant {
            tenants.clone()
        } else {
            central.clone()
        };
        async move { Ok::<_, Infallible>(router.oneshot(request).await.unwrap_or_else(|e| match e {})) }
    });
    Router::new().fallback_service(dispatch).layer(layer)
}

//! The tower layer every tenant request passes through: identify, then gate on status.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{Request, StatusCode, Uri, header};
use ipnet::IpNet;
use tenancy::identify::{self, Identified, TENANT_HEADER};
use tenancy::scope::TenantContext;
use tenancy::{Error, Tenancy, Tenant, TenantId, TenantStatus};
use tower::{Layer, Service};

use crate::problem::Problem;
use crate::traffic::Traffic;

/// How long a client is told to wait for a tenant that is still being provisioned.
const PROVISIONING_RETRY_AFTER_SECS: u32 = 5;

/// Marks a request for a central host (no tenant): the admin side.
#[derive(Debug, Clone, Copy)]
pub struct Central;

/// The client's address, put on every request the layer passes on (central hosts too):
/// the socket's peer, or the nearest untrusted address in `X-Forwarded-For` when the peer
/// is a trusted proxy. The same address the IP rules are checked against; absent when the
/// server gives no `ConnectInfo<SocketAddr>` or a trusted proxy sent an unreadable chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

/// Put on every response to a tenant request (served or refused), for logging.
#[derive(Debug, Clone)]
pub struct ServedTenant(pub TenantId);

/// Identifies the tenant of each request and lets only `active` tenants through.
///
/// - invalid host → 400 `invalid_host`; unknown host → 404 `tenant_not_found`;
/// - suspended → 403 `tenant_suspended`; maintenance → 503 `tenant_maintenance` with the
///   tenant's `Retry-After`; provisioning → 503 `tenant_provisioning`; failed and deleting →
///   404 `tenant_not_found`;
/// - active → the inner service runs inside the tenant's [`TenantContext`] scope, with the
///   context in the request extensions (read it with the crate's extractors);
/// - central host → the inner service runs with a [`Central`] extension and no tenant.
///
/// An active tenant's traffic rules ([`tenancy::traffic`]) apply next: a client address
/// on its block list, or off its allow list, gets 403 `ip_blocked` / `ip_not_allowed`; a
/// request over its rate limit gets 429 `rate_limited` with `Retry-After`, and answers
/// under a limit carry the `RateLimit-Policy` and `RateLimit` headers.
#[derive(Debug, Clone)]
pub struct TenancyLayer {
    tenancy: Tenancy,
    traffic: Arc<Traffic>,
}

impl TenancyLayer {
    /// A layer identifying tenants through `tenancy`, with no trusted proxy: the client
    /// address is the socket's peer (from axum's `ConnectInfo<SocketAddr>`).
    pub fn new(tenancy: Tenancy) -> Self {
        TenancyLayer {
            tenancy,
            traffic: Arc::new(Traffic::new(Vec::new())),
        }
    }

    /// The tenancy this layer identifies through.
    pub fn tenancy(&self) -> &Tenancy {
        &self.tenancy
    }

    /// Trusts these networks to say who the client is: for a request whose peer is in
    /// them, the client address is the nearest untrusted address in `X-Forwarded-For`.
    pub fn trusted_proxies(mut self, networks: Vec<IpNet>) -> Self {
        self.traffic = Arc::new(Traffic::new(networks));
        self
    }
}

impl<S> Layer<S> for TenancyLayer {
    type Service = TenancyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenancyService {
            inner,
            tenancy: self.tenancy.clone(),
            traffic: self.traffic.clone(),
        }
    }
}

/// The service made by [`TenancyLayer`].
#[derive(Debug, Clone)]
pub struct TenancyService<S> {
    inner: S,
    tenancy: Tenancy,
    traffic: Arc<Traffic>,
}

impl<S> Service<Request<Body>> for TenancyService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that was driven to readiness is the one that must serve the call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let (tenancy, traffic) = (self.tenancy.clone(), self.traffic.clone());
        Box::pin(async move { Ok(serve(tenancy, traffic, inner, request).await) })
    }
}

async fn serve<S>(
    tenancy: Tenancy,
    traffic: Arc<Traffic>,
    mut inner: S,
    request: Request<Body>,
) -> Response
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    // Only the head is looked at, and it must be `Sync` to be held across the lookup.
    let (mut parts, body) = request.into_parts();
    if let Some(ip) = traffic.client_ip(&parts) {
        parts.extensions.insert(ClientAddr(ip));
    }
    let identified = match identify_request(&tenancy, &parts).await {
        Ok(identified) => identified,
        Err(problem) => return problem.into_response(),
    };
    let (tenant, stripped_path) = match identified {
        Identified::Central => {
            let mut request = Request::from_parts(parts, body);
            request.extensions_mut().insert(Central);
            return call(&mut inner, request).await;
        }
        Identified::Unknown => return unknown_tenant().into_response(),
        Identified::Tenant {
            tenant,
            stripped_path,
            ..
        } => (tenant, stripped_path),
    };

    let served = ServedTenant(tenant.id.clone());
    let admitted = match gate(&tenant) {
        Some(problem) => Err(problem),
        None => {
            let rules = tenancy.traffic().effective(&tenant);
            traffic.check(&tenant.id, &rules, &parts)
        }
    };
    let mut response = match admitted {
        Err(problem) => problem.into_response(),
        Ok(allowance) => {
            let mut request = Request::from_parts(parts, body);
            if let Some(path) = stripped_path {
                replace_path(&mut request, &path);
            }
            let context = TenantContext::new(tenant, tenancy);
            request.extensions_mut().insert(context.clone());
            let mut response = context.scope(call(&mut inner, request)).await;
            allowance.apply(response.headers_mut());
            response
        }
    };
    response.extensions_mut().insert(served);
    response
}

async fn call<S>(inner: &mut S, request: Request<Body>) -> Response
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    match inner.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

async fn identify_request(tenancy: &Tenancy, request: &Parts) -> Result<Identified, Problem> {
    let host = request_host(request)?;
    let header = request
        .headers
        .get(TENANT_HEADER)
        .and_then(|value| value.to_str().ok());
    let path = request.uri.path();

    let asked = identify::Request { host, header, path };
    tenancy.identify(asked).await.map_err(|error| match error {
        Error::InvalidHost(_) => Problem::from(error),
        other => {
            tracing::error!(error = %tenancy::error_chain(&other), "identifying a request failed");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "catalog_unavailable",
                "the tenant catalog could not be read",
            )
            .retry_after(1)
        }
    })
}

/// The host a request is for, as RFC 9112 (section 3.2) reads it: an absolute-form target
/// names its own host and wins over `Host`; otherwise exactly one `Host` line is needed.
/// Two `Host` lines are refused rather than one picked, because a proxy in front may have
/// picked the other.
fn request_host(request: &Parts) -> Result<&str, Problem> {
    if let Some(authority) = request.uri.authority() {
        return Ok(authority.host());
    }
    let mut lines = request.headers.get_all(header::HOST).iter();
    let raw = match (lines.next(), lines.next()) {
        (Some(value), None) => value.as_bytes(),
        (None, _) => {
            let detail = "the request has no Host header";
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "missing_host",
                detail,
            ));
        }
        (Some(_), Some(_)) => {
            let detail = "the request has more than one Host header";
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_host",
                detail,
            ));
        }
    };
    // The resolver normalises the text; here only bytes that are not text are refused.
    std::str::from_utf8(raw)
        .map_err(|_| Problem::from(Error::from(tenancy::host::InvalidHost::InvalidUtf8)))
}

/// The answer for a tenant that exists but is not served, or `None` for an active one.
fn gate(tenant: &Tenant) -> Option<Problem> {
    let id = &tenant.id;
    match tenant.status {
        TenantStatus::Active => None,
        TenantStatus::Suspended => Some(Problem::new(
            StatusCode::FORBIDDEN,
            "tenant_suspended",
            format!("tenant '{id}' is suspended"),
        )),
        TenantStatus::Maintenance => Some(
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "tenant_maintenance",
                format!("tenant '{id}' is down for maintenance"),
            )
            .retry_after(
                tenant
                    .retry_after_secs
                    .unwrap_or(tenancy::DEFAULT_MAINTENANCE_RETRY_AFTER_SECS),
            ),
        ),
        TenantStatus::Provisioning => Some(
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "tenant_provisioning",
                format!("tenant '{id}' is being set up"),
            )
            .retry_after(PROVISIONING_RETRY_AFTER_SECS),
        ),
        // Failed and deleting tenants are answered like unknown ones: nothing to serve.
        TenantStatus::Failed | TenantStatus::Deleting => Some(unknown_tenant()),
    }
}

pub(crate) fn unknown_tenant() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "tenant_not_found",
        "no tenant is served at this address",
    )
}

fn replace_path(request: &mut Request<Body>, path: &str) {
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = request.uri().clone().into_parts();
    // The stripped path came from a valid path, so it parses again.
    parts.path_and_query = path_and_query.parse().ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
}

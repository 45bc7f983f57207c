//! `tenancy serve`: the demo application on tenant hosts; health checks and the admin API
//! on central hosts.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ipnet::IpNet;
use serde_json::json;
use tenancy::keys::{NewApiKey, Scope};
use tenancy::{NewTenant, Tenancy, TenantId, TenantStatus};
use tenancy_axum::{Problem, ServedTenant, TenancyLayer, split_with};
use tokio::net::TcpListener;

use crate::api::auth::{Caller, MetricsRead};
use crate::metrics::Metrics;
use crate::stats::RequestStats;
use crate::{api, demo};

/// The tenants `serve --demo` creates.
pub const DEMO_TENANTS: [&str; 3] = ["acme", "globex", "initech"];

/// Choices of the HTTP application that are not the layer's.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Whether `GET /metrics` answers without an API key (`metrics.public`). Default false.
    pub public_metrics: bool,
}

/// The whole HTTP application: central routes, tenant routes, one log line per request.
pub fn app(tenancy: Tenancy) -> Router {
    app_with(TenancyLayer::new(tenancy))
}

/// [`app`] behind a layer configured by the caller (trusted proxies).
pub fn app_with(layer: TenancyLayer) -> Router {
    app_with_options(layer, AppOptions::default())
}

/// [`app_with`], with the application's own options.
pub fn app_with_options(layer: TenancyLayer, options: AppOptions) -> Router {
    let tenancy = layer.tenancy().clone();
    let metrics = Metrics::new();
    let stats = RequestStats::new();
    let metrics_route = match options.public_metrics {
        true => get(public_metrics),
        false => get(guarded_metrics),
    };
    let central = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", metrics_route)
        .merge(api::router())
        .fallback(central_not_found)
        .with_state(tenancy);
    split_with(layer, central, demo::router())
        .layer(middleware::from_fn(log_request))
        .layer(axum::Extension(metrics))
        .layer(axum::Extension(stats))
}

/// Binds, optionally creates the demo tenants, and serves until Ctrl-C or SIGTERM.
///
/// The client's address (for IP rules) is the socket's peer, or what `X-Forwarded-For`
/// says when the peer is one of `trusted_proxies`.
pub async fn run(
    tenancy: Tenancy,
    listen: SocketAddr,
    demo: bool,
    trusted_proxies: Vec<IpNet>,
    options: AppOptions,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    if demo {
        create_demo_tenants(&tenancy, address).await?;
    }
    tracing::info!(%address, "listening");
    println!("listening on http://{address} (health: http://{address}/healthz)");
    if demo {
        print_demo_key(&tenancy, address).await?;
    }

    let layer = TenancyLayer::new(tenancy.clone()).trusted_proxies(trusted_proxies);
    let service =
        app_with_options(layer, options).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;

    tracing::info!("requests finished; closing tenant connections");
    tenancy.shutdown().await;
    Ok(())
}

async fn create_demo_tenants(tenancy: &Tenancy, address: SocketAddr) -> anyhow::Result<()> {
    for id in DEMO_TENANTS {
        let id = TenantId::parse(id).expect("demo tenant ids are valid");
        let existing = tenancy.catalog().tenant(&id).await?;
        if existing
            .as_ref()
            .is_none_or(|tenant| tenant.status == TenantStatus::Failed)
        {
            let name = format!(
                "{}{} Inc.",
                id.as_str()[..1].to_uppercase(),
                &id.as_str()[1..]
            );
            let new = NewTenant {
                name: Some(name),
                seed: true,
                ..NewTenant::new(id.clone())
            };
            tenancy
                .create_tenant(new)
                .await
                .with_context(|| format!("creating demo tenant '{id}'"))?;
        }
        match demo_domain(&tenancy.resolver().options().central_domains) {
            Some(domain) => println!("tenant {id}: http://{id}.{domain}:{}/notes", address.port()),
            None => println!("tenant {id}: no central domain is a name to put it under"),
        }
    }
    Ok(())
}

/// The central domain the demo's URLs are printed under: the first configured one that is a
/// name rather than an address, since `acme.<domain>` is how a tenant is reached.
fn demo_domain(central_domains: &[String]) -> Option<&str> {
    central_domains
        .iter()
        .map(String::as_str)
        .find(|domain| domain.parse::<std::net::IpAddr>().is_err() && !domain.starts_with('['))
}

/// The name of the admin key `serve --demo` makes.
pub const DEMO_KEY_NAME: &str = "demo";

/// Makes the demo's admin key on the first `serve --demo` and prints it; later runs name
/// the key they made before, whose secret cannot be shown again.
async fn print_demo_key(tenancy: &Tenancy, address: SocketAddr) -> anyhow::Result<()> {
    let keys = tenancy.api_keys().await?;
    let existing = keys
        .iter()
        .find(|key| key.name.as_deref() == Some(DEMO_KEY_NAME) && key.revoked_at.is_none());
    if let Some(key) = existing {
        println!(
            "admin API: http://{address}/api/v1 (demo key {} made earlier; \
             `tenancy keys create --scope admin` makes another)",
            key.id
        );
        return Ok(());
    }
    let new = NewApiKey {
        name: Some(DEMO_KEY_NAME.to_owned()),
        scopes: vec![Scope::Admin],
        expires_at: None,
    };
    let issued = tenancy.create_api_key(new).await?;
    println!("admin API: http://{address}/api/v1");
    println!("admin key (shown once): {}", issued.secret);
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

async fn readyz(State(tenancy): State<Tenancy>) -> Response {
    match tenancy.catalog().count_tenants().await {
        Ok(tenants) => axum::Json(json!({ "status": "ready", "tenants": tenants })).into_response(),
        Err(error) => {
            tracing::warn!(error = %tenancy::error_chain(&error), "readiness check failed");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the catalog cannot be read",
            )
            .retry_after(1)
            .into_response()
        }
    }
}

async fn central_not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route on the central host; tenant routes are served on tenant hosts",
    )
}

/// Prometheus text for a key with the `metrics:read` scope.
async fn guarded_metrics(
    _caller: Caller<MetricsRead>,
    State(tenancy): State<Tenancy>,
    axum::Extension(metrics): axum::Extension<Metrics>,
) -> Response {
    exposition(&metrics, &tenancy)
}

/// Prometheus text for anyone (`metrics.public = true`).
async fn public_metrics(
    State(tenancy): State<Tenancy>,
    axum::Extension(metrics): axum::Extension<Metrics>,
) -> Response {
    exposition(&metrics, &tenancy)
}

fn exposition(metrics: &Metrics, tenancy: &Tenancy) -> Response {
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    let headers = [(axum::http::header::CONTENT_TYPE, content_type)];
    (headers, metrics.render(tenancy)).into_response()
}

async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let metrics = request.extensions().get::<Metrics>().cloned();
    let stats = request.extensions().get::<RequestStats>().cloned();

    let response = next.run(request).await;
    let tenant_id = response
        .extensions()
        .get::<ServedTenant>()
        .map(|served| served.0.clone());
    if let Some(metrics) = metrics {
        let kind = if tenant_id.is_some() {
            "tenant"
        } else {
            "central"
        };
        metrics.record_request(kind, response.status().as_u16(), started.elapsed());
    }
    if let (Some(stats), Some(tenant_id)) = (stats, &tenant_id) {
        stats.record(tenant_id, response.status().as_u16(), started.elapsed());
    }
    tracing::info!(
        target: "tenancy::request",
        tenant_id = tenant_id.as_ref().map(TenantId::as_str),
        %method,
        path,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains(list: &[&str]) -> Vec<String> {
        list.iter().map(|domain| (*domain).to_owned()).collect()
    }

    #[test]
    fn demo_urls_use_the_first_central_domain_that_is_a_name() {
        let defaults = domains(&["localhost", "127.0.0.1", "[::1]"]);
        assert_eq!(demo_domain(&defaults), Some("localhost"));
        let own = domains(&["127.0.0.1", "example.test"]);
        assert_eq!(demo_domain(&own), Some("example.test"));
        assert_eq!(demo_domain(&domains(&["127.0.0.1", "[::1]"])), None);
    }
}

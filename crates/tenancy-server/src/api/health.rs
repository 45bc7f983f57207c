//! `/api/v1/health` and `/api/v1/ready`: whether the process answers, and whether it can
//! serve. Neither needs a key, so that probes carry no secret.
//!
//! Readiness needs the catalog: without it no request can be identified, so the answer is
//! 503. A tenant server that cannot be reached is reported but leaves the service ready
//! (`degraded`): the other servers' tenants are still served, and taking every node out
//! of the load balancer for one server's outage would turn it into an outage of all.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use tenancy::Tenancy;
use tenancy::server::{Server, ServerKind};
use utoipa::ToSchema;

/// How long each check may take: a probe that hangs is as bad as a failed one.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The answer of `GET /api/v1/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: the process answers.
    pub status: String,
}

/// The answer of `GET /api/v1/ready`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (a tenant server is down; still 200) or `unready` (503).
    pub status: String,
    /// The catalog.
    pub catalog: CatalogCheck,
    /// Every configured server, in name order.
    pub servers: Vec<ServerCheck>,
}

/// Whether the catalog can be read.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogCheck {
    /// Whether a fresh connection could read it.
    pub reachable: bool,
    /// How many tenants it holds, when reachable.
    pub tenants: Option<i64>,
    /// Why not, when unreachable.
    pub error: Option<String>,
}

/// Whether one server can be reached.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerCheck {
    /// The server's name.
    pub server: String,
    /// `sqlite`, `postgres` or `mysql`.
    pub backend: String,
    /// Whether it answered within the check's 2 s.
    pub reachable: bool,
    /// Why not, when unreachable.
    pub error: Option<String>,
}

/// The process is alive and answering.
#[utoipa::path(
    get, path = "/api/v1/health", tag = "health",
    responses((status = 200, body = Health))
)]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Whether the service can serve: the catalog (503 when it cannot be read) and each server.
#[utoipa::path(
    get, path = "/api/v1/ready", tag = "health",
    responses(
        (status = 200, description = "Ready, or degraded: a tenant server is down", body = Readiness),
        (status = 503, description = "The catalog cannot be read", body = Readiness),
    )
)]
pub async fn ready(State(tenancy): State<Tenancy>) -> Response {
    let (catalog, servers) = tokio::join!(check_catalog(&tenancy), check_servers(&tenancy));
    let status = match (catalog.reachable, servers.iter().all(|s| s.reachable)) {
        (false, _) => "unready",
        (true, false) => "degraded",
        (true, true) => "ready",
    };
    let report = Readiness {
        status: status.into(),
        catalog,
        servers,
    };

    if report.catalog.reachable {
        return Json(report).into_response();
    }
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(report)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

async fn check_catalog(tenancy: &Tenancy) -> CatalogCheck {
    match tenancy.catalog().probe(CHECK_TIMEOUT).await {
        Ok(tenants) => CatalogCheck {
            reachable: true,
            tenants: Some(tenants),
            error: None,
        },
        Err(error) => {
            let chain = tenancy::error_chain(&error);
            tracing::warn!(error = %chain, "readiness: the catalog cannot be read");
            CatalogCheck {
                reachable: false,
                tenants: None,
                error: Some(chain),
            }
        }
    }
}

async fn check_servers(tenancy: &Tenancy) -> Vec<ServerCheck> {
    let checks = tenancy.servers().iter().map(|server| async move {
        let outcome = tokio::time::timeout(CHECK_TIMEOUT, reach(tenancy, server))
            .await
            .unwrap_or_else(|_| Err("no answer within 2 s".to_owned()));
        if let Err(error) = &outcome {
            tracing::warn!(server = server.name(), %error, "readiness: a server cannot be reached");
        }
        ServerCheck {
            server: server.name().to_owned(),
            backend: backend_name(server),
            reachable: outcome.is_ok(),
            error: outcome.err(),
        }
    });
    let mut checks = futures_util::future::join_all(checks).await;
    checks.sort_by(|a, b| a.server.cmp(&b.server));
    checks
}

/// A SQLite server is its folder, which need not exist before the first tenant; a network
/// server must give an admin connection that answers a ping.
async fn reach(tenancy: &Tenancy, server: &Server) -> Result<(), String> {
    if let ServerKind::Sqlite { dir } = server.kind() {
        return match tokio::fs::metadata(dir).await {
            Ok(meta) if !meta.is_dir() => Err(format!("{} is not a folder", dir.display())),
            Ok(_) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(format!("{}: {error}", dir.display())),
        };
    }
    let pool = tenancy
        .pools()
        .server(server.name())
        .map_err(|error| error.to_string())?;
    let mut admin = pool
        .admin()
        .await
        .map_err(|error| tenancy::error_chain(&error))?;
    let Some(conn) = admin.conn() else {
        return Ok(());
    };
    match conn.ping().await {
        true => Ok(()),
        false => Err("the connection did not answer a ping".to_owned()),
    }
}

fn backend_name(server: &Server) -> String {
    serde_json::to_value(server.backend())
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

//! The admin REST API, `/api/v1`, served on central hosts only.
//!
//! Every route but the OpenAPI document needs `Authorization: Bearer <key>` with the
//! route's scope ([`auth`]). Answers are JSON; errors are problem documents from one table
//! ([`problem::CODES`]). Every change is made as `api:<key id>` from the caller's address,
//! so the change log, read back at `/api/v1/audit`, is the audit log: each entry is written
//! in the same catalog transaction as its change.
//!
//! The OpenAPI 3.1 document is generated from the handlers and served at
//! `/api/v1/openapi.json`.
//!
//! An application that embeds the library serves the API on its own central routes:
//!
//! ```no_run
//! use axum::Router;
//! use tenancy::Tenancy;
//!
//! # async fn run(tenancy: Tenancy, tenant_routes: Router) {
//! let central = Router::new()
//!     .merge(tenancy_server::api::router())
//!     .with_state(tenancy.clone());
//! let app = tenancy_axum::split(tenancy, central, tenant_routes);
//! # let _ = app;
//! # }
//! ```

pub mod audit;
pub mod auth;
pub mod body;
pub mod cache;
pub mod domains;
pub mod keys;
pub mod listing;
pub mod problem;
pub mod query;
pub mod tenants;
pub mod traffic;
pub mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, header};
use tenancy::Tenancy;
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use problem::ApiError;

/// Where the API lives.
pub const PREFIX: &str = "/api/v1";

/// The API's routes, with the OpenAPI document at `/api/v1/openapi.json`. Merge it into
/// the router for central hosts.
pub fn router() -> Router<Tenancy> {
    let (router, document) = routes().split_for_parts();
    let json: Arc<str> = document
        .to_json()
        .expect("the OpenAPI document serialises")
        .into();
    router
        .route(
            "/api/v1/openapi.json",
            get(move || serve_document(json.clone())),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body::MAX_BODY_BYTES))
}

/// The OpenAPI document of every route.
pub fn openapi() -> OpenApi {
    routes().split_for_parts().1
}

fn routes() -> OpenApiRouter<Tenancy> {
    OpenApiRouter::with_openapi(base_document())
        .routes(routes!(tenants::list, tenants::create))
        .routes(routes!(tenants::show, tenants::update, tenants::delete))
        .routes(routes!(tenants::suspend))
        .routes(routes!(tenants::activate))
        .routes(routes!(tenants::maintenance_on, tenants::maintenance_off))
        .routes(routes!(domains::list, domains::add))
        .routes(routes!(domains::remove))
        .routes(routes!(domains::set_primary))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::revoke))
        .routes(routes!(keys::rotate))
        .routes(routes!(audit::list))
        .routes(routes!(cache::clear_tenant))
        .routes(routes!(cache::clear_all))
        .routes(routes!(traffic::list))
        .routes(routes!(
            traffic::show_tenant,
            traffic::set_tenant,
            traffic::clear_tenant
        ))
        .routes(routes!(
            traffic::show_plan,
            traffic::set_plan,
            traffic::clear_plan
        ))
}

fn base_document() -> OpenApi {
    let mut document = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Artflow Tenancy admin API")
                .version("1")
                .description(Some(
                    "Manage tenants, their domains and status, API keys and the audit log. \
                     Errors are application/problem+json with a stable `code`.",
                ))
                .build(),
        )
        .build();
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("atk_<id>_<secret>")
        .build();
    document
        .components
        .get_or_insert_with(Default::default)
        .add_security_scheme("bearer", SecurityScheme::Http(bearer));
    document
}

async fn serve_document(json: Arc<str>) -> Response {
    let mut response = json.to_string().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn method_not_allowed() -> ApiError {
    ApiError::new("method_not_allowed", "this route does not take that method")
}

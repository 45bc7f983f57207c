//! The admin REST API, `/api/v1`, served on central hosts only.
//!
//! Every route but the probes ([`health`]), the OpenAPI document and the reference page
//! ([`reference`]) needs `Authorization: Bearer <key>` with the route's scope ([`auth`]). Answers are JSON; errors are problem documents from one table
//! ([`problem::CODES`]). Every change is made as `api:<key id>` from the caller's address,
//! so the change log, read back at `/api/v1/audit`, is the audit log: each entry is written
//! in the same catalog transaction as its change.
//!
//! The OpenAPI 3.1 document is generated from the handlers, finished by [`document`] with
//! what every operation shares, and served at `/api/v1/openapi.json`; `/api/v1/docs`
//! renders it for people.
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
pub mod database;
pub mod doctor;
pub mod domains;
pub mod health;
pub mod keys;
pub mod listing;
pub mod migrations;
pub mod problem;
pub mod query;
pub mod reference;
pub mod stats;
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
    let (router, _) = routes().split_for_parts();
    let document = document();
    let page: Arc<str> = reference::render(&document).into();
    let json: Arc<str> = document.to_string().into();
    router
        .route(
            "/api/v1/openapi.json",
            get(move || serve_document(json.clone())),
        )
        .route("/api/v1/docs", get(move || reference::serve(page.clone())))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body::MAX_BODY_BYTES))
}

/// The OpenAPI document of every route.
///
/// # Panics
///
/// If the finished document no longer reads as OpenAPI, a mistake in [`finish`].
pub fn openapi() -> OpenApi {
    serde_json::from_value(document()).expect("the finished OpenAPI document reads back")
}

/// The OpenAPI document as served, JSON.
pub fn document() -> serde_json::Value {
    let generated = routes().split_for_parts().1;
    let mut document = serde_json::to_value(generated).expect("the OpenAPI document serialises");
    finish(&mut document);
    document
}

/// What every operation shares, added once here rather than on each handler: problems are
/// `application/problem+json`, and a route that reads a body can refuse it as JSON (400),
/// by size (413) or by content type (415).
fn finish(document: &mut serde_json::Value) {
    let operations = document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        if let Some(body) = operation.get_mut("requestBody") {
            optional_body_without_null(body);
        }
        let takes_body = operation.get("requestBody").is_some();
        let Some(responses) = operation["responses"].as_object_mut() else {
            continue;
        };
        if takes_body {
            for (status, description) in BODY_REFUSALS {
                responses
                    .entry(status)
                    .or_insert_with(|| problem_response(description));
            }
        }
        for response in responses.values_mut() {
            as_problem(response);
        }
    }
}

/// An optional body (`content = Option<T>`) is documented by utoipa as `T` or `null`, but
/// what the API takes is `T` or no body at all: `null` is refused like any non-object.
fn optional_body_without_null(body: &mut serde_json::Value) {
    if body
        .get("required")
        .is_some_and(|required| required == true)
    {
        return;
    }
    let Some(json) = body.pointer_mut("/content/application~1json/schema") else {
        return;
    };
    let choices = json["oneOf"].as_array().cloned().unwrap_or_default();
    let not_null: Vec<_> = choices
        .into_iter()
        .filter(|choice| choice["type"] != "null")
        .collect();
    if let [only] = not_null.as_slice() {
        *json = only.clone();
    }
}

const BODY_REFUSALS: [(&str, &str); 3] = [
    ("400", "The body is not valid JSON"),
    ("413", "The body is over 64 KiB"),
    ("415", "The body is not `application/json`"),
];

const PROBLEM_REF: &str = "#/components/schemas/ProblemBody";

fn problem_response(description: &str) -> serde_json::Value {
    serde_json::json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": PROBLEM_REF } } }
    })
}

/// Moves a problem body from `application/json` to `application/problem+json`.
fn as_problem(response: &mut serde_json::Value) {
    let Some(content) = response
        .get_mut("content")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    let is_problem = content
        .get("application/json")
        .is_some_and(|json| json["schema"]["$ref"] == PROBLEM_REF);
    if !is_problem {
        return;
    }
    if let Some(json) = content.remove("application/json") {
        content.insert("application/problem+json".to_owned(), json);
    }
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
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(stats::service))
        .routes(routes!(stats::tenant))
        .merge(job_routes())
}

/// Lifecycle and database jobs: reset, migrate, seed, SQL, migration runs, doctor.
fn job_routes() -> OpenApiRouter<Tenancy> {
    OpenApiRouter::new()
        .routes(routes!(database::reset))
        .routes(routes!(database::seed))
        .routes(routes!(database::run_sql))
        .routes(routes!(migrations::migrate_tenant))
        .routes(routes!(migrations::list, migrations::start))
        .routes(routes!(migrations::status))
        .routes(routes!(migrations::show))
        .routes(routes!(migrations::resume))
        .routes(routes!(doctor::check))
        .routes(routes!(doctor::repair))
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

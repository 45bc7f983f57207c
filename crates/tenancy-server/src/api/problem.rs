//! Every error the admin API answers, in one table that fixes each code's HTTP status.
//!
//! Answers are `application/problem+json` (RFC 9457) with a stable `code`; validation
//! problems also carry the `field` they are about. `docs/api.md` lists the same table, and a
//! test keeps the two in step.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use tenancy::{Error, ErrorKind};
use tenancy_axum::Problem;
use utoipa::ToSchema;

/// One row of the table: a code, its status and what it means.
#[derive(Debug, Clone, Copy)]
pub struct ProblemCode {
    /// The stable machine code.
    pub code: &'static str,
    /// The HTTP status every answer with this code has.
    pub status: StatusCode,
    /// What it means, for the docs.
    pub meaning: &'static str,
}

const fn row(code: &'static str, status: StatusCode, meaning: &'static str) -> ProblemCode {
    ProblemCode {
        code,
        status,
        meaning,
    }
}

/// Every code the admin API answers with.
pub const CODES: &[ProblemCode] = &[
    row(
        "unauthorized",
        StatusCode::UNAUTHORIZED,
        "no key, or a key that is malformed, unknown, expired or revoked",
    ),
    row(
        "forbidden",
        StatusCode::FORBIDDEN,
        "the key lacks the scope the route needs",
    ),
    row("not_found", StatusCode::NOT_FOUND, "no such route"),
    row(
        "method_not_allowed",
        StatusCode::METHOD_NOT_ALLOWED,
        "the route exists, not with this method",
    ),
    row(
        "invalid_json",
        StatusCode::BAD_REQUEST,
        "the body is not valid JSON",
    ),
    row(
        "unsupported_media_type",
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "a body was sent without `Content-Type: application/json`",
    ),
    row(
        "payload_too_large",
        StatusCode::PAYLOAD_TOO_LARGE,
        "the body is over 64 KiB",
    ),
    row(
        "validation_failed",
        StatusCode::UNPROCESSABLE_ENTITY,
        "a value was refused (wrong type, unknown field, out of range); `field` names it",
    ),
    row(
        "invalid_tenant_id",
        StatusCode::UNPROCESSABLE_ENTITY,
        "a tenant id broke the slug rules; `field` names it",
    ),
    row(
        "invalid_host",
        StatusCode::UNPROCESSABLE_ENTITY,
        "a domain could not be normalised; `field` names it",
    ),
    row(
        "invalid_input",
        StatusCode::UNPROCESSABLE_ENTITY,
        "some other value was refused; `field` names it",
    ),
    row(
        "unknown_server",
        StatusCode::UNPROCESSABLE_ENTITY,
        "no server of that name is configured",
    ),
    row(
        "tenant_not_found",
        StatusCode::NOT_FOUND,
        "no tenant has this id",
    ),
    row(
        "domain_not_found",
        StatusCode::NOT_FOUND,
        "the tenant has no such domain",
    ),
    row(
        "run_not_found",
        StatusCode::NOT_FOUND,
        "no migration run has this id",
    ),
    row(
        "run_not_resumable",
        StatusCode::CONFLICT,
        "the migration run completed, or is still being executed",
    ),
    row(
        "api_key_not_found",
        StatusCode::NOT_FOUND,
        "no API key has this id",
    ),
    row(
        "api_key_unusable",
        StatusCode::CONFLICT,
        "the API key is revoked or expired, so it cannot be rotated",
    ),
    row(
        "tenant_exists",
        StatusCode::CONFLICT,
        "a tenant with this id exists",
    ),
    row(
        "invalid_state",
        StatusCode::CONFLICT,
        "the tenant's status does not allow the operation",
    ),
    row(
        "domain_taken",
        StatusCode::CONFLICT,
        "the domain belongs to a tenant already",
    ),
    row(
        "leftover_storage",
        StatusCode::CONFLICT,
        "storage no tenant owns is in the way; see `tenancy doctor`",
    ),
    row(
        "still_in_use",
        StatusCode::CONFLICT,
        "connections to a previous database of the same name are still open; retry shortly",
    ),
    row(
        "pool_timeout",
        StatusCode::SERVICE_UNAVAILABLE,
        "no database connection within the wait; retry",
    ),
    row(
        "pool_closed",
        StatusCode::SERVICE_UNAVAILABLE,
        "the tenant's connections were closed meanwhile; retry",
    ),
    row(
        "server_unavailable",
        StatusCode::SERVICE_UNAVAILABLE,
        "a database server cannot be reached",
    ),
    row(
        "catalog_unavailable",
        StatusCode::SERVICE_UNAVAILABLE,
        "the catalog database cannot be reached",
    ),
    row(
        "migration_failed",
        StatusCode::INTERNAL_SERVER_ERROR,
        "the tenant's migrations failed; the tenant is `failed` with the reason",
    ),
    row(
        "seed_failed",
        StatusCode::INTERNAL_SERVER_ERROR,
        "the seeder failed; the tenant is `failed` with the reason",
    ),
    row(
        "catalog_error",
        StatusCode::INTERNAL_SERVER_ERROR,
        "the catalog database failed; see the server log",
    ),
    row(
        "database_error",
        StatusCode::INTERNAL_SERVER_ERROR,
        "a tenant database failed; see the server log",
    ),
    row(
        "io_error",
        StatusCode::INTERNAL_SERVER_ERROR,
        "a file operation failed; see the server log",
    ),
    row(
        "internal_error",
        StatusCode::INTERNAL_SERVER_ERROR,
        "anything else that failed inside; see the server log",
    ),
];

/// The status of a code in [`CODES`]; 500 (and a debug assertion) for one missing there.
pub fn status_of(code: &str) -> StatusCode {
    let found = CODES.iter().find(|row| row.code == code);
    debug_assert!(
        found.is_some(),
        "problem code '{code}' is missing from CODES"
    );
    found.map_or(StatusCode::INTERNAL_SERVER_ERROR, |row| row.status)
}

/// An error answer of the admin API.
#[derive(Debug)]
pub struct ApiError(pub Problem);

impl ApiError {
    /// An answer with `code` (from [`CODES`]) and a sentence for people.
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError(Problem::new(status_of(code), code, detail))
    }

    /// A refused value: 422 `validation_failed` naming the field.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::new("validation_failed", detail).field(field)
    }

    /// Names the request field the problem is about.
    pub fn field(self, field: impl Into<String>) -> Self {
        ApiError(self.0.with_field(field))
    }

    /// 401, with the `WWW-Authenticate` challenge.
    pub fn unauthorized() -> Self {
        let mut problem = Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send a valid API key as `Authorization: Bearer <key>`",
        );
        problem.add_header("www-authenticate", HeaderValue::from_static("Bearer"));
        ApiError(problem)
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let code = error.code();
        if error.kind() == ErrorKind::Internal || status_of(code).is_server_error() {
            tracing::warn!(error = %tenancy::error_chain(&error), code, "admin API request failed");
        }
        // Internal details (paths, SQL) stay in the log.
        let detail = match error.kind() {
            ErrorKind::Internal => "an internal error occurred; the server log has details".into(),
            _ => error.to_string(),
        };
        let field = match &error {
            Error::InvalidInput { field, .. } => Some(*field),
            Error::UnknownServer(_) => Some("server"),
            _ => None,
        };
        let answer = ApiError::new(code, detail);
        match field {
            Some(field) => answer.field(field),
            None => answer,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// The shape of a problem answer, for the OpenAPI document.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemBody {
    /// Always `about:blank`: the code says what happened.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The stable machine code, one of the table in docs/api.md.
    pub code: String,
    /// A sentence for people.
    pub detail: Option<String>,
    /// The request field a validation problem is about.
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenancy::TenantId;

    #[test]
    fn every_code_is_in_the_table_once() {
        for (index, row) in CODES.iter().enumerate() {
            let again = CODES[index + 1..]
                .iter()
                .any(|other| other.code == row.code);
            assert!(!again, "{} is in the table twice", row.code);
        }
    }

    #[test]
    fn the_docs_list_every_code_with_its_status() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");
        let docs = std::fs::read_to_string(path).expect("docs/api.md is readable");
        for row in CODES {
            let line = format!("| `{}` | {} |", row.code, row.status.as_u16());
            assert!(docs.contains(&line), "docs/api.md lacks {line}");
        }
    }

    /// The core crate gains error variants as it grows; each needs its row here, or its
    /// answer would be a bare 500. Read from the core's source, which lists every code once.
    #[test]
    fn every_code_the_core_can_give_is_in_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tenancy/src/error.rs");
        let source = std::fs::read_to_string(path).expect("the core's error.rs is readable");
        let body = source
            .split("pub fn code(&self)")
            .nth(1)
            .and_then(|rest| rest.split("\n    }\n").next())
            .expect("Error::code is in error.rs");
        let codes: Vec<&str> = body
            .split("=> \"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(codes.len() > 10, "too few codes read: {codes:?}");
        for code in codes {
            assert!(
                CODES.iter().any(|row| row.code == code),
                "{code} is not in CODES"
            );
        }
    }

    #[test]
    fn core_errors_take_their_status_from_the_table() {
        let id = TenantId::parse("acme").unwrap();
        let errors = [
            Error::TenantNotFound(id.clone()),
            Error::TenantExists(id.clone()),
            Error::DomainNotFound("x.example".into()),
            Error::ApiKeyNotFound("k".into()),
            Error::ApiKeyUnusable("k".into()),
            Error::UnknownServer("pg9".into()),
            Error::StillInUse(id),
            Error::PoolClosed("acme".into()),
        ];
        for error in errors {
            let code = error.code();
            assert!(CODES.iter().any(|row| row.code == code), "{code} missing");
            let answer = ApiError::from(error);
            assert_eq!(answer.0.status(), status_of(code));
        }
    }

    #[test]
    fn an_invalid_input_names_its_field() {
        let error = Error::InvalidInput {
            field: "scopes",
            reason: "name at least one".into(),
        };
        let answer = ApiError::from(error);
        assert_eq!(answer.0.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer.0.field(), Some("scopes"));
    }
}

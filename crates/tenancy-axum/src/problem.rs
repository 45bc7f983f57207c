//! `application/problem+json` answers (RFC 9457) with a stable machine code.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use tenancy::{Error, ErrorKind};

/// An error answer: a status, a stable `code` to branch on, and a sentence for people.
///
/// Every error this crate produces is one of these, and applications can use it for their
/// own errors so that clients see one shape.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    /// The stable, machine-readable code (`tenant_suspended`, `invalid_host`, …).
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    // Boxed, and no separate Retry-After field: a problem is returned in every `Err` of the
    // request path, and a small one keeps those results small.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<Box<str>>,
    #[serde(skip)]
    headers: Vec<(&'static str, HeaderValue)>,
}

impl Problem {
    /// A problem with a status, a code and a human-readable detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            code,
            detail: Some(detail.into()),
            field: None,
            headers: Vec::new(),
        }
    }

    /// Names the request field the problem is about.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into().into_boxed_str());
        self
    }

    /// The request field the problem is about (`name`, `domains[1]`), if any.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The human-readable detail.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// Adds a header to the answer.
    pub fn add_header(&mut self, name: &'static str, value: HeaderValue) {
        self.headers.push((name, value));
    }

    /// Adds a `Retry-After` header to the answer.
    pub fn retry_after(mut self, secs: u32) -> Self {
        self.headers.push(("retry-after", HeaderValue::from(secs)));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(mut self) -> Response {
        let status = self.status();
        let extra = std::mem::take(&mut self.headers);
        let mut response = (status, Json(self)).into_response();
        let headers = response.headers_mut();
        for (name, value) in extra {
            headers.insert(name, value);
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// How long a client is told to wait when a database connection was not available.
const POOL_RETRY_AFTER_SECS: u32 = 1;

impl From<Error> for Problem {
    fn from(error: Error) -> Self {
        let status = match error.kind() {
            ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::warn!(error = %tenancy::error_chain(&error), code = error.code(), "request failed");
        }
        // Internal details (paths, SQL errors) stay in the log, not in the answer.
        let detail = match error.kind() {
            ErrorKind::Internal => {
                "an internal error occurred; the server log has details".to_owned()
            }
            _ => error.to_string(),
        };
        let problem = Problem::new(status, error.code(), detail);
        match error.kind() {
            ErrorKind::Unavailable => problem.retry_after(POOL_RETRY_AFTER_SECS),
            _ => problem,
        }
    }
}

//! Query strings: only the parameters a route knows, each value checked with its name.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::LazyLock;

use axum::extract::{FromRequestParts, MatchedPath, RawQuery};
use http::Method;
use http::request::Parts;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{OpenApi, RefOr};

use super::problem::ApiError;

/// The query parameters of a request, by name; a repeated name keeps its last value.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let RawQuery(raw) = RawQuery::from_request_parts(parts, state)
            .await
            .unwrap_or(RawQuery(None));
        let pairs: Vec<(String, String)> = match raw {
            Some(raw) => pairs(&raw)?,
            None => Vec::new(),
        };
        Ok(Params(pairs.into_iter().collect()))
    }
}

/// Refuses a query parameter that the matched route does not declare in the OpenAPI
/// document, naming it.
///
/// Routes that read parameters check them again with [`Params::only`]. This is for the
/// routes that take none, which would otherwise ignore them: `?dry_run=true` on a route
/// without that parameter would run for real.
pub fn refuse_undeclared(parts: &Parts) -> Result<(), ApiError> {
    static DECLARED: LazyLock<HashMap<(Method, String), Vec<String>>> =
        LazyLock::new(|| declared(&super::openapi()));

    let (Some(path), Some(raw)) = (parts.extensions.get::<MatchedPath>(), parts.uri.query()) else {
        return Ok(());
    };
    let Some(known) = DECLARED.get(&(parts.method.clone(), path.as_str().to_owned())) else {
        return Ok(());
    };
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let params = Params(pairs(raw)?.into_iter().collect());
    params.only(&known).map(drop)
}

/// The query parameters of every operation of `document`, by method and path template.
fn declared(document: &OpenApi) -> HashMap<(Method, String), Vec<String>> {
    let mut table = HashMap::new();
    for (path, item) in &document.paths.paths {
        let operations = [
            (Method::GET, &item.get),
            (Method::POST, &item.post),
            (Method::PUT, &item.put),
            (Method::PATCH, &item.patch),
            (Method::DELETE, &item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                table.insert((method, path.clone()), query_names(operation));
            }
        }
    }
    table
}

fn query_names(operation: &Operation) -> Vec<String> {
    let parameters = operation.parameters.iter().flatten();
    parameters
        .filter_map(|parameter| match parameter {
            RefOr::T(parameter) if parameter.parameter_in == ParameterIn::Query => {
                Some(parameter.name.clone())
            }
            _ => None,
        })
        .collect()
}

fn pairs(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    let query = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{raw}").parse().map_err(|_| bad_query())?,
    )
    .map_err(|_| bad_query())?;
    Ok(query.0)
}

fn bad_query() -> ApiError {
    ApiError::invalid("query", "the query string cannot be read")
}

impl Params {
    /// Parameters from name and value pairs; a repeated name keeps its last value.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Params(pairs.into_iter().collect())
    }

    /// Refuses parameters not in `known`, naming the first one.
    pub fn only(&self, known: &[&str]) -> Result<&Self, ApiError> {
        let mut unknown: Vec<&String> = self
            .0
            .keys()
            .filter(|name| !known.contains(&name.as_str()))
            .collect();
        unknown.sort();
        match unknown.first() {
            Some(name) => Err(ApiError::invalid(
                name.as_str(),
                format!("unknown parameter (expected one of {})", known.join(", ")),
            )),
            None => Ok(self),
        }
    }

    /// A text parameter; empty counts as absent.
    pub fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|value| !value.is_empty()).cloned()
    }

    /// A parameter parsed as `T`, with the parse error naming it.
    pub fn parsed<T>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.text(name)
            .map(|value| {
                value
                    .parse()
                    .map_err(|error: T::Err| ApiError::invalid(name, error.to_string()))
            })
            .transpose()
    }

    /// The page size: `limit` within 1..=500, default 50.
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.parsed::<i64>("limit")? {
            None => Ok(50),
            Some(limit @ 1..=500) => Ok(limit),
            Some(_) => Err(ApiError::invalid("limit", "must be between 1 and 500")),
        }
    }
}

//! Query strings: only the parameters a route knows, each value checked with its name.

use std::collections::HashMap;
use std::str::FromStr;

use axum::extract::{FromRequestParts, RawQuery};
use http::request::Parts;

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

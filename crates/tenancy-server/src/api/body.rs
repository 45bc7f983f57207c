//! JSON request bodies: a size limit, `application/json` only, and errors that name the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use http::header;
use serde::de::DeserializeOwned;

use super::problem::ApiError;

/// The largest body the admin API reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body of type `T`. An empty body reads as `{}`, so that bodies whose fields are all
/// optional may be left out.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let json_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(is_json);
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status().as_u16() {
                    413 => ApiError::new("payload_too_large", "the body is over 64 KiB"),
                    _ => ApiError::new("invalid_json", rejection.body_text()),
                })?;
        if bytes.is_empty() {
            return parse(b"{}").map(Body);
        }
        if json_type != Some(true) {
            let detail = "send the body as `Content-Type: application/json`";
            return Err(ApiError::new("unsupported_media_type", detail));
        }
        parse(&bytes).map(Body)
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.to_ascii_lowercase().ends_with("+json")
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let error = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    let inner = error.inner();
    if inner.is_syntax() || inner.is_eof() {
        return Err(ApiError::new(
            "invalid_json",
            format!("not valid JSON: {inner}"),
        ));
    }
    let path = error.path().to_string();
    let message = inner.to_string();
    Err(ApiError::invalid(
        field_of(&path, &message),
        strip_position(&message),
    ))
}

/// The field a data error is about: the path to it, or for an unknown field its own name.
fn field_of(path: &str, message: &str) -> String {
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    let parent = (path != ".").then_some(path);
    match (parent, unknown) {
        // The path of an unknown field already ends with its name.
        (Some(path), Some(name)) if path.ends_with(name) => path.to_owned(),
        (Some(parent), Some(name)) => format!("{parent}.{name}"),
        (None, Some(name)) => name.to_owned(),
        (Some(parent), None) => parent.to_owned(),
        // A missing field is reported at the parent, with its name in the message.
        (None, None) => message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map_or_else(|| "body".to_owned(), |(name, _)| name.to_owned()),
    }
}

/// serde_json ends data errors with `at line 1 column 9`, which says nothing to a client
/// that did not lay out the JSON by hand.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        #[serde(default)]
        limits: Option<Limits>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Limits {
        rate: u32,
    }

    fn field(json: &str) -> Option<String> {
        parse::<Sample>(json.as_bytes())
            .unwrap_err()
            .0
            .field()
            .map(str::to_owned)
    }

    #[test]
    fn an_unknown_field_is_named() {
        assert_eq!(
            field(r#"{"name": "a", "colour": 1}"#).as_deref(),
            Some("colour")
        );
        let nested = r#"{"name": "a", "limits": {"rate": 1, "burst": 2}}"#;
        assert_eq!(field(nested).as_deref(), Some("limits.burst"));
    }

    #[test]
    fn a_wrong_type_names_the_path() {
        assert_eq!(field(r#"{"name": 5}"#).as_deref(), Some("name"));
        let nested = r#"{"name": "a", "limits": {"rate": -1}}"#;
        assert_eq!(field(nested).as_deref(), Some("limits.rate"));
    }

    #[test]
    fn a_missing_field_is_named() {
        assert_eq!(field("{}").as_deref(), Some("name"));
    }

    #[test]
    fn broken_json_is_not_a_validation_problem() {
        let error = parse::<Sample>(b"{\"name\":").unwrap_err();
        assert_eq!(error.0.code, "invalid_json");
    }

    #[test]
    fn json_types_with_parameters_and_suffixes_count() {
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
    }
}

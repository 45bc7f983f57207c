//! `/api/v1/docs`: the API reference as one HTML page, rendered on the server from the
//! OpenAPI document, so that it always matches the routes. No key needed, and nothing is
//! loaded from elsewhere: no scripts, no fonts, no CDN; the answer's
//! `Content-Security-Policy` forbids it too.
//!
//! The template is MiniJinja with HTML auto-escaping: every text from the document is
//! escaped where it is written.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use minijinja::value::Serde;
use minijinja::{Environment, context};
use serde::Serialize;
use serde_json::Value;

const TEMPLATE: &str = include_str!("templates/reference.html");

/// Nothing but the page's own inline styles may load.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/// One operation as the page shows it.
#[derive(Debug, Clone, Serialize)]
struct Operation {
    anchor: String,
    method: String,
    path: String,
    tag: String,
    summary: String,
    scope: String,
    parameters: Vec<Parameter>,
    body: Option<Body>,
    responses: Vec<Answer>,
}

#[derive(Debug, Clone, Serialize)]
struct Parameter {
    name: String,
    location: String,
    #[serde(rename = "type")]
    kind: String,
    required: bool,
    description: String,
}

#[derive(Debug, Clone, Serialize)]
struct Body {
    content_type: String,
    #[serde(rename = "type")]
    kind: String,
    required: bool,
    description: String,
}

#[derive(Debug, Clone, Serialize)]
struct Answer {
    status: String,
    content_type: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    description: String,
}

#[derive(Debug, Clone, Serialize)]
struct Tag {
    name: String,
    operations: Vec<Operation>,
}

#[derive(Debug, Clone, Serialize)]
struct Schema {
    name: String,
    description: String,
    #[serde(rename = "type")]
    kind: String,
    properties: Vec<Property>,
}

#[derive(Debug, Clone, Serialize)]
struct Property {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    required: bool,
    description: String,
}

/// The page for `document`.
///
/// # Panics
///
/// If the built-in template does not render, a mistake in the template.
pub fn render(document: &Value) -> String {
    let mut environment = Environment::new();
    // The name's `.html` switches auto-escaping on.
    environment
        .add_template("reference.html", TEMPLATE)
        .expect("the reference template parses");
    let operations = operations(document);
    let tags = tags(&operations);
    let info = &document["info"];
    environment
        .get_template("reference.html")
        .and_then(|template| {
            template.render(context! {
                title => text(&info["title"]),
                description => text(&info["description"]),
                version => text(&info["version"]),
                operations => Serde(&operations),
                tags => Serde(&tags),
                schemas => Serde(schemas(document)),
            })
        })
        .expect("the reference template renders")
}

/// Serves a page rendered once.
pub async fn serve(page: std::sync::Arc<str>) -> Response {
    let mut response = page.to_string().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every operation, by path then method.
fn operations(document: &Value) -> Vec<Operation> {
    let Some(paths) = document["paths"].as_object() else {
        return Vec::new();
    };
    let mut operations = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                operations.push(operation_of(method, path, operation));
            }
        }
    }
    operations
}

fn operation_of(method: &str, path: &str, operation: &Value) -> Operation {
    let scope = match operation["security"][0]["bearer"][0].as_str() {
        Some(scope) => scope.to_owned(),
        None => "no key".to_owned(),
    };
    let summary = match operation["summary"].as_str() {
        Some(summary) => summary.to_owned(),
        None => text(&operation["description"]),
    };
    let anchor = format!("{method}-{path}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    Operation {
        anchor,
        method: method.to_uppercase(),
        path: path.to_owned(),
        tag: operation["tags"][0].as_str().unwrap_or("other").to_owned(),
        summary,
        scope,
        parameters: parameters(operation),
        body: body(operation),
        responses: responses(operation),
    }
}

fn parameters(operation: &Value) -> Vec<Parameter> {
    let Some(list) = operation["parameters"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .map(|parameter| Parameter {
            name: text(&parameter["name"]),
            location: text(&parameter["in"]),
            kind: type_of(&parameter["schema"]),
            required: parameter["required"].as_bool().unwrap_or(false),
            description: text(&parameter["description"]),
        })
        .collect()
}

fn body(operation: &Value) -> Option<Body> {
    let body = operation.get("requestBody")?;
    let (content_type, media) = body["content"].as_object()?.iter().next()?;
    Some(Body {
        content_type: content_type.clone(),
        kind: type_of(&media["schema"]),
        required: body["required"].as_bool().unwrap_or(false),
        description: text(&body["description"]),
    })
}

fn responses(operation: &Value) -> Vec<Answer> {
    let Some(map) = operation["responses"].as_object() else {
        return Vec::new();
    };
    map.iter()
        .map(|(status, response)| {
            let media = response["content"]
                .as_object()
                .and_then(|content| content.iter().next());
            Answer {
                status: status.clone(),
                content_type: media.map(|(content_type, _)| content_type.clone()),
                kind: media.map_or_else(String::new, |(_, media)| type_of(&media["schema"])),
                description: text(&response["description"]),
            }
        })
        .collect()
}

/// The operations grouped by their first tag, tags in order of first appearance.
fn tags(operations: &[Operation]) -> Vec<Tag> {
    let mut tags: Vec<Tag> = Vec::new();
    for operation in operations {
        match tags.iter_mut().find(|tag| tag.name == operation.tag) {
            Some(tag) => tag.operations.push(operation.clone()),
            None => tags.push(Tag {
                name: operation.tag.clone(),
                operations: vec![operation.clone()],
            }),
        }
    }
    tags
}

fn schemas(document: &Value) -> Vec<Schema> {
    let Some(map) = document["components"]["schemas"].as_object() else {
        return Vec::new();
    };
    map.iter()
        .map(|(name, schema)| {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|list| list.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let properties = schema["properties"]
                .as_object()
                .map(|properties| {
                    properties
                        .iter()
                        .map(|(field, property)| Property {
                            name: field.clone(),
                            kind: type_of(property),
                            required: required.contains(&field.as_str()),
                            description: text(&property["description"]),
                        })
                        .collect()
                })
                .unwrap_or_default();
            Schema {
                name: name.clone(),
                description: text(&schema["description"]),
                kind: type_of(schema),
                properties,
            }
        })
        .collect()
}

/// A schema's type in words: `string`, `integer or null`, `array of TenantView`.
fn type_of(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(choices) = schema[combinator].as_array() {
            let words: Vec<String> = choices.iter().map(type_of).collect();
            return words.join(" or ");
        }
    }
    let base = match &schema["type"] {
        Value::String(kind) => vec![kind.clone()],
        Value::Array(kinds) => kinds.iter().map(text).collect(),
        _ => vec!["any".to_owned()],
    };
    let words: Vec<String> = base
        .into_iter()
        .map(|kind| match kind.as_str() {
            "array" => format!("array of {}", type_of(&schema["items"])),
            _ => kind,
        })
        .collect();
    words.join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_from_the_document_is_escaped() {
        let document = json!({
            "info": { "title": "<script>alert(1)</script>", "version": "1" },
            "paths": { "/x": { "get": {
                "summary": "a & b",
                "tags": ["t"],
                "responses": { "200": { "description": "\"quoted\"" } }
            } } }
        });
        let page = render(&document);
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;"), "{page}");
        assert!(page.contains("a &amp; b"), "{page}");
    }

    #[test]
    fn types_are_put_in_words() {
        assert_eq!(
            type_of(&json!({"type": ["string", "null"]})),
            "string or null"
        );
        let array = json!({"type": "array", "items": {"$ref": "#/components/schemas/KeyView"}});
        assert_eq!(type_of(&array), "array of KeyView");
    }
}

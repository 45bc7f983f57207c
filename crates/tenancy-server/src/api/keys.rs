//! `/api/v1/keys`: create (the secret is answered once), list, revoke.

use axum::Json;
use axum::extract::Path;
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::Deserialize;
use tenancy::keys::{NewApiKey, Scope};
use utoipa::ToSchema;

use super::auth::{Caller, KeysAdmin};
use super::body::Body;
use super::problem::{ApiError, ProblemBody};
use super::views::{IssuedKeyView, KeyView};

/// The body of `POST /api/v1/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A name for people.
    pub name: Option<String>,
    /// What the key may do: `tenants:read`, `tenants:write`, `keys:admin`, `audit:read`,
    /// `metrics:read`, `admin`.
    pub scopes: Vec<String>,
    /// When the key stops working (RFC 3339); default never.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The body of `POST /api/v1/keys/{id}/rotate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// Seconds the old key keeps working, 0 to 2592000 (30 days); default 3600.
    pub grace_secs: Option<u64>,
    /// When the new key stops working (RFC 3339); default never.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The longest grace a rotated key gets: 30 days.
const MAX_GRACE_SECS: u64 = 30 * 24 * 3600;

/// The grace a rotated key gets when none is asked for: an hour.
pub const DEFAULT_GRACE_SECS: u64 = 3600;

fn scopes(names: &[String]) -> Result<Vec<Scope>, ApiError> {
    names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            name.parse::<Scope>()
                .map_err(|error| ApiError::from(error).field(format!("scopes[{index}]")))
        })
        .collect()
}

/// Create an API key with scopes the caller's key holds. The secret is in this answer only.
#[utoipa::path(
    post, path = "/api/v1/keys", tag = "keys",
    request_body = CreateKey,
    security(("bearer" = ["keys:admin"])),
    responses(
        (status = 201, body = IssuedKeyView),
        (status = 401, body = ProblemBody),
        (status = 403, description = "Missing keys:admin, or a scope the key lacks itself", body = ProblemBody),
        (status = 422, body = ProblemBody),
    )
)]
pub async fn create(
    caller: Caller<KeysAdmin>,
    Body(body): Body<CreateKey>,
) -> Result<(StatusCode, Json<IssuedKeyView>), ApiError> {
    let scopes = scopes(&body.scopes)?;
    refuse_beyond(&caller, &scopes)?;
    let new = NewApiKey {
        name: body.name,
        scopes,
        expires_at: body.expires_at,
    };
    let issued = caller.tenancy.create_api_key(new).await?;
    let view = IssuedKeyView {
        key: issued.key.into(),
        secret: issued.secret,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// A key may hand on, rotate or revoke only what it holds itself: `keys:admin` alone mints
/// no `admin` key, and cannot take an `admin` key away from its holder.
fn refuse_beyond(caller: &Caller<KeysAdmin>, scopes: &[Scope]) -> Result<(), ApiError> {
    match scopes.iter().find(|scope| !caller.key.allows(**scope)) {
        Some(beyond) => Err(ApiError::new(
            "forbidden",
            format!("this key cannot act on the '{beyond}' scope it lacks itself"),
        )),
        None => Ok(()),
    }
}

/// Replace a key with a new one of the same name and scopes; the old one keeps working for
/// the grace period, then is refused.
#[utoipa::path(
    post, path = "/api/v1/keys/{id}/rotate", tag = "keys",
    params(("id" = String, Path, description = "The key id")),
    request_body(content = Option<RotateKey>, description = "Optional"),
    security(("bearer" = ["keys:admin"])),
    responses(
        (status = 201, description = "The new key", body = IssuedKeyView),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 404, body = ProblemBody),
        (status = 409, description = "The key is revoked or expired", body = ProblemBody),
        (status = 422, body = ProblemBody),
    )
)]
pub async fn rotate(
    caller: Caller<KeysAdmin>,
    Path(id): Path<String>,
    Body(body): Body<RotateKey>,
) -> Result<(StatusCode, Json<IssuedKeyView>), ApiError> {
    let grace = body.grace_secs.unwrap_or(DEFAULT_GRACE_SECS);
    if grace > MAX_GRACE_SECS {
        let detail = format!("must be between 0 and {MAX_GRACE_SECS}");
        return Err(ApiError::invalid("grace_secs", detail));
    }
    let old = caller.tenancy.require_api_key(&id).await?;
    refuse_beyond(&caller, &old.scopes)?;

    let grace = std::time::Duration::from_secs(grace);
    let issued = caller
        .tenancy
        .rotate_api_key(&id, grace, body.expires_at)
        .await?;
    let view = IssuedKeyView {
        key: issued.key.into(),
        secret: issued.secret,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// List API keys, oldest first, revoked ones included. Secrets are never shown.
#[utoipa::path(
    get, path = "/api/v1/keys", tag = "keys",
    security(("bearer" = ["keys:admin"])),
    responses(
        (status = 200, body = Vec<KeyView>),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody),
    )
)]
pub async fn list(caller: Caller<KeysAdmin>) -> Result<Json<Vec<KeyView>>, ApiError> {
    let keys = caller.tenancy.api_keys().await?;
    Ok(Json(keys.into_iter().map(Into::into).collect()))
}

/// Revoke an API key: refused from the next request on, by every server. A key with a
/// scope the caller's key lacks is not revoked (403).
#[utoipa::path(
    delete, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "The key id")),
    security(("bearer" = ["keys:admin"])),
    responses(
        (status = 200, description = "The revoked key", body = KeyView),
        (status = 401, body = ProblemBody),
        (status = 403, description = "Missing keys:admin, or the key has a scope the caller's lacks", body = ProblemBody),
        (status = 404, body = ProblemBody),
    )
)]
pub async fn revoke(
    caller: Caller<KeysAdmin>,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let target = caller.tenancy.require_api_key(&id).await?;
    refuse_beyond(&caller, &target.scopes)?;
    let key = caller.tenancy.revoke_api_key(&id).await?;
    Ok(Json(key.into()))
}

//! Bearer-key authentication: who is calling, and whether their key's scopes allow the route.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::header;
use http::request::Parts;
use tenancy::Tenancy;
use tenancy::keys::{ApiKey, Scope};
use tenancy_axum::ClientAddr;

use super::problem::ApiError;

/// The scope a route needs, as a type so that the check runs before the body is read.
pub trait Needs: Send + Sync + 'static {
    /// The scope.
    const SCOPE: Scope;
}

macro_rules! needs {
    ($($name:ident => $scope:expr),* $(,)?) => {$(
        #[doc = concat!("Routes that need the `", stringify!($name), "` scope.")]
        #[derive(Debug)]
        pub struct $name;
        impl Needs for $name {
            const SCOPE: Scope = $scope;
        }
    )*};
}

needs! {
    TenantsRead => Scope::TenantsRead,
    TenantsWrite => Scope::TenantsWrite,
    KeysAdmin => Scope::KeysAdmin,
    AuditRead => Scope::AuditRead,
    MetricsRead => Scope::MetricsRead,
    Admin => Scope::Admin,
}

/// An authenticated caller whose key allows `N`'s scope.
///
/// Extracting it answers 401 for a missing or refused key and 403 for a key without the
/// scope, with nothing else said about the key; then 422 for a query parameter the route
/// does not take, before the route does anything.
#[derive(Debug)]
pub struct Caller<N> {
    /// The caller's key.
    pub key: ApiKey,
    /// The handle to make changes with: they are recorded as `api:<key id>` from the
    /// caller's address.
    pub tenancy: Tenancy,
    needs: PhantomData<N>,
}

impl<N: Needs> FromRequestParts<Tenancy> for Caller<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, tenancy: &Tenancy) -> Result<Self, ApiError> {
        let presented = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let key = match tenancy.authenticate(presented).await? {
            Ok(key) => key,
            Err(rejection) => {
                // The id is the public part of a key: safe to log, and it says which key.
                let key_id = tenancy::keys::key_id(presented);
                tracing::debug!(%rejection, key_id, "API key refused");
                return Err(ApiError::unauthorized());
            }
        };
        if !key.allows(N::SCOPE) {
            let detail = format!("this key lacks the '{}' scope", N::SCOPE);
            return Err(ApiError::new("forbidden", detail));
        }
        super::query::refuse_undeclared(parts)?;

        let mut handle = tenancy.with_actor(key.actor());
        if let Some(client) = client_addr(parts) {
            handle = handle.with_client_addr(client.to_string());
        }
        Ok(Caller {
            key,
            tenancy: handle,
            needs: PhantomData,
        })
    }
}

/// The address the tenancy layer resolved (trusted proxies honoured), or the socket's peer
/// where the API is served without the layer.
fn client_addr(parts: &Parts) -> Option<IpAddr> {
    if let Some(ClientAddr(ip)) = parts.extensions.get::<ClientAddr>() {
        return Some(*ip);
    }
    let ConnectInfo(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>()?;
    Some(peer.ip())
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

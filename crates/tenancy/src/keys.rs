//! API keys for the admin API: issued at random, stored only as a hash, limited by scopes.
//!
//! A key reads `atk_<id>_<secret>`. The prefix makes a leaked key easy to find in a scan;
//! the id is public (it names the key in listings and in the audit log); the secret is 32
//! random bytes. The catalog keeps the SHA-256 of the whole key, never the key: a fast hash
//! is enough because the secret is random, not chosen by a person. Presented keys are
//! compared with the stored hash in constant time.
//!
//! Creating and revoking a key go through the catalog's change log like every other change,
//! and every request reads the key's row, so a revocation holds from the next request in
//! every process.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::catalog::Mutation;
use crate::error::Error;
use crate::tenancy::Tenancy;

/// What every API key starts with.
pub const KEY_PREFIX: &str = "atk_";

/// Random bytes in a key id (printed as hex).
const ID_BYTES: usize = 8;

/// Random bytes in a key secret (printed as unpadded URL-safe base64).
const SECRET_BYTES: usize = 32;

/// How stale a key's last-used time may get before a request writes it again. Writing it on
/// every request would make every API call a catalog write.
const LAST_USED_RESOLUTION: Duration = Duration::from_secs(60);

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read tenants and their domains.
    TenantsRead,
    /// Create, change and delete tenants and their domains (reading included).
    TenantsWrite,
    /// Create, list and revoke API keys.
    KeysAdmin,
    /// Read the audit log.
    AuditRead,
    /// Read metrics.
    MetricsRead,
    /// Everything.
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 6] = [
        Scope::TenantsRead,
        Scope::TenantsWrite,
        Scope::KeysAdmin,
        Scope::AuditRead,
        Scope::MetricsRead,
        Scope::Admin,
    ];

    /// The scope's name, as in `--scope` and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::TenantsRead => "tenants:read",
            Scope::TenantsWrite => "tenants:write",
            Scope::KeysAdmin => "keys:admin",
            Scope::AuditRead => "audit:read",
            Scope::MetricsRead => "metrics:read",
            Scope::Admin => "admin",
        }
    }

    /// Whether holding this scope allows what `needed` guards.
    pub fn grants(self, needed: Scope) -> bool {
        self == needed
            || self == Scope::Admin
            || (self == Scope::TenantsWrite && needed == Scope::TenantsRead)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| Error::InvalidInput {
                field: "scope",
                reason: format!("unknown scope '{s}' (expected one of {})", scope_names()),
            })
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

fn scope_names() -> String {
    Scope::ALL.map(Scope::as_str).join(", ")
}

/// An API key as the catalog knows it. Holds no secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    /// The public part of the key, `atk_<id>_…`.
    pub id: String,
    /// A name for people.
    pub name: Option<String>,
    /// What the key may do.
    pub scopes: Vec<Scope>,
    /// When the key was made.
    pub created_at: DateTime<Utc>,
    /// When the key stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the key was last presented, to within a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the key was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Whether the key's scopes allow what `needed` guards.
    pub fn allows(&self, needed: Scope) -> bool {
        self.scopes.iter().any(|scope| scope.grants(needed))
    }

    /// The actor recorded in the change log for changes made with this key.
    pub fn actor(&self) -> String {
        format!("api:{}", self.id)
    }
}

/// What a new key is made with.
#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    /// A name for people.
    pub name: Option<String>,
    /// What the key may do; at least one.
    pub scopes: Vec<Scope>,
    /// When the key stops working; `None` keeps it until revoked.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key just made: its record and the only copy of its secret.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The stored record.
    pub key: ApiKey,
    /// The whole key to hand to the client. It cannot be shown again.
    pub secret: String,
}

/// Why a presented key was refused. Clients are told none of this (every case is a 401);
/// it is for the server's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRejection {
    /// Not of the form `atk_<id>_<secret>`.
    #[error("malformed key")]
    Malformed,
    /// No key has that id, or the secret does not match.
    #[error("unknown key")]
    Unknown,
    /// The key was revoked.
    #[error("revoked key")]
    Revoked,
    /// The key's expiry has passed.
    #[error("expired key")]
    Expired,
}

/// The stored row of a key, with its hash, for checking a presented key.
#[derive(Debug, Clone)]
pub(crate) struct StoredKey {
    pub(crate) key: ApiKey,
    pub(crate) secret_sha256: String,
}

/// A fresh key: id, whole key text, and the hash to store.
fn generate() -> Result<(String, String, String), Error> {
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    for buffer in [&mut id[..], &mut secret[..]] {
        getrandom::fill(buffer).map_err(|error| Error::InvalidInput {
            field: "api_key",
            reason: format!("the system's random source failed: {error}"),
        })?;
    }
    let id = hex::encode(id);
    let whole = format!("{KEY_PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(secret));
    let hash = sha256_hex(&whole);
    Ok((id, whole, hash))
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The id inside a presented key, if the key has the right shape.
pub fn key_id(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == ID_BYTES * 2 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (id_ok && !secret.is_empty()).then_some(id)
}

/// Whether `presented` hashes to `stored_hex`, compared in constant time.
fn matches(presented: &str, stored_hex: &str) -> bool {
    let Ok(stored) = hex::decode(stored_hex) else {
        return false;
    };
    let presented = Sha256::digest(presented.as_bytes());
    presented.as_slice().ct_eq(&stored).into()
}

fn validate(new: &NewApiKey, now: DateTime<Utc>) -> Result<(), Error> {
    if new.scopes.is_empty() {
        return Err(Error::InvalidInput {
            field: "scopes",
            reason: format!("name at least one scope ({})", scope_names()),
        });
    }
    if new.expires_at.is_some_and(|at| at <= now) {
        return Err(Error::InvalidInput {
            field: "expires_at",
            reason: "must be in the future".to_owned(),
        });
    }
    if new.name.as_ref().is_some_and(|name| name.len() > 255) {
        return Err(Error::InvalidInput {
            field: "name",
            reason: "at most 255 bytes".to_owned(),
        });
    }
    Ok(())
}

impl Tenancy {
    /// Makes an API key. The returned secret is the only copy: the catalog keeps its hash.
    pub async fn create_api_key(&self, new: NewApiKey) -> Result<IssuedKey, Error> {
        let now = Utc::now();
        validate(&new, now)?;
        let (id, secret, secret_sha256) = generate()?;
        let mut scopes = new.scopes;
        scopes.sort();
        scopes.dedup();

        let key = ApiKey {
            id,
            name: new.name,
            scopes,
            created_at: now,
            expires_at: new.expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        self.apply(Mutation::CreateApiKey {
            key: key.clone(),
            secret_sha256,
        })
        .await?;
        Ok(IssuedKey { key, secret })
    }

    /// Revokes a key: refused from the next request on, in every process. Revoking a
    /// revoked key changes nothing and succeeds.
    pub async fn revoke_api_key(&self, id: &str) -> Result<ApiKey, Error> {
        let key = self.require_api_key(id).await?;
        if key.revoked_at.is_some() {
            return Ok(key);
        }
        self.apply(Mutation::RevokeApiKey { id: id.to_owned() })
            .await?;
        self.require_api_key(id).await
    }

    /// Replaces a key with a new one of the same name and scopes. The old key keeps working
    /// for `grace` (or until its own expiry, if sooner), so clients can switch without an
    /// outage; a zero grace ends it at once. The new key expires at `expires_at`, if given;
    /// otherwise a key that had an expiry gets the same lifetime again, counted from now (a
    /// key made to expire never turns into one that does not).
    pub async fn rotate_api_key(
        &self,
        id: &str,
        grace: Duration,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<IssuedKey, Error> {
        let old = self.require_api_key(id).await?;
        let now = Utc::now();
        let expires_at =
            expires_at.or_else(|| old.expires_at.map(|at| now + (at - old.created_at)));
        let new = NewApiKey {
            name: old.name.clone(),
            scopes: old.scopes.clone(),
            expires_at,
        };
        validate(&new, now)?;
        let grace = chrono::Duration::from_std(grace).map_err(|_| Error::InvalidInput {
            field: "grace_secs",
            reason: "too long".to_owned(),
        })?;
        let end = now + grace;
        let old_expires_at = old.expires_at.map_or(end, |at| at.min(end));

        let (new_id, secret, secret_sha256) = generate()?;
        let key = ApiKey {
            id: new_id,
            name: new.name,
            scopes: new.scopes,
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        self.apply(Mutation::RotateApiKey {
            old_id: id.to_owned(),
            old_expires_at,
            key: key.clone(),
            secret_sha256,
        })
        .await?;
        Ok(IssuedKey { key, secret })
    }

    /// The key with this id, or [`Error::ApiKeyNotFound`].
    pub async fn require_api_key(&self, id: &str) -> Result<ApiKey, Error> {
        self.catalog()
            .api_key(id)
            .await?
            .map(|stored| stored.key)
            .ok_or_else(|| Error::ApiKeyNotFound(id.to_owned()))
    }

    /// Every API key, oldest first, revoked ones included.
    pub async fn api_keys(&self) -> Result<Vec<ApiKey>, Error> {
        self.catalog().api_keys().await
    }

    /// Checks a presented key and records its use. The outer error is a catalog failure;
    /// the inner one says why the key was refused.
    pub async fn authenticate(
        &self,
        presented: &str,
    ) -> Result<Result<ApiKey, KeyRejection>, Error> {
        let Some(id) = key_id(presented) else {
            return Ok(Err(KeyRejection::Malformed));
        };
        let Some(stored) = self.catalog().api_key(id).await? else {
            return Ok(Err(KeyRejection::Unknown));
        };
        let now = Utc::now();
        if let Err(rejection) = check(&stored, presented, now) {
            return Ok(Err(rejection));
        }

        let stale = stored.key.last_used_at.is_none_or(|at| {
            now.signed_duration_since(at).to_std().unwrap_or_default() >= LAST_USED_RESOLUTION
        });
        if stale {
            self.catalog().touch_api_key(id, now).await?;
        }
        Ok(Ok(stored.key))
    }
}

fn check(stored: &StoredKey, presented: &str, now: DateTime<Utc>) -> Result<(), KeyRejection> {
    // The hash first: what a revoked or expired key looks like is only told to its holder.
    if !matches(presented, &stored.secret_sha256) {
        return Err(KeyRejection::Unknown);
    }
    if stored.key.revoked_at.is_some() {
        return Err(KeyRejection::Revoked);
    }
    if stored.key.expires_at.is_some_and(|at| at <= now) {
        return Err(KeyRejection::Expired);
    }
    Ok(())
}

/// Parses a space- or comma-separated scope list as stored or typed.
pub fn parse_scopes(text: &str) -> Result<Vec<Scope>, Error> {
    text.split([' ', ','])
        .filter(|part| !part.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_has_the_prefix_and_its_own_id() {
        let (id, whole, hash) = generate().unwrap();
        assert!(whole.starts_with("atk_"));
        assert_eq!(key_id(&whole), Some(id.as_str()));
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&id), "the hash is of the whole key");
    }

    #[test]
    fn two_keys_never_share_an_id_or_secret() {
        let (id_a, whole_a, _) = generate().unwrap();
        let (id_b, whole_b, _) = generate().unwrap();
        assert_ne!(id_a, id_b);
        assert_ne!(whole_a, whole_b);
    }

    #[test]
    fn only_the_exact_key_matches_its_hash() {
        let (_, whole, hash) = generate().unwrap();
        assert!(matches(&whole, &hash));
        let mut tampered = whole.clone();
        let last = tampered.pop();
        tampered.push(if last == Some('A') { 'B' } else { 'A' });
        assert!(!matches(&tampered, &hash));
        assert!(!matches(&whole, "not hex"));
    }

    #[test]
    fn malformed_keys_have_no_id() {
        for text in [
            "",
            "atk_",
            "atk_abc_def",
            "xyz_0123456789abcdef_s",
            "atk_0123456789abcdef_",
        ] {
            assert_eq!(key_id(text), None, "{text}");
        }
        assert_eq!(key_id("atk_0123456789abcdef_s"), Some("0123456789abcdef"));
    }

    #[test]
    fn admin_grants_everything_and_write_grants_read() {
        for scope in Scope::ALL {
            assert!(Scope::Admin.grants(scope));
        }
        assert!(Scope::TenantsWrite.grants(Scope::TenantsRead));
        assert!(!Scope::TenantsRead.grants(Scope::TenantsWrite));
        assert!(!Scope::KeysAdmin.grants(Scope::TenantsRead));
    }

    #[test]
    fn scopes_parse_from_their_names_and_unknown_ones_are_named() {
        assert_eq!(
            parse_scopes("tenants:read, admin").unwrap(),
            vec![Scope::TenantsRead, Scope::Admin]
        );
        let error = parse_scopes("tenants:delete").unwrap_err();
        assert!(error.to_string().contains("tenants:delete"), "{error}");
    }
}

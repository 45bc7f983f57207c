//! What the admin API answers with: its own types, so that the wire format is a contract
//! of this crate and not whatever the core's structs happen to hold.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenancy::catalog::Change;
use tenancy::keys::ApiKey;
use tenancy::{Domain, Tenant};
use utoipa::ToSchema;

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    /// The id, also its subdomain label.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `provisioning`, `active`, `suspended`, `maintenance`, `deleting` or `failed`.
    pub status: String,
    /// Plan, free text.
    pub plan: Option<String>,
    /// The application's data, a JSON object.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// The server that holds the tenant's database.
    pub server: String,
    /// The database's name on that server.
    pub database: String,
    /// The `Retry-After` answered in maintenance, in seconds.
    pub retry_after_secs: Option<u32>,
    /// Why the tenant is suspended or failed.
    pub reason: Option<String>,
    /// When the tenant was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<Tenant> for TenantView {
    fn from(tenant: Tenant) -> Self {
        TenantView {
            id: tenant.id.to_string(),
            name: tenant.name,
            status: tenant.status.to_string(),
            plan: tenant.plan,
            data: tenant.data,
            server: tenant.server,
            database: tenant.database,
            retry_after_secs: tenant.retry_after_secs,
            reason: tenant.reason,
            created_at: tenant.created_at,
            updated_at: tenant.updated_at,
        }
    }
}

/// A tenant with its domains.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantDetail {
    /// The tenant.
    pub tenant: TenantView,
    /// Its domains, primary first.
    pub domains: Vec<DomainView>,
}

/// One page of tenants.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantPage {
    /// The tenants, by id.
    pub items: Vec<TenantView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// A domain of a tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainView {
    /// The normalised host.
    pub host: String,
    /// Whether it is the tenant's primary domain.
    pub primary: bool,
}

impl From<Domain> for DomainView {
    fn from(domain: Domain) -> Self {
        DomainView {
            host: domain.host,
            primary: domain.primary,
        }
    }
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// The public part of the key (`atk_<id>_…`).
    pub id: String,
    /// A name for people.
    pub name: Option<String>,
    /// What the key may do.
    pub scopes: Vec<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last presented, to within a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for KeyView {
    fn from(key: ApiKey) -> Self {
        KeyView {
            id: key.id,
            name: key.name,
            scopes: key.scopes.iter().map(ToString::to_string).collect(),
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A key just made, with the only copy of its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedKeyView {
    /// The key's record.
    pub key: KeyView,
    /// The whole key, to send as `Authorization: Bearer <secret>`. Shown only this once.
    pub secret: String,
}

/// One entry of the audit log: one change to the catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Position in the log; newer entries have larger numbers.
    pub seq: i64,
    /// When the change was made.
    pub at: DateTime<Utc>,
    /// Who made it: `api:<key id>`, `cli`, `server`.
    pub actor: Option<String>,
    /// The API key, for changes made through the API.
    pub key_id: Option<String>,
    /// What happened, for example `tenant.suspended`.
    pub action: String,
    /// The tenant concerned.
    pub tenant_id: Option<String>,
    /// The details of the change.
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
    /// The client address of the request, for changes made through the API.
    pub client_addr: Option<String>,
}

impl From<Change> for AuditEntry {
    fn from(change: Change) -> Self {
        let key_id = change
            .actor
            .as_deref()
            .and_then(|actor| actor.strip_prefix("api:"))
            .map(str::to_owned);
        AuditEntry {
            seq: change.seq,
            at: change.at,
            actor: change.actor,
            key_id,
            action: change.action,
            tenant_id: change.tenant_id.map(|id| id.to_string()),
            summary: change.detail,
            client_addr: change.client_addr,
        }
    }
}

/// One page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// The entries.
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` for older entries; `null` on the last page.
    pub next_cursor: Option<String>,
}

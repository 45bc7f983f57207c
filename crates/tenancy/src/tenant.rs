//! The tenant model: status, placement and domains.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::tenant_id::TenantId;

/// Where a tenant is in its life.
///
/// `provisioning → active ⇄ suspended | maintenance → deleting → (removed)`, plus `failed`.
/// Only [`TenantStatus::Active`] tenants are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// Storage and migrations are being set up; not served yet.
    Provisioning,
    /// Served.
    Active,
    /// Refused with 403 until activated again.
    Suspended,
    /// Refused with 503 and a `Retry-After` until switched off.
    Maintenance,
    /// Being removed; never served again.
    Deleting,
    /// Provisioning failed; the reason is kept. Creating the tenant again retries.
    Failed,
}

impl TenantStatus {
    /// Every status, in life order.
    pub const ALL: [TenantStatus; 6] = [
        TenantStatus::Provisioning,
        TenantStatus::Active,
        TenantStatus::Suspended,
        TenantStatus::Maintenance,
        TenantStatus::Deleting,
        TenantStatus::Failed,
    ];

    /// The status as stored in the catalog and shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Provisioning => "provisioning",
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
            TenantStatus::Maintenance => "maintenance",
            TenantStatus::Deleting => "deleting",
            TenantStatus::Failed => "failed",
        }
    }

    /// Whether the tenant owns live storage that is meant to exist.
    pub fn has_storage(self) -> bool {
        matches!(
            self,
            TenantStatus::Active | TenantStatus::Suspended | TenantStatus::Maintenance
        )
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status string that is not one of [`TenantStatus::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown tenant status '{0}' (expected one of provisioning, active, suspended, maintenance, deleting, failed)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for TenantStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// A tenant as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tenant {
    /// The tenant's id, also its subdomain label.
    pub id: TenantId,
    /// A display name.
    pub name: String,
    /// Where the tenant is in its life.
    pub status: TenantStatus,
    /// The plan, free text (used by rate limits later).
    pub plan: Option<String>,
    /// Free-form data owned by the application.
    pub data: serde_json::Value,
    /// The server that holds the tenant's database.
    pub server: String,
    /// The tenant's database name on that server (a file stem for SQLite).
    pub database: String,
    /// The `Retry-After` answered while in maintenance, in seconds.
    pub retry_after_secs: Option<u32>,
    /// Why the tenant is suspended or failed, when it is.
    pub reason: Option<String>,
    /// When the tenant was created.
    pub created_at: DateTime<Utc>,
    /// When the tenant last changed.
    pub updated_at: DateTime<Utc>,
}

/// A host that identifies a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Domain {
    /// The normalised host.
    pub host: String,
    /// The tenant it identifies.
    pub tenant_id: TenantId,
    /// Whether it is the tenant's primary domain (one per tenant).
    pub primary: bool,
}

/// What a new tenant is made from.
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// The id (validated already by its type).
    pub id: TenantId,
    /// Display name; defaults to the id.
    pub name: Option<String>,
    /// Plan, free text.
    pub plan: Option<String>,
    /// Application data; defaults to `{}`.
    pub data: Option<serde_json::Value>,
    /// Domains to attach; the first becomes primary. Normalised before use.
    pub domains: Vec<String>,
    /// The server to place the tenant on; defaults to the placement policy's choice.
    pub server: Option<String>,
    /// Whether to run the application's seeder after migrations.
    pub seed: bool,
}

impl NewTenant {
    /// A new tenant with only its id set.
    pub fn new(id: TenantId) -> Self {
        NewTenant {
            id,
            name: None,
            plan: None,
            data: None,
            domains: Vec::new(),
            server: None,
            seed: false,
        }
    }
}

/// A partial update of a tenant's descriptive fields.
#[derive(Debug, Clone, Default)]
pub struct TenantUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New plan; `Some(None)` clears it.
    pub plan: Option<Option<String>>,
    /// New application data (replaces the old value).
    pub data: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_name() {
        for status in TenantStatus::ALL {
            assert_eq!(status.as_str().parse::<TenantStatus>(), Ok(status));
        }
    }

    #[test]
    fn unknown_status_names_the_choices() {
        let error = "paused".parse::<TenantStatus>().unwrap_err();
        assert!(error.to_string().contains("'paused'"));
        assert!(error.to_string().contains("suspended"));
    }
}

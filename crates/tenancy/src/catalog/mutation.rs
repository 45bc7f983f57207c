//! The changes the catalog knows how to make, each checked against the tenant's state.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::backend::{Conn, query};
use crate::error::Error;
use crate::keys::ApiKey;
use crate::tenant::{TenantStatus, TenantUpdate};
use crate::tenant_id::TenantId;
use crate::traffic::{RuleScope, TrafficRules};

use TenantStatus::{Active, Deleting, Failed, Maintenance, Provisioning, Suspended};

/// One change to the catalog. See [`super::Catalog::apply`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Mutation {
    /// Inserts a tenant in `provisioning`, or puts a `failed` one back in `provisioning`.
    Create {
        /// The tenant.
        id: TenantId,
        /// Display name.
        name: String,
        /// Plan.
        plan: Option<String>,
        /// Application data.
        data: serde_json::Value,
        /// Placement: server name.
        server: String,
        /// Placement: database name on that server.
        database: String,
        /// Normalised domains; the first is primary.
        domains: Vec<String>,
    },
    /// `provisioning → active`.
    Provisioned {
        /// The tenant.
        id: TenantId,
    },
    /// `provisioning → failed`, keeping the reason.
    Failed {
        /// The tenant.
        id: TenantId,
        /// What went wrong.
        reason: String,
    },
    /// `active | maintenance → suspended`.
    Suspend {
        /// The tenant.
        id: TenantId,
        /// Why, shown to operators.
        reason: Option<String>,
    },
    /// `suspended | maintenance → active`.
    Activate {
        /// The tenant.
        id: TenantId,
    },
    /// `active | suspended → maintenance`, with the `Retry-After` to answer.
    MaintenanceOn {
        /// The tenant.
        id: TenantId,
        /// Seconds clients are told to wait.
        retry_after_secs: u32,
    },
    /// `maintenance → active`.
    MaintenanceOff {
        /// The tenant.
        id: TenantId,
    },
    /// Changes the descriptive fields of a tenant.
    Update {
        /// The tenant.
        id: TenantId,
        /// The fields to change.
        update: TenantUpdate,
    },
    /// Any state but `provisioning` → `deleting`; the tenant is no longer served.
    MarkDeleting {
        /// The tenant.
        id: TenantId,
    },
    /// Removes a `deleting` tenant's row and domains. The change log keeps its history.
    Remove {
        /// The tenant.
        id: TenantId,
    },
    /// Attaches a domain to a tenant.
    AddDomain {
        /// The tenant.
        id: TenantId,
        /// The normalised host.
        host: String,
        /// Make it the primary domain (the first domain is primary anyway).
        primary: bool,
    },
    /// Detaches a domain; another one becomes primary if it was.
    RemoveDomain {
        /// The normalised host.
        host: String,
    },
    /// Makes a domain its tenant's primary domain.
    SetPrimaryDomain {
        /// The normalised host.
        host: String,
    },
    /// Records that a migration run changed a tenant's database (applied or reverted
    /// versions), in the run's journal and in the change log.
    RecordMigration {
        /// The tenant.
        id: TenantId,
        /// The run.
        run_id: i64,
        /// Versions applied or reverted.
        versions: Vec<i64>,
        /// Whether the versions were reverted (a rollback) rather than applied.
        reverted: bool,
    },
    /// Records that a migration run started, or was resumed, over `tenants` tenants. The
    /// run's own journal is written apart (it is bookkeeping); this is its audit entry.
    RunStarted {
        /// The run.
        run_id: i64,
        /// `migrate` or `rollback`.
        kind: &'static str,
        /// How many tenants it handles.
        tenants: usize,
        /// Whether an interrupted run was taken up again.
        resumed: bool,
    },
    /// Records that a tenant's database was dropped and built again, empty and migrated.
    /// Only a tenant with storage (`active`, `suspended`, `maintenance`) can be reset.
    RecordReset {
        /// The tenant.
        id: TenantId,
        /// Whether the seeder ran on the new database.
        seeded: bool,
    },
    /// Records that the application's seeder ran on a tenant's database.
    RecordSeed {
        /// The tenant.
        id: TenantId,
    },
    /// Records that an SQL statement was run on a tenant's database, and how it went.
    RecordSql {
        /// The tenant.
        id: TenantId,
        /// The statement.
        sql: String,
        /// The error, when it failed.
        error: Option<String>,
    },
    /// Sets (or with `None` removes) the traffic rules of a plan or a tenant.
    SetTrafficRules {
        /// The plan or tenant.
        scope: RuleScope,
        /// The rules; `None` removes the scope's rules.
        rules: Option<TrafficRules>,
    },
    /// Stores a new API key.
    CreateApiKey {
        /// The key's record.
        key: ApiKey,
        /// The SHA-256 of the whole key, hex. Never written to the change log.
        secret_sha256: String,
    },
    /// Revokes an API key.
    RevokeApiKey {
        /// The key's id.
        id: String,
    },
    /// Tells every process to forget what it cached about one tenant (its state and the
    /// hosts that lead to it), or with `None` everything. Changes no row.
    ClearCache {
        /// The tenant, or `None` for every cache entry.
        id: Option<TenantId>,
    },
    /// Stores a key that replaces another, and ends the other one's life at `old_expires_at`.
    RotateApiKey {
        /// The key being replaced.
        old_id: String,
        /// When the replaced key stops working.
        old_expires_at: DateTime<Utc>,
        /// The new key's record.
        key: ApiKey,
        /// The SHA-256 of the whole new key, hex. Never written to the change log.
        secret_sha256: String,
    },
}

impl Mutation {
    /// The change-log action name, `noun.verb`.
    pub fn action(&self) -> &'static str {
        match self {
            Mutation::Create { .. } => "tenant.created",
            Mutation::Provisioned { .. } => "tenant.provisioned",
            Mutation::Failed { .. } => "tenant.failed",
            Mutation::Suspend { .. } => "tenant.suspended",
            Mutation::Activate { .. } => "tenant.activated",
            Mutation::MaintenanceOn { .. } => "tenant.maintenance_on",
            Mutation::MaintenanceOff { .. } => "tenant.maintenance_off",
            Mutation::Update { .. } => "tenant.updated",
            Mutation::MarkDeleting { .. } => "tenant.deleting",
            Mutation::Remove { .. } => "tenant.deleted",
            Mutation::AddDomain { .. } => "domain.added",
            Mutation::RemoveDomain { .. } => "domain.removed",
            Mutation::SetPrimaryDomain { .. } => "domain.primary_set",
            Mutation::RecordMigration {
                reverted: false, ..
            } => "tenant.migrated",
            Mutation::RecordMigration { reverted: true, .. } => "tenant.rolled_back",
            Mutation::RunStarted { resumed: false, .. } => "migration.started",
            Mutation::RunStarted { resumed: true, .. } => "migration.resumed",
            Mutation::RecordReset { .. } => "tenant.reset",
            Mutation::RecordSeed { .. } => "tenant.seeded",
            Mutation::RecordSql { .. } => "tenant.sql_run",
            Mutation::SetTrafficRules { rules: Some(_), .. } => "traffic.rules_set",
            Mutation::SetTrafficRules { rules: None, .. } => "traffic.rules_removed",
            Mutation::CreateApiKey { .. } => "api_key.created",
            Mutation::RevokeApiKey { .. } => "api_key.revoked",
            Mutation::RotateApiKey { .. } => "api_key.rotated",
            Mutation::ClearCache { id: Some(_) } => "cache.cleared",
            Mutation::ClearCache { id: None } => "cache.cleared_all",
        }
    }

    /// The tenant the change is about, when the mutation names it directly.
    pub fn tenant_id(&self) -> Option<&TenantId> {
        match self {
            Mutation::Create { id, .. }
            | Mutation::Provisioned { id }
            | Mutation::Failed { id, .. }
            | Mutation::Suspend { id, .. }
            | Mutation::Activate { id }
            | Mutation::MaintenanceOn { id, .. }
            | Mutation::MaintenanceOff { id }
            | Mutation::Update { id, .. }
            | Mutation::MarkDeleting { id }
            | Mutation::Remove { id }
            | Mutation::AddDomain { id, .. }
            | Mutation::RecordMigration { id, .. }
            | Mutation::RecordReset { id, .. }
            | Mutation::RecordSeed { id }
            | Mutation::RecordSql { id, .. } => Some(id),
            Mutation::SetTrafficRules { scope, .. } => scope.tenant_id(),
            Mutation::ClearCache { id } => id.as_ref(),
            Mutation::RemoveDomain { .. }
            | Mutation::RunStarted { .. }
            | Mutation::SetPrimaryDomain { .. }
            | Mutation::CreateApiKey { .. }
            | Mutation::RevokeApiKey { .. }
            | Mutation::RotateApiKey { .. } => None,
        }
    }

    /// The details recorded in the change log. Never holds secrets.
    pub fn detail(&self) -> serde_json::Value {
        match self {
            Mutation::Create {
                name,
                plan,
                server,
                database,
                domains,
                ..
            } => json!({
                "name": name, "plan": plan, "server": server,
                "database": database, "domains": domains,
            }),
            Mutation::Failed { reason, .. } => json!({ "reason": reason }),
            Mutation::Suspend { reason, .. } => json!({ "reason": reason }),
            Mutation::MaintenanceOn {
                retry_after_secs, ..
            } => {
                json!({ "retry_after_secs": retry_after_secs })
            }
            Mutation::Update { update, .. } => json!({
                "name": update.name, "plan": update.plan, "data": update.data,
            }),
            Mutation::AddDomain { host, primary, .. } => {
                json!({ "host": host, "primary": primary })
            }
            Mutation::RemoveDomain { host } | Mutation::SetPrimaryDomain { host } => {
                json!({ "host": host })
            }
            Mutation::RecordMigration {
                run_id, versions, ..
            } => {
                json!({ "run_id": run_id, "versions": versions })
            }
            Mutation::RunStarted {
                run_id,
                kind,
                tenants,
                ..
            } => json!({ "run_id": run_id, "kind": kind, "tenants": tenants }),
            Mutation::RecordReset { seeded, .. } => json!({ "seeded": seeded }),
            Mutation::RecordSql { sql, error, .. } => json!({ "sql": sql, "error": error }),
            Mutation::SetTrafficRules { scope, rules } => {
                json!({ "scope": scope.to_string(), "rules": rules })
            }
            Mutation::CreateApiKey { key, .. } => json!({
                "key_id": key.id, "name": key.name, "scopes": key.scopes,
                "expires_at": key.expires_at,
            }),
            Mutation::RevokeApiKey { id } => json!({ "key_id": id }),
            Mutation::RotateApiKey {
                old_id,
                old_expires_at,
                key,
                ..
            } => json!({
                "key_id": old_id, "old_expires_at": old_expires_at,
                "new_key_id": key.id, "scopes": key.scopes, "expires_at": key.expires_at,
            }),
            _ => json!({}),
        }
    }

    pub(super) async fn execute(
        &self,
        conn: &mut Conn<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<TenantId>, Error> {
        match self {
            Mutation::Create { .. } => self.create(conn, now).await.map(Some),
            Mutation::Provisioned { id } => {
                transition(
                    conn,
                    id,
                    &[Provisioning],
                    Active,
                    "finish provisioning",
                    now,
                )
                .await?;
                Ok(Some(id.clone()))
            }
            Mutation::Failed { id, reason } => {
                transition(conn, id, &[Provisioning], Failed, "mark failed", now).await?;
                set_reason(conn, id, Some(reason)).await?;
                Ok(Some(id.clone()))
            }
            Mutation::Suspend { id, reason } => {
                let allowed = [Active, Maintenance, Suspended];
                transition(conn, id, &allowed, Suspended, "suspend", now).await?;
                set_reason(conn, id, reason.as_deref()).await?;
                Ok(Some(id.clone()))
            }
            Mutation::Activate { id } => {
                let allowed = [Suspended, Maintenance, Active];
                transition(conn, id, &allowed, Active, "activate", now).await?;
                set_reason(conn, id, None).await?;
                clear_retry_after(conn, id).await?;
                Ok(Some(id.clone()))
            }
            Mutation::MaintenanceOn {
                id,
                retry_after_secs,
            } => {
                let allowed = [Active, Suspended, Maintenance];
                transition(conn, id, &allowed, Maintenance, "start maintenance", now).await?;
                query("UPDATE tenants SET retry_after_secs = ? WHERE id = ?")
                    .bind(i64::from(*retry_after_secs))
                    .bind(id.as_str())
                    .execute(conn)
                    .await?;
                Ok(Some(id.clone()))
            }
            Mutation::MaintenanceOff { id } => {
                transition(conn, id, &[Maintenance], Active, "end maintenance", now).await?;
                clear_retry_after(conn, id).await?;
                Ok(Some(id.clone()))
            }
            Mutation::Update { id, update } => {
                update_fields(conn, id, update, now).await?;
                Ok(Some(id.clone()))
            }
            Mutation::MarkDeleting { id } => {
                let allowed = [Active, Suspended, Maintenance, Failed, Deleting];
                transition(conn, id, &allowed, Deleting, "delete", now).await?;
                Ok(Some(id.clone()))
            }
            Mutation::Remove { id } => {
                require_status(conn, id, &[Deleting], "remove").await?;
                exec(conn, "DELETE FROM domains WHERE tenant_id = ?", id.as_str()).await?;
                let scope = RuleScope::Tenant(id.clone()).to_string();
                exec(conn, "DELETE FROM traffic_rules WHERE scope = ?", &scope).await?;
                exec(conn, "DELETE FROM tenants WHERE id = ?", id.as_str()).await?;
                Ok(Some(id.clone()))
            }
            Mutation::AddDomain { id, host, primary } => {
                add_domain(conn, id, host, *primary).await?;
                Ok(Some(id.clone()))
            }
            Mutation::RemoveDomain { host } => remove_domain(conn, host).await.map(Some),
            Mutation::SetPrimaryDomain { host } => set_primary(conn, host).await.map(Some),
            Mutation::RecordMigration {
                id,
                run_id,
                versions,
                reverted,
            } => {
                let status = if *reverted { "rolled_back" } else { "migrated" };
                super::runs::set_run_tenant(conn, *run_id, id, status, None, versions).await?;
                Ok(Some(id.clone()))
            }
            Mutation::RunStarted { .. } => Ok(None),
            Mutation::RecordReset { id, .. } => {
                let allowed = [Active, Suspended, Maintenance];
                require_status(conn, id, &allowed, "reset").await?;
                Ok(Some(id.clone()))
            }
            Mutation::RecordSeed { id } | Mutation::RecordSql { id, .. } => {
                let allowed = [Active, Suspended, Maintenance];
                require_status(conn, id, &allowed, "change its database").await?;
                Ok(Some(id.clone()))
            }
            Mutation::SetTrafficRules { scope, rules } => {
                set_traffic_rules(conn, scope, rules.as_ref(), now).await?;
                Ok(scope.tenant_id().cloned())
            }
            Mutation::CreateApiKey { key, secret_sha256 } => {
                insert_api_key(conn, key, secret_sha256).await?;
                Ok(None)
            }
            Mutation::RevokeApiKey { id } => {
                revoke_api_key(conn, id, now).await?;
                Ok(None)
            }
            Mutation::ClearCache { id } => {
                if let Some(id) = id
                    && current_status(conn, id).await?.is_none()
                {
                    return Err(Error::TenantNotFound(id.clone()));
                }
                Ok(id.clone())
            }
            Mutation::RotateApiKey {
                old_id,
                old_expires_at,
                key,
                secret_sha256,
            } => {
                end_api_key(conn, old_id, *old_expires_at, now).await?;
                insert_api_key(conn, key, secret_sha256).await?;
                Ok(None)
            }
        }
    }

    async fn create(&self, conn: &mut Conn<'_>, now: DateTime<Utc>) -> Result<TenantId, Error> {
        let Mutation::Create {
            id,
            name,
            plan,
            data,
            server,
            database,
            domains,
        } = self
        else {
            unreachable!("create called on another mutation");
        };
        match current_status(conn, id).await? {
            None => {
                query(
                    "INSERT INTO tenants (id, name, status, plan, data, server, database_name, \
                     created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(id.as_str())
                .bind(name)
                .bind(Provisioning.as_str())
                .bind(plan)
                .bind(data.to_string())
                .bind(server)
                .bind(database)
                .bind(now)
                .bind(now)
                .execute(conn)
                .await?;
            }
            // A failed tenant is created again in place: that is the retry.
            Some(Failed) => {
                query(
                    "UPDATE tenants SET name = ?, status = ?, plan = ?, data = ?, server = ?, \
                     database_name = ?, reason = NULL, updated_at = ? WHERE id = ?",
                )
                .bind(name)
                .bind(Provisioning.as_str())
                .bind(plan)
                .bind(data.to_string())
                .bind(server)
                .bind(database)
                .bind(now)
                .bind(id.as_str())
                .execute(conn)
                .await?;
                exec(conn, "DELETE FROM domains WHERE tenant_id = ?", id.as_str()).await?;
                let scope = RuleScope::Tenant(id.clone()).to_string();
                exec(conn, "DELETE FROM traffic_rules WHERE scope = ?", &scope).await?;
            }
            Some(_) => return Err(Error::TenantExists(id.clone())),
        }
        for (index, host) in domains.iter().enumerate() {
            add_domain(conn, id, host, index == 0).await?;
        }
        Ok(id.clone())
    }
}

async fn exec(conn: &mut Conn<'_>, sql: &'static str, arg: &str) -> Result<(), Error> {
    query(sql).bind(arg).execute(conn).await?;
    Ok(())
}

async fn current_status(conn: &mut Conn<'_>, id: &TenantId) -> Result<Option<TenantStatus>, Error> {
    let status: Option<String> = query("SELECT status FROM tenants WHERE id = ?")
        .bind(id.as_str())
        .scalar_optional(conn)
        .await?;
    status
        .map(|text| super::rows::parse_status(&text))
        .transpose()
}

async fn require_status(
    conn: &mut Conn<'_>,
    id: &TenantId,
    allowed: &[TenantStatus],
    operation: &'static str,
) -> Result<TenantStatus, Error> {
    let status = current_status(conn, id)
        .await?
        .ok_or_else(|| Error::TenantNotFound(id.clone()))?;
    if !allowed.contains(&status) {
        return Err(Error::InvalidState {
            tenant_id: id.clone(),
            status,
            operation,
        });
    }
    Ok(status)
}

async fn transition(
    conn: &mut Conn<'_>,
    id: &TenantId,
    allowed: &[TenantStatus],
    to: TenantStatus,
    operation: &'static str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    require_status(conn, id, allowed, operation).await?;
    query("UPDATE tenants SET status = ?, updated_at = ? WHERE id = ?")
        .bind(to.as_str())
        .bind(now)
        .bind(id.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// An active tenant has no maintenance `Retry-After`: the value belongs to one maintenance
/// window and is set again when the next one starts.
async fn clear_retry_after(conn: &mut Conn<'_>, id: &TenantId) -> Result<(), Error> {
    exec(
        conn,
        "UPDATE tenants SET retry_after_secs = NULL WHERE id = ?",
        id.as_str(),
    )
    .await
}

async fn set_reason(conn: &mut Conn<'_>, id: &TenantId, reason: Option<&str>) -> Result<(), Error> {
    query("UPDATE tenants SET reason = ? WHERE id = ?")
        .bind(reason)
        .bind(id.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

async fn update_fields(
    conn: &mut Conn<'_>,
    id: &TenantId,
    update: &TenantUpdate,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let allowed = [Provisioning, Active, Suspended, Maintenance, Failed];
    require_status(conn, id, &allowed, "update").await?;
    if let Some(name) = &update.name {
        query("UPDATE tenants SET name = ? WHERE id = ?")
            .bind(name)
            .bind(id.as_str())
            .execute(conn)
            .await?;
    }
    if let Some(plan) = &update.plan {
        query("UPDATE tenants SET plan = ? WHERE id = ?")
            .bind(plan)
            .bind(id.as_str())
            .execute(conn)
            .await?;
    }
    if let Some(data) = &update.data {
        query("UPDATE tenants SET data = ? WHERE id = ?")
            .bind(data.to_string())
            .bind(id.as_str())
            .execute(conn)
            .await?;
    }
    query("UPDATE tenants SET updated_at = ? WHERE id = ?")
        .bind(now)
        .bind(id.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

async fn domain_owner(conn: &mut Conn<'_>, host: &str) -> Result<Option<String>, Error> {
    query("SELECT tenant_id FROM domains WHERE host = ?")
        .bind(host)
        .scalar_optional(conn)
        .await
}

async fn add_domain(
    conn: &mut Conn<'_>,
    id: &TenantId,
    host: &str,
    primary: bool,
) -> Result<(), Error> {
    let allowed = [Provisioning, Active, Suspended, Maintenance, Failed];
    require_status(conn, id, &allowed, "add a domain").await?;
    if let Some(owner) = domain_owner(conn, host).await? {
        let owner = TenantId::parse(&owner)?;
        return Err(Error::DomainTaken {
            host: host.to_owned(),
            owner,
        });
    }
    let has_primary: i64 =
        query("SELECT COUNT(*) FROM domains WHERE tenant_id = ? AND is_primary = 1")
            .bind(id.as_str())
            .scalar(conn)
            .await?;
    query("INSERT INTO domains (host, tenant_id, is_primary) VALUES (?, ?, 0)")
        .bind(host)
        .bind(id.as_str())
        .execute(conn)
        .await?;
    if primary || has_primary == 0 {
        make_primary(conn, id, host).await?;
    }
    Ok(())
}

async fn make_primary(conn: &mut Conn<'_>, id: &TenantId, host: &str) -> Result<(), Error> {
    query(
        "UPDATE domains SET is_primary = CASE WHEN host = ? THEN 1 ELSE 0 END WHERE tenant_id = ?",
    )
    .bind(host)
    .bind(id.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

async fn remove_domain(conn: &mut Conn<'_>, host: &str) -> Result<TenantId, Error> {
    let owner = domain_owner(conn, host)
        .await?
        .ok_or_else(|| Error::DomainNotFound(host.to_owned()))?;
    let id = TenantId::parse(&owner)?;
    exec(conn, "DELETE FROM domains WHERE host = ?", host).await?;

    // Keep exactly one primary while the tenant has any domain left.
    let next: Option<String> = query(
        "SELECT host FROM domains WHERE tenant_id = ? ORDER BY is_primary DESC, host LIMIT 1",
    )
    .bind(id.as_str())
    .scalar_optional(conn)
    .await?;
    if let Some(next) = next {
        make_primary(conn, &id, &next).await?;
    }
    Ok(id)
}

async fn set_primary(conn: &mut Conn<'_>, host: &str) -> Result<TenantId, Error> {
    let owner = domain_owner(conn, host)
        .await?
        .ok_or_else(|| Error::DomainNotFound(host.to_owned()))?;
    let id = TenantId::parse(&owner)?;
    make_primary(conn, &id, host).await?;
    Ok(id)
}

async fn set_traffic_rules(
    conn: &mut Conn<'_>,
    scope: &RuleScope,
    rules: Option<&TrafficRules>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if let RuleScope::Tenant(id) = scope
        && current_status(conn, id).await?.is_none()
    {
        return Err(Error::TenantNotFound(id.clone()));
    }
    let key = scope.to_string();
    let Some(rules) = rules else {
        exec(conn, "DELETE FROM traffic_rules WHERE scope = ?", &key).await?;
        return Ok(());
    };
    rules.validate()?;
    let json = serde_json::to_string(rules).expect("traffic rules serialise");
    // Replaced rather than upserted: the upsert syntax differs on every backend, and the
    // catalog clock already makes this transaction the only writer.
    exec(conn, "DELETE FROM traffic_rules WHERE scope = ?", &key).await?;
    query("INSERT INTO traffic_rules (scope, rules, updated_at) VALUES (?, ?, ?)")
        .bind(&key)
        .bind(json)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

async fn insert_api_key(
    conn: &mut Conn<'_>,
    key: &ApiKey,
    secret_sha256: &str,
) -> Result<(), Error> {
    let scopes: Vec<&str> = key.scopes.iter().map(|scope| scope.as_str()).collect();
    query(
        "INSERT INTO api_keys (id, name, scopes, secret_sha256, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&key.id)
    .bind(&key.name)
    .bind(scopes.join(" "))
    .bind(secret_sha256)
    .bind(key.created_at)
    .bind(key.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn revoke_api_key(conn: &mut Conn<'_>, id: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let revoked = query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    if revoked == 0 {
        return Err(Error::ApiKeyNotFound(id.to_owned()));
    }
    Ok(())
}

/// Moves a usable key's expiry to `at` (never later than it was).
async fn end_api_key(
    conn: &mut Conn<'_>,
    id: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let ended = query(
        "UPDATE api_keys SET expires_at = ? \
         WHERE id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
    )
    .bind(at)
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    if ended == 0 {
        return Err(Error::ApiKeyUnusable(id.to_owned()));
    }
    Ok(())
}

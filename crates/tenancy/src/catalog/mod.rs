//! The catalog: the central database of tenants, their domains and the change log.
//!
//! Every write goes through [`Catalog::apply`], which checks the tenant's state, makes the
//! change and appends a row to the change log in one transaction. Hooks registered with
//! [`Catalog::watch`] see each change: at once for changes made by this process, and within
//! the poll interval for changes made by other processes sharing the catalog.

mod mutation;
mod rows;
mod runs;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, SqliteConnection};

use crate::error::Error;
use crate::keys::{ApiKey, StoredKey};
use crate::tenant::{Domain, Tenant, TenantStatus};
use crate::tenant_id::TenantId;
use crate::traffic::{RuleScope, TrafficRules};

pub use mutation::Mutation;
pub use runs::{RunRecord, RunTenant};

/// How long a catalog writer waits for another writer before giving up.
///
/// The server and CLI processes share one catalog file; a writer waits its turn rather than
/// failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Position in the log; grows with every change.
    pub seq: i64,
    /// The tenant concerned, if any.
    pub tenant_id: Option<TenantId>,
    /// What happened, for example `tenant.suspended`.
    pub action: String,
    /// The details of the change as JSON.
    pub detail: serde_json::Value,
    /// Who made the change (`cli`, `api:<key>`, …), when known.
    pub actor: Option<String>,
    /// The client address of the request that made the change, for changes made over HTTP.
    pub client_addr: Option<String>,
    /// When the change was made.
    pub at: DateTime<Utc>,
}

impl Change {
    /// The tenant's server and database at the time of the change, when it had a row.
    pub fn placement(&self) -> Option<(&str, &str)> {
        let placement = self.detail.get("placement")?;
        Some((
            placement.get("server")?.as_str()?,
            placement.get("database")?.as_str()?,
        ))
    }

    /// Whether every process must close its connections to the tenant's database.
    pub fn closes_connections(&self) -> bool {
        matches!(
            self.action.as_str(),
            "tenant.suspended" | "tenant.maintenance_on" | "tenant.deleting" | "tenant.deleted"
        )
    }

    /// Whether the change can alter which host maps to which tenant.
    pub fn affects_routing(&self) -> bool {
        self.action.starts_with("domain.")
            || self.action.starts_with("cache.")
            || matches!(self.action.as_str(), "tenant.created" | "tenant.deleted")
    }

    /// Whether every process must forget everything it cached about tenants.
    pub fn clears_all_caches(&self) -> bool {
        self.action == "cache.cleared_all"
    }
}

type Hook = Arc<dyn Fn(&Change) + Send + Sync>;

/// Who makes a change and from where, as the change log records it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    /// Who (`cli`, `server`, `api:<key id>`).
    pub actor: Option<&'a str>,
    /// The client address, for changes made over HTTP.
    pub client_addr: Option<&'a str>,
}

/// Filters for [`Catalog::audit`]. Every field left `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only changes by this actor (`api:<key id>`, `cli`, …).
    pub actor: Option<String>,
    /// Only changes about this tenant.
    pub tenant_id: Option<TenantId>,
    /// Only this action (`tenant.suspended`), or a family of them (`tenant.`).
    pub action: Option<String>,
    /// Only changes at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only changes before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only changes older than this position (the cursor of the previous page).
    pub before_seq: Option<i64>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// Filters for [`Catalog::tenants`].
#[derive(Debug, Clone, Default)]
pub struct TenantFilter {
    /// Only tenants with this status.
    pub status: Option<TenantStatus>,
    /// Only tenants on this server.
    pub server: Option<String>,
    /// Only tenants on this plan.
    pub plan: Option<String>,
    /// Only tenants whose id, name or one of whose domains contains this text, ASCII
    /// letters compared without case.
    pub search: Option<String>,
    /// The order; by id ascending unless set.
    pub sort: TenantSort,
    /// Only tenants after this one in `sort`'s order (the cursor of the previous page).
    pub after: Option<TenantPosition>,
    /// At most this many; `None` for all.
    pub limit: Option<i64>,
}

/// What tenants are sorted by. Ties are broken by id, so the order is total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TenantSortKey {
    /// The id.
    #[default]
    Id,
    /// The display name, ASCII letters without case.
    Name,
    /// When the tenant was created.
    CreatedAt,
    /// When the tenant last changed.
    UpdatedAt,
}

impl TenantSortKey {
    /// The name used in the API and CLI: `id`, `name`, `created_at`, `updated_at`.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantSortKey::Id => "id",
            TenantSortKey::Name => "name",
            TenantSortKey::CreatedAt => "created_at",
            TenantSortKey::UpdatedAt => "updated_at",
        }
    }

    /// The key named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Id, Self::Name, Self::CreatedAt, Self::UpdatedAt]
            .into_iter()
            .find(|key| key.as_str() == name)
    }

    /// The value `tenant` has for this key, to resume a listing after it.
    pub fn value_of(self, tenant: &Tenant) -> SortValue {
        match self {
            TenantSortKey::Id => SortValue::Text(tenant.id.to_string()),
            TenantSortKey::Name => SortValue::Text(tenant.name.clone()),
            TenantSortKey::CreatedAt => SortValue::Time(tenant.created_at),
            TenantSortKey::UpdatedAt => SortValue::Time(tenant.updated_at),
        }
    }
}

/// The order of a tenant listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantSort {
    /// What is compared.
    pub key: TenantSortKey,
    /// Largest first.
    pub descending: bool,
}

/// A value of the sort key, where a listing resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortValue {
    /// An id or a name.
    Text(String),
    /// A creation or change time.
    Time(DateTime<Utc>),
}

/// Where a listing stopped: the last tenant's sort value and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPosition {
    /// The last tenant's value of the sort key.
    pub value: SortValue,
    /// The last tenant's id, which breaks ties.
    pub id: TenantId,
}

/// A handle to the catalog database. Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    pool: SqlitePool,
    hooks: Arc<RwLock<Vec<Hook>>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").finish_non_exhaustive()
    }
}

impl Catalog {
    /// Opens (creating if needed) the SQLite catalog at `path` and brings its schema up to date.
    pub async fn open_sqlite(path: &Path) -> Result<Self, Error> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| Error::io("creating directory", parent, error))?;
        }
        // Two processes opening a new catalog at once would both switch it to WAL and both
        // create its tables; one at a time, the second finds the work done.
        let lock_path = path.with_extension("sqlite.open-lock");
        let _lock = crate::server::FileLock::acquire(&lock_path, BUSY_TIMEOUT)
            .await?
            .ok_or_else(|| Error::InvalidInput {
                field: "catalog",
                reason: format!("{} stayed locked by another process", lock_path.display()),
            })?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(Error::Catalog)?;

        let catalog = Catalog {
            pool,
            hooks: Arc::default(),
        };
        catalog.migrate().await?;
        Ok(catalog)
    }

    async fn migrate(&self) -> Result<(), Error> {
        let migrator = crate::migrate::catalog_migrator();
        migrator.run(&self.pool).await.map_err(|error| match error {
            sqlx::migrate::MigrateError::Execute(error) => Error::Catalog(error),
            other => Error::Catalog(sqlx::Error::Migrate(Box::new(other))),
        })
    }

    /// Registers a hook called with every change this process makes or later sees in the log.
    ///
    /// Hooks run on the writer's task; keep them short (invalidate a cache, wake a task).
    pub fn watch(&self, hook: impl Fn(&Change) + Send + Sync + 'static) {
        self.hooks
            .write()
            .expect("catalog hook list poisoned")
            .push(Arc::new(hook));
    }

    pub(crate) fn notify(&self, change: &Change) {
        let hooks = self
            .hooks
            .read()
            .expect("catalog hook list poisoned")
            .clone();
        for hook in hooks {
            hook(change);
        }
    }

    /// Applies one change in a transaction that also appends it to the change log.
    ///
    /// The mutation checks the tenant's current state inside the transaction, so two
    /// processes racing on one tenant cannot both succeed where only one should.
    pub async fn apply(&self, mutation: Mutation, actor: Option<&str>) -> Result<Change, Error> {
        let origin = Origin {
            actor,
            client_addr: None,
        };
        self.apply_from(mutation, origin).await
    }

    /// [`Catalog::apply`] with the client address recorded too (the audit log's "from").
    pub async fn apply_from(
        &self,
        mutation: Mutation,
        origin: Origin<'_>,
    ) -> Result<Change, Error> {
        let mut conn = self.pool.acquire().await.map_err(Error::Catalog)?;
        let change = apply_in_transaction(&mut conn, &mutation, origin).await?;

        tracing::debug!(seq = change.seq, action = %change.action, tenant_id = ?change.tenant_id, "catalog change");
        self.notify(&change);
        Ok(change)
    }

    /// Every plan's and tenant's traffic rules.
    pub async fn traffic_rules(&self) -> Result<HashMap<RuleScope, TrafficRules>, Error> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT scope, rules FROM traffic_rules")
            .fetch_all(&self.pool)
            .await
            .map_err(Error::Catalog)?;
        rows.into_iter()
            .map(|(scope, rules)| {
                let parsed = serde_json::from_str(&rules).map_err(|error| Error::InvalidInput {
                    field: "traffic_rules",
                    reason: format!("the stored rules of {scope} do not parse: {error}"),
                })?;
                Ok((scope.parse()?, parsed))
            })
            .collect()
    }

    /// The tenant with this id, if any.
    pub async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, Error> {
        rows::tenant(&self.pool, id).await
    }

    /// The tenant with this id, or [`Error::TenantNotFound`].
    pub async fn require_tenant(&self, id: &TenantId) -> Result<Tenant, Error> {
        self.tenant(id)
            .await?
            .ok_or_else(|| Error::TenantNotFound(id.clone()))
    }

    /// Tenants matching the filter, ordered by id.
    pub async fn tenants(&self, filter: &TenantFilter) -> Result<Vec<Tenant>, Error> {
        rows::tenants(&self.pool, filter).await
    }

    /// How many tenants are in each status; statuses without tenants are left out.
    pub async fn tenants_per_status(&self) -> Result<Vec<(TenantStatus, i64)>, Error> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM tenants GROUP BY status ORDER BY status")
                .fetch_all(&self.pool)
                .await
                .map_err(Error::Catalog)?;
        rows.into_iter()
            .map(|(status, count)| Ok((rows::parse_status(&status)?, count)))
            .collect()
    }

    /// Reads the catalog through a connection of its own, opened now, and answers how many
    /// tenants it holds. For readiness checks: the pool's open connections keep working on
    /// a file that was removed or replaced, while this fails as a restart would.
    ///
    /// Gives up after `wait` with [`Error::Catalog`] holding a pool timeout.
    pub async fn probe(&self, wait: Duration) -> Result<i64, Error> {
        let options = (*self.pool.connect_options())
            .clone()
            .create_if_missing(false)
            .read_only(true)
            .busy_timeout(wait);
        let read = async {
            let mut conn = SqliteConnection::connect_with(&options).await?;
            let count = sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
                .fetch_one(&mut conn)
                .await;
            conn.close().await?;
            count
        };
        match tokio::time::timeout(wait, read).await {
            Ok(result) => result.map_err(Error::Catalog),
            Err(_) => Err(Error::Catalog(sqlx::Error::PoolTimedOut)),
        }
    }

    /// How many tenants the catalog holds.
    pub async fn count_tenants(&self) -> Result<i64, Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
            .fetch_one(&self.pool)
            .await
            .map_err(Error::Catalog)
    }

    /// How many tenants each server holds, for placement.
    pub async fn tenants_per_server(
        &self,
    ) -> Result<std::collections::HashMap<String, i64>, Error> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT server, COUNT(*) FROM tenants GROUP BY server")
                .fetch_all(&self.pool)
                .await
                .map_err(Error::Catalog)?;
        Ok(rows.into_iter().collect())
    }

    /// The tenant that owns this (normalised) host as a domain.
    pub async fn tenant_for_domain(&self, host: &str) -> Result<Option<TenantId>, Error> {
        rows::tenant_for_domain(&self.pool, host).await
    }

    /// The domains of one tenant, primary first; or of every tenant when `tenant_id` is `None`.
    pub async fn domains(&self, tenant_id: Option<&TenantId>) -> Result<Vec<Domain>, Error> {
        rows::domains(&self.pool, tenant_id).await
    }

    /// Changes after `seq`, oldest first, at most `limit`.
    pub async fn changes_since(&self, seq: i64, limit: i64) -> Result<Vec<Change>, Error> {
        rows::changes_since(&self.pool, seq, limit).await
    }

    /// Changes matching the filter, newest first: the audit log.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Vec<Change>, Error> {
        rows::audit(&self.pool, filter).await
    }

    /// Every API key, oldest first.
    pub async fn api_keys(&self) -> Result<Vec<ApiKey>, Error> {
        rows::api_keys(&self.pool).await
    }

    pub(crate) async fn api_key(&self, id: &str) -> Result<Option<StoredKey>, Error> {
        rows::api_key(&self.pool, id).await
    }

    /// Records that a key was used. Not a change: nothing else needs to hear of it.
    pub(crate) async fn touch_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<(), Error> {
        sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(Error::Catalog)?;
        Ok(())
    }

    /// The newest change's position, or 0 for an empty log.
    pub async fn last_change_seq(&self) -> Result<i64, Error> {
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM changes")
            .fetch_one(&self.pool)
            .await
            .map_err(Error::Catalog)
    }

    /// Starts a task that reads changes made by other processes and passes them to the hooks.
    ///
    /// The task ends when every clone of the catalog is dropped or the returned handle is
    /// aborted.
    pub async fn spawn_change_poller(
        &self,
        interval: Duration,
    ) -> Result<tokio::task::JoinHandle<()>, Error> {
        let mut seen = self.last_change_seq().await?;
        let hooks = Arc::downgrade(&self.hooks);
        let pool = self.pool.clone();

        Ok(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(hooks) = hooks.upgrade() else { break };
                let catalog = Catalog {
                    pool: pool.clone(),
                    hooks,
                };
                match catalog.changes_since(seen, 1000).await {
                    Ok(changes) => {
                        for change in &changes {
                            catalog.notify(change);
                            seen = change.seq;
                        }
                    }
                    // Closed while this poll ran (abort only lands at an await): not a fault.
                    Err(_) if pool.is_closed() => break,
                    Err(error) => tracing::warn!(%error, "reading the catalog change log failed"),
                }
                if pool.is_closed() {
                    break;
                }
            }
        }))
    }

    /// Closes the catalog's connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn apply_in_transaction(
    conn: &mut SqliteConnection,
    mutation: &Mutation,
    origin: Origin<'_>,
) -> Result<Change, Error> {
    // IMMEDIATE takes the write lock up front, so a second writer waits in the busy handler
    // instead of failing when its read lock cannot be upgraded.
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(Error::Catalog)?;
    let now = Utc::now();

    // Read before the change, so a removed tenant's placement is still known to the
    // processes that must close its connections.
    let placement = match mutation.tenant_id() {
        Some(id) => rows::placement(&mut tx, id).await?,
        None => None,
    };
    let tenant_id = mutation.execute(&mut tx, now).await?;
    let change = rows::append_change(&mut tx, mutation, tenant_id, placement, origin, now).await?;

    tx.commit().await.map_err(Error::Catalog)?;
    Ok(change)
}

//! The catalog: the central database of tenants, their domains and the change log.
//!
//! Every write goes through [`Catalog::apply`], which checks the tenant's state, makes the
//! change and appends a row to the change log in one transaction. Hooks registered with
//! [`Catalog::watch`] see each change: at once for changes made by this process, and within
//! the poll interval for changes made by other processes sharing the catalog.
//!
//! The catalog lives in SQLite (a file, the default), PostgreSQL or MySQL/MariaDB; see
//! [`Catalog::open`]. The SQL is shared; `backend.rs` holds what differs.

mod backend;
mod mutation;
mod rows;
mod runs;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use crate::error::Error;
use crate::keys::{ApiKey, StoredKey};
use crate::server::Backend;
use crate::tenant::{Domain, Tenant, TenantStatus};
use crate::tenant_id::TenantId;
use crate::traffic::{RuleScope, TrafficRules};
use backend::{CatalogPool, Conn, query};

pub use mutation::Mutation;
pub use runs::{RunRecord, RunTenant};

/// How long a catalog writer waits for another writer before giving up.
///
/// The server and CLI processes share one catalog; a writer waits its turn rather than
/// failing ("database is locked" on SQLite, a lock wait timeout on the servers).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many times a write transaction the database rolled back as a deadlock victim is run
/// again before its error is returned.
const WRITE_ATTEMPTS: u32 = 5;

/// The URL schemes `catalog.url` accepts, as error messages list them.
pub const CATALOG_SCHEMES: &str = "sqlite, postgres (postgresql) or mysql (mariadb)";

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
    pool: CatalogPool,
    hooks: Arc<RwLock<Vec<Hook>>>,
    /// Held by each of this process's writers for its whole transaction: writers queue
    /// here, so at most one pooled connection waits on the database's write lock and the
    /// others stay free for reads.
    write_gate: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").finish_non_exhaustive()
    }
}

impl Catalog {
    /// Opens the catalog at `url` and brings its schema up to date.
    ///
    /// - `sqlite:PATH` or `sqlite://PATH`: a SQLite file, created if needed (see
    ///   [`Catalog::open_sqlite`]);
    /// - `postgres://user@host:5432/database` (or `postgresql://`);
    /// - `mysql://user@host:3306/database` (or `mariadb://`).
    ///
    /// On PostgreSQL and MySQL the database must exist; its tables are created on first
    /// use. The pool holds at most 4 connections to the server.
    pub async fn open(url: &str) -> Result<Self, Error> {
        let pool = match CatalogUrl::parse(url)? {
            CatalogUrl::Sqlite(path) => return Catalog::open_sqlite(&path).await,
            CatalogUrl::Postgres(options) => CatalogPool::postgres(options, BUSY_TIMEOUT).await?,
            CatalogUrl::MySql(options) => CatalogPool::mysql(options, BUSY_TIMEOUT).await?,
        };
        let catalog = Catalog::with_pool(pool);
        catalog.pool.migrate().await?;
        Ok(catalog)
    }

    fn with_pool(pool: CatalogPool) -> Self {
        Catalog {
            pool,
            hooks: Arc::default(),
            write_gate: Arc::default(),
        }
    }

    /// Which backend holds the catalog.
    pub fn backend(&self) -> Backend {
        match &self.pool {
            CatalogPool::Sqlite(_) => Backend::Sqlite,
            CatalogPool::Postgres(_) => Backend::Postgres,
            CatalogPool::MySql(_) => Backend::MySql,
        }
    }

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
            .max_connections(backend::MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(Error::Catalog)?;

        let catalog = Catalog::with_pool(CatalogPool::Sqlite(pool));
        catalog.pool.migrate().await?;
        Ok(catalog)
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
        let change = self.write(&mutation, origin).await?;

        tracing::debug!(seq = change.seq, action = %change.action, tenant_id = ?change.tenant_id, "catalog change");
        self.notify(&change);
        Ok(change)
    }

    /// Runs the mutation's transaction, again when the database rolled it back as a
    /// deadlock victim (the whole transaction is undone, so running it again is safe).
    async fn write(&self, mutation: &Mutation, origin: Origin<'_>) -> Result<Change, Error> {
        let _turn = self.write_gate.lock().await;
        let mut attempt = 1;
        loop {
            match apply_in_transaction(&self.pool, mutation, origin).await {
                Err(error) if attempt < WRITE_ATTEMPTS && backend::is_retryable(&error) => {
                    tracing::debug!(attempt, %error, "catalog write rolled back; running it again");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Every plan's and tenant's traffic rules.
    pub async fn traffic_rules(&self) -> Result<HashMap<RuleScope, TrafficRules>, Error> {
        let rows = self
            .pool
            .fetch_all(query("SELECT scope, rules FROM traffic_rules"))
            .await?;
        rows.iter()
            .map(|row| Ok((row.get::<String>("scope")?, row.get::<String>("rules")?)))
            .collect::<Result<Vec<_>, Error>>()?
            .into_iter()
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
        let select = query(
            "SELECT status, COUNT(*) AS tenants FROM tenants GROUP BY status ORDER BY status",
        );
        let rows = self.pool.fetch_all(select).await?;
        rows.iter()
            .map(|row| {
                let status: String = row.get("status")?;
                Ok((rows::parse_status(&status)?, row.get("tenants")?))
            })
            .collect()
    }

    /// Reads the catalog through a connection of its own, opened now, and answers how many
    /// tenants it holds. For readiness checks: the pool's open connections keep working on
    /// a file that was removed or replaced (and on a network server, a pooled connection
    /// says nothing of whether a new one would be accepted), while this fails as a restart
    /// would.
    ///
    /// Gives up after `wait` with [`Error::Catalog`] holding a pool timeout.
    pub async fn probe(&self, wait: Duration) -> Result<i64, Error> {
        match tokio::time::timeout(wait, self.pool.probe(wait)).await {
            Ok(result) => result,
            Err(_) => Err(Error::Catalog(sqlx::Error::PoolTimedOut)),
        }
    }

    /// How many tenants the catalog holds.
    pub async fn count_tenants(&self) -> Result<i64, Error> {
        self.pool
            .scalar(query("SELECT COUNT(*) FROM tenants"))
            .await
    }

    /// How many tenants each server holds, for placement.
    pub async fn tenants_per_server(
        &self,
    ) -> Result<std::collections::HashMap<String, i64>, Error> {
        let sql = "SELECT server, COUNT(*) AS tenants FROM tenants GROUP BY server";
        let rows = self.pool.fetch_all(query(sql)).await?;
        rows.iter()
            .map(|row| Ok((row.get("server")?, row.get("tenants")?)))
            .collect()
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
        let touch = query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
            .bind(at)
            .bind(id);
        self.pool.execute(touch).await?;
        Ok(())
    }

    /// The newest change's position, or 0 for an empty log.
    pub async fn last_change_seq(&self) -> Result<i64, Error> {
        let sql = "SELECT COALESCE(MAX(seq), 0) FROM changes";
        self.pool.scalar(query(sql)).await
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
        let (pool, write_gate) = (self.pool.clone(), self.write_gate.clone());

        Ok(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(hooks) = hooks.upgrade() else { break };
                let catalog = Catalog {
                    pool: pool.clone(),
                    hooks,
                    write_gate: write_gate.clone(),
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
    pool: &CatalogPool,
    mutation: &Mutation,
    origin: Origin<'_>,
) -> Result<Change, Error> {
    let mut tx = pool.begin_write().await?;
    let mut conn = tx.conn();
    let seq = next_seq(&mut conn).await?;
    // Microseconds: what PostgreSQL and MySQL keep, so the returned change equals the
    // stored one on every backend.
    let now = Utc::now().trunc_subsecs(6);

    // Read before the change, so a removed tenant's placement is still known to the
    // processes that must close its connections.
    let placement = match mutation.tenant_id() {
        Some(id) => rows::placement(&mut conn, id).await?,
        None => None,
    };
    let tenant_id = mutation.execute(&mut conn, now).await?;
    let change =
        rows::append_change(&mut conn, seq, mutation, tenant_id, placement, origin, now).await?;

    tx.commit().await?;
    Ok(change)
}

/// Takes the next position in the change log: the first statement of every change.
///
/// The update locks the one clock row until the transaction ends, so catalog writers run one
/// at a time and hand out positions in commit order: a change that commits later always has
/// the larger `seq`, and a rolled-back change gives its number back. A reader that has seen
/// `seq` n has therefore seen every change up to n, with no gaps, which is what the change
/// poller relies on. An auto-increment column would not do this on PostgreSQL or MySQL,
/// where a transaction can take a number, commit after one that took a larger number, and
/// slip past a poller that had already moved on.
async fn next_seq(conn: &mut Conn<'_>) -> Result<i64, Error> {
    conn.execute(query("UPDATE catalog_clock SET seq = seq + 1 WHERE id = 1"))
        .await?;
    conn.scalar(query("SELECT seq FROM catalog_clock WHERE id = 1"))
        .await
}

/// A catalog URL, parsed.
enum CatalogUrl {
    Sqlite(PathBuf),
    Postgres(PgConnectOptions),
    MySql(MySqlConnectOptions),
}

impl CatalogUrl {
    fn parse(url: &str) -> Result<Self, Error> {
        match catalog_backend(url)? {
            Backend::Sqlite => match sqlite_path(url) {
                path if path.as_os_str().is_empty() => Err(Error::InvalidInput {
                    field: "catalog.url",
                    reason: "a SQLite catalog URL must name its file (sqlite:data/catalog.sqlite)"
                        .to_owned(),
                }),
                path => Ok(CatalogUrl::Sqlite(path)),
            },
            Backend::Postgres => {
                let options =
                    PgConnectOptions::from_str(url).map_err(|error| invalid_url(url, error))?;
                // Without one, the catalog's tables would go into the user's default
                // database, often the server's shared `postgres`.
                if options.get_database().is_none_or(str::is_empty) {
                    return Err(Error::InvalidInput {
                        field: "catalog.url",
                        reason: "a PostgreSQL catalog URL must name its database \
                                 (postgres://user@host:5432/tenancy)"
                            .to_owned(),
                    });
                }
                Ok(CatalogUrl::Postgres(options))
            }
            _ => {
                let url = match url.strip_prefix("mariadb:") {
                    Some(rest) => format!("mysql:{rest}"),
                    None => url.to_owned(),
                };
                let options =
                    MySqlConnectOptions::from_str(&url).map_err(|e| invalid_url(&url, e))?;
                if options.get_database().is_none() {
                    return Err(Error::InvalidInput {
                        field: "catalog.url",
                        reason: "a MySQL catalog URL must name its database \
                                 (mysql://user@host:3306/tenancy)"
                            .to_owned(),
                    });
                }
                Ok(CatalogUrl::MySql(options))
            }
        }
    }
}

/// Checks a catalog URL without connecting: its scheme, its syntax, and that it names a
/// database (PostgreSQL, MySQL) or a file (SQLite). Returns the backend it names.
///
/// ```
/// use tenancy::Backend;
/// use tenancy::catalog::check_url;
///
/// assert_eq!(check_url("postgres://db/tenancy").unwrap(), Backend::Postgres);
/// assert!(check_url("mysql://root@db:3306").is_err(), "no database named");
/// assert!(check_url("postgres://db:5432").is_err(), "no database named");
/// assert!(check_url("redis://cache").is_err());
/// ```
pub fn check_url(url: &str) -> Result<Backend, Error> {
    CatalogUrl::parse(url).map(|parsed| match parsed {
        CatalogUrl::Sqlite(_) => Backend::Sqlite,
        CatalogUrl::Postgres(_) => Backend::Postgres,
        CatalogUrl::MySql(_) => Backend::MySql,
    })
}

/// Which backend a catalog URL names, by its scheme alone.
fn catalog_backend(url: &str) -> Result<Backend, Error> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme).unwrap_or("");
    match scheme {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        "mysql" | "mariadb" => Ok(Backend::MySql),
        _ => {
            let shown = match scheme {
                "" => "no scheme".to_owned(),
                scheme => format!("unknown scheme '{scheme}'"),
            };
            Err(Error::InvalidInput {
                field: "catalog.url",
                reason: format!("{shown}; the catalog runs on {CATALOG_SCHEMES}"),
            })
        }
    }
}

/// The file a `sqlite:` catalog URL names.
fn sqlite_path(url: &str) -> PathBuf {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    PathBuf::from(rest.strip_prefix("//").unwrap_or(rest))
}

fn invalid_url(url: &str, error: sqlx::Error) -> Error {
    // The URL may hold a password: show what follows the credentials only.
    let shown = url.split('@').next_back().unwrap_or("");
    Error::InvalidInput {
        field: "catalog.url",
        reason: format!("cannot parse '…{shown}': {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_scheme_names_its_backend() {
        let cases = [
            ("sqlite:data/catalog.sqlite", Backend::Sqlite),
            ("sqlite:///var/lib/tenancy/catalog.sqlite", Backend::Sqlite),
            ("postgres://postgres@db/tenancy", Backend::Postgres),
            ("postgresql://postgres@db/tenancy", Backend::Postgres),
            ("mysql://root@db:3306/tenancy", Backend::MySql),
            ("mariadb://root@db:3306/tenancy", Backend::MySql),
        ];
        for (url, backend) in cases {
            assert_eq!(catalog_backend(url).unwrap(), backend, "{url}");
        }
    }

    #[test]
    fn an_unknown_scheme_is_refused_naming_the_key_and_the_accepted_schemes() {
        let error = catalog_backend("redis://cache:6379")
            .unwrap_err()
            .to_string();
        assert!(error.contains("catalog.url"), "{error}");
        assert!(error.contains("'redis'"), "{error}");
        assert!(error.contains(CATALOG_SCHEMES), "{error}");
        let error = catalog_backend("/var/lib/catalog.sqlite")
            .unwrap_err()
            .to_string();
        assert!(error.contains("no scheme"), "{error}");
    }

    #[test]
    fn sqlite_urls_name_relative_and_absolute_files() {
        assert_eq!(
            sqlite_path("sqlite:data/c.sqlite"),
            Path::new("data/c.sqlite")
        );
        assert_eq!(
            sqlite_path("sqlite://data/c.sqlite"),
            Path::new("data/c.sqlite")
        );
        assert_eq!(
            sqlite_path("sqlite:///srv/c.sqlite"),
            Path::new("/srv/c.sqlite")
        );
    }
}

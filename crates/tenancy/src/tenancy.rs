//! The [`Tenancy`] handle: catalog, identification, servers and pools in one place.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::{Catalog, Change, Mutation};
use crate::error::{BoxError, Error};
use crate::identify::{Identified, IdentifyOptions, Request, Resolver};
use crate::migrate::TenantMigrations;
use crate::pool::{PoolManager, PoolOptions, PooledConnection};
use crate::server::{Connection, Server};
use crate::tenant::Tenant;
use crate::tenant_id::TenantId;
use crate::traffic::{RuleScope, TrafficRules, TrafficTable};

/// A boxed future, as returned by [`Seeder::seed`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Fills a new tenant database with starting data, after its migrations.
pub trait Seeder: Send + Sync + 'static {
    /// Seeds one tenant's database.
    fn seed<'a>(
        &'a self,
        tenant: &'a Tenant,
        conn: &'a mut Connection,
    ) -> BoxFuture<'a, Result<(), BoxError>>;
}

/// The name of the embedded SQLite server.
pub const LOCAL_SERVER: &str = "local";

/// Builds a [`Tenancy`].
pub struct TenancyBuilder {
    data_dir: PathBuf,
    catalog: Option<CatalogLocation>,
    identify: IdentifyOptions,
    pool: PoolOptions,
    migrations: TenantMigrations,
    seeder: Option<Arc<dyn Seeder>>,
    change_poll_interval: Duration,
    actor: Option<String>,
    servers: Vec<(Server, ServerOptions)>,
    local: Option<ServerOptions>,
}

/// Where the catalog is, as the builder was told.
enum CatalogLocation {
    Path(PathBuf),
    Url(String),
}

/// How one server takes part in placement and pooling.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The server's connection budget; default: [`PoolOptions::max_connections`].
    pub max_connections: Option<usize>,
    /// Whether the placement policy may put new tenants here. Default true. A server that
    /// does not accept new tenants still serves the ones it has, and `--server` can still
    /// name it.
    pub accepts_new_tenants: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_connections: None,
            accepts_new_tenants: true,
        }
    }
}

impl TenancyBuilder {
    /// Where the catalog lives, as a SQLite file; default `<data_dir>/catalog.sqlite`.
    /// Replaces an earlier [`TenancyBuilder::catalog_url`].
    pub fn catalog_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.catalog = Some(CatalogLocation::Path(path.into()));
        self
    }

    /// Where the catalog lives, as a URL: `sqlite:PATH`, `postgres://…` or `mysql://…`
    /// (see [`Catalog::open`]). Every process sharing tenants must name the same catalog.
    /// Replaces an earlier [`TenancyBuilder::catalog_path`].
    pub fn catalog_url(mut self, url: impl Into<String>) -> Self {
        self.catalog = Some(CatalogLocation::Url(url.into()));
        self
    }

    /// How requests are identified.
    pub fn identify(mut self, options: IdentifyOptions) -> Self {
        self.identify = options;
        self
    }

    /// Connection limits.
    pub fn pool(mut self, options: PoolOptions) -> Self {
        self.pool = options;
        self
    }

    /// The migrations every tenant database receives; default none.
    pub fn migrations(mut self, migrations: TenantMigrations) -> Self {
        self.migrations = migrations;
        self
    }

    /// The seeder run for tenants created with `seed` set.
    pub fn seeder(mut self, seeder: impl Seeder) -> Self {
        self.seeder = Some(Arc::new(seeder));
        self
    }

    /// How often to read changes made by other processes; default 500 ms, which keeps the
    /// promise that a change is seen everywhere within one second.
    pub fn change_poll_interval(mut self, interval: Duration) -> Self {
        self.change_poll_interval = interval;
        self
    }

    /// Adds a PostgreSQL or MySQL server (or another SQLite folder).
    pub fn server(mut self, server: Server, options: ServerOptions) -> Self {
        self.servers.push((server, options));
        self
    }

    /// Sets how the built-in SQLite server (`local`, files under `<data_dir>/tenants`)
    /// takes part; `None` turns it off. Default: on, accepting new tenants.
    pub fn local_server(mut self, options: Option<ServerOptions>) -> Self {
        self.local = options;
        self
    }

    /// Who is recorded in the change log for changes made through this handle.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Opens the catalog, sets up servers and pools, and starts the change poller.
    ///
    /// Opens no tenant database: those open on first use.
    pub async fn build(self) -> Result<Tenancy, Error> {
        let catalog = match &self.catalog {
            Some(CatalogLocation::Url(url)) => Catalog::open(url).await?,
            Some(CatalogLocation::Path(path)) => Catalog::open_sqlite(path).await?,
            None => Catalog::open_sqlite(&self.data_dir.join("catalog.sqlite")).await?,
        };
        let resolver = Resolver::new(catalog.clone(), self.identify);
        let mut servers = self.servers;
        if let Some(options) = self.local {
            let local = Server::sqlite(LOCAL_SERVER, self.data_dir.join("tenants"));
            servers.insert(0, (local, options));
        }
        refuse_duplicate_servers(&servers)?;
        let pool_options = self.pool.clone();
        let pools = PoolManager::new(servers.iter().map(|(server, options)| {
            let budget = options.max_connections.unwrap_or(self.pool.max_connections);
            (
                server.clone(),
                PoolOptions {
                    max_connections: budget,
                    ..self.pool.clone()
                },
            )
        }));
        close_pools_on_changes(&catalog, &pools);
        let traffic = TrafficTable::default();
        traffic.replace(catalog.traffic_rules().await?);
        reload_traffic_on_changes(&catalog, &traffic);
        let poller = catalog
            .spawn_change_poller(self.change_poll_interval)
            .await?;

        let inner = Inner {
            data_dir: self.data_dir,
            catalog,
            resolver,
            pools,
            accepting: servers
                .iter()
                .filter(|(_, options)| options.accepts_new_tenants)
                .map(|(server, _)| server.name().to_owned())
                .collect(),
            servers: servers.into_iter().map(|(server, _)| server).collect(),
            migrations: self.migrations,
            pool_options,
            seeder: self.seeder,
            traffic,
            turns: std::sync::Mutex::default(),
            poller,
        };
        let inner = Arc::new(inner);
        clear_caches_on_changes(&inner);
        Ok(Tenancy {
            inner,
            actor: self.actor.map(Arc::from),
            client_addr: None,
        })
    }
}

/// Reloads the traffic rules when any process changes them (or deletes a tenant, which
/// takes its rules along). The process that made the change reloads before it returns.
fn reload_traffic_on_changes(catalog: &Catalog, traffic: &TrafficTable) {
    let (reader, table) = (catalog.clone(), traffic.clone());
    catalog.watch(move |change| {
        let relevant = change.action.starts_with("traffic.") || change.action == "tenant.deleted";
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !relevant {
            return;
        }
        let (reader, table) = (reader.clone(), table.clone());
        runtime.spawn(async move {
            match reader.traffic_rules().await {
                Ok(rules) => table.replace(rules),
                // A short-lived process (the CLI) closes its catalog right after the change
                // that scheduled this reload; nothing is left to protect then.
                Err(Error::Catalog(sqlx::Error::PoolClosed)) => {
                    tracing::debug!("traffic rules not reloaded: the catalog is closed")
                }
                Err(error) => tracing::warn!(error = %crate::error_chain(&error), "reloading traffic rules failed"),
            }
        });
    });
}

/// Forgets every cached tenant when any process asks for it. A change about one tenant
/// already invalidates that tenant's entries through the resolver's own hook.
///
/// The hook holds the handle weakly: the catalog's hook list holding the resolver, which
/// holds the catalog, would keep both alive for ever.
fn clear_caches_on_changes(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    inner.catalog.watch(move |change| {
        if !change.clears_all_caches() {
            return;
        }
        if let Some(inner) = weak.upgrade() {
            inner.resolver.invalidate_all();
        }
    });
}

fn refuse_duplicate_servers(servers: &[(Server, ServerOptions)]) -> Result<(), Error> {
    for (index, (server, _)) in servers.iter().enumerate() {
        if servers[..index]
            .iter()
            .any(|(other, _)| other.name() == server.name())
        {
            return Err(Error::InvalidInput {
                field: "servers",
                reason: format!("server '{}' is configured twice", server.name()),
            });
        }
    }
    Ok(())
}

/// Closes a tenant's connections in this process when any process suspends, pauses or
/// deletes it: the gate then refuses its requests, and no connection to its database stays.
fn close_pools_on_changes(catalog: &Catalog, pools: &PoolManager) {
    let pools = pools.clone();
    catalog.watch(move |change| {
        if !change.closes_connections() {
            return;
        }
        let Some((server, database)) = change.placement() else {
            return;
        };
        let (Ok(pool), Ok(runtime)) = (pools.server(server), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let (pool, database) = (pool.clone(), database.to_owned());
        runtime.spawn(async move { pool.close_database(&database).await });
    });
}

pub(crate) struct Inner {
    pub(crate) data_dir: PathBuf,
    pub(crate) catalog: Catalog,
    pub(crate) resolver: Resolver,
    pub(crate) pools: PoolManager,
    pub(crate) servers: Vec<Server>,
    pub(crate) accepting: Vec<String>,
    pub(crate) migrations: TenantMigrations,
    pub(crate) pool_options: PoolOptions,
    pub(crate) seeder: Option<Arc<dyn Seeder>>,
    pub(crate) traffic: TrafficTable,
    /// One lock per tenant whose storage this process is dropping or rebuilding (a delete
    /// being finished, a reset), so that two such jobs on one tenant take turns on every
    /// backend; SQLite tenants also take their lock file, which other processes see.
    pub(crate) turns: std::sync::Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>,
    poller: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// The multi-tenancy handle an application holds. Cheap to clone.
///
/// Every catalog change made through it is recorded in the change log with its actor,
/// invalidates this process's caches before returning, and reaches other processes through
/// the log.
#[derive(Clone)]
pub struct Tenancy {
    pub(crate) inner: Arc<Inner>,
    actor: Option<Arc<str>>,
    client_addr: Option<Arc<str>>,
}

impl std::fmt::Debug for Tenancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenancy")
            .field("actor", &self.actor)
            .field("client_addr", &self.client_addr)
            .finish_non_exhaustive()
    }
}

impl Tenancy {
    /// Starts building a handle whose data (catalog, SQLite tenants) lives under `data_dir`.
    pub fn builder(data_dir: impl Into<PathBuf>) -> TenancyBuilder {
        TenancyBuilder {
            data_dir: data_dir.into(),
            catalog: None,
            identify: IdentifyOptions::default(),
            pool: PoolOptions::default(),
            migrations: TenantMigrations::none(),
            seeder: None,
            change_poll_interval: Duration::from_millis(500),
            actor: None,
            servers: Vec::new(),
            local: Some(ServerOptions::default()),
        }
    }

    /// The same handle, recording `actor` for the changes it makes.
    pub fn with_actor(&self, actor: impl Into<String>) -> Self {
        Tenancy {
            inner: self.inner.clone(),
            actor: Some(Arc::from(actor.into())),
            client_addr: self.client_addr.clone(),
        }
    }

    /// The same handle, recording `client_addr` (where a request came from) with the
    /// changes it makes, for the audit log.
    pub fn with_client_addr(&self, client_addr: impl Into<String>) -> Self {
        Tenancy {
            inner: self.inner.clone(),
            actor: self.actor.clone(),
            client_addr: Some(Arc::from(client_addr.into())),
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// The resolver and its caches.
    pub fn resolver(&self) -> &Resolver {
        &self.inner.resolver
    }

    /// The connection manager.
    pub fn pools(&self) -> &PoolManager {
        &self.inner.pools
    }

    /// The tenant migrations this handle applies.
    pub fn migrations(&self) -> &TenantMigrations {
        &self.inner.migrations
    }

    /// The connection limits in force.
    pub fn pool_options(&self) -> &PoolOptions {
        &self.inner.pool_options
    }

    /// The configured servers.
    pub fn servers(&self) -> &[Server] {
        &self.inner.servers
    }

    /// Whether the placement policy may put new tenants on the named server.
    pub fn accepts_new_tenants(&self, server: &str) -> bool {
        self.inner.accepting.iter().any(|name| name == server)
    }

    /// The server of this name.
    pub fn server(&self, name: &str) -> Result<&Server, Error> {
        self.inner
            .servers
            .iter()
            .find(|server| server.name() == name)
            .ok_or_else(|| Error::UnknownServer(name.to_owned()))
    }

    /// The traffic rules in force (rate limits, IP lists), by plan and tenant.
    pub fn traffic(&self) -> &TrafficTable {
        &self.inner.traffic
    }

    /// Sets the traffic rules of a plan or tenant (`None` removes them). They apply from
    /// the next request in this process and within a second in every other.
    pub async fn set_traffic_rules(
        &self,
        scope: RuleScope,
        rules: Option<TrafficRules>,
    ) -> Result<Change, Error> {
        if let Some(rules) = &rules {
            rules.validate()?;
        }
        let change = self
            .apply(Mutation::SetTrafficRules { scope, rules })
            .await?;
        self.inner
            .traffic
            .replace(self.inner.catalog.traffic_rules().await?);
        Ok(change)
    }

    /// Makes every process forget what it cached about one tenant (`Some`) or about every
    /// tenant (`None`): this process before returning, the others within a second. For a
    /// catalog changed by hand, outside the change log.
    pub async fn clear_cache(&self, id: Option<&TenantId>) -> Result<Change, Error> {
        self.apply(Mutation::ClearCache { id: id.cloned() }).await
    }

    /// Identifies the tenant of a request.
    pub async fn identify(&self, request: Request<'_>) -> Result<Identified, Error> {
        self.inner.resolver.identify(request).await
    }

    /// Checks out a connection to the tenant's database.
    ///
    /// This does not check the tenant's status: the HTTP layer does that before a handler
    /// runs. Code that holds a tenant from elsewhere should check it first.
    pub async fn connect(&self, tenant: &Tenant) -> Result<PooledConnection, Error> {
        self.inner
            .pools
            .server(&tenant.server)?
            .acquire(&tenant.database)
            .await
    }

    /// The bytes the tenant's database takes on its server (see the backends' notes on
    /// [`Server`]'s storage). Network servers answer over an admin connection, which counts
    /// against the server's budget like any other.
    pub async fn database_size(&self, tenant: &Tenant) -> Result<u64, Error> {
        let pool = self.inner.pools.server(&tenant.server)?;
        let mut admin = pool.admin().await?;
        pool.server()
            .storage_size(admin.conn(), &tenant.database)
            .await
    }

    pub(crate) fn actor(&self) -> Option<&str> {
        self.actor.as_deref()
    }

    pub(crate) async fn apply(&self, mutation: Mutation) -> Result<Change, Error> {
        let origin = crate::catalog::Origin {
            actor: self.actor.as_deref(),
            client_addr: self.client_addr.as_deref(),
        };
        self.inner.catalog.apply_from(mutation, origin).await
    }

    /// Closes every pool and the catalog. Requests still in flight finish on their
    /// connections, which close when returned.
    pub async fn shutdown(&self) {
        // Stopped first: a poll racing the catalog's close would report a spurious failure.
        self.inner.poller.abort();
        self.inner.pools.shutdown().await;
        self.inner.catalog.close().await;
    }
}

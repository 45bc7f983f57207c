//! Identification: which tenant a request is for, from its host (and, on central hosts,
//! an opt-in header or path prefix).
//!
//! Order: central host → exact domain → subdomain one label below a central domain. On a
//! central host only, the `X-Tenant` header and then a `/t/{id}/` path prefix may name a
//! tenant when enabled. Results are cached in process; see [`Resolver`] for freshness.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moka::sync::Cache;

use crate::catalog::{Catalog, Change};
use crate::error::Error;
use crate::host::normalize_host;
use crate::tenant::Tenant;
use crate::tenant_id::TenantId;

/// How tenants are identified.
#[derive(Debug, Clone)]
pub struct IdentifyOptions {
    /// Central domains: they serve the admin side, and `<id>.<central>` is tenant `<id>`.
    /// A leading `www.` on a central domain counts as the central domain itself.
    ///
    /// Default: `localhost`, `127.0.0.1`, `[::1]`.
    pub central_domains: Vec<String>,
    /// Accept the `X-Tenant` header on central hosts. Default off: a header is easy to
    /// forge, so turning it on is a decision for deployments behind a trusted proxy.
    pub header: bool,
    /// Accept a `/t/{id}/` path prefix on central hosts (stripped before the application's
    /// routes). Default off.
    pub path_prefix: bool,
    /// How many host resolutions (known and unknown hosts) to cache. Default 100,000.
    pub cache_capacity: u64,
}

impl Default for IdentifyOptions {
    fn default() -> Self {
        IdentifyOptions {
            central_domains: vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()],
            header: false,
            path_prefix: false,
            cache_capacity: 100_000,
        }
    }
}

/// The name of the opt-in identification header.
pub const TENANT_HEADER: &str = "x-tenant";

/// How a tenant was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The host is one of the tenant's domains.
    Domain,
    /// The host is `<id>.<central domain>`.
    Subdomain,
    /// The `X-Tenant` header on a central host.
    Header,
    /// A `/t/{id}/` path prefix on a central host.
    Path,
}

/// The outcome of identifying a request.
#[derive(Debug, Clone)]
pub enum Identified {
    /// A central host with no tenant named: the admin side.
    Central,
    /// A tenant, in whatever state it is; the caller decides whether to serve it.
    Tenant {
        /// The tenant as last seen in the catalog.
        tenant: Arc<Tenant>,
        /// How it was found.
        method: Method,
        /// For [`Method::Path`], the request path with the prefix removed.
        stripped_path: Option<String>,
    },
    /// A host (or header, or path) that names no tenant.
    Unknown,
}

/// What one request offers for identification.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The raw `Host` header or URI authority.
    pub host: &'a str,
    /// The raw `X-Tenant` header, if present.
    pub header: Option<&'a str>,
    /// The request path.
    pub path: &'a str,
}

#[derive(Debug, Clone)]
enum HostRoute {
    Domain(TenantId),
    Subdomain(TenantId),
    Unknown,
}

/// Resolves requests to tenants, with in-process caches.
///
/// Freshness: a catalog change made through the same [`Catalog`] invalidates the caches
/// before the change returns, so the next request sees it. Changes made by other processes
/// arrive through the catalog's change poller (see [`Catalog::spawn_change_poller`]).
#[derive(Clone)]
pub struct Resolver {
    catalog: Catalog,
    options: Arc<IdentifyOptions>,
    caches: Caches,
}

/// The caches alone, so the catalog's change hook can hold them without holding the
/// catalog itself (which would keep the catalog alive through its own hook list).
#[derive(Clone)]
struct Caches {
    hosts: Cache<String, HostRoute>,
    tenants: Cache<TenantId, Option<Arc<Tenant>>>,
    /// Bumped by every invalidation. A lookup that started before a bump does not cache
    /// what it read, since the catalog may have changed under it.
    epoch: Arc<AtomicU64>,
}

impl Caches {
    fn invalidate(&self, change: &Change) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(id) = &change.tenant_id {
            self.tenants.invalidate(id);
        }
        if change.affects_routing() {
            self.hosts.invalidate_all();
        }
    }
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver over `catalog`; registers itself for the catalog's changes.
    pub fn new(catalog: Catalog, mut options: IdentifyOptions) -> Self {
        options.central_domains = normalize_central(&options.central_domains);
        // The TTL is a safety net only; invalidation normally comes from the change log.
        let ttl = Duration::from_secs(300);
        let caches = Caches {
            hosts: Cache::builder()
                .max_capacity(options.cache_capacity)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build(),
            tenants: Cache::builder()
                .max_capacity(options.cache_capacity)
                .time_to_live(ttl)
                .build(),
            epoch: Arc::default(),
        };
        let hook = caches.clone();
        catalog.watch(move |change| hook.invalidate(change));
        Resolver {
            catalog,
            options: Arc::new(options),
            caches,
        }
    }

    /// The options in force (central domains normalised).
    pub fn options(&self) -> &IdentifyOptions {
        &self.options
    }

    /// Forgets what a change may have made stale.
    pub fn invalidate(&self, change: &Change) {
        self.caches.invalidate(change);
    }

    /// Forgets one tenant's cached state and the hosts that lead to it.
    pub fn invalidate_tenant(&self, id: &TenantId) {
        self.caches.epoch.fetch_add(1, Ordering::SeqCst);
        self.caches.tenants.invalidate(id);
        let id = id.clone();
        self.caches
            .hosts
            .invalidate_entries_if(move |_, route| match route {
                HostRoute::Domain(owner) | HostRoute::Subdomain(owner) => *owner == id,
                HostRoute::Unknown => false,
            })
            .expect("invalidation closures are enabled on the host cache");
    }

    /// Forgets everything cached.
    pub fn invalidate_all(&self) {
        self.caches.epoch.fetch_add(1, Ordering::SeqCst);
        self.caches.tenants.invalidate_all();
        self.caches.hosts.invalidate_all();
    }

    /// Identifies the tenant of a request.
    ///
    /// Fails with [`Error::InvalidHost`] when the host cannot be normalised, and with a
    /// catalog error when the catalog cannot be read; everything else is an [`Identified`].
    pub async fn identify(&self, request: Request<'_>) -> Result<Identified, Error> {
        let host = normalize_host(request.host)?;
        if self.is_central(&host) {
            return self.identify_on_central(request).await;
        }
        let (id, method) = match self.route(host).await? {
            HostRoute::Domain(id) => (id, Method::Domain),
            HostRoute::Subdomain(id) => (id, Method::Subdomain),
            HostRoute::Unknown => return Ok(Identified::Unknown),
        };
        self.found(&id, method, None).await
    }

    async fn identify_on_central(&self, request: Request<'_>) -> Result<Identified, Error> {
        if self.options.header
            && let Some(raw) = request.header
        {
            let Ok(id) = TenantId::parse(raw.trim()) else {
                return Ok(Identified::Unknown);
            };
            return self.found(&id, Method::Header, None).await;
        }
        if self.options.path_prefix
            && let Some((raw, rest)) = split_path_prefix(request.path)
        {
            let Ok(id) = TenantId::parse(raw) else {
                return Ok(Identified::Unknown);
            };
            return self.found(&id, Method::Path, Some(rest)).await;
        }
        Ok(Identified::Central)
    }

    async fn found(
        &self,
        id: &TenantId,
        method: Method,
        stripped_path: Option<String>,
    ) -> Result<Identified, Error> {
        Ok(match self.tenant(id).await? {
            Some(tenant) => Identified::Tenant {
                tenant,
                method,
                stripped_path,
            },
            None => Identified::Unknown,
        })
    }

    /// Whether a normalised host is central (`www.` + a central domain included).
    pub fn is_central(&self, host: &str) -> bool {
        let bare = host.strip_prefix("www.").unwrap_or(host);
        self.options
            .central_domains
            .iter()
            .any(|central| central == host || central == bare)
    }

    async fn route(&self, host: String) -> Result<HostRoute, Error> {
        if let Some(route) = self.caches.hosts.get(&host) {
            return Ok(route);
        }
        let epoch = self.caches.epoch.load(Ordering::SeqCst);
        let route = match self.catalog.tenant_for_domain(&host).await? {
            Some(id) => HostRoute::Domain(id),
            None => self.subdomain_route(&host),
        };
        if self.caches.epoch.load(Ordering::SeqCst) == epoch {
            self.caches.hosts.insert(host, route.clone());
        }
        Ok(route)
    }

    fn subdomain_route(&self, host: &str) -> HostRoute {
        match self
            .subdomain_label(host)
            .map(|(label, _)| TenantId::parse(label))
        {
            Some(Ok(id)) => HostRoute::Subdomain(id),
            _ => HostRoute::Unknown,
        }
    }

    /// The central domain a normalised host is exactly one label below, if any
    /// (`example.test` for `acme.example.test`, nothing for `app.acme.example.test`).
    ///
    /// Such hosts are reserved for identification by subdomain: a tenant domain among them
    /// would be tried first and take the host from the tenant whose id is the label.
    pub fn subdomain_parent(&self, host: &str) -> Option<&str> {
        self.subdomain_label(host).map(|(_, central)| central)
    }

    fn subdomain_label<'h>(&self, host: &'h str) -> Option<(&'h str, &str)> {
        self.options.central_domains.iter().find_map(|central| {
            let label = host.strip_suffix(central.as_str())?.strip_suffix('.')?;
            (!label.is_empty() && !label.contains('.')).then_some((label, central.as_str()))
        })
    }

    /// A tenant by id, through the cache.
    pub async fn tenant(&self, id: &TenantId) -> Result<Option<Arc<Tenant>>, Error> {
        if let Some(cached) = self.caches.tenants.get(id) {
            return Ok(cached);
        }
        let epoch = self.caches.epoch.load(Ordering::SeqCst);
        let tenant = self.catalog.tenant(id).await?.map(Arc::new);
        if self.caches.epoch.load(Ordering::SeqCst) == epoch {
            self.caches.tenants.insert(id.clone(), tenant.clone());
        }
        Ok(tenant)
    }
}

fn normalize_central(domains: &[String]) -> Vec<String> {
    domains
        .iter()
        .map(|domain| normalize_host(domain).unwrap_or_else(|_| domain.clone()))
        .collect()
}

/// Splits `/t/{id}/rest` into `id` and `/rest`; `/t/{id}` alone leaves `/`.
fn split_path_prefix(path: &str) -> Option<(&str, String)> {
    let after = path.strip_prefix("/t/")?;
    let (id, rest) = match after.find('/') {
        Some(slash) => (&after[..slash], after[slash..].to_owned()),
        None => (after, "/".to_owned()),
    };
    (!id.is_empty()).then_some((id, rest))
}

#[cfg(test)]
mod tests {
    use super::split_path_prefix;

    #[test]
    fn path_prefix_is_split_from_the_rest_of_the_path() {
        assert_eq!(
            split_path_prefix("/t/acme/notes"),
            Some(("acme", "/notes".to_owned()))
        );
        assert_eq!(split_path_prefix("/t/acme"), Some(("acme", "/".to_owned())));
        assert_eq!(
            split_path_prefix("/t/acme/"),
            Some(("acme", "/".to_owned()))
        );
    }

    #[test]
    fn paths_without_the_prefix_are_left_alone() {
        assert_eq!(split_path_prefix("/notes"), None);
        assert_eq!(split_path_prefix("/t/"), None);
        assert_eq!(split_path_prefix("/tenants/acme"), None);
    }
}

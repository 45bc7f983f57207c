//! The tenant lifecycle: create, change status, delete, and repair what a crash left.
//!
//! Creation builds the database under a partial name and gives it its real name only once
//! migrations and seeding succeeded, so a failure at any step leaves no database that looks
//! like a tenant's, and the tenant `failed` with its reason. Deletion marks the tenant
//! `deleting` first, so it is never served without storage.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use crate::catalog::{Mutation, TenantFilter};
use crate::error::{Error, error_chain};
use crate::host::normalize_host;
use crate::pool::PooledConnection;
use crate::server::{Backend, Connection, FileLock, PARTIAL_SUFFIX, Server};
use crate::tenancy::Tenancy;
use crate::tenant::{NewTenant, Tenant, TenantStatus, TenantUpdate};
use crate::tenant_id::TenantId;

/// The `Retry-After` of maintenance when none is given, in seconds.
pub const DEFAULT_MAINTENANCE_RETRY_AFTER_SECS: u32 = 60;

/// The longest maintenance `Retry-After` the CLI and the admin API accept: a day.
pub const MAX_MAINTENANCE_RETRY_AFTER_SECS: u32 = 86_400;

/// How long a delete waits between marking a tenant `deleting` and dropping its storage.
///
/// It is the freshness bound of the change log: other processes read changes every 500 ms
/// by default ([`crate::TenancyBuilder::change_poll_interval`]), so within a second they
/// have stopped serving the tenant and closed their connections to it. A process polling
/// less often than this can still be writing when the storage goes.
pub(crate) const DELETE_GRACE: Duration = Duration::from_secs(1);

/// How long a finisher of a SQLite tenant's delete waits for the tenant's lock file, held by
/// another finisher (of this or another process) or by a reset or migration still at work.
const FINISH_LOCK_WAIT: Duration = Duration::from_secs(30);

impl Tenancy {
    /// Creates a tenant: catalog row, database, migrations, optional seed, then `active`.
    ///
    /// Creating a `failed` tenant again retries it. On failure the tenant is left `failed`
    /// with the reason, no partial database remains, and the error is returned.
    pub async fn create_tenant(&self, new: NewTenant) -> Result<Tenant, Error> {
        self.start_creation(new).await?.finish().await
    }

    /// The first half of [`Tenancy::create_tenant`]: checks the request and writes the
    /// tenant as `provisioning`, leaving the storage to [`Creation::finish`], which a caller
    /// may run in the background.
    ///
    /// Everything refused here (a taken id, leftover storage, an unknown server) leaves no
    /// trace. A creation dropped without finishing leaves the tenant `provisioning`, which
    /// `doctor` reports and [`Tenancy::repair`] resolves.
    pub async fn start_creation(&self, new: NewTenant) -> Result<Creation, Error> {
        if new.seed && self.inner.seeder.is_none() {
            return Err(Error::InvalidInput {
                field: "seed",
                reason: "this application has no seeder; create the tenant without seeding"
                    .to_owned(),
            });
        }
        let server = self.place(new.server.as_deref()).await?.clone();
        let domains = self.normalize_domains(&new.domains)?;
        let database = server.database_name(&new.id)?;
        self.refuse_existing(&new.id, &server, &database).await?;
        // Held until the outcome is recorded, so that a repair leaves this creation alone.
        let file_lock = self.lock_for_creation(&new.id, &server, &database).await?;
        self.release_old_connections(&new.id, &server, &database)
            .await?;

        self.apply(Mutation::Create {
            id: new.id.clone(),
            name: new.name.clone().unwrap_or_else(|| new.id.to_string()),
            plan: new.plan.clone(),
            data: new.data.clone().unwrap_or_else(|| serde_json::json!({})),
            server: server.name().to_owned(),
            database: database.clone(),
            domains,
        })
        .await?;
        let tenant = self.catalog().require_tenant(&new.id).await?;
        Ok(Creation {
            tenancy: self.clone(),
            server,
            tenant,
            seed: new.seed,
            file_lock,
        })
    }

    /// Builds the storage of a tenant written as `provisioning`, then records the outcome.
    ///
    /// `Provisioned` is refused when a repair claimed the tenant meanwhile (it is `failed`
    /// then); the storage built is dropped like any other failure's, so a tenant never ends
    /// `failed` with storage nor `active` without.
    async fn provision(
        &self,
        server: &Server,
        tenant: &Tenant,
        seed: bool,
    ) -> Result<Tenant, Error> {
        let session_lock = match self.build_storage(server, tenant, seed).await {
            Ok(session_lock) => session_lock,
            Err(error) => return Err(self.fail_provisioning(server, tenant, error).await),
        };
        let provisioned = self
            .apply(Mutation::Provisioned {
                id: tenant.id.clone(),
            })
            .await;
        self.unlock_session(server, session_lock, &tenant.database)
            .await;

        match provisioned {
            Ok(_) => self.catalog().require_tenant(&tenant.id).await,
            Err(error) => Err(self.fail_provisioning(server, tenant, error).await),
        }
    }

    /// SQLite: takes the tenant's file lock (the one migration runs take) before the row is
    /// written, so a repair sees it held for as long as the creation runs. Network servers
    /// lock on the building connection instead, once the database exists (see
    /// [`Self::build_storage`]).
    async fn lock_for_creation(
        &self,
        id: &TenantId,
        server: &Server,
        database: &str,
    ) -> Result<Option<FileLock>, Error> {
        let wait = self.pool_options().acquire_timeout;
        match server.lock_file(database, wait).await? {
            Some(lock) => Ok(Some(lock)),
            // Taken for longer than a repair takes it: another creation of this id runs.
            None if server.backend() == Backend::Sqlite => Err(Error::TenantExists(id.clone())),
            None => Ok(None),
        }
    }

    /// The server a new tenant goes to: the one asked for, or among the servers that accept
    /// new tenants, the one holding the fewest.
    async fn place(&self, requested: Option<&str>) -> Result<&Server, Error> {
        if let Some(name) = requested {
            return self.server(name);
        }
        let counts = self.catalog().tenants_per_server().await?;
        let count = |server: &Server| counts.get(server.name()).copied().unwrap_or(0);
        self.servers()
            .iter()
            .filter(|server| self.accepts_new_tenants(server.name()))
            .min_by_key(|server| (count(server), server.name().to_owned()))
            .ok_or_else(|| Error::InvalidInput {
                field: "server",
                reason: "no configured server accepts new tenants".to_owned(),
            })
    }

    fn normalize_domains(&self, domains: &[String]) -> Result<Vec<String>, Error> {
        domains
            .iter()
            .map(|domain| self.normalize_domain(domain))
            .collect()
    }

    /// Normalises a domain for storage, refusing the hosts a tenant domain must not take.
    ///
    /// Central hosts never name a tenant. A host exactly one label below a central domain
    /// (`acme.example.test`) is reserved for identification by subdomain, whether or not a
    /// tenant of that id exists yet: exact domains are tried first, so as a domain it would
    /// take the host from the tenant whose id is the label. Deeper hosts
    /// (`app.acme.example.test`, `www.acme.example.test`) name no tenant by subdomain and
    /// are allowed.
    pub fn normalize_domain(&self, domain: &str) -> Result<String, Error> {
        let host = normalize_host(domain)?;
        let refused = |reason: String| Error::InvalidInput {
            field: "domain",
            reason,
        };
        if self.resolver().is_central(&host) {
            return Err(refused(format!(
                "'{host}' is a central host and cannot belong to a tenant"
            )));
        }
        if let Some(central) = self.resolver().subdomain_parent(&host) {
            return Err(refused(format!(
                "'{host}' is one label below the central domain '{central}'; such hosts are \
                 reserved for identifying tenants by subdomain"
            )));
        }
        Ok(host)
    }

    async fn refuse_existing(&self, id: &TenantId, server: &Server, db: &str) -> Result<(), Error> {
        match self.catalog().tenant(id).await? {
            // Not "already exists": the tenant is going, and the id is free once it has.
            Some(tenant) if tenant.status == TenantStatus::Deleting => Err(Error::InvalidState {
                tenant_id: id.clone(),
                status: tenant.status,
                operation: "be created again until its delete has finished",
            }),
            Some(tenant) if tenant.status != TenantStatus::Failed => {
                Err(Error::TenantExists(id.clone()))
            }
            _ if self.storage_exists(server, db).await? => Err(Error::LeftoverStorage {
                tenant_id: id.clone(),
                location: server.location(db),
            }),
            _ => Ok(()),
        }
    }

    /// A connection to a deleted database of the same name, still checked out somewhere,
    /// would on closing remove the new database's journal files by name: wait it out.
    async fn release_old_connections(
        &self,
        id: &TenantId,
        server: &Server,
        database: &str,
    ) -> Result<(), Error> {
        let pool = self.pools().server(server.name())?;
        pool.close_database(database).await;
        match pool
            .wait_released(database, self.pool_options().acquire_timeout)
            .await
        {
            true => Ok(()),
            false => Err(Error::StillInUse(id.clone())),
        }
    }

    /// Creates and builds the tenant's storage. On a network server the building connection
    /// is returned holding the tenant's server-side lock, for the caller to release once
    /// the outcome is recorded.
    async fn build_storage(
        &self,
        server: &Server,
        tenant: &Tenant,
        seed: bool,
    ) -> Result<Option<PooledConnection>, Error> {
        let pool = self.pools().server(server.name())?;
        let mut admin = pool.admin().await?;
        let built = server
            .create_storage(admin.conn(), &tenant.database)
            .await?;
        drop(admin);

        match built {
            // SQLite: built on its own connection under the partial name, then renamed.
            Some(mut conn) => {
                let prepared = self.migrate_and_seed(tenant, &mut conn, seed).await;
                conn.close().await;
                prepared?;
                server.commit_storage(&tenant.database).map(|()| None)
            }
            // Network servers: built through the pool, within the server's budget. Without
            // the lock (a repair holds it) the build goes on: the repair's claim makes our
            // `Provisioned` fail, and the storage is dropped then.
            None => {
                let mut conn = pool.acquire(&tenant.database).await?;
                if !server.try_lock(&mut conn, &tenant.database).await? {
                    tracing::debug!(tenant_id = %tenant.id, "a repair holds the tenant's lock");
                }
                self.migrate_and_seed(tenant, &mut conn, seed).await?;
                Ok(Some(conn))
            }
        }
    }

    /// Releases a server-side tenant lock; a connection that may still hold it is closed.
    async fn unlock_session(&self, server: &Server, conn: Option<PooledConnection>, db: &str) {
        let Some(mut conn) = conn else {
            return;
        };
        if let Err(error) = server.unlock(&mut conn, db).await {
            conn.discard();
            tracing::warn!(server = server.name(), error = %error_chain(&error), "releasing a tenant lock failed");
        }
    }

    async fn storage_exists(&self, server: &Server, database: &str) -> Result<bool, Error> {
        let mut admin = self.pools().server(server.name())?.admin().await?;
        server.storage_exists(admin.conn(), database).await
    }

    async fn drop_storage(&self, server: &Server, database: &str) -> Result<(), Error> {
        let pool = self.pools().server(server.name())?;
        pool.close_database(database).await;
        server.drop_partial(database)?;
        let mut admin = pool.admin().await?;
        server.drop_storage(admin.conn(), database).await
    }

    async fn migrate_and_seed(
        &self,
        tenant: &Tenant,
        conn: &mut Connection,
        seed: bool,
    ) -> Result<(), Error> {
        self.inner.migrations.run(&tenant.id, conn).await?;

        match (&self.inner.seeder, seed) {
            (Some(seeder), true) => seeder
                .seed(tenant, conn)
                .await
                .map_err(|source| Error::Seed {
                    tenant_id: tenant.id.clone(),
                    source,
                }),
            _ => Ok(()),
        }
    }

    /// Drops what a creation built and marks the tenant `failed`.
    ///
    /// Dropping first is safe here, unlike in a repair: the creation owns the storage, and
    /// while it holds the tenant's lock no repair can make the tenant `active`.
    async fn fail_provisioning(&self, server: &Server, tenant: &Tenant, error: Error) -> Error {
        if let Err(cleanup) = self.drop_storage(server, &tenant.database).await {
            tracing::warn!(tenant_id = %tenant.id, error = %cleanup, "removing a partial tenant database failed");
        }
        let reason = error_chain(&error);
        let failed = Mutation::Failed {
            id: tenant.id.clone(),
            reason,
        };
        match self.apply(failed).await {
            Ok(_) => {}
            // A repair marked it failed already.
            Err(Error::InvalidState {
                status: TenantStatus::Failed,
                ..
            }) => {}
            Err(catalog) => {
                tracing::error!(tenant_id = %tenant.id, error = %catalog, "recording a provisioning failure failed");
            }
        }
        error
    }

    /// Suspends a tenant: answered with 403 from the next request, its connections closed.
    pub async fn suspend_tenant(
        &self,
        id: &TenantId,
        reason: Option<String>,
    ) -> Result<Tenant, Error> {
        self.apply(Mutation::Suspend {
            id: id.clone(),
            reason,
        })
        .await?;
        self.close_tenant_pool(id).await
    }

    /// Activates a suspended tenant or one in maintenance.
    pub async fn activate_tenant(&self, id: &TenantId) -> Result<Tenant, Error> {
        self.apply(Mutation::Activate { id: id.clone() }).await?;
        self.catalog().require_tenant(id).await
    }

    /// Puts a tenant in maintenance: 503 with `Retry-After: retry_after_secs`.
    pub async fn start_maintenance(
        &self,
        id: &TenantId,
        retry_after_secs: u32,
    ) -> Result<Tenant, Error> {
        self.apply(Mutation::MaintenanceOn {
            id: id.clone(),
            retry_after_secs,
        })
        .await?;
        self.close_tenant_pool(id).await
    }

    /// Takes a tenant out of maintenance.
    pub async fn end_maintenance(&self, id: &TenantId) -> Result<Tenant, Error> {
        self.apply(Mutation::MaintenanceOff { id: id.clone() })
            .await?;
        self.catalog().require_tenant(id).await
    }

    /// Changes a tenant's name, plan or data.
    pub async fn update_tenant(
        &self,
        id: &TenantId,
        update: TenantUpdate,
    ) -> Result<Tenant, Error> {
        self.apply(Mutation::Update {
            id: id.clone(),
            update,
        })
        .await?;
        self.catalog().require_tenant(id).await
    }

    /// Attaches a domain to a tenant.
    pub async fn add_domain(
        &self,
        id: &TenantId,
        domain: &str,
        primary: bool,
    ) -> Result<String, Error> {
        let host = self.normalize_domain(domain)?;
        self.apply(Mutation::AddDomain {
            id: id.clone(),
            host: host.clone(),
            primary,
        })
        .await?;
        Ok(host)
    }

    /// Detaches a domain from its tenant.
    pub async fn remove_domain(&self, domain: &str) -> Result<String, Error> {
        let host = normalize_host(domain)?;
        self.apply(Mutation::RemoveDomain { host: host.clone() })
            .await?;
        Ok(host)
    }

    /// Makes a domain its tenant's primary domain.
    pub async fn set_primary_domain(&self, domain: &str) -> Result<String, Error> {
        let host = normalize_host(domain)?;
        self.apply(Mutation::SetPrimaryDomain { host: host.clone() })
            .await?;
        Ok(host)
    }

    async fn close_tenant_pool(&self, id: &TenantId) -> Result<Tenant, Error> {
        let tenant = self.catalog().require_tenant(id).await?;
        self.pools()
            .server(&tenant.server)?
            .close_database(&tenant.database)
            .await;
        Ok(tenant)
    }

    /// Deletes a tenant: `deleting` (no longer served), storage dropped, row removed.
    ///
    /// Between marking and dropping it waits a second from the mark, the time every
    /// other process sharing the catalog takes to read the change: by then they answer the
    /// tenant 404 and have closed their connections to its database. Dropping sooner would
    /// leave another process writing, through a connection it still holds, into a SQLite
    /// file already unlinked, where the write is lost even once the id is created again.
    ///
    /// A delete that failed half-way leaves the tenant `deleting`; calling this again
    /// finishes it.
    pub async fn delete_tenant(&self, id: &TenantId) -> Result<(), Error> {
        let tenant = self.mark_deleting(id).await?;
        self.finish_delete(&tenant).await
    }

    /// The first half of [`Tenancy::delete_tenant`]: marks the tenant `deleting`, so it is
    /// no longer served, and answers it. Marking a tenant already `deleting` succeeds.
    ///
    /// It is refused with [`Error::StillInUse`], before anything changed, while a reset of
    /// this process is at work on the tenant (any backend), and on SQLite while a reset or a
    /// migration run of any process holds the tenant's lock file: the delete would drop the
    /// database under the work, which then fails on storage that went away.
    pub async fn mark_deleting(&self, id: &TenantId) -> Result<Tenant, Error> {
        let tenant = self.catalog().require_tenant(id).await?;
        // A reset of this process at work on the tenant (on any backend) holds its turn; a
        // tenant already `deleting` may be held by its own finisher, and marking it again
        // changes nothing.
        let busy = tenant.status != TenantStatus::Deleting
            && self
                .inner
                .turns
                .lock()
                .expect("not poisoned")
                .get(id)
                .is_some_and(|turn| turn.try_lock().is_err());
        if busy {
            return Err(Error::StillInUse(id.clone()));
        }
        // Held while marking, so that a reset or a run starting next finds it `deleting`.
        let lock = match self.server(&tenant.server) {
            Ok(server) => {
                let lock = server.lock_file(&tenant.database, Duration::ZERO).await?;
                if server.backend() == Backend::Sqlite && lock.is_none() {
                    return Err(Error::StillInUse(id.clone()));
                }
                lock
            }
            // A server no longer configured: nothing can be working on the tenant here.
            Err(_) => None,
        };
        self.apply(Mutation::MarkDeleting { id: id.clone() })
            .await?;
        drop(lock);
        self.catalog().require_tenant(id).await
    }

    /// The second half of [`Tenancy::delete_tenant`], for a tenant marked `deleting`:
    /// waits out the grace from the mark, drops the storage and removes the row.
    ///
    /// A delete may be finished more than once at a time (asked twice, or by `doctor
    /// --repair` meanwhile). Finishers of this process take turns, a SQLite tenant's also
    /// take its lock file, and each checks, just before dropping, that the tenant is still
    /// the one it was asked to finish and still `deleting`: one that comes late finds it
    /// gone, or created anew under the same id, and leaves it alone.
    pub async fn finish_delete(&self, tenant: &Tenant) -> Result<(), Error> {
        let server = self.server(&tenant.server)?;
        // `updated_at` is when the tenant was marked: a delete finished long after (by
        // repair, or run again) does not wait again.
        let marked_for = (Utc::now() - tenant.updated_at)
            .to_std()
            .unwrap_or_default();
        tokio::time::sleep(DELETE_GRACE.saturating_sub(marked_for)).await;

        let turn = self.turn(&tenant.id);
        let held = turn.lock().await;
        let lock = server.lock_file(&tenant.database, FINISH_LOCK_WAIT).await?;
        if server.backend() == Backend::Sqlite && lock.is_none() {
            drop(held);
            self.forget_turn(&tenant.id, turn);
            return Err(Error::StillInUse(tenant.id.clone()));
        }
        let current = self.catalog().tenant(&tenant.id).await?;
        let same = current.is_some_and(|current| {
            current.status == TenantStatus::Deleting && current.created_at == tenant.created_at
        });
        let result = match same {
            true => self.drop_and_remove(server, tenant).await,
            false => Ok(()),
        };
        drop((lock, held));
        self.forget_turn(&tenant.id, turn);
        result
    }

    async fn drop_and_remove(&self, server: &Server, tenant: &Tenant) -> Result<(), Error> {
        self.drop_storage(server, &tenant.database).await?;
        match self
            .apply(Mutation::Remove {
                id: tenant.id.clone(),
            })
            .await
        {
            // Another process finished the same delete between the check and here.
            Err(Error::TenantNotFound(_)) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// The lock this process's storage jobs on `id` (finishing a delete, a reset) take
    /// turns on.
    fn turn(&self, id: &TenantId) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.inner.turns.lock().expect("not poisoned");
        turns.entry(id.clone()).or_default().clone()
    }

    /// Drops `id`'s turn lock once no other job holds or waits for it.
    fn forget_turn(&self, id: &TenantId, turn: Arc<tokio::sync::Mutex<()>>) {
        let mut turns = self.inner.turns.lock().expect("not poisoned");
        // The map's reference and `turn`: nobody else has it.
        if Arc::strong_count(&turn) == 2 {
            turns.remove(id);
        }
    }

    /// Drops a tenant's database and builds it again, empty: migrations applied, and the
    /// seeder run when `seed` is set. Every row the tenant had is gone; its catalog entry,
    /// domains and traffic rules stay.
    ///
    /// Only a tenant with storage (`active`, `suspended`, `maintenance`) can be reset. An
    /// active tenant is put in maintenance while its database is rebuilt, so that no request
    /// meets it half-built, and made active again after; a tenant suspended or in
    /// maintenance stays so. Like a delete, the drop waits a second from that change, for
    /// every process sharing the catalog to have closed its connections.
    ///
    /// A reset that fails leaves the tenant in maintenance (or suspended), its database
    /// possibly missing, which `doctor` reports; resetting again finishes it.
    pub async fn reset_tenant(&self, id: &TenantId, seed: bool) -> Result<Tenant, Error> {
        if seed && self.inner.seeder.is_none() {
            return Err(Error::InvalidInput {
                field: "seed",
                reason: "this application has no seeder; reset the tenant without seeding"
                    .to_owned(),
            });
        }
        let tenant = self.catalog().require_tenant(id).await?;
        let server = self.server(&tenant.server)?.clone();
        // Held from before the status is read until the tenant is served again: a second
        // reset waits for this one and then finds the tenant as this one left it, instead
        // of rebuilding the database of a tenant made active meanwhile. The turn keeps this
        // process's resets and deletes apart on every backend, the file lock SQLite's
        // across processes.
        let turn = self.turn(id);
        let wait = self.pool_options().acquire_timeout;
        let Ok(held) = tokio::time::timeout(wait, turn.clone().lock_owned()).await else {
            self.forget_turn(id, turn);
            return Err(Error::StillInUse(id.clone()));
        };
        let reset = self.reset_in_turn(id, &server, &tenant, seed).await;
        drop(held);
        self.forget_turn(id, turn);
        reset
    }

    async fn reset_in_turn(
        &self,
        id: &TenantId,
        server: &Server,
        tenant: &Tenant,
        seed: bool,
    ) -> Result<Tenant, Error> {
        let file_lock = self.lock_for_reset(server, tenant).await?;
        let tenant = self.catalog().require_tenant(id).await?;
        if !tenant.status.has_storage() {
            return Err(Error::InvalidState {
                tenant_id: id.clone(),
                status: tenant.status,
                operation: "reset",
            });
        }
        let was_active = tenant.status == TenantStatus::Active;
        let tenant = match was_active {
            true => {
                self.start_maintenance(id, DEFAULT_MAINTENANCE_RETRY_AFTER_SECS)
                    .await?
            }
            false => tenant,
        };

        self.rebuild_storage(server, &tenant, seed).await?;
        let reset = match was_active {
            true => self.end_maintenance(id).await,
            false => self.catalog().require_tenant(id).await,
        };
        drop(file_lock);
        reset
    }

    /// SQLite: the lock migration runs take, for a reset. A migration run, a repair or
    /// another reset holding it for longer than a checkout wait makes the reset refused,
    /// before anything changed.
    async fn lock_for_reset(
        &self,
        server: &Server,
        tenant: &Tenant,
    ) -> Result<Option<FileLock>, Error> {
        let wait = self.pool_options().acquire_timeout;
        let file_lock = server.lock_file(&tenant.database, wait).await?;
        if server.backend() == Backend::Sqlite && file_lock.is_none() {
            return Err(Error::StillInUse(tenant.id.clone()));
        }
        Ok(file_lock)
    }

    /// Drops and builds a tenant's storage, then records the reset. The caller holds the
    /// tenant's lock, and the tenant is not served meanwhile (see [`Self::reset_tenant`]).
    async fn rebuild_storage(
        &self,
        server: &Server,
        tenant: &Tenant,
        seed: bool,
    ) -> Result<(), Error> {
        let marked_for = (Utc::now() - tenant.updated_at)
            .to_std()
            .unwrap_or_default();
        tokio::time::sleep(DELETE_GRACE.saturating_sub(marked_for)).await;
        self.release_old_connections(&tenant.id, server, &tenant.database)
            .await?;

        self.drop_storage(server, &tenant.database).await?;
        let session_lock = self.build_storage(server, tenant, seed).await?;
        let recorded = self
            .apply(Mutation::RecordReset {
                id: tenant.id.clone(),
                seeded: seed,
            })
            .await;
        self.unlock_session(server, session_lock, &tenant.database)
            .await;
        recorded.map(drop)
    }

    /// Checks the catalog against the servers' storage. Changes nothing.
    ///
    /// A server that cannot be checked (down, refusing connections, not configured any
    /// more) is listed in [`DoctorReport::unreachable`] with the error, and the others are
    /// still checked: an outage of one server is when the report matters most. Its tenants
    /// are not listed as missing, since nobody could look.
    pub async fn doctor(&self) -> Result<DoctorReport, Error> {
        let tenants = self.catalog().tenants(&TenantFilter::default()).await?;
        let mut report = DoctorReport::default();
        let unreachable = |report: &mut DoctorReport, server: &str, error: &Error| {
            let entry = Unreachable {
                server: server.to_owned(),
                error: error_chain(error),
            };
            report.unreachable.push(entry);
        };

        // All at once, so servers that hang cost one wait in all rather than one each.
        let listings = self.servers().iter().map(|server| async move {
            let mut admin = self.pools().server(server.name())?.admin().await?;
            server.list_storage(admin.conn()).await
        });
        let listings = futures_util::future::join_all(listings).await;
        for (server, listing) in self.servers().iter().zip(listings) {
            let databases = match listing {
                Ok(databases) => databases,
                Err(error) => {
                    unreachable(&mut report, server.name(), &error);
                    continue;
                }
            };
            for database in databases {
                if !is_owned(&tenants, server, &database) {
                    let location = server.location(database.trim_end_matches(PARTIAL_SUFFIX));
                    let partial = database.ends_with(PARTIAL_SUFFIX);
                    let location = if partial {
                        format!("{location}{PARTIAL_SUFFIX}")
                    } else {
                        location
                    };
                    report.orphans.push(Orphan {
                        server: server.name().to_owned(),
                        database,
                        location,
                    });
                }
            }
        }

        for tenant in &tenants {
            if matches!(
                tenant.status,
                TenantStatus::Provisioning | TenantStatus::Deleting
            ) {
                report.stuck.push(TenantRef::of(tenant));
            }
            let checked = !report.is_unreachable(&tenant.server);
            if !(checked && tenant.status.has_storage()) {
                continue;
            }
            let exists = match self.server(&tenant.server) {
                Ok(server) => self.storage_exists(server, &tenant.database).await,
                Err(error) => Err(error),
            };
            match exists {
                Ok(true) => {}
                Ok(false) => report.missing.push(TenantRef::of(tenant)),
                Err(error) => unreachable(&mut report, &tenant.server, &error),
            }
        }
        Ok(report)
    }

    /// Finishes or rolls back every tenant stuck in `provisioning` or `deleting` for longer
    /// than `stale_after`, and removes partial databases no tenant is building.
    ///
    /// A `provisioning` tenant whose database was completed becomes `active`; one whose
    /// database was not becomes `failed` (create it again to retry). A `deleting` tenant is
    /// deleted. Orphaned complete databases are reported, never removed: they may hold data.
    ///
    /// A `provisioning` tenant whose creation still holds the tenant's lock is skipped, and
    /// one is claimed in the catalog before its storage is touched, so a creation running
    /// longer than `stale_after` still ends `active` with its storage or `failed` without.
    pub async fn repair(&self, stale_after: Duration) -> Result<RepairReport, Error> {
        let doctor = self.doctor().await?;
        let mut report = RepairReport::default();

        for stuck in &doctor.stuck {
            let Some(tenant) = self.catalog().tenant(&stuck.id).await? else {
                continue;
            };
            let age = (Utc::now() - tenant.updated_at)
                .to_std()
                .unwrap_or_default();
            let outcome = if age < stale_after {
                "skipped: changed too recently, may still be in progress".to_owned()
            } else {
                self.repair_tenant(&tenant).await
            };
            report.tenants.push(Repaired {
                id: tenant.id.clone(),
                was: tenant.status,
                outcome,
            });
        }
        for orphan in doctor
            .orphans
            .iter()
            .filter(|o| o.database.ends_with(PARTIAL_SUFFIX))
        {
            let server = self.server(&orphan.server)?;
            server.drop_partial(orphan.database.trim_end_matches(PARTIAL_SUFFIX))?;
            report.removed.push(orphan.location.clone());
        }
        Ok(report)
    }

    async fn repair_tenant(&self, tenant: &Tenant) -> String {
        let result = match tenant.status {
            TenantStatus::Deleting => self
                .finish_delete(tenant)
                .await
                .map(|()| "deleted".to_owned()),
            _ => self.finish_provisioning(tenant).await,
        };
        result.unwrap_or_else(|error| format!("failed: {}", error_chain(&error)))
    }

    /// Resolves a tenant left `provisioning`: claims it first (`Provisioned` or `Failed`,
    /// which the catalog grants only while it is still `provisioning`), and touches its
    /// storage only once the claim succeeded, so that a creation that finished meanwhile
    /// keeps what it built.
    async fn finish_provisioning(&self, tenant: &Tenant) -> Result<String, Error> {
        let server = self.server(&tenant.server)?;
        let Some(lock) = self.lock_for_repair(server, tenant).await? else {
            return Ok(STILL_CREATING.to_owned());
        };

        // Only a SQLite file proves completion (it is renamed when complete); a network
        // database may be half-migrated, so it is dropped and the tenant rolled back.
        let complete = server.backend() == Backend::Sqlite
            && self.storage_exists(server, &tenant.database).await?;
        let claim = match complete {
            true => Mutation::Provisioned {
                id: tenant.id.clone(),
            },
            false => Mutation::Failed {
                id: tenant.id.clone(),
                reason: format!(
                    "provisioning was interrupted before the database was complete; \
                     run `tenancy tenants create {}` to retry",
                    tenant.id
                ),
            },
        };
        let claimed = self.apply(claim).await;
        let (file_lock, session) = lock;
        self.unlock_session(server, session, &tenant.database).await;
        match claimed {
            Ok(_) => {}
            Err(Error::InvalidState { status, .. }) => {
                return Ok(format!("skipped: it became {status} meanwhile"));
            }
            Err(error) => return Err(error),
        }

        server.drop_partial(&tenant.database)?;
        if !complete {
            self.drop_storage(server, &tenant.database).await?;
        }
        drop(file_lock);
        Ok(if complete { "active" } else { "failed" }.to_owned())
    }

    /// The tenant's lock for a repair, without waiting; `None` when a creation holds it.
    ///
    /// SQLite locks the tenant's file. A network server locks on a connection to the
    /// tenant's database, when that database exists; when it does not, no creation has
    /// locked it yet, and the claim alone keeps a creation that goes on from ending active
    /// (its `Provisioned` is refused, and it drops what it built).
    async fn lock_for_repair(
        &self,
        server: &Server,
        tenant: &Tenant,
    ) -> Result<Option<(Option<FileLock>, Option<PooledConnection>)>, Error> {
        if server.backend() == Backend::Sqlite {
            let lock = server.lock_file(&tenant.database, Duration::ZERO).await?;
            return Ok(lock.map(|lock| (Some(lock), None)));
        }
        if !self.storage_exists(server, &tenant.database).await? {
            return Ok(Some((None, None)));
        }
        let mut conn = self.connect(tenant).await?;
        match server.try_lock(&mut conn, &tenant.database).await? {
            true => Ok(Some((None, Some(conn)))),
            false => Ok(None),
        }
    }
}

/// A tenant written as `provisioning` by [`Tenancy::start_creation`], whose storage is still
/// to be built.
///
/// It holds the tenant's creation lock (on SQLite) until it finishes or is dropped.
#[derive(Debug)]
#[must_use = "a creation that is not finished leaves the tenant provisioning"]
pub struct Creation {
    tenancy: Tenancy,
    server: Server,
    tenant: Tenant,
    seed: bool,
    file_lock: Option<FileLock>,
}

impl Creation {
    /// The tenant, as written: `provisioning`.
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// Builds the storage, runs the migrations and the seeder, and makes the tenant
    /// `active`; on failure, drops what was built and leaves the tenant `failed` with the
    /// reason, and returns the error.
    pub async fn finish(self) -> Result<Tenant, Error> {
        let created = self
            .tenancy
            .provision(&self.server, &self.tenant, self.seed)
            .await;
        drop(self.file_lock);
        created
    }
}

/// What a repair reports for a `provisioning` tenant whose creation still holds its lock.
const STILL_CREATING: &str = "skipped: its creation is still running";

fn is_owned(tenants: &[Tenant], server: &Server, database: &str) -> bool {
    let (name, partial) = match database.strip_suffix(PARTIAL_SUFFIX) {
        Some(name) => (name, true),
        None => (database, false),
    };
    tenants.iter().any(|tenant| {
        tenant.server == server.name()
            && tenant.database == name
            && (!partial || tenant.status == TenantStatus::Provisioning)
    })
}

/// A tenant named in a report.
#[derive(Debug, Clone, Serialize)]
pub struct TenantRef {
    /// The tenant.
    pub id: TenantId,
    /// Its status.
    pub status: TenantStatus,
    /// Its server.
    pub server: String,
    /// Its database on that server.
    pub database: String,
    /// When it last changed.
    pub updated_at: chrono::DateTime<Utc>,
}

impl TenantRef {
    fn of(tenant: &Tenant) -> Self {
        TenantRef {
            id: tenant.id.clone(),
            status: tenant.status,
            server: tenant.server.clone(),
            database: tenant.database.clone(),
            updated_at: tenant.updated_at,
        }
    }
}

/// A database on a server that no tenant owns.
#[derive(Debug, Clone, Serialize)]
pub struct Orphan {
    /// The server.
    pub server: String,
    /// The database name (with `.partial` for a half-built one).
    pub database: String,
    /// Where it is.
    pub location: String,
}

/// What [`Tenancy::doctor`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DoctorReport {
    /// Databases no tenant owns.
    pub orphans: Vec<Orphan>,
    /// Tenants whose database is missing.
    pub missing: Vec<TenantRef>,
    /// Tenants in `provisioning` or `deleting`.
    pub stuck: Vec<TenantRef>,
    /// Servers that could not be checked: their orphans and missing databases are unknown.
    pub unreachable: Vec<Unreachable>,
}

impl DoctorReport {
    /// Whether nothing was found, and every server could be checked.
    pub fn is_healthy(&self) -> bool {
        self.orphans.is_empty()
            && self.missing.is_empty()
            && self.stuck.is_empty()
            && self.unreachable.is_empty()
    }

    fn is_unreachable(&self, server: &str) -> bool {
        self.unreachable.iter().any(|entry| entry.server == server)
    }
}

/// A server [`Tenancy::doctor`] could not check.
#[derive(Debug, Clone, Serialize)]
pub struct Unreachable {
    /// The server.
    pub server: String,
    /// Why: the error with its causes, such as a refused connection.
    pub error: String,
}

/// One tenant handled by [`Tenancy::repair`].
#[derive(Debug, Clone, Serialize)]
pub struct Repaired {
    /// The tenant.
    pub id: TenantId,
    /// Its status before the repair.
    pub was: TenantStatus,
    /// What happened: `active`, `failed`, `deleted`, `skipped: …` or `failed: …`.
    pub outcome: String,
}

/// What [`Tenancy::repair`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairReport {
    /// Stuck tenants and what became of them.
    pub tenants: Vec<Repaired>,
    /// Partial databases removed.
    pub removed: Vec<String>,
}

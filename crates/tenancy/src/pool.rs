//! The connection manager: every tenant database connection, under one budget per server.
//!
//! Each server has a budget of connections that may be open at once, counted as connections
//! actually open (each holds one permit of a semaphore from the moment it starts connecting
//! until it has closed), not as the sum of pool maxima. Inside the budget, every database has
//! a slot of idle connections:
//!
//! - a checkout takes the most recently used idle connection of its database (a *hit*);
//! - otherwise it opens one if the budget has room (a *miss*);
//! - otherwise it closes the least recently used idle connection of another database and
//!   opens its own in its place (an *eviction*);
//! - otherwise it waits, at most [`PoolOptions::acquire_timeout`], for a connection to come
//!   back, then fails with [`Error::PoolTimeout`].
//!
//! Idle connections close after [`PoolOptions::idle_timeout`], and a slot that holds no
//! connection is dropped, so memory follows the tenants in use, not the tenants that exist.
//!
//! A network connection given back is pinged, off the caller's path, before it rejoins its
//! slot; a checkout that finds nothing idle meanwhile waits a moment for it rather than
//! opening another. So a connection that died in a holder's hands (its server stopped) is
//! closed, never handed out again.

use std::collections::{HashMap, VecDeque};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::error::Error;
use crate::server::{Connection, Server};

/// Limits of the connection manager, the same for every server for now.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Connections one server may have open at once, across all its databases.
    ///
    /// Default 32. For SQLite each connection is an open file set and a worker thread, so
    /// this bounds both; for a network server keep it under the server's own limit.
    pub max_connections: usize,
    /// Connections one database may have open at once. Default 4: SQLite writes one at a
    /// time anyway, and a small per-database cap keeps one busy tenant from taking the budget.
    pub max_connections_per_database: usize,
    /// How long a checkout may take before failing, waiting for a connection and opening
    /// one together (a server that does not answer fails within it). Default 3 s.
    pub acquire_timeout: Duration,
    /// How long a connection may stay idle before it is closed. Default 60 s.
    pub idle_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: 32,
            max_connections_per_database: 4,
            acquire_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// A snapshot of one server's pool counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PoolStats {
    /// The server's name.
    pub server: String,
    /// The server's connection budget.
    pub budget: usize,
    /// Connections open now (including ones being opened or closed).
    pub connections_open: usize,
    /// Open connections waiting in a slot.
    pub connections_idle: usize,
    /// Connections handed out to callers.
    pub connections_in_use: usize,
    /// Databases with at least one connection open.
    pub pools_open: usize,
    /// Checkouts served by an idle connection.
    pub hits: u64,
    /// Checkouts that opened a connection.
    pub misses: u64,
    /// Idle connections closed to make room for another database.
    pub evictions: u64,
    /// Checkouts that had to wait.
    pub waits: u64,
    /// Checkouts that gave up waiting.
    pub timeouts: u64,
    /// Total time spent waiting, in microseconds.
    pub wait_time_us: u64,
    /// Idle connections closed by the idle timeout.
    pub idle_closed: u64,
    /// Shared connections pointed at another tenant on checkout.
    pub switches: u64,
}

/// What the pool holds now for one tenant database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DatabasePoolStats {
    /// Whether the server shares one set of connections among its tenants (PostgreSQL
    /// schema mode, MySQL): the figures are then the server's shared ones.
    pub shared: bool,
    /// Open connections waiting in the database's slot.
    pub connections_idle: usize,
    /// Connections handed out, or on their way back.
    pub connections_in_use: usize,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    waits: AtomicU64,
    timeouts: AtomicU64,
    wait_time_us: AtomicU64,
    idle_closed: AtomicU64,
    switches: AtomicU64,
}

struct Idle {
    conn: Connection,
    permit: OwnedSemaphorePermit,
    since: Instant,
    /// On a shared server, the tenant database the connection points at.
    current: Option<Arc<str>>,
}

struct Slot {
    /// The database name, shared with the connections handed out (no allocation per hit).
    name: Arc<str>,
    /// Oldest at the front; checkouts take from the back, where connections are warmest.
    idle: VecDeque<Idle>,
    in_use: usize,
    opening: usize,
    /// Network connections given back and being pinged before they rejoin `idle`.
    returning: usize,
    /// Changes when the database is closed; connections of an older generation are closed
    /// when they come back instead of being kept.
    generation: u64,
}

impl Slot {
    fn is_empty(&self) -> bool {
        self.idle.is_empty() && self.in_use == 0 && self.opening == 0 && self.returning == 0
    }
}

#[derive(Default)]
struct State {
    slots: HashMap<Arc<str>, Slot>,
    closed: bool,
}

/// The one slot of a shared server (PostgreSQL schema mode, MySQL): every tenant's
/// checkouts draw from it, and the connection is switched to the tenant when needed.
const SHARED_SLOT: &str = "";

/// A network connection idle longer than this is pinged before it is handed out: the
/// server may have dropped it meanwhile (restart, failover, idle kill). Busy connections,
/// reused within the interval, skip the round trip.
const PING_AFTER: Duration = Duration::from_secs(1);

/// How long a checkout that finds no idle connection waits for one being pinged on its way
/// back before it opens a connection of its own instead. The ping is one round trip, but
/// on a loaded machine its task may wait for a thread: a short grace would open a new
/// connection for a tenant whose warm one is a moment away, and a connect costs more than
/// the wait. Only checkouts that find a connection on its way back wait at all.
const RETURN_GRACE: Duration = Duration::from_millis(100);

enum Step {
    /// An idle connection, with how long it had been idle.
    Ready(PooledConnection, Duration),
    Open {
        permit: OwnedSemaphorePermit,
        generation: u64,
        victim: Option<Connection>,
    },
    Wait,
    /// Nothing idle, but a connection of this database is being pinged on its way back.
    AwaitReturn,
}

/// The connections of one server.
pub struct ServerPool {
    server: Server,
    options: PoolOptions,
    budget: Arc<Semaphore>,
    state: Mutex<State>,
    returned: Notify,
    counters: Counters,
    generations: AtomicU64,
}

impl std::fmt::Debug for ServerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerPool")
            .field("server", &self.server.name())
            .finish_non_exhaustive()
    }
}

impl ServerPool {
    /// A pool for one server. Starts its idle reaper on the current Tokio runtime.
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime, or with a zero budget.
    pub fn new(server: Server, options: PoolOptions) -> Arc<Self> {
        assert!(
            options.max_connections > 0,
            "a server's connection budget must be at least 1"
        );
        let pool = Arc::new(ServerPool {
            budget: Arc::new(Semaphore::new(options.max_connections)),
            server,
            options,
            state: Mutex::default(),
            returned: Notify::new(),
            counters: Counters::default(),
            generations: AtomicU64::new(1),
        });
        spawn_reaper(Arc::downgrade(&pool));
        pool
    }

    /// The server this pool connects to.
    pub fn server(&self) -> &Server {
        &self.server
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("pool state poisoned: a panic happened while it was held")
    }

    /// Checks out a connection to `database`, opening one only when no idle one exists.
    ///
    /// On a shared server the connection is switched to `database` unless it already
    /// points there; a connection whose switch fails is closed, never handed out.
    pub async fn acquire(self: &Arc<Self>, database: &str) -> Result<PooledConnection, Error> {
        let mut conn = self.checkout(database).await?;
        if self.server.is_shared() && conn.current.as_deref() != Some(database) {
            // Forget the old target first: if the switch fails half-way, the connection
            // must not be trusted to point anywhere.
            conn.current = None;
            if let Err(error) = self.server.switch(&mut conn, database).await {
                conn.discard();
                return Err(error);
            }
            conn.current = Some(Arc::from(database));
            self.counters.switches.fetch_add(1, Ordering::Relaxed);
        }
        Ok(conn)
    }

    /// Whether an idle connection is dead, by a ping that may take until `deadline`: a hung
    /// server (or a network dropping packets) would otherwise hold the checkout forever.
    async fn is_stale(
        &self,
        conn: &mut PooledConnection,
        idle_for: Duration,
        deadline: Instant,
    ) -> bool {
        let network = self.server.backend() != crate::server::Backend::Sqlite;
        if !network || idle_for < PING_AFTER {
            return false;
        }
        let ping = tokio::time::timeout_at(deadline.into(), conn.ping()).await;
        if ping == Ok(true) {
            return false;
        }
        tracing::debug!(
            server = self.server.name(),
            "dropping a dead idle connection"
        );
        conn.discard();
        true
    }

    fn slot_key<'d>(&self, database: &'d str) -> &'d str {
        if self.server.is_shared() {
            SHARED_SLOT
        } else {
            database
        }
    }

    async fn checkout(self: &Arc<Self>, database: &str) -> Result<PooledConnection, Error> {
        let started = Instant::now();
        let deadline = started + self.options.acquire_timeout;
        let patient_until = started + RETURN_GRACE;
        let mut waited = false;

        loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();

            let patient = Instant::now() < patient_until;
            match self.step(database, patient)? {
                Step::Ready(mut conn, idle_for) => {
                    if self.is_stale(&mut conn, idle_for, deadline).await {
                        // Closed on drop; the loop opens or finds another.
                        continue;
                    }
                    self.record_wait(waited, started);
                    return Ok(conn);
                }
                Step::Open {
                    permit,
                    generation,
                    victim,
                } => {
                    self.record_wait(waited, started);
                    let key = self.slot_key(database);
                    let opening = (permit, generation, victim);
                    return self.open(key, database, opening, started).await;
                }
                Step::AwaitReturn => {
                    // Woken by the return, or impatient on the next step at the grace's end.
                    let until = patient_until.min(deadline);
                    let _ = tokio::time::timeout_at(until.into(), returned).await;
                    continue;
                }
                Step::Wait => {}
            }

            if !waited {
                waited = true;
                self.counters.waits.fetch_add(1, Ordering::Relaxed);
            }
            if tokio::time::timeout_at(deadline.into(), returned)
                .await
                .is_err()
            {
                return Err(self.timed_out(database, started));
            }
        }
    }

    fn record_wait(&self, waited: bool, started: Instant) {
        if waited {
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.counters
                .wait_time_us
                .fetch_add(micros, Ordering::Relaxed);
        }
    }

    fn timed_out(&self, database: &str, started: Instant) -> Error {
        self.record_wait(true, started);
        self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        if state.slots.get(database).is_some_and(Slot::is_empty) {
            state.slots.remove(database);
        }
        Error::PoolTimeout {
            tenant_id: database.to_owned(),
            server: self.server.name().to_owned(),
            budget: self.options.max_connections,
            waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    fn slot<'s>(&self, state: &'s mut State, database: &str) -> &'s mut Slot {
        if !state.slots.contains_key(database) {
            let name: Arc<str> = Arc::from(database);
            let generation = self.generations.fetch_add(1, Ordering::Relaxed);
            let (idle, in_use, opening, returning) = (VecDeque::new(), 0, 0, 0);
            let slot = Slot {
                name: name.clone(),
                idle,
                in_use,
                opening,
                returning,
                generation,
            };
            state.slots.insert(name, slot);
        }
        state.slots.get_mut(database).expect("slot inserted above")
    }

    /// Decides, under the lock, how this checkout proceeds. Never awaits. A `patient`
    /// checkout waits for a connection on its way back rather than opening one.
    fn step(self: &Arc<Self>, database: &str, patient: bool) -> Result<Step, Error> {
        let mut state = self.lock();
        if state.closed {
            return Err(Error::PoolClosed(self.server.name().to_owned()));
        }
        let key = self.slot_key(database);
        let cap = match self.server.is_shared() {
            true => self.options.max_connections,
            false => self.options.max_connections_per_database,
        };
        let slot = self.slot(&mut state, key);

        if let Some(idle) = take_idle_for(slot, database) {
            slot.in_use += 1;
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            let name = slot.name.clone();
            let idle_for = idle.since.elapsed();
            let conn = self.hand_out(name, slot.generation, idle.conn, idle.permit);
            return Ok(Step::Ready(conn.pointing_at(idle.current), idle_for));
        }
        if patient && slot.returning > 0 {
            return Ok(Step::AwaitReturn);
        }
        if slot.in_use + slot.opening + slot.returning >= cap {
            return Ok(Step::Wait);
        }
        let generation = slot.generation;

        let (permit, victim) = match self.budget.clone().try_acquire_owned() {
            Ok(permit) => (permit, None),
            Err(_) => match take_least_recently_used(&mut state.slots, key) {
                Some(idle) => {
                    self.counters.evictions.fetch_add(1, Ordering::Relaxed);
                    (idle.permit, Some(idle.conn))
                }
                None => return Ok(Step::Wait),
            },
        };
        let slot = state.slots.get_mut(key).expect("slot inserted above");
        slot.opening += 1;
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        Ok(Step::Open {
            permit,
            generation,
            victim,
        })
    }

    /// Opens a connection in the place `step` found for it, by the checkout's deadline (the
    /// checkout started at `started`): waiting and connecting together take at most
    /// [`PoolOptions::acquire_timeout`].
    async fn open(
        self: &Arc<Self>,
        key: &str,
        database: &str,
        (permit, generation, victim): (OwnedSemaphorePermit, u64, Option<Connection>),
        started: Instant,
    ) -> Result<PooledConnection, Error> {
        // The victim's permit is ours now, but its connection must be gone before ours opens,
        // or the server would briefly see one connection more than the budget.
        if let Some(victim) = victim {
            victim.close().await;
        }
        let deadline = started + self.options.acquire_timeout;
        let connected = tokio::time::timeout_at(deadline.into(), async {
            retry_while_counted(deadline, || self.server.connect(database)).await
        })
        .await;

        let mut state = self.lock();
        // A shared server's slot is keyed by `key`, not by the tenant's database.
        let slot = state
            .slots
            .get_mut(key)
            .expect("an opening slot is never removed");
        slot.opening -= 1;
        match connected {
            Ok(Ok(conn)) => {
                slot.in_use += 1;
                tracing::debug!(
                    server = self.server.name(),
                    database,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "opened tenant connection"
                );
                let name = slot.name.clone();
                Ok(self.hand_out(name, generation, conn, permit))
            }
            failed => {
                if slot.is_empty() {
                    state.slots.remove(key);
                }
                drop(state);
                drop(permit);
                self.returned.notify_waiters();
                Err(match failed {
                    Ok(Err(error)) => error,
                    _ => {
                        self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                        Error::PoolTimeout {
                            tenant_id: database.to_owned(),
                            server: self.server.name().to_owned(),
                            budget: self.options.max_connections,
                            waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(0),
                        }
                    }
                })
            }
        }
    }

    /// A connection for DDL (create, drop, list databases) that counts against the budget
    /// like any other, and closes when dropped instead of joining a slot. SQLite servers need
    /// none and get an empty one.
    pub async fn admin(self: &Arc<Self>) -> Result<AdminConnection, Error> {
        let empty = AdminConnection {
            conn: None,
            permit: None,
            pool: self.clone(),
        };
        if self.server.backend() == crate::server::Backend::Sqlite {
            return Ok(empty);
        }
        let started = Instant::now();
        let deadline = started + self.options.acquire_timeout;
        let (permit, victim) = loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if let Some(found) = self.admin_permit() {
                break found;
            }
            if tokio::time::timeout_at(deadline.into(), returned)
                .await
                .is_err()
            {
                return Err(self.timed_out("(admin)", started));
            }
        };
        if let Some(victim) = victim {
            victim.close().await;
        }
        let connect = retry_while_counted(deadline, || self.server.connect_admin());
        let Ok(conn) = tokio::time::timeout_at(deadline.into(), connect).await else {
            drop(permit);
            self.returned.notify_waiters();
            return Err(self.timed_out("(admin)", started));
        };
        match conn {
            Ok(conn) => Ok(AdminConnection {
                conn,
                permit: Some(permit),
                pool: self.clone(),
            }),
            Err(error) => {
                drop(permit);
                self.returned.notify_waiters();
                Err(error)
            }
        }
    }

    fn admin_permit(&self) -> Option<(OwnedSemaphorePermit, Option<Connection>)> {
        if let Ok(permit) = self.budget.clone().try_acquire_owned() {
            return Some((permit, None));
        }
        let mut state = self.lock();
        let idle = take_least_recently_used(&mut state.slots, "\0admin")?;
        self.counters.evictions.fetch_add(1, Ordering::Relaxed);
        Some((idle.permit, Some(idle.conn)))
    }

    fn hand_out(
        self: &Arc<Self>,
        database: Arc<str>,
        generation: u64,
        conn: Connection,
        permit: OwnedSemaphorePermit,
    ) -> PooledConnection {
        PooledConnection {
            conn: Some(conn),
            permit: Some(permit),
            pool: self.clone(),
            database,
            generation,
            discard: false,
            current: None,
        }
    }

    fn release(
        self: &Arc<Self>,
        database: &str,
        generation: u64,
        conn: Connection,
        permit: OwnedSemaphorePermit,
        discard: bool,
        current: Option<Arc<str>>,
    ) {
        let network = self.server.backend() != crate::server::Backend::Sqlite;
        let runtime = tokio::runtime::Handle::try_current().ok();
        let mut state = self.lock();
        let closed = state.closed;
        let mut to_close = Some((conn, permit));
        if let Some(slot) = state.slots.get_mut(database) {
            slot.in_use -= 1;
            let keep = !closed && !discard && slot.generation == generation;
            match (keep, network, runtime) {
                (true, true, Some(runtime)) => {
                    slot.returning += 1;
                    let (conn, permit) = to_close.take().expect("set above");
                    let returned = Idle {
                        conn,
                        permit,
                        since: Instant::now(),
                        current,
                    };
                    let (pool, database) = (self.clone(), slot.name.clone());
                    runtime.spawn(async move {
                        pool.check_return(database, generation, returned).await
                    });
                }
                (true, _, _) => {
                    let (conn, permit) = to_close.take().expect("set above");
                    let since = Instant::now();
                    slot.idle.push_back(Idle {
                        conn,
                        permit,
                        since,
                        current,
                    });
                }
                _ if slot.is_empty() => {
                    state.slots.remove(database);
                }
                _ => {}
            }
        }
        drop(state);

        if let Some((conn, permit)) = to_close {
            self.close_later(conn, permit);
        }
        self.returned.notify_waiters();
    }

    /// Pings a network connection given back before it rejoins its slot. The holder may
    /// have seen its server go away (a restart, a failover, a cut network); the pool cannot
    /// see that, and a dead connection kept warm would fail every request handed it for as
    /// long as traffic never lets it sit idle long enough to be pinged on checkout.
    async fn check_return(self: Arc<Self>, database: Arc<str>, generation: u64, mut idle: Idle) {
        let ping = tokio::time::timeout(self.options.acquire_timeout, idle.conn.ping()).await;
        let alive = ping == Ok(true);
        if !alive {
            tracing::debug!(
                server = self.server.name(),
                "dropping a connection that died while checked out"
            );
        }
        let mut state = self.lock();
        let closed = state.closed;
        let mut to_close = None;
        if let Some(slot) = state.slots.get_mut(&database) {
            slot.returning -= 1;
            if alive && !closed && slot.generation == generation {
                idle.since = Instant::now();
                slot.idle.push_back(idle);
            } else {
                to_close = Some((idle.conn, idle.permit));
                if slot.is_empty() {
                    state.slots.remove(&database);
                }
            }
        }
        drop(state);

        if let Some((conn, permit)) = to_close {
            self.close_later(conn, permit);
        }
        self.returned.notify_waiters();
    }

    /// Closes a connection off the caller's path; its permit is freed once it has closed.
    fn close_later(self: &Arc<Self>, conn: Connection, permit: OwnedSemaphorePermit) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let pool = self.clone();
                runtime.spawn(async move {
                    conn.close().await;
                    drop(permit);
                    // A checkout may be waiting for budget rather than for a connection.
                    pool.returned.notify_waiters();
                });
            }
            // Without a runtime (a connection dropped during shutdown) dropping is the close.
            Err(_) => drop((conn, permit)),
        }
    }

    /// Closes every idle connection of `database` now, and each busy one when it comes back.
    ///
    /// Used when a tenant is suspended or deleted. Returns once the idle ones have closed.
    pub async fn close_database(&self, database: &str) {
        if self.server.is_shared() {
            self.forget_target(database);
            return;
        }
        let idle = {
            let mut state = self.lock();
            let next = self.generations.fetch_add(1, Ordering::Relaxed);
            match state.slots.get_mut(database) {
                Some(slot) => {
                    slot.generation = next;
                    let idle: Vec<Idle> = slot.idle.drain(..).collect();
                    if slot.is_empty() {
                        state.slots.remove(database);
                    }
                    idle
                }
                None => Vec::new(),
            }
        };
        close_all(idle).await;
        self.returned.notify_waiters();
    }

    /// On a shared server a tenant has no connections of its own: closing it means no idle
    /// connection is trusted to point at it any more, so the next checkout switches again.
    fn forget_target(&self, database: &str) {
        let mut state = self.lock();
        for slot in state.slots.values_mut() {
            for idle in slot.idle.iter_mut() {
                if idle.current.as_deref() == Some(database) {
                    idle.current = None;
                }
            }
        }
    }

    /// Waits until no connection to `database` is open, at most `wait`. Returns whether
    /// none is. Call [`Self::close_database`] first so idle ones go at once.
    pub async fn wait_released(&self, database: &str, wait: Duration) -> bool {
        if self.server.is_shared() {
            return true;
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if !self.lock().slots.contains_key(database) {
                return true;
            }
            if tokio::time::timeout_at(deadline, returned).await.is_err() {
                return !self.lock().slots.contains_key(database);
            }
        }
    }

    /// Closes connections that have been idle longer than the idle timeout.
    pub async fn close_idle(&self) {
        let expired = self.take_idle(|idle| idle.since.elapsed() >= self.options.idle_timeout);
        let count = expired.len() as u64;
        close_all(expired).await;
        if count > 0 {
            self.counters
                .idle_closed
                .fetch_add(count, Ordering::Relaxed);
            tracing::debug!(
                server = self.server.name(),
                count,
                "closed idle tenant connections"
            );
            self.returned.notify_waiters();
        }
    }

    fn take_idle(&self, expired: impl Fn(&Idle) -> bool) -> Vec<Idle> {
        let mut state = self.lock();
        let mut taken = Vec::new();
        state.slots.retain(|_, slot| {
            while slot.idle.front().is_some_and(&expired) {
                taken.extend(slot.idle.pop_front());
            }
            !slot.is_empty()
        });
        taken
    }

    /// Refuses new checkouts and closes every connection (busy ones when they come back).
    pub async fn shutdown(&self) {
        self.lock().closed = true;
        close_all(self.take_idle(|_| true)).await;
        self.returned.notify_waiters();
    }

    /// What the pool holds now for `database`; zeros when it has no connection open.
    pub fn database_stats(&self, database: &str) -> DatabasePoolStats {
        let shared = self.server.is_shared();
        let key = if shared { SHARED_SLOT } else { database };
        let state = self.lock();
        let slot = state.slots.get(key);
        DatabasePoolStats {
            shared,
            connections_idle: slot.map_or(0, |slot| slot.idle.len()),
            connections_in_use: slot.map_or(0, |slot| slot.in_use + slot.returning),
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PoolStats {
        let state = self.lock();
        let idle = state.slots.values().map(|slot| slot.idle.len()).sum();
        // A connection being pinged on its way back is still the holder's, in effect.
        let in_use = state
            .slots
            .values()
            .map(|slot| slot.in_use + slot.returning)
            .sum();
        let pools_open = state
            .slots
            .values()
            .filter(|slot| !slot.idle.is_empty() || slot.in_use + slot.returning > 0)
            .count();
        drop(state);

        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        PoolStats {
            server: self.server.name().to_owned(),
            budget: self.options.max_connections,
            connections_open: self.options.max_connections - self.budget.available_permits(),
            connections_idle: idle,
            connections_in_use: in_use,
            pools_open,
            hits: load(&self.counters.hits),
            misses: load(&self.counters.misses),
            evictions: load(&self.counters.evictions),
            waits: load(&self.counters.waits),
            timeouts: load(&self.counters.timeouts),
            wait_time_us: load(&self.counters.wait_time_us),
            idle_closed: load(&self.counters.idle_closed),
            switches: load(&self.counters.switches),
        }
    }
}

/// How long to wait before connecting again after a refusal for too many connections.
const COUNTED_RETRY: Duration = Duration::from_millis(5);

/// Connects, again and again until `deadline`, while the server refuses for too many
/// connections.
///
/// The budget counts a connection as gone once its close returned, but the server counts
/// its session until the backend process has exited, a moment later. A connection opened
/// in the place of one just closed (an eviction, a connection that died) can therefore be
/// refused as one too many by a server whose own limit is the budget, although we never
/// hold more than the budget. A server whose limit is really lower still fails, with its
/// error, at the deadline.
async fn retry_while_counted<T, F>(
    deadline: Instant,
    mut connect: impl FnMut() -> F,
) -> Result<T, Error>
where
    F: std::future::Future<Output = Result<T, Error>>,
{
    loop {
        match connect().await {
            Err(error)
                if too_many_connections(&error) && Instant::now() + COUNTED_RETRY < deadline =>
            {
                tokio::time::sleep(COUNTED_RETRY).await;
            }
            other => return other,
        }
    }
}

/// PostgreSQL 53300 (server, role or database limit); MySQL 1040 (server), 1203 and 1226
/// (user limits).
fn too_many_connections(error: &Error) -> bool {
    let source = match error {
        Error::Database(source) | Error::ServerUnavailable { source, .. } => source,
        _ => return false,
    };
    let sqlx::Error::Database(error) = source else {
        return false;
    };
    if let Some(mysql) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return matches!(mysql.number(), 1040 | 1203 | 1226);
    }
    error.code().as_deref() == Some("53300")
}

/// An idle connection for `database`: on a shared slot, preferably one already pointing
/// there (no switch needed), else the most recently used.
fn take_idle_for(slot: &mut Slot, database: &str) -> Option<Idle> {
    let pointing = slot
        .idle
        .iter()
        .rposition(|idle| idle.current.as_deref() == Some(database));
    match pointing {
        Some(position) => slot.idle.remove(position),
        None => slot.idle.pop_back(),
    }
}

fn take_least_recently_used(slots: &mut HashMap<Arc<str>, Slot>, except: &str) -> Option<Idle> {
    let (key, _) = slots
        .iter()
        .filter(|(key, _)| key.as_ref() != except)
        .filter_map(|(key, slot)| slot.idle.front().map(|idle| (key, idle.since)))
        .min_by_key(|(_, since)| *since)?;
    let key = key.clone();
    let slot = slots.get_mut(&key)?;
    let idle = slot.idle.pop_front();
    if slot.is_empty() {
        slots.remove(&key);
    }
    idle
}

async fn close_all(idle: Vec<Idle>) {
    for Idle { conn, permit, .. } in idle {
        conn.close().await;
        drop(permit);
    }
}

fn spawn_reaper(pool: Weak<ServerPool>) {
    tokio::spawn(async move {
        while let Some(every) = pool.upgrade().map(|pool| reap_interval(&pool.options)) {
            tokio::time::sleep(every).await;
            let Some(pool) = pool.upgrade() else { break };
            if pool.lock().closed {
                break;
            }
            pool.close_idle().await;
        }
    });
}

fn reap_interval(options: &PoolOptions) -> Duration {
    (options.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5))
}

/// A checked-out connection. Returns to its pool when dropped.
///
/// Dereferences to [`Connection`]; use [`Connection::as_sqlite`] (or match on it) to run
/// queries. A connection in an unknown state (for example after a failed transaction whose
/// outcome is unclear) can be closed instead of reused with [`PooledConnection::discard`].
pub struct PooledConnection {
    conn: Option<Connection>,
    permit: Option<OwnedSemaphorePermit>,
    pool: Arc<ServerPool>,
    database: Arc<str>,
    generation: u64,
    discard: bool,
    current: Option<Arc<str>>,
}

impl std::fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledConnection")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl PooledConnection {
    /// Closes this connection when it is dropped instead of returning it to the pool.
    pub fn discard(&mut self) {
        self.discard = true;
    }

    /// The tenant database this connection serves: the one it is open on, or on a shared
    /// server the one it is switched to.
    pub fn database(&self) -> &str {
        self.current.as_deref().unwrap_or(&self.database)
    }

    fn pointing_at(mut self, current: Option<Arc<str>>) -> Self {
        self.current = current;
        self
    }
}

impl Deref for PooledConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        if let (Some(conn), Some(permit)) = (self.conn.take(), self.permit.take()) {
            let current = self.current.take();
            let (generation, discard) = (self.generation, self.discard);
            self.pool
                .release(&self.database, generation, conn, permit, discard, current);
        }
    }
}

/// A connection for DDL on a network server, within the server's budget. Closed (not
/// pooled) when dropped.
pub struct AdminConnection {
    conn: Option<Connection>,
    permit: Option<OwnedSemaphorePermit>,
    pool: Arc<ServerPool>,
}

impl AdminConnection {
    /// The connection; `None` on SQLite servers, which need none.
    pub fn conn(&mut self) -> Option<&mut Connection> {
        self.conn.as_mut()
    }
}

impl Drop for AdminConnection {
    fn drop(&mut self) {
        if let (Some(conn), Some(permit)) = (self.conn.take(), self.permit.take()) {
            self.pool.close_later(conn, permit);
            self.pool.returned.notify_waiters();
        }
    }
}

/// The pools of every configured server.
#[derive(Debug, Clone, Default)]
pub struct PoolManager {
    servers: Arc<HashMap<String, Arc<ServerPool>>>,
}

impl PoolManager {
    /// A manager over these servers, each with its own limits.
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime.
    pub fn new(servers: impl IntoIterator<Item = (Server, PoolOptions)>) -> Self {
        let servers = servers
            .into_iter()
            .map(|(server, options)| (server.name().to_owned(), ServerPool::new(server, options)))
            .collect();
        PoolManager {
            servers: Arc::new(servers),
        }
    }

    /// The pool of the named server.
    pub fn server(&self, name: &str) -> Result<&Arc<ServerPool>, Error> {
        self.servers
            .get(name)
            .ok_or_else(|| Error::UnknownServer(name.to_owned()))
    }

    /// Every server pool, in name order.
    pub fn servers(&self) -> Vec<&Arc<ServerPool>> {
        let mut pools: Vec<_> = self.servers.values().collect();
        pools.sort_by(|a, b| a.server.name().cmp(b.server.name()));
        pools
    }

    /// Counters of every server, in name order.
    pub fn stats(&self) -> Vec<PoolStats> {
        self.servers()
            .into_iter()
            .map(|pool| pool.stats())
            .collect()
    }

    /// Shuts every server pool down.
    pub async fn shutdown(&self) {
        for pool in self.servers.values() {
            pool.shutdown().await;
        }
    }
}

//! One connection budget per server, held against the server's own limit: many tenants on
//! one PostgreSQL server, reached as a role whose `CONNECTION LIMIT` equals the budget, and
//! far more concurrent requests than connections. The server never refuses us ("too many
//! connections" would be a 500), never sees more sessions of the role than the budget,
//! every tenant is served, every other answer is a 503 with `Retry-After`, nothing hangs;
//! once idle, the connections and pools fall back to none (cases C06, C07, C08).

mod network;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use network::{Client, Kind, PATIENCE, clear_leftovers, execute_pg, postgres_admin};
use tenancy::sqlx;
use tenancy::{NewTenant, PoolOptions, ServerOptions, Tenancy};
use tokio::sync::Semaphore;

/// A role the test creates, limited by the server to `limit` sessions, and (in schema
/// mode) a database it owns for the schemas.
struct LimitedRole {
    role: String,
    database: Option<String>,
    prefix: String,
}

impl LimitedRole {
    async fn create(role: &str, limit: usize, own_database: bool, prefix: &str) -> Self {
        let limited = LimitedRole {
            role: role.to_owned(),
            database: own_database.then(|| format!("{role}_db")),
            prefix: prefix.to_owned(),
        };
        limited.drop_all().await;
        let mut admin = postgres_admin().await;
        let create = format!("CREATE ROLE \"{role}\" LOGIN CREATEDB CONNECTION LIMIT {limit}");
        execute_pg(&mut admin, create).await;
        if let Some(database) = &limited.database {
            let create = format!("CREATE DATABASE \"{database}\" OWNER \"{role}\"");
            execute_pg(&mut admin, create).await;
        }
        limited
    }

    /// The role's URL to its database (schema mode) or the server's (database mode).
    fn url(&self) -> String {
        let database = self.database.as_deref().unwrap_or("postgres");
        let url = network::postgres_url_as(&self.role, database);
        network::with_param(&url, "application_name", &self.role)
    }

    /// Drops what this role owns, then the role, also when a run was interrupted.
    async fn drop_all(&self) {
        clear_leftovers(&self.prefix).await;
        let mut admin = postgres_admin().await;
        if let Some(database) = &self.database {
            let drop = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
            execute_pg(&mut admin, drop).await;
        }
        execute_pg(&mut admin, format!("DROP ROLE IF EXISTS \"{}\"", self.role)).await;
    }

    /// Sessions the server holds for the role now.
    async fn sessions(&self, admin: &mut sqlx::PgConnection) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE usename = $1")
            .bind(&self.role)
            .fetch_one(admin)
            .await
            .expect("reading pg_stat_activity")
    }

    /// Samples the role's sessions until dropped; the highest count seen.
    async fn watch(self: &Arc<Self>) -> (Arc<AtomicI64>, tokio::task::JoinHandle<()>) {
        let peak = Arc::new(AtomicI64::new(0));
        let (role, seen) = (self.clone(), peak.clone());
        let mut admin = postgres_admin().await;
        let task = tokio::spawn(async move {
            loop {
                seen.fetch_max(role.sessions(&mut admin).await, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        (peak, task)
    }
}

/// Creates `count` tenants `t1 … tN`, a few at a time, within the server's budget.
async fn create_tenants(tenancy: &Tenancy, count: usize) -> Vec<String> {
    let ids: Vec<String> = (1..=count).map(|n| format!("t{n}")).collect();
    let gate = Arc::new(Semaphore::new(6));
    let mut tasks = Vec::new();
    for raw in ids.clone() {
        let (tenancy, gate) = (tenancy.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _turn = gate.acquire().await.unwrap();
            let new = NewTenant::new(network::tenant_id(&raw));
            tenancy.create_tenant(new).await.map(|_| ())
        }));
    }
    for task in tasks {
        task.await
            .unwrap()
            .expect("creating a tenant within the budget");
    }
    ids
}

#[derive(Default)]
struct Outcome {
    served: BTreeMap<String, usize>,
    unavailable: usize,
}

/// Sends the requests, `concurrency` at a time, and checks every answer: the tenant's own
/// (from its own schema or database) or a 503 `pool_timeout` with `Retry-After`.
async fn send_all(
    client: &Client,
    requests: Vec<String>,
    concurrency: usize,
    kind: Kind,
    prefix: &str,
) -> Outcome {
    let gate = Arc::new(Semaphore::new(concurrency));
    let mut tasks = Vec::new();
    for tenant in requests {
        let (client, gate) = (client.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _turn = gate.acquire().await.unwrap();
            let reply = tokio::time::timeout(PATIENCE, client.get(&tenant, "/session?hold_ms=20"))
                .await
                .unwrap_or_else(|_| panic!("a request for {tenant} hung"));
            (tenant, reply)
        }));
    }

    let mut outcome = Outcome::default();
    for task in tasks {
        let (tenant, reply) = task.await.unwrap();
        if reply.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(reply.code(), "pool_timeout", "{reply:?}");
            assert!(reply.header("retry-after").parse::<u32>().unwrap() > 0);
            outcome.unavailable += 1;
            continue;
        }
        assert_eq!(reply.status, StatusCode::OK, "{tenant}: {reply:?}");
        assert_eq!(reply.field("tenant"), tenant);
        let seen = match kind {
            Kind::PostgresSchema => reply.field("schema"),
            _ => reply.field("database"),
        };
        assert_eq!(seen, format!("{prefix}{tenant}"), "{reply:?}");
        *outcome.served.entry(tenant).or_default() += 1;
    }
    outcome
}

struct Plan {
    kind: Kind,
    role: &'static str,
    prefix: &'static str,
    tenants: usize,
    budget: usize,
    /// Requests per tenant in the first round.
    repeat: usize,
    concurrency: usize,
}

async fn budget_holds_against_the_servers_limit(plan: Plan) {
    let started = Instant::now();
    let own_database = plan.kind == Kind::PostgresSchema;
    let role =
        Arc::new(LimitedRole::create(plan.role, plan.budget, own_database, plan.prefix).await);
    let dir = tempfile::tempdir().unwrap();
    let (peak, sampler) = role.watch().await;
    let open = async |acquire_timeout| {
        let pool = PoolOptions {
            max_connections: plan.budget,
            max_connections_per_database: 10,
            acquire_timeout,
            idle_timeout: Duration::from_secs(1),
        };
        let server = plan.kind.server("pg", &role.url(), plan.prefix);
        let servers = vec![(server, ServerOptions::default())];
        network::open(dir.path(), servers, pool, false).await
    };
    // Provisioning may wait for its connections (CREATE DATABASE is slow under load);
    // serving gives up quickly, so the budget is reached and answered with 503.
    let provisioning = open(PATIENCE).await;
    let tenants = create_tenants(&provisioning, plan.tenants).await;
    provisioning.shutdown().await;
    let created = started.elapsed();
    let tenancy = open(Duration::from_millis(150)).await;
    let client = Client::new(network::serve(network::app(tenancy.clone())).await);

    // Every tenant a few times, then those not served yet again, until each has been.
    let mut pending: Vec<String> = (0..plan.repeat).flat_map(|_| tenants.clone()).collect();
    let (mut served, mut unavailable) = (BTreeMap::<String, usize>::new(), 0);
    for _round in 0..10 {
        let outcome = send_all(&client, pending, plan.concurrency, plan.kind, plan.prefix).await;
        unavailable += outcome.unavailable;
        for (tenant, count) in outcome.served {
            *served.entry(tenant).or_default() += count;
        }
        pending = tenants
            .iter()
            .filter(|t| !served.contains_key(*t))
            .cloned()
            .collect();
        if pending.is_empty() {
            break;
        }
    }
    assert!(pending.is_empty(), "never served: {pending:?}");
    let stats = tenancy.pools().server("pg").unwrap().stats();
    assert!(unavailable > 0, "the budget was never reached: {stats:?}");
    assert_eq!(
        stats.timeouts, unavailable as u64,
        "every 503 is counted: {stats:?}"
    );
    let peak = peak.load(Ordering::Relaxed);
    assert!(
        peak as usize <= plan.budget,
        "the server saw {peak} sessions: {stats:?}"
    );

    // Idle connections close after the idle timeout, and with them every pool.
    let pool = tenancy.pools().server("pg").unwrap().clone();
    let mut admin = postgres_admin().await;
    let drained = network::eventually(async || {
        let stats = pool.stats();
        stats.connections_open == 0 && stats.pools_open == 0 && role.sessions(&mut admin).await == 0
    })
    .await;
    assert!(drained, "{:?}", pool.stats());
    sampler.abort();
    eprintln!(
        "{} tenants created in {created:?}; whole test {:?}; served {}, 503 {unavailable}, \
         peak {peak} sessions; {stats:?}",
        plan.tenants,
        started.elapsed(),
        served.values().sum::<usize>(),
    );

    tenancy.shutdown().await;
    role.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_schema_tenants_share_a_budget_of_twenty_under_the_roles_limit() {
    budget_holds_against_the_servers_limit(Plan {
        kind: Kind::PostgresSchema,
        role: "budget_pgs_role",
        prefix: "budget_pgs_",
        tenants: 500,
        budget: 20,
        repeat: 2,
        concurrency: 200,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_tenant_databases_share_a_budget_of_eight_under_the_roles_limit() {
    budget_holds_against_the_servers_limit(Plan {
        kind: Kind::PostgresDatabase,
        role: "budget_pgd_role",
        prefix: "budget_pgd_",
        tenants: 16,
        budget: 8,
        repeat: 8,
        concurrency: 64,
    })
    .await;
}

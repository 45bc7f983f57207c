//! Shared setup for the HTTP tests: a tenancy in a temporary directory, a tiny notes app
//! written against the public API, and ways to send it requests through the router as a
//! service or through a real socket.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

/// The core crate's test servers and catalogs, shared rather than copied.
#[path = "../../../tenancy/tests/support/network.rs"]
pub mod catalogs;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Json};
use axum::http::{HeaderMap, Request, StatusCode, Uri};
use axum::routing::get;
use serde_json::{Value, json};
use tempfile::TempDir;
use tenancy::identify::IdentifyOptions;
use tenancy::scope::{self, TenantContext};
use tenancy::sqlx;
use tenancy::{
    BoxError, BoxFuture, Connection, EmbeddedMigration, NewTenant, PoolOptions, Seeder, Tenancy,
    Tenant, TenantId, TenantMigrations,
};
use tenancy_axum::{CurrentTenant, Problem, TenantDb, split};
use tower::ServiceExt;

/// How many notes [`NotesSeeder`] writes into each tenant.
pub const SEEDED_NOTES: usize = 3;

/// Generous for a loaded machine; no test waits this long when it passes.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn notes_migrations() -> TenantMigrations {
    TenantMigrations::embedded(&[EmbeddedMigration {
        version: 1,
        description: "notes",
        sql: "CREATE TABLE notes (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            title      TEXT NOT NULL,
            body       TEXT NOT NULL,
            created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
        );",
    }])
}

/// Seeds notes titled `<tenant id>: note N`, so every row says whose it is.
pub struct NotesSeeder;

impl Seeder for NotesSeeder {
    fn seed<'a>(
        &'a self,
        tenant: &'a Tenant,
        conn: &'a mut Connection,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let sqlite = conn.as_sqlite().ok_or("tests run on SQLite only")?;
            for n in 1..=SEEDED_NOTES {
                sqlx::query("INSERT INTO notes (title, body) VALUES (?, ?)")
                    .bind(format!("{}: note {n}", tenant.id))
                    .bind("seeded")
                    .execute(&mut *sqlite)
                    .await?;
            }
            Ok(())
        })
    }
}

/// A tenancy in a temporary directory, removed when this is dropped.
pub struct TestApp {
    pub tenancy: Tenancy,
    pub dir: TempDir,
    pub catalog: catalogs::TestCatalog,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(IdentifyOptions::default(), PoolOptions::default()).await
    }

    pub async fn with(identify: IdentifyOptions, pool: PoolOptions) -> Self {
        Self::on(tenancy::Backend::Sqlite, identify, pool).await
    }

    /// With the catalog on `backend`; tenants on the built-in SQLite server.
    pub async fn on(
        backend: tenancy::Backend,
        identify: IdentifyOptions,
        pool: PoolOptions,
    ) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let catalog = catalogs::TestCatalog::new(backend).await;
        let tenancy = open_on(dir.path(), &catalog, identify, pool).await;
        TestApp {
            tenancy,
            dir,
            catalog,
        }
    }

    /// A second handle on the same data and catalog, as another process would open it.
    pub async fn open_again(&self) -> Tenancy {
        open_on(
            self.dir.path(),
            &self.catalog,
            Default::default(),
            Default::default(),
        )
        .await
    }

    /// Creates and seeds an active tenant, with these domains.
    pub async fn create(&self, id: &str, domains: &[&str]) -> Tenant {
        let mut new = NewTenant::new(tenant_id(id));
        new.seed = true;
        new.domains = domains.iter().map(|domain| domain.to_string()).collect();
        self.tenancy
            .create_tenant(new)
            .await
            .expect("creating a test tenant")
    }

    /// The whole application: central routes and the notes app behind the layer.
    pub fn router(&self) -> Router {
        app(self.tenancy.clone())
    }

    pub fn tenants_dir(&self) -> PathBuf {
        self.dir.path().join("tenants")
    }
}

/// A tenancy on an existing data directory, as a second process would open it.
pub async fn open(data_dir: &Path, identify: IdentifyOptions, pool: PoolOptions) -> Tenancy {
    Tenancy::builder(data_dir)
        .identify(identify)
        .pool(pool)
        .migrations(notes_migrations())
        .seeder(NotesSeeder)
        .build()
        .await
        .expect("building a tenancy in a temporary directory")
}

/// [`open`] with the catalog elsewhere.
pub async fn open_on(
    data_dir: &Path,
    catalog: &catalogs::TestCatalog,
    identify: IdentifyOptions,
    pool: PoolOptions,
) -> Tenancy {
    catalog
        .apply(Tenancy::builder(data_dir))
        .identify(identify)
        .pool(pool)
        .migrations(notes_migrations())
        .seeder(NotesSeeder)
        .build()
        .await
        .expect("building a tenancy in a temporary directory")
}

pub fn tenant_id(raw: &str) -> TenantId {
    TenantId::parse(raw).expect("a valid test tenant id")
}

pub fn with_header() -> IdentifyOptions {
    IdentifyOptions {
        header: true,
        ..IdentifyOptions::default()
    }
}

pub fn with_path_prefix() -> IdentifyOptions {
    IdentifyOptions {
        path_prefix: true,
        ..IdentifyOptions::default()
    }
}

pub fn app(tenancy: Tenancy) -> Router {
    split(tenancy, central_routes(), notes_routes())
}

/// The central side: says it is central and whether any tenant leaked into it.
pub fn central_routes() -> Router {
    Router::new().fallback(central)
}

async fn central(request: Request<Body>) -> Json<Value> {
    // Give any other task on this thread a chance to run in between, as a leak would need.
    tokio::task::yield_now().await;
    Json(json!({
        "side": "central",
        "scope": scope::current().map(|context| context.tenant().id.to_string()),
        "context": request.extensions().get::<TenantContext>().is_some(),
        "path": request.uri().path(),
    }))
}

/// The tenant side: the notes app of the workload, reduced, and `/whoami`.
pub fn notes_routes() -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/notes", get(list_notes).post(create_note))
        .route("/peer", get(peer))
}

async fn whoami(CurrentTenant(tenant): CurrentTenant, uri: Uri) -> Json<Value> {
    Json(json!({ "side": "tenant", "tenant": tenant.id.as_str(), "path": uri.path() }))
}

/// The client's address, to tell whether two requests came over one connection.
async fn peer(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> String {
    peer.to_string()
}

async fn list_notes(db: TenantDb) -> Result<Json<Vec<String>>, Problem> {
    let mut conn = db.acquire().await?;
    let sqlite = conn.as_sqlite().expect("tests run on SQLite only");
    let titles = sqlx::query_scalar("SELECT title FROM notes ORDER BY id DESC LIMIT 100")
        .fetch_all(sqlite)
        .await
        .map_err(|error| Problem::from(tenancy::Error::Database(error)))?;
    Ok(Json(titles))
}

async fn create_note(db: TenantDb, Json(note): Json<Value>) -> Result<Json<Value>, Problem> {
    let title = note["title"].as_str().unwrap_or_default().to_owned();
    let mut conn = db.acquire().await?;
    let sqlite = conn.as_sqlite().expect("tests run on SQLite only");
    let id: i64 = sqlx::query_scalar("INSERT INTO notes (title, body) VALUES (?, '') RETURNING id")
        .bind(&title)
        .fetch_one(sqlite)
        .await
        .map_err(|error| Problem::from(tenancy::Error::Database(error)))?;
    Ok(Json(json!({ "id": id, "title": title })))
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The problem code of an error answer, or `""`.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// Which tenant answered `/whoami`, or `"central"`.
    pub fn answered_by(&self) -> &str {
        match self.body["side"].as_str() {
            Some("central") => "central",
            _ => self.body["tenant"].as_str().unwrap_or("nobody"),
        }
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }
}

/// Sends one request through the router as a tower service.
pub async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router never fails");
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("a readable body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub fn request(host: &str, path: &str) -> Request<Body> {
    Request::get(path)
        .header("host", host)
        .body(Body::empty())
        .expect("a valid request")
}

/// `GET path` with this `Host`, through the router.
pub async fn get_from(router: &Router, host: &str, path: &str) -> Reply {
    send(router, request(host, path)).await
}

/// Serves the router on a real socket on 127.0.0.1, with the peer address available.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1:0");
    let addr = listener.local_addr().expect("a bound address");
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        axum::serve(listener, service)
            .await
            .expect("the test server runs until the test ends")
    });
    addr
}

/// An HTTP client for the test servers (plain HTTP on loopback).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(PATIENCE)
        .build()
        .expect("an HTTP client")
}

/// Tenant databases in `tenants_dir` that this process holds open, by name.
pub fn open_tenant_databases(tenants_dir: &Path) -> BTreeSet<String> {
    let Ok(tenants_dir) = tenants_dir.canonicalize() else {
        return BTreeSet::new();
    };
    let entries = std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd is readable");
    entries
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.parent() == Some(tenants_dir.as_path()))
        .filter_map(|target| {
            let name = target.file_name()?.to_str()?;
            let name = name.trim_end_matches("-wal").trim_end_matches("-shm");
            name.strip_suffix(".sqlite").map(str::to_owned)
        })
        .collect()
}

/// Thread ids of sqlx's SQLite workers; each SQLite connection runs on one.
pub fn sqlite_worker_threads() -> BTreeSet<u32> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task is readable");
    tasks
        .filter_map(|task| {
            let task = task.ok()?;
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            // The kernel keeps 15 bytes of `sqlx-sqlite-worker-N`.
            comm.starts_with("sqlx-sqlite-wor")
                .then(|| task.file_name().to_str()?.parse().ok())?
        })
        .collect()
}

/// Polls `check` until it holds or [`PATIENCE`] has passed; returns whether it held.
pub async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

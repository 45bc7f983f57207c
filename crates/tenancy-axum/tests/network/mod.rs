//! Shared setup for the HTTP tests on real PostgreSQL and MariaDB servers: the servers'
//! URLs, clearing what an interrupted run left, the notes app written once for every
//! backend, and an HTTP client for it on a real socket.
//!
//! URLs come from `TENANCY_TEST_POSTGRES_URL` and `TENANCY_TEST_MYSQL_URL`, defaulting to the
//! servers of a development machine. A server that cannot be reached fails the test that
//! needs it: these tests never skip. Every test uses its own prefix (and its own role or
//! database where it needs one), so the tests run in parallel and a rerun clears what an
//! interrupted run left.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

pub mod proxy;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::extract::{Json, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use tenancy::sqlx::{self, Connection as _};
use tenancy::{
    Connection, EmbeddedMigration, Isolation, PoolOptions, Server, ServerOptions, Tenancy,
    TenantId, TenantMigrations,
};
use tenancy_axum::{CurrentTenant, Problem, TenantDb, split};

/// Generous for a loaded machine; no test waits this long when it passes.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn postgres_url() -> String {
    std::env::var("TENANCY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn mysql_url() -> String {
    std::env::var("TENANCY_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// The PostgreSQL URL with another user and database (the server's address kept).
pub fn postgres_url_as(user: &str, database: &str) -> String {
    let addr = proxy::url_addr(&postgres_url());
    format!("postgres://{user}@{addr}/{database}")
}

/// `url` with a query parameter added.
pub fn with_param(url: &str, key: &str, value: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{key}={value}")
}

pub async fn postgres_admin() -> sqlx::PgConnection {
    sqlx::PgConnection::connect(&postgres_url())
        .await
        .expect("PostgreSQL must be reachable at TENANCY_TEST_POSTGRES_URL")
}

pub async fn mysql_admin() -> sqlx::MySqlConnection {
    sqlx::MySqlConnection::connect(&mysql_url())
        .await
        .expect("MariaDB must be reachable at TENANCY_TEST_MYSQL_URL")
}

pub async fn execute_pg(conn: &mut sqlx::PgConnection, sql: String) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
        .execute(conn)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// Schemas (in the URL's database) or databases on the PostgreSQL server whose names start
/// with `prefix`.
pub async fn postgres_names(prefix: &str, schemas: bool) -> Vec<String> {
    let sql = match schemas {
        true => "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY 1",
        false => "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1",
    };
    sqlx::query_scalar(sql)
        .bind(prefix)
        .fetch_all(&mut postgres_admin().await)
        .await
        .expect("listing PostgreSQL names")
}

/// Databases on the MariaDB server whose names start with `prefix`.
pub async fn mysql_names(prefix: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA \
         WHERE SCHEMA_NAME LIKE CONCAT(?, '%') ORDER BY 1",
    )
    .bind(prefix)
    .fetch_all(&mut mysql_admin().await)
    .await
    .expect("listing MariaDB databases")
}

/// Drops what an interrupted run with this prefix left on both servers.
pub async fn clear_leftovers(prefix: &str) {
    let mut pg = postgres_admin().await;
    for schema in postgres_names(prefix, true).await {
        execute_pg(&mut pg, format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
    }
    for database in postgres_names(prefix, false).await {
        execute_pg(
            &mut pg,
            format!("DROP DATABASE \"{database}\" WITH (FORCE)"),
        )
        .await;
    }
    let mut my = mysql_admin().await;
    for database in mysql_names(prefix).await {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE `{database}`")))
            .execute(&mut my)
            .await
            .expect("dropping a leftover database");
    }
}

/// The three kinds of network tenant storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    PostgresDatabase,
    PostgresSchema,
    MySql,
}

impl Kind {
    /// A server of this kind at `url`, naming tenant storage with `prefix`.
    pub fn server(self, name: &str, url: &str, prefix: &str) -> Server {
        match self {
            Kind::PostgresDatabase => Server::postgres(name, url, Isolation::Database, prefix),
            Kind::PostgresSchema => Server::postgres(name, url, Isolation::Schema, prefix),
            Kind::MySql => Server::mysql(name, url, prefix),
        }
        .expect("a valid test server URL")
    }

    /// The same kind on the machine's own server.
    pub fn default_server(self, name: &str, prefix: &str) -> Server {
        match self {
            Kind::MySql => self.server(name, &mysql_url(), prefix),
            _ => self.server(name, &postgres_url(), prefix),
        }
    }

    /// Tenant storage with this prefix on the server, by name.
    pub async fn names(self, prefix: &str) -> Vec<String> {
        match self {
            Kind::PostgresDatabase => postgres_names(prefix, false).await,
            Kind::PostgresSchema => postgres_names(prefix, true).await,
            Kind::MySql => mysql_names(prefix).await,
        }
    }
}

const SQLITE_NOTES: &str = "CREATE TABLE notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
)";

const POSTGRES_NOTES: &str = "CREATE TABLE notes (
    id BIGSERIAL PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

const MYSQL_NOTES: &str = "CREATE TABLE notes (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    title VARCHAR(200) NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)";

/// The workload's notes table, in each backend's dialect.
pub fn notes_migrations() -> TenantMigrations {
    let one = |sql| {
        [EmbeddedMigration {
            version: 1,
            description: "notes",
            sql,
        }]
    };
    TenantMigrations::per_backend(&one(SQLITE_NOTES), &one(POSTGRES_NOTES), &one(MYSQL_NOTES))
}

/// A tenancy in `dir` with these servers (and the local SQLite server when `local`).
pub async fn open(
    dir: &Path,
    servers: Vec<(Server, ServerOptions)>,
    pool: PoolOptions,
    local: bool,
) -> Tenancy {
    let mut builder = Tenancy::builder(dir)
        .pool(pool)
        .migrations(notes_migrations());
    if !local {
        builder = builder.local_server(None);
    }
    for (server, options) in servers {
        builder = builder.server(server, options);
    }
    builder.build().await.expect("tenancy opens")
}

pub fn tenant_id(raw: &str) -> TenantId {
    TenantId::parse(raw).expect("a valid test tenant id")
}

/// Where a connection is and which server session it is, as the server itself says.
#[derive(Debug, Clone)]
pub struct Session {
    /// PostgreSQL `pg_backend_pid()`, MySQL `CONNECTION_ID()`; 0 on SQLite.
    pub conn_id: i64,
    /// PostgreSQL `current_schema()`, MySQL `DATABASE()`; `main` on SQLite.
    pub schema: String,
    /// PostgreSQL `current_database()`, MySQL `DATABASE()`; `main` on SQLite.
    pub database: String,
}

pub async fn session(conn: &mut Connection) -> Result<Session, sqlx::Error> {
    match conn {
        Connection::Postgres(pg) => {
            let (conn_id, schema, database): (i32, Option<String>, String) = sqlx::query_as(
                "SELECT pg_backend_pid(), current_schema()::text, current_database()::text",
            )
            .fetch_one(pg)
            .await?;
            let schema = schema.unwrap_or_default();
            Ok(Session {
                conn_id: conn_id.into(),
                schema,
                database,
            })
        }
        Connection::MySql(my) => {
            let (conn_id, database): (i64, Option<String>) =
                sqlx::query_as("SELECT CAST(CONNECTION_ID() AS SIGNED), DATABASE()")
                    .fetch_one(my)
                    .await?;
            let database = database.unwrap_or_default();
            Ok(Session {
                conn_id,
                schema: database.clone(),
                database,
            })
        }
        _ => Ok(Session {
            conn_id: 0,
            schema: "main".into(),
            database: "main".into(),
        }),
    }
}

pub async fn insert_note(conn: &mut Connection, title: &str) -> Result<i64, sqlx::Error> {
    match conn {
        Connection::Postgres(pg) => {
            sqlx::query_scalar("INSERT INTO notes (title, body) VALUES ($1, '') RETURNING id")
                .bind(title)
                .fetch_one(pg)
                .await
        }
        Connection::MySql(my) => {
            let done = sqlx::query("INSERT INTO notes (title, body) VALUES (?, '')")
                .bind(title)
                .execute(my)
                .await?;
            Ok(i64::try_from(done.last_insert_id()).expect("ids fit in i64"))
        }
        other => {
            let sqlite = other.as_sqlite().expect("one of the three backends");
            sqlx::query_scalar("INSERT INTO notes (title, body) VALUES (?, '') RETURNING id")
                .bind(title)
                .fetch_one(sqlite)
                .await
        }
    }
}

pub async fn titles(conn: &mut Connection) -> Result<Vec<String>, sqlx::Error> {
    let sql = "SELECT title FROM notes ORDER BY id";
    match conn {
        Connection::Postgres(pg) => sqlx::query_scalar(sql).fetch_all(pg).await,
        Connection::MySql(my) => sqlx::query_scalar(sql).fetch_all(my).await,
        other => {
            let sqlite = other.as_sqlite().expect("one of the three backends");
            sqlx::query_scalar(sql).fetch_all(sqlite).await
        }
    }
}

fn database_error(error: sqlx::Error) -> Problem {
    Problem::from(tenancy::Error::Database(error))
}

/// The whole application: a central side that says so, and the notes app for tenants.
pub fn app(tenancy: Tenancy) -> Router {
    let central = Router::new().fallback(|| async { Json(json!({ "side": "central" })) });
    let tenants = Router::new()
        .route("/session", get(show_session))
        .route("/notes", get(list_notes).post(create_note));
    split(tenancy, central, tenants)
}

#[derive(serde::Deserialize)]
struct Hold {
    /// Keeps the connection checked out this long after the query, to make it scarce.
    #[serde(default)]
    hold_ms: u64,
}

/// `GET /session`: the tenant and the server session that served it.
async fn show_session(
    CurrentTenant(tenant): CurrentTenant,
    db: TenantDb,
    Query(hold): Query<Hold>,
) -> Result<Json<Value>, Problem> {
    let mut conn = db.acquire().await?;
    let session = session(&mut conn).await.map_err(database_error)?;
    tokio::time::sleep(Duration::from_millis(hold.hold_ms)).await;
    Ok(Json(json!({
        "tenant": tenant.id.as_str(),
        "conn_id": session.conn_id,
        "schema": session.schema,
        "database": session.database,
    })))
}

async fn list_notes(db: TenantDb) -> Result<Json<Vec<String>>, Problem> {
    let mut conn = db.acquire().await?;
    Ok(Json(titles(&mut conn).await.map_err(database_error)?))
}

#[derive(serde::Deserialize)]
struct NewNote {
    title: String,
    /// Also writes `<title> (spawned)` from a task spawned with `tenancy::scope::spawn`.
    #[serde(default)]
    spawn: bool,
}

/// `POST /notes`: writes the note as given, and says where the connection pointed.
async fn create_note(db: TenantDb, Json(note): Json<NewNote>) -> Result<Json<Value>, Problem> {
    let spawned = note.spawn.then(|| {
        let title = format!("{} (spawned)", note.title);
        tenancy::scope::spawn(async move { write_in_scope(&title).await })
    });
    let mut conn = db.acquire().await?;
    let id = insert_note(&mut conn, &note.title)
        .await
        .map_err(database_error)?;
    let at = session(&mut conn).await.map_err(database_error)?;
    drop(conn);

    let spawned_at = match spawned {
        Some(task) => Some(task.await.expect("the spawned write does not panic")?),
        None => None,
    };
    Ok(Json(json!({
        "id": id,
        "schema": at.schema,
        "database": at.database,
        "spawned_schema": spawned_at.map(|s| s.schema),
    })))
}

/// Writes a note through the tenant of the task's scope, and says where it went.
async fn write_in_scope(title: &str) -> Result<Session, Problem> {
    let context = tenancy::scope::current().ok_or_else(|| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no_scope",
            "spawned work lost its tenant",
        )
    })?;
    tokio::task::yield_now().await;
    let mut conn = context.connect().await.map_err(Problem::from)?;
    insert_note(&mut conn, title)
        .await
        .map_err(database_error)?;
    session(&mut conn).await.map_err(database_error)
}

/// Serves the router on a real socket on 127.0.0.1.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1:0");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("the test server runs until the test ends")
    });
    addr
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

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    pub fn field(&self, name: &str) -> &str {
        self.body[name].as_str().unwrap_or_default()
    }
}

/// An HTTP client for one served app, addressing tenants by subdomain of `localhost`.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    addr: SocketAddr,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(PATIENCE)
            .build()
            .expect("an HTTP client");
        Client { http, addr }
    }

    /// `GET path` for the tenant.
    pub async fn get(&self, tenant: &str, path: &str) -> Reply {
        let request = self.http.get(format!("http://{}{path}", self.addr));
        read(request.header("host", format!("{tenant}.localhost"))).await
    }

    /// `POST path` with a JSON body for the tenant.
    pub async fn post(&self, tenant: &str, path: &str, body: Value) -> Reply {
        let request = self.http.post(format!("http://{}{path}", self.addr));
        read(
            request
                .header("host", format!("{tenant}.localhost"))
                .json(&body),
        )
        .await
    }
}

async fn read(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the test server answers");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.bytes().await.expect("a readable body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply {
        status,
        headers,
        body,
    }
}

/// Polls `check` until it holds or [`PATIENCE`] has passed; returns whether it held.
pub async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

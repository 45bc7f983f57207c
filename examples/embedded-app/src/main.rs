//! An application that embeds Artflow Tenancy in its own binary.
//!
//! It brings its own tenant schema (a `greetings` table) and seeder, serves its own handler
//! on tenant hosts and a health check on central hosts, and mounts the library's `tenants`
//! commands under its own CLI:
//!
//! ```sh
//! cargo run -p embedded-app -- tenants create acme --seed
//! cargo run -p embedded-app -- serve
//! curl http://acme.localhost:3000/greeting
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::routing::get;
use clap::{Parser, Subcommand};
use tenancy::sqlx;
use tenancy::{
    BoxError, BoxFuture, Connection, EmbeddedMigration, Seeder, Tenancy, Tenant, TenantMigrations,
};
use tenancy_axum::{CurrentTenant, Problem, TenantDb, split};
use tenancy_server::cli::TenantsCommand;
use tenancy_server::output::Output;

/// The schema every tenant database of this application receives.
const MIGRATIONS: &[EmbeddedMigration] = &[EmbeddedMigration {
    version: 1,
    description: "greetings",
    sql: "CREATE TABLE greetings (id INTEGER PRIMARY KEY, text TEXT NOT NULL);",
}];

/// Greeter: one greeting per tenant, chosen by the request's host.
#[derive(Debug, Parser)]
struct Cli {
    /// Folder for the catalog and the tenant databases.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the application.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
    },
    /// Manage tenants: the library's own commands, mounted here.
    #[command(subcommand)]
    Tenants(TenantsCommand),
}

/// Writes a first greeting into a new tenant's database when it is created with `--seed`.
struct WelcomeSeeder;

impl Seeder for WelcomeSeeder {
    fn seed<'a>(
        &'a self,
        tenant: &'a Tenant,
        conn: &'a mut Connection,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let conn = conn.as_sqlite().ok_or("this application needs SQLite")?;
            sqlx::query("INSERT INTO greetings (text) VALUES (?)")
                .bind(format!("Welcome to {}", tenant.name))
                .execute(conn)
                .await?;
            Ok(())
        })
    }
}

async fn open(data_dir: PathBuf) -> Result<Tenancy, tenancy::Error> {
    Tenancy::builder(data_dir)
        .migrations(TenantMigrations::embedded(MIGRATIONS))
        .seeder(WelcomeSeeder)
        .build()
        .await
}

/// Central hosts get a health check; tenant hosts get the application.
fn app(tenancy: Tenancy) -> Router {
    let central = Router::new().route("/healthz", get(|| async { "ok" }));
    let tenants = Router::new().route("/greeting", get(greeting));
    split(tenancy, central, tenants)
}

async fn greeting(CurrentTenant(tenant): CurrentTenant, db: TenantDb) -> Result<String, Problem> {
    let mut conn = db.acquire().await?;
    let sqlite = conn.as_sqlite().expect("the embedded server is SQLite");
    let text: Option<String> = sqlx::query_scalar("SELECT text FROM greetings ORDER BY id LIMIT 1")
        .fetch_optional(sqlite)
        .await
        .map_err(|error| Problem::from(tenancy::Error::Database(error)))?;

    Ok(text.unwrap_or_else(|| format!("Hello, {}", tenant.name)) + "\n")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let tenancy = open(cli.data_dir).await?;

    match cli.command {
        Command::Serve { listen } => {
            let listener = tokio::net::TcpListener::bind(listen).await?;
            axum::serve(listener, app(tenancy.clone())).await?;
        }
        Command::Tenants(command) => {
            let out = Output { json: false };
            tenancy_server::commands::tenants::run(&tenancy, command, out).await?;
        }
    }
    tenancy.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use tenancy::{NewTenant, TenantId};
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_seeded_tenant_is_greeted_on_its_own_host() {
        let dir = tempfile::tempdir().unwrap();
        let tenancy = open(dir.path().to_path_buf()).await.unwrap();
        let new = NewTenant {
            name: Some("Acme Inc.".into()),
            seed: true,
            ..NewTenant::new(TenantId::parse("acme").unwrap())
        };
        tenancy.create_tenant(new).await.unwrap();

        let request = Request::get("/greeting")
            .header("host", "acme.localhost:3000")
            .body(Body::empty())
            .unwrap();
        let response = app(tenancy.clone()).oneshot(request).await.unwrap();

        assert_eq!(response.status(), StatusCode::OK);
        let body = to_bytes(response.into_body(), 1024).await.unwrap();
        assert_eq!(body, "Welcome to Acme Inc.\n");
        tenancy.shutdown().await;
    }
}

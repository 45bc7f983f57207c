//! Serves the demo's notes handlers from one database (SQLite, or PostgreSQL or MySQL) and one pool, with no tenant
//! identification: the no-tenancy baseline of the benchmarks.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use artflow_tenancy_bench::baseline::{self, BaselineOptions};
use clap::Parser;
use tokio::net::TcpListener;

/// The no-tenancy baseline server.
#[derive(Debug, Parser)]
struct Args {
    /// The database file (created and seeded with notes titled `t1: …` when missing).
    #[arg(long, default_value = "baseline.sqlite")]
    database: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Connections in the one pool.
    #[arg(long, default_value_t = BaselineOptions::default().max_connections)]
    max_connections: u32,
    /// Serve from schema `bench_baseline` on this PostgreSQL server instead of SQLite.
    #[arg(long, value_name = "URL", conflicts_with = "mysql")]
    postgres: Option<String>,
    /// Serve from database `bench_baseline` on this MySQL/MariaDB server instead of SQLite.
    #[arg(long, value_name = "URL")]
    mysql: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = BaselineOptions {
        max_connections: args.max_connections,
        ..BaselineOptions::default()
    };
    let app = match (&args.postgres, &args.mysql) {
        (Some(url), _) => baseline::app_postgres(baseline::open_postgres(url, &options).await?),
        (None, Some(url)) => baseline::app_mysql(baseline::open_mysql(url, &options).await?),
        (None, None) => baseline::app(baseline::open(&args.database, &options).await?),
    };
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("baseline listening on http://{}", listener.local_addr()?);

    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM can be listened for");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate.recv() => {},
    }
}

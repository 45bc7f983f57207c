//! Serves the demo's notes handlers from one SQLite database and one pool, with no tenant
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = BaselineOptions {
        max_connections: args.max_connections,
        ..BaselineOptions::default()
    };
    let pool = baseline::open(&args.database, &options).await?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("baseline listening on http://{}", listener.local_addr()?);

    axum::serve(listener, baseline::app(pool.clone()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    pool.close().await;
    Ok(())
}

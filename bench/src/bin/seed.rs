//! Creates tenants `t1 … tN` through the library, in parallel, and reports provisioning
//! throughput. Tenants that exist already are left alone, so the command can be re-run.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use tenancy::{NewTenant, TenantId};
use tenancy_server::config::{Config, Overrides};

/// Seed benchmark tenants.
#[derive(Debug, Parser)]
struct Args {
    /// Folder for the catalog and tenant databases.
    #[arg(long, default_value = "data")]
    data_dir: std::path::PathBuf,
    /// A `tenancy.toml` naming network servers (`[servers.NAME]`).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// The server to place the tenants on; default: the placement policy's choice.
    #[arg(long)]
    server: Option<String>,
    /// How many tenants (`t1 … tN`).
    #[arg(long, default_value_t = 100)]
    tenants: usize,
    /// Tenants created at once.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Notes per tenant (the workload seeds 100); 0 runs no seeder (the demo's seeder
    /// writes SQLite only).
    #[arg(long, default_value_t = 100)]
    notes: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let overrides = Overrides {
        data_dir: Some(args.data_dir.clone()),
        ..Overrides::default()
    };
    let config = Config::load(args.config.as_deref(), &overrides)?;
    let tenancy = tenancy_server::open_with_seed_notes(&config, "bench", args.notes).await?;

    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.parallel.max(1) {
        let (tenancy, next, total) = (tenancy.clone(), next.clone(), args.tenants);
        let (server, seed) = (args.server.clone(), args.notes > 0);
        workers.spawn(async move {
            let mut created = 0usize;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n > total {
                    return Ok::<_, anyhow::Error>(created);
                }
                let id = TenantId::parse(&format!("t{n}")).context("tenant id")?;
                if tenancy.catalog().tenant(&id).await?.is_some() {
                    continue;
                }
                let new = NewTenant {
                    seed,
                    server: server.clone(),
                    ..NewTenant::new(id)
                };
                tenancy.create_tenant(new).await?;
                created += 1;
            }
        });
    }
    let mut created = 0;
    while let Some(done) = workers.join_next().await {
        created += done??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    tenancy.shutdown().await;

    let per_second = if elapsed > 0.0 {
        created as f64 / elapsed
    } else {
        0.0
    };
    if args.json {
        let result = serde_json::json!({
            "created": created, "seconds": elapsed, "tenants_per_second": per_second,
        });
        println!("{result}");
    } else {
        println!("created {created} tenants in {elapsed:.2} s ({per_second:.0} tenants/s)");
    }
    Ok(())
}

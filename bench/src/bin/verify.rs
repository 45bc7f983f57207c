//! Checks that every tenant database (or the baseline database) holds only its own rows.
//!
//! Exits 1 when any row's title does not start with its database's tenant id.

use std::path::PathBuf;
use std::process::ExitCode;

use artflow_tenancy_bench::{baseline, verify};
use clap::Parser;
use tenancy_server::config::{Config, Overrides};

/// Isolation check after a benchmark run.
#[derive(Debug, Parser)]
struct Args {
    /// Folder of the catalog and tenant databases.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// A `tenancy.toml` naming network servers.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Check this baseline database instead of the tenants.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Check the PostgreSQL baseline on this server instead of the tenants.
    #[arg(long, value_name = "URL", conflicts_with = "baseline")]
    baseline_postgres: Option<String>,
    /// Check the MySQL/MariaDB baseline on this server instead of the tenants.
    #[arg(long, value_name = "URL", conflicts_with_all = ["baseline", "baseline_postgres"])]
    baseline_mysql: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let report = match (&args.baseline, &args.baseline_postgres) {
        (None, None) if args.baseline_mysql.is_some() => {
            let url = args.baseline_mysql.as_deref().unwrap_or_default();
            let pool = baseline::open_mysql(url, &baseline::BaselineOptions::default()).await?;
            let report = verify::baseline_mysql(&pool, baseline::BASELINE_TENANT).await?;
            pool.close().await;
            report
        }
        (None, Some(url)) => {
            let options = baseline::BaselineOptions::default();
            let pool = baseline::open_postgres(url, &options).await?;
            let report = verify::baseline_postgres(&pool, baseline::BASELINE_TENANT).await?;
            pool.close().await;
            report
        }
        (Some(path), _) => {
            let pool = baseline::open(path, &baseline::BaselineOptions::default()).await?;
            let report = verify::baseline(&pool, baseline::BASELINE_TENANT).await?;
            pool.close().await;
            report
        }
        (None, None) => {
            let overrides = Overrides {
                data_dir: Some(args.data_dir.clone()),
                ..Overrides::default()
            };
            let config = Config::load(args.config.as_deref(), &overrides)?;
            let tenancy = tenancy_server::open(&config, "bench").await?;
            let report = verify::tenants(&tenancy).await?;
            tenancy.shutdown().await;
            report
        }
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(match report.foreign_rows {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

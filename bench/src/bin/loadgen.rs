//! Runs the notes workload against a server and checks every response.
//!
//! Exits 1 when any returned row belongs to another tenant, whatever the throughput.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use artflow_tenancy_bench::loadgen::{self, LoadOptions, LoadReport, Popularity};
use clap::{Parser, ValueEnum};

/// Load generator for the notes workload.
#[derive(Debug, Parser)]
struct Args {
    /// The server's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    target: SocketAddr,
    /// The `Host` header; `{n}` stands for the tenant number.
    #[arg(long, default_value = "t{n}.localhost")]
    host_pattern: String,
    /// Tenants `t1 … tN`.
    #[arg(long, default_value_t = 1)]
    tenants: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Timed seconds.
    #[arg(long, default_value_t = 20.0)]
    duration_secs: f64,
    /// Untimed warm-up seconds before.
    #[arg(long, default_value_t = 5.0)]
    warmup_secs: f64,
    /// Percentage of writes (`POST /notes`); 0 is the read run.
    #[arg(long, default_value_t = 10)]
    write_percent: u32,
    /// How tenants are picked.
    #[arg(long, value_enum, default_value_t = PopularityArg::Uniform)]
    popularity: PopularityArg,
    /// The Zipf exponent.
    #[arg(long, default_value_t = 1.1)]
    zipf_s: f64,
    /// Seed of the tenant sequence.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads of the generator (it shares the machine with the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PopularityArg {
    Uniform,
    Zipf,
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    anyhow::ensure!(args.write_percent <= 100, "--write-percent is at most 100");
    let options = LoadOptions {
        host_pattern: args.host_pattern.clone(),
        connections: args.connections,
        duration: Duration::from_secs_f64(args.duration_secs),
        warmup: Duration::from_secs_f64(args.warmup_secs),
        write_percent: args.write_percent,
        popularity: match args.popularity {
            PopularityArg::Uniform => Popularity::Uniform,
            PopularityArg::Zipf => Popularity::Zipf(args.zipf_s),
        },
        seed: args.seed,
        ..LoadOptions::new(args.target, args.tenants)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    let report = runtime.block_on(loadgen::run(options))?;

    match args.json {
        true => println!("{}", serde_json::to_string(&report)?),
        false => print_human(&report),
    }
    Ok(match report.foreign_rows {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

fn print_human(report: &LoadReport) {
    println!(
        "{:.0} req/s over {:.1} s ({} reads, {} writes)",
        report.requests_per_second, report.seconds, report.reads, report.writes
    );
    println!(
        "latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        report.p50_us as f64 / 1000.0,
        report.p99_us as f64 / 1000.0,
        report.max_us as f64 / 1000.0
    );
    println!(
        "errors {} (transport {}, statuses {:?}); rows checked {}, foreign rows {}",
        report.errors,
        report.transport_errors,
        report.error_statuses,
        report.rows_checked,
        report.foreign_rows
    );
}

//! The `tenancy` command.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tenancy_server::cli::{Cli, Command};
use tenancy_server::commands;
use tenancy_server::config::{CONFIG_EXIT_CODE, Config, LogFormat, Overrides};
use tenancy_server::output::{self, Output, STDOUT_CLOSED_EXIT_CODE, StdoutClosed};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let listen = match &cli.command {
        Command::Serve(args) => args.listen,
        _ => None,
    };
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        listen,
        log_format: cli.log_format,
    };
    let config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(CONFIG_EXIT_CODE as u8);
        }
    };
    init_logging(&config, matches!(cli.command, Command::Serve(_)));

    let runtime = tokio::runtime::Runtime::new().expect("the Tokio runtime starts");
    match runtime.block_on(run(cli, config)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        // The reader of the output is gone (`… | head`): nobody is left to tell.
        Err(error) if error.is::<StdoutClosed>() => ExitCode::from(STDOUT_CLOSED_EXIT_CODE),
        Err(error) => {
            output::note(&format!("error: {}", chain(&error)));
            ExitCode::FAILURE
        }
    }
}

/// Runs the command; `Ok(false)` means it ran but found a problem (doctor).
async fn run(cli: Cli, config: Config) -> anyhow::Result<bool> {
    let out = Output { json: cli.json };
    if let Command::Init(args) = &cli.command {
        commands::init::run(args, out)?;
        return Ok(true);
    }
    let actor = match cli.command {
        Command::Serve(_) => "server",
        _ => "cli",
    };
    let tenancy = tenancy_server::open(&config, actor).await?;
    let result = match cli.command {
        Command::Serve(args) => {
            let proxies = config.trusted_proxies()?;
            let options = tenancy_server::serve::AppOptions {
                public_metrics: config.metrics.public,
            };
            tenancy_server::serve::run(tenancy.clone(), config.listen, args.demo, proxies, options)
                .await
                .map(|()| true)
        }
        Command::Tenants(command) => commands::tenants::run(&tenancy, command, out)
            .await
            .map(|()| true),
        Command::Domains(command) => commands::domains::run(&tenancy, command, out)
            .await
            .map(|()| true),
        Command::Doctor(args) => commands::doctor::run(&tenancy, args, out).await,
        Command::Migrate(args) => commands::migrate::run(&tenancy, args, out).await,
        Command::Seed(args) => commands::migrate::seed(&tenancy, args, out).await,
        Command::Run(args) => commands::migrate::run_sql(&tenancy, args, out).await,
        Command::Traffic(command) => commands::traffic::run(&tenancy, command, out)
            .await
            .map(|()| true),
        Command::Keys(command) => commands::keys::run(&tenancy, command, out)
            .await
            .map(|()| true),
        Command::Init(_) => unreachable!("handled above"),
    };
    tenancy.shutdown().await;
    result
}

fn chain(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        // Some errors (sqlx's among them) repeat their source in their own message.
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

fn init_logging(config: &Config, serving: bool) {
    // Commands print their results on stdout; only warnings belong on stderr unless asked.
    let default = if serving { "info" } else { "warn" };
    let filter = EnvFilter::try_from_env("TENANCY_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person watching; log files and pipes get plain text.
        .with_ansi(std::io::stderr().is_terminal());
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

//! The `tenancy` binary as a library: configuration, CLI, server and the demo application.
//!
//! Everything the binary does, an application can do by embedding these pieces: build a
//! [`tenancy::Tenancy`] with [`open`], mount [`cli::TenantsCommand`] in its own clap
//! parser and run it with [`commands::tenants::run`], and serve with [`serve::app`].

pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod metrics;
pub mod notes;
pub mod output;
pub mod serve;
pub mod stats;

use tenancy::{ServerOptions, Tenancy, TenantMigrations};

use crate::config::Config;

/// Opens the catalog and pools the configuration describes, with the configured tenant
/// migrations (the demo's by default, with its seeder).
pub async fn open(config: &Config, actor: &str) -> anyhow::Result<Tenancy> {
    open_with_seed_notes(config, actor, demo::SEED_NOTES).await
}

/// [`open`], with the demo seeder writing `seed_notes` notes per tenant (benchmarks seed
/// the workload's 100).
pub async fn open_with_seed_notes(
    config: &Config,
    actor: &str,
    seed_notes: usize,
) -> anyhow::Result<Tenancy> {
    let mut builder = Tenancy::builder(&config.data_dir);
    if let Some(url) = &config.catalog.url {
        builder = builder.catalog_url(url);
    }
    let mut builder = builder
        .identify(config.identify_options())
        .pool(config.pool_options())
        .actor(actor);
    for (name, server) in &config.servers {
        let options = ServerOptions {
            max_connections: server.max_connections,
            accepts_new_tenants: server.accepts_new_tenants,
        };
        if name == tenancy::LOCAL_SERVER {
            builder = builder.local_server(server.enabled.then_some(options));
            continue;
        }
        builder = builder.server(config::server(name, server)?, options);
    }
    let builder = match &config.tenant_migrations_dir {
        Some(dir) => builder.migrations(TenantMigrations::from_dir(dir).await?),
        None => builder
            .migrations(demo::migrations())
            .seeder(demo::NotesSeeder { notes: seed_notes }),
    };
    Ok(builder.build().await?)
}

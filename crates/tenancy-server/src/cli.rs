//! The command line: global options and every subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};
use tenancy::{TenantId, TenantStatus};

use crate::config::LogFormat;

/// Artflow Tenancy: run a multi-tenant service and manage its tenants.
///
/// Every command reads the same configuration (file, TENANCY_* variables, flags), so the
/// CLI and a running server share one catalog.
#[derive(Debug, Parser)]
#[command(name = "tenancy", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file [default: ./tenancy.toml when it exists].
    #[arg(long, global = true, env = "TENANCY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Folder for the catalog and SQLite tenant databases [default: ./data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Log line format [default: text].
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve tenant applications and health checks over HTTP.
    Serve(ServeArgs),
    /// Write a commented tenancy.toml with every option at its default.
    Init(InitArgs),
    /// Create, list, change and delete tenants.
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// Attach, detach and list tenant domains.
    #[command(subcommand)]
    Domains(DomainsCommand),
    /// Check the catalog against the tenant databases; --repair finishes stuck tenants.
    Doctor(DoctorArgs),
    /// Apply tenant migrations to every tenant (or some), in parallel, resumably.
    Migrate(MigrateArgs),
    /// Run the application's seeder on tenants.
    Seed(SeedArgs),
    /// Run one SQL statement on each tenant and print each tenant's result.
    Run(RunSqlArgs),
    /// Rate limits and IP allow and block lists, per plan and per tenant.
    #[command(subcommand)]
    Traffic(TrafficCommand),
    /// API keys for the admin API: create (the secret is printed once), list, revoke.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `tenancy keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it. The key is shown only this once; the catalog keeps its hash.
    Create(KeyCreateArgs),
    /// List keys (never their secrets), revoked ones included.
    List,
    /// Revoke a key: refused from the next request on, by every server.
    Revoke {
        /// The key's id (the part after `atk_`, as `keys list` shows it).
        id: String,
    },
    /// Replace a key with a new one of the same name and scopes, printed once; the old key
    /// keeps working for the grace period, then is refused.
    Rotate {
        /// The key's id.
        id: String,
        /// Seconds the old key keeps working (0 ends it at once).
        #[arg(long, value_name = "SECS", default_value_t = 3600,
              value_parser = clap::value_parser!(u64).range(0..=2_592_000))]
        grace_secs: u64,
    },
}

/// `tenancy keys create`.
#[derive(Debug, Args)]
pub struct KeyCreateArgs {
    /// What the key may do (repeatable): tenants:read, tenants:write, keys:admin,
    /// audit:read, metrics:read, or admin for everything.
    #[arg(long = "scope", value_name = "SCOPE", required = true, value_parser = parse_scope)]
    pub scopes: Vec<tenancy::keys::Scope>,
    /// A name for people, for example who holds the key.
    #[arg(long)]
    pub name: Option<String>,
    /// The key stops working after this many days [default: never].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub expires_in_days: Option<u32>,
}

fn parse_scope(raw: &str) -> Result<tenancy::keys::Scope, String> {
    raw.parse()
        .map_err(|error: tenancy::Error| error.to_string())
}

/// `tenancy traffic …`.
#[derive(Debug, Subcommand)]
pub enum TrafficCommand {
    /// Show the rules of every plan and tenant, or of one (a tenant's with its plan's merged in).
    Show(TrafficShowArgs),
    /// Set a plan's or a tenant's rules, replacing the ones it had. A tenant inherits what
    /// it does not set from its plan.
    Set(TrafficSetArgs),
    /// Remove a plan's or a tenant's rules.
    Clear(TrafficScope),
}

/// Whose rules: a plan's or a tenant's.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").required(true).args(["plan", "tenant"])))]
pub struct TrafficScope {
    /// A plan (every tenant on it).
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<String>,
    /// One tenant.
    #[arg(long, value_name = "ID")]
    pub tenant: Option<TenantId>,
}

/// `tenancy traffic show`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").args(["plan", "tenant"])))]
pub struct TrafficShowArgs {
    /// Only this plan's rules.
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<String>,
    /// Only this tenant: its own rules and the ones in force.
    #[arg(long, value_name = "ID")]
    pub tenant: Option<TenantId>,
}

/// `tenancy traffic set`.
#[derive(Debug, Args)]
pub struct TrafficSetArgs {
    /// Whose rules.
    #[command(flatten)]
    pub scope: TrafficScope,
    /// Requests per second, sustained (with --burst).
    #[arg(
        long,
        value_name = "N",
        requires = "burst",
        conflicts_with = "unlimited"
    )]
    pub rate: Option<u32>,
    /// Requests that may arrive at once (with --rate).
    #[arg(long, value_name = "N", requires = "rate")]
    pub burst: Option<u32>,
    /// No rate limit, whatever the plan says.
    #[arg(long)]
    pub unlimited: bool,
    /// Only these networks may reach the tenant(s): CIDR or address, repeatable.
    #[arg(long, value_name = "CIDR", value_parser = parse_network)]
    pub allow: Vec<ipnet::IpNet>,
    /// These networks may not: CIDR or address, repeatable.
    #[arg(long, value_name = "CIDR", value_parser = parse_network)]
    pub block: Vec<ipnet::IpNet>,
}

fn parse_network(raw: &str) -> Result<ipnet::IpNet, String> {
    tenancy::traffic::parse_network(raw).map_err(|error| error.to_string())
}

/// Which tenants a command touches.
#[derive(Debug, Args, Clone, Default)]
pub struct TenantSelection {
    /// Only this tenant (repeatable) [default: every active tenant].
    #[arg(long = "tenant", value_name = "ID")]
    pub tenants: Vec<TenantId>,
    /// Only tenants on this server.
    #[arg(long, value_name = "NAME")]
    pub server: Option<String>,
}

/// `tenancy migrate`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MigrateArgs {
    /// Status or rollback instead of migrating.
    #[command(subcommand)]
    pub command: Option<MigrateCommand>,
    /// Which tenants.
    #[command(flatten)]
    pub selection: TenantSelection,
    /// How the run proceeds.
    #[command(flatten)]
    pub run: RunFlags,
    /// Continue the newest run that was interrupted, with its own tenants and options.
    #[arg(long, conflicts_with_all = ["tenants", "server", "dry_run"])]
    pub resume: bool,
}

/// Options shared by migrate and rollback.
#[derive(Debug, Args, Clone)]
pub struct RunFlags {
    /// Tenants handled at once [default: the connection budget, at most 8].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: Option<u16>,
    /// Stop starting tenants after the first failure (resume later with --resume).
    #[arg(long)]
    pub fail_fast: bool,
    /// Show what would change without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Also migrate tenants in maintenance.
    #[arg(long)]
    pub include_maintenance: bool,
    /// Seconds to wait for a tenant another run is migrating before reporting it busy.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub lock_wait: u64,
}

/// `tenancy migrate status|rollback`.
#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Each tenant's applied version and what is pending, with a count per version.
    Status {
        /// Which tenants.
        #[command(flatten)]
        selection: TenantSelection,
        /// Only tenants with pending migrations (or a problem).
        #[arg(long)]
        pending: bool,
    },
    /// Revert the newest reversible migrations on the tenants that applied them.
    Rollback {
        /// Which tenants.
        #[command(flatten)]
        selection: TenantSelection,
        /// How many migrations to revert.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        steps: u16,
        /// How the run proceeds.
        #[command(flatten)]
        run: RunFlags,
    },
}

/// `tenancy seed`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Which tenants.
    #[command(flatten)]
    pub selection: TenantSelection,
}

/// `tenancy run`.
#[derive(Debug, Args)]
pub struct RunSqlArgs {
    /// Which tenants.
    #[command(flatten)]
    pub selection: TenantSelection,
    /// The SQL statement, after `--`.
    #[arg(last = true, required = true, value_name = "SQL")]
    pub sql: Vec<String>,
}

/// `tenancy serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Create the demo tenants acme, globex and initech (if missing) with a few notes each.
    #[arg(long)]
    pub demo: bool,
}

/// `tenancy init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the file.
    #[arg(long, default_value = "tenancy.toml", value_name = "FILE")]
    pub path: PathBuf,

    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `tenancy tenants …`.
#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant: database, migrations, optional seed; creating a failed one retries it.
    Create(CreateArgs),
    /// List tenants.
    List {
        /// Only tenants in this status.
        #[arg(long, value_parser = parse_status)]
        status: Option<TenantStatus>,
    },
    /// Show one tenant with its domains.
    Show {
        /// The tenant id.
        id: TenantId,
    },
    /// Change a tenant's name, plan or data.
    Update(UpdateArgs),
    /// Suspend a tenant: its requests get 403 and its connections close.
    Suspend {
        /// The tenant id.
        id: TenantId,
        /// Why, kept with the tenant.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Activate a suspended tenant (or one in maintenance).
    Activate {
        /// The tenant id.
        id: TenantId,
    },
    /// Switch maintenance on (503 with Retry-After) or off.
    Maintenance(MaintenanceArgs),
    /// Delete a tenant and its database. Asks for confirmation unless --yes.
    Delete {
        /// The tenant id.
        id: TenantId,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
}

/// `tenancy tenants create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The tenant id: a-z, 0-9 and '-', starting with a letter, at most 63 characters.
    pub id: TenantId,
    /// Display name [default: the id].
    #[arg(long)]
    pub name: Option<String>,
    /// A domain for the tenant (repeatable); the first is primary.
    #[arg(long = "domain", value_name = "HOST")]
    pub domains: Vec<String>,
    /// Plan name.
    #[arg(long)]
    pub plan: Option<String>,
    /// Application data, a JSON object.
    #[arg(long, value_parser = parse_json_object)]
    pub data: Option<serde_json::Value>,
    /// Run the seeder after migrations (the demo's writes a few notes).
    #[arg(long)]
    pub seed: bool,
    /// The server to place the tenant on [default: the accepting server with the fewest
    /// tenants].
    #[arg(long, value_name = "NAME")]
    pub server: Option<String>,
}

/// `tenancy tenants update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The tenant id.
    pub id: TenantId,
    /// New display name.
    #[arg(long)]
    pub name: Option<String>,
    /// New plan.
    #[arg(long, conflicts_with = "clear_plan")]
    pub plan: Option<String>,
    /// Remove the plan.
    #[arg(long)]
    pub clear_plan: bool,
    /// New application data, a JSON object (replaces the old one).
    #[arg(long, value_parser = parse_json_object)]
    pub data: Option<serde_json::Value>,
}

/// `tenancy tenants maintenance`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("switch").required(true).multiple(false)))]
pub struct MaintenanceArgs {
    /// The tenant id.
    pub id: TenantId,
    /// Switch maintenance on.
    #[arg(long, group = "switch")]
    pub on: bool,
    /// Switch maintenance off.
    #[arg(long, group = "switch")]
    pub off: bool,
    /// Seconds clients are told to wait (Retry-After) while in maintenance, 1 to 86400 (as
    /// the API allows).
    #[arg(
        long,
        value_name = "SECS",
        conflicts_with = "off",
        default_value_t = tenancy::DEFAULT_MAINTENANCE_RETRY_AFTER_SECS,
        value_parser = clap::value_parser!(u32)
            .range(1..=i64::from(tenancy::MAX_MAINTENANCE_RETRY_AFTER_SECS))
    )]
    pub retry_after: u32,
}

/// `tenancy domains …`.
#[derive(Debug, Subcommand)]
pub enum DomainsCommand {
    /// Attach a domain to a tenant.
    Add {
        /// The tenant id.
        tenant: TenantId,
        /// The host, for example shop.example.com.
        domain: String,
        /// Make it the tenant's primary domain.
        #[arg(long)]
        primary: bool,
    },
    /// Detach a domain from its tenant.
    Remove {
        /// The host.
        domain: String,
    },
    /// Make a domain its tenant's primary domain.
    Primary {
        /// The host.
        domain: String,
    },
    /// List domains, of one tenant or all.
    List {
        /// Only this tenant's domains.
        #[arg(long)]
        tenant: Option<TenantId>,
    },
}

/// `tenancy doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Finish or roll back stuck tenants and remove half-built databases.
    #[arg(long)]
    pub repair: bool,
    /// With --repair, only touch tenants unchanged for this many seconds, so a creation
    /// still running elsewhere is left alone.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub stale_after: u64,
}

fn parse_status(raw: &str) -> Result<TenantStatus, String> {
    raw.parse()
        .map_err(|error: tenancy::tenant::UnknownStatus| error.to_string())
}

fn parse_json_object(raw: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err("must be a JSON object, like '{\"key\": \"value\"}'".to_owned()),
        Err(error) => Err(format!("not valid JSON: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn an_invalid_tenant_id_names_the_rule() {
        let error = Cli::try_parse_from(["tenancy", "tenants", "show", "Acme"]).unwrap_err();
        assert!(error.to_string().contains("lowercase"), "{error}");
    }

    #[test]
    fn maintenance_needs_on_or_off() {
        assert!(Cli::try_parse_from(["tenancy", "tenants", "maintenance", "acme"]).is_err());
        assert!(Cli::try_parse_from(["tenancy", "tenants", "maintenance", "acme", "--on"]).is_ok());
        assert!(
            Cli::try_parse_from(["tenancy", "tenants", "maintenance", "acme", "--off"]).is_ok()
        );
        let both = ["tenancy", "tenants", "maintenance", "acme", "--on", "--off"];
        assert!(Cli::try_parse_from(both).is_err());
    }

    #[test]
    fn maintenance_takes_a_retry_after_only_with_on() {
        let on = [
            "tenancy",
            "tenants",
            "maintenance",
            "acme",
            "--on",
            "--retry-after",
            "120",
        ];
        assert!(Cli::try_parse_from(on).is_ok());
        let off = [
            "tenancy",
            "tenants",
            "maintenance",
            "acme",
            "--off",
            "--retry-after",
            "5",
        ];
        assert!(Cli::try_parse_from(off).is_err());
    }
}

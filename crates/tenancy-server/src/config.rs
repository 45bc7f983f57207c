//! Configuration: one options struct from `tenancy.toml`, `TENANCY_…` variables and flags.
//!
//! Precedence, highest first: command-line flags, environment variables, the configuration
//! file, built-in defaults. Every error names the key that was wrong.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tenancy::identify::IdentifyOptions;
use tenancy::{Isolation, PoolOptions};

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "tenancy.toml";

/// A configuration error; the binary exits with [`CONFIG_EXIT_CODE`] on it.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Exit code for configuration errors (`EX_CONFIG` from sysexits).
pub const CONFIG_EXIT_CODE: i32 = 78;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// The whole configuration, with defaults filled in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address `tenancy serve` listens on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Folder for the catalog and SQLite tenant databases. Default `./data`.
    pub data_dir: PathBuf,
    /// Where the catalog lives.
    pub catalog: CatalogConfig,
    /// Log line format. Default `text`.
    pub log_format: LogFormat,
    /// Folder of tenant migrations; default: the demo application's, built in.
    pub tenant_migrations_dir: Option<PathBuf>,
    /// Identification.
    pub identify: IdentifyConfig,
    /// Connection manager.
    pub pool: PoolConfig,
    /// Database servers tenants are placed on, by name. `local` is the built-in SQLite
    /// server; it exists unless `[servers.local] enabled = false`.
    pub servers: BTreeMap<String, ServerConfig>,
    /// Traffic rules' settings.
    pub traffic: TrafficConfig,
    /// The Prometheus endpoint.
    pub metrics: MetricsConfig,
}

/// `[catalog]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// `sqlite:PATH`, `postgres://…` or `mysql://…`. Default: unset, the SQLite file
    /// `<data_dir>/catalog.sqlite`. May also come from `TENANCY_CATALOG_URL`, which keeps a
    /// password out of the file.
    pub url: Option<String>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Whether `GET /metrics` answers without an API key. Default false: the figures name
    /// servers and reveal load, so a key with the `metrics:read` scope is needed.
    pub public: bool,
}

/// `[traffic]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrafficConfig {
    /// Proxies (addresses or CIDR networks) whose `X-Forwarded-For` names the client.
    /// Default: none, the socket's peer is the client.
    pub trusted_proxies: Vec<String>,
}

/// The kind of a configured server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKindName {
    /// SQLite files (only the built-in `local` server for now).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

/// `[servers.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `postgres` or `mysql` (`local` is SQLite and needs none).
    pub kind: Option<ServerKindName>,
    /// Connection URL. May also come from `TENANCY_SERVER_<NAME>_URL`, which keeps a
    /// password out of the file.
    pub url: Option<String>,
    /// PostgreSQL only: `database` (default) or `schema` per tenant.
    pub isolation: Option<Isolation>,
    /// Prefix of tenant database or schema names. Default `tenant_`.
    pub prefix: Option<String>,
    /// This server's connection budget. Default: `pool.max_connections`.
    pub max_connections: Option<usize>,
    /// Whether new tenants may be placed here. Default true.
    #[serde(default = "yes")]
    pub accepts_new_tenants: bool,
    /// `local` only: false turns the built-in SQLite server off. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// `[identify]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentifyConfig {
    /// Central domains. Default `["localhost", "127.0.0.1", "[::1]"]`.
    pub central_domains: Vec<String>,
    /// Accept `X-Tenant` on central hosts. Default false.
    pub header: bool,
    /// Accept a `/t/{id}/` prefix on central hosts. Default false.
    pub path_prefix: bool,
}

/// `[pool]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// Connections one server may have open at once. Default 32.
    pub max_connections: usize,
    /// Connections one tenant database may have open at once. Default 4.
    pub max_connections_per_database: usize,
    /// How long a request waits for a connection, in milliseconds. Default 3000.
    pub acquire_timeout_ms: u64,
    /// How long a connection stays open unused, in seconds. Default 60.
    pub idle_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            catalog: CatalogConfig::default(),
            log_format: LogFormat::Text,
            tenant_migrations_dir: None,
            identify: IdentifyConfig::default(),
            pool: PoolConfig::default(),
            servers: BTreeMap::new(),
            traffic: TrafficConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Default for IdentifyConfig {
    fn default() -> Self {
        let defaults = IdentifyOptions::default();
        IdentifyConfig {
            central_domains: defaults.central_domains,
            header: defaults.header,
            path_prefix: defaults.path_prefix,
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        let defaults = PoolOptions::default();
        PoolConfig {
            max_connections: defaults.max_connections,
            max_connections_per_database: defaults.max_connections_per_database,
            acquire_timeout_ms: defaults.acquire_timeout.as_millis() as u64,
            idle_timeout_secs: defaults.idle_timeout.as_secs(),
        }
    }
}

/// Environment variables and the keys they set. Lists are comma-separated.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("TENANCY_LISTEN", "listen"),
    ("TENANCY_DATA_DIR", "data_dir"),
    ("TENANCY_CATALOG_URL", "catalog.url"),
    ("TENANCY_LOG_FORMAT", "log_format"),
    ("TENANCY_TENANT_MIGRATIONS_DIR", "tenant_migrations_dir"),
    ("TENANCY_CENTRAL_DOMAINS", "identify.central_domains"),
    ("TENANCY_IDENTIFY_HEADER", "identify.header"),
    ("TENANCY_IDENTIFY_PATH_PREFIX", "identify.path_prefix"),
    ("TENANCY_POOL_MAX_CONNECTIONS", "pool.max_connections"),
    (
        "TENANCY_POOL_MAX_CONNECTIONS_PER_DATABASE",
        "pool.max_connections_per_database",
    ),
    ("TENANCY_POOL_ACQUIRE_TIMEOUT_MS", "pool.acquire_timeout_ms"),
    ("TENANCY_POOL_IDLE_TIMEOUT_SECS", "pool.idle_timeout_secs"),
    ("TENANCY_TRUSTED_PROXIES", "traffic.trusted_proxies"),
    ("TENANCY_METRICS_PUBLIC", "metrics.public"),
];

/// Values given on the command line, which override everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
}

impl Config {
    /// Loads the configuration: file (explicit, or `tenancy.toml` when present), then
    /// environment, then flags; validates the result.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let env = std::env::vars().collect::<Vec<_>>();
        Self::load_from(file, &env, overrides)
    }

    /// [`Config::load`] with an explicit environment, for tests.
    pub fn load_from(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut table = read_file(file)?;
        apply_env(&mut table, env)?;
        let mut config: Config = Config::deserialize(toml::Value::Table(table))
            .map_err(|error| ConfigError(error.to_string().trim().replace('\n', " ")))?;

        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(format) = overrides.log_format {
            config.log_format = format;
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (name, server) in &self.servers {
            validate_server(name, server)?;
        }
        let fail = |key: &str, why: &str| Err(ConfigError(format!("{key}: {why}")));
        if self.data_dir.as_os_str().is_empty() {
            return fail("data_dir", "must not be empty");
        }
        if let Some(url) = &self.catalog.url {
            validate_catalog_url(url)?;
        }
        if self.pool.max_connections == 0 {
            return fail("pool.max_connections", "must be at least 1");
        }
        if self.pool.max_connections_per_database == 0 {
            return fail("pool.max_connections_per_database", "must be at least 1");
        }
        if self.pool.max_connections_per_database > self.pool.max_connections {
            return fail(
                "pool.max_connections_per_database",
                "must not exceed pool.max_connections",
            );
        }
        if self.pool.acquire_timeout_ms == 0 {
            return fail("pool.acquire_timeout_ms", "must be at least 1");
        }
        if let Some(dir) = &self.tenant_migrations_dir
            && !dir.is_dir()
        {
            let why = format!("{} is not a directory", dir.display());
            return fail("tenant_migrations_dir", &why);
        }
        self.trusted_proxies()?;
        if self.identify.central_domains.is_empty() {
            return fail("identify.central_domains", "must name at least one host");
        }
        for domain in &self.identify.central_domains {
            if let Err(error) = tenancy::host::normalize_host(domain) {
                return fail("identify.central_domains", &format!("'{domain}': {error}"));
            }
        }
        Ok(())
    }

    /// The trusted proxies, parsed.
    pub fn trusted_proxies(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.traffic
            .trusted_proxies
            .iter()
            .map(|text| {
                tenancy::traffic::parse_network(text).map_err(|_| {
                    ConfigError(format!(
                        "traffic.trusted_proxies: '{text}' is not an IP address or a CIDR network"
                    ))
                })
            })
            .collect()
    }

    /// The identification options for the library.
    pub fn identify_options(&self) -> IdentifyOptions {
        IdentifyOptions {
            central_domains: self.identify.central_domains.clone(),
            header: self.identify.header,
            path_prefix: self.identify.path_prefix,
            ..IdentifyOptions::default()
        }
    }

    /// The pool options for the library.
    pub fn pool_options(&self) -> PoolOptions {
        PoolOptions {
            max_connections: self.pool.max_connections,
            max_connections_per_database: self.pool.max_connections_per_database,
            acquire_timeout: Duration::from_millis(self.pool.acquire_timeout_ms),
            idle_timeout: Duration::from_secs(self.pool.idle_timeout_secs),
        }
    }
}

fn validate_catalog_url(url: &str) -> Result<(), ConfigError> {
    let fail = |why: String| Err(ConfigError(format!("catalog.url: {why}")));
    if url.trim().is_empty() {
        return fail("must not be empty (leave it out for the SQLite file in data_dir)".into());
    }
    match tenancy::catalog::check_url(url) {
        Ok(_) => Ok(()),
        Err(tenancy::Error::InvalidInput { reason, .. }) => fail(reason),
        Err(other) => fail(other.to_string()),
    }
}

fn validate_server(name: &str, server: &ServerConfig) -> Result<(), ConfigError> {
    let fail = |why: String| Err(ConfigError(format!("servers.{name}: {why}")));
    let valid_name = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63;
    if !valid_name {
        return fail("a server name is a-z, 0-9 and '_', starting with a letter".to_owned());
    }
    if server.max_connections == Some(0) {
        return fail("max_connections must be at least 1".to_owned());
    }
    match (name, server.kind) {
        (LOCAL, None | Some(ServerKindName::Sqlite)) => return Ok(()),
        (LOCAL, Some(_)) => return fail("'local' is the built-in SQLite server".to_owned()),
        (_, None | Some(ServerKindName::Sqlite)) => {
            let why =
                "kind must be \"postgres\" or \"mysql\"; SQLite is the built-in server 'local'";
            return fail(why.to_owned());
        }
        _ => {}
    }
    if server.url.as_deref().is_none_or(str::is_empty) {
        let env = format!("TENANCY_SERVER_{}_URL", name.to_uppercase());
        return fail(format!("url is required (in the file or in {env})"));
    }
    if server.kind == Some(ServerKindName::Mysql) && server.isolation.is_some() {
        return fail("isolation applies to PostgreSQL servers only".to_owned());
    }
    if let Err(error) = self::server(name, server) {
        return fail(error.to_string());
    }
    if let Some(prefix) = &server.prefix {
        let valid = prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if prefix.is_empty() || !valid {
            return fail("prefix must be non-empty a-z, 0-9 and '_'".to_owned());
        }
        // Names are the prefix and the id, within PostgreSQL's 63 bytes or MySQL's 64
        // characters; a prefix that leaves no room would refuse every tenant later.
        let limit = match server.kind {
            Some(ServerKindName::Mysql) => 64,
            _ => 63,
        };
        if prefix.len() >= limit {
            let why = format!(
                "prefix is {} characters; names are at most {limit}, so it must leave room \
                 for the tenant id",
                prefix.len()
            );
            return fail(why);
        }
    }
    Ok(())
}

/// Builds the library's server from its validated configuration.
pub fn server(name: &str, config: &ServerConfig) -> Result<tenancy::Server, tenancy::Error> {
    let url = config.url.as_deref().unwrap_or_default();
    let prefix = config
        .prefix
        .clone()
        .unwrap_or_else(|| tenancy::server::DEFAULT_PREFIX.to_owned());
    match config.kind {
        Some(ServerKindName::Mysql) => tenancy::Server::mysql(name, url, prefix),
        _ => {
            let isolation = config.isolation.unwrap_or(Isolation::Database);
            tenancy::Server::postgres(name, url, isolation, prefix)
        }
    }
}

/// The name of the built-in SQLite server.
const LOCAL: &str = tenancy::LOCAL_SERVER;

fn read_file(file: Option<&Path>) -> Result<toml::Table, ConfigError> {
    let (path, required) = match file {
        Some(path) => (path.to_path_buf(), true),
        None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if !required && error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(toml::Table::new());
        }
        Err(error) => {
            return Err(ConfigError(format!(
                "cannot read {}: {error}",
                path.display()
            )));
        }
    };
    text.parse::<toml::Table>().map_err(|error| {
        let message = error.to_string().trim().replace('\n', " ");
        ConfigError(format!("{}: {message}", path.display()))
    })
}

/// `TENANCY_SERVER_<NAME>_URL` sets `servers.<name>.url`.
fn apply_server_urls(table: &mut toml::Table, env: &[(String, String)]) -> Result<(), ConfigError> {
    for (var, url) in env {
        let Some(name) = var
            .strip_prefix("TENANCY_SERVER_")
            .and_then(|v| v.strip_suffix("_URL"))
        else {
            continue;
        };
        let servers = table
            .entry("servers")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| ConfigError("servers: must be a table".to_owned()))?;
        let server = servers
            .entry(name.to_lowercase())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| {
                ConfigError(format!("servers.{}: must be a table", name.to_lowercase()))
            })?;
        server.insert("url".to_owned(), toml::Value::String(url.clone()));
    }
    Ok(())
}

fn apply_env(table: &mut toml::Table, env: &[(String, String)]) -> Result<(), ConfigError> {
    apply_server_urls(table, env)?;
    for (name, key) in ENV_KEYS {
        let Some((_, raw)) = env.iter().find(|(var, _)| var == name) else {
            continue;
        };
        let value = env_value(key, raw);
        let (section, field) = match key.split_once('.') {
            Some((section, field)) => (Some(section), field),
            None => (None, *key),
        };
        let target = match section {
            None => &mut *table,
            Some(section) => table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| ConfigError(format!("{section}: must be a table")))?,
        };
        target.insert(field.to_owned(), value);
    }
    Ok(())
}

/// Reads an environment value as the TOML type its key expects (so `TENANCY_DATA_DIR=2024`
/// stays a folder name): numbers for the pool keys, booleans for switches, lists
/// comma-separated. A value that does not parse is passed on as text, and deserialising
/// then names the key.
fn env_value(key: &str, raw: &str) -> toml::Value {
    match key {
        "identify.central_domains" | "traffic.trusted_proxies" => {
            let items = raw
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty());
            toml::Value::Array(items.map(|item| toml::Value::String(item.into())).collect())
        }
        "identify.header" | "identify.path_prefix" | "metrics.public" => match raw {
            "true" | "1" => toml::Value::Boolean(true),
            "false" | "0" => toml::Value::Boolean(false),
            _ => toml::Value::String(raw.to_owned()),
        },
        _ if key.starts_with("pool.") => match raw.parse::<i64>() {
            Ok(number) => toml::Value::Integer(number),
            Err(_) => toml::Value::String(raw.to_owned()),
        },
        _ => toml::Value::String(raw.to_owned()),
    }
}

/// The commented file `tenancy init` writes, with every option at its default.
pub const TEMPLATE: &str = r#"# Artflow Tenancy configuration.
#
# Precedence, highest first: command-line flags, TENANCY_* environment variables, this file,
# built-in defaults. Every key below is shown with its default.

# Address `tenancy serve` listens on. Env: TENANCY_LISTEN. Flag: serve --listen.
listen = "127.0.0.1:8080"

# Folder for the catalog (catalog.sqlite) and SQLite tenant databases (tenants/<id>.sqlite).
# Env: TENANCY_DATA_DIR. Flag: --data-dir.
data_dir = "data"

# Log line format, "text" or "json". Env: TENANCY_LOG_FORMAT. Flag: --log-format.
log_format = "text"

# Folder of tenant migrations (<VERSION>_<DESCRIPTION>.sql), applied to every new tenant.
# Unset: the demo notes application's migrations, built into the binary.
# Env: TENANCY_TENANT_MIGRATIONS_DIR.
# tenant_migrations_dir = "migrations/tenant"

[catalog]
# Where the catalog (tenants, domains, change log, API keys) lives. Unset: the SQLite file
# <data_dir>/catalog.sqlite. Also "sqlite:PATH", "postgres://user@host:5432/database" or
# "mysql://user@host:3306/database"; the database must exist, its tables are created on
# first use. Every server and CLI process sharing tenants must name the same catalog.
# Env: TENANCY_CATALOG_URL (keeps a password out of this file).
# url = "postgres://tenancy@db.internal:5432/tenancy"

[identify]
# Central hosts serve health checks and the admin side; <id>.<central> is tenant <id>.
# "www." + a central domain counts as that domain. Env: TENANCY_CENTRAL_DOMAINS (comma list).
central_domains = ["localhost", "127.0.0.1", "[::1]"]

# Let the X-Tenant header name a tenant on central hosts. Off: headers are easy to forge;
# turn it on only behind a proxy that sets it. Env: TENANCY_IDENTIFY_HEADER.
header = false

# Let a /t/{id}/ path prefix name a tenant on central hosts (the prefix is stripped before
# the application's routes). Env: TENANCY_IDENTIFY_PATH_PREFIX.
path_prefix = false

[pool]
# Connections a server may have open at once, across all tenants. For SQLite each is an open
# file and a worker thread. Env: TENANCY_POOL_MAX_CONNECTIONS.
max_connections = 32

# Connections one tenant database may have open at once. Env:
# TENANCY_POOL_MAX_CONNECTIONS_PER_DATABASE.
max_connections_per_database = 4

# How long a request waits for a connection before it gets 503 with Retry-After.
# Env: TENANCY_POOL_ACQUIRE_TIMEOUT_MS.
acquire_timeout_ms = 3000

# How long an unused connection stays open. Env: TENANCY_POOL_IDLE_TIMEOUT_SECS.
idle_timeout_secs = 60

[traffic]
# Proxies whose X-Forwarded-For header names the client, for the tenants' IP allow and
# block lists (addresses or CIDR networks). Empty: the socket's peer is the client.
# Env: TENANCY_TRUSTED_PROXIES (comma list).
trusted_proxies = []

[metrics]
# Whether GET /metrics (Prometheus text, on central hosts) answers without an API key; when
# false it needs a key with the metrics:read scope. Env: TENANCY_METRICS_PUBLIC.
public = false

# Database servers tenants are placed on. The built-in SQLite server is called "local";
# a new tenant goes to the server named with `tenants create --server`, or else to the
# server accepting new tenants that holds the fewest.
#
# [servers.local]
# enabled = true                  # false turns the built-in SQLite server off
# accepts_new_tenants = true
#
# [servers.pg1]
# kind = "postgres"
# url = "postgres://postgres@127.0.0.1:5432/postgres"   # or TENANCY_SERVER_PG1_URL
# isolation = "database"          # or "schema": one schema per tenant, one shared pool
# prefix = "tenant_"              # tenant acme lives in database tenant_acme
# max_connections = 20            # this server's budget (default: pool.max_connections)
# accepts_new_tenants = true
#
# [servers.my1]
# kind = "mysql"
# url = "mysql://root@127.0.0.1:3306"                   # or TENANCY_SERVER_MY1_URL
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn the_template_parses_to_the_defaults() {
        let file = write(TEMPLATE);
        let config = Config::load_from(Some(file.path()), &[], &Overrides::default()).unwrap();
        let defaults = Config::default();
        assert_eq!(config.listen, defaults.listen);
        assert_eq!(config.data_dir, defaults.data_dir);
        assert_eq!(config.pool.max_connections, defaults.pool.max_connections);
        assert_eq!(
            config.identify.central_domains,
            defaults.identify.central_domains
        );
    }

    #[test]
    fn flags_beat_environment_which_beats_the_file() {
        let file = write("data_dir = \"from-file\"\n[pool]\nmax_connections = 7\n");
        let env = env(&[
            ("TENANCY_DATA_DIR", "from-env"),
            ("TENANCY_POOL_MAX_CONNECTIONS", "9"),
        ]);
        let flags = Overrides {
            data_dir: Some("from-flag".into()),
            ..Overrides::default()
        };

        let config = Config::load_from(Some(file.path()), &env, &flags).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("from-flag"));
        assert_eq!(config.pool.max_connections, 9);
    }

    #[test]
    fn an_unknown_key_is_named() {
        let file = write("[pool]\nmax_conections = 3\n");
        let error = Config::load_from(Some(file.path()), &[], &Overrides::default()).unwrap_err();
        assert!(error.to_string().contains("max_conections"), "{error}");
    }

    #[test]
    fn a_bad_value_from_the_environment_names_its_key() {
        let env = env(&[("TENANCY_POOL_MAX_CONNECTIONS", "lots")]);
        let error = Config::load_from(None, &env, &Overrides::default()).unwrap_err();
        assert!(error.to_string().contains("max_connections"), "{error}");
    }

    #[test]
    fn a_zero_budget_is_refused() {
        let env = env(&[("TENANCY_POOL_MAX_CONNECTIONS", "0")]);
        let error = Config::load_from(None, &env, &Overrides::default()).unwrap_err();
        assert!(
            error.to_string().contains("pool.max_connections"),
            "{error}"
        );
    }

    #[test]
    fn a_prefix_leaving_no_room_for_the_tenant_id_is_refused() {
        for (kind, limit) in [("postgres", 63), ("mysql", 64)] {
            let prefix = "p".repeat(limit);
            let text = format!(
                "[servers.s1]\nkind = \"{kind}\"\nurl = \"{kind}://h/d\"\nprefix = \"{prefix}\"\n"
            );
            let file = write(&text);
            let error = Config::load_from(Some(file.path()), &[], &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("servers.s1") && error.contains("prefix"),
                "{error}"
            );

            let fits = text.replace(&prefix, &"p".repeat(limit - 1));
            let file = write(&fits);
            Config::load_from(Some(file.path()), &[], &Overrides::default()).unwrap();
        }
    }

    #[test]
    fn servers_are_read_with_their_urls_from_the_environment() {
        let file = write("[servers.pg1]\nkind = \"postgres\"\nisolation = \"schema\"\n");
        let env = env(&[("TENANCY_SERVER_PG1_URL", "postgres://u:p@db/app")]);
        let config = Config::load_from(Some(file.path()), &env, &Overrides::default()).unwrap();
        let pg1 = &config.servers["pg1"];
        assert_eq!(pg1.url.as_deref(), Some("postgres://u:p@db/app"));
        assert_eq!(pg1.isolation, Some(Isolation::Schema));
    }

    #[test]
    fn a_network_server_without_a_url_names_the_key_and_the_variable() {
        let file = write("[servers.my1]\nkind = \"mysql\"\n");
        let error = Config::load_from(Some(file.path()), &[], &Overrides::default()).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("servers.my1") && text.contains("TENANCY_SERVER_MY1_URL"),
            "{text}"
        );
    }

    #[test]
    fn a_server_of_unknown_kind_is_refused() {
        let file = write("[servers.x1]\nkind = \"oracle\"\nurl = \"x\"\n");
        let error = Config::load_from(Some(file.path()), &[], &Overrides::default()).unwrap_err();
        assert!(error.to_string().contains("oracle"), "{error}");
    }

    #[test]
    fn a_numeric_folder_name_from_the_environment_stays_a_folder_name() {
        let env = env(&[("TENANCY_DATA_DIR", "2024")]);
        let config = Config::load_from(None, &env, &Overrides::default()).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("2024"));
    }

    #[test]
    fn a_missing_migrations_folder_is_a_configuration_error() {
        let env = env(&[("TENANCY_TENANT_MIGRATIONS_DIR", "/nonexistent/migrations")]);
        let error = Config::load_from(None, &env, &Overrides::default()).unwrap_err();
        assert!(
            error.to_string().contains("tenant_migrations_dir"),
            "{error}"
        );
    }

    #[test]
    fn central_domains_come_from_a_comma_list() {
        let env = env(&[(
            "TENANCY_CENTRAL_DOMAINS",
            "example.test, admin.example.test",
        )]);
        let config = Config::load_from(None, &env, &Overrides::default()).unwrap();
        assert_eq!(
            config.identify.central_domains,
            ["example.test", "admin.example.test"]
        );
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let path = Path::new("/nonexistent/tenancy.toml");
        let error = Config::load_from(Some(path), &[], &Overrides::default()).unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/tenancy.toml"),
            "{error}"
        );
    }

    #[test]
    fn trusted_proxies_come_from_the_environment_and_bad_ones_are_named() {
        let env_ok = env(&[("TENANCY_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")]);
        let config = Config::load_from(None, &env_ok, &Overrides::default()).unwrap();
        let proxies: Vec<String> = config
            .trusted_proxies()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(proxies, ["127.0.0.1/32", "10.0.0.0/8"]);

        let env_bad = env(&[("TENANCY_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")]);
        let error = Config::load_from(None, &env_bad, &Overrides::default()).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("traffic.trusted_proxies") && text.contains("proxy.local"),
            "{text}"
        );
    }

    #[test]
    fn the_catalog_url_comes_from_the_file_or_the_environment() {
        let file = write("[catalog]\nurl = \"postgres://db/from_file\"\n");
        let config = Config::load_from(Some(file.path()), &[], &Overrides::default()).unwrap();
        assert_eq!(
            config.catalog.url.as_deref(),
            Some("postgres://db/from_file")
        );

        let env = env(&[("TENANCY_CATALOG_URL", "mysql://root@db:3306/from_env")]);
        let config = Config::load_from(Some(file.path()), &env, &Overrides::default()).unwrap();
        assert_eq!(
            config.catalog.url.as_deref(),
            Some("mysql://root@db:3306/from_env")
        );
        let unset = Config::load_from(None, &[], &Overrides::default()).unwrap();
        assert_eq!(unset.catalog.url, None, "the default is the SQLite file");
    }

    #[test]
    fn a_catalog_url_of_unknown_scheme_names_the_key_and_the_accepted_schemes() {
        let env = env(&[("TENANCY_CATALOG_URL", "redis://cache:6379")]);
        let error = Config::load_from(None, &env, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("configuration: catalog.url: "), "{error}");
        assert!(error.contains("'redis'"), "{error}");
        assert!(error.contains(tenancy::catalog::CATALOG_SCHEMES), "{error}");
    }

    #[test]
    fn a_mysql_catalog_url_without_a_database_is_refused() {
        let env = env(&[("TENANCY_CATALOG_URL", "mysql://root:secret@db:3306")]);
        let error = Config::load_from(None, &env, &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("catalog.url") && error.contains("database"),
            "{error}"
        );
        assert!(
            !error.contains("secret"),
            "no password in the message: {error}"
        );
    }
}

//! The error type of the core crate.

use std::path::PathBuf;

use crate::host::InvalidHost;
use crate::tenant::TenantStatus;
use crate::tenant_id::{InvalidTenantId, TenantId};

/// A boxed error from application code (a seeder, a hook).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in the core crate.
///
/// Branch on [`Error::kind`] rather than on variants when all that matters is the broad
/// class of failure (for example to choose an HTTP status).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A host could not be normalised.
    #[error("invalid host: {0}")]
    InvalidHost(#[from] InvalidHost),

    /// A tenant id broke one of the slug rules.
    #[error("invalid tenant id: {0}")]
    InvalidTenantId(#[from] InvalidTenantId),

    /// Some other input was refused; the message names the field.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field or argument that was wrong.
        field: &'static str,
        /// What was wrong with it.
        reason: String,
    },

    /// No tenant has this id.
    #[error("tenant '{0}' not found")]
    TenantNotFound(TenantId),

    /// A tenant with this id exists already.
    #[error("tenant '{0}' already exists")]
    TenantExists(TenantId),

    /// The tenant is not in a state that allows the operation.
    #[error("tenant '{tenant_id}' is {status}; cannot {operation}")]
    InvalidState {
        /// The tenant concerned.
        tenant_id: TenantId,
        /// Its status at the time.
        status: TenantStatus,
        /// What was attempted.
        operation: &'static str,
    },

    /// The domain belongs to a tenant already (domains are unique, case-insensitively).
    #[error("domain '{host}' already belongs to tenant '{owner}'")]
    DomainTaken {
        /// The normalised host.
        host: String,
        /// The tenant that owns it.
        owner: TenantId,
    },

    /// No tenant owns this domain.
    #[error("domain '{0}' not found")]
    DomainNotFound(String),

    /// Storage for a new tenant exists already and no tenant owns it.
    #[error(
        "storage for tenant '{tenant_id}' already exists at {location}; no tenant owns it: remove it or see `tenancy doctor`"
    )]
    LeftoverStorage {
        /// The tenant being created.
        tenant_id: TenantId,
        /// Where the leftover is (a path, a database name).
        location: String,
    },

    /// No API key has this id.
    #[error("API key '{0}' not found")]
    ApiKeyNotFound(String),

    /// The API key is revoked or expired, so it cannot be rotated.
    #[error("API key '{0}' is revoked or expired")]
    ApiKeyUnusable(String),

    /// No server of that name is configured.
    #[error("server '{0}' is not configured")]
    UnknownServer(String),

    /// A connection could not be had within the configured wait.
    #[error(
        "no database connection for tenant '{tenant_id}' within {waited_ms} ms (server '{server}' is at its budget of {budget} connections)"
    )]
    PoolTimeout {
        /// The tenant that asked.
        tenant_id: String,
        /// Its server.
        server: String,
        /// The server's connection budget.
        budget: usize,
        /// How long the request waited.
        waited_ms: u64,
    },

    /// A database server could not be reached.
    #[error("server '{server}' cannot be reached")]
    ServerUnavailable {
        /// The server's name.
        server: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },

    /// Connections to a previous database of the same name are still checked out.
    #[error("connections to the previous database of tenant '{0}' are still in use; retry shortly")]
    StillInUse(TenantId),

    /// The tenant's pool was closed (tenant suspended, deleted, or the manager shut down).
    #[error("the connection pool for '{0}' is closed")]
    PoolClosed(String),

    /// A tenant migration failed.
    #[error("migrations failed for tenant '{tenant_id}'")]
    Migration {
        /// The tenant being migrated.
        tenant_id: TenantId,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// The application's seeder failed.
    #[error("seeding failed for tenant '{tenant_id}'")]
    Seed {
        /// The tenant being seeded.
        tenant_id: TenantId,
        /// The seeder's error.
        #[source]
        source: BoxError,
    },

    /// The catalog's database server could not be reached when the catalog was opened.
    ///
    /// A catalog that stops answering later is an [`Error::Catalog`] whose
    /// [`Error::code`] is `catalog_unavailable` as well.
    #[error("cannot connect to the catalog at {location}")]
    CatalogUnavailable {
        /// Host and database of `catalog.url`, without credentials.
        location: String,
        /// Why.
        #[source]
        source: sqlx::Error,
    },

    /// The catalog database failed.
    #[error("catalog database error")]
    Catalog(#[source] sqlx::Error),

    /// A tenant database failed.
    #[error("tenant database error")]
    Database(#[source] sqlx::Error),

    /// A file operation failed.
    #[error("{operation} {path}")]
    Io {
        /// What was being done ("removing", "renaming", …).
        operation: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// The broad class of an [`Error`], for choosing a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's input was wrong; retrying the same input fails again.
    InvalidInput,
    /// The thing asked for does not exist.
    NotFound,
    /// The request conflicts with the current state.
    Conflict,
    /// A resource is busy or down; retrying later may work.
    Unavailable,
    /// Something failed inside; see the source chain.
    Internal,
}

impl Error {
    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidHost(_) | Error::InvalidTenantId(_) | Error::InvalidInput { .. } => {
                ErrorKind::InvalidInput
            }
            Error::TenantNotFound(_)
            | Error::DomainNotFound(_)
            | Error::ApiKeyNotFound(_)
            | Error::UnknownServer(_) => ErrorKind::NotFound,
            Error::TenantExists(_)
            | Error::InvalidState { .. }
            | Error::DomainTaken { .. }
            | Error::LeftoverStorage { .. }
            | Error::ApiKeyUnusable(_)
            | Error::StillInUse(_) => ErrorKind::Conflict,
            Error::PoolTimeout { .. }
            | Error::PoolClosed(_)
            | Error::ServerUnavailable { .. }
            | Error::CatalogUnavailable { .. } => ErrorKind::Unavailable,
            Error::Database(source) if connection_lost(source) => ErrorKind::Unavailable,
            Error::Catalog(source) if catalog_unreachable(source) => ErrorKind::Unavailable,
            Error::Migration { .. }
            | Error::Seed { .. }
            | Error::Catalog(_)
            | Error::Database(_)
            | Error::Io { .. } => ErrorKind::Internal,
        }
    }

    /// A stable, machine-readable code for this error, used in problem responses and `--json`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidHost(_) => "invalid_host",
            Error::InvalidTenantId(_) => "invalid_tenant_id",
            Error::InvalidInput { .. } => "invalid_input",
            Error::TenantNotFound(_) => "tenant_not_found",
            Error::TenantExists(_) => "tenant_exists",
            Error::InvalidState { .. } => "invalid_state",
            Error::DomainTaken { .. } => "domain_taken",
            Error::DomainNotFound(_) => "domain_not_found",
            Error::LeftoverStorage { .. } => "leftover_storage",
            Error::ApiKeyNotFound(_) => "api_key_not_found",
            Error::ApiKeyUnusable(_) => "api_key_unusable",
            Error::UnknownServer(_) => "unknown_server",
            Error::PoolTimeout { .. } => "pool_timeout",
            Error::PoolClosed(_) => "pool_closed",
            Error::StillInUse(_) => "still_in_use",
            Error::ServerUnavailable { .. } => "server_unavailable",
            Error::CatalogUnavailable { .. } => "catalog_unavailable",
            Error::Migration { .. } => "migration_failed",
            Error::Seed { .. } => "seed_failed",
            Error::Catalog(source) if catalog_unreachable(source) => "catalog_unavailable",
            Error::Catalog(_) => "catalog_error",
            Error::Database(source) if connection_lost(source) => "server_unavailable",
            Error::Database(_) => "database_error",
            Error::Io { .. } => "io_error",
        }
    }

    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            operation,
            path: path.into(),
            source,
        }
    }
}

/// Whether a tenant database error means the connection or its server went away (the
/// socket failed, the server is shutting down or not accepting connections) rather than
/// the statement being wrong: a query on a server that just stopped is a 503 to retry,
/// not an internal error.
pub(crate) fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        // SQLSTATE class 08 (connection exception) and 57P (operator intervention:
        // admin or crash shutdown, cannot connect now).
        sqlx::Error::Database(error) => error
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// Whether a catalog query failed because the catalog could not be reached, after it was
/// opened: the connection went, or no connection came within the pool's wait (a network
/// catalog's pool keeps retrying a server that stopped until then).
fn catalog_unreachable(error: &sqlx::Error) -> bool {
    connection_lost(error) || matches!(error, sqlx::Error::PoolTimedOut)
}

/// Writes an error and every source under it on one line, `a: b: c`.
///
/// Used where the chain must be stored as text (a tenant's failure reason).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Some errors (sqlx's among them) already print their cause; say each thing once.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

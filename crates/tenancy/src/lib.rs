//! Artflow Tenancy core: make a Rust service multi-tenant, one database per tenant.
//!
//! This crate holds everything that is not HTTP:
//!
//! - [`tenant_id`] and [`host`]: the validated forms of a tenant id and a request host;
//! - [`catalog`]: the central database of tenants and domains, with a change log that every
//!   write appends to in the same transaction;
//! - [`identify`]: request → tenant, cached in process and invalidated through the log;
//! - [`pool`]: the connection manager, one connection budget per server;
//! - [`server`]: where tenant databases live and how they are created and dropped;
//! - [`Tenancy`]: the handle an application holds, with the tenant lifecycle
//!   (create, suspend, maintenance, delete, doctor and repair);
//! - [`scope`]: the tenant of the work in progress, carried explicitly;
//! - [`keys`]: API keys for the admin API, stored as hashes, limited by scopes.
//!
//! The axum integration lives in `artflow-tenancy-axum`; the `tenancy` binary in
//! `artflow-tenancy-server`.
//!
//! ```no_run
//! use tenancy::{NewTenant, Tenancy, TenantId};
//!
//! # async fn run() -> Result<(), tenancy::Error> {
//! let tenancy = Tenancy::builder("./data").build().await?;
//! let id = TenantId::parse("acme")?;
//! let tenant = tenancy.create_tenant(NewTenant::new(id)).await?;
//! let mut conn = tenancy.connect(&tenant).await?;
//! let sqlite = conn.as_sqlite().expect("the embedded server is SQLite");
//! sqlx::query("SELECT 1").execute(sqlite).await.map_err(tenancy::Error::Database)?;
//! # Ok(())
//! # }
//! ```

pub mod catalog;
mod error;
pub mod host;
pub mod identify;
pub mod keys;
pub mod migrate;
pub mod pool;
mod provision;
pub mod scope;
pub mod server;
mod tenancy;
pub mod tenant;
pub mod tenant_id;
pub mod traffic;

pub use error::{BoxError, Error, ErrorKind, error_chain};
pub use migrate::{EmbeddedMigration, TenantMigrations};
pub use pool::{DatabasePoolStats, PoolOptions, PoolStats, PooledConnection};
pub use provision::{
    Creation, DEFAULT_MAINTENANCE_RETRY_AFTER_SECS, DoctorReport, MAX_MAINTENANCE_RETRY_AFTER_SECS,
    Orphan, RepairReport, Repaired, TenantRef, Unreachable,
};
pub use server::{Backend, Connection, Isolation, Server};
pub use tenancy::{BoxFuture, LOCAL_SERVER, Seeder, ServerOptions, Tenancy, TenancyBuilder};
pub use tenant::{Domain, NewTenant, Tenant, TenantStatus, TenantUpdate};
pub use tenant_id::TenantId;

/// Re-exported so applications use the same sqlx as the connections they are handed.
pub use sqlx;

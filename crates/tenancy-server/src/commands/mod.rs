//! The subcommands that manage tenants, each a function over a [`Tenancy`] handle.
//!
//! An application that embeds the library can mount these in its own binary: parse
//! [`crate::cli::TenantsCommand`] (or the others) with clap and call the matching `run`.

pub mod doctor;
pub mod domains;
pub mod init;
pub mod keys;
pub mod migrate;
pub mod tenants;
pub mod traffic;

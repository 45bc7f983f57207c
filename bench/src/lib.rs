//! Benchmark tools for Artflow Tenancy: seeding many tenants fast, and (see the binaries)
//! the load generator and the no-tenancy baseline.

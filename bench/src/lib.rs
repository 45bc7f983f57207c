//! Benchmark tools for Artflow Tenancy, built on the notes workload (`WORKLOAD.md` in the
//! project's shared notes): seeding many tenants fast (`seed`), the load generator
//! (`loadgen`), the no-tenancy baseline server (`baseline`) and the isolation check run after
//! each load (`verify`). `bench/run.sh` ties them together; `BENCHMARKS.md` has the results.

pub mod baseline;
pub mod loadgen;
pub mod verify;

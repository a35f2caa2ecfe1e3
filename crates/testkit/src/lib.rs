//! Test-only helpers shared by the crates' integration tests. Never a dependency of the binary.

pub mod backend;
pub mod clock;
pub mod pg_database;
pub mod store_contract;

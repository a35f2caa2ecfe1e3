//! Test-only helpers shared by the crates' integration tests. Never a dependency of the binary.
// A broken test fixture should stop the test at once, with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod arm;
pub mod backend;
pub mod clock;
pub mod load;
pub mod moto;
pub mod parameters;
pub mod pg_database;
pub mod pg_tagged;
pub mod store_contract;
pub mod world;

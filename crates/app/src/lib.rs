//! pgbroker's composition root: configuration, the adapters built from it, the use cases and the
//! front doors wired together. `main.rs` is the command line over this library; tests and
//! `pgbroker dev` start the same server in-process through [`serve::start`].

pub mod availability;
pub mod backends;
pub mod catalog_file;
pub mod config;
pub mod doors;
pub mod logging;
pub mod metrics;
pub mod operator;
pub mod output;
pub mod secret_value;
pub mod serve;
pub mod store_url;
pub mod telemetry;
#[cfg(test)]
mod test_support;
pub mod vault;

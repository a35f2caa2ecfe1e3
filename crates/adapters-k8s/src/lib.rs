//! The CloudNativePG backend: a CNPG `Cluster` per service instance (with pooler, monitoring,
//! backups and load balancer as the plan and settings say) and a `DatabaseRole` with a
//! broker-made password Secret per binding, all written by server-side apply and watched
//! through one cache of Clusters.

mod backend;
mod cache;
pub mod client;
pub mod config_source;
pub mod kinds;
pub mod labels;
pub mod leader;
pub mod manifests;
pub mod names;
pub mod plan;
pub mod quantity;
mod request_spans;
pub mod secrets_vault;
pub mod server_spec;
pub mod settings;
pub mod status;

pub use backend::CnpgBackend;
pub use plan::{PlanError, PlanSettings};
pub use secrets_vault::SecretsVault;
pub use settings::{CnpgSettings, SettingsError};

//! Backends outside Kubernetes. `shared`: databases on existing, shared PostgreSQL servers.
//! `aws`: RDS for PostgreSQL and Aurora PostgreSQL, one DB per instance. `azure`: Azure Database
//! for PostgreSQL flexible server, one server per instance.

pub mod aws;
pub mod azure;
mod category;
pub(crate) mod cloud_sql;
pub mod secrets;
pub mod shared;

pub use aws::{AwsBackend, AwsSettings, Flavor};
pub use secrets::OsRngSecrets;
pub use shared::{SharedServerBackend, SharedSettings};

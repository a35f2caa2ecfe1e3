//! Backends outside Kubernetes. `shared`: databases on existing, shared PostgreSQL servers.
//! AWS and Azure backends get modules of their own next to it.

pub mod secrets;
pub mod shared;

pub use secrets::OsRngSecrets;
pub use shared::{SharedServerBackend, SharedSettings};

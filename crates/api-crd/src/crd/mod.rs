//! The custom resources of the operator front door and their CustomResourceDefinitions.

pub mod database;
pub mod server;
pub mod status;
pub mod validation;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use database::{DatabaseOptions, PostgreSQLDatabase, PostgreSQLDatabaseSpec, ServerRef};
pub use server::{
    Backup, FirewallRule, HighAvailability, Maintenance, MaintenanceWindow, Network,
    PostgreSQLServer, PostgreSQLServerSpec, Size, Weekday,
};
pub use status::{Phase, PostgreSQLStatus};

/// The CRDs of both kinds: PostgreSQLServer, then PostgreSQLDatabase.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![PostgreSQLServer::crd(), PostgreSQLDatabase::crd()]
}

/// Rendering a CRD as YAML failed.
#[derive(Debug, thiserror::Error)]
#[error("rendering CustomResourceDefinition {name} as YAML: {source}")]
pub struct RenderError {
    name: String,
    #[source]
    source: serde_yaml::Error,
}

/// First line of each file under `deploy/crds/`.
pub const GENERATED_HEADER: &str = "# Generated from the Rust types in crates/api-crd by `pgbroker crds`: edit those, not this file.\n";

/// The file name a CRD is committed under in `deploy/crds/`: `<plural>.<group>.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.{}.yaml", crd.spec.names.plural, crd.spec.group)
}

/// The committed form of one CRD: [`GENERATED_HEADER`], then [`crd_yaml`].
pub fn crd_file(crd: &CustomResourceDefinition) -> Result<String, RenderError> {
    Ok(format!("{GENERATED_HEADER}{}", crd_yaml(crd)?))
}

/// One CRD as a YAML document (no leading `---`).
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, RenderError> {
    serde_yaml::to_string(crd).map_err(|source| RenderError {
        name: crd.metadata.name.clone().unwrap_or_default(),
        source,
    })
}

/// Both CRDs as one multi-document YAML stream (`---` before each), as `pgbroker crds` prints it.
pub fn crds_yaml() -> Result<String, RenderError> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&crd_yaml(&crd)?);
    }
    Ok(out)
}

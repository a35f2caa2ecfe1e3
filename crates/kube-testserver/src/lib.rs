//! In-memory Kubernetes API server for tests (dev-only), with a CloudNativePG simulator.
//!
//! A real `kube::Client` talks to it over HTTP on 127.0.0.1: discovery, CRUD, merge/JSON/apply
//! patches, `resourceVersion` conflicts, status subresource, selectors, watches with bookmarks,
//! finalizers, namespace deletion, owner-reference garbage collection; custom resources validated
//! against their CRD's `openAPIV3Schema` (CNPG 1.30's CRDs from `../shared/crds/cnpg/`, pgbroker's
//! own from the repository's `deploy/crds/`); Events (core v1 and events.k8s.io/v1) checked by the
//! API server's event rules (required `eventTime`, reporting fields, `action`, `reason` ≤ 128,
//! note ≤ 1 kB, only the series may change); an
//! RBAC mode (`TestServerOptions::rbac`) in which bearer tokens name ServiceAccounts and the
//! stored roles and bindings authorize each request as the API server's RBAC authorizer does.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pgbroker_kube_testserver::TestServer;
//! let server = TestServer::start_default().await?;
//! let client = server.client();
//! # Ok(()) }
//! ```

pub mod crds;
pub mod error;
pub mod faults;
mod http;
mod load;
pub mod rbac;
pub mod registry;
pub mod requests;
pub mod schema;
pub mod selector;
mod server;
pub mod simulator;
pub mod store;

use std::sync::OnceLock;

use serde_json::Value;

pub use error::ApiError;
pub use faults::{FaultRule, Faults};
pub use load::LoadError;
pub use rbac::{AuthorizationRecord, UserInfo};
pub use registry::{Gvr, Registry};
pub use requests::RequestRecord;
pub use server::{ADMIN_USER, StartError, TestServer, TestServerOptions};
pub use simulator::{Simulator, SimulatorOptions};

/// Validates `object` against the schema of a CNPG, barman-cloud or pgbroker CRD, named by plural
/// (`clusters`), `plural.group`, kind (`Cluster`) or `Kind.group`; nulls are pruned and defaults
/// applied first, as the API server does. The error is the API server's 422 message.
pub fn validate(resource: &str, object: &Value) -> Result<(), String> {
    static DEFAULT: OnceLock<Result<Registry, String>> = OnceLock::new();
    let registry = DEFAULT.get_or_init(|| {
        let mut registry = Registry::with_builtins();
        for dir in [
            crds::cnpg_crd_dir(),
            crds::barman_cloud_crd_dir(),
            crds::pgbroker_crd_dir(),
        ] {
            for crd in crds::load_crd_dir(&dir).map_err(|e| e.to_string())? {
                registry.register_crd(&crd)?;
            }
        }
        Ok(registry)
    });
    match registry {
        Ok(registry) => validate_with(registry, resource, object),
        Err(error) => Err(format!("loading CRDs: {error}")),
    }
}

/// [`validate`] against the CRDs of a given registry.
pub fn validate_with(registry: &Registry, resource: &str, object: &Value) -> Result<(), String> {
    let def = registry
        .find(resource)
        .ok_or_else(|| format!("unknown resource {resource:?}"))?;
    let schema = def
        .schema
        .as_ref()
        .ok_or_else(|| format!("{} has no schema", def.kind_group()))?;
    let mut pruned = object.clone();
    schema::prune_and_default(schema, &mut pruned);
    let errors = schema::validate_object(schema, &pruned);
    if errors.is_empty() {
        return Ok(());
    }
    let name = store::meta::name(object);
    Err(ApiError::invalid(&def.kind_group(), name, &errors).message)
}

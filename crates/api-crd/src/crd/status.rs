//! The status both custom resources report: one vocabulary, whichever kind and backend.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where an object stands, as `kubectl get` shows it in the Phase column.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// Accepted, nothing started yet (or waiting for something it depends on).
    Pending,
    /// The backend is creating it.
    Provisioning,
    /// It exists and its credentials Secret is written.
    Ready,
    /// A spec change is being applied.
    Updating,
    /// The backend is removing it; a finalizer holds the object until it is done.
    Deleting,
    /// The last operation failed; the `Ready` condition says why.
    Failed,
}

/// Observed state of a PostgreSQLServer or PostgreSQLDatabase, written by pgbroker only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgreSQLStatus {
    /// Conditions in the Kubernetes shape; `Ready` carries a machine-readable reason (for example
    /// `NoFittingPlan`, `Unsupported`, `BackendUnavailable`) and a message saying what is wrong.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the object stands: Pending, Provisioning, Ready, Updating, Deleting or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The backend that runs it (for a database: the backend of its server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The catalog plan chosen for it (from `size.class`, or the smallest plan covering
    /// `size.cpu` and `size.memoryMB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Where clients connect, `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// What the running operation is doing, in words (on CloudNativePG: the Cluster's phase
    /// text); absent when nothing runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

impl PostgreSQLStatus {
    /// The `Ready` condition's reason, if there is one.
    pub fn reason(&self) -> Option<&str> {
        self.conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.reason.as_str())
    }
}

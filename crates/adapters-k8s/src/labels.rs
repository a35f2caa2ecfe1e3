//! Labels and annotations on every object the backend makes: which backend, instance, service,
//! plan and binding it belongs to, and the platform context of the request that made it.

use pgbroker_domain::{BindingId, InstanceId, InstanceSpec};
use serde_json::{Map, Value, json};

use crate::names::label_value;

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGER: &str = "pgbroker";
pub const BACKEND: &str = "pgbroker.io/backend";
pub const INSTANCE: &str = "pgbroker.io/instance-id";
pub const SERVICE: &str = "pgbroker.io/service-id";
pub const PLAN: &str = "pgbroker.io/plan-id";
pub const BINDING: &str = "pgbroker.io/binding-id";
/// The platform's name of the instance (context `instance_name`), when the request gave one.
pub const INSTANCE_NAME: &str = "pgbroker.io/instance-name";
/// Operation whose step last applied the Cluster; a cached Cluster that carries the current
/// operation id shows that everything of the step was applied, so polling needs no writes.
pub const OPERATION: &str = "pgbroker.io/operation-id";

/// Major version the Cluster was last applied with; an update may not go below it.
pub const POSTGRES_VERSION: &str = "pgbroker.io/postgres-version";

/// Whose an object is.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub backend: &'a str,
    pub instance_id: &'a InstanceId,
    pub spec: &'a InstanceSpec,
    pub binding_id: Option<&'a BindingId>,
}

impl Owner<'_> {
    pub fn labels(&self) -> Map<String, Value> {
        let mut labels = Map::new();
        labels.insert(MANAGED_BY.into(), json!(MANAGER));
        labels.insert(BACKEND.into(), json!(label_value(self.backend)));
        labels.insert(
            INSTANCE.into(),
            json!(label_value(self.instance_id.as_str())),
        );
        labels.insert(
            SERVICE.into(),
            json!(label_value(self.spec.service_id.as_str())),
        );
        labels.insert(PLAN.into(), json!(label_value(self.spec.plan_id.as_str())));
        if let Some(b) = self.binding_id {
            labels.insert(BINDING.into(), json!(label_value(b.as_str())));
        }
        // The name the platform knows the instance by (OSB's Kubernetes context profile; the
        // operator's PostgreSQLServer name), so `kubectl get cluster -l` finds it by that name.
        if let Some(Value::String(name)) = self.spec.context.get("instance_name") {
            labels.insert(INSTANCE_NAME.into(), json!(label_value(name)));
        }
        labels
    }

    /// Full ids (labels may hold hashes of long ids) and the platform context.
    pub fn annotations(&self) -> Map<String, Value> {
        let mut a = Map::new();
        a.insert(INSTANCE.into(), json!(self.instance_id.as_str()));
        a.insert(SERVICE.into(), json!(self.spec.service_id.as_str()));
        a.insert(PLAN.into(), json!(self.spec.plan_id.as_str()));
        if let Some(b) = self.binding_id {
            a.insert(BINDING.into(), json!(b.as_str()));
        }
        if let Some(Value::String(p)) = self.spec.context.get("platform") {
            a.insert("pgbroker.io/platform".into(), json!(p));
        }
        if let Some(org) = &self.spec.organization_guid {
            a.insert("pgbroker.io/organization-guid".into(), json!(org));
        }
        if let Some(space) = &self.spec.space_guid {
            a.insert("pgbroker.io/space-guid".into(), json!(space));
        }
        if !self.spec.context.is_empty() {
            a.insert(
                "pgbroker.io/context".into(),
                json!(Value::Object(self.spec.context.clone()).to_string()),
            );
        }
        a
    }

    /// `metadata` for an object of this owner.
    pub fn metadata(&self, name: &str, namespace: Option<&str>) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(name));
        if let Some(ns) = namespace {
            m.insert("namespace".into(), json!(ns));
        }
        m.insert("labels".into(), Value::Object(self.labels()));
        m.insert("annotations".into(), Value::Object(self.annotations()));
        Value::Object(m)
    }
}

/// Selects every object of one backend.
pub fn backend_selector(backend: &str) -> String {
    format!("{MANAGED_BY}={MANAGER},{BACKEND}={}", label_value(backend))
}

/// Selects the objects of one instance (including its bindings').
pub fn instance_selector(backend: &str, instance: &InstanceId) -> String {
    format!(
        "{},{INSTANCE}={}",
        backend_selector(backend),
        label_value(instance.as_str())
    )
}

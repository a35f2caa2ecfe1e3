//! Turning a server spec (the operator's `PostgreSQLServer`) into what a provision or update
//! needs: which backend (by the policy), which plan (by class or size), and the provision
//! parameters of that plan (by the backend's translation), or why the spec cannot be served.
//! Nothing is made here; the door passes the choice to `provision` or `update`.

use crate::ids::{PlanId, ServiceId};
use crate::model::{InstanceSpec, JsonObject};
use crate::reason::Reason;
use crate::server::{Offer, ServerPolicy, ServerRequest, ServerTarget, SpecRejected, choose};

use super::Broker;

/// How this broker serves a server spec.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerChoice {
    pub backend: String,
    pub service_id: ServiceId,
    pub plan_id: PlanId,
    /// The plan's name, shown as the server's class.
    pub plan_name: String,
    /// Provision parameters of the plan (they pass its `instance_create` schema).
    pub parameters: JsonObject,
    /// The plan's `maintenance_info` version.
    pub maintenance_version: Option<String>,
    /// Sentences for the object's status on how the spec is served.
    pub notes: Vec<String>,
}

impl ServerChoice {
    /// The instance spec of a provision with this choice; `context` says where the request
    /// comes from (namespace, object name and uid).
    pub fn instance_spec(&self, context: JsonObject) -> InstanceSpec {
        InstanceSpec {
            service_id: self.service_id.clone(),
            plan_id: self.plan_id.clone(),
            parameters: self.parameters.clone(),
            context,
            organization_guid: None,
            space_guid: None,
            maintenance_version: self.maintenance_version.clone(),
        }
    }

    /// The parameters of an update from `current` to this choice, as `UpdateCommand` merges
    /// them: every parameter of the choice, and `null` for each current one it no longer has.
    pub fn parameter_changes(&self, current: &JsonObject) -> JsonObject {
        let mut changes = self.parameters.clone();
        for key in current.keys() {
            if !changes.contains_key(key) {
                changes.insert(key.clone(), serde_json::Value::Null);
            }
        }
        changes
    }
}

impl Broker {
    /// The backend, plan and provision parameters for `request` under `policy`, or why it
    /// cannot be served (`InvalidSpec`, `NoFittingPlan`, `Unsupported`), with the choices
    /// there are named in the message.
    pub fn choose_server(
        &self,
        request: &ServerRequest,
        policy: &ServerPolicy,
    ) -> Result<ServerChoice, SpecRejected> {
        let core = &self.core;
        let backend_name = match request.backend.as_deref().filter(|b| !b.is_empty()) {
            Some(name) => name,
            None => policy.default_backend().ok_or_else(|| {
                SpecRejected::new(
                    Reason::InvalidSpec,
                    format!(
                        "spec.backend is empty and no default backend is configured; name one of: {}",
                        policy.allowed_list()
                    ),
                )
            })?,
        };
        if !policy.allows(backend_name) {
            return Err(SpecRejected::new(
                Reason::InvalidSpec,
                format!(
                    "spec.backend {backend_name:?} is not allowed for servers (allowed: {})",
                    policy.allowed_list()
                ),
            ));
        }
        let backend = core.backends.get(backend_name).ok_or_else(|| {
            SpecRejected::new(
                Reason::InvalidSpec,
                format!(
                    "spec.backend {backend_name:?} is allowed but not configured (configured: {})",
                    core.backends
                        .names()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        if request.size.storage_gb == 0 {
            return Err(SpecRejected::new(
                Reason::InvalidSpec,
                "spec.size.storageGB must be at least 1",
            ));
        }
        let offers: Vec<Offer<'_>> = core
            .catalog
            .services()
            .iter()
            .flat_map(|service| service.plans.iter().map(move |plan| (service, plan)))
            .filter(|(_, plan)| plan.backend == backend_name)
            .map(|(service, plan)| Offer {
                service,
                plan,
                size: backend.plan_size(plan),
            })
            .collect();
        let offer = choose(backend_name, &offers, request)?;
        let plan = offer.plan;
        let mut notes = Vec::new();
        if request.size.class.is_none() {
            notes.push(format!(
                "plan {}: the smallest of backend {backend_name} that gives what spec.size asks for",
                plan.name
            ));
        }
        let asked = request.size.storage_gb;
        let storage_gb = match offer.size.and_then(|s| s.storage_gb) {
            Some(of_plan) if of_plan > asked => {
                notes.push(format!(
                    "storage: {of_plan} GiB, the size of plan {}, which is more than the {asked} GiB asked for",
                    plan.name
                ));
                Some(of_plan)
            }
            Some(_) => Some(asked),
            None => {
                notes.push(format!(
                    "storage: backend {backend_name} does not size storage per server; the database shares its server's disk, so the {asked} GiB of spec.size.storageGB are not reserved"
                ));
                None
            }
        };
        let target = ServerTarget {
            request,
            storage_gb,
        };
        let translation = backend.server_parameters(plan, &target)?;
        notes.extend(translation.notes);
        if let Some(schema) = plan.schemas.instance_create.as_ref() {
            core.parameter_schemas
                .validate(schema, &translation.parameters)
                .map_err(|why| {
                    SpecRejected::new(
                        Reason::InvalidSpec,
                        format!("plan {} does not accept the spec: {why}", plan.name),
                    )
                })?;
        }
        Ok(ServerChoice {
            backend: backend_name.to_string(),
            service_id: offer.service.id.clone(),
            plan_id: plan.id.clone(),
            plan_name: plan.name.clone(),
            parameters: translation.parameters,
            maintenance_version: plan.maintenance_info.as_ref().map(|m| m.version.clone()),
            notes,
        })
    }
}

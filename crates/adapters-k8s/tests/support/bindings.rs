//! Binds with parameters and unbinds with a deletion policy, for tests of bindings with a
//! database of their own.

use pgbroker_domain::usecases::{BindCommand, UnbindCommand};
use pgbroker_domain::{
    BindingId, BindingSpec, DeletionPolicy, JsonObject, OperationId, Outcome, PlanId, ServiceId,
};
use serde_json::Value;

use super::world::{SERVICE, World, instance};

impl World {
    pub async fn bind_with(
        &self,
        id: &str,
        binding: &str,
        plan: &str,
        parameters: Value,
    ) -> OperationId {
        let cmd = BindCommand {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance(id),
            binding_id: BindingId::parse(binding).unwrap(),
            spec: BindingSpec {
                service_id: ServiceId::parse(SERVICE).unwrap(),
                plan_id: PlanId::parse(plan).unwrap(),
                parameters: parameters.as_object().cloned().expect("a JSON object"),
                context: JsonObject::new(),
                bind_resource: JsonObject::new(),
            },
            accepts_incomplete: true,
            originating_identity: None,
        };
        match self.broker.bind(cmd).await.expect("bind accepted") {
            Outcome::Accepted { operation } => operation,
            other => panic!("expected Accepted, got {other:?}"),
        }
    }

    pub async fn unbind_with(
        &self,
        id: &str,
        binding: &str,
        plan: &str,
        deletion_policy: DeletionPolicy,
    ) -> OperationId {
        let cmd = UnbindCommand {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance(id),
            binding_id: BindingId::parse(binding).unwrap(),
            service_id: ServiceId::parse(SERVICE).unwrap(),
            plan_id: PlanId::parse(plan).unwrap(),
            deletion_policy,
            accepts_incomplete: true,
            originating_identity: None,
        };
        match self.broker.unbind(cmd).await.expect("unbind accepted") {
            Outcome::Accepted { operation } => operation,
            other => panic!("expected Accepted, got {other:?}"),
        }
    }
}

//! Fetching an instance or binding as the OSB spec defines it: something still being created (or
//! whose creation failed) does not exist yet for the platform, and an instance under update
//! cannot be fetched until the update ends. A service whose catalog entry says its instances
//! (bindings) are not retrievable refuses the fetch outright, whatever the state.

use crate::ids::{BindingId, InstanceId, PlanId, ServiceId};
use crate::model::{Binding, BindingState, Instance, InstanceState};
use crate::operation::OperationKind;
use crate::reason::FrontDoor;
use crate::reason::Reason;

use super::binding_ids::{BindingIds, needs_instance_plan};
use super::door::check_owner;
use super::instance::concurrency;
use super::{Broker, BrokerError};

/// OSB `GET .../service_bindings/{binding_id}?service_id&plan_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchBindingQuery {
    /// The door asking; must be the instance's owner.
    pub door: FrontDoor,
    pub instance_id: InstanceId,
    pub binding_id: BindingId,
    /// When sent, must be the binding's service.
    pub service_id: Option<ServiceId>,
    /// When sent, must be the plan the binding was made under or its instance's current plan.
    pub plan_id: Option<PlanId>,
}

impl Broker {
    /// OSB `GET /v2/service_instances/{id}`: NotFound while provisioning or after a failed
    /// provision, Concurrency while an update is in flight, ForeignObject for `door` other than
    /// the instance's owner.
    #[tracing::instrument(name = "broker.fetch_instance", skip_all, fields(door = door.as_str(), instance_id = %id))]
    pub async fn fetch_instance(
        &self,
        door: FrontDoor,
        id: &InstanceId,
    ) -> Result<Instance, BrokerError> {
        let instance = self.instance(id).await?;
        check_owner(&instance, door)?;
        self.check_instances_retrievable(&instance)?;
        match instance.state {
            InstanceState::Provisioning | InstanceState::Failed => {
                return Err(BrokerError::not_found(format!(
                    "instance {id} is not provisioned (it is {})",
                    instance.state.as_str()
                )));
            }
            InstanceState::Ready | InstanceState::Deprovisioning => {}
        }
        if let Some(in_flight) = self.core.store.operation_in_flight(id).await?
            && in_flight.kind == OperationKind::Update
        {
            return Err(concurrency(id, &in_flight));
        }
        Ok(instance)
    }

    /// OSB `GET .../service_bindings/{id}`: NotFound while binding or after a failed bind,
    /// ForeignObject for a door other than the instance's owner;
    /// `service_id`/`plan_id`, when sent, must be the binding's (its plan or its instance's
    /// current one, see [`binding_ids`](super::binding_ids)).
    #[tracing::instrument(name = "broker.fetch_binding", skip_all, fields(door = q.door.as_str(), instance_id = %q.instance_id, binding_id = %q.binding_id))]
    pub async fn fetch_binding(&self, q: &FetchBindingQuery) -> Result<Binding, BrokerError> {
        let (instance_id, id) = (&q.instance_id, &q.binding_id);
        let binding = self.binding(instance_id, id).await?;
        self.check_bindings_retrievable(&binding)?;
        // Read for its owner (a binding belongs to its instance's door) and its current plan.
        let instance = self.core.store.instance(instance_id).await?;
        if let Some(instance) = &instance {
            check_owner(instance, q.door)?;
        }
        let instance_plan = instance
            .filter(|_| needs_instance_plan(q.plan_id.as_ref(), &binding.spec.plan_id))
            .map(|i| i.spec.plan_id);
        let ids = BindingIds {
            subject: &format!("binding {id} of instance {instance_id}"),
            service_id: &binding.spec.service_id,
            bound_plan: &binding.spec.plan_id,
            instance_plan: instance_plan.as_ref(),
        };
        if let Some(sent) = &q.service_id {
            ids.check_service(sent)?;
        }
        if let Some(sent) = &q.plan_id {
            ids.check_plan(sent)?;
        }
        match binding.state {
            BindingState::Binding | BindingState::Failed => Err(BrokerError::not_found(format!(
                "binding {id} of instance {instance_id} is not bound (it is {})",
                binding.state.as_str()
            ))),
            BindingState::Ready | BindingState::Unbinding => Ok(binding),
        }
    }

    /// OSB: a service declaring `instances_retrievable: false` does not support fetching its
    /// instances; platforms must not ask, and a request that does is refused as a bad request.
    /// An instance whose service left the catalog stays fetchable: nothing says otherwise.
    fn check_instances_retrievable(&self, instance: &Instance) -> Result<(), BrokerError> {
        match self.core.catalog.service(&instance.spec.service_id) {
            Some(service) if !service.instances_retrievable => Err(BrokerError::bad_request(
                Reason::Unsupported,
                format!(
                    "service {} does not support fetching instances (instances_retrievable is \
                     false); instance {} cannot be fetched",
                    service.id, instance.id
                ),
            )),
            _ => Ok(()),
        }
    }

    /// OSB: a service declaring `bindings_retrievable: false` does not support fetching its
    /// bindings; a request that does is refused as a bad request.
    fn check_bindings_retrievable(&self, binding: &Binding) -> Result<(), BrokerError> {
        match self.core.catalog.service(&binding.spec.service_id) {
            Some(service) if !service.bindings_retrievable => Err(BrokerError::bad_request(
                Reason::Unsupported,
                format!(
                    "service {} does not support fetching bindings (bindings_retrievable is \
                     false); binding {} of instance {} cannot be fetched",
                    service.id, binding.id, binding.instance_id
                ),
            )),
            _ => Ok(()),
        }
    }
}

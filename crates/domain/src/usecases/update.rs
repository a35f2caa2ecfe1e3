//! Updating a service instance: plan, parameters, context or maintenance version.

use crate::ids::{InstanceId, PlanId, ServiceId};
use crate::model::{Instance, InstanceSpec, InstanceState, JsonObject};
use crate::operation::OperationKind;
use crate::reason::FrontDoor;
use crate::reason::Reason;

use super::door::check_owner;
use super::instance::{check_maintenance, concurrency};
use super::{Broker, BrokerError, Outcome};

#[derive(Debug, Clone, PartialEq)]
pub struct UpdateCommand {
    /// The door asking; must be the instance's owner.
    pub door: FrontDoor,
    pub instance_id: InstanceId,
    pub service_id: ServiceId,
    /// A new plan, or `None` to keep the current one.
    pub plan_id: Option<PlanId>,
    /// Parameters to change: merged over the current ones; a `null` value removes a key.
    pub parameters: Option<JsonObject>,
    /// A new platform context, replacing the stored one.
    pub context: Option<JsonObject>,
    /// The `maintenance_info.version` to move to.
    pub maintenance_version: Option<String>,
    pub accepts_incomplete: bool,
    pub originating_identity: Option<String>,
}

impl Broker {
    #[tracing::instrument(name = "broker.update", skip_all, fields(door = cmd.door.as_str(), instance_id = %cmd.instance_id, accepts_incomplete = cmd.accepts_incomplete))]
    pub async fn update(&self, cmd: UpdateCommand) -> Result<Outcome<Instance>, BrokerError> {
        let core = &self.core;
        let instance = core
            .store
            .instance(&cmd.instance_id)
            .await?
            .ok_or_else(|| {
                BrokerError::not_found(format!("instance {} does not exist", cmd.instance_id))
                    .instance(&cmd.instance_id)
            })?;
        check_owner(&instance, cmd.door)?;
        if cmd.service_id != instance.spec.service_id {
            return Err(BrokerError::bad_request(
                Reason::InvalidSpec,
                format!(
                    "instance {} belongs to service_id {}, not {}",
                    cmd.instance_id, instance.spec.service_id, cmd.service_id
                ),
            ));
        }
        let (_, current_plan) = core
            .catalog
            .plan(&instance.spec.service_id, &instance.spec.plan_id)
            .map_err(|e| {
                BrokerError::unprocessable(
                    Reason::InvalidState,
                    format!("instance {}: {e}", cmd.instance_id),
                )
            })?;
        let target_plan_id = cmd
            .plan_id
            .clone()
            .unwrap_or_else(|| instance.spec.plan_id.clone());
        let (service, target_plan) = core
            .catalog
            .plan(&cmd.service_id, &target_plan_id)
            .map_err(BrokerError::from)?;
        // OSB: a change the broker does not support is 422 with a description; the request
        // itself is well formed.
        if target_plan.id != current_plan.id && !current_plan.plan_updateable {
            return Err(BrokerError::unprocessable(
                Reason::Unsupported,
                format!(
                    "plan {} does not support changing to another plan (plan_updateable is false); \
                 instance {} stays on it",
                    current_plan.id, cmd.instance_id
                ),
            ));
        }
        check_maintenance(target_plan, cmd.maintenance_version.as_deref())?;
        if let Some(parameters) = &cmd.parameters {
            core.check_parameters(
                target_plan,
                "instance_update",
                target_plan.schemas.instance_update.as_ref(),
                parameters,
            )?;
        }
        let mut target = instance.spec.clone();
        target.plan_id = target_plan.id.clone();
        if let Some(changes) = &cmd.parameters {
            for (key, value) in changes {
                if value.is_null() {
                    target.parameters.remove(key);
                } else {
                    target.parameters.insert(key.clone(), value.clone());
                }
            }
        }
        if let Some(context) = &cmd.context {
            target.context = context.clone();
        }
        if let Some(version) = &cmd.maintenance_version {
            target.maintenance_version = Some(version.clone());
        } else if target.plan_id != instance.spec.plan_id {
            target.maintenance_version = target_plan
                .maintenance_info
                .as_ref()
                .map(|m| m.version.clone());
        }
        // OSB: an update that changes nothing but the platform's context is a change the service
        // must opt into with `allow_context_updates`; without it the change is unsupported (422)
        // and, as for every 4xx, nothing is stored. A context sent along with a plan, parameter
        // or maintenance change is stored with that change.
        let only_context_changes = target.context != instance.spec.context
            && InstanceSpec {
                context: instance.spec.context.clone(),
                ..target.clone()
            } == instance.spec;
        if only_context_changes && !service.allow_context_updates {
            return Err(BrokerError::unprocessable(
                Reason::Unsupported,
                format!(
                    "service {} does not accept updates of the context alone \
                 (allow_context_updates is false); instance {} is unchanged",
                    service.id, cmd.instance_id
                ),
            ));
        }
        if let Some(in_flight) = core.store.operation_in_flight(&cmd.instance_id).await? {
            if in_flight.kind == OperationKind::Update && in_flight.target.as_ref() == Some(&target)
            {
                return Ok(Outcome::Accepted {
                    operation: in_flight.id,
                });
            }
            return Err(concurrency(&cmd.instance_id, &in_flight));
        }
        if instance.state != InstanceState::Ready {
            return Err(BrokerError::unprocessable(
                Reason::InvalidState,
                format!(
                    "instance {} is {} and cannot be updated",
                    cmd.instance_id,
                    instance.state.as_str()
                ),
            ));
        }
        if target == instance.spec {
            return Ok(Outcome::Done {
                value: instance,
                created: false,
            });
        }
        let (_, backend) = core
            .plan_and_backend(&target)
            .map_err(BrokerError::Unavailable)?;
        Self::require_async_unless_synchronous(
            backend.as_ref(),
            OperationKind::Update,
            cmd.accepts_incomplete,
        )?;
        let target_plan = target_plan.clone();
        let mut op = self.platform_operation(
            OperationKind::Update,
            (cmd.door, &cmd.instance_id),
            // The plan before the update; the new one travels in `target`.
            &instance.spec,
            &target_plan,
            &cmd.originating_identity,
        );
        op.target = Some(target);
        op.description = Some("updating".into());
        match self.launch(op, &[], cmd.accepts_incomplete).await {
            Ok(started) => {
                self.instance_outcome(started, &cmd.instance_id, false)
                    .await
            }
            Err(e) => Err(self.launch_error(e, &cmd.instance_id)),
        }
    }
}

//! A login on an instance: the binding a server's or database's Secret holds.

use std::time::Duration;

use pgbroker_domain::usecases::{BindCommand, LastOperationQuery};
use pgbroker_domain::{
    BindingId, BindingSpec, BindingState, Credentials, FrontDoor, Instance, JsonObject,
    OperationState, Outcome,
};

use super::broker_errors::is_absent;
use super::{Context, Error, OPERATION_POLL};

pub enum Login {
    Ready(Credentials),
    /// The bind runs; look again after this long.
    Pending(Duration),
}

/// The credentials of binding `id` on `instance`, binding it first when needed.
pub async fn login(
    ctx: &Context,
    instance: &Instance,
    id: BindingId,
    parameters: JsonObject,
) -> Result<Login, Error> {
    match ctx.broker.binding(&instance.id, &id).await {
        Ok(binding) => match (binding.state, binding.credentials) {
            (BindingState::Ready, Some(credentials)) => return Ok(Login::Ready(credentials)),
            (BindingState::Binding | BindingState::Unbinding, _) => {
                let retry = ctx
                    .broker
                    .last_operation(LastOperationQuery {
                        door: FrontDoor::Operator,
                        instance_id: instance.id.clone(),
                        binding_id: Some(id.clone()),
                        operation: None,
                        service_id: None,
                        plan_id: None,
                    })
                    .await
                    .ok()
                    .filter(|op| op.state == OperationState::InProgress)
                    .and_then(|op| op.retry_after)
                    .unwrap_or(OPERATION_POLL);
                return Ok(Login::Pending(retry));
            }
            _ => {}
        },
        Err(e) if is_absent(&e) => {}
        Err(e) => return Err(e.into()),
    }
    let cmd = BindCommand {
        door: FrontDoor::Operator,
        instance_id: instance.id.clone(),
        binding_id: id,
        spec: BindingSpec {
            service_id: instance.spec.service_id.clone(),
            plan_id: instance.spec.plan_id.clone(),
            parameters,
            context: instance.spec.context.clone(),
            bind_resource: JsonObject::new(),
        },
        accepts_incomplete: true,
        originating_identity: None,
    };
    match ctx.broker.bind(cmd).await? {
        Outcome::Done { value, .. } => match value.credentials {
            Some(c) => Ok(Login::Ready(c)),
            None => Ok(Login::Pending(OPERATION_POLL)),
        },
        Outcome::Accepted { .. } => Ok(Login::Pending(OPERATION_POLL)),
    }
}

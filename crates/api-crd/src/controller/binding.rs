//! A login on an instance: the binding a server's or database's Secret holds.

use std::time::Duration;

use pgbroker_domain::usecases::{BindCommand, LastOperation, LastOperationQuery};
use pgbroker_domain::{
    BindingId, BindingSpec, BindingState, Credentials, FrontDoor, Instance, JsonObject,
    OperationKind, OperationState, Outcome, Reason,
};

use super::broker_errors::is_absent;
use super::{Context, Error, OPERATION_POLL};

pub enum Login {
    Ready(Credentials),
    /// The bind runs; look again after this long.
    Pending(Duration),
    /// The bind failed (what it made is being or has been removed): why, for the status.
    /// Bound again only when the object's spec changes.
    Failed {
        reason: Reason,
        message: String,
    },
}

/// The last operation of binding `id`, if it has one.
async fn last(ctx: &Context, instance: &Instance, id: &BindingId) -> Option<LastOperation> {
    ctx.broker
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
}

fn failed(op: LastOperation) -> Login {
    Login::Failed {
        reason: op.reason.unwrap_or(Reason::BackendFailed),
        message: op
            .description
            .unwrap_or_else(|| "the bind failed".to_string()),
    }
}

/// The credentials of binding `id` on `instance`, binding it first when needed. A bind that
/// failed is not tried again unless `retry` (the object's spec changed since it failed): a
/// spec the backend refused is refused again. `meta` is the object's, which may name who asked.
pub async fn login(
    ctx: &Context,
    instance: &Instance,
    id: BindingId,
    parameters: JsonObject,
    retry: bool,
    meta: &kube::api::ObjectMeta,
) -> Result<Login, Error> {
    match ctx.broker.binding(&instance.id, &id).await {
        Ok(binding) => match (binding.state, binding.credentials) {
            (BindingState::Ready, Some(credentials)) => return Ok(Login::Ready(credentials)),
            (BindingState::Binding | BindingState::Unbinding | BindingState::Failed, _) => {
                // Unpolled by id, a bind's clean-up after its failure reads as failed.
                return Ok(match last(ctx, instance, &id).await {
                    Some(op) if op.state == OperationState::Failed => failed(op),
                    Some(op) => Login::Pending(op.retry_after.unwrap_or(OPERATION_POLL)),
                    None => Login::Pending(OPERATION_POLL),
                });
            }
            _ => {}
        },
        Err(e) if is_absent(&e) => {
            if !retry
                && let Some(op) = last(ctx, instance, &id).await
                && op.state == OperationState::Failed
                && matches!(op.kind, OperationKind::Bind | OperationKind::Unbind)
            {
                return Ok(failed(op));
            }
        }
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
        originating_identity: super::requested_by(meta),
    };
    match ctx.broker.bind(cmd).await? {
        Outcome::Done { value, .. } => match value.credentials {
            Some(c) => Ok(Login::Ready(c)),
            None => Ok(Login::Pending(OPERATION_POLL)),
        },
        Outcome::Accepted { .. } => Ok(Login::Pending(OPERATION_POLL)),
    }
}

/// Whether a failed bind of the object may be tried again: its status does not record a
/// failure for the current generation.
pub fn may_retry(status: Option<&crate::crd::PostgreSQLStatus>, generation: Option<i64>) -> bool {
    status.is_none_or(|s| {
        s.phase != Some(crate::crd::Phase::Failed) || s.observed_generation != generation
    })
}

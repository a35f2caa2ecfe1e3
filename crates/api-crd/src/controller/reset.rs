//! Password reset on request: the label `operator/action: reset-password` (the hybrid-cloud
//! operator's) on a server or database sets a new password on its login through the domain's
//! `Broker::reset_password`, the Secret gets the new credentials, then the label goes. While a
//! reset runs asynchronously, its operation id is kept in an annotation, so the label's
//! continued presence does not start another one.

use std::fmt::Debug;
use std::time::Duration;

use kube::Resource;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use pgbroker_domain::usecases::{LastOperationQuery, ResetPasswordCommand};
use pgbroker_domain::{
    BindingId, Credentials, FrontDoor, Instance, OperationId, OperationState, Outcome, Reason,
};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{Context, Error, OPERATION_POLL};

/// Label that asks for an action; the operator removes it once done.
pub const ACTION_LABEL: &str = "operator/action";
/// The action that sets a new password.
pub const RESET_PASSWORD: &str = "reset-password";
/// The reset under way, by operation id.
pub const RESET_OPERATION: &str = "pgbroker.io/password-reset-operation";

pub enum Reset {
    /// Not asked for.
    NotAsked,
    /// Under way; look again after this long.
    Pending(Duration),
    /// Done: the Secret takes these, then [`clear`] removes the label.
    Done(Credentials),
    /// Failed: the old password still works; [`clear`] removes the label so it can be asked again.
    Failed { reason: Reason, message: String },
}

fn asked(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(ACTION_LABEL))
        .is_some_and(|v| v == RESET_PASSWORD)
}

/// Whether the object asks for a reset and how far it is, starting it when it is asked for
/// and none runs.
pub async fn reset<K>(
    ctx: &Context,
    api: &Api<K>,
    meta: &ObjectMeta,
    instance: &Instance,
    binding: BindingId,
) -> Result<Reset, Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    if !asked(meta) {
        return Ok(Reset::NotAsked);
    }
    let running = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(RESET_OPERATION))
        .and_then(|id| id.parse::<OperationId>().ok());
    if let Some(operation) = running {
        let op = ctx
            .broker
            .last_operation(LastOperationQuery {
                door: FrontDoor::Operator,
                instance_id: instance.id.clone(),
                binding_id: Some(binding.clone()),
                operation: Some(operation),
                service_id: None,
                plan_id: None,
            })
            .await?;
        return Ok(match op.state {
            OperationState::InProgress => Reset::Pending(op.retry_after.unwrap_or(OPERATION_POLL)),
            OperationState::Succeeded => {
                match ctx
                    .broker
                    .binding(&instance.id, &binding)
                    .await?
                    .credentials
                {
                    Some(c) => Reset::Done(c),
                    None => Reset::Pending(OPERATION_POLL),
                }
            }
            OperationState::Failed => Reset::Failed {
                reason: op.reason.unwrap_or(Reason::BackendFailed),
                message: op.description.unwrap_or_default(),
            },
        });
    }
    let cmd = ResetPasswordCommand {
        door: FrontDoor::Operator,
        instance_id: instance.id.clone(),
        binding_id: binding,
        accepts_incomplete: true,
    };
    match ctx.broker.reset_password(cmd).await {
        Ok(Outcome::Done { value, .. }) => Ok(match value.credentials {
            Some(c) => Reset::Done(c),
            None => Reset::Pending(OPERATION_POLL),
        }),
        Ok(Outcome::Accepted { operation }) => {
            let name = meta
                .name
                .as_deref()
                .ok_or(Error::MissingField("metadata.name"))?;
            let patch =
                json!({"metadata": {"annotations": {RESET_OPERATION: operation.to_string()}}});
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            Ok(Reset::Pending(OPERATION_POLL))
        }
        Err(pgbroker_domain::BrokerError::OperationFailed(e)) => Ok(Reset::Failed {
            reason: e.reason,
            message: e.message,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Removes the action label and the reset's annotation.
pub async fn clear<K>(api: &Api<K>, meta: &ObjectMeta) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let name = meta
        .name
        .as_deref()
        .ok_or(Error::MissingField("metadata.name"))?;
    let patch = json!({"metadata": {
        "labels": {ACTION_LABEL: null},
        "annotations": {RESET_OPERATION: null},
    }});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// What a reconcile that has `credentials` does about a reset: the credentials for the Secret
/// and, when a reset ended, a note for the status (then [`clear`] goes after the Secret is
/// written); `Err(after)`: a reset runs, look again then.
pub async fn credentials_for_secret<K>(
    ctx: &Context,
    api: &Api<K>,
    meta: &ObjectMeta,
    instance: &Instance,
    binding: BindingId,
    credentials: Credentials,
) -> Result<Result<(Credentials, Option<String>), Duration>, Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    Ok(match reset(ctx, api, meta, instance, binding).await? {
        Reset::NotAsked => Ok((credentials, None)),
        Reset::Pending(after) => Err(after),
        Reset::Done(fresh) => Ok((fresh, Some("password reset".to_string()))),
        Reset::Failed { reason, message } => Ok((
            credentials,
            Some(format!(
                "password reset failed ({reason}): {message}; the old password still works"
            )),
        )),
    })
}

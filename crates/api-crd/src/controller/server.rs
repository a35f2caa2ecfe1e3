//! `PostgreSQLServer` → an instance: provision, update on spec change, deprovision on delete
//! (after its databases are gone), and a login of its own (a binding with the instance owner's
//! rights) in the credentials Secret.

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use pgbroker_domain::usecases::{
    DeprovisionCommand, LastOperation, LastOperationQuery, ProvisionCommand, UpdateCommand,
};
use pgbroker_domain::{
    BindingId, DeletionPolicy, FrontDoor, Instance, InstanceId, InstanceState, JsonObject,
    OperationKind, OperationState, Outcome, Reason,
};
use serde_json::json;

use crate::crd::{Phase, PostgreSQLServer};

use super::binding::{Login, login, may_retry};
use super::broker_errors::{is_absent, is_transient, reason_of};
use super::deliver::{Delivered, deliver};
use super::status::{Report, publish};
use super::{Context, Error, OPERATION_POLL};

/// Reason while a failed provision's remains are removed before the changed spec is provisioned.
const RETRYING: &str = "RetryingProvision";

impl super::Finalized for PostgreSQLServer {
    async fn apply(&self, api: &Api<Self>, ctx: &Context) -> Result<Action, Error> {
        apply(self, api, ctx).await
    }

    async fn cleanup(&self, api: &Api<Self>, ctx: &Context) -> Result<Action, Error> {
        super::server_cleanup::cleanup(self, api, ctx).await
    }
}

pub(super) fn instance_id(obj: &PostgreSQLServer) -> Result<InstanceId, Error> {
    obj.uid()
        .and_then(|uid| InstanceId::parse(uid).ok())
        .ok_or(Error::MissingField("metadata.uid"))
}

/// The server's own login shares the object's uid as its binding id.
pub(super) fn own_binding(obj: &PostgreSQLServer) -> Result<BindingId, Error> {
    obj.uid()
        .and_then(|uid| BindingId::parse(uid).ok())
        .ok_or(Error::MissingField("metadata.uid"))
}

fn context(obj: &PostgreSQLServer) -> JsonObject {
    let mut c = JsonObject::new();
    c.insert("platform".into(), json!("kubernetes"));
    c.insert("namespace".into(), json!(obj.namespace()));
    c.insert("instance_name".into(), json!(obj.name_any()));
    c.insert("kind".into(), json!("PostgreSQLServer"));
    c
}

fn phase_of(kind: OperationKind) -> Phase {
    match kind {
        OperationKind::Provision => Phase::Provisioning,
        OperationKind::Update => Phase::Updating,
        OperationKind::Deprovision => Phase::Deleting,
        OperationKind::Bind | OperationKind::Unbind => Phase::Provisioning,
    }
}

async fn apply(
    obj: &PostgreSQLServer,
    api: &Api<PostgreSQLServer>,
    ctx: &Context,
) -> Result<Action, Error> {
    let current = obj.status.as_ref();
    let report = |r: Report| async move { publish(ctx, api, obj, current, &r).await };
    let request = match super::spec::server_request(&obj.spec) {
        Ok(r) => r,
        Err(e) => {
            report(Report::failed(
                Phase::Failed,
                Reason::InvalidSpec,
                e.to_string(),
            ))
            .await?;
            return Ok(Action::await_change());
        }
    };
    let choice = match ctx.broker.choose_server(&request, &ctx.policy) {
        Ok(c) => c,
        Err(rejected) => {
            report(Report::failed(
                Phase::Failed,
                rejected.reason,
                rejected.message,
            ))
            .await?;
            return Ok(Action::await_change());
        }
    };
    let on = |r: Report| r.on(Some(choice.backend.clone()), Some(choice.plan_name.clone()));
    let id = instance_id(obj)?;
    let instance = match ctx.broker.instance(&id).await {
        Ok(i) => Some(i),
        Err(e) if is_absent(&e) => None,
        Err(e) => return Err(e.into()),
    };
    let broker_failure = |e: pgbroker_domain::BrokerError| async move {
        if is_transient(&e) {
            return Err(Error::from(e));
        }
        let r = on(Report::failed(Phase::Failed, reason_of(&e), e.to_string()));
        publish(ctx, api, obj, current, &r).await?;
        Ok(Action::await_change())
    };
    // The instance's last operation (unpolled by id, a failed provision's clean-up reads as failed).
    let last = ctx
        .broker
        .last_operation(LastOperationQuery {
            door: FrontDoor::Operator,
            instance_id: id.clone(),
            binding_id: None,
            operation: None,
            service_id: None,
            plan_id: None,
        })
        .await;
    let changed = current.and_then(|s| s.observed_generation) != obj.metadata.generation;
    let retrying = !changed && current.is_some_and(|s| s.reason() == Some(RETRYING));
    let failure = |op: &LastOperation| {
        on(Report::failed(
            Phase::Failed,
            op.reason.unwrap_or(Reason::BackendFailed),
            op.description
                .clone()
                .unwrap_or_else(|| "provisioning failed".into()),
        ))
    };
    let instance: Instance = match instance {
        None => {
            // A provision that failed left nothing behind (its clean-up removed it): it is
            // tried again only for a changed spec, never in a loop.
            if let Ok(op) = &last
                && op.state == OperationState::Failed
                && matches!(
                    op.kind,
                    OperationKind::Provision | OperationKind::Deprovision
                )
                && !changed
                && !retrying
            {
                report(failure(op)).await?;
                return Ok(Action::await_change());
            }
            let cmd = ProvisionCommand {
                door: FrontDoor::Operator,
                instance_id: id.clone(),
                spec: choice.instance_spec(context(obj)),
                accepts_incomplete: true,
                originating_identity: super::requested_by(&obj.metadata),
            };
            match ctx.broker.provision(cmd).await {
                Ok(Outcome::Done { value, .. }) => value,
                Ok(Outcome::Accepted { .. }) => {
                    report(on(Report::new(
                        Phase::Provisioning,
                        "Provisioning",
                        "provisioning",
                    )))
                    .await?;
                    return Ok(Action::requeue(OPERATION_POLL));
                }
                Err(e) => return broker_failure(e).await,
            }
        }
        Some(instance) => instance,
    };
    // An operation under way: report it and look again at its retry interval.
    if let Ok(op) = &last
        && op.state == OperationState::InProgress
    {
        let description = op
            .description
            .clone()
            .unwrap_or_else(|| op.kind.as_str().into());
        let mut r = on(Report::new(
            phase_of(op.kind),
            "OperationInProgress",
            description.clone(),
        ));
        r.operation = Some(description);
        report(r).await?;
        return Ok(Action::requeue(op.retry_after.unwrap_or(OPERATION_POLL)));
    }
    match instance.state {
        InstanceState::Ready => {}
        InstanceState::Failed => {
            if changed || retrying {
                // A changed spec is provisioned anew once what the failed provision made is
                // gone: its clean-up (joined if it still runs) or a deprovision now.
                let cmd = DeprovisionCommand {
                    door: FrontDoor::Operator,
                    instance_id: id.clone(),
                    service_id: instance.spec.service_id.clone(),
                    plan_id: instance.spec.plan_id.clone(),
                    deletion_policy: DeletionPolicy::Delete,
                    accepts_incomplete: true,
                    originating_identity: None,
                };
                match ctx.broker.deprovision(cmd).await {
                    Ok(_) => {}
                    Err(e) if is_absent(&e) => {}
                    Err(e) => return broker_failure(e).await,
                }
                report(on(Report::new(
                    Phase::Provisioning,
                    RETRYING,
                    "removing what the failed provision made, then provisioning the changed spec",
                )))
                .await?;
                return Ok(Action::requeue(OPERATION_POLL));
            }
            let r = match &last {
                Ok(op) => failure(op),
                Err(_) => on(Report::failed(
                    Phase::Failed,
                    Reason::BackendFailed,
                    "provisioning failed",
                )),
            };
            report(r).await?;
            // The clean-up's end wakes this object; a spec change retries.
            return Ok(Action::await_change());
        }
        InstanceState::Provisioning | InstanceState::Deprovisioning => {
            return Ok(Action::requeue(OPERATION_POLL));
        }
    }
    if instance.spec.plan_id != choice.plan_id || instance.spec.parameters != choice.parameters {
        let cmd = UpdateCommand {
            door: FrontDoor::Operator,
            instance_id: id.clone(),
            service_id: instance.spec.service_id.clone(),
            plan_id: (instance.spec.plan_id != choice.plan_id).then(|| choice.plan_id.clone()),
            parameters: Some(choice.parameter_changes(&instance.spec.parameters)),
            context: None,
            maintenance_version: None,
            accepts_incomplete: true,
            originating_identity: super::requested_by(&obj.metadata),
        };
        match ctx.broker.update(cmd).await {
            Ok(Outcome::Done { .. }) => {}
            Ok(Outcome::Accepted { .. }) => {
                report(on(Report::new(Phase::Updating, "Updating", "updating"))).await?;
                return Ok(Action::requeue(OPERATION_POLL));
            }
            Err(e) => return broker_failure(e).await,
        }
    }
    let retry = may_retry(obj.status.as_ref(), obj.metadata.generation);
    let credentials = match login(
        ctx,
        &instance,
        own_binding(obj)?,
        JsonObject::new(),
        retry,
        &obj.metadata,
    )
    .await
    {
        Ok(Login::Ready(c)) => c,
        Ok(Login::Failed { reason, message }) => {
            report(on(Report::failed(Phase::Failed, reason, message))).await?;
            return Ok(Action::await_change());
        }
        Ok(Login::Pending(after)) => {
            report(on(Report::new(
                Phase::Provisioning,
                "Binding",
                "making the server's login",
            )))
            .await?;
            return Ok(Action::requeue(after));
        }
        Err(Error::Broker(e)) => return broker_failure(e).await,
        Err(e) => return Err(e),
    };
    let name = &obj.spec.credentials_secret;
    let ids = (&instance, own_binding(obj)?);
    let (endpoint, reset_note) = match deliver(ctx, api, obj, ids, credentials, name).await? {
        Delivered::Written { endpoint, note } => (endpoint, note),
        Delivered::Foreign(r) => {
            report(on(r)).await?;
            return Ok(Action::requeue(ctx.resync));
        }
        Delivered::Resetting(r, after) => {
            report(on(r)).await?;
            return Ok(Action::requeue(after));
        }
    };
    let mut message = format!("ready; credentials in Secret {name}");
    if let Some(note) = reset_note {
        message.push_str("; ");
        message.push_str(&note);
    }
    for note in &choice.notes {
        message.push_str("; ");
        message.push_str(note);
    }
    let mut r = on(Report::new(Phase::Ready, "Ready", message));
    r.endpoint = endpoint;
    report(r).await?;
    Ok(Action::requeue(ctx.resync))
}

//! `PostgreSQLServer` → an instance: provision, update on spec change, deprovision on delete
//! (after its databases are gone), and a login of its own (a binding with the instance owner's
//! rights) in the credentials Secret.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use pgbroker_domain::usecases::{
    DeprovisionCommand, LastOperationQuery, ProvisionCommand, UnbindCommand, UpdateCommand,
};
use pgbroker_domain::{
    BindingId, FrontDoor, Instance, InstanceId, InstanceState, JsonObject, OperationKind,
    OperationState, Outcome, Reason,
};
use serde_json::json;

use crate::crd::{Phase, PostgreSQLDatabase, PostgreSQLServer};

use super::binding::{Login, login, may_retry};
use super::broker_errors::{is_absent, is_transient, reason_of};
use super::reset::{clear, credentials_for_secret};
use super::secret::{Written, secret_data, write};
use super::status::{Report, publish};
use super::{Context, Error, FINALIZER, OPERATION_POLL};

pub async fn reconcile(obj: Arc<PostgreSQLServer>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = obj
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: Api<PostgreSQLServer> = Api::namespaced(ctx.client.clone(), &ns);
    let uid = obj.uid().unwrap_or_default();
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Event::Apply(obj) => apply(&obj, &api, &ctx).await,
            Event::Cleanup(obj) => cleanup(&obj, &api, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    if result.is_ok() {
        ctx.succeeded(&uid);
    }
    result
}

pub(super) fn instance_id(obj: &PostgreSQLServer) -> Result<InstanceId, Error> {
    obj.uid()
        .and_then(|uid| InstanceId::parse(uid).ok())
        .ok_or(Error::MissingField("metadata.uid"))
}

/// The server's own login shares the object's uid as its binding id.
fn own_binding(obj: &PostgreSQLServer) -> Result<BindingId, Error> {
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
    let instance: Instance = match instance {
        None => {
            let cmd = ProvisionCommand {
                door: FrontDoor::Operator,
                instance_id: id.clone(),
                spec: choice.instance_spec(context(obj)),
                accepts_incomplete: true,
                originating_identity: None,
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
            let why = last
                .ok()
                .and_then(|op| op.description)
                .unwrap_or_else(|| "provisioning failed".into());
            let retried = current.and_then(|s| s.observed_generation) != obj.metadata.generation;
            if !retried {
                report(on(Report::failed(
                    Phase::Failed,
                    Reason::BackendFailed,
                    why,
                )))
                .await?;
                return Ok(Action::requeue(ctx.resync));
            }
            // A changed spec tries the provision again.
            let cmd = ProvisionCommand {
                door: FrontDoor::Operator,
                instance_id: id.clone(),
                spec: choice.instance_spec(context(obj)),
                accepts_incomplete: true,
                originating_identity: None,
            };
            return match ctx.broker.provision(cmd).await {
                Ok(_) => Ok(Action::requeue(OPERATION_POLL)),
                Err(e) => broker_failure(e).await,
            };
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
            originating_identity: None,
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
    let credentials = match login(ctx, &instance, own_binding(obj)?, JsonObject::new(), retry).await
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
    let (credentials, reset_note) = match credentials_for_secret(
        ctx,
        api,
        &obj.metadata,
        &instance,
        own_binding(obj)?,
        credentials,
    )
    .await?
    {
        Ok(found) => found,
        Err(after) => {
            let r = Report::new(
                Phase::Updating,
                "ResettingPassword",
                "setting a new password",
            );
            report(on(r)).await?;
            return Ok(Action::requeue(after));
        }
    };
    let data = secret_data(&credentials);
    let endpoint = match (data.get("host"), data.get("port")) {
        (Some(h), Some(p)) => Some(format!("{h}:{p}")),
        _ => None,
    };
    let secrets: Api<Secret> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let name = &obj.spec.credentials_secret;
    if write(&secrets, obj, name, data).await? == Written::Foreign {
        let r = on(Report::failed(
            Phase::Failed,
            Reason::ForeignObject,
            format!(
                "Secret {name} exists and does not belong to this PostgreSQLServer; pgbroker does not overwrite it"
            ),
        ));
        report(r).await?;
        return Ok(Action::requeue(ctx.resync));
    }
    let mut message = format!("ready; credentials in Secret {name}");
    if let Some(note) = reset_note {
        clear(api, &obj.metadata).await?;
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

async fn cleanup(
    obj: &PostgreSQLServer,
    api: &Api<PostgreSQLServer>,
    ctx: &Context,
) -> Result<Action, Error> {
    let current = obj.status.as_ref();
    let keep = |r: Report| {
        r.on(
            current.and_then(|s| s.backend.clone()),
            current.and_then(|s| s.plan.clone()),
        )
    };
    let ns = obj.namespace().unwrap_or_default();
    let databases: Api<PostgreSQLDatabase> = Api::namespaced(ctx.client.clone(), &ns);
    let mut referencing: Vec<String> = databases
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|d| d.spec.server_ref.name == obj.name_any())
        .map(|d| d.name_any())
        .collect();
    referencing.sort();
    if !referencing.is_empty() {
        let what = format!(
            "deprovisioning waits until the PostgreSQLDatabase objects on this server are deleted: {}",
            referencing.join(", ")
        );
        publish(
            ctx,
            api,
            obj,
            current,
            &keep(Report::failed(
                Phase::Deleting,
                Reason::InvalidState,
                what.clone(),
            )),
        )
        .await?;
        // The databases' deletion wakes this object up (the controller watches them).
        return Err(Error::InProgress {
            what,
            retry_after: ctx.resync,
        });
    }
    let id = instance_id(obj)?;
    let instance = match ctx.broker.instance(&id).await {
        Ok(i) => i,
        Err(e) if is_absent(&e) => return Ok(Action::await_change()),
        Err(e) => return Err(e.into()),
    };
    let in_progress = |what: String, after: std::time::Duration| async move {
        let mut r = keep(Report::new(Phase::Deleting, "Deleting", what.clone()));
        r.operation = Some(what.clone());
        publish(ctx, api, obj, current, &r).await?;
        Err::<Action, Error>(Error::InProgress {
            what,
            retry_after: after,
        })
    };
    let binding = own_binding(obj)?;
    match ctx.broker.binding(&id, &binding).await {
        Ok(_) => {
            let cmd = UnbindCommand {
                door: FrontDoor::Operator,
                deletion_policy: pgbroker_domain::operation::DeletionPolicy::Delete,
                instance_id: id.clone(),
                binding_id: binding,
                service_id: instance.spec.service_id.clone(),
                plan_id: instance.spec.plan_id.clone(),
                accepts_incomplete: true,
                originating_identity: None,
            };
            match ctx.broker.unbind(cmd).await {
                Ok(Outcome::Done { .. }) => {}
                Ok(Outcome::Accepted { .. }) => {
                    return in_progress("removing the server's login".into(), OPERATION_POLL).await;
                }
                Err(e) if is_absent(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) if is_absent(&e) => {}
        Err(e) => return Err(e.into()),
    }
    let cmd = DeprovisionCommand {
        door: FrontDoor::Operator,
        deletion_policy: super::deletion_policy(&obj.metadata),
        instance_id: id.clone(),
        service_id: instance.spec.service_id.clone(),
        plan_id: instance.spec.plan_id.clone(),
        accepts_incomplete: true,
        originating_identity: None,
    };
    match ctx.broker.deprovision(cmd).await {
        Ok(Outcome::Done { .. }) => Ok(Action::await_change()),
        Ok(Outcome::Accepted { .. }) => in_progress("deprovisioning".into(), OPERATION_POLL).await,
        Err(e) if is_absent(&e) => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}

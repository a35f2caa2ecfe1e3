//! Deleting a `PostgreSQLServer`: it waits for the databases on it, then the server's own
//! login is unbound and the instance deprovisioned (or kept, with the retain annotation); the
//! finalizer holds the object until the backend is done.

use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use pgbroker_domain::usecases::{DeprovisionCommand, UnbindCommand};
use pgbroker_domain::{FrontDoor, Outcome, Reason};

use crate::crd::{Phase, PostgreSQLDatabase, PostgreSQLServer};

use super::broker_errors::is_absent;
use super::server::{instance_id, own_binding};
use super::status::{Report, publish};
use super::{Context, Error, OPERATION_POLL};

pub(super) async fn cleanup(
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

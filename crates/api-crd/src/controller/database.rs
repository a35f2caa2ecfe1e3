//! `PostgreSQLDatabase` → a binding with a database of its own on its server's instance (the
//! bind parameter `database`), its credentials in the named Secret; delete → unbind.

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use pgbroker_domain::usecases::UnbindCommand;
use pgbroker_domain::{BindingId, FrontDoor, JsonObject, Outcome, Reason, own_database};

use crate::crd::{Phase, PostgreSQLDatabase, PostgreSQLServer};

use super::binding::{Login, login, may_retry};
use super::broker_errors::{is_absent, is_transient, reason_of};
use super::deliver::{Delivered, deliver};
use super::server::instance_id;
use super::status::{Report, publish};
use super::{Context, Error, OPERATION_POLL};

impl super::Finalized for PostgreSQLDatabase {
    async fn apply(&self, api: &Api<Self>, ctx: &Context) -> Result<Action, Error> {
        apply(self, api, ctx).await
    }

    async fn cleanup(&self, api: &Api<Self>, ctx: &Context) -> Result<Action, Error> {
        cleanup(self, api, ctx).await
    }
}

fn binding_id(obj: &PostgreSQLDatabase) -> Result<BindingId, Error> {
    obj.uid()
        .and_then(|uid| BindingId::parse(uid).ok())
        .ok_or(Error::MissingField("metadata.uid"))
}

async fn server_of(
    obj: &PostgreSQLDatabase,
    ctx: &Context,
) -> Result<Option<PostgreSQLServer>, Error> {
    let servers: Api<PostgreSQLServer> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    Ok(servers.get_opt(&obj.spec.server_ref.name).await?)
}

async fn apply(
    obj: &PostgreSQLDatabase,
    api: &Api<PostgreSQLDatabase>,
    ctx: &Context,
) -> Result<Action, Error> {
    let current = obj.status.as_ref();
    let report = |r: Report| async move { publish(ctx, api, obj, current, &r).await };
    let server_name = &obj.spec.server_ref.name;
    let own = match super::spec::own_database(&obj.name_any(), obj.spec.database.as_ref()) {
        Ok(db) => db,
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
    let name = own.name.clone();
    let server = match server_of(obj, ctx).await? {
        Some(s) => s,
        None => {
            report(Report::new(
                Phase::Pending,
                Reason::NotFound.as_str(),
                format!("waiting for PostgreSQLServer {server_name}, which does not exist"),
            ))
            .await?;
            // The server's creation wakes this object up (the controller watches servers).
            return Ok(Action::await_change());
        }
    };
    let server_status = server.status.clone().unwrap_or_default();
    let on = |r: Report| r.on(server_status.backend.clone(), server_status.plan.clone());
    if server_status.phase != Some(Phase::Ready) || server.metadata.deletion_timestamp.is_some() {
        report(on(Report::new(
            Phase::Pending,
            "ServerNotReady",
            format!("waiting for PostgreSQLServer {server_name} to be Ready"),
        )))
        .await?;
        return Ok(Action::await_change());
    }
    let instance = match ctx.broker.instance(&instance_id(&server)?).await {
        Ok(i) => i,
        Err(e) if is_absent(&e) => {
            report(on(Report::new(
                Phase::Pending,
                "ServerNotReady",
                format!("waiting for PostgreSQLServer {server_name}'s instance"),
            )))
            .await?;
            return Ok(Action::requeue(OPERATION_POLL));
        }
        Err(e) => return Err(e.into()),
    };
    let mut parameters = JsonObject::new();
    parameters.insert(own_database::PARAMETER.into(), own.parameter());
    let retry = may_retry(current, obj.metadata.generation);
    let credentials = match login(
        ctx,
        &instance,
        binding_id(obj)?,
        parameters,
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
                format!("making database {name}"),
            )))
            .await?;
            return Ok(Action::requeue(after));
        }
        Err(Error::Broker(e)) if !is_transient(&e) => {
            report(on(Report::failed(
                Phase::Failed,
                reason_of(&e),
                e.to_string(),
            )))
            .await?;
            return Ok(Action::await_change());
        }
        Err(e) => return Err(e),
    };
    let secret_name = &obj.spec.credentials_secret;
    let ids = (&instance, binding_id(obj)?);
    let (endpoint, reset_note) = match deliver(ctx, api, obj, ids, credentials, secret_name).await?
    {
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
    let mut message = format!(
        "database {name} on PostgreSQLServer {server_name}; credentials in Secret {secret_name}"
    );
    if let Some(note) = reset_note {
        message.push_str("; ");
        message.push_str(&note);
    }
    let mut r = on(Report::new(Phase::Ready, "Ready", message));
    r.endpoint = endpoint;
    report(r).await?;
    Ok(Action::requeue(ctx.resync))
}

async fn cleanup(
    obj: &PostgreSQLDatabase,
    api: &Api<PostgreSQLDatabase>,
    ctx: &Context,
) -> Result<Action, Error> {
    let Some(server) = server_of(obj, ctx).await? else {
        // Without its server there is no instance left to hold the database.
        return Ok(Action::await_change());
    };
    let instance = match ctx.broker.instance(&instance_id(&server)?).await {
        Ok(i) => i,
        Err(e) if is_absent(&e) => return Ok(Action::await_change()),
        Err(e) => return Err(e.into()),
    };
    let cmd = UnbindCommand {
        door: FrontDoor::Operator,
        deletion_policy: super::deletion_policy(&obj.metadata),
        instance_id: instance.id.clone(),
        binding_id: binding_id(obj)?,
        service_id: instance.spec.service_id.clone(),
        plan_id: instance.spec.plan_id.clone(),
        accepts_incomplete: true,
        originating_identity: None,
    };
    match ctx.broker.unbind(cmd).await {
        Ok(Outcome::Done { .. }) => Ok(Action::await_change()),
        Err(e) if is_absent(&e) => Ok(Action::await_change()),
        Ok(Outcome::Accepted { .. }) => {
            let what = "removing the database and its login".to_string();
            let current = obj.status.as_ref();
            let mut r = Report::new(Phase::Deleting, "Deleting", what.clone());
            r.operation = Some(what.clone());
            publish(ctx, api, obj, current, &r).await?;
            Err(Error::InProgress {
                what,
                retry_after: OPERATION_POLL,
            })
        }
        Err(e) => Err(e.into()),
    }
}

//! The broker's use cases called in-process, on the no-op backend: the state store and the
//! operation bookkeeping of a synchronous request without HTTP. With the no-op broker over HTTP
//! next to it, the difference is HTTP alone.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use pgbroker_domain::usecases::{
    BindCommand, Broker, DeprovisionCommand, ProvisionCommand, UnbindCommand,
};
use pgbroker_domain::{BindingId, InstanceId};

use super::direct::{binding_spec, spec};

async fn up(broker: &Broker, id: &str) -> anyhow::Result<()> {
    let instance_id = InstanceId::parse(id)?;
    broker
        .provision(ProvisionCommand {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance_id.clone(),
            spec: spec()?,
            accepts_incomplete: false,
            originating_identity: None,
        })
        .await?;
    broker
        .bind(BindCommand {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id,
            binding_id: BindingId::parse("app")?,
            spec: binding_spec()?,
            accepts_incomplete: false,
            originating_identity: None,
        })
        .await?;
    Ok(())
}

async fn down(broker: &Broker, id: &str) -> anyhow::Result<()> {
    let (instance_id, s) = (InstanceId::parse(id)?, spec()?);
    broker
        .unbind(UnbindCommand {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance_id.clone(),
            binding_id: BindingId::parse("app")?,
            service_id: s.service_id.clone(),
            plan_id: s.plan_id.clone(),
            deletion_policy: pgbroker_domain::DeletionPolicy::Delete,
            accepts_incomplete: false,
            originating_identity: None,
        })
        .await?;
    broker
        .deprovision(DeprovisionCommand {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id,
            service_id: s.service_id,
            plan_id: s.plan_id,
            deletion_policy: pgbroker_domain::DeletionPolicy::Delete,
            accepts_incomplete: false,
            originating_identity: None,
        })
        .await?;
    Ok(())
}

/// Provision+bind (`is_up`) or unbind+deprovision of every id, `concurrency` at a time.
pub async fn all(
    broker: &Broker,
    ids: &[String],
    is_up: bool,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    futures::stream::iter(ids)
        .map(|id| async move {
            if is_up {
                up(broker, id).await
            } else {
                down(broker, id).await
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(start.elapsed())
}

//! The backend's own steps, called as the engine calls them but without HTTP, state store or
//! engine: what the backend costs beyond the limit's statements (its catalog reads, the
//! password verifier, its pools).

use std::time::{Duration, Instant};

use anyhow::bail;
use futures::{StreamExt, TryStreamExt};
use pgbroker_domain::ports::{
    Backend, BindRequest, InstanceRequest, SecretGenerator, Step, UnbindRequest,
};
use pgbroker_domain::{
    BindingId, BindingSpec, InstanceId, InstanceSpec, OperationId, Plan, PlanId, ServiceId,
};

use super::http::{PLAN, SERVICE};

/// The catalog's plan the HTTP sections use, so that every section sends the same statements.
pub fn catalog_plan() -> anyhow::Result<Plan> {
    let backends = ["cnpg".to_string(), "shared".to_string()].into();
    let loaded = pgbroker_app::catalog_file::load(None, &backends)?;
    let (_, plan) = loaded
        .catalog
        .plan(&ServiceId::parse(SERVICE)?, &PlanId::parse(PLAN)?)?;
    Ok(plan.clone())
}

pub fn spec() -> anyhow::Result<InstanceSpec> {
    Ok(InstanceSpec {
        service_id: ServiceId::parse(SERVICE)?,
        plan_id: PlanId::parse(PLAN)?,
        parameters: Default::default(),
        context: Default::default(),
        organization_guid: Some("bench-org".into()),
        space_guid: Some("bench-space".into()),
        maintenance_version: None,
    })
}

fn instance_request(plan: &Plan, id: &str) -> anyhow::Result<InstanceRequest> {
    Ok(InstanceRequest {
        operation_id: OperationId::new(),
        instance_id: InstanceId::parse(id)?,
        spec: spec()?,
        plan: plan.clone(),
        previous: None,
        deletion_policy: pgbroker_domain::DeletionPolicy::Delete,
    })
}

pub fn binding_spec() -> anyhow::Result<BindingSpec> {
    Ok(BindingSpec {
        service_id: ServiceId::parse(SERVICE)?,
        plan_id: PlanId::parse(PLAN)?,
        parameters: Default::default(),
        context: Default::default(),
        bind_resource: Default::default(),
    })
}

fn done<T>(what: &str, id: &str, step: Step<T>) -> anyhow::Result<()> {
    match step {
        Step::Done(_) => Ok(()),
        Step::Failed(failure) => bail!("{what} of {id} failed: {failure:?}"),
        Step::InProgress { .. } => bail!("{what} of {id} did not finish in one step"),
    }
}

async fn up(backend: &dyn Backend, plan: &Plan, id: &str) -> anyhow::Result<()> {
    let req = instance_request(plan, id)?;
    done("provision", id, backend.provision(&req).await)?;
    let bind = BindRequest {
        operation_id: OperationId::new(),
        instance_id: req.instance_id.clone(),
        binding_id: BindingId::parse("app")?,
        instance: req.spec.clone(),
        binding: binding_spec()?,
        plan: plan.clone(),
        password: pgbroker_adapters_cloud::OsRngSecrets.password(),
        reset: false,
    };
    done("bind", id, backend.bind(&bind).await)
}

async fn down(backend: &dyn Backend, plan: &Plan, id: &str) -> anyhow::Result<()> {
    let req = instance_request(plan, id)?;
    let unbind = UnbindRequest {
        operation_id: OperationId::new(),
        instance_id: req.instance_id.clone(),
        binding_id: BindingId::parse("app")?,
        instance: req.spec.clone(),
        plan: plan.clone(),
        deletion_policy: pgbroker_domain::DeletionPolicy::Delete,
    };
    done("unbind", id, backend.unbind(&unbind).await)?;
    done("deprovision", id, backend.deprovision(&req).await)
}

/// Provision+bind (`up`) or unbind+deprovision of every id, `concurrency` at a time.
pub async fn all(
    backend: &dyn Backend,
    plan: &Plan,
    ids: &[String],
    is_up: bool,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    futures::stream::iter(ids)
        .map(|id| async move {
            if is_up {
                up(backend, plan, id).await
            } else {
                down(backend, plan, id).await
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(start.elapsed())
}

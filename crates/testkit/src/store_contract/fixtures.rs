//! Models and steps the contract checks are built from.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use chrono::{DateTime, TimeZone, Utc};
use pgbroker_domain::ports::{StateStore, StoreError, Write};
use pgbroker_domain::{
    Binding, BindingId, BindingSpec, BindingState, Credentials, DeletionPolicy, FrontDoor,
    Instance, InstanceId, InstanceSpec, InstanceState, JsonObject, Operation, OperationId,
    OperationKind, OperationState, Origin, PlanId, Sensitive, ServiceId,
};
use serde_json::json;

pub type Store = Arc<dyn StateStore>;

pub const LEASE: Duration = Duration::from_secs(30);
pub const PASSWORD: &str = "pw-Zq8-never-shown";
pub const OWNER: &str = "worker-a";

/// A fixed instant with milliseconds, so a store that loses them fails the round trips.
pub fn t0() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_893_553_445_678)
        .single()
        .unwrap_or_default()
}

/// `t0` plus `secs` seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

pub fn instance_id(tag: &str) -> anyhow::Result<InstanceId> {
    Ok(InstanceId::parse(format!(
        "{tag}-{}",
        uuid::Uuid::new_v4().simple()
    ))?)
}

pub fn binding_id(tag: &str) -> anyhow::Result<BindingId> {
    Ok(BindingId::parse(format!(
        "{tag}-{}",
        uuid::Uuid::new_v4().simple()
    ))?)
}

fn object(value: serde_json::Value) -> JsonObject {
    match value {
        serde_json::Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

pub fn spec(plan: &str) -> anyhow::Result<InstanceSpec> {
    Ok(InstanceSpec {
        service_id: ServiceId::parse("postgresql")?,
        plan_id: PlanId::parse(plan)?,
        parameters: object(json!({
            "size": "small",
            "extensions": ["pgcrypto", "postgis"],
            "nested": {"ratio": 2.5, "big": 9_007_199_254_740_993_u64, "none": null, "on": true},
            "unicode": "żółw ☃",
        })),
        context: object(json!({"platform": "kubernetes", "namespace": "team-a"})),
        organization_guid: Some("org-1".into()),
        space_guid: Some("space-1".into()),
        maintenance_version: Some("1.2.3".into()),
    })
}

/// Every optional field set.
pub fn instance(id: &InstanceId, state: InstanceState) -> anyhow::Result<Instance> {
    Ok(Instance {
        id: id.clone(),
        spec: spec("small")?,
        state,
        owner: FrontDoor::Operator,
        dashboard_url: Some(format!("https://dash.example/{id}")),
        created_at: t0(),
        updated_at: at(1),
    })
}

/// Every optional field empty.
pub fn bare_instance(id: &InstanceId) -> anyhow::Result<Instance> {
    Ok(Instance {
        id: id.clone(),
        spec: InstanceSpec {
            service_id: ServiceId::parse("postgresql")?,
            plan_id: PlanId::parse("tiny")?,
            parameters: JsonObject::new(),
            context: JsonObject::new(),
            organization_guid: None,
            space_guid: None,
            maintenance_version: None,
        },
        state: InstanceState::Provisioning,
        owner: FrontDoor::Osb,
        dashboard_url: None,
        created_at: at(2),
        updated_at: at(2),
    })
}

pub fn binding(instance: &InstanceId, id: &BindingId) -> anyhow::Result<Binding> {
    Ok(Binding {
        id: id.clone(),
        instance_id: instance.clone(),
        spec: BindingSpec {
            service_id: ServiceId::parse("postgresql")?,
            plan_id: PlanId::parse("small")?,
            parameters: object(json!({"role": "reader"})),
            context: object(json!({"platform": "cloudfoundry"})),
            bind_resource: object(json!({"app_guid": "app-1"})),
        },
        state: BindingState::Binding,
        password: Sensitive::new(PASSWORD.to_string()),
        credentials: None,
        created_at: at(3),
        updated_at: at(3),
    })
}

pub fn credentials() -> Credentials {
    Sensitive::new(BTreeMap::from([
        ("username".to_string(), json!("app_user")),
        ("password".to_string(), json!(PASSWORD)),
        ("port".to_string(), json!(5432)),
        (
            "uri".to_string(),
            json!(format!("postgresql://app_user:{PASSWORD}@db:5432/app")),
        ),
    ]))
}

/// A fresh in-flight operation for service `postgresql`, plan `small` (the ids of [`instance`]
/// and [`binding`]), due at `when`, deadline an hour later.
pub fn operation(
    kind: OperationKind,
    instance: &InstanceId,
    binding: Option<&BindingId>,
    when: DateTime<Utc>,
) -> Operation {
    Operation {
        id: OperationId::new(),
        kind,
        origin: Origin::Platform,
        door: FrontDoor::Operator,
        instance_id: instance.clone(),
        binding_id: binding.cloned(),
        service_id: ServiceId::parse("postgresql").ok(),
        plan_id: PlanId::parse("small").ok(),
        state: OperationState::InProgress,
        description: Some(format!("{} requested", kind.as_str())),
        reason: None,
        target: None,
        deletion_policy: DeletionPolicy::Retain,
        originating_identity: None,
        trace_parent: None,
        attempts: 0,
        failures: 0,
        next_attempt_at: when,
        deadline: when + chrono::Duration::hours(1),
        lease: None,
        created_at: when,
        updated_at: when,
    }
}

/// Claims at `now` and expects exactly `expected` (in that order) back.
pub async fn claim_exactly(
    store: &Store,
    owner: &str,
    now: DateTime<Utc>,
    expected: &[OperationId],
) -> anyhow::Result<Vec<Operation>> {
    let claimed = store.claim_due(owner, now, LEASE, 100).await?;
    let ids: Vec<_> = claimed.iter().map(|op| op.id).collect();
    ensure!(
        ids == expected,
        "claimed {ids:?} at {now}, expected {expected:?}"
    );
    Ok(claimed)
}

/// Claims `op` (it must be the only operation due at `now`) and settles it as `state` with
/// `writes`; returns it as stored.
pub async fn finish(
    store: &Store,
    op: &Operation,
    state: OperationState,
    now: DateTime<Utc>,
    writes: &[Write],
) -> anyhow::Result<Operation> {
    let claimed = claim_exactly(store, OWNER, now, &[op.id]).await?;
    let mut next = claimed.into_iter().next().context("claimed nothing")?;
    let token = next.lease.take().context("claimed without a lease")?.token;
    next.state = state;
    next.updated_at = now;
    ensure!(
        store.settle(&next, token, writes, None).await?,
        "settling {} with its current token failed",
        op.id
    );
    Ok(next)
}

/// An instance that is `Ready` with no operation in flight, provisioned at `t0`.
pub async fn ready_instance(store: &Store, tag: &str) -> anyhow::Result<Instance> {
    let id = instance_id(tag)?;
    let provisioning = instance(&id, InstanceState::Provisioning)?;
    let provision = operation(OperationKind::Provision, &id, None, t0());
    store
        .start(&provision, &[Write::InsertInstance(provisioning.clone())])
        .await?;
    let ready = Instance {
        state: InstanceState::Ready,
        ..provisioning
    };
    let writes = [Write::UpdateInstance(ready.clone())];
    finish(store, &provision, OperationState::Succeeded, t0(), &writes).await?;
    Ok(ready)
}

/// A binding of `instance` made by a finished bind operation; `instance` must be idle.
pub async fn bound(store: &Store, instance: &InstanceId, tag: &str) -> anyhow::Result<Binding> {
    let b = binding(instance, &binding_id(tag)?)?;
    let bind = operation(OperationKind::Bind, instance, Some(&b.id), t0());
    store
        .start(&bind, &[Write::InsertBinding(b.clone())])
        .await?;
    finish(store, &bind, OperationState::Succeeded, t0(), &[]).await?;
    Ok(b)
}

/// `result` is the error `expected` says.
pub fn expect_error<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    expected: impl Fn(&StoreError) -> bool,
    what: &str,
) -> anyhow::Result<StoreError> {
    match result {
        Err(e) if expected(&e) => Ok(e),
        other => anyhow::bail!("{what}: got {other:?}"),
    }
}

//! A broker wired to test parts: a catalog with asynchronous and synchronous plans, scriptable
//! backends, a manual clock and whatever state store the test brings.

use std::sync::Arc;
use std::time::Duration;

use pgbroker_domain::ports::{BackendRegistry, Clock, StateStore};
use pgbroker_domain::usecases::{DeprovisionCommand, UnbindCommand};
use pgbroker_domain::{
    BindingId, Broker, Catalog, CatalogDocument, Core, DeletionPolicy, Engine, EngineConfig,
    FrontDoor, InstanceId, InstanceSpec, JsonObject, OperationPolicy, PlanId, ServiceId,
};
use serde_json::json;

use crate::backend::TestBackend;
use crate::clock::{CountingSecrets, ManualClock};
use crate::parameters::AcceptAllParameters;

pub const ASYNC_SERVICE: &str = "svc-async";
/// Asynchronous backend, updateable, maintenance version 1.0.0.
pub const ASYNC_PLAN: &str = "plan-async";
/// Asynchronous backend, updateable, maintenance version 2.0.0.
pub const ASYNC_PLAN_BIG: &str = "plan-async-big";
/// Asynchronous backend, not updateable.
pub const ASYNC_PLAN_FIXED: &str = "plan-async-fixed";
pub const SYNC_SERVICE: &str = "svc-sync";
pub const SYNC_PLAN: &str = "plan-sync";
/// Synchronous backend, not bindable.
pub const SYNC_PLAN_UNBINDABLE: &str = "plan-sync-unbindable";

pub fn test_catalog() -> Catalog {
    let doc: CatalogDocument = serde_json::from_value(json!({"services": [
        {"id": ASYNC_SERVICE, "name": "async", "description": "asynchronous backend", "plan_updateable": true, "plans": [
            {"id": ASYNC_PLAN, "name": "small", "description": "s", "backend": "async",
             "maintenance_info": {"version": "1.0.0"}},
            {"id": ASYNC_PLAN_BIG, "name": "big", "description": "b", "backend": "async",
             "maintenance_info": {"version": "2.0.0"}},
            {"id": ASYNC_PLAN_FIXED, "name": "fixed", "description": "f", "backend": "async",
             "plan_updateable": false, "maximum_polling_duration": 600}
        ]},
        {"id": SYNC_SERVICE, "name": "sync", "description": "synchronous backend", "plans": [
            {"id": SYNC_PLAN, "name": "small", "description": "s", "backend": "sync"},
            {"id": SYNC_PLAN_UNBINDABLE, "name": "unbindable", "description": "u", "backend": "sync", "bindable": false}
        ]}
    ]}))
    .expect("test catalog document");
    Catalog::load(doc, &["async".to_string(), "sync".to_string()].into())
        .expect("test catalog is valid")
}

/// The policy tests use: a short lease so that takeovers are quick, a one-hour deadline.
pub fn test_policy() -> OperationPolicy {
    OperationPolicy {
        default_deadline: Duration::from_secs(3600),
        mitigation_deadline: Duration::from_secs(3600),
        lease: Duration::from_secs(30),
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(60),
        sync_timeout: Duration::from_secs(5),
    }
}

pub struct TestWorld {
    pub store: Arc<dyn StateStore>,
    pub clock: Arc<ManualClock>,
    pub async_backend: Arc<TestBackend>,
    pub sync_backend: Arc<TestBackend>,
    pub core: Arc<Core>,
    pub broker: Broker,
}

impl TestWorld {
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        Self::with_backends(
            store,
            Arc::new(TestBackend::asynchronous()),
            Arc::new(TestBackend::synchronous()),
            test_policy(),
        )
    }

    pub fn with_backends(
        store: Arc<dyn StateStore>,
        async_backend: Arc<TestBackend>,
        sync_backend: Arc<TestBackend>,
        policy: OperationPolicy,
    ) -> Self {
        let clock = Arc::new(ManualClock::new());
        let core = Arc::new(Core {
            traces: std::sync::Arc::new(pgbroker_domain::ports::NoTraceContext),
            catalog: Arc::new(test_catalog()),
            store: store.clone(),
            backends: BackendRegistry::new()
                .with("async", async_backend.clone())
                .with("sync", sync_backend.clone()),
            clock: clock.clone() as Arc<dyn Clock>,
            secrets: Arc::new(CountingSecrets::default()),
            parameter_schemas: Arc::new(AcceptAllParameters),
            policy,
        });
        Self {
            store,
            clock,
            async_backend,
            sync_backend,
            broker: Broker::new(core.clone()),
            core,
        }
    }

    /// An engine over this world's store, ports and clock.
    pub fn engine(&self, owner: &str) -> Engine {
        Engine::new(
            self.core.clone(),
            EngineConfig {
                owner: owner.to_string(),
                concurrency: 8,
                poll_interval: Duration::from_millis(5),
            },
        )
    }

    /// Ticks a fresh engine until nothing is due now; returns the steps run.
    pub async fn drain(&self) -> usize {
        let engine = self.engine("drain");
        let mut steps = 0;
        loop {
            match engine.tick().await {
                Ok(0) => return steps,
                Ok(n) => steps += n,
                Err(e) => panic!("engine tick failed: {e}"),
            }
        }
    }
}

pub fn instance_id(raw: &str) -> InstanceId {
    InstanceId::parse(raw).expect("test instance id")
}

pub fn spec(service: &str, plan: &str, parameters: serde_json::Value) -> InstanceSpec {
    let parameters: JsonObject = serde_json::from_value(parameters).expect("parameters object");
    InstanceSpec {
        service_id: ServiceId::parse(service).expect("service id"),
        plan_id: PlanId::parse(plan).expect("plan id"),
        parameters,
        context: JsonObject::from_iter([("platform".to_string(), json!("test"))]),
        organization_guid: Some("org-1".into()),
        space_guid: Some("space-1".into()),
        maintenance_version: None,
    }
}

/// An OSB unbind of `binding` of instance `instance` (deletion policy `delete`).
pub fn unbind_cmd(
    instance: &str,
    binding: &str,
    service: &str,
    plan: &str,
    accepts_incomplete: bool,
) -> UnbindCommand {
    UnbindCommand {
        door: FrontDoor::Osb,
        instance_id: instance_id(instance),
        binding_id: BindingId::parse(binding).expect("test binding id"),
        service_id: ServiceId::parse(service).expect("service id"),
        plan_id: PlanId::parse(plan).expect("plan id"),
        deletion_policy: DeletionPolicy::Delete,
        accepts_incomplete,
        originating_identity: None,
    }
}

/// An OSB deprovision of instance `id` (deletion policy `delete`).
pub fn deprovision_cmd(
    id: &str,
    service: &str,
    plan: &str,
    accepts_incomplete: bool,
) -> DeprovisionCommand {
    DeprovisionCommand {
        door: FrontDoor::Osb,
        instance_id: instance_id(id),
        service_id: ServiceId::parse(service).expect("service id"),
        plan_id: PlanId::parse(plan).expect("plan id"),
        deletion_policy: DeletionPolicy::Delete,
        accepts_incomplete,
        originating_identity: None,
    }
}

/// A fresh in-memory SQLite state store, migrated.
pub async fn memory_store() -> Arc<dyn StateStore> {
    pgbroker_adapters_sql::open("sqlite::memory:")
        .await
        .expect("in-memory SQLite store")
}

//! The backend against the in-memory Kubernetes API server and its CNPG simulator, driven through
//! the domain: broker use cases, the operation engine and a manual clock.

use std::sync::Arc;
use std::time::Duration;

use pgbroker_adapters_k8s::CnpgBackend;
use pgbroker_adapters_k8s::settings::CnpgSettings;
use pgbroker_domain::ports::{BackendRegistry, Clock, StateStore};
use pgbroker_domain::usecases::{
    BindCommand, DeprovisionCommand, ProvisionCommand, UnbindCommand, UpdateCommand,
};
use pgbroker_domain::{
    Binding, BindingId, BindingSpec, Broker, Catalog, CatalogDocument, Core, Engine, EngineConfig,
    InstanceId, InstanceSpec, JsonObject, Operation, OperationId, OperationState, Outcome, PlanId,
    ServiceId,
};
use pgbroker_kube_testserver::{TestServer, TestServerOptions};
use pgbroker_testkit::clock::{CountingSecrets, ManualClock};
use pgbroker_testkit::parameters::AcceptAllParameters;
use pgbroker_testkit::world::test_policy;
use serde_json::{Value, json};

pub const SERVICE: &str = "svc-pg";
/// 1 instance, 10Gi.
pub const SINGLE: &str = "plan-single";
/// 3 instances, pooler, load balancer, 20Gi.
pub const HA: &str = "plan-ha";
/// 1 instance, 5Gi: a move here from SINGLE shrinks storage.
pub const TINY: &str = "plan-tiny";
/// 1 instance, 4 CPU, 50Gi: where HA can move to.
pub const SINGLE_BIG: &str = "plan-single-big";
/// SINGLE with a 600-second deadline.
pub const QUICK: &str = "plan-quick";

fn catalog() -> Catalog {
    let doc: CatalogDocument = serde_json::from_value(json!({"services": [
        {"id": SERVICE, "name": "pg", "description": "postgres", "plan_updateable": true, "plans": [
            {"id": SINGLE, "name": "single", "description": "s", "backend": "cnpg",
             "settings": {"instances": 1, "cpu": "500m", "memory": "512Mi", "storage": "10Gi"}},
            {"id": HA, "name": "ha", "description": "h", "backend": "cnpg",
             "settings": {"instances": 3, "cpu": "2", "memory": "2Gi", "storage": "20Gi",
                          "pooler": {"pool_mode": "transaction", "instances": 2}, "load_balancer": true}},
            {"id": TINY, "name": "tiny", "description": "t", "backend": "cnpg",
             "settings": {"instances": 1, "cpu": "500m", "memory": "512Mi", "storage": "5Gi"}},
            {"id": SINGLE_BIG, "name": "single-big", "description": "b", "backend": "cnpg",
             "settings": {"instances": 1, "cpu": "4", "memory": "4Gi", "storage": "50Gi"}},
            {"id": QUICK, "name": "quick", "description": "q", "backend": "cnpg", "maximum_polling_duration": 600,
             "settings": {"instances": 1, "cpu": "500m", "memory": "512Mi", "storage": "10Gi"}}
        ]}
    ]}))
    .expect("test catalog document");
    Catalog::load(doc, &["cnpg".to_string()].into()).expect("test catalog is valid")
}

/// A plan of the test catalog.
pub fn plan(id: &str) -> pgbroker_domain::Plan {
    let catalog = catalog();
    let (_, plan) = catalog
        .plan(
            &ServiceId::parse(SERVICE).unwrap(),
            &PlanId::parse(id).unwrap(),
        )
        .expect("plan of the test catalog");
    plan.clone()
}

pub struct World {
    pub server: TestServer,
    pub backend: Arc<CnpgBackend>,
    pub store: Arc<dyn StateStore>,
    pub clock: Arc<ManualClock>,
    pub broker: Broker,
    engine: Engine,
    db: std::path::PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
    }
}

impl World {
    pub async fn new(settings: CnpgSettings) -> Self {
        Self::with_options(settings, TestServerOptions::default()).await
    }

    pub async fn with_options(settings: CnpgSettings, options: TestServerOptions) -> Self {
        Self::with_backend_client(settings, options, TestServer::client).await
    }

    /// The backend talks through the client `backend_client` makes (e.g. one authenticated as a
    /// ServiceAccount in RBAC mode, after seeding what that needs).
    pub async fn with_backend_client(
        settings: CnpgSettings,
        options: TestServerOptions,
        backend_client: impl FnOnce(&TestServer) -> kube::Client,
    ) -> Self {
        let server = TestServer::start(options)
            .await
            .expect("test server starts");
        let client = backend_client(&server);
        let backend =
            Arc::new(CnpgBackend::with_client("cnpg", settings, client).expect("valid settings"));
        let db =
            std::env::temp_dir().join(format!("pgbroker-k8s-{}.db", uuid::Uuid::new_v4().simple()));
        // A file, not `sqlite::memory:`: the engine drops lease renewals mid-query when a backend
        // step ends, and an in-memory database vanishes with the connection that is then closed.
        let store = pgbroker_adapters_sql::open(&format!("sqlite://{}", db.display()))
            .await
            .expect("SQLite state store");
        let clock = Arc::new(ManualClock::new());
        let core = Arc::new(Core {
            traces: std::sync::Arc::new(pgbroker_domain::ports::NoTraceContext),
            catalog: Arc::new(catalog()),
            store: store.clone(),
            backends: BackendRegistry::new().with("cnpg", backend.clone()),
            clock: clock.clone() as Arc<dyn Clock>,
            secrets: Arc::new(CountingSecrets::default()),
            parameter_schemas: Arc::new(AcceptAllParameters),
            policy: test_policy(),
        });
        let engine = Engine::new(
            core.clone(),
            EngineConfig {
                owner: "test".into(),
                concurrency: 4,
                poll_interval: Duration::from_millis(5),
            },
        );
        Self {
            server,
            backend,
            store,
            clock,
            broker: Broker::new(core),
            engine,
            db,
        }
    }

    pub async fn operation(&self, id: OperationId) -> Operation {
        self.store
            .operation(id)
            .await
            .unwrap()
            .expect("operation is stored")
    }

    /// Steps the engine until `op` is no longer in flight: due operations run, then real time
    /// passes for the simulator and the watch, then the clock jumps to the next attempt.
    pub async fn settle(&self, op: OperationId) -> Operation {
        for _ in 0..600 {
            self.engine.tick().await.expect("engine tick");
            let current = self.operation(op).await;
            if current.state != OperationState::InProgress {
                return current;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.jump_to(&current);
        }
        panic!(
            "operation {op} did not settle: {:?}",
            self.operation(op).await.description
        );
    }

    /// Runs every operation of the instance (e.g. an orphan mitigation) to its end.
    pub async fn settle_instance(&self, id: &InstanceId) {
        for _ in 0..600 {
            self.engine.tick().await.expect("engine tick");
            match self.store.operation_in_flight(id).await.unwrap() {
                None => return,
                Some(op) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    self.jump_to(&op);
                }
            }
        }
        panic!("instance {id} still has an operation in flight");
    }

    fn jump_to(&self, op: &Operation) {
        let now = self.clock.now_for_test();
        if let Ok(wait) = (op.next_attempt_at - now).to_std() {
            self.clock.advance(wait);
        }
    }

    pub async fn provision(&self, id: &str, plan: &str, parameters: Value) -> OperationId {
        let cmd = ProvisionCommand {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance(id),
            spec: spec(plan, parameters),
            accepts_incomplete: true,
            originating_identity: None,
        };
        match self
            .broker
            .provision(cmd)
            .await
            .expect("provision accepted")
        {
            Outcome::Accepted { operation } => operation,
            other => panic!("expected Accepted, got {other:?}"),
        }
    }

    pub async fn update(&self, id: &str, plan: &str, parameters: Option<Value>) -> OperationId {
        let cmd = UpdateCommand {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance(id),
            service_id: ServiceId::parse(SERVICE).unwrap(),
            plan_id: Some(PlanId::parse(plan).unwrap()),
            parameters: parameters.map(object),
            context: None,
            maintenance_version: None,
            accepts_incomplete: true,
            originating_identity: None,
        };
        match self.broker.update(cmd).await.expect("update accepted") {
            Outcome::Accepted { operation } => operation,
            other => panic!("expected Accepted, got {other:?}"),
        }
    }

    pub async fn deprovision(&self, id: &str, plan: &str) -> OperationId {
        self.deprovision_with(id, plan, pgbroker_domain::DeletionPolicy::Delete)
            .await
    }

    pub async fn deprovision_with(
        &self,
        id: &str,
        plan: &str,
        deletion_policy: pgbroker_domain::DeletionPolicy,
    ) -> OperationId {
        let cmd = DeprovisionCommand {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance(id),
            service_id: ServiceId::parse(SERVICE).unwrap(),
            plan_id: PlanId::parse(plan).unwrap(),
            deletion_policy,
            accepts_incomplete: true,
            originating_identity: None,
        };
        match self
            .broker
            .deprovision(cmd)
            .await
            .expect("deprovision accepted")
        {
            Outcome::Accepted { operation } => operation,
            other => panic!("expected Accepted, got {other:?}"),
        }
    }

    pub async fn bind(&self, id: &str, binding: &str, plan: &str) -> OperationId {
        let cmd = BindCommand {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance(id),
            binding_id: BindingId::parse(binding).unwrap(),
            spec: BindingSpec {
                service_id: ServiceId::parse(SERVICE).unwrap(),
                plan_id: PlanId::parse(plan).unwrap(),
                parameters: JsonObject::new(),
                context: JsonObject::new(),
                bind_resource: JsonObject::new(),
            },
            accepts_incomplete: true,
            originating_identity: None,
        };
        match self.broker.bind(cmd).await.expect("bind accepted") {
            Outcome::Accepted { operation } => operation,
            other => panic!("expected Accepted, got {other:?}"),
        }
    }

    pub async fn binding(&self, id: &str, binding: &str) -> Option<Binding> {
        self.store
            .binding(&instance(id), &BindingId::parse(binding).unwrap())
            .await
            .unwrap()
    }

    pub async fn unbind(&self, id: &str, binding: &str, plan: &str) -> OperationId {
        let cmd = UnbindCommand {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance(id),
            binding_id: BindingId::parse(binding).unwrap(),
            service_id: ServiceId::parse(SERVICE).unwrap(),
            plan_id: PlanId::parse(plan).unwrap(),
            deletion_policy: pgbroker_domain::DeletionPolicy::Delete,
            accepts_incomplete: true,
            originating_identity: None,
        };
        match self.broker.unbind(cmd).await.expect("unbind accepted") {
            Outcome::Accepted { operation } => operation,
            other => panic!("expected Accepted, got {other:?}"),
        }
    }

    /// Every stored object of `resource` that carries this instance's label.
    pub fn objects_of(&self, resource: &str, id: &str) -> Vec<Value> {
        self.server
            .objects(resource)
            .into_iter()
            .filter(|o| o.pointer("/metadata/labels/pgbroker.io~1instance-id") == Some(&json!(id)))
            .collect()
    }
}

pub fn instance(raw: &str) -> InstanceId {
    InstanceId::parse(raw).unwrap()
}

fn object(v: Value) -> JsonObject {
    v.as_object().cloned().expect("a JSON object")
}

pub fn spec(plan: &str, parameters: Value) -> InstanceSpec {
    InstanceSpec {
        service_id: ServiceId::parse(SERVICE).unwrap(),
        plan_id: PlanId::parse(plan).unwrap(),
        parameters: object(parameters),
        context: object(json!({"platform": "kubernetes", "namespace": "team-a"})),
        organization_guid: None,
        space_guid: None,
        maintenance_version: None,
    }
}

/// The resources the backend may write, by plural.
pub const RESOURCES: [&str; 10] = [
    "namespaces",
    "secrets",
    "services",
    "clusters",
    "poolers",
    "databases",
    "databaseroles",
    "scheduledbackups",
    "objectstores",
    "podmonitors",
];

impl World {
    /// One engine tick, a little real time for the simulator, then the clock to the next attempt.
    pub async fn step_once(&self, op: OperationId) {
        self.engine.tick().await.expect("engine tick");
        tokio::time::sleep(Duration::from_millis(10)).await;
        let current = self.operation(op).await;
        self.jump_to(&current);
    }
}

/// An id that is a GUID, as platforms send them, and the Cluster named after it.
pub const GUID: &str = "0a651d10-25ab-4a75-99a6-520c0abbe2ae";
pub const GUID_CLUSTER: &str = "pg-0a651d10-25ab-4a75-99a6-520c0abbe2ae";

/// Settings most tests use: monitoring on, one allowed parameter, 5-second polls.
pub fn test_settings() -> pgbroker_adapters_k8s::settings::CnpgSettings {
    pgbroker_adapters_k8s::settings::CnpgSettings {
        allowed_parameters: vec!["work_mem".into()],
        monitoring: true,
        poll_interval_seconds: 5,
        ..Default::default()
    }
}

/// Every CNPG object in the server fits CNPG's CRD schema (the server validated each write too).
pub fn assert_all_valid(w: &World) {
    for resource in [
        "clusters",
        "poolers",
        "databases",
        "databaseroles",
        "scheduledbackups",
        "objectstores",
    ] {
        for object in w.server.objects(resource) {
            if let Err(e) = super::crd::validate(&object) {
                panic!("{resource}: {e}");
            }
        }
    }
}

/// Nothing of the instance is left in the server.
pub fn nothing_left(w: &World, id: &str) {
    for resource in RESOURCES {
        let left = w.objects_of(resource, id);
        let names: Vec<&Value> = left.iter().map(|o| &o["metadata"]["name"]).collect();
        assert!(left.is_empty(), "{resource} left behind: {names:?}");
    }
}

//! The engine under the load users bring: a burst of operations on a backend that takes a fixed
//! time per step, an engine at its full concurrency, on a real state store (a SQLite file or a
//! PostgreSQL database), with requests arriving meanwhile. Shared by the engine load test
//! (`tests/engine_load.rs`) and the engine burst benchmark (`benches/engine_burst.rs`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pgbroker_adapters_sql::PoolSettings;
use pgbroker_domain::ports::{BackendRegistry, Clock, StateStore, SystemClock};
use pgbroker_domain::usecases::{
    BindCommand, DeprovisionCommand, LastOperationQuery, ProvisionCommand,
};
use pgbroker_domain::{
    BindingId, BindingSpec, Broker, Catalog, Core, DeletionPolicy, Engine, EngineConfig, FrontDoor,
    InstanceId, JsonObject, OperationId, OperationPolicy, OperationState, Outcome, PlanId,
    ServiceId,
};
use serde_json::json;

use crate::backend::TestBackend;
use crate::clock::CountingSecrets;
use crate::parameters::AcceptAllParameters;
use crate::pg_database::TestDatabase;
use crate::world::{ASYNC_PLAN, ASYNC_SERVICE, instance_id, spec, test_catalog, test_policy};

/// Which store a load run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A SQLite file in a temporary directory (WAL, the default store's settings).
    SqliteFile,
    /// A database of its own on the test PostgreSQL server.
    Postgres,
}

impl StoreKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::SqliteFile => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Where a load run's state lives; removed when dropped.
pub struct StoreLocation {
    pub url: String,
    _database: Option<TestDatabase>,
    dir: Option<PathBuf>,
}

impl StoreLocation {
    pub async fn create(kind: StoreKind) -> anyhow::Result<Self> {
        Ok(match kind {
            StoreKind::SqliteFile => {
                let dir = std::env::temp_dir()
                    .join(format!("pgbroker-load-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                Self {
                    url: format!("sqlite://{}/state.db?mode=rwc", dir.display()),
                    _database: None,
                    dir: Some(dir),
                }
            }
            StoreKind::Postgres => {
                let database = TestDatabase::create().await?;
                Self {
                    url: database.url().to_string(),
                    _database: Some(database),
                    dir: None,
                }
            }
        })
    }

    /// Opens (and migrates) the store, as a broker process starting up does.
    pub async fn open(&self, pool: &PoolSettings) -> anyhow::Result<Arc<dyn StateStore>> {
        pgbroker_adapters_sql::open_pooled(&self.url, pool)
            .await
            .with_context(|| format!("opening the {} state store", self.url))
    }
}

impl Drop for StoreLocation {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A broker process of a load run: the store it opened, its backend, use cases and engine
/// configuration, on the system clock.
pub struct LoadBroker {
    pub store: Arc<dyn StateStore>,
    pub backend: Arc<TestBackend>,
    /// What the bursts provision and bind.
    service: ServiceId,
    plan: PlanId,
    pub core: Arc<Core>,
    pub engine: Arc<Engine>,
    pub broker: Arc<Broker>,
}

impl LoadBroker {
    /// `backend` serves the test catalog's asynchronous plans; `concurrency` is the engine's.
    pub fn new(
        store: Arc<dyn StateStore>,
        backend: Arc<TestBackend>,
        policy: OperationPolicy,
        owner: &str,
        concurrency: usize,
    ) -> Self {
        let backends = BackendRegistry::new()
            .with("async", backend.clone())
            .with("sync", Arc::new(TestBackend::synchronous()));
        let plan = (
            ServiceId::parse(ASYNC_SERVICE).expect("test service id"),
            PlanId::parse(ASYNC_PLAN).expect("test plan id"),
        );
        let mut broker = Self::on(
            store,
            test_catalog(),
            backends,
            plan,
            policy,
            owner,
            concurrency,
        );
        broker.backend = backend;
        broker
    }

    /// A broker on `catalog` and `backends` whose bursts use `plan` (service and plan id).
    pub fn on(
        store: Arc<dyn StateStore>,
        catalog: Catalog,
        backends: BackendRegistry,
        (service, plan): (ServiceId, PlanId),
        policy: OperationPolicy,
        owner: &str,
        concurrency: usize,
    ) -> Self {
        let core = Arc::new(Core {
            traces: std::sync::Arc::new(pgbroker_domain::ports::NoTraceContext),
            catalog: Arc::new(catalog),
            store: store.clone(),
            backends,
            clock: Arc::new(SystemClock::new(tokio::time::sleep)) as Arc<dyn Clock>,
            secrets: Arc::new(CountingSecrets::default()),
            parameter_schemas: Arc::new(AcceptAllParameters),
            policy,
        });
        let engine = Arc::new(Engine::new(
            core.clone(),
            EngineConfig {
                owner: owner.to_string(),
                concurrency,
                ..EngineConfig::default()
            },
        ));
        let broker = Arc::new(Broker::new(core.clone()).with_waker(engine.waker()));
        Self {
            store,
            backend: Arc::new(TestBackend::asynchronous()),
            service,
            plan,
            core,
            engine,
            broker,
        }
    }

    /// Runs the engine on its own task until `stop` is sent (or the task is aborted, as a
    /// crash would end it).
    pub fn spawn_engine(
        &self,
    ) -> (
        tokio::task::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let engine = self.engine.clone();
        let task = tokio::spawn(async move {
            engine
                .run(async {
                    let _ = stopped.await;
                })
                .await
        });
        (task, stop)
    }

    /// Starts `count` provisions at once (`accepts_incomplete`), instances `<prefix>-<n>`.
    pub async fn provision_burst(
        &self,
        prefix: &str,
        count: usize,
    ) -> anyhow::Result<Vec<(InstanceId, OperationId)>> {
        let starts = (0..count).map(|n| {
            let broker = self.broker.clone();
            let id = instance_id(&format!("{prefix}-{n}"));
            let spec = spec(self.service.as_str(), self.plan.as_str(), json!({}));
            tokio::spawn(async move {
                let outcome = broker
                    .provision(ProvisionCommand {
                        door: FrontDoor::Osb,
                        instance_id: id.clone(),
                        spec,
                        accepts_incomplete: true,
                        originating_identity: None,
                    })
                    .await;
                (id, outcome)
            })
        });
        let mut started = Vec::with_capacity(count);
        for start in futures::future::join_all(starts).await {
            let (id, outcome) = start.context("provision task")?;
            match outcome.with_context(|| format!("provisioning {id}"))? {
                Outcome::Accepted { operation } => started.push((id, operation)),
                other => bail!("provision of {id} answered {other:?}, not Accepted"),
            }
        }
        Ok(started)
    }

    /// Starts a bind (`accepts_incomplete`) on each of `instances` at once, binding `<instance>-b`.
    pub async fn bind_burst(
        &self,
        instances: &[InstanceId],
    ) -> anyhow::Result<Vec<(InstanceId, OperationId)>> {
        let starts = instances.iter().map(|instance| {
            let broker = self.broker.clone();
            let instance = instance.clone();
            let (service_id, plan_id) = (self.service.clone(), self.plan.clone());
            tokio::spawn(async move {
                let binding_id = BindingId::parse(format!("{instance}-b"))?;
                let outcome = broker
                    .bind(BindCommand {
                        door: FrontDoor::Osb,
                        instance_id: instance.clone(),
                        binding_id,
                        spec: BindingSpec {
                            service_id,
                            plan_id,
                            parameters: JsonObject::new(),
                            context: JsonObject::new(),
                            bind_resource: JsonObject::new(),
                        },
                        accepts_incomplete: true,
                        originating_identity: None,
                    })
                    .await
                    .with_context(|| format!("binding to {instance}"))?;
                match outcome {
                    Outcome::Accepted { operation } => Ok((instance, operation)),
                    other => bail!("bind to {instance} answered {other:?}, not Accepted"),
                }
            })
        });
        let mut started = Vec::with_capacity(instances.len());
        for start in futures::future::join_all(starts).await {
            started.push(start.context("bind task")??);
        }
        Ok(started)
    }

    /// Starts a deprovision (`accepts_incomplete`) of each of `instances` at once.
    pub async fn deprovision_burst(
        &self,
        instances: &[InstanceId],
    ) -> anyhow::Result<Vec<(InstanceId, OperationId)>> {
        let starts = instances.iter().map(|instance| {
            let broker = self.broker.clone();
            let command = DeprovisionCommand {
                door: FrontDoor::Osb,
                instance_id: instance.clone(),
                service_id: self.service.clone(),
                plan_id: self.plan.clone(),
                deletion_policy: DeletionPolicy::Delete,
                accepts_incomplete: true,
                originating_identity: None,
            };
            tokio::spawn(async move {
                let instance = command.instance_id.clone();
                match broker.deprovision(command).await {
                    Ok(Outcome::Accepted { operation }) => Ok((instance, operation)),
                    other => bail!("deprovision of {instance} answered {other:?}, not Accepted"),
                }
            })
        });
        let mut started = Vec::with_capacity(instances.len());
        for start in futures::future::join_all(starts).await {
            started.push(start.context("deprovision task")??);
        }
        Ok(started)
    }

    /// One platform poll of an operation, as `GET .../last_operation` makes it.
    pub async fn poll(
        &self,
        instance: &InstanceId,
        operation: OperationId,
    ) -> anyhow::Result<OperationState> {
        let last = self
            .broker
            .last_operation(LastOperationQuery {
                door: FrontDoor::Osb,
                instance_id: instance.clone(),
                binding_id: None,
                operation: Some(operation),
                service_id: None,
                plan_id: None,
            })
            .await
            .with_context(|| format!("polling operation {operation} of {instance}"))?;
        Ok(last.state)
    }
}

/// Polls every operation of `ops` until all are finished or `within` passes; each must have
/// succeeded. Returns how long it took. The unfinished ones are read together each round, as
/// a platform's concurrent polls would be.
pub async fn wait_until_succeeded(
    store: &dyn StateStore,
    ops: &[(InstanceId, OperationId)],
    within: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut unfinished: Vec<&(InstanceId, OperationId)> = ops.iter().collect();
    while !unfinished.is_empty() {
        if started.elapsed() > within {
            bail!(
                "{} of {} operations still in progress after {within:?}",
                unfinished.len(),
                ops.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let reads = unfinished.iter().map(|(_, op)| store.operation(*op));
        let states = futures::future::join_all(reads).await;
        let mut still = Vec::with_capacity(unfinished.len());
        for (entry, stored) in unfinished.into_iter().zip(states) {
            let (instance, op) = entry;
            let stored = stored
                .with_context(|| format!("reading operation {op}"))?
                .with_context(|| format!("operation {op} of {instance} is not stored"))?;
            match stored.state {
                OperationState::InProgress => still.push(entry),
                OperationState::Succeeded => {}
                OperationState::Failed => {
                    bail!(
                        "operation {op} of {instance} failed: {:?}",
                        stored.description
                    )
                }
            }
        }
        unfinished = still;
    }
    Ok(started.elapsed())
}

/// The policy of a load run: the tests' policy with a lease of `lease`, so that a killed
/// engine's operations are taken over quickly.
pub fn load_policy(lease: Duration) -> OperationPolicy {
    OperationPolicy {
        lease,
        ..test_policy()
    }
}

/// Everything pgbroker's own crates (targets `pgbroker*`) logged at warning level or above in
/// this process so far, from any thread or task: the engine's and stores' signs of a stall
/// (failed claims, failed renewals, unsettled steps, lost leases). A dependency's timing notes
/// (sqlx's slow statement or slow acquire on a loaded machine, a server notice) are not
/// recorded: how fast the store is, benchmarks measure, and a stall that matters surfaces as
/// pgbroker's warnings or failed polls. The first call installs the global subscriber that
/// records it, so call it once before the load starts.
pub fn logged_warnings() -> String {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let log = LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        // Warnings going to another subscriber would go unseen: that is a broken test.
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("off,pgbroker=warn"))
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .try_init()
            .expect("no other global tracing subscriber in a load test");
        log
    });
    let bytes = log.lock().unwrap_or_else(PoisonError::into_inner);
    String::from_utf8_lossy(&bytes).into_owned()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        log.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

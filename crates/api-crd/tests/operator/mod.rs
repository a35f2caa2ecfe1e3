//! An operator world for controller tests: the Kubernetes API test server with pgbroker's CRDs,
//! a Broker over a real (in-memory SQLite) state store and the shared-server backend on the
//! local PostgreSQL (every name starting with a tag unique to the test, dropped when the world
//! is dropped), an engine, and the operator running against all of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

mod reconciles;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, Resource};
use pgbroker_adapters_cloud::{OsRngSecrets, SharedServerBackend, SharedSettings};
use pgbroker_api_crd::controller::WatchHealth;
use pgbroker_api_crd::crd::PostgreSQLStatus;
use pgbroker_api_crd::{Operator, PostgreSQLDatabase, PostgreSQLServer};
use pgbroker_api_osb::JsonSchemaParameters;
use pgbroker_domain::ports::{BackendRegistry, SystemClock};
use pgbroker_domain::server::ServerPolicy;
use pgbroker_domain::{Broker, Catalog, CatalogDocument, Core, Engine, EngineConfig};
use pgbroker_kube_testserver::{SimulatorOptions, TestServer, TestServerOptions, crds};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection};
use tokio::sync::watch;

pub use reconciles::Reconciles;

pub const NS: &str = "default";
pub const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct World {
    pub kube: TestServer,
    pub broker: Arc<Broker>,
    pub tag: String,
    /// What the operator reported of its reconciles.
    pub reconciles: Arc<Reconciles>,
    /// The operator's watches, as `/readyz` sees them.
    pub health: WatchHealth,
    stop: watch::Sender<bool>,
}

fn catalog() -> Catalog {
    let bind_schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object", "additionalProperties": false,
        "properties": {}
    });
    let doc: CatalogDocument = serde_json::from_value(json!({"services": [
        {"id": "svc-shared", "name": "postgresql-shared", "description": "shared", "plans": [
            {"id": "plan-shared-small", "name": "shared-small", "description": "small", "backend": "shared",
             "settings": {"connection_limit": 20}, "schemas": {"binding_create": bind_schema}},
            {"id": "plan-shared-medium", "name": "shared-medium", "description": "medium", "backend": "shared",
             "settings": {"connection_limit": 100}, "schemas": {"binding_create": bind_schema}}
        ]}
    ]}))
    .unwrap();
    // As `serve` does: the shared backend offers bindings a database of their own.
    Catalog::load(doc, &["shared".to_string()].into())
        .unwrap()
        .offering_own_databases(|backend| backend == "shared")
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

impl World {
    pub async fn start() -> Self {
        Self::with_policy(ServerPolicy::new(
            ["shared".to_string()],
            Some("shared".into()),
        ))
        .await
    }

    pub async fn with_policy(policy: ServerPolicy) -> Self {
        Self::with(policy, Duration::from_secs(600)).await
    }

    /// The operator looks at every object again each `resync`.
    pub async fn with_resync(resync: Duration) -> Self {
        Self::with(
            ServerPolicy::new(["shared".to_string()], Some("shared".into())),
            resync,
        )
        .await
    }

    async fn with(policy: ServerPolicy, resync: Duration) -> Self {
        let kube = Self::kube(false).await;
        let tag = format!("pgbo{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let settings: SharedSettings = serde_json::from_value(json!({
            "servers": [{"name": "local", "admin_url": ADMIN_URL, "max_databases": 100000}],
            "names": {
                "database": format!("{tag}_{{instance}}"),
                "owner_role": format!("{tag}_{{instance}}_owner"),
                "binding_role": format!("{tag}_{{instance}}_{{binding}}"),
            },
        }))
        .unwrap();
        let backend = Arc::new(SharedServerBackend::new("shared", settings).unwrap());
        let backends = BackendRegistry::new().with("shared", backend);
        Self::build(kube, tag, catalog(), backends, policy, resync).await
    }

    /// The test API server with deploy/crds; with `simulator`, also CNPG's CRDs and its
    /// simulator (Clusters healthy 200 ms after they are applied).
    pub async fn kube(simulator: bool) -> TestServer {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .with_test_writer()
            .try_init();
        let mut options = TestServerOptions {
            simulator: SimulatorOptions {
                enabled: simulator,
                ready_delay: Duration::from_millis(200),
                ..Default::default()
            },
            ..Default::default()
        };
        if !simulator {
            options.crd_dirs = vec![crds::pgbroker_crd_dir()];
        }
        TestServer::start(options)
            .await
            .expect("test server starts with deploy/crds")
    }

    /// The operator and an engine over `backends` with `catalog` and `policy`; `tag` prefixes
    /// what the test makes on the local PostgreSQL (removed on drop).
    pub async fn build(
        kube: TestServer,
        tag: String,
        catalog: Catalog,
        backends: BackendRegistry,
        policy: ServerPolicy,
        resync: Duration,
    ) -> Self {
        let core = Arc::new(Core {
            traces: std::sync::Arc::new(pgbroker_domain::ports::NoTraceContext),
            catalog: Arc::new(catalog),
            store: pgbroker_testkit::world::memory_store().await,
            backends,
            clock: Arc::new(SystemClock::new(tokio::time::sleep)),
            secrets: Arc::new(OsRngSecrets),
            parameter_schemas: Arc::new(JsonSchemaParameters),
            policy: pgbroker_testkit::world::test_policy(),
        });
        let engine = Engine::new(
            core.clone(),
            EngineConfig {
                owner: format!("test-{tag}"),
                concurrency: 4,
                poll_interval: Duration::from_millis(200),
            },
        );
        let broker = Arc::new(Broker::new(core).with_waker(engine.waker()));
        let reconciles = Arc::new(Reconciles::default());
        let operator = Operator::new(kube.client(), broker.clone(), policy)
            .namespaces(vec![NS.to_string()])
            .resync(resync)
            .metrics(reconciles.clone())
            .reporting_instance(format!("test-{tag}"));
        let health = operator.health();
        let engine = engine.with_observer(operator.observer());
        let (stop, rx) = watch::channel(false);
        let engine_stop = stopped(rx.clone());
        tokio::spawn(async move { engine.run(engine_stop).await });
        tokio::spawn(operator.run(stopped(rx)));
        Self {
            kube,
            broker,
            tag,
            reconciles,
            health,
            stop,
        }
    }

    pub fn client(&self) -> Client {
        self.kube.client()
    }

    pub fn servers(&self) -> Api<PostgreSQLServer> {
        Api::namespaced(self.client(), NS)
    }

    pub fn databases(&self) -> Api<PostgreSQLDatabase> {
        Api::namespaced(self.client(), NS)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client(), NS)
    }

    pub async fn apply_server(&self, name: &str, spec: Value) -> PostgreSQLServer {
        apply(&self.servers(), "PostgreSQLServer", name, spec).await
    }

    /// As `apply_server`, with `pgbroker.io/deletion-policy: retain`.
    pub async fn apply_retained_server(&self, name: &str, spec: Value) -> PostgreSQLServer {
        let obj = json!({
            "apiVersion": "pgbroker.io/v1alpha1", "kind": "PostgreSQLServer",
            "metadata": {"name": name, "annotations": {"pgbroker.io/deletion-policy": "retain"}},
            "spec": spec,
        });
        self.servers()
            .patch(name, &PatchParams::apply("test"), &Patch::Apply(obj))
            .await
            .unwrap()
    }

    /// A `shared-small` PostgreSQLServer `name` with its Secret `<name>-pg`, applied.
    pub async fn apply_small_server(&self, name: &str) -> PostgreSQLServer {
        let secret = format!("{name}-pg");
        self.apply_server(
            name,
            json!({"size": {"class": "shared-small", "storageGB": 10}, "credentialsSecret": secret}),
        )
        .await
    }

    pub async fn apply_database(&self, name: &str, spec: Value) -> PostgreSQLDatabase {
        apply(&self.databases(), "PostgreSQLDatabase", name, spec).await
    }

    /// Databases whose names start with the tag.
    pub async fn databases_made(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE $1 ORDER BY 1")
            .bind(format!("{}%", self.tag))
            .fetch_all(&mut admin().await)
            .await
            .unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        pgbroker_testkit::pg_tagged::drop_tagged_blocking(&self.tag);
    }
}

async fn apply<K>(api: &Api<K>, kind: &str, name: &str, spec: Value) -> K
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let obj = json!({
        "apiVersion": "pgbroker.io/v1alpha1", "kind": kind,
        "metadata": {"name": name}, "spec": spec,
    });
    api.patch(name, &PatchParams::apply("test"), &Patch::Apply(obj))
        .await
        .unwrap()
}

pub async fn delete<K>(api: &Api<K>, name: &str)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.delete(name, &DeleteParams::default()).await.unwrap();
}

/// Polls `get` until `done` holds, at most a minute (a failure says what was seen last).
pub async fn eventually<T: std::fmt::Debug, F, Fut>(
    what: &str,
    mut get: F,
    done: impl Fn(&T) -> bool,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut last = None;
    for _ in 0..600 {
        let value = get().await;
        if done(&value) {
            return value;
        }
        last = Some(value);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: never happened; last seen {last:?}");
}

/// The `Ready` condition's status and reason, and the phase.
pub fn readiness(status: Option<&PostgreSQLStatus>) -> Option<(String, String, String)> {
    let status = status?;
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some((
        ready.status.clone(),
        ready.reason.clone(),
        format!("{:?}", status.phase?),
    ))
}

/// Waits until the server's Ready condition has `reason`; returns the server.
pub async fn server_with_reason(world: &World, name: &str, reason: &str) -> PostgreSQLServer {
    let api = world.servers();
    eventually(
        &format!("server {name} with reason {reason}"),
        || async { api.get_opt(name).await.unwrap() },
        |s| {
            s.as_ref()
                .and_then(|s| readiness(s.status.as_ref()))
                .is_some_and(|(_, r, _)| r == reason)
        },
    )
    .await
    .unwrap()
}

pub async fn database_with_reason(world: &World, name: &str, reason: &str) -> PostgreSQLDatabase {
    let api = world.databases();
    eventually(
        &format!("database {name} with reason {reason}"),
        || async { api.get_opt(name).await.unwrap() },
        |s| {
            s.as_ref()
                .and_then(|s| readiness(s.status.as_ref()))
                .is_some_and(|(_, r, _)| r == reason)
        },
    )
    .await
    .unwrap()
}

/// A Secret's value as text.
pub fn text(secret: &Secret, key: &str) -> String {
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .unwrap_or_else(|| panic!("Secret has no key {key}"));
    String::from_utf8(bytes.0.clone()).unwrap()
}

/// Connects with a Secret's credentials, to `database` (its own when `None`).
pub async fn connect(secret: &Secret, database: Option<&str>) -> Result<PgConnection, sqlx::Error> {
    let options = PgConnectOptions::new()
        .host(&text(secret, "host"))
        .port(text(secret, "port").parse().unwrap())
        .username(&text(secret, "username"))
        .password(&text(secret, "password"))
        .database(database.unwrap_or(&text(secret, "dbname")));
    options.connect().await
}

pub async fn admin() -> PgConnection {
    PgConnectOptions::from_str(ADMIN_URL)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

//! A real broker server on 127.0.0.1:0 over a PostgreSQL state store of its own, with the
//! testkit's scriptable backends, an engine running in-process, and a client that speaks OSB.
#![allow(dead_code)] // each test file uses a different part

pub mod documented;

use std::sync::Arc;
use std::time::Duration;

use pgbroker_api_osb::{ApiConfig, Auth, BasicUser, JsonSchemaParameters};
use pgbroker_domain::ports::{BackendRegistry, Clock, StateStore};
use pgbroker_domain::{
    Broker, Catalog, CatalogDocument, Core, Engine, EngineConfig, OperationPolicy, Sensitive,
};
use pgbroker_testkit::backend::TestBackend;
use pgbroker_testkit::clock::{CountingSecrets, system_clock};
use pgbroker_testkit::pg_database::TestDatabase;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use tokio::sync::watch;

pub const USER: &str = "platform";
pub const PASSWORD: &str = "s3cret-platform-password";
pub const TOKEN: &str = "bearer-token-for-tests";
pub const BODY_LIMIT: usize = 16 * 1024;

pub const ASYNC_SERVICE: &str = "svc-async";
/// Asynchronous, updateable, maintenance version 1.0.0.
pub const ASYNC_PLAN: &str = "plan-async";
/// Asynchronous, updateable, maintenance version 2.0.0.
pub const ASYNC_PLAN_BIG: &str = "plan-async-big";
/// Asynchronous, not updateable.
pub const ASYNC_PLAN_FIXED: &str = "plan-async-fixed";
pub const SYNC_SERVICE: &str = "svc-sync";
/// Synchronous, with parameter schemas for create, update and bind.
pub const SYNC_PLAN: &str = "plan-sync";
/// Synchronous, not bindable.
pub const SYNC_PLAN_UNBINDABLE: &str = "plan-sync-unbindable";
/// Synchronous; its service has `instances_retrievable`, `bindings_retrievable` and
/// `allow_context_updates` all false (the sync service allows context updates).
pub const PRIVATE_SERVICE: &str = "svc-private";
pub const PRIVATE_PLAN: &str = "plan-private";
/// Asynchronous backend, and its bindings cannot be fetched.
pub const PRIVATE_ASYNC_SERVICE: &str = "svc-private-async";
pub const PRIVATE_ASYNC_PLAN: &str = "plan-private-async";

pub fn catalog() -> Catalog {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "postgres_version": {"type": "integer", "enum": [16, 17]},
            "extensions": {"type": "array", "items": {"type": "string"}}
        }
    });
    let bind_schema = json!({
        "type": "object",
        "properties": {"read_only": {"type": "boolean"}},
        "additionalProperties": false
    });
    let doc: CatalogDocument = serde_json::from_value(json!({"services": [
        {"id": ASYNC_SERVICE, "name": "async", "description": "asynchronous backend", "plan_updateable": true, "plans": [
            {"id": ASYNC_PLAN, "name": "small", "description": "s", "backend": "async",
             "maintenance_info": {"version": "1.0.0"}, "settings": {"secret_setting": "not-for-platforms"}},
            {"id": ASYNC_PLAN_BIG, "name": "big", "description": "b", "backend": "async",
             "maintenance_info": {"version": "2.0.0"}},
            {"id": ASYNC_PLAN_FIXED, "name": "fixed", "description": "f", "backend": "async",
             "plan_updateable": false, "maximum_polling_duration": 600}
        ]},
        {"id": SYNC_SERVICE, "name": "sync", "description": "synchronous backend", "allow_context_updates": true, "plans": [
            {"id": SYNC_PLAN, "name": "small", "description": "s", "backend": "sync",
             "schemas": {"instance_create": schema, "instance_update": schema, "binding_create": bind_schema}},
            {"id": SYNC_PLAN_UNBINDABLE, "name": "unbindable", "description": "u", "backend": "sync", "bindable": false}
        ]},
        {"id": PRIVATE_SERVICE, "name": "private", "description": "nothing retrievable", "plan_updateable": true,
         "instances_retrievable": false, "bindings_retrievable": false, "allow_context_updates": false, "plans": [
            {"id": PRIVATE_PLAN, "name": "small", "description": "s", "backend": "sync"}
        ]},
        {"id": PRIVATE_ASYNC_SERVICE, "name": "private-async", "description": "bindings not retrievable",
         "bindings_retrievable": false, "plans": [
            {"id": PRIVATE_ASYNC_PLAN, "name": "small", "description": "s", "backend": "async"}
        ]}
    ]}))
    .expect("test catalog document");
    Catalog::load(doc, &["async".to_string(), "sync".to_string()].into()).expect("valid catalog")
}

/// Parameter key that makes the server's code panic inside a request, to prove a bug in a
/// handler's path still ends in an OSB error body and leaves the server serving.
pub const PANIC_MARKER: &str = "__panic_in_the_broker__";

struct PanicOnMarker;

impl pgbroker_domain::ports::ParameterSchemas for PanicOnMarker {
    fn validate(
        &self,
        schema: &Value,
        parameters: &pgbroker_domain::JsonObject,
    ) -> Result<(), String> {
        if parameters.contains_key(PANIC_MARKER) {
            panic!("test-induced panic");
        }
        JsonSchemaParameters.validate(schema, parameters)
    }
}

pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    pub async_backend: Arc<TestBackend>,
    pub sync_backend: Arc<TestBackend>,
    pub store: Arc<dyn StateStore>,
    /// The server's use cases, for what a test does as another front door would.
    pub broker: Arc<Broker>,
    pub registry: prometheus::Registry,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _db: Option<TestDatabase>,
}

impl Server {
    pub async fn start() -> Self {
        Self::with_backends(TestBackend::asynchronous(), TestBackend::synchronous()).await
    }

    pub async fn with_backends(async_backend: TestBackend, sync_backend: TestBackend) -> Self {
        let db = TestDatabase::create().await.expect("test database");
        let store = pgbroker_adapters_sql::open(db.url())
            .await
            .expect("state store");
        Self::with_store(store, Some(db), async_backend, sync_backend).await
    }

    /// The same server over an in-memory SQLite state store.
    pub async fn sqlite() -> Self {
        let store = pgbroker_testkit::world::memory_store().await;
        Self::with_store(
            store,
            None,
            TestBackend::asynchronous(),
            TestBackend::synchronous(),
        )
        .await
    }

    async fn with_store(
        store: Arc<dyn StateStore>,
        db: Option<TestDatabase>,
        async_backend: TestBackend,
        sync_backend: TestBackend,
    ) -> Self {
        let async_backend = Arc::new(async_backend);
        let sync_backend = Arc::new(sync_backend);
        let core = Arc::new(Core {
            traces: std::sync::Arc::new(pgbroker_domain::ports::NoTraceContext),
            catalog: Arc::new(catalog()),
            store: store.clone(),
            backends: BackendRegistry::new()
                .with("async", async_backend.clone())
                .with("sync", sync_backend.clone()),
            clock: Arc::new(system_clock()) as Arc<dyn Clock>,
            secrets: Arc::new(CountingSecrets::default()),
            parameter_schemas: Arc::new(PanicOnMarker),
            policy: OperationPolicy {
                sync_timeout: Duration::from_secs(2),
                backoff_base: Duration::from_millis(20),
                backoff_max: Duration::from_millis(100),
                ..pgbroker_testkit::world::test_policy()
            },
        });
        let engine = Arc::new(Engine::new(
            core.clone(),
            EngineConfig {
                owner: "osb-test".into(),
                concurrency: 4,
                poll_interval: Duration::from_millis(10),
            },
        ));
        let broker = Arc::new(Broker::new(core).with_waker(engine.waker()));
        let registry = prometheus::Registry::new();
        let auth = Auth::required(
            vec![BasicUser {
                username: USER.into(),
                password: Sensitive::new(PASSWORD.into()),
            }],
            vec![Sensitive::new(TOKEN.into())],
        )
        .expect("credentials");
        let router = pgbroker_api_osb::router(
            broker.clone(),
            ApiConfig {
                auth,
                body_limit: BODY_LIMIT,
                metrics: registry.clone(),
                osb: true,
                readiness: Vec::new(),
                on_failure: None,
                on_request_span: None,
            },
        )
        .expect("router");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let (shutdown, rx) = watch::channel(false);
        let mut server_rx = rx.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = server_rx.wait_for(|stop| *stop).await;
                })
                .await
                .expect("server");
        });
        let mut engine_rx = rx;
        let engine_task = tokio::spawn(async move {
            engine
                .run(async move {
                    let _ = engine_rx.wait_for(|stop| *stop).await;
                })
                .await;
        });
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            async_backend,
            sync_backend,
            store,
            broker,
            registry,
            shutdown,
            tasks: vec![server, engine_task],
            _db: db,
        }
    }

    /// A request with the OSB headers and valid credentials.
    pub fn osb(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .basic_auth(USER, Some(PASSWORD))
            .header("X-Broker-API-Version", "2.17")
    }

    /// A request with nothing added.
    pub fn raw(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// Drops the state store's database under the running server, as an outage would.
    pub async fn lose_state_store(&mut self) {
        if let Some(db) = self._db.take() {
            db.drop_now().await.expect("dropping the test database");
        }
    }

    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            task.await.expect("server task");
        }
    }

    /// Polls a `last_operation` URL until the state is no longer `in progress` (bounded).
    pub async fn wait(&self, last_operation_path: &str) -> (u16, Value) {
        for _ in 0..500 {
            let (status, body) = send(self.osb(Method::GET, last_operation_path)).await;
            if status != 200 || body["state"] != "in progress" {
                return (status, body);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{last_operation_path} stayed in progress");
    }
}

/// Sends and returns the status and JSON body (`Value::Null` when the body is empty or not JSON),
/// after checking the answer against the broker's OpenAPI document.
pub async fn send(request: RequestBuilder) -> (u16, Value) {
    let (client, request) = request.build_split();
    let request = request.expect("request builds");
    let (method, path) = (request.method().clone(), request.url().path().to_string());
    let response = client.execute(request).await.expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    documented::check(&method, &path, status, &headers, &bytes);
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

pub async fn body(response: Response) -> Value {
    let bytes = response.bytes().await.expect("body");
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// Every error body is `{"error"?: string, "description": string}` and nothing else.
pub fn assert_error_body(body: &Value) {
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not an object: {body}"));
    assert!(
        object.get("description").is_some_and(Value::is_string),
        "no description: {body}"
    );
    for key in object.keys() {
        assert!(
            key == "error" || key == "description",
            "unexpected key {key}: {body}"
        );
    }
    if let Some(code) = object.get("error") {
        assert!(code.is_string(), "{body}");
    }
}

pub fn provision_body(service: &str, plan: &str) -> Value {
    json!({
        "service_id": service,
        "plan_id": plan,
        "organization_guid": "org-1",
        "space_guid": "space-1",
        "context": {"platform": "cloudfoundry", "organization_guid": "org-1", "space_guid": "space-1"},
        "parameters": {}
    })
}

pub fn instance_path(id: &str) -> String {
    format!("/v2/service_instances/{id}")
}

pub fn binding_path(instance: &str, binding: &str) -> String {
    format!("/v2/service_instances/{instance}/service_bindings/{binding}")
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

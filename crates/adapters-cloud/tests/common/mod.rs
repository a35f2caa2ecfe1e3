//! Helpers for the shared-server backend tests: a backend on the local PostgreSQL server whose
//! names all start with a tag unique to the test, requests built by hand, and a guard that drops
//! every database and role with the tag when the test ends, also when it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod snapshot;

use std::str::FromStr;

use pgbroker_adapters_cloud::{SharedServerBackend, SharedSettings};
use pgbroker_domain::ports::{Backend, BindRequest, InstanceRequest, Step, UnbindRequest};
use pgbroker_domain::{
    BindingId, BindingSpec, Credentials, InstanceId, InstanceSpec, OperationId, Plan, PlanId,
    Sensitive, ServiceId,
};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

pub const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct Fixture {
    /// Prefix of every name this test makes, e.g. `pgbt1a2b3c4d`.
    pub tag: String,
    pub backend: SharedServerBackend,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with(json!({}))
    }

    /// `extra` is merged into the settings (e.g. `{"deprovision": "retain"}`).
    pub fn with(extra: Value) -> Self {
        let tag = format!("pgbt{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let mut settings = json!({
            "servers": [{"name": "local", "admin_url": admin_url(), "max_databases": 100000}],
            "names": {
                "database": format!("{tag}_{{instance}}"),
                "owner_role": format!("{tag}_{{instance}}_owner"),
                "binding_role": format!("{tag}_{{instance}}_{{binding}}"),
            },
        });
        if let (Value::Object(s), Value::Object(e)) = (&mut settings, extra) {
            s.extend(e);
        }
        Self::from_settings(tag, settings)
    }

    pub fn from_settings(tag: String, settings: Value) -> Self {
        let settings: SharedSettings = serde_json::from_value(settings).unwrap();
        let backend = SharedServerBackend::new("shared", settings).unwrap();
        Self { tag, backend }
    }

    pub fn instance_id(&self) -> InstanceId {
        InstanceId::parse(uuid::Uuid::new_v4().to_string()).unwrap()
    }

    pub async fn provision(&self, req: &InstanceRequest) {
        match self.backend.provision(req).await {
            Step::Done(_) => {}
            other => panic!("provision: {other:?}"),
        }
    }

    pub async fn bind(&self, req: &BindRequest) -> Credentials {
        match self.backend.bind(req).await {
            Step::Done(c) => c,
            other => panic!("bind: {other:?}"),
        }
    }

    pub async fn unbind(&self, req: &UnbindRequest) {
        match self.backend.unbind(req).await {
            Step::Done(()) => {}
            other => panic!("unbind: {other:?}"),
        }
    }

    pub async fn deprovision(&self, req: &InstanceRequest) {
        match self.backend.deprovision(req).await {
            Step::Done(()) => {}
            other => panic!("deprovision: {other:?}"),
        }
    }

    /// Databases and roles whose names start with the tag.
    pub async fn leftovers(&self) -> (Vec<String>, Vec<String>) {
        let mut admin = admin().await;
        let pattern = format!("{}%", self.tag);
        let dbs = sqlx::query_scalar(
            "SELECT datname::text FROM pg_database WHERE datname LIKE $1 ORDER BY 1",
        )
        .bind(&pattern)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        let roles = sqlx::query_scalar(
            "SELECT rolname::text FROM pg_roles WHERE rolname LIKE $1 ORDER BY 1",
        )
        .bind(&pattern)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        (dbs, roles)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Roles are cluster-wide: clean up even when the test failed.
        pgbroker_testkit::pg_tagged::drop_tagged_blocking(&self.tag);
    }
}

pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| ADMIN_URL.to_string())
}

pub async fn admin() -> PgConnection {
    PgConnectOptions::from_str(&admin_url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A connection to `database` on the test server as the admin.
pub async fn admin_in(database: &str) -> PgConnection {
    PgConnectOptions::from_str(&admin_url())
        .unwrap()
        .database(database)
        .connect()
        .await
        .unwrap()
}

pub fn plan(settings: Value) -> Plan {
    Plan {
        id: PlanId::parse("8918ebda-7ee3-4766-bb57-9e658fcd9689").unwrap(),
        name: "shared-small".to_string(),
        description: "test plan".to_string(),
        free: true,
        bindable: true,
        plan_updateable: false,
        metadata: None,
        maintenance_info: None,
        maximum_polling_duration: None,
        backend: "shared".to_string(),
        settings: settings.as_object().cloned().unwrap_or_default(),
        schemas: Default::default(),
    }
}

pub fn small_plan() -> Plan {
    plan(json!({"connection_limit": 20, "statement_timeout": "30s"}))
}

fn spec(parameters: Value) -> InstanceSpec {
    InstanceSpec {
        service_id: ServiceId::parse("f3f7eb7c-f181-44e2-8a8e-95fc51e94990").unwrap(),
        plan_id: PlanId::parse("8918ebda-7ee3-4766-bb57-9e658fcd9689").unwrap(),
        parameters: parameters.as_object().cloned().unwrap_or_default(),
        context: Default::default(),
        organization_guid: None,
        space_guid: None,
        maintenance_version: None,
    }
}

pub fn instance_req(id: &InstanceId, parameters: Value) -> InstanceRequest {
    InstanceRequest {
        operation_id: OperationId::new(),
        instance_id: id.clone(),
        spec: spec(parameters),
        plan: small_plan(),
        previous: None,
        deletion_policy: pgbroker_domain::DeletionPolicy::Delete,
    }
}

pub fn bind_req(id: &InstanceId, binding: &str, parameters: Value) -> BindRequest {
    let s = spec(json!({}));
    BindRequest {
        operation_id: OperationId::new(),
        instance_id: id.clone(),
        binding_id: BindingId::parse(binding).unwrap(),
        binding: BindingSpec {
            service_id: s.service_id.clone(),
            plan_id: s.plan_id.clone(),
            parameters: parameters.as_object().cloned().unwrap_or_default(),
            context: Default::default(),
            bind_resource: Default::default(),
        },
        instance: s,
        plan: small_plan(),
        password: Sensitive::new(format!("pw{}", uuid::Uuid::new_v4().simple())),
        reset: false,
    }
}

pub fn unbind_req(bind: &BindRequest) -> UnbindRequest {
    UnbindRequest {
        operation_id: OperationId::new(),
        instance_id: bind.instance_id.clone(),
        binding_id: bind.binding_id.clone(),
        instance: bind.instance.clone(),
        plan: bind.plan.clone(),
        deletion_policy: pgbroker_domain::DeletionPolicy::Delete,
    }
}

pub fn field(creds: &Credentials, key: &str) -> String {
    match creds.expose().get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => panic!("credentials have no {key}"),
    }
}

/// Connects with a binding's `uri`.
pub async fn connect(creds: &Credentials) -> Result<PgConnection, sqlx::Error> {
    PgConnection::connect(&field(creds, "uri")).await
}

/// Connects with a binding's user and password to another database.
pub async fn connect_to(creds: &Credentials, database: &str) -> Result<PgConnection, sqlx::Error> {
    PgConnectOptions::from_str(&field(creds, "uri"))?
        .database(database)
        .connect()
        .await
}

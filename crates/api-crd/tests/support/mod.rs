//! A test API server serving the committed `deploy/crds/`, and objects to write to it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, Status};
use kube::{Resource, ResourceExt};
use pgbroker_api_crd::{PostgreSQLDatabase, PostgreSQLServer};
use pgbroker_kube_testserver::{TestServer, TestServerOptions, crds};
use serde_json::{Value, json};

pub const NS: &str = "default";

/// A test server with only pgbroker's committed CRDs (fast to start; the default options load
/// them too, beside CNPG's).
pub async fn server() -> TestServer {
    TestServer::start(TestServerOptions {
        crd_dirs: vec![crds::pgbroker_crd_dir()],
        simulator: pgbroker_kube_testserver::SimulatorOptions {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("test server starts with deploy/crds")
}

/// Untyped access, to send what the Rust types cannot express (missing or unknown fields).
pub fn dynamic<K: Resource<DynamicType = ()>>(server: &TestServer) -> Api<DynamicObject> {
    Api::namespaced_with(server.client(), NS, &ApiResource::erase::<K>(&()))
}

pub fn servers(server: &TestServer) -> Api<DynamicObject> {
    dynamic::<PostgreSQLServer>(server)
}

pub fn databases(server: &TestServer) -> Api<DynamicObject> {
    dynamic::<PostgreSQLDatabase>(server)
}

pub fn object(kind: &str, name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "pgbroker.io/v1alpha1",
        "kind": kind,
        "metadata": { "name": name },
        "spec": spec,
    }))
    .unwrap()
}

pub fn server_object(name: &str, spec: Value) -> DynamicObject {
    object("PostgreSQLServer", name, spec)
}

pub fn database_object(name: &str, spec: Value) -> DynamicObject {
    object("PostgreSQLDatabase", name, spec)
}

/// The smallest valid server spec.
pub fn minimal_server_spec() -> Value {
    json!({ "size": { "storageGB": 10 }, "credentialsSecret": "app-pg" })
}

/// A server spec using every field.
pub fn full_server_spec() -> Value {
    json!({
        "backend": "shared",
        "version": "16",
        "size": { "class": "small", "cpu": 2, "memoryMB": 4096, "storageGB": 32, "storageAutoGrow": true },
        "backup": { "retentionDays": 7, "geoRedundant": false },
        "extensions": ["pg_stat_statements", "pgcrypto"],
        "network": { "firewallRules": [
            { "name": "office", "startIp": "10.0.0.1", "endIp": "10.0.0.255" },
            { "name": "one", "startIp": "192.168.1.7", "endIp": "192.168.1.7" },
            { "name": "wide", "startIp": "1.255.255.255", "endIp": "2.0.0.0" },
        ] },
        "serverParameters": { "work_mem": "8MB", "max_connections": "200" },
        "maintenance": { "window": { "weekday": "Wed", "starttime": "03:00" } },
        "highavailability": { "enabled": true },
        "credentialsSecret": "teamfoo-postgres-credentials",
    })
}

pub fn database_spec(server: &str) -> Value {
    json!({
        "serverRef": { "name": server },
        "database": { "charset": "UTF8", "collation": "en_US.UTF-8", "extensions": ["pgcrypto"] },
        "credentialsSecret": "fooservice-postgres-credentials",
    })
}

/// Creates `obj` and expects a 422 Invalid, returned for its message.
pub async fn create_rejected(api: &Api<DynamicObject>, obj: &DynamicObject) -> Status {
    match api.create(&PostParams::default(), obj).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(
                (status.code, status.reason.as_str()),
                (422, "Invalid"),
                "{status:?}"
            );
            *status
        }
        other => panic!("expected 422 for {}, got {other:?}", obj.name_any()),
    }
}

/// Applies `spec` to the object `name` (server-side apply, manager `test`).
pub async fn apply(
    api: &Api<DynamicObject>,
    obj: &DynamicObject,
) -> Result<DynamicObject, kube::Error> {
    api.patch(
        &obj.name_any(),
        &PatchParams::apply("test"),
        &Patch::Apply(obj),
    )
    .await
}

/// Applies `obj` over the stored one and expects a 422 Invalid.
pub async fn apply_rejected(api: &Api<DynamicObject>, obj: &DynamicObject) -> Status {
    match apply(api, obj).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(
                (status.code, status.reason.as_str()),
                (422, "Invalid"),
                "{status:?}"
            );
            *status
        }
        other => panic!("expected 422 for {}, got {other:?}", obj.name_any()),
    }
}

/// Asserts the 422 names `field` with `fragment` in its detail.
pub fn assert_cause(status: &Status, field: &str, fragment: &str) {
    assert!(
        status.message.contains(&format!("{field}: ")) && status.message.contains(fragment),
        "expected {field} with {fragment:?} in: {}",
        status.message
    );
}

//! Helpers shared by the integration tests: CNPG object APIs, waiting for phases, reading secrets.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod rbac;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::wait::await_condition;
use pgbroker_kube_testserver::{SimulatorOptions, TestServer, TestServerOptions};
use serde_json::{Value, json};

pub fn cnpg(server: &TestServer, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("postgresql.cnpg.io", "v1", kind);
    Api::namespaced_with(server.client(), "default", &ApiResource::from_gvk(&gvk))
}

pub async fn create_cluster(server: &TestServer, name: &str, spec: Value) -> DynamicObject {
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": { "name": name }, "spec": spec,
    }))
    .unwrap();
    cnpg(server, "Cluster")
        .create(&PostParams::default(), &object)
        .await
        .unwrap()
}

pub fn phase(o: Option<&DynamicObject>) -> Option<String> {
    o.and_then(|o| o.data.pointer("/status/phase"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

pub async fn wait_phase(server: &TestServer, name: &str, wanted: &str) -> DynamicObject {
    let wanted = wanted.to_owned();
    await_condition(
        cnpg(server, "Cluster"),
        name,
        move |o: Option<&DynamicObject>| phase(o).as_deref() == Some(&wanted),
    )
    .await
    .unwrap()
    .unwrap()
}

pub fn text(secret: &Secret, key: &str) -> String {
    String::from_utf8(secret.data.as_ref().unwrap()[key].0.clone()).unwrap()
}

pub async fn create(server: &TestServer, kind: &str, name: &str, spec: Value) {
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": kind, "metadata": { "name": name }, "spec": spec,
    }))
    .unwrap();
    cnpg(server, kind)
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
}

pub fn applied(o: Option<&DynamicObject>) -> Option<bool> {
    o.and_then(|o| o.data.pointer("/status/applied"))
        .and_then(Value::as_bool)
}

pub fn backup_phase(o: Option<&DynamicObject>) -> Option<String> {
    o.and_then(|o| o.data.pointer("/status/phase"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

pub fn api(server: &TestServer, group: &str, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, "v1", kind);
    Api::namespaced_with(server.client(), "default", &ApiResource::from_gvk(&gvk))
}

pub fn cluster(spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": { "name": "pg" }, "spec": spec,
    }))
    .unwrap()
}

pub async fn server_without_simulator() -> TestServer {
    let options = TestServerOptions {
        simulator: SimulatorOptions {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    };
    TestServer::start(options).await.unwrap()
}

pub async fn rejected(api: &Api<DynamicObject>, object: &DynamicObject) -> kube::core::Status {
    match api.create(&PostParams::default(), object).await {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected 422, got {other:?}"),
    }
}

/// A raw HTTP/1.1 request to the server (what `kube::Client` would not send, e.g. a wrong patch
/// type); answers the status code and the JSON body.
pub async fn raw(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let code = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    (code, serde_json::from_str(body).unwrap())
}

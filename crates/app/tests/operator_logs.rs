//! The operator door's lifecycle through the `pgbroker serve` binary (JSON logs, both doors on,
//! the shared backend on the local PostgreSQL, the Kubernetes API test server by kubeconfig):
//! a PostgreSQLServer and a PostgreSQLDatabase made Ready, the database's password reset, both
//! deleted; every log line is captured, and none holds a password the Secrets carried (before
//! or after the reset) or a private key; the audit trail names the operator door and the
//! Kubernetes user who asked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::pgbroker;
use common::shared_server::Cleanup;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use pgbroker_kube_testserver::TestServer;
use serde_json::{Value, json};

const NS: &str = "default";
/// Written by deploy/components/requested-by's MutatingAdmissionPolicy on a real API server;
/// the test server runs no admission policies, so the test writes it as the policy would.
const REQUESTED_BY: &str = pgbroker_api_crd::controller::REQUESTED_BY;

fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("pgbroker.io", "v1alpha1", kind))
}

fn secret_text(secret: &Secret, key: &str) -> String {
    let bytes = &secret.data.as_ref().unwrap()[key].0;
    String::from_utf8(bytes.clone()).unwrap()
}

async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..600 {
        if let Some(found) = probe().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: never happened");
}

fn ready(obj: &DynamicObject) -> bool {
    obj.data["status"]["phase"] == "Ready"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_door_logs_no_secret_and_audits_its_operations() {
    let kube = TestServer::start_default().await.unwrap();
    let home = common::TempDir::new();
    let tag = format!("oplg{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let _cleanup = Cleanup(tag.clone());
    let kubeconfig = home.file("kubeconfig", &common::kube::kubeconfig(&kube));
    let config = home.file(
        "pgbroker.yaml",
        &format!(
            "state_store: {{url: 'sqlite://{db}?mode=rwc'}}\n\
             server: {{listen: '127.0.0.1:0'}}\n\
             log: {{format: json, filter: info}}\n\
             auth: {{basic: [{{username: cf, password: {{env: TEST_BROKER_PASSWORD}}}}]}}\n\
             operator: {{enabled: true, namespaces: [{NS}], allowed_backends: [shared], default_backend: shared, lease_namespace: {NS}, kubeconfig: '{kubeconfig}'}}\n\
             backends:\n  cnpg: {{kind: cloudnative-pg}}\n  shared:\n    kind: shared-postgres\n    settings:\n\
             \x20     servers: [{{name: local, admin_url: 'postgres://postgres@127.0.0.1:5432/postgres', client_sslmode: disable}}]\n\
             \x20     names: {{database: '{tag}_{{instance}}', owner_role: '{tag}_{{instance}}_owner', binding_role: '{tag}_{{instance}}_{{binding}}'}}\n",
            db = home.path().join("state.db").display(),
            kubeconfig = kubeconfig.display(),
        ),
    );
    let child = common::logged::Logged::spawn(
        pgbroker(&["serve", "--config", config.to_str().unwrap()])
            .current_dir(home.path())
            .env("HOME", home.path())
            .env("TEST_BROKER_PASSWORD", "operator-logs-broker-password")
            .env_remove("KUBERNETES_SERVICE_HOST"),
    );
    let client = kube.client();
    let servers: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NS, &resource("PostgreSQLServer"));
    let databases: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NS, &resource("PostgreSQLDatabase"));
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let apply = PatchParams::apply("test").force();
    let server = json!({"apiVersion": "pgbroker.io/v1alpha1", "kind": "PostgreSQLServer",
        "metadata": {"name": "main", "annotations": {REQUESTED_BY: "alice"}},
        "spec": {"size": {"class": "shared-small", "storageGB": 1}, "credentialsSecret": "main-pg"}});
    servers
        .patch("main", &apply, &Patch::Apply(&server))
        .await
        .unwrap();
    let database = json!({"apiVersion": "pgbroker.io/v1alpha1", "kind": "PostgreSQLDatabase",
        "metadata": {"name": "orders", "annotations": {REQUESTED_BY: "bob"}},
        "spec": {"serverRef": {"name": "main"}, "credentialsSecret": "orders-pg"}});
    databases
        .patch("orders", &apply, &Patch::Apply(&database))
        .await
        .unwrap();
    eventually("the database is Ready", || async {
        databases.get("orders").await.ok().filter(ready)
    })
    .await;
    let mut passwords = Vec::new();
    for name in ["main-pg", "orders-pg"] {
        let secret = secrets.get(name).await.unwrap();
        passwords.push(secret_text(&secret, "password"));
    }
    // A password reset: a new password lands in the Secret.
    let label = json!({"metadata": {"labels": {"operator/action": "reset-password"}}});
    databases
        .patch("orders", &PatchParams::default(), &Patch::Merge(&label))
        .await
        .unwrap();
    let old = passwords[1].clone();
    let fresh = eventually("the database's password is reset", || async {
        let secret = secrets.get("orders-pg").await.ok()?;
        let password = secret_text(&secret, "password");
        (password != old).then_some(password)
    })
    .await;
    passwords.push(fresh);
    // Delete both; the finalizers let go once the backend is done.
    for api in [&databases, &servers] {
        let name = if std::ptr::eq(api, &databases) {
            "orders"
        } else {
            "main"
        };
        api.delete(name, &DeleteParams::default()).await.unwrap();
        eventually("the object is gone", || async {
            api.get_opt(name).await.unwrap().is_none().then_some(())
        })
        .await;
    }

    let (exit, lines) = child.terminate();
    let log = lines.join("\n");
    assert!(exit.success(), "exit {exit:?}\n{log}");
    assert!(passwords.iter().all(|p| p.len() >= 16), "{passwords:?}");
    for secret in passwords
        .iter()
        .map(String::as_str)
        .chain(["operator-logs-broker-password", "PRIVATE KEY"])
    {
        assert!(!log.contains(secret), "a log line holds a secret:\n{log}");
    }
    // The audit trail: the operator door's operations, started and ended.
    let audit: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "pgbroker::audit")
        .collect();
    // Who asked: the user the requested-by annotation names for what the object says (the
    // server's own login is bound for the server's user); nobody for deletions, which no
    // admission policy can write into the object.
    for (operation, event, user) in [
        ("provision", "operation_started", json!("alice")),
        ("provision", "operation_ended", json!("alice")),
        ("bind", "operation_ended", json!("alice")),
        ("bind", "operation_ended", json!("bob")),
        ("unbind", "operation_ended", Value::Null),
        ("deprovision", "operation_ended", Value::Null),
    ] {
        assert!(
            audit.iter().any(|r| r["fields"]["operation"] == operation
                && r["fields"]["audit"] == event
                && r["fields"]["actor"] == "operator"
                && r["fields"]["user"] == user
                && (user.is_null() || r["fields"]["platform"] == "kubernetes")),
            "no {event} record of {operation} by the operator for {user}:\n{log}"
        );
    }
}

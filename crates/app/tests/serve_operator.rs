//! `pgbroker serve` with the operator door: the server connects to a Kubernetes API (the test
//! server, through a kubeconfig as in production), wins the leader Lease, and turns a
//! PostgreSQLServer on the shared backend into a Ready object whose Secret connects, with an
//! Event for each transition and its reconciles in `/metrics`; `/readyz` reports the operator
//! (not ready until the leader's watches have listed; a standby replica is ready); with
//! `osb.enabled: false` the OSB routes are gone and no credentials are needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TempDir;
use common::shared_server::{Cleanup, can_connect};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, PostParams};
use pgbroker_adapters_cloud::{SharedServerBackend, SharedSettings};
use pgbroker_api_crd::crd::server::PostgreSQLServer;
use pgbroker_app::config::Config;
use pgbroker_app::serve;
use pgbroker_app::store_url::StoreUrl;
use pgbroker_domain::ports::BackendRegistry;
use pgbroker_kube_testserver::{FaultRule, TestServer};
use pgbroker_testkit::pg_database::TestDatabase;
use serde_json::json;

fn kubeconfig(server: &TestServer) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters: [{{name: test, cluster: {{server: '{url}'}}}}]
users: [{{name: test, user: {{}}}}]
contexts: [{{name: test, context: {{cluster: test, user: test, namespace: default}}}}]
current-context: test
",
        url = server.url()
    )
}

/// Failure guard only: how long the test waits for the object before giving up.
const GIVE_UP: Duration = Duration::from_secs(60);

/// The `operator` check of `/readyz`.
async fn operator_check(http: &reqwest::Client, base: &str) -> serde_json::Value {
    let readyz: serde_json::Value = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    readyz["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "operator")
        .cloned()
        .unwrap_or_else(|| panic!("no operator check: {readyz}"))
}

/// Polls the operator check until `done` holds.
async fn operator_check_until(
    http: &reqwest::Client,
    base: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    tokio::time::timeout(GIVE_UP, async {
        loop {
            let check = operator_check(http, base).await;
            if done(&check) {
                return check;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the operator check reached the state waited for")
}

/// The value of the sample `name{labels}` in a Prometheus text body.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_operator_and_a_server_becomes_ready() {
    let kube = TestServer::start_default().await.unwrap();
    kube.create_namespace("team-a").unwrap();
    let dir = TempDir::new();
    let kubeconfig = dir.file("kubeconfig", &kubeconfig(&kube));
    let db = TestDatabase::create().await.unwrap();
    let tag = format!("opst{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let _cleanup = Cleanup(tag.clone());
    let settings: SharedSettings = serde_json::from_value(json!({
        "servers": [{"name": "local", "admin_url": "postgres://postgres@127.0.0.1:5432/postgres",
                     "client_sslmode": "disable"}],
        "names": {
            "database": format!("{tag}_{{instance}}"),
            "owner_role": format!("{tag}_{{instance}}_owner"),
            "binding_role": format!("{tag}_{{instance}}_{{binding}}"),
        },
    }))
    .unwrap();
    let backends = BackendRegistry::new().with(
        "shared",
        Arc::new(SharedServerBackend::new("shared", settings).unwrap()),
    );
    let mut config = Config::default();
    config.state_store.url = StoreUrl::new(db.url());
    config.server.listen = "127.0.0.1:0".into();
    config.engine.poll_interval_ms = 10;
    config.osb.enabled = false;
    config.operator.enabled = true;
    config.operator.kubeconfig = Some(kubeconfig);
    config.operator.default_backend = Some("shared".into());
    config.operator.lease_namespace = Some("default".into());
    let catalog = dir.file(
        "catalog.yaml",
        "services:
  - id: svc-shared
    name: shared
    description: shared server databases
    bindable: true
    plans:
      - {id: plan-shared-small, name: small, description: a database, backend: shared}
",
    );
    config.catalog.path = Some(catalog);
    // The leader's first list of servers fails until the faults are cleared: meanwhile the
    // replica is not ready.
    kube.faults().inject(
        FaultRule::status(500)
            .verb("list")
            .resource("postgresqlservers")
            .times(100_000),
    );
    let server = serve::start(&config, Some(backends.clone())).await.unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let waiting = operator_check_until(&http, &base, |c| c["ok"] == json!(false)).await;
    assert!(
        waiting["error"]
            .as_str()
            .unwrap()
            .contains("the watch of PostgreSQLServer objects in all namespaces"),
        "{waiting}"
    );
    kube.faults().clear();
    operator_check_until(&http, &base, |c| c["ok"] == json!(true)).await;

    // No OSB routes, and no credentials needed for what is left.
    let catalog = http.get(format!("{base}/v2/catalog")).send().await.unwrap();
    assert_eq!(catalog.status(), 404);

    let servers: Api<PostgreSQLServer> = Api::namespaced(kube.client(), "team-a");
    let object: PostgreSQLServer = serde_json::from_value(json!({
        "apiVersion": "pgbroker.io/v1alpha1", "kind": "PostgreSQLServer",
        "metadata": {"name": "orders", "namespace": "team-a"},
        "spec": {"size": {"class": "small", "storageGB": 1}, "credentialsSecret": "orders-db"}
    }))
    .unwrap();
    servers
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
    let ready = tokio::time::timeout(GIVE_UP, async {
        loop {
            let now = servers.get("orders").await.unwrap();
            let ready = now
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
                .is_some_and(|c| c.status == "True");
            if ready {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the PostgreSQLServer became Ready");
    assert_eq!(
        ready.status.as_ref().and_then(|s| s.backend.as_deref()),
        Some("shared")
    );

    let secrets: Api<Secret> = Api::namespaced(kube.client(), "team-a");
    let secret = secrets.get("orders-db").await.unwrap();
    let data = secret.data.unwrap();
    let uri = String::from_utf8(data["uri"].0.clone()).unwrap();
    assert!(can_connect(&uri).await, "the Secret's uri connects");

    let leases: Api<Lease> = Api::namespaced(kube.client(), "default");
    let lease = leases.get("pgbroker-operator").await.unwrap();
    let holder = lease
        .spec
        .and_then(|s| s.holder_identity)
        .expect("this replica holds the leader Lease");
    assert_eq!(operator_check(&http, &base).await["ok"], json!(true));

    // Each transition has its Event, from this replica.
    let events: Api<Event> = Api::namespaced(kube.client(), "team-a");
    let events = events.list(&ListParams::default()).await.unwrap().items;
    let ready = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("Ready"))
        .expect("a Ready event");
    assert_eq!(ready.type_.as_deref(), Some("Normal"));
    assert_eq!(ready.reporting_instance.as_deref(), Some(holder.as_str()));
    assert_eq!(
        ready.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("orders")
    );

    // The reconciles are in /metrics.
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "pgbroker_operator_reconciles_total{kind=\"server\"}",
        "pgbroker_operator_reconcile_duration_seconds_count{kind=\"server\"}",
    ] {
        assert!(
            sample(&metrics, series).is_some_and(|v| v >= 1.0),
            "{series} in {metrics}"
        );
    }

    // A second replica does not lead: it runs no controller and is ready.
    let standby = serve::start(&config, Some(backends)).await.unwrap();
    let standby_base = format!("http://{}", standby.addr);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        operator_check(&http, &standby_base).await["ok"],
        json!(true)
    );
    let still = leases.get("pgbroker-operator").await.unwrap();
    assert_eq!(
        still.spec.and_then(|s| s.holder_identity),
        Some(holder.clone())
    );
    standby.shutdown().await.unwrap();

    // Deleting the object deprovisions: the finalizer holds it until the backend is done.
    servers.delete("orders", &Default::default()).await.unwrap();
    tokio::time::timeout(GIVE_UP, async {
        while servers.get_opt("orders").await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the PostgreSQLServer went away");
    assert!(!can_connect(&uri).await, "deprovisioned: the login is gone");

    server.shutdown().await.unwrap();
    let lease = leases.get("pgbroker-operator").await.unwrap();
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity),
        None,
        "a graceful stop hands the Lease back"
    );
}

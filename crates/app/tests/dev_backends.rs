//! `pgbroker dev` offers only the services whose backends work where it runs: without a
//! Kubernetes configuration only the shared-server service (and `/readyz` is 200); with a
//! kubeconfig for an API server that answers, the CloudNativePG services too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::OsStr;
use std::time::Duration;

use common::TempDir;
use common::dev::Dev;
use pgbroker_kube_testserver::TestServer;
use serde_json::{Value, json};

/// `postgresql-dev-db` and its `dev-small` plan in the default catalog (backend `cnpg`).
const DEV_DB_SERVICE: &str = "79f7fb16-c95d-4210-8930-1c758648327e";
const DEV_SMALL: &str = "22cedd15-900f-4625-9f10-a57f43c64585";
/// The local server instead of a throwaway one: these tests are about the catalog, not initdb.
const LOCAL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

struct Client {
    http: reqwest::Client,
    base: String,
    password: String,
}

impl Client {
    fn of(dev: &Dev) -> Self {
        let password = dev
            .value("OSB credentials:")
            .strip_prefix("username dev, password ")
            .unwrap()
            .to_string();
        Self {
            http: reqwest::Client::new(),
            base: dev.base(),
            password,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth("dev", Some(&self.password))
            .header("X-Broker-API-Version", "2.17");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn service_names(&self) -> Vec<String> {
        let (status, catalog) = self.send(reqwest::Method::GET, "/v2/catalog", None).await;
        assert_eq!(status, 200, "{catalog}");
        catalog["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    }

    async fn readyz(&self) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

#[tokio::test]
async fn without_kubernetes_only_the_shared_service_is_offered_and_dev_is_ready() {
    let dir = TempDir::new();
    let dev = Dev::start_with(dir.path(), &["--postgres-url", LOCAL], &[]);
    assert_eq!(dev.value("Services:"), "postgresql-shared (backend shared)");
    let left_out = dev.value("Left out:");
    assert!(
        left_out.starts_with(
            "postgresql-dev-db, postgresql-ha-cluster: backend cnpg: no Kubernetes configuration found (KUBECONFIG "
        ),
        "{left_out}"
    );
    assert!(
        left_out.contains("KUBERNETES_SERVICE_HOST not set"),
        "{left_out}"
    );

    let client = Client::of(&dev);
    assert_eq!(client.service_names().await, ["postgresql-shared"]);
    let (status, ready) = client.readyz().await;
    assert_eq!(status, 200, "{ready}");
    let checks: Vec<&str> = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(checks, ["state_store", "backend:shared"]);

    // A plan of a left-out service is refused at once, not retried.
    let (status, body) = client
        .send(
            reqwest::Method::PUT,
            "/v2/service_instances/never-made?accepts_incomplete=true",
            Some(json!({"service_id": DEV_DB_SERVICE, "plan_id": DEV_SMALL,
                        "organization_guid": "org-1", "space_guid": "space-1"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["description"],
        format!("service_id {DEV_DB_SERVICE} is not in the catalog")
    );
}

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

// Several threads: the test server answers the child's probe while a blocking thread reads
// the banner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_kubernetes_api_that_answers_the_cloudnative_pg_services_are_offered() {
    let server = TestServer::start_default().await.unwrap();
    let dir = TempDir::new();
    let config = dir.file("kubeconfig", &kubeconfig(&server));
    let cwd = dir.path().to_path_buf();
    let dev = tokio::task::spawn_blocking(move || {
        Dev::start_with(
            &cwd,
            &["--postgres-url", LOCAL],
            &[("KUBECONFIG", OsStr::new(&config))],
        )
    })
    .await
    .unwrap();
    assert_eq!(
        dev.value("Services:"),
        "postgresql-dev-db (backend cnpg), postgresql-ha-cluster (backend cnpg), postgresql-shared (backend shared)"
    );
    assert_eq!(dev.value("Left out:"), "none");
    let client = Client::of(&dev);
    assert_eq!(
        client.service_names().await,
        [
            "postgresql-dev-db",
            "postgresql-ha-cluster",
            "postgresql-shared"
        ]
    );
    let (status, ready) = client.readyz().await;
    assert_eq!(status, 200, "{ready}");
    assert!(
        ready["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "backend:cnpg" && c["ok"] == true),
        "{ready}"
    );

    // dev-small is provisioned on that API server.
    let id = uuid::Uuid::new_v4().to_string();
    let (status, body) = client
        .send(
            reqwest::Method::PUT,
            &format!("/v2/service_instances/{id}?accepts_incomplete=true"),
            Some(json!({"service_id": DEV_DB_SERVICE, "plan_id": DEV_SMALL,
                        "organization_guid": "org-1", "space_guid": "space-1"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let mut clusters = Vec::new();
    for _ in 0..200 {
        clusters = server.objects("clusters");
        if !clusters.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(clusters.len(), 1, "no Cluster was applied");
    let name = clusters[0]["metadata"]["name"].as_str().unwrap();
    assert!(name.ends_with(&id), "{name}");
}

#[tokio::test]
async fn a_kubeconfig_whose_api_server_does_not_answer_leaves_cloudnative_pg_out() {
    let dir = TempDir::new();
    // Nothing listens on port 1.
    let config = dir.file(
        "kubeconfig",
        "apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: 'http://127.0.0.1:1'}}]
users: [{name: gone, user: {}}]
contexts: [{name: gone, context: {cluster: gone, user: gone}}]
current-context: gone
",
    );
    let dev = Dev::start_with(
        dir.path(),
        &["--postgres-url", LOCAL],
        &[("KUBECONFIG", OsStr::new(&config))],
    );
    let left_out = dev.value("Left out:");
    assert!(
        left_out
            .starts_with("postgresql-dev-db, postgresql-ha-cluster: backend cnpg: not usable: "),
        "{left_out}"
    );
    let client = Client::of(&dev);
    assert_eq!(client.service_names().await, ["postgresql-shared"]);
    assert_eq!(client.readyz().await.0, 200);
}

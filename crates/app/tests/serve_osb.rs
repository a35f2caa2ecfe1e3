//! `pgbroker serve`: the real server, started in-process through `serve::start` with test
//! backends over a PostgreSQL state store, driven over HTTP through a whole lifecycle; and the
//! binary's refusal to start without credentials.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::osb_client::OsbClient;
use common::{TempDir, pgbroker, run};
use pgbroker_app::config::{BasicAuthConfig, Config};
use pgbroker_app::secret_value::SecretValue;
use pgbroker_app::serve;
use pgbroker_app::store_url::StoreUrl;
use pgbroker_domain::ports::BackendRegistry;
use pgbroker_domain::{OperationKind, Reason};
use pgbroker_testkit::backend::{Scripted, TestBackend};
use pgbroker_testkit::pg_database::TestDatabase;
use serde_json::{Value, json};

const CATALOG: &str = r#"
services:
  - id: svc-1
    name: postgresql
    description: test service
    plan_updateable: true
    plans:
      - id: plan-sync
        name: small
        description: finishes within the request
        backend: sync
        schemas:
          instance_create:
            type: object
            additionalProperties: false
            properties: {postgres_version: {type: integer}}
      - id: plan-async
        name: big
        description: finishes later
        backend: async
"#;

fn config(dir: &TempDir, db: &TestDatabase) -> Config {
    let mut config = Config::default();
    config.state_store.url = StoreUrl::new(db.url());
    config.catalog.path = Some(dir.file("catalog.yaml", CATALOG));
    config.server.listen = "127.0.0.1:0".into();
    config.engine.poll_interval_ms = 10;
    config.auth.basic = vec![BasicAuthConfig {
        username: "cf".into(),
        password: SecretValue::Inline("a-long-test-password".into()),
    }];
    config
}

fn backends() -> BackendRegistry {
    BackendRegistry::new()
        .with("sync", Arc::new(TestBackend::synchronous()))
        .with("async", Arc::new(TestBackend::asynchronous()))
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    // `url` is whole: the client's base is empty.
    let osb = OsbClient {
        http: client.clone(),
        base: String::new(),
        username: "cf".into(),
        password: "a-long-test-password".into(),
    };
    osb.call(method, &url, body).await
}

#[tokio::test]
async fn serves_a_whole_lifecycle_and_reports_metrics() {
    let dir = TempDir::new();
    let db = TestDatabase::create().await.unwrap();
    let server = serve::start(&config(&dir, &db), Some(backends()))
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    use reqwest::Method as M;

    let (status, catalog) = call(&client, M::GET, format!("{base}/v2/catalog"), None).await;
    assert_eq!(status, 200);
    assert_eq!(catalog["services"][0]["plans"][0]["id"], "plan-sync");

    let instance = format!("{base}/v2/service_instances/inst-1");
    let provision = json!({"service_id": "svc-1", "plan_id": "plan-sync",
                           "organization_guid": "org-1", "space_guid": "space-1",
                           "context": {"platform": "kubernetes", "namespace": "team-a"},
                           "parameters": {"postgres_version": 17}});
    let (status, body) = call(&client, M::PUT, instance.clone(), Some(provision)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(&client, M::GET, instance.clone(), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["context"]["namespace"], "team-a");

    let binding = format!("{instance}/service_bindings/bind-1");
    let (status, body) = call(
        &client,
        M::PUT,
        binding.clone(),
        Some(json!({"service_id": "svc-1", "plan_id": "plan-sync"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["credentials"]["password"].as_str().unwrap().len() >= 32);
    let (status, _) = call(&client, M::GET, binding.clone(), None).await;
    assert_eq!(status, 200);
    let (status, body) = call(
        &client,
        M::DELETE,
        format!("{binding}?service_id=svc-1&plan_id=plan-sync"),
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!({})));

    // The asynchronous plan runs on the engine inside the server.
    let other = format!("{base}/v2/service_instances/inst-2");
    let (status, body) = call(
        &client,
        M::PUT,
        format!("{other}?accepts_incomplete=true"),
        Some(json!({"service_id": "svc-1", "plan_id": "plan-async",
                    "organization_guid": "org-1", "space_guid": "space-1"})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let mut state = Value::Null;
    for _ in 0..500 {
        let (_, body) = call(&client, M::GET, format!("{other}/last_operation"), None).await;
        state = body["state"].clone();
        if state != "in progress" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(state, "succeeded");

    let (status, body) = call(
        &client,
        M::DELETE,
        format!("{instance}?service_id=svc-1&plan_id=plan-sync"),
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!({})));

    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"pgbroker_operations_total{kind="provision",origin="platform",state="succeeded"} 2"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"pgbroker_operations_total{kind="bind",origin="platform",state="in progress"} 1"#
    ));
    assert!(metrics.contains(r#"pgbroker_backend_step_duration_seconds_count{backend="sync",kind="bind",outcome="done"} 1"#));
    assert!(metrics.contains(
        r#"pgbroker_http_requests_total{method="GET",route="/v2/catalog",status="200"} 1"#
    ));
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn failed_operations_and_refused_requests_are_counted_by_reason() {
    let dir = TempDir::new();
    let db = TestDatabase::create().await.unwrap();
    let asynchronous = Arc::new(TestBackend::asynchronous());
    asynchronous.script(
        OperationKind::Provision,
        [Scripted::Fails {
            reason: Reason::QuotaExceeded,
            retryable: false,
        }],
    );
    let backends = BackendRegistry::new()
        .with("sync", Arc::new(TestBackend::synchronous()))
        .with("async", asynchronous);
    let server = serve::start(&config(&dir, &db), Some(backends))
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    use reqwest::Method as M;

    let instance = format!("{base}/v2/service_instances/inst-q");
    let (status, body) = call(
        &client,
        M::PUT,
        format!("{instance}?accepts_incomplete=true"),
        Some(json!({"service_id": "svc-1", "plan_id": "plan-async",
                    "organization_guid": "org-1", "space_guid": "space-1"})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let operation = body["operation"].as_str().unwrap().to_string();
    let mut last = Value::Null;
    for _ in 0..500 {
        let (_, body) = call(
            &client,
            M::GET,
            format!("{instance}/last_operation?operation={operation}"),
            None,
        )
        .await;
        last = body;
        if last["state"] != "in progress" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The OSB body stays as the spec has it: state and description, no reason.
    assert_eq!(last["state"], "failed", "{last}");
    assert_eq!(last.as_object().unwrap().len(), 2, "{last}");
    // A plan the catalog does not have: refused, an invalid spec.
    let (status, _) = call(
        &client,
        M::PUT,
        format!("{base}/v2/service_instances/inst-x"),
        Some(json!({"service_id": "svc-1", "plan_id": "no-such-plan",
                    "organization_guid": "org-1", "space_guid": "space-1"})),
    )
    .await;
    assert_eq!(status, 400);

    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"pgbroker_failures_total{reason="QuotaExceeded",source="operation"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"pgbroker_failures_total{reason="InvalidSpec",source="osb"} 1"#),
        "{metrics}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn dev_mode_lets_requests_in_without_credentials() {
    let dir = TempDir::new();
    let db = TestDatabase::create().await.unwrap();
    let mut config = config(&dir, &db);
    config.auth.basic.clear();
    config.auth.dev_mode = true;
    let server = serve::start(&config, Some(backends())).await.unwrap();
    let response = reqwest::Client::new()
        .get(format!("http://{}/v2/catalog", server.addr))
        .header("X-Broker-API-Version", "2.17")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.shutdown().await.unwrap();
}

#[test]
fn serve_refuses_to_start_without_credentials() {
    let out = run(pgbroker(&["serve"]).env("PGBROKER_STATE_STORE__URL", "sqlite::memory:"));
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("refusing to start"), "{out}");
}

#[test]
fn serve_names_a_secret_that_cannot_be_read() {
    let out = run(pgbroker(&["serve"])
        .env("PGBROKER_STATE_STORE__URL", "sqlite::memory:")
        .env(
            "PGBROKER_AUTH__BASIC",
            r#"[{username="cf", password={env="BROKER_TEST_UNSET_PASSWORD_VAR"}}]"#,
        ));
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("auth.basic[0].password")
            && out.stderr.contains("BROKER_TEST_UNSET_PASSWORD_VAR"),
        "{out}"
    );
}

#[test]
fn printed_configuration_masks_auth_secrets() {
    let out = run(pgbroker(&["config", "--format", "json"])
        .env(
            "PGBROKER_AUTH__BASIC",
            r#"[{username="cf", password="inline-hunter2"}, {username="k8s", password={env="K8S_PW"}}]"#,
        )
        .env("PGBROKER_AUTH__BEARER_TOKENS", r#"["token-hunter3"]"#))
    .success();
    assert!(
        !out.stdout.contains("hunter2") && !out.stdout.contains("hunter3"),
        "{out}"
    );
    let config: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(config["auth"]["basic"][0]["password"], "***");
    assert_eq!(
        config["auth"]["basic"][1]["password"],
        json!({"env": "K8S_PW"})
    );
    assert_eq!(config["auth"]["bearer_tokens"][0], "***");
    assert_eq!(config["server"]["listen"], "0.0.0.0:8080");
}

//! Traces across the asynchronous part of an operation, exported over OTLP/gRPC: `pgbroker
//! serve` with the CloudNativePG backend on the Kubernetes API test server (CNPG simulated,
//! slow enough that provision and deprovision answer 202). The engine steps that run after the
//! request has ended continue the request's trace, under its use-case span; every Kubernetes
//! request a step makes has a span of its own under the backend step, and carries that span's
//! `traceparent` to the API server. The watches behind the caches, outside any operation, carry
//! none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::osb_client::OsbClient;
use common::otlp_receiver::{OtlpReceiver, ReceivedSpan};
use common::pgbroker;
use pgbroker_kube_testserver::{SimulatorOptions, TestServer, TestServerOptions};
use reqwest::Method;
use serde_json::{Value, json};

/// `postgresql-dev-db` and its `dev-small` plan in the default catalog (backend `cnpg`).
const DEV_DB_SERVICE: &str = "79f7fb16-c95d-4210-8930-1c758648327e";
const DEV_SMALL: &str = "22cedd15-900f-4625-9f10-a57f43c64585";
const BROKER_PASSWORD: &str = "traces-broker-password-83";
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PROVISION_PARENT: &str = "b7ad6b7169203331";
const DEPROVISION_PARENT: &str = "b7ad6b7169203332";

async fn send(
    client: &OsbClient,
    method: Method,
    path: &str,
    body: Option<Value>,
    parent: Option<&str>,
) -> (u16, Value) {
    let mut request = client
        .http
        .request(method, format!("{}{path}", client.base))
        .basic_auth(&client.username, Some(&client.password))
        .header("X-Broker-API-Version", "2.17");
    if let Some(parent) = parent {
        request = request.header("traceparent", format!("00-{TRACE_ID}-{parent}-01"));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls the instance's last operation until it is no longer in progress; its final state.
async fn settled(client: &OsbClient, instance: &str, query: &str) -> String {
    for _ in 0..300 {
        let (status, body) = send(
            client,
            Method::GET,
            &format!("{instance}/last_operation{query}"),
            None,
            None,
        )
        .await;
        // A finished deprovision answers 410 Gone.
        if status == 410 {
            return "succeeded".into();
        }
        assert_eq!(status, 200, "{body}");
        let state = body["state"].as_str().unwrap().to_string();
        if state != "in progress" {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{instance}: the operation never settled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asynchronous_steps_and_kubernetes_requests_continue_the_request_trace_over_grpc() {
    let receiver = OtlpReceiver::start_grpc().await;
    let kube = TestServer::start(TestServerOptions {
        simulator: SimulatorOptions {
            // Longer than the synchronous wait: the request answers 202, the engine goes on.
            ready_delay: Duration::from_millis(400),
            ..SimulatorOptions::default()
        },
        ..TestServerOptions::default()
    })
    .await
    .unwrap();
    let home = common::TempDir::new();
    let kubeconfig = home.file("kubeconfig", &common::kube::kubeconfig(&kube));
    let config = home.file(
        "pgbroker.yaml",
        &format!(
            "state_store: {{url: 'sqlite://{db}?mode=rwc'}}\n\
             server: {{listen: '127.0.0.1:0'}}\n\
             log: {{format: json, filter: info}}\n\
             engine: {{poll_interval_ms: 100}}\n\
             auth: {{basic: [{{username: cf, password: {{env: TEST_BROKER_PASSWORD}}}}]}}\n\
             telemetry: {{otlp: {{endpoint: 'http://{otlp}', protocol: grpc}}}}\n\
             backends:\n  cnpg:\n    kind: cloudnative-pg\n    settings:\n\
             \x20     connection: {{mode: kubeconfig, path: '{kubeconfig}'}}\n\
             \x20     poll_interval_seconds: 1\n\
             \x20 shared: {{kind: shared-postgres}}\n",
            db = home.path().join("state.db").display(),
            otlp = receiver.addr,
            kubeconfig = kubeconfig.display(),
        ),
    );
    let mut child = common::logged::Logged::spawn(
        pgbroker(&["serve", "--config", config.to_str().unwrap()])
            .current_dir(home.path())
            .env("HOME", home.path())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("TEST_BROKER_PASSWORD", BROKER_PASSWORD)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100"),
    );
    let addr = child.wait_for(|line| {
        let parsed: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        parsed["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("serving the OSB API"))
            .then(|| parsed["fields"]["addr"].as_str().unwrap().to_string())
    });
    let client = OsbClient::new(format!("http://{addr}"), "cf", BROKER_PASSWORD);
    let instance_id = uuid::Uuid::new_v4().to_string();
    let instance = format!("/v2/service_instances/{instance_id}");
    let query = format!("?service_id={DEV_DB_SERVICE}&plan_id={DEV_SMALL}");

    let provision = json!({"service_id": DEV_DB_SERVICE, "plan_id": DEV_SMALL,
        "organization_guid": "org", "space_guid": "space"});
    let (status, body) = send(
        &client,
        Method::PUT,
        &format!("{instance}?accepts_incomplete=true"),
        Some(provision),
        Some(PROVISION_PARENT),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(settled(&client, &instance, &query).await, "succeeded");
    let (status, body) = send(
        &client,
        Method::DELETE,
        &format!("{instance}{query}&accepts_incomplete=true"),
        None,
        Some(DEPROVISION_PARENT),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(settled(&client, &instance, &query).await, "succeeded");

    let (exit, lines) = child.terminate();
    let log = lines.join("\n");
    assert!(exit.success(), "exit {exit:?}\n{log}");
    assert!(!log.contains(BROKER_PASSWORD), "{log}");

    let spans: Vec<ReceivedSpan> = receiver
        .received
        .spans()
        .into_iter()
        .filter(|s| s.trace_id == TRACE_ID)
        .collect();
    let dump = || common::otlp_receiver::tree(&spans);
    let under = |parent: &str, name: &str| -> Vec<ReceivedSpan> {
        spans
            .iter()
            .filter(|s| s.parent_span_id == parent && s.name.starts_with(name))
            .cloned()
            .collect()
    };
    let one_under = |parent: &str, name: &str| {
        let found = under(parent, name);
        assert_eq!(found.len(), 1, "{name} under {parent}:\n{}", dump());
        found.into_iter().next().unwrap()
    };
    let requests = kube.requests();
    for (client_span, route, use_case, kind) in [
        (
            PROVISION_PARENT,
            "PUT /v2/service_instances/{instance_id}",
            "broker.provision",
            "provision",
        ),
        (
            DEPROVISION_PARENT,
            "DELETE /v2/service_instances/{instance_id}",
            "broker.deprovision",
            "deprovision",
        ),
    ] {
        let request = one_under(client_span, route);
        assert_eq!(request.attributes["http.response.status_code"], "202");
        let case = one_under(&request.span_id, use_case);
        // Every step of the operation, the ones run after the 202 included, continues the
        // request's trace under its use case; the last one settled it.
        let steps = under(&case.span_id, "engine.step");
        assert!(steps.len() >= 2, "{kind}: steps {steps:?}\n{}", dump());
        assert!(
            steps.iter().all(|s| s.attributes["kind"] == kind
                && s.attributes["instance_id"] == instance_id),
            "{steps:?}"
        );
        assert!(
            steps.iter().any(|s| s.attributes["state"] == "succeeded"),
            "{steps:?}"
        );
        // The Kubernetes requests of the steps, each under its backend step, each with the
        // traceparent of its own span on the request the API server received.
        let calls: Vec<ReceivedSpan> = steps
            .iter()
            .flat_map(|step| under(&step.span_id, &format!("backend {kind}")))
            .flat_map(|backend| under(&backend.span_id, "k8s "))
            .collect();
        assert!(
            !calls.is_empty(),
            "{kind}: no Kubernetes request spans\n{}",
            dump()
        );
        for call in &calls {
            assert!(
                call.attributes["http.response.status_code"]
                    .parse::<u16>()
                    .is_ok(),
                "{call:?}"
            );
            assert!(!call.attributes["k8s.resource"].is_empty(), "{call:?}");
            let traceparent = format!("00-{TRACE_ID}-{}-01", call.span_id);
            assert!(
                requests
                    .iter()
                    .any(|r| r.traceparent.as_deref() == Some(traceparent.as_str())),
                "no request to the API server carried {traceparent} ({call:?})"
            );
        }
    }
    // The caches' watches run outside any operation: no span, no traceparent.
    let watches: Vec<_> = requests.iter().filter(|r| r.verb == "watch").collect();
    assert!(!watches.is_empty());
    assert!(
        watches.iter().all(|r| r.traceparent.is_none()),
        "{watches:?}"
    );
}

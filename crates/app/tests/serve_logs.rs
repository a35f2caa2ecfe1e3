//! The `pgbroker serve` binary: every log line of a request carries the platform's request
//! identity, and SIGTERM stops the server gracefully (exit code 0).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::pgbroker;

#[tokio::test]
async fn request_identity_is_in_the_log_lines_and_sigterm_stops_gracefully() {
    let mut child = pgbroker(&["serve"])
        .env("PGBROKER_STATE_STORE__URL", "sqlite::memory:")
        .env("PGBROKER_AUTH__DEV_MODE", "true")
        .env("PGBROKER_SERVER__LISTEN", "127.0.0.1:0")
        .env("PGBROKER_LOG__FILTER", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "the server did not start; log so far:\n{}",
                    lines.join("\n")
                )
            });
        lines.push(line.clone());
        if line.contains("DEV MODE") {
            assert!(line.contains("WARN"), "{line}");
        }
        if line.contains("serving the OSB API") {
            let addr = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("addr="))
                .unwrap()
                .to_string();
            break addr;
        }
    };
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/v2/catalog"))
        .header("X-Broker-API-Version", "2.17")
        .header("X-Broker-API-Request-Identity", "trace-me-7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-broker-api-request-identity"],
        "trace-me-7"
    );

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let log = lines.join("\n");
    assert!(exit.success(), "exit {exit:?}\n{log}");
    let request_lines: Vec<&String> = lines.iter().filter(|l| l.contains("/v2/catalog")).collect();
    assert!(!request_lines.is_empty(), "{log}");
    for line in request_lines {
        assert!(line.contains("request_identity=trace-me-7"), "{line}");
    }
    assert!(log.contains("termination requested"), "{log}");
    assert!(log.contains("operation engine stopped"), "{log}");
}

/// A backend with no Kubernetes configuration to use: `serve` still starts (the other plans work),
/// warns naming the backend, why and the plans it cannot provision, and `/readyz` says the same.
#[tokio::test]
async fn serve_without_kubernetes_configuration_says_which_plans_cannot_be_provisioned() {
    let home = common::TempDir::new();
    let missing = home.path().join("no-kubeconfig");
    let mut child = pgbroker(&["serve"])
        .current_dir(home.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", home.path())
        .env("KUBECONFIG", &missing)
        .env("PGBROKER_STATE_STORE__URL", "sqlite::memory:")
        .env("PGBROKER_AUTH__DEV_MODE", "true")
        .env("PGBROKER_SERVER__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stderr).lines();
    let addr = loop {
        let line = reader
            .next()
            .unwrap_or_else(|| panic!("serve ended; log:\n{}", lines.join("\n")))
            .unwrap();
        lines.push(line.clone());
        if let Some(addr) = line
            .contains("serving the OSB API")
            .then(|| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix("addr="))
            })
            .flatten()
        {
            break addr.to_string();
        }
    };
    let log = lines.join("\n");
    let reason = format!(
        "no Kubernetes configuration found (KUBECONFIG {}: no such file; no in-cluster service account: KUBERNETES_SERVICE_HOST not set)",
        missing.display()
    );
    let warning = lines
        .iter()
        .find(|l| l.contains("backend=cnpg"))
        .unwrap_or_else(|| panic!("no start-up line about backend cnpg:\n{log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains(&format!("reason={reason}")), "{warning}");
    assert!(
        warning.contains("plans=dev-small, dev-medium, dev-large of postgresql-dev-db; small, medium, large of postgresql-ha-cluster"),
        "{warning}"
    );

    let http = reqwest::Client::new();
    let ready = http
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let ready: serde_json::Value = ready.json().await.unwrap();
    let cnpg = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "backend:cnpg")
        .unwrap_or_else(|| panic!("{ready}"));
    assert_eq!(cnpg["ok"], false);
    assert!(
        cnpg["error"].as_str().unwrap().ends_with(&reason),
        "{ready}"
    );
    // The catalog is offered whole: the platform's view does not change with the environment.
    let catalog: serde_json::Value = http
        .get(format!("http://{addr}/v2/catalog"))
        .header("X-Broker-API-Version", "2.17")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(catalog["services"].as_array().map(Vec::len), Some(3));

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    // The rest of the log, so the pipe never fills while the process stops.
    let rest: Vec<String> = reader.map_while(Result::ok).collect();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit {exit:?}\n{log}\n{}", rest.join("\n"));
}

const SHARED_SERVICE: &str = "f3f7eb7c-f181-44e2-8a8e-95fc51e94990";
const SHARED_SMALL: &str = "8918ebda-7ee3-4766-bb57-9e658fcd9689";
const BROKER_PASSWORD: &str = "otlp-broker-password-51";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Provision → bind → unbind → deprovision on the shared backend (local PostgreSQL) through
/// `pgbroker serve` with JSON logs and OTLP/HTTP export to a receiver in the test: the spans
/// arrive as a tree under the client's `traceparent`, every JSON line inside a request carries
/// its trace and span id, each operation has an audit record at start and end, and no line
/// holds the broker's password, the binding's password or a private key.
// Multi-threaded: the receiver must answer while this thread waits for the process to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_spans_reach_an_otlp_receiver_and_no_log_line_holds_a_secret() {
    use common::osb_client::OsbClient;
    use common::otlp_receiver::OtlpReceiver;
    use common::shared_server::Cleanup;
    use reqwest::Method;
    use serde_json::{Value, json};

    let receiver = OtlpReceiver::start().await;
    let home = common::TempDir::new();
    let tag = format!("otlp{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let _cleanup = Cleanup(tag.clone());
    let config = home.file(
        "pgbroker.yaml",
        &format!(
            "state_store: {{url: 'sqlite://{db}?mode=rwc'}}\n\
             server: {{listen: '127.0.0.1:0'}}\n\
             log: {{format: json, filter: info}}\n\
             auth: {{basic: [{{username: cf, password: {{env: TEST_BROKER_PASSWORD}}}}]}}\n\
             telemetry: {{otlp: {{endpoint: 'http://{otlp}', protocol: http/protobuf}}}}\n\
             backends:\n  cnpg: {{kind: cloudnative-pg}}\n  shared:\n    kind: shared-postgres\n    settings:\n\
             \x20     servers: [{{name: local, admin_url: 'postgres://postgres@127.0.0.1:5432/postgres', client_sslmode: disable}}]\n\
             \x20     names: {{database: '{tag}_{{instance}}', owner_role: '{tag}_{{instance}}_owner', binding_role: '{tag}_{{instance}}_{{binding}}'}}\n",
            db = home.path().join("state.db").display(),
            otlp = receiver.addr,
        ),
    );
    let mut child = common::logged::Logged::spawn(
        pgbroker(&["serve", "--config", config.to_str().unwrap()])
            .current_dir(home.path())
            .env("HOME", home.path())
            .env("KUBECONFIG", home.path().join("none"))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("TEST_BROKER_PASSWORD", BROKER_PASSWORD)
            .env("OTEL_SERVICE_NAME", "pgbroker-under-test")
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
    // Each request of the lifecycle is its own child of the client's trace.
    let call = |method: Method, path: String, body: Option<Value>, parent: &'static str| {
        let client = client.clone();
        async move {
            let mut request = client
                .http
                .request(method, format!("{}{path}", client.base))
                .basic_auth(&client.username, Some(&client.password))
                .header("X-Broker-API-Version", "2.17")
                .header("traceparent", format!("00-{TRACE_ID}-{parent}-01"))
                .header(
                    "X-Broker-API-Originating-Identity",
                    // {"user_id":"u-683ea748","scope":"secret-scope-77"}
                    "cloudfoundry eyJ1c2VyX2lkIjoidS02ODNlYTc0OCIsInNjb3BlIjoic2VjcmV0LXNjb3BlLTc3In0=",
                );
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    let instance_id = uuid::Uuid::new_v4().to_string();
    let binding_id = uuid::Uuid::new_v4().to_string();
    let instance = format!("/v2/service_instances/{instance_id}");
    let binding = format!("{instance}/service_bindings/{binding_id}");
    let ids = json!({"service_id": SHARED_SERVICE, "plan_id": SHARED_SMALL});
    let query = format!("?service_id={SHARED_SERVICE}&plan_id={SHARED_SMALL}");
    let provision = json!({"service_id": SHARED_SERVICE, "plan_id": SHARED_SMALL,
        "organization_guid": "org", "space_guid": "space"});
    let (status, body) = call(
        Method::PUT,
        instance.clone(),
        Some(provision),
        "00f067aa0ba902b1",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(Method::PUT, binding.clone(), Some(ids), "00f067aa0ba902b2").await;
    assert_eq!(status, 201, "{body}");
    let password = body["credentials"]["password"]
        .as_str()
        .unwrap()
        .to_string();
    let uri = body["credentials"]["uri"].as_str().unwrap().to_string();
    let (status, body) = call(
        Method::DELETE,
        format!("{binding}{query}"),
        None,
        "00f067aa0ba902b3",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        Method::DELETE,
        format!("{instance}{query}"),
        None,
        "00f067aa0ba902b4",
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // SIGTERM: the server exports what is still buffered before it exits.
    let (exit, lines) = child.terminate();
    let log = lines.join("\n");
    assert!(exit.success(), "exit {exit:?}\n{log}");

    // No secret in any line.
    for secret in [
        BROKER_PASSWORD,
        password.as_str(),
        uri.as_str(),
        "secret-scope-77",
        "PRIVATE KEY",
    ] {
        assert!(!log.contains(secret), "a log line holds {secret:?}:\n{log}");
    }
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    // Trace ids in every line logged in a request: the client's trace.
    let served: Vec<&Value> = parsed
        .iter()
        .filter(|l| l["fields"]["message"] == "request served")
        .collect();
    assert_eq!(served.len(), 4, "{log}");
    for line in &served {
        assert_eq!(line["trace_id"], TRACE_ID, "{line}");
        assert_eq!(line["span_id"].as_str().map(str::len), Some(16), "{line}");
    }
    // An audit record at the start and end of each of the four operations, with who asked.
    let audit: Vec<&Value> = parsed
        .iter()
        .filter(|l| l["target"] == "pgbroker::audit")
        .collect();
    assert_eq!(audit.len(), 8, "{log}");
    for kind in ["provision", "bind", "unbind", "deprovision"] {
        for (event, outcome) in [
            ("operation_started", Value::Null),
            ("operation_ended", json!("succeeded")),
        ] {
            let record = audit
                .iter()
                .find(|l| l["fields"]["operation"] == kind && l["fields"]["audit"] == event)
                .unwrap_or_else(|| panic!("no {event} record of {kind}:\n{log}"));
            let fields = &record["fields"];
            assert_eq!(fields["actor"], "osb", "{record}");
            assert_eq!(fields["platform"], "cloudfoundry", "{record}");
            assert_eq!(fields["user"], "u-683ea748", "{record}");
            assert_eq!(fields["instance_id"], instance_id.as_str(), "{record}");
            assert_eq!(fields["outcome"], outcome, "{record}");
            if kind.contains("bind") {
                assert_eq!(fields["binding_id"], binding_id.as_str(), "{record}");
            }
        }
    }

    // The spans: per request, a request span whose parent is the client's span, the use
    // case under it, the engine step under that and the backend call under the step.
    let spans = receiver.received.spans();
    let dump = || common::otlp_receiver::tree(&spans);
    assert!(spans.iter().all(|s| s.trace_id == TRACE_ID), "{}", dump());
    assert!(
        spans
            .iter()
            .all(|s| s.service_name.as_deref() == Some("pgbroker-under-test")),
        "{}",
        dump()
    );
    let child_of = |parent: &str, name: &str| {
        spans
            .iter()
            .find(|s| s.parent_span_id == parent && s.name == name)
            .unwrap_or_else(|| panic!("no {name} span under {parent}:\n{}", dump()))
            .clone()
    };
    for (client_span, route, use_case, kind) in [
        (
            "00f067aa0ba902b1",
            "PUT /v2/service_instances/{instance_id}",
            "broker.provision",
            "provision",
        ),
        (
            "00f067aa0ba902b2",
            "PUT /v2/service_instances/{instance_id}/service_bindings/{binding_id}",
            "broker.bind",
            "bind",
        ),
        (
            "00f067aa0ba902b3",
            "DELETE /v2/service_instances/{instance_id}/service_bindings/{binding_id}",
            "broker.unbind",
            "unbind",
        ),
        (
            "00f067aa0ba902b4",
            "DELETE /v2/service_instances/{instance_id}",
            "broker.deprovision",
            "deprovision",
        ),
    ] {
        let request = child_of(client_span, route);
        let status = &request.attributes["http.response.status_code"];
        assert!(status == "200" || status == "201", "{request:?}");
        let case = child_of(&request.span_id, use_case);
        assert_eq!(case.attributes["instance_id"], instance_id, "{case:?}");
        let step = child_of(&case.span_id, "engine.step");
        assert_eq!(step.attributes["kind"], kind, "{step:?}");
        assert_eq!(step.attributes["instance_id"], instance_id, "{step:?}");
        assert_eq!(step.attributes["state"], "succeeded", "{step:?}");
        assert_eq!(step.attributes["operation_id"].len(), 36, "{step:?}");
        if kind.contains("bind") {
            assert_eq!(case.attributes["binding_id"], binding_id, "{case:?}");
            assert_eq!(step.attributes["binding_id"], binding_id, "{step:?}");
        }
        let backend = child_of(&step.span_id, &format!("backend {kind}"));
        assert_eq!(backend.attributes["backend"], "shared", "{backend:?}");
        assert_eq!(backend.attributes["outcome"], "done", "{backend:?}");
        // The statements the backend sent, in words: under the backend step, never SQL text.
        let statement = child_of(&backend.span_id, "sql");
        assert_eq!(statement.attributes["server"], "local", "{statement:?}");
        let doing = &statement.attributes["doing"];
        assert!(
            doing.contains(instance_id.as_str()) || doing.contains(binding_id.as_str()),
            "{statement:?}"
        );
    }
    for span in &spans {
        for value in span.attributes.values() {
            for secret in [BROKER_PASSWORD, password.as_str(), "secret-scope-77"] {
                assert!(
                    !value.contains(secret),
                    "span {} holds {secret:?}",
                    span.name
                );
            }
        }
    }
}

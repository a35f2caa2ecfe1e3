//! The `aws-rds` and `aws-aurora` backends through the OSB API of the real `pgbroker serve`
//! binary, against moto (see common/aws.rs): create → available → bind (the credentials log in
//! on the local PostgreSQL the SQL side points at) → modify class and storage (Aurora: class and
//! Serverless v2 capacity) → unbind → delete with a final snapshot, checked in moto; and no
//! secret in any log line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::aws::{AwsWorld, ENV, local_uri};
use common::logged::Logged;
use common::osb_client::OsbClient;
use common::shared_server::{Cleanup, can_connect};
use common::{TempDir, pgbroker};
use reqwest::Method;
use serde_json::{Value, json};

const SERVICE: &str = "6c1f6f54-5b43-4a0e-9a0e-2b7f1d3c9e01";
const SMALL: &str = "6c1f6f54-5b43-4a0e-9a0e-2b7f1d3c9e02";
const MEDIUM: &str = "6c1f6f54-5b43-4a0e-9a0e-2b7f1d3c9e03";

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Rds,
    Aurora,
}

fn catalog(kind: Kind) -> String {
    let (small, medium) = match kind {
        Kind::Rds => (
            "{class: small, storage_gb: 20}",
            "{class: medium, storage_gb: 30, max_storage_gb: 100}",
        ),
        Kind::Aurora => (
            "{class: serverless}",
            "{class: provisioned, backup_retention_days: 10}",
        ),
    };
    format!(
        "services:
  - id: {SERVICE}
    name: postgresql-rds
    description: RDS for PostgreSQL
    bindable: true
    plan_updateable: true
    plans:
      - {{id: {SMALL}, name: small, description: small, backend: aws, settings: {small}}}
      - {{id: {MEDIUM}, name: medium, description: medium, backend: aws, settings: {medium}}}
"
    )
}

/// Sends a mutating request with accepts_incomplete and polls it to its end.
async fn done(client: &OsbClient, method: Method, path: &str, body: Value, poll: &str) -> Value {
    let sep = if path.contains('?') { '&' } else { '?' };
    let (status, body) = client
        .call(
            method,
            &format!("{path}{sep}accepts_incomplete=true"),
            Some(body),
        )
        .await;
    assert_eq!(status, 202, "{path}: {body}");
    let operation = body["operation"].as_str().unwrap().to_string();
    for _ in 0..1200 {
        let (status, body) = client
            .call(Method::GET, &format!("{poll}?operation={operation}"), None)
            .await;
        // 410 Gone: what was deleted is gone, the operation with it.
        if status == 410 {
            return json!({"state": "succeeded"});
        }
        assert_eq!(status, 200, "{poll}: {body}");
        if body["state"] != "in progress" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rds_lifecycle_over_osb_with_no_secret_in_the_log() {
    lifecycle(Kind::Rds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aurora_lifecycle_over_osb_with_no_secret_in_the_log() {
    lifecycle(Kind::Aurora).await;
}

/// RDS runs at the default log level and exports its traces: each AWS API call is a span (the
/// SDK's, made at DEBUG, which the traces take whatever the log filter) under the backend step
/// that made it. Aurora runs at DEBUG, so the SDKs' own debug lines are checked for secrets too.
async fn lifecycle(kind: Kind) {
    let receiver = common::otlp_receiver::OtlpReceiver::start().await;
    let world = AwsWorld::start().await;
    let id = uuid::Uuid::new_v4().to_string();
    let _sql = Cleanup(format!("pgb_{id}"));
    let dir = TempDir::new();
    let catalog = dir.file("catalog.yaml", &catalog(kind));
    let backend = if kind == Kind::Rds {
        "aws-rds"
    } else {
        "aws-aurora"
    };
    let config = json!({
        "state_store": {"url": "sqlite::memory:"},
        "catalog": {"path": catalog},
        "backends": {"aws": {"kind": backend, "settings": world.settings()}},
        "auth": {"basic": [{"username": "cf", "password": "osb-aws-test-password"}]},
        "server": {"listen": "127.0.0.1:0"},
        "engine": {"poll_interval_ms": 20},
        "log": {"filter": match kind {
            Kind::Rds => "info",
            Kind::Aurora => "debug,hyper=info,h2=info,aws_smithy_runtime=info,aws_config=info,aws_sigv4=info",
        }},
        "telemetry": {"otlp": {"endpoint": format!("http://{}", receiver.addr), "protocol": "http/protobuf"}},
    });
    let config = dir.file("pgbroker.yaml", &serde_json::to_string(&config).unwrap());
    let mut command = pgbroker(&["--config", &config.display().to_string(), "serve"]);
    for (k, v) in ENV {
        command.env(k, v);
    }
    command.env("OTEL_BSP_SCHEDULE_DELAY", "100");
    let mut serve = Logged::spawn(&mut command);
    let addr = serve.wait_for(|line| {
        line.contains("serving the OSB API")
            .then(|| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix("addr="))
            })
            .flatten()
            .map(str::to_string)
    });
    let client = OsbClient::new(format!("http://{addr}"), "cf", "osb-aws-test-password");

    // Create: the DB appears in moto; the master user's password is its secret's.
    let instance = format!("/v2/service_instances/{id}");
    let poll = format!("{instance}/last_operation");
    let create = json!({"service_id": SERVICE, "plan_id": SMALL,
                        "organization_guid": "org", "space_guid": "space"});
    let (status, accepted) = client
        .call(
            Method::PUT,
            &format!("{instance}?accepts_incomplete=true"),
            Some(create.clone()),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let (identifier, master_password) = world.accept_master_password().await;
    let operation = accepted["operation"].as_str().unwrap();
    let mut last = Value::Null;
    for _ in 0..1200 {
        let (_, body) = client
            .call(Method::GET, &format!("{poll}?operation={operation}"), None)
            .await;
        if body["state"] != "in progress" {
            last = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last["state"], "succeeded", "{last}");
    let writer = format!("{identifier}-writer");
    let (tags, host) = match kind {
        Kind::Rds => {
            let db = world.db(&identifier).await.unwrap();
            assert_eq!(db.db_instance_class(), Some("db.t4g.micro"));
            let host = db.endpoint().and_then(|e| e.address()).unwrap().to_string();
            (db.tag_list().to_vec(), host)
        }
        Kind::Aurora => {
            let cluster = world.cluster(&identifier).await.unwrap();
            let range = cluster
                .serverless_v2_scaling_configuration()
                .map(|c| (c.min_capacity(), c.max_capacity()));
            assert_eq!(range, Some((Some(0.5), Some(4.0))));
            assert_eq!(
                world.db(&writer).await.unwrap().db_instance_class(),
                Some("db.serverless")
            );
            (
                cluster.tag_list().to_vec(),
                cluster.endpoint().unwrap().to_string(),
            )
        }
    };
    assert!(
        tags.iter()
            .any(|t| t.key() == Some("pgbroker:instance-id") && t.value() == Some(id.as_str()))
    );
    let host = host.as_str();

    // Bind: the credentials log in.
    let binding = format!("{instance}/service_bindings/{}", uuid::Uuid::new_v4());
    let body = done(
        &client,
        Method::PUT,
        &binding,
        json!({"service_id": SERVICE, "plan_id": SMALL}),
        &format!("{binding}/last_operation"),
    )
    .await;
    assert_eq!(body["state"], "succeeded", "{body}");
    let (status, bound) = client.call(Method::GET, &binding, None).await;
    assert_eq!(status, 200, "{bound}");
    let creds = &bound["credentials"];
    assert_eq!(creds["host"], host);
    let uri = local_uri(creds["uri"].as_str().unwrap(), host);
    assert!(can_connect(&uri).await, "the binding logs in");
    let binding_password = creds["password"].as_str().unwrap().to_string();

    // Modify class and storage: the medium plan.
    let body = done(
        &client,
        Method::PATCH,
        &instance,
        json!({"service_id": SERVICE, "plan_id": MEDIUM}),
        &poll,
    )
    .await;
    assert_eq!(body["state"], "succeeded", "{body}");
    match kind {
        Kind::Rds => {
            let db = world.db(&identifier).await.unwrap();
            let got = (
                db.db_instance_class(),
                db.allocated_storage(),
                db.max_allocated_storage(),
            );
            assert_eq!(got, (Some("db.t4g.small"), Some(30), Some(100)));
        }
        Kind::Aurora => {
            let cluster = world.cluster(&identifier).await.unwrap();
            assert_eq!(cluster.backup_retention_period(), Some(10));
            assert_eq!(
                world.db(&writer).await.unwrap().db_instance_class(),
                Some("db.r6g.large")
            );
        }
    }

    // Unbind: the login stops working.
    let body = done(
        &client,
        Method::DELETE,
        &format!("{binding}?service_id={SERVICE}&plan_id={MEDIUM}"),
        json!(null),
        &format!("{binding}/last_operation"),
    )
    .await;
    assert_eq!(body["state"], "succeeded", "{body}");
    assert!(!can_connect(&uri).await, "the login is gone after unbind");

    // Delete, with a final snapshot named after the DB.
    let (status, body) = client
        .call(
            Method::DELETE,
            &format!("{instance}?service_id={SERVICE}&plan_id={MEDIUM}&accepts_incomplete=true"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let operation = body["operation"].as_str().unwrap().to_string();
    let mut gone = false;
    for _ in 0..1200 {
        let (status, body) = client
            .call(Method::GET, &format!("{poll}?operation={operation}"), None)
            .await;
        // 410 Gone: the instance is deleted.
        if status == 410 || body["state"] == "succeeded" {
            gone = true;
            break;
        }
        assert_eq!(body["state"], "in progress", "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the deprovision finished");
    let snapshot = format!("{identifier}-final");
    match kind {
        Kind::Rds => {
            assert!(world.db(&identifier).await.is_none());
            assert!(world.snapshot_exists(&snapshot).await);
        }
        Kind::Aurora => {
            assert!(world.cluster(&identifier).await.is_none());
            assert!(world.db(&writer).await.is_none());
            assert!(world.cluster_snapshot_exists(&snapshot).await);
        }
    }

    let (exit, lines) = serve.terminate();
    assert!(exit.success(), "{exit:?}");
    let log = lines.join("\n");
    assert!(log.contains(&identifier), "the log names the DB:\n{log}");
    for secret in [
        master_password.as_str(),
        binding_password.as_str(),
        "osb-aws-test-password",
        common::aws::SECRET_KEY,
    ] {
        let leaked: Vec<&String> = lines.iter().filter(|l| l.contains(secret)).collect();
        assert!(leaked.is_empty(), "{secret:?} in the log: {leaked:?}");
    }

    // The AWS calls in the traces: each SDK call a span under the backend step that made it.
    let spans = receiver.received.spans();
    let by_id: std::collections::HashMap<&str, &common::otlp_receiver::ReceivedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let step_of = |span: &common::otlp_receiver::ReceivedSpan| {
        let mut at = by_id.get(span.parent_span_id.as_str());
        while let Some(s) = at {
            if s.name.starts_with("backend ") {
                return Some(s.name.clone());
            }
            at = by_id.get(s.parent_span_id.as_str());
        }
        None
    };
    let calls: Vec<_> = spans
        .iter()
        .filter(|s| s.attributes.get("rpc.system").map(String::as_str) == Some("aws-api"))
        .collect();
    let create = if kind == Kind::Rds {
        "RDS.CreateDBInstance"
    } else {
        "RDS.CreateDBCluster"
    };
    for (call, step) in [
        (create, "backend provision"),
        ("Secrets Manager.GetSecretValue", "backend bind"),
        ("RDS.DeleteDBInstance", "backend deprovision"),
    ] {
        assert!(
            calls
                .iter()
                .any(|s| s.name == call && step_of(s).as_deref() == Some(step)),
            "no {call} span under {step}: {calls:?}"
        );
    }
    for span in &spans {
        for value in span.attributes.values() {
            assert!(!value.contains(master_password.as_str()), "{span:?}");
        }
    }
}

//! The `pgbroker` binary under a burst, as a platform brings it: 24 provisions on the shared
//! backend (the local PostgreSQL) sent at once, the process killed (SIGKILL) while they run and
//! started again, then 24 binds at once, every credential tried, everything removed again; on
//! a SQLite file state store and on PostgreSQL. Every request is answered without a 5xx, every
//! operation converges, and the restarted process logs no warning.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::osb_client::OsbClient;
use common::shared_server::{Cleanup, can_connect};
use common::{TempDir, pgbroker};
use futures::future::join_all;
use pgbroker_testkit::pg_database::TestDatabase;
use reqwest::Method;
use serde_json::{Value, json};

const INSTANCES: usize = 24;
const PASSWORD: &str = "burst-test-password";
const SERVICE: &str = "svc-shared";
const PLAN: &str = "plan-shared";

const CATALOG: &str = r#"
services:
  - id: svc-shared
    name: shared
    description: databases on the local server
    plans:
      - id: plan-shared
        name: small
        description: a database of its own
        backend: shared
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Broker {
    child: Child,
    stderr: std::path::PathBuf,
}

impl Broker {
    async fn start(config: &std::path::Path, dir: &TempDir, name: &str, base: &str) -> Self {
        let stderr = dir.path().join(format!("{name}.log"));
        let child = pgbroker(&["serve", "--config", config.to_str().unwrap()])
            .env("BURST_BROKER_PASSWORD", PASSWORD)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut broker = Self { child, stderr };
        let started = Instant::now();
        loop {
            if let Ok(response) = reqwest::get(format!("{base}/healthz")).await
                && response.status() == 200
            {
                return broker;
            }
            if let Some(status) = broker.child.try_wait().unwrap() {
                panic!("pgbroker exited with {status}:\n{}", broker.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "pgbroker did not start:\n{}",
                broker.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn kill(self) {
        // Drop kills it.
    }

    /// SIGTERM, then waits for the graceful end.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "pgbroker ended with {status}:\n{}",
            self.log()
        );
        self.log()
    }
}

/// Kills the broker: at `kill`, and when a failing test unwinds, so that it never outlives the
/// test (and its connections with it).
impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client(OsbClient);

impl Client {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.0.call(method, path, body).await
    }

    /// Sends `method` to each path at once (with `accepts_incomplete`); each must be accepted.
    async fn burst(&self, method: Method, paths: &[String], body: Option<Value>) -> Vec<String> {
        let calls = paths.iter().map(|path| {
            let sep = if path.contains('?') { '&' } else { '?' };
            let path = format!("{path}{sep}accepts_incomplete=true");
            let (method, body) = (method.clone(), body.clone());
            async move { self.call(method, &path, body).await }
        });
        join_all(calls)
            .await
            .into_iter()
            .zip(paths)
            .map(|((status, body), path)| {
                assert_eq!(status, 202, "{method} {path}: {body}");
                body["operation"].as_str().unwrap().to_string()
            })
            .collect()
    }

    /// Polls each `(resource, operation)` until its operation ends; every answer must be 200
    /// (410 once a removal is done, when `gone_ok`), and every operation must succeed.
    async fn converge(&self, polls: &[(String, String)], gone_ok: bool) {
        let started = Instant::now();
        let mut open: Vec<_> = polls.iter().collect();
        while !open.is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "{} of {} operations still in progress after 90 s",
                open.len(),
                polls.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            let answers = join_all(open.iter().map(|(resource, operation)| {
                let path = format!("{resource}/last_operation?operation={operation}");
                async move { self.call(Method::GET, &path, None).await }
            }))
            .await;
            let mut still = Vec::new();
            for (poll, (status, body)) in open.into_iter().zip(answers) {
                match (status, body["state"].as_str()) {
                    (200, Some("in progress")) => still.push(poll),
                    (200, Some("succeeded")) => {}
                    (410, _) if gone_ok => {}
                    other => panic!("polling {}: {other:?} {body}", poll.0),
                }
            }
            open = still;
        }
    }
}

fn config(dir: &TempDir, store_url: &str, port: u16, tag: &str) -> std::path::PathBuf {
    let catalog = dir.file("catalog.yaml", CATALOG);
    let config = json!({
        "state_store": {"url": store_url},
        "catalog": {"path": catalog},
        "server": {"listen": format!("127.0.0.1:{port}")},
        "auth": {"basic": [{"username": "cf", "password": {"env": "BURST_BROKER_PASSWORD"}}]},
        "engine": {"lease_seconds": 3},
        "backends": {"shared": {"kind": "shared-postgres", "settings": {
            "servers": [{"name": "local", "admin_url": "postgres://postgres@127.0.0.1:5432/postgres",
                         "client_sslmode": "disable", "max_databases": 1000}],
            "names": {
                "database": format!("{tag}_{{instance}}"),
                "owner_role": format!("{tag}_{{instance}}_owner"),
                "binding_role": format!("{tag}_{{instance}}_{{binding}}"),
            },
        }}},
    });
    dir.file("pgbroker.yaml", &serde_yaml::to_string(&config).unwrap())
}

async fn burst_with_a_kill(store_url: &str, dir: &TempDir) {
    let tag = format!("brst{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let _cleanup = Cleanup(tag.clone());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = config(dir, store_url, port, &tag);
    let client = Client(OsbClient::new(base.clone(), "cf", PASSWORD));
    let instances: Vec<String> = (0..INSTANCES)
        .map(|n| format!("/v2/service_instances/burst-{n}"))
        .collect();
    let ids = || Some(json!({"service_id": SERVICE, "plan_id": PLAN}));
    let provision = json!({"service_id": SERVICE, "plan_id": PLAN,
        "organization_guid": "org", "space_guid": "space",
        "context": {"platform": "cloudfoundry"}});

    let first = Broker::start(&config, dir, "first", &base).await;
    let operations = client.burst(Method::PUT, &instances, Some(provision)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.kill();

    let second = Broker::start(&config, dir, "second", &base).await;
    let polls: Vec<_> = instances.iter().cloned().zip(operations).collect();
    client.converge(&polls, false).await;

    let bindings: Vec<String> = instances
        .iter()
        .map(|i| format!("{i}/service_bindings/app"))
        .collect();
    let operations = client.burst(Method::PUT, &bindings, ids()).await;
    let polls: Vec<_> = bindings.iter().cloned().zip(operations).collect();
    client.converge(&polls, false).await;
    for binding in &bindings {
        let (status, body) = client.call(Method::GET, binding, None).await;
        assert_eq!(status, 200, "{binding}: {body}");
        let uri = body["credentials"]["uri"].as_str().unwrap();
        assert!(can_connect(uri).await, "{binding}: credentials do not work");
    }

    let query = format!("?service_id={SERVICE}&plan_id={PLAN}");
    let unbinds: Vec<String> = bindings.iter().map(|b| format!("{b}{query}")).collect();
    let operations = client.burst(Method::DELETE, &unbinds, None).await;
    let polls: Vec<_> = bindings.iter().cloned().zip(operations).collect();
    client.converge(&polls, true).await;
    let deprovisions: Vec<String> = instances.iter().map(|i| format!("{i}{query}")).collect();
    let operations = client.burst(Method::DELETE, &deprovisions, None).await;
    let polls: Vec<_> = instances.iter().cloned().zip(operations).collect();
    client.converge(&polls, true).await;

    let log = second.stop();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "))
        .collect();
    assert!(
        warnings.is_empty(),
        "the restarted broker warned:\n{}",
        warnings.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_on_a_sqlite_file_survives_a_kill() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}/state.db?mode=rwc", dir.path().display());
    burst_with_a_kill(&url, &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_on_postgres_survives_a_kill() {
    let dir = TempDir::new();
    let db = TestDatabase::create().await.unwrap();
    burst_with_a_kill(db.url(), &dir).await;
}

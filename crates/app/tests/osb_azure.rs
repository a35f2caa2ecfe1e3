//! The `azure-flexible` backend through the OSB API of the real `pgbroker serve` binary,
//! against the ARM stand-in (see common/azure.rs), its admin passwords sealed in a SQLite state
//! store with `state_store.vault_key`: create → Ready → bind (the credentials log in on the local
//! PostgreSQL the SQL side points at) → a plan change (another SKU, more storage) → unbind →
//! delete; a restart of the broker in the middle reads the sealed password back; no secret in
//! any log line (the admin password, the binding's, the client secret, the vault key, the token).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::aws::local_uri;
use common::azure::{AzureWorld, VAULT_KEY};
use common::logged::Logged;
use common::osb_client::OsbClient;
use common::shared_server::{Cleanup, can_connect};
use common::{TempDir, pgbroker};
use reqwest::Method;
use serde_json::{Value, json};

const SERVICE: &str = "0b6a3c52-2f0e-4f5b-9f5e-6d3c1a7e2a01";
const SMALL: &str = "0b6a3c52-2f0e-4f5b-9f5e-6d3c1a7e2a02";
const MEDIUM: &str = "0b6a3c52-2f0e-4f5b-9f5e-6d3c1a7e2a03";
const OSB_PASSWORD: &str = "osb-azure-test-password";

fn catalog() -> String {
    format!(
        "services:
  - id: {SERVICE}
    name: postgresql-azure
    description: Azure Database for PostgreSQL flexible server
    bindable: true
    plan_updateable: true
    plans:
      - {{id: {SMALL}, name: small, description: small, backend: azure, settings: {{class: small, storage_gb: 32}}}}
      - {{id: {MEDIUM}, name: medium, description: medium, backend: azure, settings: {{class: medium, storage_gb: 64}}}}
"
    )
}

async fn poll(client: &OsbClient, poll: &str, operation: &str) -> Value {
    for _ in 0..1200 {
        let (status, body) = client
            .call(Method::GET, &format!("{poll}?operation={operation}"), None)
            .await;
        if status == 410 {
            return json!({"state": "succeeded"});
        }
        assert_eq!(status, 200, "{poll}: {body}");
        if body["state"] != "in progress" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{poll} did not finish");
}

async fn done(client: &OsbClient, method: Method, path: &str, body: Value, at: &str) -> Value {
    let sep = if path.contains('?') { '&' } else { '?' };
    let (status, answer) = client
        .call(
            method,
            &format!("{path}{sep}accepts_incomplete=true"),
            Some(body),
        )
        .await;
    assert_eq!(status, 202, "{path}: {answer}");
    poll(client, at, answer["operation"].as_str().unwrap()).await
}

fn start(config: &std::path::Path) -> (Logged, OsbClient) {
    let mut command = pgbroker(&["--config", &config.display().to_string(), "serve"]);
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
    let client = OsbClient::new(format!("http://{addr}"), "cf", OSB_PASSWORD);
    (serve, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_lifecycle_over_osb_across_a_restart_with_no_secret_in_the_log() {
    let world = AzureWorld::start().await;
    let id = uuid::Uuid::new_v4().to_string();
    let _sql = Cleanup(format!("pgb_{id}"));
    let dir = TempDir::new();
    let catalog = dir.file("catalog.yaml", &catalog());
    let key_file = dir.file("vault-key", VAULT_KEY);
    let state = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("state.db").display()
    );
    let config = json!({
        "state_store": {"url": state, "vault_key": {"file": key_file}},
        "catalog": {"path": catalog},
        "backends": {"azure": {"kind": "azure-flexible", "settings": world.settings()}},
        "auth": {"basic": [{"username": "cf", "password": OSB_PASSWORD}]},
        "server": {"listen": "127.0.0.1:0"},
        "engine": {"poll_interval_ms": 20},
        "log": {"filter": "debug,hyper=info,h2=info,sqlx=info,reqwest=info,hyper_util=info"},
    });
    let config = dir.file("pgbroker.yaml", &serde_json::to_string(&config).unwrap());
    let (serve, client) = start(&config);

    let instance = format!("/v2/service_instances/{id}");
    let last = format!("{instance}/last_operation");
    let create = json!({"service_id": SERVICE, "plan_id": SMALL,
                        "organization_guid": "org", "space_guid": "space"});
    let body = done(&client, Method::PUT, &instance, create, &last).await;
    assert_eq!(body["state"], "succeeded", "{body}");
    let name = format!("pgbroker-{id}");
    let server = world.server(&id).unwrap();
    assert_eq!(server["sku"]["name"], "Standard_B1ms");
    assert_eq!(server["tags"]["pgbroker:instance-id"], id);
    let admin_password = world.arm.admin_password(&name).unwrap();
    // The state store holds it sealed, never in the clear.
    for file in ["state.db", "state.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&admin_password),
            "{file}"
        );
    }

    // A restart: the new process reads the sealed password back for the SQL side.
    let (exit, mut lines) = serve.terminate();
    assert!(exit.success(), "{exit:?}");
    let (serve, client) = start(&config);

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
    let host = format!("{name}.postgres.database.azure.com");
    assert_eq!(creds["host"], host.as_str());
    assert!(creds["uri"].as_str().unwrap().contains("sslmode=require"));
    let uri = local_uri(creds["uri"].as_str().unwrap(), &host);
    assert!(can_connect(&uri).await, "the binding logs in");
    let binding_password = creds["password"].as_str().unwrap().to_string();

    let body = done(
        &client,
        Method::PATCH,
        &instance,
        json!({"service_id": SERVICE, "plan_id": MEDIUM}),
        &last,
    )
    .await;
    assert_eq!(body["state"], "succeeded", "{body}");
    let server = world.server(&id).unwrap();
    assert_eq!(
        server["sku"],
        json!({"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"})
    );
    assert_eq!(server["properties"]["storage"]["storageSizeGB"], 64);

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

    let (status, answer) = client
        .call(
            Method::DELETE,
            &format!("{instance}?service_id={SERVICE}&plan_id={MEDIUM}&accepts_incomplete=true"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    poll(&client, &last, answer["operation"].as_str().unwrap()).await;
    assert!(world.server(&id).is_none(), "the server is deleted");
    assert_eq!(world.arm.violations(), Vec::<String>::new());

    let (exit, more) = serve.terminate();
    assert!(exit.success(), "{exit:?}");
    lines.extend(more);
    let log = lines.join("\n");
    assert!(log.contains(&name), "the log names the server:\n{log}");
    let token = world
        .arm
        .requests()
        .into_iter()
        .find(|r| r.path.contains("/oauth2/"));
    assert!(token.is_some(), "tokens came from the token endpoint");
    for secret in [
        admin_password.as_str(),
        binding_password.as_str(),
        OSB_PASSWORD,
        pgbroker_testkit::arm::CLIENT_SECRET,
        VAULT_KEY,
    ] {
        let leaked: Vec<&String> = lines.iter().filter(|l| l.contains(secret)).collect();
        assert!(leaked.is_empty(), "{secret:?} in the log: {leaked:?}");
    }
    for token in world.arm.issued_tokens() {
        assert!(!log.contains(&token), "an access token in the log");
    }
}

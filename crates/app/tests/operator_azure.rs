//! A `PostgreSQLServer` on the `azure-flexible` backend through the operator door, against the
//! ARM stand-in (see common/azure.rs) and the in-memory Kubernetes API: create → Ready with a
//! Secret whose login works, the admin password kept in a Kubernetes Secret next to the object
//! (none in the state store, which has no vault key here) → a bigger class and a firewall rule
//! from the spec → a password reset that rotates the admin password too → delete, which removes
//! the server and its vault Secret. It runs the real `pgbroker serve` binary at DEBUG and checks
//! that no password, client secret or token is in any log line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::aws::local_uri;
use common::azure::AzureWorld;
use common::kube::{ready, until};
use common::logged::Logged;
use common::shared_server::{Cleanup, can_connect};
use common::{TempDir, pgbroker};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use pgbroker_api_crd::crd::server::PostgreSQLServer;
use pgbroker_kube_testserver::TestServer;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_server_on_azure_keeps_its_admin_password_in_a_kubernetes_secret() {
    let kube = TestServer::start_default().await.unwrap();
    kube.create_namespace("team-a").unwrap();
    let dir = TempDir::new();
    let kubeconfig = dir.file("kubeconfig", &common::kube::kubeconfig(&kube));
    let world = AzureWorld::start().await;
    let catalog = dir.file(
        "catalog.yaml",
        "services:
  - id: svc-azure
    name: azure
    description: Azure Database for PostgreSQL flexible server
    bindable: true
    plan_updateable: true
    plans:
      - {id: plan-azure-small, name: small, description: small, backend: azure, settings: {class: small, storage_gb: 32}}
      - {id: plan-azure-medium, name: medium, description: medium, backend: azure, settings: {class: medium, storage_gb: 32}}
",
    );
    let config = json!({
        "state_store": {"url": format!("sqlite://{}?mode=rwc", dir.path().join("state.db").display())},
        "server": {"listen": "127.0.0.1:0"},
        "engine": {"poll_interval_ms": 10},
        "log": {"format": "json", "filter": "debug,hyper=info,h2=info,sqlx=info,reqwest=info,hyper_util=info,tower=info,kube_client=info"},
        "osb": {"enabled": false},
        "operator": {"enabled": true, "kubeconfig": kubeconfig, "default_backend": "azure", "lease_namespace": "default"},
        "catalog": {"path": catalog},
        "backends": {"azure": {"kind": "azure-flexible", "settings": world.settings()}},
    });
    let config = dir.file("pgbroker.yaml", &serde_json::to_string(&config).unwrap());
    let mut serve = Logged::spawn(
        pgbroker(&["--config", &config.display().to_string(), "serve"])
            .current_dir(dir.path())
            .env_remove("KUBERNETES_SERVICE_HOST"),
    );
    serve.wait_for(|line| line.contains("the operator runs").then_some(()));

    let servers: Api<PostgreSQLServer> = Api::namespaced(kube.client(), "team-a");
    let object: PostgreSQLServer = serde_json::from_value(json!({
        "apiVersion": "pgbroker.io/v1alpha1", "kind": "PostgreSQLServer",
        "metadata": {"name": "orders", "namespace": "team-a"},
        "spec": {"size": {"class": "small", "storageGB": 32}, "credentialsSecret": "orders-db"}
    }))
    .unwrap();
    let created = servers
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    let _sql = Cleanup(format!("pgb_{uid}"));
    let name = format!("pgbroker-{uid}");
    until("Ready", || async {
        servers.get("orders").await.ok().filter(ready)
    })
    .await;

    let secrets: Api<Secret> = Api::namespaced(kube.client(), "team-a");
    let data = secrets.get("orders-db").await.unwrap().data.unwrap();
    let text = |data: &BTreeMap<String, k8s_openapi::ByteString>, key: &str| {
        String::from_utf8(data[key].0.clone()).unwrap()
    };
    let host = format!("{name}.postgres.database.azure.com");
    assert_eq!(text(&data, "host"), host);
    assert!(
        can_connect(&local_uri(&text(&data, "uri"), &host)).await,
        "the Secret's login works"
    );
    let vault_secret = format!("pgbroker-vault-{uid}");
    let kept = secrets.get(&vault_secret).await.unwrap();
    let owner = &kept.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("PostgreSQLServer", "orders", uid.as_str())
    );
    let vault = kept.data.unwrap();
    let admin = text(&vault, "admin-password");
    assert_eq!(
        world.arm.admin_password(&name).as_deref(),
        Some(admin.as_str())
    );
    assert_eq!(
        world.server(&uid).unwrap()["tags"]["pgbroker:instance-id"],
        uid
    );

    // A bigger class and a firewall rule of the server's own.
    servers
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": {"class": "medium"},
                "network": {"firewallRules": [{"name": "ci", "startIp": "198.51.100.7", "endIp": "198.51.100.7"}]}}})),
        )
        .await
        .unwrap();
    until("the server is resized with the rule", || async {
        let server = world.server(&uid)?;
        let rules = world.arm.firewall_rules(&name);
        (server["sku"]["tier"] == "GeneralPurpose" && rules.iter().any(|r| r["name"] == "ci"))
            .then_some(())
    })
    .await;
    until("Ready after the change", || async {
        let now = servers.get("orders").await.ok()?;
        let observed = now.status.as_ref().and_then(|s| s.observed_generation);
        (ready(&now) && observed == now.metadata.generation).then_some(())
    })
    .await;

    // A password reset: the login's password and the server's admin password both change.
    let before = text(
        &secrets.get("orders-db").await.unwrap().data.unwrap(),
        "password",
    );
    servers
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"operator/action": "reset-password"}}})),
        )
        .await
        .unwrap();
    let rotated = until("the admin password is rotated", || async {
        let now = world.arm.admin_password(&name)?;
        (now != admin).then_some(now)
    })
    .await;
    let secrets_seen = until("the reset is done", || async {
        let data = secrets.get("orders-db").await.ok()?.data?;
        let labels = servers
            .get("orders")
            .await
            .ok()?
            .metadata
            .labels
            .unwrap_or_default();
        (text(&data, "password") != before && !labels.contains_key("operator/action"))
            .then_some(data)
    })
    .await;
    let vault = secrets.get(&vault_secret).await.unwrap().data.unwrap();
    assert_eq!(
        text(&vault, "admin-password"),
        rotated,
        "the vault holds the password Azure has"
    );

    servers
        .delete("orders", &DeleteParams::default())
        .await
        .unwrap();
    until("the object is gone", || async {
        servers
            .get_opt("orders")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(world.server(&uid).is_none(), "the server is deleted");
    assert!(
        secrets.get_opt(&vault_secret).await.unwrap().is_none(),
        "the vault Secret goes with it"
    );
    assert_eq!(world.arm.violations(), Vec::<String>::new());

    // No password (the login's before and after the reset, the admin's before and after the
    // rotation), client secret or access token in any log line.
    let (exit, lines) = serve.terminate();
    assert!(exit.success(), "{exit:?}");
    let after = text(&secrets_seen, "password");
    for secret in [
        admin.as_str(),
        rotated.as_str(),
        before.as_str(),
        after.as_str(),
        pgbroker_testkit::arm::CLIENT_SECRET,
    ] {
        let leaked: Vec<&String> = lines.iter().filter(|l| l.contains(secret)).collect();
        assert!(leaked.is_empty(), "a secret in the log: {leaked:?}");
    }
    for token in world.arm.issued_tokens() {
        assert!(
            lines.iter().all(|l| !l.contains(&token)),
            "an access token in the log"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains(&name)),
        "the log names the server"
    );
    for file in ["state.db", "state.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&admin) && !text.contains(&rotated),
            "an admin password in {file}"
        );
    }
}

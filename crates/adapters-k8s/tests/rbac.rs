//! `deploy/rbac/clusterrole.yaml` grants exactly what the backend uses: every request of a run
//! through every feature (per-instance namespaces, pooler, load balancer, monitoring, backups
//! with copied credentials, extensions, bind, update, unbind, deprovision, retain, readiness
//! check) is covered by a rule, and every granted verb was used.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use pgbroker_adapters_k8s::settings::{BackupSettings, CnpgSettings, S3Credentials};
use pgbroker_domain::OperationState;
use pgbroker_domain::ports::Backend;
use pgbroker_kube_testserver::Gvr;
use pgbroker_kube_testserver::store::WriteOptions;
use serde_json::{Value, json};
use support::world::*;

type Grant = (String, String, String);

fn cluster_role() -> BTreeSet<Grant> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/rbac/clusterrole.yaml"
    );
    let role: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(role["kind"], json!("ClusterRole"));
    let mut grants = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                for verb in rule["verbs"].as_array().unwrap() {
                    let s = |v: &Value| v.as_str().unwrap().to_string();
                    grants.insert((s(group), s(resource), s(verb)));
                }
            }
        }
    }
    grants
}

fn settings(retain: bool) -> CnpgSettings {
    CnpgSettings {
        allowed_parameters: vec!["work_mem".into()],
        monitoring: true,
        backup: Some(BackupSettings {
            destination_path: "s3://backups/pgbroker".into(),
            endpoint_url: Some("http://minio.example:9000".into()),
            s3_credentials: Some(S3Credentials {
                secret_name: "backup-s3".into(),
                source_namespace: Some("pgbroker".into()),
                access_key_id_key: "ACCESS_KEY_ID".into(),
                secret_access_key_key: "ACCESS_SECRET_KEY".into(),
            }),
            retention: "30d".into(),
            schedule: "0 0 2 * * *".into(),
        }),
        retain_on_deprovision: retain,
        ..CnpgSettings::default()
    }
}

/// The backup credentials the backend copies into each instance's namespace, made behind the
/// request log's back.
fn seed(w: &World) {
    w.server.create_namespace("pgbroker").unwrap();
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "backup-s3", "namespace": "pgbroker"},
        "data": {"ACCESS_KEY_ID": "a2V5", "ACCESS_SECRET_KEY": "c2VjcmV0"}});
    w.server
        .store()
        .create(
            &Gvr::new("", "v1", "secrets"),
            Some("pgbroker"),
            secret,
            &WriteOptions::default(),
        )
        .unwrap();
    w.server.clear_requests();
}

fn used(w: &World) -> BTreeSet<Grant> {
    w.server
        .requests()
        .into_iter()
        .filter(|r| !r.is_non_resource())
        .map(|r| (r.group.clone(), r.rbac_resource(), r.verb.clone()))
        .collect()
}

#[tokio::test]
async fn the_cluster_role_grants_exactly_what_the_backend_uses() {
    let mut all_used = BTreeSet::new();

    let w = World::new(settings(false)).await;
    seed(&w);
    w.backend.check().await.unwrap();
    let op = w
        .provision(
            "inst-1",
            HA,
            json!({"parameters": {"work_mem": "8MB"}, "extensions": ["pg_trgm"]}),
        )
        .await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let copied = w
        .server
        .get_object("secrets", Some("pg-inst-1"), "pg-inst-1-backup-s3")
        .unwrap();
    assert_eq!(
        copied["data"]["ACCESS_KEY_ID"],
        json!("a2V5"),
        "credentials copied"
    );
    let op = w.bind("inst-1", "b-1", HA).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let op = w
        .update("inst-1", SINGLE_BIG, Some(json!({"extensions": []})))
        .await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let op = w.unbind("inst-1", "b-1", HA).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let op = w.deprovision("inst-1", SINGLE_BIG).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    all_used.extend(used(&w));
    drop(w);

    let w = World::new(settings(true)).await;
    seed(&w);
    let op = w.provision("inst-2", SINGLE, json!({})).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let op = w.deprovision("inst-2", SINGLE).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let kept = w
        .server
        .get_object("clusters", Some("pg-inst-2"), "pg-inst-2")
        .expect("retained");
    assert!(kept["metadata"]["annotations"]["pgbroker.io/retained"].is_string());
    all_used.extend(used(&w));

    let granted = cluster_role();
    let missing: Vec<&Grant> = all_used.difference(&granted).collect();
    let unused: Vec<&Grant> = granted.difference(&all_used).collect();
    assert!(
        missing.is_empty(),
        "requests the ClusterRole does not allow: {missing:?}"
    );
    assert!(unused.is_empty(), "granted but never used: {unused:?}");
}

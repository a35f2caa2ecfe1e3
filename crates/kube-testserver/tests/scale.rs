//! The scale subresource of CNPG's Cluster (`.spec.instances`), as `kubectl scale` uses it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use support::{cnpg, create_cluster, server_without_simulator, wait_phase};

#[tokio::test]
async fn cluster_scale_reads_and_writes_instances() {
    let server = server_without_simulator().await;
    create_cluster(&server, "pg", json!({ "instances": 1 })).await;
    let clusters = cnpg(&server, "Cluster");
    let scale = clusters.get_scale("pg").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(1));

    let patched = clusters
        .patch_scale(
            "pg",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 3 } })),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(3));
    let cluster = clusters.get("pg").await.unwrap();
    assert_eq!(cluster.data["spec"]["instances"], 3);
    assert_eq!(cluster.metadata.generation, Some(2));

    let mut stale = clusters.get_scale("pg").await.unwrap();
    stale.metadata.resource_version = Some("1".into());
    let err = clusters
        .replace_scale("pg", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 409));
    let zero = clusters
        .patch_scale(
            "pg",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 0 } })),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(zero, kube::Error::Api(s) if s.code == 422),
        "the CRD's minimum still applies"
    );
    let verbs: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.subresource == "scale")
        .map(|r| r.verb.clone())
        .collect();
    assert_eq!(verbs, ["get", "patch", "get", "update", "patch"]);
}

#[tokio::test]
async fn scaling_a_simulated_cluster_changes_its_ready_instances() {
    let server = pgbroker_kube_testserver::TestServer::start_default()
        .await
        .unwrap();
    create_cluster(&server, "pg", json!({ "instances": 1 })).await;
    wait_phase(
        &server,
        "pg",
        pgbroker_kube_testserver::simulator::PHASE_HEALTHY,
    )
    .await;
    let clusters = cnpg(&server, "Cluster");
    clusters
        .patch_scale(
            "pg",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 2 } })),
        )
        .await
        .unwrap();
    let two = kube::runtime::wait::await_condition(
        clusters.clone(),
        "pg",
        |o: Option<&kube::core::DynamicObject>| {
            o.is_some_and(|o| o.data["status"]["readyInstances"] == 2)
        },
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(two.data["status"]["instances"], 2);
    assert_eq!(
        clusters
            .get_scale("pg")
            .await
            .unwrap()
            .status
            .unwrap()
            .replicas,
        2
    );
}

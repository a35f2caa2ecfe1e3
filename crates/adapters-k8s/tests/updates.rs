//! Plan and parameter updates (what may change and what is refused), retain mode, backups and
//! restore, against the test server and its CNPG simulator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use pgbroker_adapters_k8s::settings::CnpgSettings;
use pgbroker_domain::OperationState;
use serde_json::json;
use support::world::*;

const ID: &str = GUID;
const CLUSTER: &str = GUID_CLUSTER;

fn settings() -> CnpgSettings {
    test_settings()
}

#[tokio::test]
async fn storage_can_only_grow() {
    let w = World::new(settings()).await;
    let op = w.provision(ID, SINGLE, json!({})).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let op = w.update(ID, TINY, None).await;
    let failed = w.settle(op).await;
    assert_eq!(failed.state, OperationState::Failed);
    assert_eq!(
        failed.description.as_deref(),
        Some("storage can only grow: the cluster has 10Gi, the new plan 5Gi")
    );
    let cluster = w
        .server
        .get_object("clusters", Some(CLUSTER), CLUSTER)
        .unwrap();
    assert_eq!(
        cluster["spec"]["storage"]["size"],
        json!("10Gi"),
        "nothing was changed"
    );
    // Growing works and is applied.
    let op = w.update(ID, HA, None).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let cluster = w
        .server
        .get_object("clusters", Some(CLUSTER), CLUSTER)
        .unwrap();
    assert_eq!(cluster["spec"]["storage"]["size"], json!("20Gi"));
}

#[tokio::test]
async fn updates_that_cannot_be_done_are_refused_in_words() {
    let w = World::new(settings()).await;
    let op = w
        .provision(ID, SINGLE, json!({"postgres_version": 17}))
        .await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let op = w
        .update(ID, SINGLE, Some(json!({"postgres_version": 16})))
        .await;
    let failed = w.settle(op).await;
    assert_eq!(failed.state, OperationState::Failed);
    assert_eq!(
        failed.description.as_deref(),
        Some("postgres_version cannot go down from 17 to 16")
    );
    let op = w
        .update(
            ID,
            SINGLE,
            Some(json!({"parameters": {"shared_buffers": "1GB"}})),
        )
        .await;
    let failed = w.settle(op).await;
    assert_eq!(
        failed.description.as_deref(),
        Some("postgresql parameter \"shared_buffers\" may not be set (allowed: work_mem)")
    );
    // A major upgrade goes through, and the cluster is still there and healthy.
    let op = w
        .update(ID, SINGLE, Some(json!({"postgres_version": 18})))
        .await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let cluster = w
        .server
        .get_object("clusters", Some(CLUSTER), CLUSTER)
        .unwrap();
    assert_eq!(
        cluster["spec"]["imageName"],
        json!("ghcr.io/cloudnative-pg/postgresql:18.6-system-trixie")
    );
}

#[tokio::test]
async fn retain_mode_keeps_only_clusters_that_hold_data() {
    let w = World::new(CnpgSettings {
        retain_on_deprovision: true,
        ..settings()
    })
    .await;
    // Never bootstrapped: nothing worth keeping, so it is deleted.
    w.server.simulator().stall_cluster("pg-never", "pg-never");
    let op = w.provision("never", QUICK, json!({})).await;
    assert_eq!(w.settle(op).await.state, OperationState::Failed);
    w.settle_instance(&instance("never")).await;
    nothing_left(&w, "never");
    // Healthy: kept, annotated, and the instance is gone from the broker.
    let op = w.provision(ID, SINGLE, json!({})).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let op = w.deprovision(ID, SINGLE).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    assert!(w.store.instance(&instance(ID)).await.unwrap().is_none());
    let kept = w
        .server
        .get_object("clusters", Some(CLUSTER), CLUSTER)
        .expect("retained");
    assert!(kept["metadata"]["annotations"]["pgbroker.io/retained"].is_string());
}

#[tokio::test]
async fn a_retain_request_keeps_the_cluster_without_retain_mode() {
    let w = World::new(settings()).await;
    let op = w.provision(ID, SINGLE, json!({})).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    // The policy travels with the operation through the store to the engine's step.
    let op = w
        .deprovision_with(ID, SINGLE, pgbroker_domain::DeletionPolicy::Retain)
        .await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    assert!(w.store.instance(&instance(ID)).await.unwrap().is_none());
    let kept = w
        .server
        .get_object("clusters", Some(CLUSTER), CLUSTER)
        .expect("retained");
    assert!(kept["metadata"]["annotations"]["pgbroker.io/retained"].is_string());
    // Without it the same backend deletes.
    let op = w.provision("other", SINGLE, json!({})).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let op = w.deprovision("other", SINGLE).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    nothing_left(&w, "other");
}

#[tokio::test]
async fn backups_are_scheduled_and_a_new_instance_restores_from_them() {
    let w = World::new(CnpgSettings {
        backup: Some(pgbroker_adapters_k8s::settings::BackupSettings {
            destination_path: "s3://backups/pgbroker".into(),
            endpoint_url: None,
            s3_credentials: None,
            retention: "14d".into(),
            schedule: "0 30 1 * * *".into(),
        }),
        ..settings()
    })
    .await;
    let op = w.provision("src", SINGLE, json!({})).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let store = w
        .server
        .get_object("objectstores", Some("pg-src"), "pg-src-store")
        .expect("object store");
    assert_eq!(store["spec"]["retentionPolicy"], json!("14d"));
    assert_eq!(
        store["spec"]["configuration"]["destinationPath"],
        json!("s3://backups/pgbroker")
    );
    let schedule = w
        .server
        .get_object("scheduledbackups", Some("pg-src"), "pg-src-daily")
        .expect("schedule");
    assert_eq!(schedule["spec"]["schedule"], json!("0 30 1 * * *"));
    assert_eq!(schedule["spec"]["method"], json!("plugin"));
    let src = w
        .server
        .get_object("clusters", Some("pg-src"), "pg-src")
        .unwrap();
    assert_eq!(src["spec"]["plugins"][0]["isWALArchiver"], json!(true));

    let op = w
        .provision(
            "dst",
            SINGLE,
            json!({"restore_from": {"instance_id": "src", "target_time": "2026-11-24T06:00:00Z"}}),
        )
        .await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let dst = w
        .server
        .get_object("clusters", Some("pg-dst"), "pg-dst")
        .unwrap();
    assert_eq!(
        dst["spec"]["bootstrap"]["recovery"]["source"],
        json!("origin")
    );
    assert_eq!(
        dst["spec"]["externalClusters"][0]["plugin"]["parameters"],
        json!({"barmanObjectName": "pg-dst-store", "serverName": "pg-src"})
    );
    assert_all_valid(&w);
    for id in ["src", "dst"] {
        let op = w.deprovision(id, SINGLE).await;
        assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
        nothing_left(&w, id);
    }
}

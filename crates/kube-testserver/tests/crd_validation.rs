//! Custom resources are validated against their CRD's openAPIV3Schema (CNPG 1.30, barman-cloud)
//! on create, replace and patch, answered with 422 Invalid naming the field; defaults are applied.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kube::api::{Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use pgbroker_kube_testserver::validate;
use serde_json::json;
use support::{api, cluster, rejected, server_without_simulator};

#[tokio::test]
async fn cluster_violating_the_cnpg_schema_is_rejected_with_422_naming_the_field() {
    let server = server_without_simulator().await;
    let clusters = api(&server, "postgresql.cnpg.io", "Cluster");

    let wrong_type = rejected(
        &clusters,
        &cluster(json!({ "instances": "three", "storage": { "size": "1Gi" } })),
    )
    .await;
    assert_eq!(
        (wrong_type.code, wrong_type.reason.as_str()),
        (422, "Invalid")
    );
    assert!(
        wrong_type.message.starts_with(
            "Cluster.postgresql.cnpg.io \"pg\" is invalid: spec.instances: Invalid value"
        ),
        "{}",
        wrong_type.message
    );
    let causes = wrong_type.details.unwrap().causes;
    assert_eq!(causes[0].field, "spec.instances");

    let unknown = rejected(
        &clusters,
        &cluster(json!({ "instances": 1, "storage": { "size": "1Gi", "sise": "2Gi" } })),
    )
    .await;
    assert!(
        unknown.message.contains("spec.storage.sise"),
        "{}",
        unknown.message
    );

    let bad_enum = rejected(
        &clusters,
        &cluster(json!({ "instances": 1, "primaryUpdateStrategy": "sometimes" })),
    )
    .await;
    assert!(
        bad_enum.message.contains("spec.primaryUpdateStrategy: Unsupported value: \"sometimes\": supported values: \"unsupervised\", \"supervised\""),
        "{}",
        bad_enum.message
    );

    let too_small = rejected(&clusters, &cluster(json!({ "instances": 0 }))).await;
    assert!(
        too_small
            .message
            .contains("spec.instances in body should be greater than or equal to 1"),
        "{}",
        too_small.message
    );

    let bad_quantity = rejected(
        &clusters,
        &cluster(json!({ "instances": 1, "resources": { "requests": { "cpu": "lots" } } })),
    )
    .await;
    assert!(
        bad_quantity
            .message
            .contains("spec.resources.requests[cpu]"),
        "{}",
        bad_quantity.message
    );

    let several = rejected(
        &clusters,
        &cluster(json!({ "instances": 0, "logLevel": "loud" })),
    )
    .await;
    assert!(
        several.message.contains("is invalid: ["),
        "several errors are listed: {}",
        several.message
    );
    assert!(clusters.get_opt("pg").await.unwrap().is_none());
}

#[tokio::test]
async fn valid_cluster_is_stored_with_schema_defaults_and_open_maps_accept_any_key() {
    let server = server_without_simulator().await;
    let clusters = api(&server, "postgresql.cnpg.io", "Cluster");
    let spec = json!({
        "instances": 3,
        "imageName": "ghcr.io/cloudnative-pg/postgresql:17.5",
        "storage": { "size": "10Gi", "storageClass": "fast" },
        "resources": { "requests": { "cpu": "500m", "memory": "1Gi" }, "limits": { "cpu": 2, "memory": "2Gi" } },
        "postgresql": { "parameters": { "max_connections": "200", "work_mem": "8MB" } },
        "bootstrap": { "initdb": { "database": "app", "owner": "app" } },
        "affinity": { "enablePodAntiAffinity": true, "podAntiAffinityType": "required" },
    });
    let created = clusters
        .create(&PostParams::default(), &cluster(spec))
        .await
        .unwrap();
    assert_eq!(
        created.data["spec"]["primaryUpdateStrategy"], "unsupervised",
        "schema default applied"
    );
    assert_eq!(created.data["spec"]["logLevel"], "info");
    assert_eq!(created.data["spec"]["storage"]["resizeInUseVolumes"], true);
    assert_eq!(
        created.data["spec"]["postgresql"]["parameters"]["work_mem"],
        "8MB"
    );
}

#[tokio::test]
async fn replace_and_patch_results_are_validated_too() {
    let server = server_without_simulator().await;
    let clusters = api(&server, "postgresql.cnpg.io", "Cluster");
    let created = clusters
        .create(&PostParams::default(), &cluster(json!({ "instances": 1 })))
        .await
        .unwrap();
    let err = clusters
        .patch(
            "pg",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "instances": -1 } })),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422 && s.message.contains("spec.instances")),
        "{err:?}"
    );
    let err = clusters
        .patch("pg", &PatchParams::apply("broker"), &Patch::Apply(json!({
            "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": { "name": "pg" },
            "spec": { "instances": 1, "notAField": true },
        })))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422 && s.message.contains("spec.notAField")),
        "{err:?}"
    );
    let mut bad = created.clone();
    bad.data["spec"]["logLevel"] = json!("loud");
    let err = clusters
        .replace("pg", &PostParams::default(), &bad)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422 && s.message.contains("spec.logLevel")),
        "{err:?}"
    );
    assert_eq!(
        clusters.get("pg").await.unwrap().data["spec"]["instances"],
        1,
        "rejected writes change nothing"
    );
}

#[tokio::test]
async fn pooler_required_fields_and_object_store_patterns_are_enforced() {
    let server = server_without_simulator().await;
    let poolers = api(&server, "postgresql.cnpg.io", "Pooler");
    let pooler: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Pooler",
        "metadata": { "name": "pg-pooler" }, "spec": { "cluster": { "name": "pg" } },
    }))
    .unwrap();
    let status = rejected(&poolers, &pooler).await;
    assert!(
        status.message.contains("spec.pgbouncer: Required value"),
        "{}",
        status.message
    );

    let stores = api(&server, "barmancloud.cnpg.io", "ObjectStore");
    let store: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "barmancloud.cnpg.io/v1", "kind": "ObjectStore",
        "metadata": { "name": "backups" },
        "spec": { "configuration": { "destinationPath": "s3://bucket/x" }, "retentionPolicy": "30 days" },
    }))
    .unwrap();
    let status = rejected(&stores, &store).await;
    assert!(
        status
            .message
            .contains("spec.retentionPolicy in body should match '^[1-9][0-9]*[dwm]$'"),
        "{}",
        status.message
    );
}

#[test]
fn validate_function_checks_objects_without_a_server() {
    let good = json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Database",
        "metadata": { "name": "db1" },
        "spec": { "cluster": { "name": "pg" }, "name": "orders", "owner": "app", "databaseReclaimPolicy": "delete" },
    });
    assert_eq!(validate("databases", &good), Ok(()));
    assert_eq!(validate("Database", &good), Ok(()));
    assert_eq!(validate("databases.postgresql.cnpg.io", &good), Ok(()));
    let mut bad = good.clone();
    bad["spec"]["databaseReclaimPolicy"] = json!("shred");
    let err = validate("Database", &bad).unwrap_err();
    assert!(
        err.contains("spec.databaseReclaimPolicy: Unsupported value: \"shred\""),
        "{err}"
    );
    let role = json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "DatabaseRole",
        "metadata": { "name": "r" },
        "spec": { "cluster": { "name": "pg" }, "name": "binding_1", "login": true, "passwordSecret": { "name": "s" } },
    });
    assert_eq!(validate("DatabaseRole", &role), Ok(()));
    assert!(
        validate("nonsense", &role)
            .unwrap_err()
            .contains("unknown resource")
    );
}

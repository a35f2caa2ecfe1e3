//! Admission beyond the schema: metadata rules, CloudNativePG's webhooks (Cluster name, defaults,
//! no storage shrink) and the CRDs' CEL rules (`x-kubernetes-validations`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kube::api::{Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use serde_json::{Value, json};
use support::{api, cluster, rejected, server_without_simulator};

#[tokio::test]
async fn cnpg_webhook_and_metadata_rules_reject_bad_names_and_labels() {
    let server = server_without_simulator().await;
    let clusters = api(&server, "postgresql.cnpg.io", "Cluster");
    let named = |name: &str, labels: Value| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
            "metadata": { "name": name, "labels": labels }, "spec": { "instances": 1 },
        }))
        .unwrap()
    };
    // An OSB instance id used raw: starts with a digit.
    let guid = rejected(
        &clusters,
        &named("0b3e1c1e-7d1f-4a5e-9c8e-2f6d7a8b9c0d", json!({})),
    )
    .await;
    assert_eq!(guid.code, 422);
    assert!(
        guid.message
            .starts_with("admission webhook \"vcluster.cnpg.io\" denied the request"),
        "{}",
        guid.message
    );
    assert!(guid.message.contains("DNS-1035"), "{}", guid.message);
    let long = rejected(
        &clusters,
        &named(&format!("pg-{}", "a".repeat(48)), json!({})),
    )
    .await;
    assert!(
        long.message
            .contains("maximum length of a cluster name is 50 characters"),
        "{}",
        long.message
    );
    clusters
        .create(
            &PostParams::default(),
            &named(&format!("pg-{}", "a".repeat(47)), json!({})),
        )
        .await
        .unwrap();

    let label = rejected(
        &clusters,
        &named("pg", json!({ "broker.example/instance": "x".repeat(64) })),
    )
    .await;
    assert!(
        label.message.contains("metadata.labels: Invalid value"),
        "{}",
        label.message
    );
}

#[tokio::test]
async fn cnpg_mutating_webhook_defaults_image_and_bootstrap() {
    let server = server_without_simulator().await;
    let clusters = api(&server, "postgresql.cnpg.io", "Cluster");
    let named = |name: &str, spec: Value| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": { "name": name }, "spec": spec,
        }))
        .unwrap()
    };
    let bare = clusters
        .create(
            &PostParams::default(),
            &named("bare", json!({ "instances": 1 })),
        )
        .await
        .unwrap();
    assert_eq!(
        bare.data["spec"]["imageName"],
        pgbroker_kube_testserver::store::CNPG_DEFAULT_IMAGE
    );
    assert_eq!(
        bare.data["spec"]["bootstrap"],
        json!({ "initdb": { "database": "app", "owner": "app" } })
    );
    let orders = clusters
        .create(
            &PostParams::default(),
            &named(
                "orders",
                json!({ "instances": 1, "bootstrap": { "initdb": { "database": "orders" } } }),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        orders.data["spec"]["bootstrap"]["initdb"]["owner"],
        "orders"
    );
    let catalog = json!({ "instances": 1, "imageCatalogRef": { "apiGroup": "postgresql.cnpg.io", "kind": "ClusterImageCatalog", "name": "pg", "major": 17 } });
    let from_catalog = clusters
        .create(&PostParams::default(), &named("cat", catalog))
        .await
        .unwrap();
    assert!(from_catalog.data["spec"].get("imageName").is_none());
}

#[tokio::test]
async fn cnpg_webhook_refuses_to_shrink_storage() {
    let server = server_without_simulator().await;
    let clusters = api(&server, "postgresql.cnpg.io", "Cluster");
    clusters
        .create(
            &PostParams::default(),
            &cluster(json!({ "instances": 1, "storage": { "size": "5Gi" } })),
        )
        .await
        .unwrap();
    let shrink = Patch::Merge(json!({ "spec": { "storage": { "size": "1Gi" } } }));
    let err = clusters
        .patch("pg", &PatchParams::default(), &shrink)
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected 422")
    };
    assert_eq!(status.code, 422);
    assert!(status.message.contains("spec.storage.size: Invalid value: \"1Gi\": can't shrink existing storage from 5Gi to 1Gi"), "{}", status.message);
    let grow = Patch::Merge(json!({ "spec": { "storage": { "size": "6000Mi" } } }));
    let grown = clusters
        .patch("pg", &PatchParams::default(), &grow)
        .await
        .unwrap();
    assert_eq!(grown.data["spec"]["storage"]["size"], "6000Mi");
}

#[tokio::test]
async fn cel_rules_of_the_crds_are_enforced_on_create_and_update() {
    let server = server_without_simulator().await;
    let clusters = api(&server, "postgresql.cnpg.io", "Cluster");
    let both = cluster(json!({
        "instances": 1, "imageName": "postgres:17",
        "imageCatalogRef": { "apiGroup": "postgresql.cnpg.io", "kind": "ClusterImageCatalog", "name": "pg", "major": 17 },
    }));
    let status = rejected(&clusters, &both).await;
    assert!(
        status.message.contains(
            "spec: Invalid value: \"object\": imageName and imageCatalogRef are mutually exclusive"
        ),
        "{}",
        status.message
    );

    let roles = api(&server, "postgresql.cnpg.io", "DatabaseRole");
    let role = |name: &str| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "postgresql.cnpg.io/v1", "kind": "DatabaseRole", "metadata": { "name": "r" },
            "spec": { "cluster": { "name": "pg" }, "name": name, "login": true },
        }))
        .unwrap()
    };
    let reserved = rejected(&roles, &role("pg_admin")).await;
    assert!(
        reserved
            .message
            .contains("role names starting with pg_ are reserved by PostgreSQL"),
        "{}",
        reserved.message
    );
    roles
        .create(&PostParams::default(), &role("binding_1"))
        .await
        .unwrap();
    let rename = Patch::Merge(json!({ "spec": { "name": "binding_2" } }));
    let err = roles
        .patch("r", &PatchParams::default(), &rename)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422 && s.message.contains("name is immutable")),
        "{err:?}"
    );
    let other_cluster = Patch::Merge(json!({ "spec": { "cluster": { "name": "elsewhere" } } }));
    let err = roles
        .patch("r", &PatchParams::default(), &other_cluster)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.message.contains("spec.cluster: Invalid value: \"object\": cluster reference is immutable after creation")),
        "{err:?}"
    );
    let login_off = Patch::Merge(json!({ "spec": { "login": false } }));
    roles
        .patch("r", &PatchParams::default(), &login_off)
        .await
        .unwrap();

    let databases = api(&server, "postgresql.cnpg.io", "Database");
    let db: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Database", "metadata": { "name": "d" },
        "spec": { "cluster": { "name": "pg" }, "name": "template1", "owner": "app" },
    }))
    .unwrap();
    let status = rejected(&databases, &db).await;
    assert!(
        status
            .message
            .contains("spec.name: Invalid value: \"string\": the name template1 is reserved"),
        "{}",
        status.message
    );
}

//! Custom resources are validated against their CRD's openAPIV3Schema (CNPG 1.30, barman-cloud)
//! on create, replace and patch, answered with 422 Invalid naming the field; defaults are applied.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use pgbroker_kube_testserver::{SimulatorOptions, TestServer, TestServerOptions, validate};
use serde_json::{Value, json};

fn api(server: &TestServer, group: &str, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, "v1", kind);
    Api::namespaced_with(server.client(), "default", &ApiResource::from_gvk(&gvk))
}

fn cluster(spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": { "name": "pg" }, "spec": spec,
    }))
    .unwrap()
}

async fn server() -> TestServer {
    let options = TestServerOptions {
        simulator: SimulatorOptions {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    };
    TestServer::start(options).await.unwrap()
}

async fn rejected(api: &Api<DynamicObject>, object: &DynamicObject) -> kube::core::Status {
    match api.create(&PostParams::default(), object).await {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected 422, got {other:?}"),
    }
}

#[tokio::test]
async fn cluster_violating_the_cnpg_schema_is_rejected_with_422_naming_the_field() {
    let server = server().await;
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
    let server = server().await;
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
    let server = server().await;
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
    let server = server().await;
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

#[tokio::test]
async fn cnpg_webhook_and_metadata_rules_reject_bad_names_and_labels() {
    let server = server().await;
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
    let server = server().await;
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
    let server = server().await;
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
    let server = server().await;
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

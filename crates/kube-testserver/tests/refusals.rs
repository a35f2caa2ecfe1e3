//! Writes a real API server refuses, refused the same way: patch types a resource does not take,
//! `PatchOptions` it does not accept, updates that would change an object's identity, and
//! custom-resource updates without a `resourceVersion`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use serde_json::{Value, json};
use support::{cluster, raw, server_without_simulator};

fn status(result: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

const CLUSTER_PATH: &str = "/apis/postgresql.cnpg.io/v1/namespaces/default/clusters/pg";

async fn with_cluster() -> (pgbroker_kube_testserver::TestServer, Api<DynamicObject>) {
    let server = server_without_simulator().await;
    let api = support::cnpg(&server, "Cluster");
    api.create(
        &PostParams::default(),
        &cluster(json!({"instances": 1, "storage": {"size": "1Gi"}})),
    )
    .await
    .unwrap();
    (server, api)
}

#[tokio::test]
async fn patch_types_are_those_the_resource_takes() {
    let (server, _) = with_cluster().await;
    let patch = r#"{"metadata":{"labels":{"a":"b"}}}"#;
    // There is no JSON apply type (JSON is sent as YAML, `application/apply-patch+yaml`).
    let (code, body) = raw(
        &server,
        "PATCH",
        &format!("{CLUSTER_PATH}?fieldManager=me"),
        &[("Content-Type", "application/apply-patch+json")],
        patch,
    )
    .await;
    assert_eq!(
        (code, &body["reason"]),
        (415, &json!("UnsupportedMediaType"))
    );
    // Custom resources take no strategic merge patch.
    let (code, body) = raw(
        &server,
        "PATCH",
        CLUSTER_PATH,
        &[("Content-Type", "application/strategic-merge-patch+json")],
        patch,
    )
    .await;
    assert_eq!(code, 415);
    assert_eq!(
        body["message"],
        json!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        )
    );
    // A built-in type does.
    let configmaps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    configmaps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "cm"}})).unwrap(),
        )
        .await
        .unwrap();
    configmaps
        .patch(
            "cm",
            &PatchParams::default(),
            &Patch::Strategic(json!({"data": {"k": "v"}})),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn patch_options_are_validated_like_the_api_servers() {
    let (server, _) = with_cluster().await;
    let apply =
        r#"{"apiVersion":"postgresql.cnpg.io/v1","kind":"Cluster","metadata":{"name":"pg"}}"#;
    let (code, body) = raw(
        &server,
        "PATCH",
        CLUSTER_PATH,
        &[("Content-Type", "application/apply-patch+yaml")],
        apply,
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(
        body["message"],
        json!(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
        )
    );
    assert_eq!(body["details"]["group"], json!("meta.k8s.io"));
    assert_eq!(body["details"]["kind"], json!("PatchOptions"));
    let (code, body) = raw(
        &server,
        "PATCH",
        &format!("{CLUSTER_PATH}?force=true"),
        &[("Content-Type", "application/merge-patch+json")],
        "{}",
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(
        body["message"],
        json!(
            "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch"
        )
    );
    let long = "m".repeat(129);
    let (code, _) = raw(
        &server,
        "PATCH",
        &format!("{CLUSTER_PATH}?fieldManager={long}"),
        &[("Content-Type", "application/apply-patch+yaml")],
        apply,
    )
    .await;
    assert_eq!(code, 422);
}

#[tokio::test]
async fn a_patch_cannot_rename_move_or_re_uid_an_object() {
    let (_server, api) = with_cluster().await;
    let merge = |v: Value| Patch::Merge(v);
    let params = PatchParams::default();
    let refused = status(
        api.patch(
            "pg",
            &params,
            &merge(json!({"metadata": {"name": "other"}})),
        )
        .await,
    );
    assert_eq!(refused.code, 400);
    assert_eq!(
        refused.message,
        "the name of the object (other) does not match the name on the URL (pg)"
    );
    let refused = status(
        api.patch(
            "pg",
            &params,
            &merge(json!({"metadata": {"namespace": "kube-system"}})),
        )
        .await,
    );
    assert_eq!(refused.code, 400);
    assert_eq!(
        refused.message,
        "the namespace of the provided object does not match the namespace sent on the request"
    );
    let refused = status(
        api.patch("pg", &params, &merge(json!({"metadata": {"uid": "u-1"}})))
            .await,
    );
    assert_eq!(refused.code, 422);
    assert_eq!(
        refused.message,
        "Cluster.postgresql.cnpg.io \"pg\" is invalid: metadata.uid: Invalid value: \"u-1\": field is immutable"
    );
    // Naming the object's own identity is fine.
    api.patch(
        "pg",
        &params,
        &merge(json!({"metadata": {"name": "pg", "namespace": "default"}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_replace_needs_the_same_uid_and_for_custom_resources_a_resource_version() {
    let (server, api) = with_cluster().await;
    let mut current = api.get("pg").await.unwrap();
    current.metadata.resource_version = None;
    let refused = status(api.replace("pg", &PostParams::default(), &current).await);
    assert_eq!(refused.code, 422);
    assert_eq!(
        refused.message,
        "clusters.postgresql.cnpg.io \"pg\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
    );
    let mut other = api.get("pg").await.unwrap();
    other.metadata.uid = Some("u-1".into());
    let refused = status(api.replace("pg", &PostParams::default(), &other).await);
    assert_eq!((refused.code, refused.reason.as_str()), (409, "Conflict"));
    assert!(
        refused
            .message
            .contains("Precondition failed: UID in precondition: u-1, UID in object meta: "),
        "{}",
        refused.message
    );
    // Built-in types such as ConfigMaps allow an update without a resourceVersion.
    let configmaps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "cm"}})).unwrap();
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    configmaps
        .replace("cm", &PostParams::default(), &cm)
        .await
        .unwrap();
}

#[tokio::test]
async fn secret_data_must_be_base64() {
    let server = server_without_simulator().await;
    let path = "/api/v1/namespaces/default/secrets";
    let json_type = [("Content-Type", "application/json")];
    let bad =
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"k":"not base64!"}}"#;
    let (code, body) = raw(&server, "POST", path, &json_type, bad).await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        json!(
            "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 3"
        )
    );
    let good = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"k":"dg=="}}"#;
    assert_eq!(raw(&server, "POST", path, &json_type, good).await.0, 201);
    let (code, body) = raw(
        &server,
        "PATCH",
        &format!("{path}/s"),
        &[("Content-Type", "application/merge-patch+json")],
        r#"{"data":{"k":"%%%"}}"#,
    )
    .await;
    assert_eq!(code, 422);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .ends_with("illegal base64 data at input byte 0")
    );
}

#[tokio::test]
async fn an_apply_naming_a_uid_cannot_create() {
    let server = server_without_simulator().await;
    let (code, body) = raw(
        &server,
        "PATCH",
        &format!("{CLUSTER_PATH}?fieldManager=me"),
        &[("Content-Type", "application/apply-patch+yaml")],
        r#"{"apiVersion":"postgresql.cnpg.io/v1","kind":"Cluster","metadata":{"name":"pg","uid":"u-1"},"spec":{"instances":1,"storage":{"size":"1Gi"}}}"#,
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(
        body["message"],
        json!(
            "Operation cannot be fulfilled on clusters.postgresql.cnpg.io \"pg\": uid mismatch: the provided object specified uid u-1, and no existing object was found"
        )
    );
    assert!(
        server
            .get_object("clusters", Some("default"), "pg")
            .is_none()
    );
}

#[tokio::test]
async fn dry_run_takes_only_all() {
    let server = server_without_simulator().await;
    let body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"}}"#;
    let json_type = [("Content-Type", "application/json")];
    let path = "/api/v1/namespaces/default/configmaps";
    let (code, answer) = raw(
        &server,
        "POST",
        &format!("{path}?dryRun=Yes"),
        &json_type,
        body,
    )
    .await;
    assert_eq!(code, 422);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .starts_with("CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value"),
        "{answer}"
    );
    assert!(
        server
            .get_object("configmaps", Some("default"), "cm")
            .is_none()
    );
    let (code, _) = raw(
        &server,
        "POST",
        &format!("{path}?dryRun=All"),
        &json_type,
        body,
    )
    .await;
    assert_eq!(code, 201);
    assert!(
        server
            .get_object("configmaps", Some("default"), "cm")
            .is_none()
    );
}

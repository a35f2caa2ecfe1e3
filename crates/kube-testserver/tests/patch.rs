//! Merge, JSON and strategic-merge patches through a real `kube::Client`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use pgbroker_kube_testserver::TestServer;
use serde_json::json;

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn configmap(server: &TestServer) -> Api<ConfigMap> {
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let cm: ConfigMap = serde_json::from_value(
        json!({ "metadata": { "name": "c" }, "data": { "a": "1", "b": "2" } }),
    )
    .unwrap();
    maps.create(&PostParams::default(), &cm).await.unwrap();
    maps
}

#[tokio::test]
async fn merge_strategic_and_json_patches() {
    let server = TestServer::start_default().await.unwrap();
    let maps = configmap(&server).await;
    let merged = maps
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({ "data": { "a": null, "c": "3" } })),
        )
        .await
        .unwrap();
    let data = merged.data.unwrap();
    assert_eq!(
        (data.get("a"), data["b"].as_str(), data["c"].as_str()),
        (None, "2", "3")
    );

    let strategic = maps
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Strategic(json!({ "metadata": { "labels": { "l": "v" } } })),
        )
        .await
        .unwrap();
    assert_eq!(strategic.metadata.labels.unwrap()["l"], "v");

    let ops: json_patch::Patch = serde_json::from_value(json!([
        { "op": "replace", "path": "/data/b", "value": "20" },
        { "op": "add", "path": "/data/d", "value": "4" },
    ]))
    .unwrap();
    let patched = maps
        .patch("c", &PatchParams::default(), &Patch::Json::<()>(ops))
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["b"], "20");

    let failing: json_patch::Patch =
        serde_json::from_value(json!([{ "op": "test", "path": "/data/b", "value": "nope" }]))
            .unwrap();
    let err = api_error(
        maps.patch("c", &PatchParams::default(), &Patch::Json::<()>(failing))
            .await,
    );
    assert_eq!(err.code, 422);

    // As on the API server: `test` of a missing path against null passes (kube-runtime's
    // finalizer helper adds the first finalizer so), against anything else it fails.
    let first_finalizer: json_patch::Patch = serde_json::from_value(json!([
        { "op": "test", "path": "/metadata/finalizers", "value": null },
        { "op": "add", "path": "/metadata/finalizers", "value": ["example.com/f"] },
    ]))
    .unwrap();
    let with_finalizer = maps
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Json::<()>(first_finalizer),
        )
        .await
        .unwrap();
    assert_eq!(
        with_finalizer.metadata.finalizers.unwrap(),
        ["example.com/f"]
    );
    let missing: json_patch::Patch =
        serde_json::from_value(json!([{ "op": "test", "path": "/data/zz", "value": "x" }]))
            .unwrap();
    let err = api_error(
        maps.patch("c", &PatchParams::default(), &Patch::Json::<()>(missing))
            .await,
    );
    assert_eq!(err.code, 422);
    let null_present: json_patch::Patch = serde_json::from_value(json!([
        { "op": "test", "path": "/metadata/finalizers", "value": null }
    ]))
    .unwrap();
    let err = api_error(
        maps.patch(
            "c",
            &PatchParams::default(),
            &Patch::Json::<()>(null_present),
        )
        .await,
    );
    assert_eq!(err.code, 422);

    let scalar = api_error(
        maps.patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!("not an object")),
        )
        .await,
    );
    assert_eq!(scalar.code, 400);
    let replace_root: json_patch::Patch =
        serde_json::from_value(json!([{ "op": "replace", "path": "", "value": 5 }])).unwrap();
    let root = api_error(
        maps.patch(
            "c",
            &PatchParams::default(),
            &Patch::Json::<()>(replace_root),
        )
        .await,
    );
    assert_eq!(root.code, 400);

    let missing = api_error(
        maps.patch("zz", &PatchParams::default(), &Patch::Merge(json!({})))
            .await,
    );
    assert_eq!(missing.code, 404);
}

#[tokio::test]
async fn merge_patch_with_a_stale_resource_version_conflicts() {
    let server = TestServer::start_default().await.unwrap();
    let maps = configmap(&server).await;
    let err = api_error(
        maps.patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "resourceVersion": "1" } })),
        )
        .await,
    );
    assert_eq!(err.code, 409);
}

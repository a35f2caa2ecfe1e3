//! CRDs beyond CNPG's: created through the API or passed in options, then served, discovered and
//! enforced like the built-in ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::Discovery;
use pgbroker_kube_testserver::{TestServer, TestServerOptions};
use serde_json::{Value, json};

fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "widgets.example.com" },
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": { "kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList" },
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": { "status": {} },
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": { "type": "object", "required": ["size"],
                                  "properties": { "size": { "type": "integer", "minimum": 1 } } },
                        "status": { "type": "object", "properties": { "ready": { "type": "boolean" } } },
                    },
                } },
            }],
        },
    })
}

fn widget(size: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w" }, "spec": { "size": size },
    }))
    .unwrap()
}

fn widgets(server: &TestServer) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("example.com", "v1", "Widget");
    Api::namespaced_with(server.client(), "default", &ApiResource::from_gvk(&gvk))
}

#[tokio::test]
async fn a_crd_created_through_the_api_is_served_and_enforced() {
    let server = TestServer::start_default().await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(server.client());
    assert!(
        crds.get_opt("clusters.postgresql.cnpg.io")
            .await
            .unwrap()
            .is_some(),
        "loaded CRDs are objects too"
    );
    let crd: CustomResourceDefinition = serde_json::from_value(widget_crd()).unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();

    let discovery = Discovery::new(server.client()).run().await.unwrap();
    assert!(
        discovery
            .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
            .is_some()
    );
    let api = widgets(&server);
    let err = api
        .create(&PostParams::default(), &widget(json!(0)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422 && s.message.contains("spec.size")),
        "{err:?}"
    );
    let created = api
        .create(&PostParams::default(), &widget(json!(2)))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
}

#[tokio::test]
async fn extra_crds_in_the_options_are_served_from_the_start() {
    let options = TestServerOptions {
        extra_crds: vec![widget_crd()],
        ..TestServerOptions::default()
    };
    let server = TestServer::start(options).await.unwrap();
    widgets(&server)
        .create(&PostParams::default(), &widget(json!(3)))
        .await
        .unwrap();
    assert_eq!(
        server.get_object("widgets", Some("default"), "w").unwrap()["spec"]["size"],
        3
    );
    let invalid = serde_json::to_value(widget(json!("big"))).unwrap();
    let err = server.validate("Widget", &invalid).unwrap_err();
    assert!(err.contains("spec.size"), "{err}");
}

#[tokio::test]
async fn a_large_crd_can_be_created_through_the_api() {
    let options = TestServerOptions {
        crd_dirs: Vec::new(),
        ..TestServerOptions::default()
    };
    let server = TestServer::start(options).await.unwrap();
    let path =
        pgbroker_kube_testserver::crds::cnpg_crd_dir().join("postgresql.cnpg.io_poolers.yaml");
    let crd = pgbroker_kube_testserver::crds::load_crd_file(&path)
        .unwrap()
        .remove(0);
    let crd: CustomResourceDefinition = serde_json::from_value(crd).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(server.client());
    crds.create(&PostParams::default(), &crd).await.unwrap();
    assert!(
        server
            .get_object(
                "customresourcedefinitions",
                None,
                "poolers.postgresql.cnpg.io"
            )
            .is_some()
    );
    assert!(
        server.store().registry().find("Pooler").is_some(),
        "the new type is served"
    );
}

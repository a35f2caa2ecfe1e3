//! Fault injection (500/409/429 for the next N matching requests) and the RBAC-style request log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use pgbroker_kube_testserver::{FaultRule, SimulatorOptions, TestServer, TestServerOptions};
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({ "metadata": { "name": name } })).unwrap()
}

fn code(err: kube::Error) -> (u16, String) {
    match err {
        kube::Error::Api(s) => (s.code, s.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn next_n_matching_requests_fail_with_the_injected_status() {
    let server = TestServer::start_default().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    server.faults().inject(
        FaultRule::status(500)
            .times(2)
            .verb("create")
            .resource("configmaps"),
    );
    server.faults().inject(
        FaultRule::status(409)
            .method("PATCH")
            .path_contains("/configmaps/a"),
    );

    // Another resource is not affected by the configmap rule.
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    let secret: Secret = serde_json::from_value(json!({ "metadata": { "name": "s" } })).unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    assert_eq!(
        code(
            maps.create(&PostParams::default(), &cm("a"))
                .await
                .unwrap_err()
        ),
        (500, "InternalError".into())
    );
    assert_eq!(
        code(
            maps.create(&PostParams::default(), &cm("a"))
                .await
                .unwrap_err()
        ),
        (500, "InternalError".into())
    );
    assert!(
        maps.get_opt("a").await.unwrap().is_none(),
        "a faulted request changes nothing"
    );
    maps.create(&PostParams::default(), &cm("a")).await.unwrap();
    assert_eq!(server.faults().pending(), 1);

    let patch = Patch::Merge(json!({ "data": { "k": "v" } }));
    assert_eq!(
        code(
            maps.patch("a", &PatchParams::default(), &patch)
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );
    maps.patch("a", &PatchParams::default(), &patch)
        .await
        .unwrap();
    assert_eq!(server.faults().pending(), 0);
}

#[tokio::test]
async fn too_many_requests_is_retried_by_kube_or_surfaces_without_retries() {
    let server = TestServer::start_default().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    maps.create(&PostParams::default(), &cm("a")).await.unwrap();
    server.clear_requests();
    server.faults().inject(FaultRule::status(429).verb("get"));
    maps.get("a").await.unwrap();
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [429, 200],
        "kube's default retry policy retried the 429"
    );

    let mut config = server.config().unwrap();
    config.default_retry = false;
    let no_retry: Api<ConfigMap> =
        Api::namespaced(kube::Client::try_from(config).unwrap(), "default");
    server.faults().inject(FaultRule::status(429).verb("get"));
    assert_eq!(
        code(no_retry.get("a").await.unwrap_err()),
        (429, "TooManyRequests".into())
    );
}

#[tokio::test]
async fn request_log_describes_requests_as_rbac_sees_them() {
    let options = TestServerOptions {
        simulator: SimulatorOptions {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let server = TestServer::start(options).await.unwrap();
    let gvk = GroupVersionKind::gvk("postgresql.cnpg.io", "v1", "Cluster");
    let clusters: Api<DynamicObject> =
        Api::namespaced_with(server.client(), "default", &ApiResource::from_gvk(&gvk));
    let cluster = json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": { "name": "pg" }, "spec": { "instances": 1 },
    });
    server.client().apiserver_version().await.unwrap();
    clusters
        .patch("pg", &PatchParams::apply("broker"), &Patch::Apply(&cluster))
        .await
        .unwrap();
    let got = clusters.get("pg").await.unwrap();
    clusters
        .replace("pg", &PostParams::default(), &got)
        .await
        .unwrap();
    clusters.get_status("pg").await.unwrap();
    clusters
        .patch_status(
            "pg",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "phase": "x" } })),
        )
        .await
        .unwrap();
    clusters
        .list(&ListParams::default().labels("a=b"))
        .await
        .unwrap();
    let mut stream = Box::pin(clusters.watch(&WatchParams::default(), "0").await.unwrap());
    assert!(matches!(
        stream.try_next().await.unwrap(),
        Some(WatchEvent::Added(_))
    ));
    clusters
        .delete("pg", &DeleteParams::default())
        .await
        .unwrap();
    let maps: Api<ConfigMap> = Api::all(server.client());
    maps.list(&ListParams::default()).await.unwrap();
    let ns_maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    ns_maps
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();

    let seen: Vec<(String, String, String, String, String)> = server
        .requests()
        .into_iter()
        .map(|r| {
            (
                r.verb.clone(),
                r.group.clone(),
                r.rbac_resource(),
                r.namespace.clone(),
                r.name.clone(),
            )
        })
        .collect();
    let row = |v: &str, g: &str, r: &str, ns: &str, n: &str| {
        (v.into(), g.into(), r.into(), ns.into(), n.into())
    };
    let cnpg = "postgresql.cnpg.io";
    assert_eq!(
        seen,
        vec![
            row("get", "", "", "", ""),
            row("patch", cnpg, "clusters", "default", "pg"),
            row("get", cnpg, "clusters", "default", "pg"),
            row("update", cnpg, "clusters", "default", "pg"),
            row("get", cnpg, "clusters/status", "default", "pg"),
            row("patch", cnpg, "clusters/status", "default", "pg"),
            row("list", cnpg, "clusters", "default", ""),
            row("watch", cnpg, "clusters", "default", ""),
            row("delete", cnpg, "clusters", "default", "pg"),
            row("list", "", "configmaps", "", ""),
            row("deletecollection", "", "configmaps", "default", ""),
        ]
    );
    let first = &server.requests()[0];
    assert!(first.is_non_resource());
    assert_eq!(first.path, "/version");
}

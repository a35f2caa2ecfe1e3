//! CRUD, conflicts, selectors, status subresource and discovery through a real `kube::Client`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::Discovery;
use pgbroker_kube_testserver::TestServer;
use serde_json::json;

fn secret(name: &str, labels: &[(&str, &str)]) -> Secret {
    serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        },
        "stringData": { "password": "s3cret" },
    }))
    .unwrap()
}

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn secret_create_get_list_replace_delete() {
    let server = TestServer::start_default().await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    let created = secrets
        .create(&PostParams::default(), &secret("a", &[]))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    let rv1: u64 = created
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();

    let got = secrets.get("a").await.unwrap();
    assert_eq!(got.metadata.uid, created.metadata.uid);
    assert!(got.string_data.is_none(), "stringData is folded into data");
    assert_eq!(got.data.as_ref().unwrap()["password"].0, b"s3cret");
    assert_eq!(
        secrets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    let mut changed = got.clone();
    changed.metadata.labels = Some(BTreeMap::from([("x".to_string(), "y".to_string())]));
    let replaced = secrets
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = replaced
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1, "resourceVersion grows: {rv1} -> {rv2}");

    let deleted = secrets.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(deleted.is_right(), "immediate deletion answers a Status");
    let missing = api_error(secrets.get("a").await);
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "secrets \"a\" not found");
}

#[tokio::test]
async fn stale_replace_is_a_conflict_and_duplicate_create_already_exists() {
    let server = TestServer::start_default().await.unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({ "metadata": { "name": "c" }, "data": { "k": "1" } }))
            .unwrap();
    let first = maps.create(&PostParams::default(), &cm).await.unwrap();
    let dup = api_error(maps.create(&PostParams::default(), &cm).await);
    assert_eq!((dup.code, dup.reason.as_str()), (409, "AlreadyExists"));

    let mut newer = first.clone();
    newer.data = Some(BTreeMap::from([("k".to_string(), "2".to_string())]));
    maps.replace("c", &PostParams::default(), &newer)
        .await
        .unwrap();
    let mut stale = first.clone();
    stale.data = Some(BTreeMap::from([("k".to_string(), "3".to_string())]));
    let conflict = api_error(maps.replace("c", &PostParams::default(), &stale).await);
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert!(
        conflict.message.contains("the object has been modified"),
        "{}",
        conflict.message
    );
    assert_eq!(maps.get("c").await.unwrap().data.unwrap()["k"], "2");
}

#[tokio::test]
async fn writes_into_a_missing_namespace_are_rejected() {
    let server = TestServer::start_default().await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(server.client(), "nowhere");
    let err = api_error(
        secrets
            .create(&PostParams::default(), &secret("a", &[]))
            .await,
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );

    let namespaces: Api<Namespace> = Api::all(server.client());
    let ns: Namespace =
        serde_json::from_value(json!({ "metadata": { "name": "nowhere" } })).unwrap();
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    secrets
        .create(&PostParams::default(), &secret("a", &[]))
        .await
        .unwrap();
}

#[tokio::test]
async fn label_and_field_selectors_filter_lists() {
    let server = TestServer::start_default().await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    for (name, tier) in [("a", "gold"), ("b", "silver"), ("c", "bronze")] {
        secrets
            .create(
                &PostParams::default(),
                &secret(name, &[("tier", tier), ("app", "db")]),
            )
            .await
            .unwrap();
    }
    secrets
        .create(&PostParams::default(), &secret("d", &[]))
        .await
        .unwrap();
    let names = |list: kube::core::ObjectList<Secret>| {
        list.items
            .into_iter()
            .map(|s| s.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    let by = |sel: &str| ListParams::default().labels(sel);
    assert_eq!(names(secrets.list(&by("tier=gold")).await.unwrap()), ["a"]);
    assert_eq!(
        names(secrets.list(&by("tier!=gold")).await.unwrap()),
        ["b", "c", "d"]
    );
    assert_eq!(
        names(secrets.list(&by("tier in (gold,silver)")).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        names(secrets.list(&by("tier notin (gold,silver)")).await.unwrap()),
        ["c", "d"]
    );
    assert_eq!(
        names(secrets.list(&by("app")).await.unwrap()),
        ["a", "b", "c"]
    );
    assert_eq!(names(secrets.list(&by("!app")).await.unwrap()), ["d"]);
    let field = ListParams::default().fields("metadata.name=b");
    assert_eq!(names(secrets.list(&field).await.unwrap()), ["b"]);
    let all: Api<Secret> = Api::all(server.client());
    let field = ListParams::default()
        .fields("metadata.namespace=default,metadata.name!=b")
        .labels("app=db");
    assert_eq!(names(all.list(&field).await.unwrap()), ["a", "c"]);
}

fn cluster_api(server: &TestServer) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("postgresql.cnpg.io", "v1", "Cluster");
    Api::namespaced_with(server.client(), "default", &ApiResource::from_gvk(&gvk))
}

fn cluster(name: &str, instances: i64) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": { "name": name },
        "spec": { "instances": instances, "storage": { "size": "1Gi" } },
        "status": { "phase": "made up by the client" },
    }))
    .unwrap()
}

#[tokio::test]
async fn status_subresource_separates_spec_and_status_writes_and_generation_counts_spec_changes() {
    let options = pgbroker_kube_testserver::TestServerOptions {
        simulator: pgbroker_kube_testserver::SimulatorOptions {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let server = TestServer::start(options).await.unwrap();
    let clusters = cluster_api(&server);
    let created = clusters
        .create(&PostParams::default(), &cluster("pg", 1))
        .await
        .unwrap();
    assert!(
        created.data.get("status").is_none(),
        "status is dropped on create"
    );
    assert_eq!(created.metadata.generation, Some(1));

    let mut with_status = created.clone();
    with_status.data["status"] =
        json!({ "phase": "Cluster in healthy state", "readyInstances": 1 });
    with_status.data["spec"]["instances"] = json!(5);
    let after_status = clusters
        .replace_status("pg", &PostParams::default(), &with_status)
        .await
        .unwrap();
    assert_eq!(after_status.data["status"]["readyInstances"], 1);
    assert_eq!(
        after_status.data["spec"]["instances"], 1,
        "a /status write changes only status"
    );
    assert_eq!(
        after_status.metadata.generation,
        Some(1),
        "status writes keep the generation"
    );

    let mut spec_change = after_status.clone();
    spec_change.data["spec"]["instances"] = json!(3);
    spec_change.data["status"] = json!({ "phase": "overwritten?" });
    let after_spec = clusters
        .replace("pg", &PostParams::default(), &spec_change)
        .await
        .unwrap();
    assert_eq!(after_spec.data["spec"]["instances"], 3);
    assert_eq!(
        after_spec.data["status"]["phase"], "Cluster in healthy state",
        "main writes ignore status"
    );
    assert_eq!(after_spec.metadata.generation, Some(2));

    let mut label_only = after_spec.clone();
    label_only.metadata.labels = Some(BTreeMap::from([("l".to_string(), "v".to_string())]));
    let after_label = clusters
        .replace("pg", &PostParams::default(), &label_only)
        .await
        .unwrap();
    assert_eq!(
        after_label.metadata.generation,
        Some(2),
        "metadata changes keep the generation"
    );

    let same = clusters
        .replace("pg", &PostParams::default(), &after_label)
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version, after_label.metadata.resource_version,
        "no-op writes keep the version"
    );
}

#[tokio::test]
async fn discovery_lists_core_cnpg_barman_and_monitoring_resources() {
    let server = TestServer::start_default().await.unwrap();
    let classic = Discovery::new(server.client()).run().await.unwrap();
    let aggregated = Discovery::new(server.client())
        .run_aggregated()
        .await
        .unwrap();
    assert_eq!(aggregated.groups().count(), classic.groups().count());
    for discovery in [classic, aggregated] {
        check_discovery(&discovery);
    }
    let version = server.client().apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");
}

fn check_discovery(discovery: &Discovery) {
    let find = |group: &str, kind: &str| {
        let gvk = GroupVersionKind::gvk(group, "v1", kind);
        discovery
            .resolve_gvk(&gvk)
            .map(|(ar, caps)| (ar.plural, caps.scope))
    };
    for (group, kind, plural) in [
        ("", "Secret", "secrets"),
        ("", "Service", "services"),
        ("", "Namespace", "namespaces"),
        ("", "ConfigMap", "configmaps"),
        ("", "Event", "events"),
        ("postgresql.cnpg.io", "Cluster", "clusters"),
        ("postgresql.cnpg.io", "Pooler", "poolers"),
        ("postgresql.cnpg.io", "Database", "databases"),
        ("postgresql.cnpg.io", "DatabaseRole", "databaseroles"),
        ("postgresql.cnpg.io", "ScheduledBackup", "scheduledbackups"),
        (
            "postgresql.cnpg.io",
            "ClusterImageCatalog",
            "clusterimagecatalogs",
        ),
        ("barmancloud.cnpg.io", "ObjectStore", "objectstores"),
        ("monitoring.coreos.com", "PodMonitor", "podmonitors"),
    ] {
        let (found, _) =
            find(group, kind).unwrap_or_else(|| panic!("{group}/{kind} not discovered"));
        assert_eq!(found, plural);
    }
    let (_, scope) = find("postgresql.cnpg.io", "ClusterImageCatalog").unwrap();
    assert_eq!(scope, kube::discovery::Scope::Cluster);
    let (_, scope) = find("postgresql.cnpg.io", "Cluster").unwrap();
    assert_eq!(scope, kube::discovery::Scope::Namespaced);
}

#[tokio::test]
async fn lists_are_chunked_with_limit_and_continue() {
    let server = TestServer::start_default().await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    for name in ["a", "b", "c", "d", "e"] {
        secrets
            .create(&PostParams::default(), &secret(name, &[]))
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(2);
    let mut pages = 0;
    loop {
        let page = secrets.list(&params).await.unwrap();
        pages += 1;
        names.extend(page.items.into_iter().map(|s| s.metadata.name.unwrap()));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(
        (names, pages),
        (
            vec!["a", "b", "c", "d", "e"]
                .into_iter()
                .map(String::from)
                .collect(),
            3
        )
    );
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = TestServer::start_default().await.unwrap();
    let client = server.client();
    let url = server.url();
    client.apiserver_version().await.unwrap();
    drop(server);
    let after = client.apiserver_version().await;
    assert!(after.is_err(), "{url} still answers after drop: {after:?}");
}

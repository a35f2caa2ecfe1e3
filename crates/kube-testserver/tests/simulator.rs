//! The CNPG simulator: clusters become healthy with CNPG's secrets and services, can fail, stall
//! and be updated; Database/DatabaseRole get `status.applied`; Poolers get their service.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::wait::{await_condition, conditions};
use pgbroker_kube_testserver::TestServer;
use pgbroker_kube_testserver::simulator::{
    PHASE_APPLYING_CONFIGURATION, PHASE_HEALTHY, PHASE_SETTING_UP_PRIMARY, PHASE_UNRECOVERABLE,
};
use serde_json::{Value, json};

fn cnpg(server: &TestServer, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("postgresql.cnpg.io", "v1", kind);
    Api::namespaced_with(server.client(), "default", &ApiResource::from_gvk(&gvk))
}

async fn create_cluster(server: &TestServer, name: &str, spec: Value) -> DynamicObject {
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": { "name": name }, "spec": spec,
    }))
    .unwrap();
    cnpg(server, "Cluster")
        .create(&PostParams::default(), &object)
        .await
        .unwrap()
}

fn phase(o: Option<&DynamicObject>) -> Option<String> {
    o.and_then(|o| o.data.pointer("/status/phase"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

async fn wait_phase(server: &TestServer, name: &str, wanted: &str) -> DynamicObject {
    let wanted = wanted.to_owned();
    await_condition(
        cnpg(server, "Cluster"),
        name,
        move |o: Option<&DynamicObject>| phase(o).as_deref() == Some(&wanted),
    )
    .await
    .unwrap()
    .unwrap()
}

fn text(secret: &Secret, key: &str) -> String {
    String::from_utf8(secret.data.as_ref().unwrap()[key].0.clone()).unwrap()
}

#[tokio::test]
async fn valid_cluster_becomes_healthy_with_cnpg_secrets_and_services() {
    let server = TestServer::start_default().await.unwrap();
    let created = create_cluster(
        &server,
        "pg",
        json!({ "instances": 2, "storage": { "size": "1Gi" }, "bootstrap": { "initdb": { "database": "orders", "owner": "shop" } } }),
    )
    .await;
    let healthy = wait_phase(&server, "pg", PHASE_HEALTHY).await;
    let status = &healthy.data["status"];
    assert_eq!(status["readyInstances"], 2);
    assert_eq!(status["writeService"], "pg-rw");
    let ready = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("True"), Some("ClusterIsReady"))
    );

    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    let app = secrets.get("pg-app").await.unwrap();
    assert_eq!(app.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    let mut keys: Vec<&str> = app
        .data
        .as_ref()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "dbname",
            "fqdn-jdbc-uri",
            "fqdn-uri",
            "host",
            "jdbc-uri",
            "password",
            "pgpass",
            "port",
            "uri",
            "user",
            "username"
        ]
    );
    let password = text(&app, "password");
    assert_eq!(password.len(), 64);
    assert_eq!(
        (
            text(&app, "username"),
            text(&app, "dbname"),
            text(&app, "host")
        ),
        ("shop".into(), "orders".into(), "pg-rw".into())
    );
    assert_eq!(
        text(&app, "uri"),
        format!("postgresql://shop:{password}@pg-rw.default:5432/orders")
    );
    assert_eq!(
        text(&app, "jdbc-uri"),
        format!("jdbc:postgresql://pg-rw.default:5432/orders?password={password}&user=shop")
    );
    assert_eq!(
        text(&app, "fqdn-uri"),
        format!("postgresql://shop:{password}@pg-rw.default.svc.cluster.local:5432/orders")
    );
    assert_eq!(
        app.metadata.labels.as_ref().unwrap()["cnpg.io/reload"],
        "true"
    );
    let owner = &app.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Cluster", created.metadata.uid.as_deref().unwrap())
    );

    let ca = secrets.get("pg-ca").await.unwrap();
    assert!(text(&ca, "ca.crt").starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(ca.data.as_ref().unwrap().contains_key("ca.key"));
    assert_eq!(
        secrets.get("pg-server").await.unwrap().type_.as_deref(),
        Some("kubernetes.io/tls")
    );
    assert!(
        secrets.get_opt("pg-superuser").await.unwrap().is_none(),
        "superuser access is off by default"
    );

    let services: Api<Service> = Api::namespaced(server.client(), "default");
    for (suffix, role) in [
        ("rw", Some("primary")),
        ("ro", Some("replica")),
        ("r", None),
    ] {
        let svc = services.get(&format!("pg-{suffix}")).await.unwrap();
        let spec = svc.spec.unwrap();
        let port = &spec.ports.unwrap()[0];
        assert_eq!((port.name.as_deref(), port.port), (Some("postgres"), 5432));
        assert_eq!(
            spec.selector
                .unwrap()
                .get("cnpg.io/instanceRole")
                .map(String::as_str),
            role
        );
    }

    // Deleting the cluster garbage-collects what it owns.
    cnpg(&server, "Cluster")
        .delete("pg", &DeleteParams::default())
        .await
        .unwrap();
    assert!(secrets.get_opt("pg-app").await.unwrap().is_none());
    assert!(services.get_opt("pg-rw").await.unwrap().is_none());
}

#[tokio::test]
async fn superuser_secret_and_load_balancer_services_when_asked() {
    let server = TestServer::start_default().await.unwrap();
    create_cluster(
        &server,
        "pg",
        json!({
            "instances": 1, "storage": { "size": "1Gi" }, "enableSuperuserAccess": true,
            "managed": { "services": {
                "disabledDefaultServices": ["ro", "r"],
                "additional": [{ "selectorType": "rw", "serviceTemplate": {
                    "metadata": { "name": "pg-lb", "annotations": { "lb.example/internal": "true" } },
                    "spec": { "type": "LoadBalancer" } } }],
            } },
        }),
    )
    .await;
    wait_phase(&server, "pg", PHASE_HEALTHY).await;
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    let su = secrets.get("pg-superuser").await.unwrap();
    assert_eq!(
        (text(&su, "username"), text(&su, "dbname")),
        ("postgres".into(), "*".into())
    );
    let services: Api<Service> = Api::namespaced(server.client(), "default");
    assert!(services.get_opt("pg-ro").await.unwrap().is_none());
    assert!(services.get_opt("pg-r").await.unwrap().is_none());
    let lb = await_condition(services, "pg-lb", |s: Option<&Service>| {
        s.and_then(|s| s.status.as_ref()?.load_balancer.as_ref()?.ingress.as_ref())
            .is_some_and(|i| !i.is_empty())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        lb.metadata.annotations.unwrap()["lb.example/internal"],
        "true"
    );
}

#[tokio::test]
async fn a_failed_cluster_reports_the_failure_phase_until_healed() {
    let server = TestServer::start_default().await.unwrap();
    server.simulator().fail_cluster(
        "default",
        "pg",
        PHASE_UNRECOVERABLE,
        "primary lost its volume",
    );
    create_cluster(
        &server,
        "pg",
        json!({ "instances": 1, "storage": { "size": "1Gi" } }),
    )
    .await;
    let failed = wait_phase(&server, "pg", PHASE_UNRECOVERABLE).await;
    assert_eq!(
        failed.data["status"]["phaseReason"],
        "primary lost its volume"
    );
    let ready = failed.data["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready["status"], "False");
    server.simulator().heal_cluster("default", "pg");
    wait_phase(&server, "pg", PHASE_HEALTHY).await;
}

#[tokio::test]
async fn a_stalled_cluster_stays_in_setup_while_others_get_ready() {
    let server = TestServer::start_default().await.unwrap();
    server.simulator().stall_cluster("default", "stuck");
    create_cluster(&server, "stuck", json!({ "instances": 1 })).await;
    create_cluster(&server, "fine", json!({ "instances": 1 })).await;
    wait_phase(&server, "fine", PHASE_HEALTHY).await;
    let stuck = cnpg(&server, "Cluster").get("stuck").await.unwrap();
    assert_eq!(
        phase(Some(&stuck)).as_deref(),
        Some(PHASE_SETTING_UP_PRIMARY)
    );
    assert_eq!(stuck.data["status"]["readyInstances"], 0);
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    assert!(secrets.get_opt("stuck-app").await.unwrap().is_none());
    server.simulator().heal_cluster("default", "stuck");
    wait_phase(&server, "stuck", PHASE_HEALTHY).await;
}

#[tokio::test]
async fn a_spec_change_goes_through_applying_configuration_to_healthy() {
    let server = TestServer::start_default().await.unwrap();
    create_cluster(&server, "pg", json!({ "instances": 1 })).await;
    let healthy = wait_phase(&server, "pg", PHASE_HEALTHY).await;
    let clusters = cnpg(&server, "Cluster");
    let spec = Patch::Merge(json!({ "spec": { "instances": 3 } }));
    clusters
        .patch("pg", &PatchParams::default(), &spec)
        .await
        .unwrap();
    // Watching from the healthy version replays every later change, however fast it happened.
    let from = healthy.metadata.resource_version.unwrap();
    let wp = WatchParams::default().disable_bookmarks();
    let mut events = clusters.watch(&wp, &from).await.unwrap().boxed();
    let mut seen = Vec::new();
    while let Some(Ok(WatchEvent::Modified(object))) = events.next().await {
        let p = phase(Some(&object)).unwrap_or_default();
        if seen.last() != Some(&p) {
            seen.push(p.clone());
        }
        if p == PHASE_HEALTHY && object.data["status"]["readyInstances"] == 3 {
            break;
        }
    }
    assert_eq!(
        seen,
        [PHASE_HEALTHY, PHASE_APPLYING_CONFIGURATION, PHASE_HEALTHY]
    );
}

async fn create(server: &TestServer, kind: &str, name: &str, spec: Value) {
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": kind, "metadata": { "name": name }, "spec": spec,
    }))
    .unwrap();
    cnpg(server, kind)
        .create(&PostParams::default(), &object)
        .await
        .unwrap();
}

fn applied(o: Option<&DynamicObject>) -> Option<bool> {
    o.and_then(|o| o.data.pointer("/status/applied"))
        .and_then(Value::as_bool)
}

#[tokio::test]
async fn databases_and_roles_are_applied_with_finalizers_and_released_on_delete() {
    let server = TestServer::start_default().await.unwrap();
    create_cluster(&server, "pg", json!({ "instances": 1 })).await;
    create(
        &server,
        "Database",
        "db-orders",
        json!({ "cluster": { "name": "pg" }, "name": "orders", "owner": "app" }),
    )
    .await;
    create(
        &server,
        "DatabaseRole",
        "role-b1",
        json!({ "cluster": { "name": "pg" }, "name": "b1", "login": true, "passwordSecret": { "name": "b1-password" } }),
    )
    .await;
    let db = await_condition(
        cnpg(&server, "Database"),
        "db-orders",
        |o: Option<&DynamicObject>| applied(o) == Some(true),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        db.metadata.finalizers.as_deref(),
        Some(&["cnpg.io/deleteDatabase".to_string()][..])
    );
    assert_eq!(
        db.data["status"]["observedGeneration"],
        db.metadata.generation.unwrap()
    );

    // The role waits for its password secret.
    let role = await_condition(
        cnpg(&server, "DatabaseRole"),
        "role-b1",
        |o: Option<&DynamicObject>| {
            o.and_then(|o| o.data.pointer("/status/message"))
                .is_some_and(|m| m.as_str().unwrap_or("").contains("b1-password"))
        },
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(applied(Some(&role)), Some(false));
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": { "name": "b1-password", "labels": { "cnpg.io/reload": "true" } },
        "type": "kubernetes.io/basic-auth",
        "stringData": { "username": "b1", "password": "pw" },
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let role = await_condition(
        cnpg(&server, "DatabaseRole"),
        "role-b1",
        |o: Option<&DynamicObject>| applied(o) == Some(true),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(role.data["status"]["secretResourceVersion"].is_string());

    let uid = db.metadata.uid.clone().unwrap();
    let pending = cnpg(&server, "Database")
        .delete("db-orders", &DeleteParams::default())
        .await
        .unwrap();
    assert!(pending.is_left(), "the CNPG finalizer holds the deletion");
    await_condition(
        cnpg(&server, "Database"),
        "db-orders",
        conditions::is_deleted(&uid),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn pooler_gets_a_service_named_after_it() {
    let server = TestServer::start_default().await.unwrap();
    create_cluster(&server, "pg", json!({ "instances": 2 })).await;
    create(
        &server,
        "Pooler",
        "pg-pooler-rw",
        json!({ "cluster": { "name": "pg" }, "type": "rw", "instances": 2, "pgbouncer": { "poolMode": "transaction" } }),
    )
    .await;
    let pooler = await_condition(
        cnpg(&server, "Pooler"),
        "pg-pooler-rw",
        |o: Option<&DynamicObject>| {
            o.and_then(|o| o.data.pointer("/status/phase"))
                .and_then(Value::as_str)
                == Some("active")
        },
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(pooler.data["status"]["instances"], 2);
    let services: Api<Service> = Api::namespaced(server.client(), "default");
    let svc = services.get("pg-pooler-rw").await.unwrap();
    let port = &svc.spec.unwrap().ports.unwrap()[0];
    assert_eq!((port.name.as_deref(), port.port), (Some("pgbouncer"), 5432));
    assert_eq!(svc.metadata.owner_references.unwrap()[0].kind, "Pooler");
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    assert_eq!(
        secrets.get("pg-pooler").await.unwrap().type_.as_deref(),
        Some("kubernetes.io/tls")
    );
}

fn backup_phase(o: Option<&DynamicObject>) -> Option<String> {
    o.and_then(|o| o.data.pointer("/status/phase"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[tokio::test]
async fn an_immediate_scheduled_backup_starts_a_backup_that_completes_or_fails() {
    let server = TestServer::start_default().await.unwrap();
    create_cluster(&server, "pg", json!({ "instances": 1 })).await;
    wait_phase(&server, "pg", PHASE_HEALTHY).await;
    create(
        &server,
        "ScheduledBackup",
        "pg-daily",
        json!({ "cluster": { "name": "pg" }, "schedule": "0 0 3 * * *", "immediate": true,
                "backupOwnerReference": "self", "method": "plugin",
                "pluginConfiguration": { "name": "barman-cloud.cloudnative-pg.io" } }),
    )
    .await;
    let scheduled = await_condition(
        cnpg(&server, "ScheduledBackup"),
        "pg-daily",
        |o: Option<&DynamicObject>| {
            o.and_then(|o| o.data.pointer("/status/lastScheduleTime"))
                .is_some()
        },
    )
    .await
    .unwrap()
    .unwrap();
    let backups = server.objects("backups");
    assert_eq!(backups.len(), 1);
    let name = backups[0]["metadata"]["name"].as_str().unwrap().to_owned();
    assert!(
        name.starts_with("pg-daily-") && name.len() == "pg-daily-".len() + 14,
        "{name}"
    );
    assert_eq!(
        backups[0]["metadata"]["ownerReferences"][0]["uid"],
        json!(scheduled.metadata.uid.unwrap())
    );
    assert_eq!(backups[0]["spec"]["method"], "plugin");
    let done = await_condition(
        cnpg(&server, "Backup"),
        &name,
        |o: Option<&DynamicObject>| backup_phase(o).as_deref() == Some("completed"),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(done.data["status"]["backupId"].is_string());

    server
        .simulator()
        .fail_backups("default", "pg", "can't reach the object store");
    create(
        &server,
        "Backup",
        "manual",
        json!({ "cluster": { "name": "pg" } }),
    )
    .await;
    let failed = await_condition(
        cnpg(&server, "Backup"),
        "manual",
        |o: Option<&DynamicObject>| backup_phase(o).as_deref() == Some("failed"),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        failed.data["status"]["error"],
        "can't reach the object store"
    );
    create(
        &server,
        "Backup",
        "orphan",
        json!({ "cluster": { "name": "nope" } }),
    )
    .await;
    let unknown = await_condition(
        cnpg(&server, "Backup"),
        "orphan",
        |o: Option<&DynamicObject>| backup_phase(o).as_deref() == Some("failed"),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(unknown.data["status"]["error"], "Unknown cluster");
}

#[tokio::test]
async fn instances_have_pods_and_pvcs_that_follow_scaling_and_storage_growth() {
    use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
    let server = TestServer::start_default().await.unwrap();
    create_cluster(
        &server,
        "pg",
        json!({ "instances": 3, "storage": { "size": "1Gi", "storageClass": "fast" } }),
    )
    .await;
    let healthy = wait_phase(&server, "pg", PHASE_HEALTHY).await;
    let pods: Api<Pod> = Api::namespaced(server.client(), "default");
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(server.client(), "default");
    let roles: Vec<String> = pods
        .list(&kube::api::ListParams::default().labels("cnpg.io/cluster=pg"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.metadata.labels.unwrap()["cnpg.io/instanceRole"].clone())
        .collect();
    assert_eq!(roles, ["primary", "replica", "replica"]);
    let claim = pvcs.get("pg-2").await.unwrap();
    assert_eq!(
        claim.spec.as_ref().unwrap().storage_class_name.as_deref(),
        Some("fast")
    );
    assert_eq!(claim.status.unwrap().capacity.unwrap()["storage"].0, "1Gi");

    let grow = Patch::Merge(json!({ "spec": { "instances": 2, "storage": { "size": "5Gi" } } }));
    cnpg(&server, "Cluster")
        .patch("pg", &PatchParams::default(), &grow)
        .await
        .unwrap();
    let from = healthy.metadata.resource_version.unwrap();
    let mut events = cnpg(&server, "Cluster")
        .watch(&WatchParams::default(), &from)
        .await
        .unwrap()
        .boxed();
    while let Some(Ok(event)) = events.next().await {
        if let WatchEvent::Modified(o) = event
            && phase(Some(&o)).as_deref() == Some(PHASE_HEALTHY)
            && o.data["status"]["readyInstances"] == 2
        {
            break;
        }
    }
    assert!(pods.get_opt("pg-3").await.unwrap().is_none(), "scaled down");
    assert!(pvcs.get_opt("pg-3").await.unwrap().is_none());
    let grown = pvcs.get("pg-1").await.unwrap();
    assert_eq!(grown.status.unwrap().capacity.unwrap()["storage"].0, "5Gi");
}

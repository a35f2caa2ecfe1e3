//! The CNPG simulator's other objects: Database and DatabaseRole (`status.applied`, finalizers),
//! Pooler services, backups, instance pods and PVCs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::DynamicObject;
use kube::runtime::wait::{await_condition, conditions};
use pgbroker_kube_testserver::TestServer;
use pgbroker_kube_testserver::simulator::PHASE_HEALTHY;
use serde_json::{Value, json};
use support::{applied, backup_phase, cnpg, create, create_cluster, phase, wait_phase};

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

//! The CNPG simulator's clusters: healthy with CNPG's secrets and services, failing, stalling,
//! going through a spec change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, WatchEvent, WatchParams};
use kube::runtime::wait::await_condition;
use pgbroker_kube_testserver::TestServer;
use pgbroker_kube_testserver::simulator::{
    PHASE_APPLYING_CONFIGURATION, PHASE_HEALTHY, PHASE_SETTING_UP_PRIMARY, PHASE_UNRECOVERABLE,
};
use serde_json::json;
use support::{cnpg, create_cluster, phase, text, wait_phase};

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

//! Failures: transient API errors are retried until the operation succeeds; refusals, CNPG failure
//! phases and clusters that never get ready fail it and the orphan mitigation removes what was
//! made; a dropped watch does not stall readiness.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use pgbroker_adapters_k8s::settings::CnpgSettings;
use pgbroker_domain::{OperationState, Reason};
use pgbroker_kube_testserver::FaultRule;
use serde_json::json;
use support::world::*;

const ID: &str = "inst-1";
const CLUSTER: &str = "pg-inst-1";

fn answered(w: &World, verb: &str, resource: &str, status: u16) -> usize {
    w.server
        .requests()
        .iter()
        .filter(|r| r.verb == verb && r.resource == resource && r.status == status)
        .count()
}

#[tokio::test]
async fn server_errors_and_throttling_are_retried_until_the_provision_succeeds() {
    let w = World::new(CnpgSettings::default()).await;
    w.server.faults().inject(
        FaultRule::status(500)
            .verb("patch")
            .resource("clusters")
            .times(2),
    );
    w.server.faults().inject(
        FaultRule::status(429)
            .verb("patch")
            .resource("namespaces")
            .times(1),
    );
    w.server.faults().inject(
        FaultRule::status(409)
            .verb("patch")
            .resource("poolers")
            .times(1),
    );
    let op = w.provision(ID, HA, json!({})).await;
    let done = w.settle(op).await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "{:?}",
        done.description
    );
    assert_eq!(answered(&w, "patch", "clusters", 500), 2);
    assert_eq!(answered(&w, "patch", "namespaces", 429), 1);
    assert_eq!(answered(&w, "patch", "poolers", 409), 1);
    assert_eq!(w.server.faults().pending(), 0);
}

#[tokio::test]
async fn a_refused_write_fails_the_provision_and_nothing_is_left_behind() {
    let w = World::new(CnpgSettings::default()).await;
    w.server.faults().inject(
        FaultRule::status(403)
            .verb("patch")
            .resource("poolers")
            .times(1),
    );
    let op = w.provision(ID, HA, json!({})).await;
    let failed = w.settle(op).await;
    assert_eq!(failed.state, OperationState::Failed);
    let text = failed.description.unwrap();
    assert!(
        text.starts_with(&format!("apply Pooler {CLUSTER}/{CLUSTER}-pooler-rw: 403")),
        "{text}"
    );
    w.settle_instance(&instance(ID)).await;
    assert!(w.store.instance(&instance(ID)).await.unwrap().is_none());
    for resource in RESOURCES {
        assert!(
            w.objects_of(resource, ID).is_empty(),
            "{resource} left behind"
        );
    }
}

#[tokio::test]
async fn errors_while_deprovisioning_are_retried_until_everything_is_gone() {
    let w = World::new(CnpgSettings::default()).await;
    let op = w.provision(ID, SINGLE, json!({})).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    w.server.faults().inject(
        FaultRule::status(503)
            .verb("delete")
            .resource("clusters")
            .times(2),
    );
    w.server.faults().inject(
        FaultRule::status(500)
            .verb("list")
            .resource("secrets")
            .times(1),
    );
    let op = w.deprovision(ID, SINGLE).await;
    let done = w.settle(op).await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "{:?}",
        done.description
    );
    assert_eq!(answered(&w, "delete", "clusters", 503), 2);
    for resource in RESOURCES {
        assert!(
            w.objects_of(resource, ID).is_empty(),
            "{resource} left behind"
        );
    }
}

#[tokio::test]
async fn a_dropped_watch_resumes_and_readiness_still_arrives() {
    let w = World::new(CnpgSettings::default()).await;
    w.server.simulator().stall_cluster(CLUSTER, CLUSTER);
    let op = w.provision(ID, SINGLE, json!({})).await;
    for _ in 0..5 {
        w.step_once(op).await;
    }
    w.server.faults().drop_watches();
    w.server.simulator().heal_cluster(CLUSTER, CLUSTER);
    let done = w.settle(op).await;
    assert_eq!(
        done.state,
        OperationState::Succeeded,
        "{:?}",
        done.description
    );
    let watches = w
        .server
        .requests()
        .iter()
        .filter(|r| r.verb == "watch")
        .count();
    assert!(
        watches >= 2,
        "the watch was opened again after the drop ({watches} watches)"
    );
}

#[tokio::test]
async fn a_refused_role_fails_the_bind_and_its_password_secret_is_removed() {
    let w = World::new(CnpgSettings::default()).await;
    let op = w.provision(ID, SINGLE, json!({})).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    w.server.faults().inject(
        FaultRule::status(422)
            .verb("patch")
            .resource("databaseroles")
            .times(1),
    );
    let op = w.bind(ID, "b-1", SINGLE).await;
    let failed = w.settle(op).await;
    assert_eq!(failed.state, OperationState::Failed);
    assert_eq!(failed.reason, Some(Reason::InvalidSpec), "422 Invalid");
    assert!(
        failed
            .description
            .as_deref()
            .unwrap_or("")
            .contains("apply DatabaseRole"),
        "{:?}",
        failed.description
    );
    w.settle_instance(&instance(ID)).await;
    assert!(
        w.binding(ID, "b-1").await.is_none(),
        "orphan mitigation unbound"
    );
    let binding_objects: Vec<_> = ["secrets", "databaseroles"]
        .into_iter()
        .flat_map(|r| w.objects_of(r, ID))
        .filter(|o| {
            o.pointer("/metadata/labels/pgbroker.io~1binding-id")
                .is_some()
        })
        .collect();
    assert!(binding_objects.is_empty(), "{binding_objects:?}");
}

#[tokio::test]
async fn a_failing_cluster_fails_the_provision_with_cnpg_words_and_leaves_nothing() {
    let w = World::new(test_settings()).await;
    w.server.simulator().fail_cluster(
        CLUSTER,
        CLUSTER,
        "Cluster is unrecoverable and needs manual intervention",
        "primary lost its data",
    );
    let op = w.provision(ID, HA, json!({})).await;
    let failed = w.settle(op).await;
    assert_eq!(failed.state, OperationState::Failed);
    assert_eq!(failed.reason, Some(Reason::BackendFailed));
    let text = failed.description.unwrap();
    assert!(
        text.contains("Cluster is unrecoverable and needs manual intervention")
            && text.contains("primary lost its data"),
        "{text}"
    );
    w.settle_instance(&instance(ID)).await;
    assert!(
        w.store.instance(&instance(ID)).await.unwrap().is_none(),
        "orphan mitigation finished"
    );
    nothing_left(&w, ID);
    assert!(w.server.get_object("namespaces", None, CLUSTER).is_none());
}

#[tokio::test]
async fn a_cluster_that_never_gets_ready_fails_at_the_deadline_and_leaves_nothing() {
    let w = World::new(test_settings()).await;
    w.server.simulator().stall_cluster(CLUSTER, CLUSTER);
    let op = w.provision(ID, QUICK, json!({})).await;
    let failed = w.settle(op).await;
    assert_eq!(failed.state, OperationState::Failed);
    assert_eq!(failed.reason, Some(Reason::DeadlineExceeded));
    let text = failed.description.unwrap();
    assert!(text.contains("deadline"), "{text}");
    w.settle_instance(&instance(ID)).await;
    assert!(w.store.instance(&instance(ID)).await.unwrap().is_none());
    nothing_left(&w, ID);
}

#[tokio::test]
async fn a_namespace_someone_else_made_is_neither_adopted_nor_deleted() {
    let w = World::new(CnpgSettings::default()).await;
    w.server.create_namespace(CLUSTER).unwrap();
    let op = w.provision(ID, SINGLE, json!({})).await;
    let failed = w.settle(op).await;
    assert_eq!(failed.state, OperationState::Failed);
    assert_eq!(failed.reason, Some(Reason::ForeignObject));
    assert_eq!(
        failed.description.as_deref(),
        Some("namespace pg-inst-1 already exists and was not made for instance inst-1")
    );
    w.settle_instance(&instance(ID)).await;
    assert!(w.store.instance(&instance(ID)).await.unwrap().is_none());
    let ns = w
        .server
        .get_object("namespaces", None, CLUSTER)
        .expect("still there");
    assert!(
        ns.pointer("/metadata/labels/pgbroker.io~1instance-id")
            .is_none(),
        "not adopted"
    );
}

#[tokio::test]
async fn a_cluster_someone_else_made_under_the_same_name_is_left_alone() {
    let settings = CnpgSettings {
        namespace: pgbroker_adapters_k8s::settings::NamespaceMode::Shared {
            name: "databases".into(),
        },
        ..CnpgSettings::default()
    };
    let w = World::new(settings).await;
    w.server.create_namespace("databases").unwrap();
    let theirs = json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": CLUSTER, "namespace": "databases", "labels": {"team": "them"}},
        "spec": {"instances": 1, "storage": {"size": "1Gi"}}});
    w.server
        .store()
        .create(
            &pgbroker_kube_testserver::Gvr::new("postgresql.cnpg.io", "v1", "clusters"),
            Some("databases"),
            theirs,
            &Default::default(),
        )
        .unwrap();
    let op = w.provision(ID, SINGLE, json!({})).await;
    let failed = w.settle(op).await;
    assert_eq!(failed.state, OperationState::Failed);
    assert_eq!(
        failed.description.as_deref(),
        Some("Cluster databases/pg-inst-1 already exists and was not made for instance inst-1")
    );
    w.settle_instance(&instance(ID)).await;
    let cluster = w
        .server
        .get_object("clusters", Some("databases"), CLUSTER)
        .expect("theirs, kept");
    assert_eq!(cluster["spec"]["instances"], json!(1));
    assert_eq!(cluster["spec"]["storage"]["size"], json!("1Gi"));
    assert!(
        cluster
            .pointer("/metadata/labels/pgbroker.io~1instance-id")
            .is_none()
    );
}

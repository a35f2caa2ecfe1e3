//! Namespace mode `request`: each instance's Cluster lives in the namespace its request's
//! context names (the operator's PostgreSQLServer namespace; an OSB platform on Kubernetes),
//! labelled with the platform's name for it, and deprovision leaves that namespace alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use pgbroker_adapters_k8s::settings::{CnpgSettings, NamespaceMode};
use pgbroker_domain::usecases::ProvisionCommand;
use pgbroker_domain::{OperationState, Outcome};
use serde_json::json;
use support::world::*;

fn settings() -> CnpgSettings {
    CnpgSettings {
        namespace: NamespaceMode::Request,
        ..test_settings()
    }
}

async fn provision_in(
    w: &World,
    id: &str,
    context: serde_json::Value,
) -> pgbroker_domain::OperationId {
    let mut spec = spec(SINGLE, json!({}));
    spec.context = context.as_object().cloned().unwrap();
    let cmd = ProvisionCommand {
        instance_id: instance(id),
        spec,
        accepts_incomplete: true,
        originating_identity: None,
        door: pgbroker_domain::FrontDoor::Osb,
    };
    match w.broker.provision(cmd).await.unwrap() {
        Outcome::Accepted { operation } => operation,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

#[tokio::test]
async fn the_cluster_lives_in_the_requests_namespace() {
    let w = World::new(settings()).await;
    w.server.create_namespace("team-a").unwrap();
    let op = provision_in(
        &w,
        GUID,
        json!({"platform": "kubernetes", "namespace": "team-a", "instance_name": "orders-db"}),
    )
    .await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    let cluster = w
        .server
        .get_object("clusters", Some("team-a"), GUID_CLUSTER)
        .expect("the Cluster is in team-a");
    assert_eq!(
        cluster.pointer("/metadata/labels/pgbroker.io~1instance-name"),
        Some(&json!("orders-db"))
    );
    assert!(
        cluster.pointer("/metadata/ownerReferences").is_none(),
        "labelled, never owned: garbage collection must not delete retained data"
    );
    assert!(
        w.server
            .get_object("namespaces", None, GUID_CLUSTER)
            .is_none()
    );

    let bind = w.bind(GUID, "b1", SINGLE).await;
    assert_eq!(w.settle(bind).await.state, OperationState::Succeeded);
    let creds = w.binding(GUID, "b1").await.unwrap().credentials.unwrap();
    let host = creds.expose()["host"].as_str().unwrap().to_string();
    assert!(host.ends_with(".team-a.svc"), "{host}");
    let unbind = w.unbind(GUID, "b1", SINGLE).await;
    assert_eq!(w.settle(unbind).await.state, OperationState::Succeeded);

    let op = w.deprovision(GUID, SINGLE).await;
    assert_eq!(w.settle(op).await.state, OperationState::Succeeded);
    nothing_left(&w, GUID);
    assert!(
        w.server.get_object("namespaces", None, "team-a").is_some(),
        "the team's namespace stays"
    );
}

#[tokio::test]
async fn a_request_without_a_namespace_fails_saying_so_and_makes_nothing() {
    let w = World::new(settings()).await;
    let op = provision_in(&w, GUID, json!({"platform": "cloudfoundry"})).await;
    let done = w.settle(op).await;
    assert_eq!(done.state, OperationState::Failed);
    let why = done.description.unwrap_or_default();
    assert!(why.contains("context names no namespace"), "{why}");
    nothing_left(&w, GUID);

    let op = provision_in(&w, "other-id", json!({"namespace": "Not_A_Namespace"})).await;
    let done = w.settle(op).await;
    assert_eq!(done.state, OperationState::Failed);
    assert!(
        done.description
            .unwrap_or_default()
            .contains("not a valid namespace name"),
    );
}

#[test]
fn the_mode_is_configured_by_name() {
    let settings: CnpgSettings =
        serde_json::from_value(json!({"namespace": {"mode": "request"}})).unwrap();
    assert_eq!(settings.namespace, NamespaceMode::Request);
}

//! Controllers can record Kubernetes events (kube-runtime's `Recorder`, events.k8s.io/v1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use pgbroker_kube_testserver::TestServer;

#[tokio::test]
async fn recorder_events_are_created_then_counted_as_a_series() {
    let server = TestServer::start_default().await.unwrap();
    let reporter = Reporter {
        controller: "pgbroker".into(),
        instance: None,
    };
    let recorder = Recorder::new(server.client(), reporter);
    let reference = ObjectReference {
        api_version: Some("postgresql.cnpg.io/v1".into()),
        kind: Some("Cluster".into()),
        name: Some("pg".into()),
        namespace: Some("default".into()),
        uid: Some("1234".into()),
        ..ObjectReference::default()
    };
    let event = Event {
        type_: EventType::Normal,
        reason: "Provisioned".into(),
        note: Some("cluster is ready".into()),
        action: "Provision".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let stored = server.objects("events.events.k8s.io");
    assert_eq!(stored.len(), 1, "the repeat is a series on the same event");
    assert_eq!(stored[0]["reason"], "Provisioned");
    assert_eq!(stored[0]["regarding"]["name"], "pg");
    assert_eq!(stored[0]["series"]["count"], 2);
    let verbs: Vec<String> = server
        .requests()
        .into_iter()
        .map(|r| format!("{} {}", r.verb, r.group))
        .collect();
    assert_eq!(verbs, ["create events.k8s.io", "patch events.k8s.io"]);
}

#[tokio::test]
async fn events_the_api_server_would_refuse_are_refused() {
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    use kube::api::{Api, Patch, PatchParams, PostParams};
    use serde_json::json;

    let server = TestServer::start_default().await.unwrap();
    let events: Api<K8sEvent> = Api::namespaced(server.client(), "default");
    let valid = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "pg.1", "namespace": "default"},
        "eventTime": "2025-01-01T00:00:00.000000Z",
        "type": "Warning", "reason": "NoFittingPlan", "action": "Reconcile", "note": "no plan",
        "reportingController": "pgbroker-operator", "reportingInstance": "pod-1",
        "regarding": {"kind": "PostgreSQLServer", "namespace": "default", "name": "pg"},
    });
    // The Recorder sends the note as given: the server refuses one over 1kB.
    let mut long = valid.clone();
    long["metadata"]["name"] = json!("pg.2");
    long["note"] = json!("x".repeat(1025));
    let refused = events
        .create(
            &PostParams::default(),
            &serde_json::from_value(long).unwrap(),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = refused else {
        panic!("not an API error: {refused}")
    };
    assert_eq!(status.code, 422);
    assert!(
        status
            .message
            .contains("message: Invalid value: \"\": can have at most 1024 characters"),
        "{}",
        status.message
    );
    let mut bare = valid.clone();
    bare["metadata"]["name"] = json!("pg.3");
    for field in ["reportingInstance", "action"] {
        bare.as_object_mut().unwrap().remove(field);
    }
    let refused = events
        .create(
            &PostParams::default(),
            &serde_json::from_value(bare).unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("reportingInstance: Required value"),
        "{refused}"
    );

    events
        .create(
            &PostParams::default(),
            &serde_json::from_value(valid).unwrap(),
        )
        .await
        .unwrap();
    // Only the series may change afterwards.
    let refused = events
        .patch(
            "pg.1",
            &PatchParams::default(),
            &Patch::Merge(json!({"note": "something else"})),
        )
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("field is immutable"),
        "{refused}"
    );
    events
        .patch(
            "pg.1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"series": {"count": 2, "lastObservedTime": "2025-01-01T00:01:00.000000Z"}}),
            ),
        )
        .await
        .unwrap();
}

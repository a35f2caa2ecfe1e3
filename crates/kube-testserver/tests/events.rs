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

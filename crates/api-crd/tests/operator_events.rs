//! Kubernetes Events (events.k8s.io/v1) for status transitions: one per new phase or reason,
//! Warning for failures, none when a resync finds nothing changed; the test API server checks
//! each Event as the real one does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator;

use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use operator::{NS, World, database_with_reason, eventually, server_with_reason};
use pgbroker_api_crd::controller::ControllerKind;
use serde_json::json;

/// What a test compares of an Event.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    reason: String,
    type_: String,
    action: String,
    note: String,
    /// 1 for a single occurrence, the series count for a repeated one.
    count: i32,
}

/// The Events about `name`, oldest first.
async fn events_of(world: &World, name: &str) -> Vec<Seen> {
    let api: Api<Event> = Api::namespaced(world.client(), NS);
    let mut events: Vec<Event> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect();
    events.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
    for e in &events {
        assert_eq!(e.reporting_controller.as_deref(), Some("pgbroker-operator"));
        assert_eq!(
            e.reporting_instance.as_deref(),
            Some(format!("test-{}", world.tag).as_str())
        );
    }
    events
        .into_iter()
        .map(|e| Seen {
            reason: e.reason.unwrap_or_default(),
            type_: e.type_.unwrap_or_default(),
            action: e.action.unwrap_or_default(),
            note: e.note.unwrap_or_default(),
            count: e.series.map_or(1, |s| s.count),
        })
        .collect()
}

fn reasons(events: &[Seen]) -> Vec<&str> {
    events.iter().map(|e| e.reason.as_str()).collect()
}

fn server_spec(class: &str) -> serde_json::Value {
    json!({"size": {"class": class, "storageGB": 10}, "credentialsSecret": "main-pg"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_transition_gets_one_event_and_a_resync_none() {
    // A short resync, so the objects are looked at again and again while nothing changes.
    let world = World::with_resync(Duration::from_secs(1)).await;
    world
        .apply_database(
            "app",
            json!({"serverRef": {"name": "main"}, "credentialsSecret": "app-pg"}),
        )
        .await;
    database_with_reason(&world, "app", "NotFound").await;
    let server = world
        .apply_server("main", server_spec("shared-small"))
        .await;
    server_with_reason(&world, "main", "Ready").await;
    database_with_reason(&world, "app", "Ready").await;

    let server_events = eventually(
        "the server's Ready event",
        || events_of(&world, "main"),
        |e| e.last().is_some_and(|e| e.reason == "Ready"),
    )
    .await;
    let database_events = eventually(
        "the database's Ready event",
        || events_of(&world, "app"),
        |e| e.last().is_some_and(|e| e.reason == "Ready"),
    )
    .await;
    for events in [&server_events, &database_events] {
        for pair in events.windows(2) {
            assert_ne!(
                pair[0].reason, pair[1].reason,
                "not a transition: {events:?}"
            );
        }
        let ready = events.last().unwrap();
        assert_eq!(
            (ready.type_.as_str(), ready.action.as_str()),
            ("Normal", "Reconcile")
        );
    }
    assert!(
        server_events[..server_events.len() - 1]
            .iter()
            .all(|e| e.reason != "Ready")
    );
    assert_eq!(database_events[0].reason, "NotFound");
    assert_eq!(database_events[0].action, "Wait");
    assert!(
        database_events[0]
            .note
            .contains("PostgreSQLServer main, which does not exist"),
        "{database_events:?}"
    );
    assert!(
        database_events
            .last()
            .unwrap()
            .note
            .contains("credentials in Secret app-pg"),
        "{database_events:?}"
    );

    // Resyncs that find nothing changed publish nothing.
    let before = world.reconciles.of(ControllerKind::Server);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(
        world.reconciles.of(ControllerKind::Server) >= before + 2,
        "the server was resynced"
    );
    assert_eq!(events_of(&world, "main").await, server_events);
    assert_eq!(events_of(&world, "app").await, database_events);

    // A spec the domain refuses: a Warning with the domain's reason and the message.
    world.apply_server("main", server_spec("huge")).await;
    server_with_reason(&world, "main", "NoFittingPlan").await;
    let refused = eventually(
        "the NoFittingPlan event",
        || events_of(&world, "main"),
        |e| e.len() == server_events.len() + 1,
    )
    .await;
    let warning = refused.last().unwrap();
    assert_eq!(
        (warning.reason.as_str(), warning.type_.as_str()),
        ("NoFittingPlan", "Warning")
    );
    assert!(
        warning.note.contains("classes: shared-small"),
        "{warning:?}"
    );
    // Back to a spec that fits: Ready again, counted on the first Ready event as a series.
    world
        .apply_server("main", server_spec("shared-small"))
        .await;
    server_with_reason(&world, "main", "Ready").await;
    let again = eventually(
        "the second Ready",
        || events_of(&world, "main"),
        |e| e.iter().any(|e| e.reason == "Ready" && e.count == 2),
    )
    .await;
    assert_eq!(reasons(&again), reasons(&refused), "no new Event object");
    let ready: Api<Event> = Api::namespaced(world.client(), NS);
    let regarding = ready
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("NoFittingPlan"))
        .and_then(|e| e.regarding)
        .unwrap();
    assert_eq!(regarding.uid, server.uid());
    assert_eq!(regarding.kind.as_deref(), Some("PostgreSQLServer"));
    assert_eq!(
        regarding.api_version.as_deref(),
        Some("pgbroker.io/v1alpha1")
    );
}

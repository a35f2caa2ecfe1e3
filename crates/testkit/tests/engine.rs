//! The operation engine: retries, backoff, deadlines, orphan mitigation and crash/resume.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use pgbroker_domain::usecases::{DeprovisionCommand, LastOperationQuery, ProvisionCommand};
use pgbroker_domain::{
    BindingId, BindingSpec, BindingState, BrokerError, InstanceState, JsonObject, OperationId,
    OperationKind, OperationState, Origin, Outcome, PlanId, Reason, ServiceId,
};
use pgbroker_testkit::backend::{Scripted, TestBackend};
use pgbroker_testkit::pg_database::TestDatabase;
use pgbroker_testkit::world::*;
use serde_json::json;

fn provision(id: &str, plan: &str) -> ProvisionCommand {
    ProvisionCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id(id),
        spec: spec(ASYNC_SERVICE, plan, json!({})),
        accepts_incomplete: true,
        originating_identity: None,
    }
}

async fn start(w: &TestWorld, id: &str, plan: &str) -> OperationId {
    match w.broker.provision(provision(id, plan)).await.unwrap() {
        Outcome::Accepted { operation } => operation,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

async fn op_state(w: &TestWorld, id: OperationId) -> pgbroker_domain::Operation {
    w.store
        .operation(id)
        .await
        .unwrap()
        .expect("operation is stored")
}

#[tokio::test]
async fn in_progress_steps_wait_for_their_retry_delay() {
    let w = TestWorld::new(memory_store().await);
    w.async_backend.script(
        OperationKind::Provision,
        [Scripted::InProgress(Duration::from_secs(20))],
    );
    let op = start(&w, "i1", ASYNC_PLAN).await;
    assert_eq!(w.drain().await, 1);
    let stored = op_state(&w, op).await;
    assert_eq!(stored.state, OperationState::InProgress);
    assert_eq!(stored.description.as_deref(), Some("provision under way"));
    assert_eq!(stored.lease, None, "the lease is released between steps");
    assert_eq!(w.drain().await, 0, "not due yet");
    w.clock.advance(Duration::from_secs(19));
    assert_eq!(w.drain().await, 0, "still not due");
    w.clock.advance(Duration::from_secs(1));
    assert_eq!(w.drain().await, 1);
    let stored = op_state(&w, op).await;
    assert_eq!(stored.state, OperationState::Succeeded);
    assert_eq!(stored.attempts, 2);
}

#[tokio::test]
async fn retryable_failures_back_off_exponentially_then_succeed() {
    let w = TestWorld::new(memory_store().await);
    w.async_backend.script(
        OperationKind::Provision,
        [
            Scripted::Retryable,
            Scripted::Retryable,
            Scripted::Retryable,
        ],
    );
    let op = start(&w, "i1", ASYNC_PLAN).await;
    let mut delays = Vec::new();
    for _ in 0..3 {
        assert_eq!(w.drain().await, 1);
        let stored = op_state(&w, op).await;
        assert_eq!(stored.state, OperationState::InProgress);
        assert!(
            stored
                .description
                .as_deref()
                .unwrap_or("")
                .contains("transient"),
            "{:?}",
            stored.description
        );
        // While it retries, the operation says why its last step failed.
        assert_eq!(stored.reason, Some(Reason::BackendUnavailable));
        let delay = (stored.next_attempt_at - w.clock.now_for_test())
            .to_std()
            .unwrap();
        delays.push(delay);
        w.clock.advance(delay);
    }
    // Equal jitter: the n-th delay lies in [2^(n-1)/2, 2^(n-1)] seconds.
    for (n, d) in delays.iter().enumerate() {
        let full = Duration::from_secs(1 << n);
        assert!(*d >= full / 2 && *d <= full, "delay {n}: {d:?}");
    }
    assert_eq!(w.drain().await, 1);
    let stored = op_state(&w, op).await;
    assert_eq!(stored.state, OperationState::Succeeded);
    assert_eq!(stored.failures, 3);
    assert_eq!(stored.reason, None, "a success clears the reason");
}

#[tokio::test]
async fn progress_clears_the_reason_and_a_failure_at_the_deadline_keeps_the_backends() {
    let w = TestWorld::new(memory_store().await);
    w.async_backend.script(
        OperationKind::Provision,
        [
            Scripted::Fails {
                reason: Reason::QuotaExceeded,
                retryable: true,
            },
            Scripted::InProgress(Duration::from_secs(1)),
        ],
    );
    w.async_backend.always(
        OperationKind::Provision,
        Scripted::Fails {
            reason: Reason::QuotaExceeded,
            retryable: true,
        },
    );
    let op = start(&w, "i1", ASYNC_PLAN_FIXED).await;
    assert_eq!(w.drain().await, 1);
    assert_eq!(op_state(&w, op).await.reason, Some(Reason::QuotaExceeded));
    w.clock.advance(Duration::from_secs(2));
    assert_eq!(w.drain().await, 1);
    let progressing = op_state(&w, op).await;
    assert_eq!(progressing.state, OperationState::InProgress);
    assert_eq!(progressing.reason, None, "progress clears the reason");
    for _ in 0..200 {
        w.clock.advance(Duration::from_secs(7));
        w.drain().await;
        if op_state(&w, op).await.state != OperationState::InProgress {
            break;
        }
    }
    let failed = op_state(&w, op).await;
    assert_eq!(failed.state, OperationState::Failed);
    assert_eq!(failed.reason, Some(Reason::QuotaExceeded), "{failed:?}");
    // The clean-up that follows keeps the cause, as its description does, so a platform
    // polling without an operation id reads the same reason.
    let polled = w
        .broker
        .last_operation(LastOperationQuery {
            instance_id: instance_id("i1"),
            binding_id: None,
            operation: None,
            service_id: None,
            plan_id: None,
            door: pgbroker_domain::FrontDoor::Osb,
        })
        .await
        .unwrap();
    assert_eq!(polled.state, OperationState::Failed);
    assert_eq!(polled.reason, Some(Reason::QuotaExceeded));
}

#[tokio::test]
async fn an_operation_still_in_progress_at_its_deadline_fails_as_deadline_exceeded() {
    let w = TestWorld::new(memory_store().await);
    w.async_backend.always(
        OperationKind::Provision,
        Scripted::InProgress(Duration::from_secs(5)),
    );
    let op = start(&w, "i1", ASYNC_PLAN_FIXED).await;
    for _ in 0..300 {
        w.drain().await;
        if op_state(&w, op).await.state != OperationState::InProgress {
            break;
        }
        w.clock.advance(Duration::from_secs(5));
    }
    let failed = op_state(&w, op).await;
    assert_eq!(failed.state, OperationState::Failed);
    assert_eq!(failed.reason, Some(Reason::DeadlineExceeded));
}

#[tokio::test]
async fn always_failing_provision_fails_at_its_deadline_and_mitigation_runs_once() {
    let w = TestWorld::new(memory_store().await);
    w.async_backend
        .always(OperationKind::Provision, Scripted::Retryable);
    // This plan's maximum_polling_duration (600 s) is the deadline.
    let op = start(&w, "i1", ASYNC_PLAN_FIXED).await;
    let deadline = op_state(&w, op).await.deadline;
    for _ in 0..200 {
        w.drain().await;
        if op_state(&w, op).await.state != OperationState::InProgress {
            break;
        }
        w.clock.advance(Duration::from_secs(7));
    }
    let failed = op_state(&w, op).await;
    assert_eq!(failed.state, OperationState::Failed);
    assert!(
        failed.updated_at >= deadline,
        "failed at {} before the deadline {deadline}",
        failed.updated_at
    );
    assert!(
        failed
            .description
            .as_deref()
            .unwrap_or("")
            .contains("deadline"),
        "{:?}",
        failed.description
    );
    assert!(
        w.async_backend.calls(OperationKind::Provision) > 5,
        "retried until the deadline"
    );

    // Orphan mitigation: a deprovision of the broker's own, run to completion.
    w.drain().await;
    assert_eq!(w.async_backend.calls(OperationKind::Deprovision), 1);
    assert!(
        w.store
            .instance(&instance_id("i1"))
            .await
            .unwrap()
            .is_none(),
        "nothing left behind"
    );
    w.clock.advance(Duration::from_secs(3600));
    w.drain().await;
    assert_eq!(
        w.async_backend.calls(OperationKind::Deprovision),
        1,
        "mitigation ran once"
    );
    let status = w
        .broker
        .last_operation(LastOperationQuery {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance_id("i1"),
            binding_id: None,
            operation: Some(op),
            service_id: None,
            plan_id: None,
        })
        .await
        .unwrap();
    assert_eq!(status.state, OperationState::Failed);
}

#[tokio::test]
async fn permanent_failure_fails_at_once_and_a_platform_delete_joins_the_mitigation() {
    let w = TestWorld::new(memory_store().await);
    w.async_backend
        .script(OperationKind::Provision, [Scripted::Permanent]);
    w.async_backend.script(
        OperationKind::Deprovision,
        [Scripted::InProgress(Duration::from_secs(5))],
    );
    let op = start(&w, "i1", ASYNC_PLAN).await;
    w.drain().await;
    assert_eq!(op_state(&w, op).await.state, OperationState::Failed);
    assert_eq!(
        w.store
            .instance(&instance_id("i1"))
            .await
            .unwrap()
            .unwrap()
            .state,
        InstanceState::Failed
    );
    // Mitigation took one step and is in progress: polling without an operation id says failed.
    w.drain().await;
    let status = w
        .broker
        .last_operation(LastOperationQuery {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance_id("i1"),
            binding_id: None,
            operation: None,
            service_id: None,
            plan_id: None,
        })
        .await
        .unwrap();
    assert_eq!(status.state, OperationState::Failed);
    assert!(
        status
            .description
            .unwrap()
            .contains("provision is impossible")
    );
    // The platform's own orphan mitigation joins the broker's.
    let joined = match w
        .broker
        .deprovision(DeprovisionCommand {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance_id("i1"),
            service_id: ServiceId::parse(ASYNC_SERVICE).unwrap(),
            plan_id: PlanId::parse(ASYNC_PLAN).unwrap(),
            deletion_policy: pgbroker_domain::DeletionPolicy::Delete,
            accepts_incomplete: true,
            originating_identity: None,
        })
        .await
        .unwrap()
    {
        Outcome::Accepted { operation } => operation,
        other => panic!("{other:?}"),
    };
    let mitigation = op_state(&w, joined).await;
    assert_eq!(
        (mitigation.kind, mitigation.origin),
        (OperationKind::Deprovision, Origin::OrphanMitigation)
    );
    w.clock.advance(Duration::from_secs(5));
    w.drain().await;
    let polled = w
        .broker
        .last_operation(LastOperationQuery {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance_id("i1"),
            binding_id: None,
            operation: Some(joined),
            service_id: None,
            plan_id: None,
        })
        .await;
    assert!(matches!(polled, Err(BrokerError::Gone(_))), "{polled:?}");
    assert_eq!(w.async_backend.calls(OperationKind::Deprovision), 2);
}

#[tokio::test]
async fn failed_bind_is_unbound_by_orphan_mitigation() {
    let w = TestWorld::new(memory_store().await);
    start(&w, "i1", ASYNC_PLAN).await;
    w.drain().await;
    w.async_backend
        .script(OperationKind::Bind, [Scripted::Permanent]);
    let cmd = pgbroker_domain::usecases::BindCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id("i1"),
        binding_id: BindingId::parse("b1").unwrap(),
        spec: BindingSpec {
            service_id: ServiceId::parse(ASYNC_SERVICE).unwrap(),
            plan_id: PlanId::parse(ASYNC_PLAN).unwrap(),
            parameters: JsonObject::new(),
            context: JsonObject::new(),
            bind_resource: JsonObject::new(),
        },
        accepts_incomplete: true,
        originating_identity: None,
    };
    w.broker.bind(cmd.clone()).await.unwrap();
    w.drain().await;
    assert_eq!(w.async_backend.calls(OperationKind::Unbind), 1);
    assert!(
        w.store
            .binding(&instance_id("i1"), &BindingId::parse("b1").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    // The instance is untouched and a retried bind works.
    assert_eq!(
        w.store
            .instance(&instance_id("i1"))
            .await
            .unwrap()
            .unwrap()
            .state,
        InstanceState::Ready
    );
    w.broker.bind(cmd).await.unwrap();
    w.drain().await;
    let b = w
        .store
        .binding(&instance_id("i1"), &BindingId::parse("b1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.state, BindingState::Ready);
}

#[tokio::test]
async fn failed_provision_can_be_retried_after_cleanup_failed() {
    let w = TestWorld::new(memory_store().await);
    w.async_backend
        .script(OperationKind::Provision, [Scripted::Permanent]);
    w.async_backend
        .script(OperationKind::Deprovision, [Scripted::Permanent]);
    start(&w, "i1", ASYNC_PLAN).await;
    w.drain().await;
    assert_eq!(
        w.store
            .instance(&instance_id("i1"))
            .await
            .unwrap()
            .unwrap()
            .state,
        InstanceState::Failed
    );
    let retry = start(&w, "i1", ASYNC_PLAN).await;
    w.drain().await;
    assert_eq!(op_state(&w, retry).await.state, OperationState::Succeeded);
    assert_eq!(
        w.store
            .instance(&instance_id("i1"))
            .await
            .unwrap()
            .unwrap()
            .state,
        InstanceState::Ready
    );
}

/// An engine is dropped in the middle of a step (a crash); a new engine with its own connection
/// pool to the same PostgreSQL database takes the operation over once the lease lapses.
#[tokio::test]
async fn crashed_engine_is_resumed_by_a_new_one() {
    let db = TestDatabase::create().await.unwrap();
    let store_a = pgbroker_adapters_sql::open(db.url()).await.unwrap();
    let backend = Arc::new(TestBackend::asynchronous().gated());
    let a = TestWorld::with_backends(
        store_a,
        backend.clone(),
        Arc::new(TestBackend::synchronous()),
        test_policy(),
    );
    let op = start(&a, "i1", ASYNC_PLAN).await;

    let engine = a.engine("replica-a");
    let crashed = tokio::spawn(async move { engine.tick().await });
    while backend.calls(OperationKind::Provision) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    crashed.abort();
    assert!(crashed.await.unwrap_err().is_cancelled());
    let stored = op_state(&a, op).await;
    assert_eq!(
        stored.lease.as_ref().map(|l| l.owner.as_str()),
        Some("replica-a")
    );

    let store_b = pgbroker_adapters_sql::open(db.url()).await.unwrap();
    let b = TestWorld::with_backends(
        store_b,
        backend.clone(),
        Arc::new(TestBackend::synchronous()),
        test_policy(),
    );
    b.clock.advance(Duration::from_secs(10));
    assert_eq!(
        b.drain().await,
        0,
        "the lease of the crashed engine still holds"
    );
    b.clock.advance(test_policy().lease);
    backend.release(1);
    assert_eq!(b.drain().await, 1);
    let stored = op_state(&b, op).await;
    assert_eq!(stored.state, OperationState::Succeeded);
    assert_eq!(stored.attempts, 2);
    assert_eq!(backend.calls_for(op), 2);
    assert_eq!(
        b.store
            .instance(&instance_id("i1"))
            .await
            .unwrap()
            .unwrap()
            .state,
        InstanceState::Ready
    );
    db.drop_now().await.unwrap();
}

/// Records the operations an engine reports as ended.
#[derive(Default)]
struct Ended(std::sync::Mutex<Vec<(OperationId, OperationState)>>);

impl pgbroker_domain::ports::OperationObserver for Ended {
    fn operation_ended(&self, operation: &pgbroker_domain::Operation) {
        self.0.lock().unwrap().push((operation.id, operation.state));
    }
}

#[tokio::test]
async fn observers_hear_of_each_operation_once_when_it_ends() {
    let w = TestWorld::new(memory_store().await);
    w.async_backend.script(
        OperationKind::Provision,
        [Scripted::InProgress(Duration::ZERO), Scripted::Done],
    );
    let ended = Arc::new(Ended::default());
    let engine = w.engine("observed").with_observer(ended.clone());
    let ok = start(&w, "observed-ok", ASYNC_PLAN).await;
    assert_eq!(engine.tick().await.unwrap(), 1);
    assert!(
        ended.0.lock().unwrap().is_empty(),
        "an operation still in progress is not reported"
    );
    assert_eq!(engine.tick().await.unwrap(), 1);
    assert_eq!(
        *ended.0.lock().unwrap(),
        vec![(ok, OperationState::Succeeded)]
    );
    w.async_backend
        .script(OperationKind::Provision, [Scripted::Permanent]);
    let failed = start(&w, "observed-failed", ASYNC_PLAN).await;
    while engine.tick().await.unwrap() > 0 {}
    let seen = ended.0.lock().unwrap().clone();
    assert_eq!(seen.iter().filter(|(id, _)| *id == ok).count(), 1);
    assert!(
        seen.contains(&(failed, OperationState::Failed)),
        "the failed provision is reported: {seen:?}"
    );
}

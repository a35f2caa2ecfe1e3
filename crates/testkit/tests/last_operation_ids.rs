//! `last_operation` checks the `service_id` and `plan_id` a platform polls with against the
//! operation polled, which records them when it is created.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pgbroker_domain::usecases::{
    BindCommand, LastOperation, LastOperationQuery, ProvisionCommand, UnbindCommand, UpdateCommand,
};
use pgbroker_domain::{
    BindingId, BindingSpec, BrokerError, JsonObject, Operation, OperationId, OperationKind,
    OperationState, Origin, Outcome, PlanId, ServiceId,
};
use pgbroker_testkit::backend::Scripted;
use pgbroker_testkit::world::*;
use serde_json::json;

async fn world() -> TestWorld {
    TestWorld::new(memory_store().await)
}

fn accepted<T: std::fmt::Debug>(outcome: Outcome<T>) -> OperationId {
    match outcome {
        Outcome::Accepted { operation } => operation,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

/// Provisions `id` on `ASYNC_PLAN`; returns the provision, still in flight.
async fn provision(w: &TestWorld, id: &str) -> OperationId {
    let cmd = ProvisionCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id(id),
        spec: spec(ASYNC_SERVICE, ASYNC_PLAN, json!({})),
        accepts_incomplete: true,
        originating_identity: None,
    };
    accepted(w.broker.provision(cmd).await.unwrap())
}

fn bind_cmd(instance: &str, binding: &str) -> BindCommand {
    BindCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id(instance),
        binding_id: BindingId::parse(binding).unwrap(),
        spec: BindingSpec {
            service_id: ServiceId::parse(ASYNC_SERVICE).unwrap(),
            plan_id: PlanId::parse(ASYNC_PLAN).unwrap(),
            parameters: JsonObject::new(),
            context: JsonObject::new(),
            bind_resource: JsonObject::new(),
        },
        accepts_incomplete: true,
        originating_identity: None,
    }
}

fn update_to(instance: &str, plan: &str) -> UpdateCommand {
    UpdateCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id(instance),
        service_id: ServiceId::parse(ASYNC_SERVICE).unwrap(),
        plan_id: Some(PlanId::parse(plan).unwrap()),
        parameters: None,
        context: None,
        maintenance_version: None,
        accepts_incomplete: true,
        originating_identity: None,
    }
}

/// Polls `instance` (or its `binding`) for `op` with the given ids.
async fn poll(
    w: &TestWorld,
    instance: &str,
    binding: Option<&str>,
    op: Option<OperationId>,
    service: Option<&str>,
    plan: Option<&str>,
) -> Result<LastOperation, BrokerError> {
    w.broker
        .last_operation(LastOperationQuery {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance_id(instance),
            binding_id: binding.map(|b| BindingId::parse(b).unwrap()),
            operation: op,
            service_id: service.map(|s| ServiceId::parse(s).unwrap()),
            plan_id: plan.map(|p| PlanId::parse(p).unwrap()),
        })
        .await
}

/// `result` is a bad request whose text holds every one of `words`.
fn bad_request(result: Result<LastOperation, BrokerError>, words: &[&str]) {
    match result {
        Err(BrokerError::BadRequest(why)) => {
            for word in words {
                assert!(why.message.contains(word), "{word:?} missing in {why:?}");
            }
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
}

async fn stored(w: &TestWorld, id: OperationId) -> Operation {
    w.store.operation(id).await.unwrap().expect("stored")
}

fn ids(op: &Operation) -> (Option<&str>, Option<&str>) {
    (
        op.service_id.as_ref().map(ServiceId::as_str),
        op.plan_id.as_ref().map(PlanId::as_str),
    )
}

#[tokio::test]
async fn the_instances_service_and_plan_are_accepted() {
    let w = world().await;
    let op = provision(&w, "i1").await;
    assert_eq!(
        ids(&stored(&w, op).await),
        (Some(ASYNC_SERVICE), Some(ASYNC_PLAN))
    );
    for named in [Some(op), None] {
        let status = poll(&w, "i1", None, named, Some(ASYNC_SERVICE), Some(ASYNC_PLAN)).await;
        assert_eq!(status.unwrap().state, OperationState::InProgress);
        // Each on its own, too.
        poll(&w, "i1", None, named, Some(ASYNC_SERVICE), None)
            .await
            .unwrap();
        poll(&w, "i1", None, named, None, Some(ASYNC_PLAN))
            .await
            .unwrap();
    }
    w.drain().await;
    let status = poll(
        &w,
        "i1",
        None,
        Some(op),
        Some(ASYNC_SERVICE),
        Some(ASYNC_PLAN),
    )
    .await;
    assert_eq!(status.unwrap().state, OperationState::Succeeded);
}

#[tokio::test]
async fn another_service_is_a_bad_request_naming_service_id() {
    let w = world().await;
    let op = provision(&w, "i1").await;
    for named in [Some(op), None] {
        // SYNC_PLAN is SYNC_SERVICE's: the pair is in the catalog, just not this instance's.
        let polled = poll(&w, "i1", None, named, Some(SYNC_SERVICE), Some(SYNC_PLAN)).await;
        bad_request(
            polled,
            &["service_id", SYNC_SERVICE, ASYNC_SERVICE, "instance i1"],
        );
        let polled = poll(&w, "i1", None, named, Some(SYNC_SERVICE), None).await;
        bad_request(polled, &["service_id", SYNC_SERVICE, ASYNC_SERVICE]);
    }
}

#[tokio::test]
async fn another_plan_is_a_bad_request_naming_plan_id() {
    let w = world().await;
    let op = provision(&w, "i1").await;
    let polled = poll(
        &w,
        "i1",
        None,
        Some(op),
        Some(ASYNC_SERVICE),
        Some(ASYNC_PLAN_BIG),
    )
    .await;
    bad_request(
        polled,
        &["plan_id", ASYNC_PLAN_BIG, ASYNC_PLAN, "instance i1"],
    );
    w.drain().await;
    // Finished operations are checked the same way.
    let polled = poll(&w, "i1", None, None, None, Some(ASYNC_PLAN_FIXED)).await;
    bad_request(polled, &["plan_id", ASYNC_PLAN_FIXED, ASYNC_PLAN]);
}

#[tokio::test]
async fn an_update_accepts_the_plan_before_and_the_target_plan() {
    let w = world().await;
    provision(&w, "i1").await;
    w.drain().await;
    let update = accepted(
        w.broker
            .update(update_to("i1", ASYNC_PLAN_BIG))
            .await
            .unwrap(),
    );
    let recorded = stored(&w, update).await;
    assert_eq!(ids(&recorded), (Some(ASYNC_SERVICE), Some(ASYNC_PLAN)));
    assert_eq!(recorded.target.unwrap().plan_id.as_str(), ASYNC_PLAN_BIG);
    for _ in 0..2 {
        for plan in [ASYNC_PLAN, ASYNC_PLAN_BIG] {
            poll(
                &w,
                "i1",
                None,
                Some(update),
                Some(ASYNC_SERVICE),
                Some(plan),
            )
            .await
            .unwrap();
            poll(&w, "i1", None, None, None, Some(plan)).await.unwrap();
        }
        let polled = poll(&w, "i1", None, None, None, Some(ASYNC_PLAN_FIXED)).await;
        bad_request(
            polled,
            &["plan_id", ASYNC_PLAN_FIXED, ASYNC_PLAN, ASYNC_PLAN_BIG],
        );
        // Once the update is done, polling it still accepts both.
        w.drain().await;
    }
    // The next operation is for the new plan only.
    let again = accepted(w.broker.update(update_to("i1", ASYNC_PLAN)).await.unwrap());
    assert_eq!(
        ids(&stored(&w, again).await),
        (Some(ASYNC_SERVICE), Some(ASYNC_PLAN_BIG))
    );
    let polled = poll(&w, "i1", None, Some(update), None, Some(ASYNC_PLAN_FIXED)).await;
    bad_request(polled, &["plan_id"]);
}

#[tokio::test]
async fn binding_polls_are_checked_against_the_binding() {
    let w = world().await;
    provision(&w, "i1").await;
    w.drain().await;
    let bind = accepted(w.broker.bind(bind_cmd("i1", "b1")).await.unwrap());
    assert_eq!(
        ids(&stored(&w, bind).await),
        (Some(ASYNC_SERVICE), Some(ASYNC_PLAN))
    );
    for named in [Some(bind), None] {
        poll(
            &w,
            "i1",
            Some("b1"),
            named,
            Some(ASYNC_SERVICE),
            Some(ASYNC_PLAN),
        )
        .await
        .unwrap();
        let polled = poll(
            &w,
            "i1",
            Some("b1"),
            named,
            Some(ASYNC_SERVICE),
            Some(ASYNC_PLAN_BIG),
        );
        bad_request(
            polled.await,
            &["plan_id", ASYNC_PLAN_BIG, "binding b1 of instance i1"],
        );
        let polled = poll(&w, "i1", Some("b1"), named, Some(SYNC_SERVICE), None).await;
        bad_request(polled, &["service_id", SYNC_SERVICE, ASYNC_SERVICE]);
    }
    w.drain().await;
    let unbind = UnbindCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id("i1"),
        binding_id: BindingId::parse("b1").unwrap(),
        service_id: ServiceId::parse(ASYNC_SERVICE).unwrap(),
        plan_id: PlanId::parse(ASYNC_PLAN).unwrap(),
        deletion_policy: pgbroker_domain::DeletionPolicy::Delete,
        accepts_incomplete: true,
        originating_identity: None,
    };
    let unbind = accepted(w.broker.unbind(unbind).await.unwrap());
    assert_eq!(
        ids(&stored(&w, unbind).await),
        (Some(ASYNC_SERVICE), Some(ASYNC_PLAN))
    );
    poll(
        &w,
        "i1",
        Some("b1"),
        Some(unbind),
        Some(ASYNC_SERVICE),
        Some(ASYNC_PLAN),
    )
    .await
    .unwrap();
    let polled = poll(
        &w,
        "i1",
        Some("b1"),
        Some(unbind),
        None,
        Some(ASYNC_PLAN_FIXED),
    )
    .await;
    bad_request(polled, &["plan_id", ASYNC_PLAN_FIXED]);
}

#[tokio::test]
async fn orphan_mitigation_is_for_the_ids_of_what_failed() {
    let w = world().await;
    w.async_backend
        .script(OperationKind::Provision, [Scripted::Permanent]);
    provision(&w, "i1").await;
    w.drain().await;
    let mitigation = w
        .store
        .latest_operation(&instance_id("i1"), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (mitigation.kind, mitigation.origin),
        (OperationKind::Deprovision, Origin::OrphanMitigation)
    );
    assert_eq!(ids(&mitigation), (Some(ASYNC_SERVICE), Some(ASYNC_PLAN)));
    let polled = poll(&w, "i1", None, None, Some(ASYNC_SERVICE), Some(ASYNC_PLAN)).await;
    assert_eq!(polled.unwrap().state, OperationState::Failed);
    let polled = poll(
        &w,
        "i1",
        None,
        None,
        Some(ASYNC_SERVICE),
        Some(ASYNC_PLAN_BIG),
    )
    .await;
    bad_request(polled, &["plan_id", ASYNC_PLAN_BIG]);

    provision(&w, "i2").await;
    w.drain().await;
    w.async_backend
        .script(OperationKind::Bind, [Scripted::Permanent]);
    w.broker.bind(bind_cmd("i2", "b1")).await.unwrap();
    w.drain().await;
    let b1 = BindingId::parse("b1").unwrap();
    let unbind = w
        .store
        .latest_operation(&instance_id("i2"), Some(&b1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (unbind.kind, unbind.origin),
        (OperationKind::Unbind, Origin::OrphanMitigation)
    );
    assert_eq!(ids(&unbind), (Some(ASYNC_SERVICE), Some(ASYNC_PLAN)));
}

#[tokio::test]
async fn operations_recorded_without_ids_are_not_checked() {
    let w = world().await;
    let op = provision(&w, "i1").await;
    // As written before the store kept an operation's service and plan.
    let legacy = Operation {
        id: OperationId::new(),
        instance_id: instance_id("legacy"),
        service_id: None,
        plan_id: None,
        ..stored(&w, op).await
    };
    w.store.start(&legacy, &[]).await.unwrap();
    let status = poll(
        &w,
        "legacy",
        None,
        Some(legacy.id),
        Some(SYNC_SERVICE),
        Some(SYNC_PLAN),
    )
    .await;
    assert_eq!(status.unwrap().state, OperationState::InProgress);
}

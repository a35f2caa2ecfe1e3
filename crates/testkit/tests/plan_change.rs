//! After a plan change, a binding answers to the instance's current plan as well as the plan it
//! was made under (Cloud Foundry sends the instance's current plan on unbind, on GET binding and
//! on the binding's last_operation); any other plan is still a bad request. A plan change away
//! from a plan with `plan_updateable: false` is a change the broker does not support: 422.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pgbroker_domain::usecases::{
    BindCommand, FetchBindingQuery, LastOperationQuery, ProvisionCommand, UnbindCommand,
    UpdateCommand,
};
use pgbroker_domain::{
    BindingId, BindingSpec, BrokerError, JsonObject, OperationId, OperationKind, OperationState,
    Outcome, PlanId, ServiceId,
};
use pgbroker_testkit::world::*;
use serde_json::json;

fn accepted<T: std::fmt::Debug>(outcome: Outcome<T>) -> OperationId {
    match outcome {
        Outcome::Accepted { operation } => operation,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

fn plan(raw: &str) -> PlanId {
    PlanId::parse(raw).unwrap()
}

fn service() -> ServiceId {
    ServiceId::parse(ASYNC_SERVICE).unwrap()
}

fn binding(raw: &str) -> BindingId {
    BindingId::parse(raw).unwrap()
}

/// Instance `i1` provisioned on `from` with bindings `b1` and `b2` made under it, then moved to
/// `to` (when it is another plan).
async fn bound_then_moved(from: &str, to: &str) -> TestWorld {
    let w = TestWorld::new(memory_store().await);
    let provision = ProvisionCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id("i1"),
        spec: spec(ASYNC_SERVICE, from, json!({})),
        accepts_incomplete: true,
        originating_identity: None,
    };
    accepted(w.broker.provision(provision).await.unwrap());
    w.drain().await;
    for b in ["b1", "b2"] {
        let bind = BindCommand {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance_id("i1"),
            binding_id: binding(b),
            spec: BindingSpec {
                service_id: service(),
                plan_id: plan(from),
                parameters: JsonObject::new(),
                context: JsonObject::new(),
                bind_resource: JsonObject::new(),
            },
            accepts_incomplete: true,
            originating_identity: None,
        };
        accepted(w.broker.bind(bind).await.unwrap());
        w.drain().await;
    }
    let update = UpdateCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id("i1"),
        service_id: service(),
        plan_id: Some(plan(to)),
        parameters: None,
        context: None,
        maintenance_version: None,
        accepts_incomplete: true,
        originating_identity: None,
    };
    if from != to {
        accepted(w.broker.update(update).await.unwrap());
        w.drain().await;
    }
    let moved = w.broker.instance(&instance_id("i1")).await.unwrap();
    assert_eq!(moved.spec.plan_id.as_str(), to);
    w
}

fn unbind(b: &str, service: &str, plan_id: &str) -> UnbindCommand {
    UnbindCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id("i1"),
        binding_id: binding(b),
        service_id: ServiceId::parse(service).unwrap(),
        plan_id: plan(plan_id),
        deletion_policy: pgbroker_domain::DeletionPolicy::Delete,
        accepts_incomplete: true,
        originating_identity: None,
    }
}

fn fetch(b: &str, service: Option<&str>, plan_id: Option<&str>) -> FetchBindingQuery {
    FetchBindingQuery {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id("i1"),
        binding_id: binding(b),
        service_id: service.map(|s| ServiceId::parse(s).unwrap()),
        plan_id: plan_id.map(plan),
    }
}

fn poll(b: &str, op: Option<OperationId>, plan_id: Option<&str>) -> LastOperationQuery {
    LastOperationQuery {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id("i1"),
        binding_id: Some(binding(b)),
        operation: op,
        service_id: Some(service()),
        plan_id: plan_id.map(plan),
    }
}

/// A bad request whose text holds every one of `words`.
fn bad_request<T: std::fmt::Debug>(result: Result<T, BrokerError>, words: &[&str]) {
    match result {
        Err(BrokerError::BadRequest(why)) => {
            for word in words {
                assert!(why.message.contains(word), "{word:?} missing in {why:?}");
            }
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
}

#[tokio::test]
async fn unbind_accepts_the_instances_current_plan_and_the_bound_one() {
    let w = bound_then_moved(ASYNC_PLAN, ASYNC_PLAN_BIG).await;
    // Neither the plan of another service nor a third plan of this one.
    bad_request(
        w.broker
            .unbind(unbind("b1", ASYNC_SERVICE, ASYNC_PLAN_FIXED))
            .await,
        &[
            "plan_id",
            ASYNC_PLAN_FIXED,
            ASYNC_PLAN,
            ASYNC_PLAN_BIG,
            "binding b1",
        ],
    );
    bad_request(
        w.broker.unbind(unbind("b1", SYNC_SERVICE, SYNC_PLAN)).await,
        &["service_id", SYNC_SERVICE, ASYNC_SERVICE],
    );
    // Cloud Foundry: the instance's current plan.
    let op = accepted(
        w.broker
            .unbind(unbind("b1", ASYNC_SERVICE, ASYNC_PLAN_BIG))
            .await
            .unwrap(),
    );
    // Its poll sends the same plan, while in flight and once the binding is gone.
    let status = w
        .broker
        .last_operation(poll("b1", Some(op), Some(ASYNC_PLAN_BIG)));
    assert_eq!(status.await.unwrap().state, OperationState::InProgress);
    w.drain().await;
    let gone = w
        .broker
        .last_operation(poll("b1", Some(op), Some(ASYNC_PLAN_BIG)));
    assert!(matches!(gone.await, Err(BrokerError::Gone(_))));
    // The plan the binding was made under is still accepted too.
    accepted(
        w.broker
            .unbind(unbind("b2", ASYNC_SERVICE, ASYNC_PLAN))
            .await
            .unwrap(),
    );
    w.drain().await;
    assert_eq!(w.async_backend.calls(OperationKind::Unbind), 2);
}

#[tokio::test]
async fn fetching_a_binding_accepts_the_instances_current_plan_and_the_bound_one() {
    let w = bound_then_moved(ASYNC_PLAN, ASYNC_PLAN_BIG).await;
    for plan_id in [None, Some(ASYNC_PLAN), Some(ASYNC_PLAN_BIG)] {
        let query = fetch("b1", Some(ASYNC_SERVICE), plan_id);
        let fetched = w.broker.fetch_binding(&query).await.unwrap();
        assert_eq!(fetched.id.as_str(), "b1", "{plan_id:?}");
    }
    bad_request(
        w.broker
            .fetch_binding(&fetch("b1", None, Some(ASYNC_PLAN_FIXED)))
            .await,
        &["plan_id", ASYNC_PLAN_FIXED, ASYNC_PLAN, ASYNC_PLAN_BIG],
    );
    bad_request(
        w.broker
            .fetch_binding(&fetch("b1", Some(SYNC_SERVICE), None))
            .await,
        &["service_id", SYNC_SERVICE],
    );
}

#[tokio::test]
async fn a_bindings_last_operation_accepts_the_instances_current_plan_and_the_bound_one() {
    let w = bound_then_moved(ASYNC_PLAN, ASYNC_PLAN_BIG).await;
    for op in [
        None,
        Some(
            w.store
                .latest_operation(&instance_id("i1"), Some(&binding("b1")))
                .await
                .unwrap()
                .unwrap()
                .id,
        ),
    ] {
        for plan_id in [ASYNC_PLAN, ASYNC_PLAN_BIG] {
            let status = w.broker.last_operation(poll("b1", op, Some(plan_id)));
            assert_eq!(status.await.unwrap().state, OperationState::Succeeded);
        }
        bad_request(
            w.broker
                .last_operation(poll("b1", op, Some(ASYNC_PLAN_FIXED)))
                .await,
            &[
                "plan_id",
                ASYNC_PLAN_FIXED,
                ASYNC_PLAN,
                ASYNC_PLAN_BIG,
                "binding b1",
            ],
        );
    }
}

#[tokio::test]
async fn without_a_plan_change_only_the_bound_plan_is_accepted() {
    let w = bound_then_moved(ASYNC_PLAN, ASYNC_PLAN).await;
    bad_request(
        w.broker
            .unbind(unbind("b1", ASYNC_SERVICE, ASYNC_PLAN_BIG))
            .await,
        &["plan_id", ASYNC_PLAN_BIG, ASYNC_PLAN],
    );
    bad_request(
        w.broker
            .fetch_binding(&fetch("b1", None, Some(ASYNC_PLAN_BIG)))
            .await,
        &["plan_id", ASYNC_PLAN_BIG],
    );
    bad_request(
        w.broker
            .last_operation(poll("b1", None, Some(ASYNC_PLAN_BIG)))
            .await,
        &["plan_id", ASYNC_PLAN_BIG],
    );
}

#[tokio::test]
async fn a_plan_change_the_plan_does_not_allow_is_unprocessable_and_changes_nothing() {
    let w = TestWorld::new(memory_store().await);
    let provision = ProvisionCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id("f1"),
        spec: spec(ASYNC_SERVICE, ASYNC_PLAN_FIXED, json!({})),
        accepts_incomplete: true,
        originating_identity: None,
    };
    accepted(w.broker.provision(provision).await.unwrap());
    w.drain().await;
    let update = UpdateCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id("f1"),
        service_id: service(),
        plan_id: Some(plan(ASYNC_PLAN)),
        parameters: None,
        context: None,
        maintenance_version: None,
        accepts_incomplete: true,
        originating_identity: None,
    };
    match w.broker.update(update).await {
        Err(BrokerError::Unprocessable(why)) => {
            for word in [ASYNC_PLAN_FIXED, "plan_updateable", "f1"] {
                assert!(why.message.contains(word), "{word:?} missing in {why:?}");
            }
        }
        other => panic!("expected Unprocessable, got {other:?}"),
    }
    let kept = w.broker.instance(&instance_id("f1")).await.unwrap();
    assert_eq!(kept.spec.plan_id.as_str(), ASYNC_PLAN_FIXED);
    assert_eq!(w.async_backend.calls(OperationKind::Update), 0);
}

#[tokio::test]
async fn an_instances_earlier_operation_accepts_its_current_plan() {
    let w = TestWorld::new(memory_store().await);
    let provision = ProvisionCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id("i1"),
        spec: spec(ASYNC_SERVICE, ASYNC_PLAN, json!({})),
        accepts_incomplete: true,
        originating_identity: None,
    };
    let provisioned = accepted(w.broker.provision(provision).await.unwrap());
    w.drain().await;
    let update = UpdateCommand {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id("i1"),
        service_id: service(),
        plan_id: Some(plan(ASYNC_PLAN_BIG)),
        parameters: None,
        context: None,
        maintenance_version: None,
        accepts_incomplete: true,
        originating_identity: None,
    };
    accepted(w.broker.update(update).await.unwrap());
    w.drain().await;
    // The provision, polled by its id after the plan change: the plan it was for, or the
    // instance's plan now (OSB: the plan "for the Service Instance").
    let poll = |plan_id: &str| LastOperationQuery {
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: instance_id("i1"),
        binding_id: None,
        operation: Some(provisioned),
        service_id: Some(service()),
        plan_id: Some(plan(plan_id)),
    };
    for plan_id in [ASYNC_PLAN, ASYNC_PLAN_BIG] {
        let status = w.broker.last_operation(poll(plan_id)).await.unwrap();
        assert_eq!(
            (status.kind, status.state),
            (OperationKind::Provision, OperationState::Succeeded)
        );
    }
    bad_request(
        w.broker.last_operation(poll(ASYNC_PLAN_FIXED)).await,
        &[
            "plan_id",
            ASYNC_PLAN_FIXED,
            ASYNC_PLAN,
            ASYNC_PLAN_BIG,
            "current plan",
        ],
    );
}

//! The deletion policy of a deprovision or unbind is stored with its operation (so a step after a
//! restart still knows it), and a removal asked with the other policy while one is in flight is
//! refused rather than joined.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pgbroker_domain::usecases::{BindCommand, DeprovisionCommand, ProvisionCommand, UnbindCommand};
use pgbroker_domain::{
    BindingId, BindingSpec, BrokerError, DeletionPolicy, FrontDoor, JsonObject, OperationId,
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

fn deprovision(policy: DeletionPolicy) -> DeprovisionCommand {
    DeprovisionCommand {
        door: FrontDoor::Operator,
        instance_id: instance_id("i1"),
        service_id: ServiceId::parse(ASYNC_SERVICE).unwrap(),
        plan_id: PlanId::parse(ASYNC_PLAN).unwrap(),
        deletion_policy: policy,
        accepts_incomplete: true,
        originating_identity: None,
    }
}

fn unbind(policy: DeletionPolicy) -> UnbindCommand {
    UnbindCommand {
        door: FrontDoor::Operator,
        instance_id: instance_id("i1"),
        binding_id: BindingId::parse("b1").unwrap(),
        service_id: ServiceId::parse(ASYNC_SERVICE).unwrap(),
        plan_id: PlanId::parse(ASYNC_PLAN).unwrap(),
        deletion_policy: policy,
        accepts_incomplete: true,
        originating_identity: None,
    }
}

async fn provisioned_and_bound() -> TestWorld {
    let w = TestWorld::new(memory_store().await);
    let provision = ProvisionCommand {
        door: FrontDoor::Operator,
        instance_id: instance_id("i1"),
        spec: spec(ASYNC_SERVICE, ASYNC_PLAN, json!({})),
        accepts_incomplete: true,
        originating_identity: None,
    };
    accepted(w.broker.provision(provision).await.unwrap());
    w.drain().await;
    let bind = BindCommand {
        door: FrontDoor::Operator,
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
    accepted(w.broker.bind(bind).await.unwrap());
    w.drain().await;
    w
}

fn refused_for_the_other_policy<T: std::fmt::Debug>(result: Result<T, BrokerError>) {
    match result {
        Err(BrokerError::Concurrency(why)) => {
            assert!(why.message.contains("deletion policy retain"), "{why}");
        }
        other => panic!("expected a concurrency error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_retaining_unbind_and_deprovision_keep_their_policy_in_the_store() {
    let w = provisioned_and_bound().await;

    let op = accepted(
        w.broker
            .unbind(unbind(DeletionPolicy::Retain))
            .await
            .unwrap(),
    );
    let stored = w.store.operation(op).await.unwrap().unwrap();
    assert_eq!(stored.deletion_policy, DeletionPolicy::Retain);
    let again = w.broker.unbind(unbind(DeletionPolicy::Retain)).await;
    assert_eq!(accepted(again.unwrap()), op, "the same request joins");
    refused_for_the_other_policy(w.broker.unbind(unbind(DeletionPolicy::Delete)).await);
    w.drain().await;

    let op = accepted(
        w.broker
            .deprovision(deprovision(DeletionPolicy::Retain))
            .await
            .unwrap(),
    );
    let stored = w.store.operation(op).await.unwrap().unwrap();
    assert_eq!(stored.deletion_policy, DeletionPolicy::Retain);
    let again = w
        .broker
        .deprovision(deprovision(DeletionPolicy::Retain))
        .await;
    assert_eq!(accepted(again.unwrap()), op, "the same request joins");
    refused_for_the_other_policy(
        w.broker
            .deprovision(deprovision(DeletionPolicy::Delete))
            .await,
    );
    w.drain().await;
    assert!(
        w.store
            .instance(&instance_id("i1"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn plain_removals_delete() {
    let w = provisioned_and_bound().await;
    let op = accepted(
        w.broker
            .unbind(unbind(DeletionPolicy::Delete))
            .await
            .unwrap(),
    );
    let stored = w.store.operation(op).await.unwrap().unwrap();
    assert_eq!(stored.deletion_policy, DeletionPolicy::Delete);
    w.drain().await;
    let op = accepted(
        w.broker
            .deprovision(deprovision(DeletionPolicy::Delete))
            .await
            .unwrap(),
    );
    let stored = w.store.operation(op).await.unwrap().unwrap();
    assert_eq!(stored.deletion_policy, DeletionPolicy::Delete);
}

//! Each instance belongs to the front door that provisioned it (OSB or the Kubernetes operator):
//! every command and query of the other door is refused with `ForeignObject`, changes nothing,
//! and the owner goes on as before. Both directions, over a real (in-memory SQLite) store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pgbroker_domain::usecases::{
    BindCommand, DeprovisionCommand, FetchBindingQuery, LastOperationQuery, ProvisionCommand,
    UnbindCommand, UpdateCommand,
};
use pgbroker_domain::{
    BindingId, BindingSpec, BindingState, BrokerError, FrontDoor, InstanceState, JsonObject,
    Outcome, PlanId, ServiceId,
};
use pgbroker_testkit::world::*;
use serde_json::json;

fn provision(door: FrontDoor, id: &str) -> ProvisionCommand {
    ProvisionCommand {
        door,
        instance_id: instance_id(id),
        spec: spec(SYNC_SERVICE, SYNC_PLAN, json!({"size": 1})),
        accepts_incomplete: false,
        originating_identity: None,
    }
}

fn bind(door: FrontDoor, id: &str, binding: &str) -> BindCommand {
    BindCommand {
        door,
        instance_id: instance_id(id),
        binding_id: BindingId::parse(binding).unwrap(),
        spec: BindingSpec {
            service_id: ServiceId::parse(SYNC_SERVICE).unwrap(),
            plan_id: PlanId::parse(SYNC_PLAN).unwrap(),
            parameters: JsonObject::new(),
            context: JsonObject::new(),
            bind_resource: JsonObject::new(),
        },
        accepts_incomplete: false,
        originating_identity: None,
    }
}

fn unbind(door: FrontDoor, id: &str, binding: &str) -> UnbindCommand {
    UnbindCommand {
        door,
        instance_id: instance_id(id),
        binding_id: BindingId::parse(binding).unwrap(),
        service_id: ServiceId::parse(SYNC_SERVICE).unwrap(),
        plan_id: PlanId::parse(SYNC_PLAN).unwrap(),
        deletion_policy: pgbroker_domain::DeletionPolicy::Delete,
        accepts_incomplete: false,
        originating_identity: None,
    }
}

fn update(door: FrontDoor, id: &str) -> UpdateCommand {
    UpdateCommand {
        door,
        instance_id: instance_id(id),
        service_id: ServiceId::parse(SYNC_SERVICE).unwrap(),
        plan_id: None,
        parameters: Some(JsonObject::from_iter([("size".to_string(), json!(2))])),
        context: None,
        maintenance_version: None,
        accepts_incomplete: false,
        originating_identity: None,
    }
}

fn deprovision(door: FrontDoor, id: &str) -> DeprovisionCommand {
    DeprovisionCommand {
        door,
        instance_id: instance_id(id),
        service_id: ServiceId::parse(SYNC_SERVICE).unwrap(),
        plan_id: PlanId::parse(SYNC_PLAN).unwrap(),
        deletion_policy: pgbroker_domain::DeletionPolicy::Delete,
        accepts_incomplete: false,
        originating_identity: None,
    }
}

fn fetch_binding(door: FrontDoor, id: &str, binding: &str) -> FetchBindingQuery {
    FetchBindingQuery {
        door,
        instance_id: instance_id(id),
        binding_id: BindingId::parse(binding).unwrap(),
        service_id: None,
        plan_id: None,
    }
}

fn poll(door: FrontDoor, id: &str, binding: Option<&str>) -> LastOperationQuery {
    LastOperationQuery {
        door,
        instance_id: instance_id(id),
        binding_id: binding.map(|b| BindingId::parse(b).unwrap()),
        operation: None,
        service_id: None,
        plan_id: None,
    }
}

/// The refusal: `ForeignObject`, naming the instance and its owner.
fn foreign<T: std::fmt::Debug>(result: Result<T, BrokerError>, owner_words: &str) {
    match result {
        Err(e) if e.reason() == pgbroker_domain::Reason::ForeignObject => {
            let why = e.message();
            assert!(why.contains("i-owned"), "instance missing in {why:?}");
            assert!(
                why.contains(owner_words),
                "{owner_words} missing in {why:?}"
            );
        }
        other => panic!("expected ForeignObject, got {other:?}"),
    }
}

/// `owner` provisions and binds `i-owned`; every request of `other` is refused and changes
/// nothing; then `owner` updates, unbinds and deprovisions it.
async fn only_the_owner_acts(owner: FrontDoor, other: FrontDoor, owner_words: &str) {
    let w = TestWorld::new(memory_store().await);
    let Outcome::Done { value, .. } = w
        .broker
        .provision(provision(owner, "i-owned"))
        .await
        .unwrap()
    else {
        panic!("the synchronous provision did not finish");
    };
    assert_eq!(value.owner, owner);
    w.broker.bind(bind(owner, "i-owned", "b1")).await.unwrap();

    foreign(
        w.broker.provision(provision(other, "i-owned")).await,
        owner_words,
    );
    foreign(w.broker.update(update(other, "i-owned")).await, owner_words);
    foreign(
        w.broker.bind(bind(other, "i-owned", "b2")).await,
        owner_words,
    );
    foreign(
        w.broker.unbind(unbind(other, "i-owned", "b1")).await,
        owner_words,
    );
    foreign(
        w.broker.deprovision(deprovision(other, "i-owned")).await,
        owner_words,
    );
    let id = instance_id("i-owned");
    foreign(w.broker.fetch_instance(other, &id).await, owner_words);
    let fetch = fetch_binding(other, "i-owned", "b1");
    foreign(w.broker.fetch_binding(&fetch).await, owner_words);
    foreign(
        w.broker.last_operation(poll(other, "i-owned", None)).await,
        owner_words,
    );
    let binding_poll = poll(other, "i-owned", Some("b1"));
    foreign(w.broker.last_operation(binding_poll).await, owner_words);

    // Nothing changed: no second binding, the first still there, the parameters as provisioned.
    let instance = w.broker.fetch_instance(owner, &id).await.unwrap();
    assert_eq!(instance.spec.parameters["size"], json!(1));
    assert_eq!(instance.state, InstanceState::Ready);
    let fetch = fetch_binding(owner, "i-owned", "b1");
    let b1 = w.broker.fetch_binding(&fetch).await.unwrap();
    assert_eq!(b1.state, BindingState::Ready);
    let b2 = BindingId::parse("b2").unwrap();
    let made = w.core.store.binding(&id, &b2).await.unwrap();
    assert!(made.is_none(), "the foreign bind made a binding");

    // The owner goes on.
    w.broker
        .last_operation(poll(owner, "i-owned", None))
        .await
        .unwrap();
    w.broker.update(update(owner, "i-owned")).await.unwrap();
    let instance = w.broker.fetch_instance(owner, &id).await.unwrap();
    assert_eq!(instance.spec.parameters["size"], json!(2));
    w.broker
        .unbind(unbind(owner, "i-owned", "b1"))
        .await
        .unwrap();
    w.broker
        .deprovision(deprovision(owner, "i-owned"))
        .await
        .unwrap();
    assert!(w.core.store.instance(&id).await.unwrap().is_none());
    // Even the record of the finished deprovision stays the owner's.
    foreign(
        w.broker.last_operation(poll(other, "i-owned", None)).await,
        owner_words,
    );
}

#[tokio::test]
async fn the_osb_door_cannot_touch_an_operator_instance() {
    only_the_owner_acts(FrontDoor::Operator, FrontDoor::Osb, "Kubernetes operator").await;
}

#[tokio::test]
async fn the_operator_cannot_touch_an_osb_instance() {
    only_the_owner_acts(
        FrontDoor::Osb,
        FrontDoor::Operator,
        "Open Service Broker API",
    )
    .await;
}

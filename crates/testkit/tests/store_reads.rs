//! What a synchronous request (provision, bind, unbind, deprovision) reads from the store: each
//! read is a round trip (a query on a reader connection), so the inline step uses what the
//! request has just read or written, the answer is what the step's settlement wrote (not read
//! back), and the reads a request needs before it starts go to the store together.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pgbroker_domain::ports::{StateStore, StoreError, Write};
use pgbroker_domain::usecases::{BindCommand, ProvisionCommand};
use pgbroker_domain::{
    Binding, BindingId, BindingSpec, Instance, InstanceId, InstanceState, JsonObject, Operation,
    OperationId, Outcome, PlanId, ServiceId,
};
use pgbroker_testkit::world::*;
use serde_json::json;

/// A store that counts the reads it passes on, and how many were in flight at once at most.
struct Counting {
    inner: Arc<dyn StateStore>,
    instance_reads: AtomicUsize,
    binding_reads: AtomicUsize,
    reads: AtomicUsize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

impl Counting {
    fn new(inner: Arc<dyn StateStore>) -> Self {
        Self {
            inner,
            instance_reads: AtomicUsize::new(0),
            binding_reads: AtomicUsize::new(0),
            reads: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        }
    }

    async fn read<T>(&self, read: impl std::future::Future<Output = T>) -> T {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.most_in_flight.fetch_max(now, Ordering::Relaxed);
        let value = read.await;
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        value
    }

    fn reset(&self) {
        for counter in [
            &self.instance_reads,
            &self.binding_reads,
            &self.reads,
            &self.most_in_flight,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    fn count(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl StateStore for Counting {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn instance(&self, id: &InstanceId) -> Result<Option<Instance>, StoreError> {
        self.instance_reads.fetch_add(1, Ordering::Relaxed);
        self.read(self.inner.instance(id)).await
    }
    async fn binding(
        &self,
        instance: &InstanceId,
        id: &BindingId,
    ) -> Result<Option<Binding>, StoreError> {
        self.binding_reads.fetch_add(1, Ordering::Relaxed);
        self.read(self.inner.binding(instance, id)).await
    }
    async fn operation(&self, id: OperationId) -> Result<Option<Operation>, StoreError> {
        self.read(self.inner.operation(id)).await
    }
    async fn operation_in_flight(
        &self,
        instance: &InstanceId,
    ) -> Result<Option<Operation>, StoreError> {
        self.read(self.inner.operation_in_flight(instance)).await
    }
    async fn latest_operation(
        &self,
        instance: &InstanceId,
        binding: Option<&BindingId>,
    ) -> Result<Option<Operation>, StoreError> {
        self.read(self.inner.latest_operation(instance, binding))
            .await
    }
    async fn start(&self, operation: &Operation, writes: &[Write]) -> Result<(), StoreError> {
        self.inner.start(operation, writes).await
    }
    async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Operation>, StoreError> {
        self.inner.claim_due(owner, now, lease, limit).await
    }
    async fn renew_lease(
        &self,
        id: OperationId,
        token: i64,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.renew_lease(id, token, until).await
    }
    async fn settle(
        &self,
        operation: &Operation,
        token: i64,
        writes: &[Write],
        follow_up: Option<&Operation>,
    ) -> Result<bool, StoreError> {
        self.inner.settle(operation, token, writes, follow_up).await
    }
}

#[tokio::test]
async fn synchronous_requests_read_only_what_they_check() {
    let store = Arc::new(Counting::new(memory_store().await));
    let world = TestWorld::new(store.clone());
    let id = instance_id("reads-1");
    let provision = || ProvisionCommand {
        instance_id: id.clone(),
        spec: spec(SYNC_SERVICE, SYNC_PLAN, json!({})),
        accepts_incomplete: false,
        originating_identity: None,
        door: pgbroker_domain::FrontDoor::Osb,
    };
    let provisioned = world.broker.provision(provision()).await.unwrap();
    assert!(
        matches!(&provisioned, Outcome::Done { value, created: true } if value.state == InstanceState::Ready),
        "{provisioned:?}"
    );
    // A new instance is written without a read first (the store refuses one that exists); the
    // answer is the row the settlement wrote.
    assert_eq!(Counting::count(&store.instance_reads), 0);
    assert_eq!(Counting::count(&store.reads), 0);
    store.reset();
    // The same request again: refused by the store, then read and answered as existing.
    let again = world.broker.provision(provision()).await.unwrap();
    assert!(
        matches!(&again, Outcome::Done { value, created: false } if value.state == InstanceState::Ready),
        "{again:?}"
    );
    assert_eq!(Counting::count(&store.instance_reads), 1);
    store.reset();
    let outcome = world
        .broker
        .bind(BindCommand {
            instance_id: id.clone(),
            binding_id: BindingId::parse("b1").unwrap(),
            spec: BindingSpec {
                service_id: ServiceId::parse(SYNC_SERVICE).unwrap(),
                plan_id: PlanId::parse(SYNC_PLAN).unwrap(),
                parameters: JsonObject::new(),
                context: JsonObject::new(),
                bind_resource: JsonObject::new(),
            },
            accepts_incomplete: false,
            originating_identity: None,
            door: pgbroker_domain::FrontDoor::Osb,
        })
        .await
        .unwrap();
    assert!(
        matches!(&outcome, Outcome::Done { value, created: true } if value.credentials.is_some()),
        "{outcome:?}"
    );
    // The use case's checks (instance, binding, operation in flight), read together; the
    // inline step uses the instance read, the answer is the binding the settlement wrote.
    assert_eq!(Counting::count(&store.instance_reads), 1);
    assert_eq!(Counting::count(&store.binding_reads), 1);
    assert_eq!(Counting::count(&store.reads), 3);
    assert_eq!(Counting::count(&store.most_in_flight), 3);
    // The answer is what a read gives.
    let Outcome::Done { value, .. } = outcome else {
        unreachable!()
    };
    let stored = world
        .broker
        .binding(&value.instance_id, &value.id)
        .await
        .unwrap();
    assert_eq!(stored, value);

    store.reset();
    let unbound = world
        .broker
        .unbind(unbind_cmd("reads-1", "b1", SYNC_SERVICE, SYNC_PLAN, false))
        .await
        .unwrap();
    assert!(matches!(unbound, Outcome::Done { .. }), "{unbound:?}");
    // The use case's checks (instance, binding, operation in flight), read together; the
    // inline step uses the instance and the binding the request read and wrote.
    assert_eq!(Counting::count(&store.instance_reads), 1);
    assert_eq!(Counting::count(&store.binding_reads), 1);
    assert_eq!(Counting::count(&store.reads), 3);
    assert_eq!(Counting::count(&store.most_in_flight), 3);
    store.reset();
    let deprovisioned = world
        .broker
        .deprovision(deprovision_cmd("reads-1", SYNC_SERVICE, SYNC_PLAN, false))
        .await
        .unwrap();
    assert!(
        matches!(deprovisioned, Outcome::Done { .. }),
        "{deprovisioned:?}"
    );
    // The instance and the operation in flight on it, read together.
    assert_eq!(Counting::count(&store.instance_reads), 1);
    assert_eq!(Counting::count(&store.reads), 2);
    assert_eq!(Counting::count(&store.most_in_flight), 2);
    assert!(
        world.broker.instance(&id).await.is_err(),
        "the instance is gone"
    );
}

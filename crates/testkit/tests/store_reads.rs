//! What a synchronous request reads from the store: each read is a round trip (a query on a
//! reader connection), so the inline step uses what the request has just read or written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pgbroker_domain::ports::{StateStore, StoreError, Write};
use pgbroker_domain::usecases::{BindCommand, ProvisionCommand};
use pgbroker_domain::{
    Binding, BindingId, BindingSpec, Instance, InstanceId, JsonObject, Operation, OperationId,
    Outcome, PlanId, ServiceId,
};
use pgbroker_testkit::world::*;
use serde_json::json;

/// A store that counts the instance reads it passes on.
struct Counting {
    inner: Arc<dyn StateStore>,
    instance_reads: AtomicUsize,
}

#[async_trait]
impl StateStore for Counting {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn instance(&self, id: &InstanceId) -> Result<Option<Instance>, StoreError> {
        self.instance_reads.fetch_add(1, Ordering::Relaxed);
        self.inner.instance(id).await
    }
    async fn binding(
        &self,
        instance: &InstanceId,
        id: &BindingId,
    ) -> Result<Option<Binding>, StoreError> {
        self.inner.binding(instance, id).await
    }
    async fn operation(&self, id: OperationId) -> Result<Option<Operation>, StoreError> {
        self.inner.operation(id).await
    }
    async fn operation_in_flight(
        &self,
        instance: &InstanceId,
    ) -> Result<Option<Operation>, StoreError> {
        self.inner.operation_in_flight(instance).await
    }
    async fn latest_operation(
        &self,
        instance: &InstanceId,
        binding: Option<&BindingId>,
    ) -> Result<Option<Operation>, StoreError> {
        self.inner.latest_operation(instance, binding).await
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
async fn a_synchronous_bind_reads_its_instance_once() {
    let store = Arc::new(Counting {
        inner: memory_store().await,
        instance_reads: AtomicUsize::new(0),
    });
    let world = TestWorld::new(store.clone());
    let id = instance_id("reads-1");
    world
        .broker
        .provision(ProvisionCommand {
            instance_id: id.clone(),
            spec: spec(SYNC_SERVICE, SYNC_PLAN, json!({})),
            accepts_incomplete: false,
            originating_identity: None,
            door: pgbroker_domain::FrontDoor::Osb,
        })
        .await
        .unwrap();
    store.instance_reads.store(0, Ordering::Relaxed);
    let outcome = world
        .broker
        .bind(BindCommand {
            instance_id: id,
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
    // The use case's check; the inline step uses what it read.
    assert_eq!(store.instance_reads.load(Ordering::Relaxed), 1);
}

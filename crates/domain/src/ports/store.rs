//! Durable state: instances, bindings and operations. Several broker replicas may share one store,
//! so every rule that spans replicas is enforced by the store itself, atomically:
//! - at most one operation in flight per instance (covering its bindings);
//! - an operation starts together with the instance/binding rows it creates or changes;
//! - an operation settles (with its effects and any follow-up operation) only while its claim is current.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{BindingId, InstanceId, OperationId};
use crate::model::{Binding, Instance};
use crate::operation::Operation;

/// A change to instances and bindings, applied atomically with an operation change.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Fails with [`StoreError::AlreadyExists`] if the id is taken.
    InsertInstance(Instance),
    /// Replaces the row; fails with [`StoreError::NotFound`] if it is gone.
    UpdateInstance(Instance),
    /// Removes the instance and its bindings; no error if already gone.
    DeleteInstance(InstanceId),
    /// Fails with [`StoreError::AlreadyExists`] if the id is taken.
    InsertBinding(Binding),
    /// Replaces the row; fails with [`StoreError::NotFound`] if it is gone.
    UpdateBinding(Binding),
    /// No error if already gone.
    DeleteBinding(InstanceId, BindingId),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} does not exist")]
    NotFound(String),
    /// Another operation on the instance is in flight.
    #[error("instance {0} has an operation in flight")]
    Busy(InstanceId),
    /// The store could not be reached or refused the request; the text names what was being done.
    #[error("state store: {0}")]
    Unavailable(String),
    /// A stored row could not be read back into the model.
    #[error("state store holds an unreadable row: {0}")]
    Corrupt(String),
}

#[async_trait]
pub trait StateStore: Send + Sync {
    /// Round trip to the store, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn instance(&self, id: &InstanceId) -> Result<Option<Instance>, StoreError>;
    async fn binding(
        &self,
        instance: &InstanceId,
        id: &BindingId,
    ) -> Result<Option<Binding>, StoreError>;
    async fn operation(&self, id: OperationId) -> Result<Option<Operation>, StoreError>;
    /// The in-flight operation of an instance or any of its bindings.
    async fn operation_in_flight(
        &self,
        instance: &InstanceId,
    ) -> Result<Option<Operation>, StoreError>;
    /// The newest operation of an instance (`binding: None`: instance operations only) or of one
    /// of its bindings, whatever its origin.
    async fn latest_operation(
        &self,
        instance: &InstanceId,
        binding: Option<&BindingId>,
    ) -> Result<Option<Operation>, StoreError>;

    /// Records a new in-flight operation together with `writes`, atomically.
    /// [`StoreError::Busy`] when the instance already has one in flight.
    async fn start(&self, operation: &Operation, writes: &[Write]) -> Result<(), StoreError>;

    /// Claims up to `limit` in-flight operations that are due at `now` and not leased (or whose
    /// lease has expired), leasing them to `owner` until `now + lease`. Each claim increments the
    /// operation's `attempts` and its lease token. Two concurrent callers never claim the same operation.
    async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Operation>, StoreError>;

    /// Extends a lease; `false` when the lease token is no longer current.
    async fn renew_lease(
        &self,
        id: OperationId,
        token: i64,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Stores the new state of a claimed operation (its lease is cleared) with `writes` and an
    /// optional follow-up operation, atomically, if the lease token is still current; else
    /// nothing changes and the result is `false`.
    async fn settle(
        &self,
        operation: &Operation,
        token: i64,
        writes: &[Write],
        follow_up: Option<&Operation>,
    ) -> Result<bool, StoreError>;
}

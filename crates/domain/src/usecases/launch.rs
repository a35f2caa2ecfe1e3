//! Starting an operation: recorded durably first, then either left to the engine (asynchronous
//! request) or stepped right here until it ends (synchronous request).

use std::time::Duration;

use crate::engine::step::{Ran, Written, run_claimed_after};
use crate::ids::{BindingId, InstanceId, OperationId};
use crate::model::{Binding, Instance};
use crate::operation::{Lease, Operation, OperationKind};
use crate::ports::{Backend, StoreError, Write};
use crate::reason::Reason;

use super::{Broker, BrokerError};

pub(super) enum Started {
    /// Left to the engine.
    Accepted(OperationId),
    /// Ran to its end within the request (succeeded or failed).
    Finished(Box<Finished>),
}

/// An operation that ended within its request.
pub(super) struct Finished {
    pub op: Operation,
    /// What its last settlement wrote, when this request stepped it (empty when the engine
    /// finished it): the request answers with the rows it wrote instead of reading them back.
    writes: Vec<Write>,
}

impl Finished {
    /// `id` as the last settlement wrote it.
    pub fn instance(&self, id: &InstanceId) -> Option<&Instance> {
        self.writes.iter().find_map(|w| match w {
            Write::InsertInstance(i) | Write::UpdateInstance(i) if i.id == *id => Some(i),
            _ => None,
        })
    }

    /// Binding `id` of `instance` as the last settlement wrote it.
    pub fn binding(&self, instance: &InstanceId, id: &BindingId) -> Option<&Binding> {
        self.writes.iter().find_map(|w| match w {
            Write::InsertBinding(b) | Write::UpdateBinding(b)
                if b.instance_id == *instance && b.id == *id =>
            {
                Some(b)
            }
            _ => None,
        })
    }
}

pub(super) enum LaunchError {
    /// The store refused the start (id taken, instance busy, store down).
    Store(StoreError),
    Broker(BrokerError),
}

impl From<BrokerError> for LaunchError {
    fn from(e: BrokerError) -> Self {
        Self::Broker(e)
    }
}

/// Lease token of an operation stepped inline: claims by engines start at 1, so an engine that
/// takes over after the inline lease lapses makes the inline worker's token stale.
const INLINE_TOKEN: i64 = 0;

/// How often a synchronous request looks whether the engine has finished its operation.
const SYNC_POLL: Duration = Duration::from_millis(100);

impl Broker {
    /// OSB: a platform that does not accept asynchronous operations may only be served by a
    /// backend that finishes within the request.
    pub(super) fn require_async_unless_synchronous(
        backend: &dyn Backend,
        kind: OperationKind,
        accepts_incomplete: bool,
    ) -> Result<(), BrokerError> {
        if accepts_incomplete || backend.completes_synchronously(kind) {
            Ok(())
        } else {
            Err(BrokerError::async_required(format!(
                "this plan's backend cannot {} synchronously; retry with accepts_incomplete=true",
                kind.as_str()
            )))
        }
    }

    pub(super) async fn launch(
        &self,
        op: Operation,
        writes: &[Write],
        accepts_incomplete: bool,
    ) -> Result<Started, LaunchError> {
        self.launch_read(op, writes, None, accepts_incomplete).await
    }

    /// [`Self::launch`] for a request that read `instance` just before (and checked that no
    /// operation was in flight on it): an inline first step uses it instead of reading it again.
    pub(super) async fn launch_read(
        &self,
        mut op: Operation,
        writes: &[Write],
        instance: Option<&Instance>,
        accepts_incomplete: bool,
    ) -> Result<Started, LaunchError> {
        if accepts_incomplete {
            self.core
                .store
                .start(&op, writes)
                .await
                .map_err(LaunchError::Store)?;
            crate::audit::started(&op);
            self.wake();
            return Ok(Started::Accepted(op.id));
        }
        let core = &self.core;
        let started = core.clock.now();
        op.lease = Some(Lease {
            owner: format!("inline-{}", op.id),
            token: INLINE_TOKEN,
            expires_at: started + core.policy.lease,
        });
        op.attempts = 1;
        core.store
            .start(&op, writes)
            .await
            .map_err(LaunchError::Store)?;
        crate::audit::started(&op);
        let id = op.id;
        let written = Written::among(&op, writes).with_instance(instance);
        if let Ran::Settled(done, writes) = run_claimed_after(core, op, INLINE_TOKEN, written)
            .await
            .map_err(|e| LaunchError::Broker(e.into()))?
            && !done.is_in_flight()
        {
            return Ok(Started::Finished(Box::new(Finished { op: *done, writes })));
        }
        // Not done in one step: the engine goes on with it; wait for the end within the budget.
        self.wake();
        let polls = core.policy.sync_timeout.as_millis() / SYNC_POLL.as_millis() + 1;
        for _ in 0..polls {
            let current = core
                .store
                .operation(id)
                .await
                .map_err(|e| LaunchError::Broker(e.into()))?
                .ok_or_else(|| {
                    BrokerError::unavailable(
                        Reason::StateStoreUnavailable,
                        format!("operation {id} vanished from the store"),
                    )
                    .operation(id)
                })?;
            if !current.is_in_flight() {
                return Ok(Started::Finished(Box::new(Finished {
                    op: current,
                    writes: Vec::new(),
                })));
            }
            core.clock.sleep(SYNC_POLL).await;
        }
        Err(BrokerError::timeout(format!(
            "operation {id} did not finish within {}s and goes on; repeat the request to see its result",
            core.policy.sync_timeout.as_secs()
        ))
        .into())
    }
}

impl Broker {
    /// The instance a synchronous operation ended with (its failure, if it failed): as its
    /// settlement wrote it, read only when the engine finished the operation.
    pub(super) async fn finished_instance(
        &self,
        done: &Finished,
        id: &InstanceId,
    ) -> Result<Instance, BrokerError> {
        finished(&done.op, ())?;
        match done.instance(id) {
            Some(instance) => Ok(instance.clone()),
            None => self.instance(id).await,
        }
    }

    /// The binding a synchronous operation ended with (its failure, if it failed): as its
    /// settlement wrote it, read only when the engine finished the operation.
    pub(super) async fn finished_binding(
        &self,
        done: &Finished,
        instance_id: &InstanceId,
        id: &BindingId,
    ) -> Result<Binding, BrokerError> {
        finished(&done.op, ())?;
        match done.binding(instance_id, id) {
            Some(binding) => Ok(binding.clone()),
            None => self.binding(instance_id, id).await,
        }
    }
}

/// Maps the end of a synchronous operation: success gives `value`, failure its reason.
pub(super) fn finished<T>(op: &Operation, value: T) -> Result<T, BrokerError> {
    match op.state {
        crate::operation::OperationState::Succeeded => Ok(value),
        _ => {
            let failed = BrokerError::operation_failed(
                op.reason.unwrap_or(Reason::BackendFailed),
                op.description
                    .clone()
                    .unwrap_or_else(|| format!("{} failed", op.kind.as_str())),
            )
            .instance(&op.instance_id)
            .operation(op.id);
            Err(match &op.binding_id {
                Some(binding) => failed.binding(binding),
                None => failed,
            })
        }
    }
}

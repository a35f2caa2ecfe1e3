//! `last_operation`: where an asynchronous operation stands, as a platform polls it.

use std::time::Duration;

use crate::engine::step::retry_after;
use crate::ids::{BindingId, InstanceId, OperationId};
use crate::operation::{Operation, OperationKind, OperationState, Origin};

use super::{Broker, BrokerError};

#[derive(Debug, Clone, PartialEq)]
pub struct LastOperationQuery {
    pub instance_id: InstanceId,
    /// Set when polling a binding's operation.
    pub binding_id: Option<BindingId>,
    /// The `operation` value the broker returned; the newest operation when absent.
    pub operation: Option<OperationId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LastOperation {
    pub operation: OperationId,
    pub kind: OperationKind,
    pub state: OperationState,
    pub description: Option<String>,
    /// While in progress: when polling again is worthwhile.
    pub retry_after: Option<Duration>,
}

impl Broker {
    pub async fn last_operation(
        &self,
        q: LastOperationQuery,
    ) -> Result<LastOperation, BrokerError> {
        let store = &self.core.store;
        let op = match q.operation {
            Some(id) => store
                .operation(id)
                .await?
                .filter(|op| op.instance_id == q.instance_id && op.binding_id == q.binding_id),
            None => {
                store
                    .latest_operation(&q.instance_id, q.binding_id.as_ref())
                    .await?
            }
        };
        let subject = match &q.binding_id {
            Some(b) => format!("binding {b} of instance {}", q.instance_id),
            None => format!("instance {}", q.instance_id),
        };
        let Some(op) = op else {
            return Err(BrokerError::NotFound(match q.operation {
                Some(id) => format!("{subject} has no operation {id}"),
                None => format!("{subject} does not exist"),
            }));
        };
        let removal = matches!(op.kind, OperationKind::Deprovision | OperationKind::Unbind);
        let named = q.operation.is_some();
        // The platform asked for a removal (or joined the broker's own clean-up): done means gone.
        // Only then does existence matter, so the common poll is one store read.
        if removal
            && op.state == OperationState::Succeeded
            && (named || op.origin == Origin::Platform)
        {
            let exists = match &q.binding_id {
                Some(b) => store.binding(&q.instance_id, b).await?.is_some(),
                None => store.instance(&q.instance_id).await?.is_some(),
            };
            if !exists {
                return Err(BrokerError::Gone(format!("{subject} is gone")));
            }
        }
        Ok(self.report(op, named))
    }

    fn report(&self, op: Operation, named: bool) -> LastOperation {
        // Polled without an operation id after a failed provision or bind, the clean-up that
        // followed is reported as what the platform asked for: failed.
        let state = if op.origin == Origin::OrphanMitigation && !named {
            OperationState::Failed
        } else {
            op.state
        };
        let retry_after =
            (state == OperationState::InProgress).then(|| retry_after(&op, self.core.clock.now()));
        LastOperation {
            operation: op.id,
            kind: op.kind,
            state,
            description: op.description,
            retry_after,
        }
    }
}

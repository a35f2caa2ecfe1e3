//! What can go wrong with a request, in OSB terms; front doors map these to status codes and
//! Kubernetes conditions.

use crate::ports::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// The request itself is wrong (unknown plan, plan change not allowed, ...). OSB 400.
    #[error("{0}")]
    BadRequest(String),
    /// The resource does not exist. OSB 404.
    #[error("{0}")]
    NotFound(String),
    /// The resource is already gone (delete of something unknown, polling a finished deprovision). OSB 410.
    #[error("{0}")]
    Gone(String),
    /// The id exists with different attributes. OSB 409.
    #[error("{0}")]
    Conflict(String),
    /// Another operation on the same instance is in flight. OSB 422 `ConcurrencyError`.
    #[error("{0}")]
    Concurrency(String),
    /// The backend cannot finish in one request and the platform did not accept asynchrony. OSB 422 `AsyncRequired`.
    #[error("{0}")]
    AsyncRequired(String),
    /// `maintenance_info` does not match the catalog. OSB 422 `MaintenanceInfoConflict`.
    #[error("{0}")]
    MaintenanceInfoConflict(String),
    /// The request is well formed but cannot be done in the resource's state. OSB 422.
    #[error("{0}")]
    Unprocessable(String),
    /// A synchronous request ran out of time; the operation goes on. OSB 504-ish; the platform should retry.
    #[error("{0}")]
    Timeout(String),
    /// A synchronous request's operation failed in the backend; the text says why.
    #[error("{0}")]
    OperationFailed(String),
    /// The instance belongs to the other front door (reason `ForeignObject`): OSB 422 for a
    /// change, 404 for a read, as if the instance were unknown to the platform.
    #[error("{0}")]
    ForeignObject(String),
    /// The state store cannot be used right now. OSB 503.
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for BrokerError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

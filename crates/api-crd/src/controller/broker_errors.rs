//! Broker errors in the conditions' vocabulary.

use pgbroker_domain::{BrokerError, Reason};

/// The condition reason of a broker error.
pub fn reason_of(e: &BrokerError) -> Reason {
    match e {
        BrokerError::BadRequest(_) => Reason::InvalidSpec,
        BrokerError::NotFound(_) => Reason::NotFound,
        BrokerError::Gone(_) => Reason::Gone,
        BrokerError::Conflict(_) => Reason::Conflict,
        BrokerError::Concurrency(_) => Reason::OperationInProgress,
        BrokerError::AsyncRequired(_) => Reason::AsyncRequired,
        BrokerError::MaintenanceInfoConflict(_) => Reason::MaintenanceInfoConflict,
        BrokerError::Unprocessable(_) => Reason::InvalidState,
        BrokerError::Timeout(_) => Reason::DeadlineExceeded,
        BrokerError::OperationFailed(_) => Reason::BackendFailed,
        BrokerError::ForeignObject(_) => Reason::ForeignObject,
        BrokerError::Unavailable(_) => Reason::StateStoreUnavailable,
    }
}

/// Whether the error says the thing asked about does not exist (any more).
pub fn is_absent(e: &BrokerError) -> bool {
    matches!(e, BrokerError::NotFound(_) | BrokerError::Gone(_))
}

/// Whether retrying the same request later can succeed without a spec change.
pub fn is_transient(e: &BrokerError) -> bool {
    matches!(
        e,
        BrokerError::Concurrency(_) | BrokerError::Timeout(_) | BrokerError::Unavailable(_)
    )
}

//! Broker errors in the conditions' vocabulary.

use pgbroker_domain::{BrokerError, Reason};

/// The condition reason of a broker error: the domain's own.
pub fn reason_of(e: &BrokerError) -> Reason {
    e.reason()
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

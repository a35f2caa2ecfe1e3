//! Timing rules for operations, set by configuration.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationPolicy {
    /// Deadline of an operation whose plan sets no `maximum_polling_duration`.
    pub default_deadline: Duration,
    /// Deadline of an orphan-mitigation operation.
    pub mitigation_deadline: Duration,
    /// How long a worker's claim on an operation lasts without renewal; renewed every third of it.
    pub lease: Duration,
    /// First retry delay after a retryable failure; doubles with every failure in a row.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Longest a synchronous request (platform without `accepts_incomplete`) waits for its operation.
    pub sync_timeout: Duration,
}

impl Default for OperationPolicy {
    fn default() -> Self {
        Self {
            default_deadline: Duration::from_secs(60 * 60),
            mitigation_deadline: Duration::from_secs(6 * 60 * 60),
            lease: Duration::from_secs(30),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5 * 60),
            sync_timeout: Duration::from_secs(55),
        }
    }
}

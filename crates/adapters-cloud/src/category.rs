//! Whether a cloud backend's failure passes (retried with backoff) or ends the operation: one
//! word for the AWS and Azure errors, and the two conversions every cloud error needs.

use pgbroker_domain::Reason;
use pgbroker_domain::ports::StepFailure;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Retryable,
    Permanent,
}

impl Category {
    /// A shared-backend (SQL) failure's category.
    pub fn of(failure: &StepFailure) -> Self {
        if failure.retryable {
            Self::Retryable
        } else {
            Self::Permanent
        }
    }

    /// The engine's failure for a cloud error of this category.
    pub fn failure(self, reason: Reason, message: String) -> StepFailure {
        match self {
            Self::Retryable => StepFailure::retryable(reason, message),
            Self::Permanent => StepFailure::permanent(reason, message),
        }
    }
}

//! Why an Azure step stopped: retryable (429 and 5xx, honouring `Retry-After`; a server busy
//! with another operation; the network; a token that cannot be had yet) or permanent (quota, a
//! SKU the region does not offer, an invalid name or value, a lock), with ARM's own message.
//! Messages never hold a token or a password.

use std::time::Duration;

use pgbroker_domain::Reason;
use pgbroker_domain::ports::StepFailure;

pub use crate::category::Category;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AzureError {
    pub category: Category,
    pub reason: Reason,
    pub message: String,
    /// ARM's `Retry-After`, when it named one.
    pub retry_after: Option<Duration>,
}

impl AzureError {
    pub fn permanent(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            category: Category::Permanent,
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn retryable(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            category: Category::Retryable,
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::permanent(Reason::InvalidSpec, message)
    }

    /// An ARM error response (`{"error": {"code", "message"}}`) to `doing`.
    pub fn from_response(
        doing: &str,
        status: u16,
        code: &str,
        message: &str,
        retry_after: Option<Duration>,
    ) -> Self {
        let (category, reason) = classify(status, code);
        Self {
            category,
            reason,
            message: format!("{doing}: {status} {code}: {message}"),
            retry_after,
        }
    }

    /// A failure of the shared backend's SQL steps, with its category and reason.
    pub(crate) fn sql(e: impl Into<StepFailure>) -> Self {
        Self::from(e.into())
    }

    pub fn is_retryable(&self) -> bool {
        self.category == Category::Retryable
    }
}

/// What an ARM status and error code mean for the operation.
pub fn classify(status: u16, code: &str) -> (Category, Reason) {
    use Category::{Permanent, Retryable};
    match code {
        // A server in the middle of another operation, or two writes meeting: the call works
        // once that ends.
        "ServerBusy"
        | "OperationNotAllowedOnServerState"
        | "AnotherOperationInProgress"
        | "Conflict"
        | "OperationPreempted"
        | "ConcurrentOperation" => (Retryable, Reason::Conflict),
        "ScopeLocked" => (Permanent, Reason::InvalidState),
        "QuotaExceeded"
        | "SubscriptionQuotaExceeded"
        | "ServerQuotaExceeded"
        | "OperationNotAllowed"
            if status != 429 =>
        {
            (Permanent, Reason::QuotaExceeded)
        }
        "SkuNotAvailable"
        | "SkuNotAvailableInRegion"
        | "NoRegisteredProviderFound"
        | "LocationNotAvailableForResourceType"
        | "InvalidResourceName"
        | "InvalidParameterValue"
        | "InvalidRequestContent"
        | "InvalidRequestParameterWithDetails"
        | "InvalidParameter"
        | "InvalidApiVersionParameter"
        | "MissingApiVersionParameter"
        | "BadRequest"
        | "InvalidServerName"
        | "ServerNameAlreadyExists"
        | "NameAlreadyExists"
        | "PasswordNotComplex"
        | "InvalidStorageSize"
        | "InvalidBackupRetentionDays"
        | "FeatureSwitchNotEnabled"
        | "HighAvailabilityNotSupported" => (Permanent, Reason::InvalidSpec),
        "ResourceNotFound"
        | "ResourceGroupNotFound"
        | "SubscriptionNotFound"
        | "ParentResourceNotFound" => (Permanent, Reason::NotFound),
        "AuthorizationFailed"
        | "AuthenticationFailed"
        | "InvalidAuthenticationToken"
        | "InvalidAuthenticationTokenTenant"
        | "LinkedAuthorizationFailed" => (Permanent, Reason::BackendFailed),
        _ if status == 429 || status >= 500 || status == 409 => {
            (Retryable, Reason::BackendUnavailable)
        }
        _ => (Permanent, Reason::BackendFailed),
    }
}

impl From<AzureError> for StepFailure {
    fn from(e: AzureError) -> Self {
        e.category.failure(e.reason, e.message)
    }
}

/// The shared backend's SQL failures keep their category and reason.
impl From<StepFailure> for AzureError {
    fn from(f: StepFailure) -> Self {
        Self {
            category: Category::of(&f),
            reason: f.reason,
            message: f.description,
            retry_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_busy_and_5xx_are_retried_quota_sku_names_and_locks_are_not() {
        assert_eq!(classify(429, "TooManyRequests").0, Category::Retryable);
        assert_eq!(classify(503, "ServiceUnavailable").0, Category::Retryable);
        assert_eq!(
            classify(409, "ServerBusy"),
            (Category::Retryable, Reason::Conflict)
        );
        assert_eq!(
            classify(400, "QuotaExceeded"),
            (Category::Permanent, Reason::QuotaExceeded)
        );
        assert_eq!(
            classify(400, "SkuNotAvailable"),
            (Category::Permanent, Reason::InvalidSpec)
        );
        assert_eq!(
            classify(400, "InvalidResourceName"),
            (Category::Permanent, Reason::InvalidSpec)
        );
        assert_eq!(
            classify(409, "ScopeLocked"),
            (Category::Permanent, Reason::InvalidState)
        );
        assert_eq!(classify(403, "AuthorizationFailed").0, Category::Permanent);
        assert_eq!(classify(400, "Weird").0, Category::Permanent);
    }
}

//! Why an AWS step stopped, in two categories: retryable (throttling, 5xx, the network, a DB in
//! a state that passes) and permanent (quota, an invalid combination, an unknown class, a
//! foreign DB): the engine retries the first with backoff and ends the operation on the second.
//! Messages carry AWS's own words and never a secret (the backend sends none: RDS manages the
//! master password).

use std::fmt::Display;

use aws_sdk_rds::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use pgbroker_domain::Reason;
use pgbroker_domain::ports::StepFailure;

pub use crate::category::Category;

use aws_sdk_rds::config::http::HttpResponse;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AwsError {
    pub category: Category,
    pub reason: Reason,
    pub message: String,
}

impl AwsError {
    pub fn permanent(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            category: Category::Permanent,
            reason,
            message: message.into(),
        }
    }

    pub fn retryable(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            category: Category::Retryable,
            reason,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::permanent(Reason::InvalidSpec, message)
    }

    /// An API call's failure, classified by AWS's error code and the HTTP status.
    pub fn from_sdk<E>(doing: impl Display, err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match err {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let code = service.err().code().unwrap_or("");
                let message = service.err().message().unwrap_or("no message");
                let text = format!("{doing}: {code}: {message}");
                let (category, reason) = classify(code, status);
                Self {
                    category,
                    reason,
                    message: text,
                }
            }
            // Credentials missing, the network, timeouts, an unreadable response: the API may
            // answer on a later try (and credentials may appear, e.g. an IRSA token).
            other => Self::retryable(
                Reason::BackendUnavailable,
                format!("{doing}: {}", DisplayErrorContext(other)),
            ),
        }
    }

    /// A describe's answer: `None` when AWS says the thing does not exist (`not_found`).
    pub fn found<T, E>(
        result: Result<T, SdkError<E, HttpResponse>>,
        not_found: impl Fn(&E) -> bool,
        doing: impl Display,
    ) -> Result<Option<T>, Self>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match result {
            Ok(out) => Ok(Some(out)),
            Err(e) if e.as_service_error().is_some_and(not_found) => Ok(None),
            Err(e) => Err(Self::from_sdk(doing, &e)),
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.category == Category::Retryable
    }
}

/// What an error code and status mean for the operation.
pub fn classify(code: &str, status: u16) -> (Category, Reason) {
    use Category::{Permanent, Retryable};
    match code {
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "SlowDown"
        | "ProvisionedThroughputExceededException"
        | "PriorRequestNotComplete" => (Retryable, Reason::BackendUnavailable),
        // A DB being created, modified, backed up or deleted: the call works once that ends.
        "InvalidDBInstanceState"
        | "InvalidDBInstanceStateFault"
        | "InvalidDBClusterStateFault"
        | "InvalidDBParameterGroupState"
        | "InvalidDBClusterState" => (Retryable, Reason::Conflict),
        "InstanceQuotaExceeded"
        | "StorageQuotaExceeded"
        | "DBClusterQuotaExceededFault"
        | "SnapshotQuotaExceeded"
        | "DBParameterGroupQuotaExceeded"
        | "LimitExceededException" => (Permanent, Reason::QuotaExceeded),
        "InvalidParameterValue"
        | "InvalidParameterCombination"
        | "InvalidParameterException"
        | "StorageTypeNotSupported"
        | "InvalidSubnet"
        | "InvalidVPCNetworkStateFault"
        | "DBSubnetGroupNotFoundFault"
        | "DBSubnetGroupDoesNotCoverEnoughAZs"
        | "InsufficientDBInstanceCapacity"
        | "ValidationError"
        | "MissingParameter" => (Permanent, Reason::InvalidSpec),
        "DBInstanceNotFound" | "DBClusterNotFoundFault" | "ResourceNotFoundException" => {
            (Permanent, Reason::NotFound)
        }
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "ExpiredToken" => (Permanent, Reason::BackendFailed),
        _ if status >= 500 || status == 429 => (Retryable, Reason::BackendUnavailable),
        _ => (Permanent, Reason::BackendFailed),
    }
}

impl From<AwsError> for StepFailure {
    fn from(e: AwsError) -> Self {
        e.category.failure(e.reason, e.message)
    }
}

/// The shared backend's SQL failures keep their category and reason.
impl From<StepFailure> for AwsError {
    fn from(f: StepFailure) -> Self {
        Self {
            category: Category::of(&f),
            reason: f.reason,
            message: f.description,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_5xx_are_retried_quota_and_bad_input_are_not() {
        assert_eq!(
            classify("Throttling", 400),
            (Category::Retryable, Reason::BackendUnavailable)
        );
        assert_eq!(
            classify("InternalFailure", 500),
            (Category::Retryable, Reason::BackendUnavailable)
        );
        assert_eq!(
            classify("InstanceQuotaExceeded", 400),
            (Category::Permanent, Reason::QuotaExceeded)
        );
        assert_eq!(
            classify("InvalidParameterCombination", 400),
            (Category::Permanent, Reason::InvalidSpec)
        );
        assert_eq!(
            classify("InvalidDBInstanceState", 400).0,
            Category::Retryable
        );
        assert_eq!(classify("Weird", 400).0, Category::Permanent);
    }
}

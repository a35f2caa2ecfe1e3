//! Why a step stopped. Messages name the instance, server and object; never a password
//! (statements are not quoted in messages, since some carry one).

use std::fmt::Display;

use pgbroker_domain::ports::StepFailure;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StepError {
    /// Retrying will not help until someone changes the request or the configuration.
    #[error("{0}")]
    Permanent(String),
    /// The server or a lock was in the way; the engine retries with backoff.
    #[error("{0}")]
    Retryable(String),
    /// Fault injection stopped the step, as if the broker had crashed.
    #[error("interrupted after {0} statements (fault injection)")]
    Interrupted(usize),
}

impl StepError {
    /// Classifies a database error: errors that a retry cannot cure (missing privileges, an
    /// extension the server does not have, an unsupported feature) are permanent.
    pub fn from_sqlx(doing: impl Display, err: &sqlx::Error) -> Self {
        let permanent = match err {
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                matches!(
                    code.as_ref(),
                    "42501" | "0A000" | "58P01" | "42704" | "22023"
                )
            }),
            _ => false,
        };
        let text = format!("{doing}: {err}");
        if permanent {
            Self::Permanent(text)
        } else {
            Self::Retryable(text)
        }
    }
}

impl From<StepError> for StepFailure {
    fn from(err: StepError) -> Self {
        match err {
            StepError::Permanent(text) => StepFailure::permanent(text),
            StepError::Retryable(text) => StepFailure::retryable(text),
            e @ StepError::Interrupted(_) => StepFailure::retryable(e.to_string()),
        }
    }
}

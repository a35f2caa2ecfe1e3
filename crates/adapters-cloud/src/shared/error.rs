//! Why a step stopped. Messages name the instance, server and object; never a password
//! (statements are not quoted in messages, since some carry one). Every failure carries the
//! [`Reason`] the domain shares across backends.

use std::fmt::Display;

use pgbroker_domain::Reason;
use pgbroker_domain::ports::StepFailure;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StepError {
    /// Retrying will not help until someone changes the request or the configuration.
    #[error("{1}")]
    Permanent(Reason, String),
    /// The server or a lock was in the way; the engine retries with backoff.
    #[error("{1}")]
    Retryable(Reason, String),
    /// Fault injection stopped the step, as if the broker had crashed.
    #[error("interrupted after {0} statements (fault injection)")]
    Interrupted(usize),
}

/// SQLSTATEs a retry cannot cure, with what they mean for the request.
fn permanent_reason(code: &str) -> Option<Reason> {
    Some(match code {
        // feature_not_supported (PostgreSQL 15+: "extension ... is not available"),
        // undefined_file (older servers: no control file for the extension).
        "0A000" | "58P01" => Reason::Unsupported,
        // undefined_object (a collation, a role, an encoding name), invalid_parameter_value
        // (an encoding that does not match the locale), wrong_object_type (a locale the server
        // does not have: "invalid locale name").
        "42704" | "22023" | "42809" => Reason::InvalidSpec,
        // insufficient_privilege: the admin role may not do this here.
        "42501" => Reason::BackendFailed,
        _ => return None,
    })
}

/// SQLSTATEs of a server that is there but cannot work right now (retried).
fn unavailable(code: &str) -> bool {
    // Class 08: connection exception; 53: insufficient resources (too many connections, disk
    // full); 57P0x: shutting down, starting up; 55P03: lock not available.
    code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") || code == "55P03"
}

impl StepError {
    /// Bad input (a parameter, a name, a setting): [`Reason::InvalidSpec`], permanent.
    pub fn invalid(text: impl Into<String>) -> Self {
        Self::Permanent(Reason::InvalidSpec, text.into())
    }

    /// Classifies a database error: errors that a retry cannot cure (missing privileges, an
    /// extension the server does not have, an unsupported feature) are permanent; a server
    /// that cannot be reached or is out of resources is [`Reason::BackendUnavailable`].
    pub fn from_sqlx(doing: impl Display, err: &sqlx::Error) -> Self {
        let text = format!("{doing}: {err}");
        match err {
            sqlx::Error::Database(db) => match db.code() {
                Some(code) => match permanent_reason(&code) {
                    Some(reason) => Self::Permanent(reason, text),
                    None if unavailable(&code) => Self::Retryable(Reason::BackendUnavailable, text),
                    None => Self::Retryable(Reason::BackendFailed, text),
                },
                None => Self::Retryable(Reason::BackendFailed, text),
            },
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => Self::Retryable(Reason::BackendUnavailable, text),
            _ => Self::Retryable(Reason::BackendFailed, text),
        }
    }

    pub fn reason(&self) -> Reason {
        match self {
            Self::Permanent(reason, _) | Self::Retryable(reason, _) => *reason,
            Self::Interrupted(_) => Reason::BackendUnavailable,
        }
    }
}

impl From<StepError> for StepFailure {
    fn from(err: StepError) -> Self {
        match err {
            StepError::Permanent(reason, text) => StepFailure::permanent(reason, text),
            StepError::Retryable(reason, text) => StepFailure::retryable(reason, text),
            e @ StepError::Interrupted(_) => StepFailure::retryable(e.reason(), e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_onto_the_shared_reasons() {
        assert_eq!(permanent_reason("0A000"), Some(Reason::Unsupported));
        assert_eq!(permanent_reason("58P01"), Some(Reason::Unsupported));
        assert_eq!(permanent_reason("22023"), Some(Reason::InvalidSpec));
        assert_eq!(permanent_reason("42704"), Some(Reason::InvalidSpec));
        assert_eq!(permanent_reason("42501"), Some(Reason::BackendFailed));
        assert_eq!(permanent_reason("42P07"), None);
        for code in ["08006", "53300", "57P03", "55P03"] {
            assert!(unavailable(code), "{code}");
        }
        assert!(!unavailable("42P07"));
    }

    #[test]
    fn an_unreachable_server_is_backend_unavailable_and_retried() {
        let err = StepError::from_sqlx("connecting", &sqlx::Error::PoolTimedOut);
        assert!(matches!(err, StepError::Retryable(..)), "{err:?}");
        assert_eq!(err.reason(), Reason::BackendUnavailable);
        let failure = StepFailure::from(err);
        assert!(failure.retryable);
        assert_eq!(failure.reason, Reason::BackendUnavailable);
        assert!(failure.description.starts_with("connecting: "));
    }

    #[test]
    fn an_interrupted_step_is_retried_as_unavailable() {
        let failure = StepFailure::from(StepError::Interrupted(2));
        assert!(failure.retryable);
        assert_eq!(failure.reason, Reason::BackendUnavailable);
    }

    #[test]
    fn permanent_errors_keep_their_reason() {
        let failure = StepFailure::from(StepError::Permanent(Reason::QuotaExceeded, "full".into()));
        assert!(!failure.retryable);
        assert_eq!(failure.reason, Reason::QuotaExceeded);
        assert_eq!(failure.description, "full");
    }
}

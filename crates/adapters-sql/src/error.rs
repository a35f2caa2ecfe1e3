//! Errors of opening a store, and the mapping of database errors onto the domain's [`StoreError`].
//!
//! No message here ever holds a connection URL: a URL may carry a password. Targets are named by
//! host, port and database (PostgreSQL) or file (SQLite), read from the parsed connect options.

use std::fmt::Display;

use pgbroker_domain::ports::StoreError;

/// Opening, connecting to or migrating a state store failed.
#[derive(Debug, thiserror::Error)]
pub enum SqlStoreError {
    /// Only the scheme is shown (when it looks like one): the rest may hold a password.
    #[error("state store URL has scheme {scheme}; expected postgres://, postgresql:// or sqlite:")]
    UnsupportedScheme { scheme: String },
    #[error("state store URL is not a valid {engine} URL")]
    InvalidUrl {
        engine: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("connecting to the state store ({target})")]
    Connect {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrating the state store schema ({target})")]
    Migrate {
        target: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}

impl SqlStoreError {
    /// `url`'s scheme for [`SqlStoreError::UnsupportedScheme`], or a placeholder when the text
    /// before the first `:` does not look like a scheme (and might be a secret).
    pub(crate) fn unsupported_scheme(url: &str) -> Self {
        let scheme = match url.split_once(':') {
            Some((scheme, _))
                if !scheme.is_empty()
                    && scheme.len() <= 20
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')) =>
            {
                format!("{scheme:?}")
            }
            _ => "(none recognisable)".to_string(),
        };
        Self::UnsupportedScheme { scheme }
    }
}

/// The database could not be reached or refused the request while `doing` something.
pub(crate) fn unavailable(doing: impl Display, error: impl Display) -> StoreError {
    StoreError::Unavailable(format!("{doing}: {error}"))
}

/// Which rule a refused insert broke.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The partial unique index `operations_one_in_flight`.
    InFlight,
    /// A primary key or other unique key.
    Duplicate,
    /// A foreign key: the parent row is missing.
    NoParent,
}

/// PostgreSQL names the violated index; SQLite only names its columns in the message.
pub(crate) fn refusal(error: &sqlx::Error) -> Option<Refusal> {
    let sqlx::Error::Database(db) = error else {
        return None;
    };
    if db.is_foreign_key_violation() {
        return Some(Refusal::NoParent);
    }
    if !db.is_unique_violation() {
        return None;
    }
    let in_flight = db.constraint() == Some("operations_one_in_flight")
        || db.message().contains("operations.instance_id");
    Some(if in_flight {
        Refusal::InFlight
    } else {
        Refusal::Duplicate
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_scheme_never_shows_more_than_a_scheme() {
        let err = SqlStoreError::unsupported_scheme("mysql://root:hunter2@db/x");
        assert_eq!(
            err.to_string(),
            "state store URL has scheme \"mysql\"; expected postgres://, postgresql:// or sqlite:"
        );
        for secretive in ["hunter2 secret:x", "user:hunter2@host", "hunter2"] {
            let err = SqlStoreError::unsupported_scheme(secretive);
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn non_database_errors_are_no_refusal() {
        assert_eq!(refusal(&sqlx::Error::RowNotFound), None);
    }
}

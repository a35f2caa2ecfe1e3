//! The state-store URL. It usually carries a password, so the type that holds it only ever shows
//! (in Debug, Display and when serialized) a form with the password replaced by `***`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A state-store connection URL (`sqlite://...` or `postgres://...`).
///
/// Deserializes from a plain string; serializes to the redacted form, so printing a configuration
/// cannot leak the password. The real URL is read with [`StoreUrl::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(String);

impl StoreUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL as configured, password included: only for handing to the store adapter.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with the password of `user:password@` and of a `password=` query parameter
    /// replaced by `***`.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({:?})", self.redacted())
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for StoreUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for StoreUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

const MASK: &str = "***";

fn redact(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // The last '@' ends the user info: a password may itself hold an unescaped '@'.
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{MASK}@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = redact_query_password(tail);
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

/// Masks `password=` in the query string, which libpq-style URLs accept as well.
fn redact_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_string();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    let query = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}={MASK}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&");
    match fragment {
        Some(fragment) => format!("{path}?{query}#{fragment}"),
        None => format!("{path}?{query}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_password_of_the_user_info() {
        assert_eq!(
            redact("postgres://broker:s3cr3t@db.example:5432/pgbroker?sslmode=require"),
            "postgres://broker:***@db.example:5432/pgbroker?sslmode=require"
        );
        assert_eq!(
            redact("postgresql://u:p@ss@host/db"),
            "postgresql://u:***@host/db"
        );
    }

    #[test]
    fn masks_a_password_query_parameter() {
        assert_eq!(
            redact("postgres://host/db?user=u&password=hunter2&sslmode=disable"),
            "postgres://host/db?user=u&password=***&sslmode=disable"
        );
    }

    #[test]
    fn leaves_urls_without_password_alone() {
        for url in [
            "sqlite://pgbroker.db?mode=rwc",
            "sqlite::memory:",
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://host/db",
        ] {
            assert_eq!(redact(url), url);
        }
    }

    #[test]
    fn debug_display_and_serialize_never_show_the_password() {
        let url = StoreUrl::new("postgres://u:hunter2@h/db?password=hunter2");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(!url.to_string().contains("hunter2"));
        let json = serde_json::to_string(&url).unwrap_or_default();
        assert_eq!(json, "\"postgres://u:***@h/db?password=***\"");
        assert_eq!(url.expose(), "postgres://u:hunter2@h/db?password=hunter2");
    }
}

//! Identifiers. OSB ids come from platforms, so they are parsed once at the edge and can only hold
//! characters that are safe in names, labels and logs everywhere downstream.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest id accepted. Platforms send GUIDs (36 characters); the limit leaves room without letting
/// a caller make names that no backend can hold.
pub const MAX_ID_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {shown:?} is not valid: {why}")]
pub struct InvalidId {
    pub what: &'static str,
    /// The offending value, cut short so a hostile id cannot flood a log line.
    pub shown: String,
    pub why: &'static str,
}

fn check(what: &'static str, raw: &str) -> Result<(), InvalidId> {
    let invalid = |why| InvalidId {
        what,
        shown: raw.chars().take(40).collect(),
        why,
    };
    if raw.is_empty() {
        return Err(invalid("it is empty"));
    }
    if raw.len() > MAX_ID_LEN {
        return Err(invalid("it is longer than 128 characters"));
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(invalid(
            "only ASCII letters, digits, '-', '_' and '.' are allowed",
        ));
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: impl Into<String>) -> Result<Self, InvalidId> {
                let raw = raw.into();
                check($what, &raw)?;
                Ok(Self(raw))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(raw: String) -> Result<Self, InvalidId> {
                Self::parse(raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(raw: &str) -> Result<Self, InvalidId> {
                Self::parse(raw)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A service instance id chosen by the platform.
    InstanceId,
    "instance id"
);
string_id!(
    /// A service binding id chosen by the platform.
    BindingId,
    "binding id"
);
string_id!(
    /// A service offering id from the catalog.
    ServiceId,
    "service id"
);
string_id!(
    /// A plan id from the catalog.
    PlanId,
    "plan id"
);

/// An operation id chosen by the broker; returned to platforms as the OSB `operation` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperationId(Uuid);

impl OperationId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for OperationId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::str::FromStr for OperationId {
    type Err = InvalidId;
    fn from_str(raw: &str) -> Result<Self, InvalidId> {
        Uuid::parse_str(raw).map(Self).map_err(|_| InvalidId {
            what: "operation id",
            shown: raw.chars().take(40).collect(),
            why: "it is not a UUID",
        })
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_guids_and_simple_names() {
        assert!(InstanceId::parse("a651d10f-25ab-4a75-99a6-520c0abbe2ae").is_ok());
        assert!(InstanceId::parse("my_db.1").is_ok());
    }

    #[test]
    fn rejects_hostile_ids() {
        for bad in ["", "a'b", "x;DROP", "naïve", "a b", "a/b", &"x".repeat(129)] {
            let err = InstanceId::parse(bad).expect_err(bad);
            assert_eq!(err.what, "instance id");
        }
    }

    #[test]
    fn error_shows_a_bounded_excerpt() {
        let err = BindingId::parse("'".repeat(500)).expect_err("quotes");
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn serde_refuses_invalid_ids() {
        assert!(serde_json::from_str::<PlanId>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<PlanId>("\"not ok\"").is_err());
    }
}

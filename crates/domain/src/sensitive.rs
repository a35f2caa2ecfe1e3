//! Values that must never reach a log, an error or Debug output.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Holds a secret; `Debug` and `Display` print `[redacted]`. Reading it takes an explicit `expose()`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The credentials a binding hands out (`host`, `port`, `username`, `password`, `uri`, ...).
/// The whole map is sensitive: URIs embed the password.
pub type Credentials = Sensitive<BTreeMap<String, serde_json::Value>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let password = Sensitive::new("hunter2-very-secret".to_string());
        assert_eq!(format!("{password:?}"), "[redacted]");
        assert_eq!(format!("{password}"), "[redacted]");
        let creds: Credentials = Sensitive::new(BTreeMap::from([(
            "uri".to_string(),
            serde_json::json!("postgresql://u:hunter2@h/db"),
        )]));
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}

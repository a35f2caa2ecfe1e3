//! Quoting for the SQL this backend writes. DDL cannot take bind parameters, so every name and
//! every literal goes through these types; nothing is spliced into SQL any other way.

use std::fmt;

/// PostgreSQL's limit on identifiers (NAMEDATALEN - 1). Longer names are silently truncated by
/// the server, which could make two names collide, so they are refused here instead.
pub const MAX_IDENT_BYTES: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("name {shown:?} is empty")]
    Empty { shown: String },
    #[error("name {shown:?}... is {len} bytes long; PostgreSQL allows {MAX_IDENT_BYTES}")]
    TooLong { shown: String, len: usize },
    #[error("{what} contains a NUL character, which PostgreSQL cannot store")]
    Nul { what: &'static str },
}

/// A PostgreSQL identifier (role, database, schema, extension name) that fits the server's limit.
/// `Display` writes it double-quoted with inner quotes doubled, so it is always taken literally.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ident(String);

impl Ident {
    pub fn new(name: impl Into<String>) -> Result<Self, QuoteError> {
        let name = name.into();
        let shown = || name.chars().take(40).collect::<String>();
        if name.is_empty() {
            return Err(QuoteError::Empty { shown: shown() });
        }
        if name.contains('\0') {
            return Err(QuoteError::Nul { what: "a name" });
        }
        if name.len() > MAX_IDENT_BYTES {
            return Err(QuoteError::TooLong {
                shown: shown(),
                len: name.len(),
            });
        }
        Ok(Self(name))
    }

    /// For names built to fit by `names::fit`; a NUL (which patterns and ids cannot hold) is dropped.
    pub(crate) fn fitted(name: String) -> Self {
        Self(name.replace('\0', ""))
    }

    /// The name as the server stores it (in `pg_database.datname`, `pg_roles.rolname`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0.replace('"', "\"\""))
    }
}

/// A string literal for SQL text. Quotes are doubled; when the value holds a backslash the
/// `E'...'` form is used with backslashes doubled too, so the value reads the same whatever
/// `standard_conforming_strings` is (the same rule as PostgreSQL's own `quote_literal`).
#[derive(Clone, PartialEq, Eq)]
pub struct Literal(String);

impl Literal {
    pub fn new(value: impl Into<String>) -> Result<Self, QuoteError> {
        let value = value.into();
        if value.contains('\0') {
            return Err(QuoteError::Nul { what: "a literal" });
        }
        Ok(Self(value))
    }
}

/// Literals may be passwords.
impl fmt::Debug for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Literal([redacted])")
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = self.0.replace('\'', "''");
        if quoted.contains('\\') {
            write!(f, "E'{}'", quoted.replace('\\', "\\\\"))
        } else {
            write!(f, "'{quoted}'")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(name: &str) -> String {
        Ident::new(name).map(|i| i.to_string()).unwrap_or_default()
    }

    #[test]
    fn identifiers_are_double_quoted_with_quotes_doubled() {
        assert_eq!(ident("plain"), "\"plain\"");
        assert_eq!(ident("Mixed-Case.1"), "\"Mixed-Case.1\"");
        assert_eq!(
            ident("a\"; DROP TABLE x; --"),
            "\"a\"\"; DROP TABLE x; --\""
        );
        assert_eq!(ident("ünï"), "\"ünï\"");
    }

    #[test]
    fn identifiers_refuse_empty_nul_and_overlong_names() {
        assert!(matches!(Ident::new(""), Err(QuoteError::Empty { .. })));
        assert!(matches!(Ident::new("a\0b"), Err(QuoteError::Nul { .. })));
        assert!(Ident::new("x".repeat(63)).is_ok());
        assert!(matches!(
            Ident::new("x".repeat(64)),
            Err(QuoteError::TooLong { len: 64, .. })
        ));
        // 32 two-byte characters are 64 bytes: the limit is in bytes, as on the server.
        assert!(Ident::new("é".repeat(32)).is_err());
    }

    #[test]
    fn literals_double_quotes_and_escape_backslashes() -> Result<(), QuoteError> {
        assert_eq!(Literal::new("abc")?.to_string(), "'abc'");
        assert_eq!(Literal::new("it's")?.to_string(), "'it''s'");
        assert_eq!(Literal::new("a\\'b")?.to_string(), "E'a\\\\''b'");
        assert!(Literal::new("a\0").is_err());
        Ok(())
    }

    #[test]
    fn literal_debug_hides_the_value() -> Result<(), QuoteError> {
        assert!(!format!("{:?}", Literal::new("hunter2")?).contains("hunter2"));
        Ok(())
    }
}

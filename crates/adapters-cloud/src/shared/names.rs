//! Database and role names, derived from instance and binding ids by configurable patterns and
//! kept within PostgreSQL's 63-byte limit by shortening long names with a hash of the full name.

use std::fmt;

use pgbroker_domain::{BindingId, InstanceId, OperationId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::sql::{Ident, MAX_IDENT_BYTES};

/// Hex digits of the hash that replaces the end of a name that is too long.
const HASH_HEX: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("name pattern {pattern:?} has an unknown placeholder {{{name}}} (known: {known})")]
    UnknownPlaceholder {
        pattern: String,
        name: String,
        known: &'static str,
    },
    #[error("name pattern {pattern:?} has an unbalanced '{{' or '}}'")]
    Unbalanced { pattern: String },
    #[error("name pattern {pattern:?} must contain {required}, or names would collide")]
    MissingPlaceholder {
        pattern: String,
        required: &'static str,
    },
    #[error("name pattern {pattern:?} contains a NUL character")]
    Nul { pattern: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Instance,
    Binding,
}

/// A name pattern such as `pgb_{instance}` or `pgb_{instance}_{binding}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NamePattern {
    raw: String,
    pieces: Vec<Piece>,
}

impl fmt::Debug for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.raw, f)
    }
}

impl TryFrom<String> for NamePattern {
    type Error = PatternError;
    fn try_from(raw: String) -> Result<Self, PatternError> {
        Self::parse(&raw)
    }
}

impl From<NamePattern> for String {
    fn from(p: NamePattern) -> String {
        p.raw
    }
}

impl NamePattern {
    pub fn parse(raw: &str) -> Result<Self, PatternError> {
        if raw.contains('\0') {
            return Err(PatternError::Nul {
                pattern: raw.to_string(),
            });
        }
        let mut pieces = Vec::new();
        let mut rest = raw;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    pieces.push(Piece::Text(rest.to_string()));
                    rest = "";
                }
                Some(at) => {
                    if at > 0 {
                        pieces.push(Piece::Text(rest[..at].to_string()));
                    }
                    let unbalanced = || PatternError::Unbalanced {
                        pattern: raw.to_string(),
                    };
                    if rest[at..].starts_with('}') {
                        return Err(unbalanced());
                    }
                    let close = rest[at..].find('}').ok_or_else(unbalanced)? + at;
                    let name = &rest[at + 1..close];
                    pieces.push(match name {
                        "instance" => Piece::Instance,
                        "binding" => Piece::Binding,
                        other if other.contains('{') => return Err(unbalanced()),
                        other => {
                            return Err(PatternError::UnknownPlaceholder {
                                pattern: raw.to_string(),
                                name: other.to_string(),
                                known: "{instance}, {binding}",
                            });
                        }
                    });
                    rest = &rest[close + 1..];
                }
            }
        }
        Ok(Self {
            raw: raw.to_string(),
            pieces,
        })
    }

    /// Checks that the pattern names what makes its names unique.
    pub fn require(&self, instance: bool, binding: bool) -> Result<(), PatternError> {
        let has = |p: &Piece| self.pieces.contains(p);
        let missing = match (
            instance && !has(&Piece::Instance),
            binding && !has(&Piece::Binding),
        ) {
            (true, true) => Some("{instance} and {binding}"),
            (true, false) => Some("{instance}"),
            (false, true) => Some("{binding}"),
            (false, false) => None,
        };
        match missing {
            Some(required) => Err(PatternError::MissingPlaceholder {
                pattern: self.raw.clone(),
                required,
            }),
            None => Ok(()),
        }
    }

    /// The name for these ids, shortened to fit (see [`fit`]).
    pub fn render(&self, instance: &InstanceId, binding: Option<&BindingId>) -> Ident {
        let mut name = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => name.push_str(text),
                Piece::Instance => name.push_str(instance.as_str()),
                Piece::Binding => name.push_str(binding.map(|b| b.as_str()).unwrap_or_default()),
            }
        }
        fit(&name)
    }
}

/// `name` itself when it fits in 63 bytes; otherwise its longest prefix that leaves room for
/// `_` and 12 hex digits of the SHA-256 of the whole name, so that different long names stay
/// different and the same name always maps to the same result.
pub fn fit(name: &str) -> Ident {
    // Non-empty and within the limit by construction; patterns and ids hold no NUL.
    Ident::fitted(shorten(name, MAX_IDENT_BYTES))
}

fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max && !name.is_empty() {
        return name.to_string();
    }
    let digest = Sha256::digest(name.as_bytes());
    let hash: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut cut = (max - HASH_HEX - 1).min(name.len());
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{}", &name[..cut], &hash[..HASH_HEX])
}

/// The name a database or role gets when it is kept by a retaining deprovision: the original
/// name (shortened if needed), `_del_` and the first 8 hex digits of the deprovision operation,
/// so a retried deprovision finds its own work, a later instance with the same id can be
/// retained too, and an administrator sees at a glance what was kept.
pub fn retained(name: &Ident, operation: OperationId) -> Ident {
    let op = operation.as_uuid().simple().to_string();
    let suffix = format!("_del_{}", &op[..8]);
    Ident::fitted(format!(
        "{}{suffix}",
        shorten(name.as_str(), MAX_IDENT_BYTES - suffix.len())
    ))
}

/// A separate database asked for by a bind parameter: the instance's database name, `_` and
/// the requested name.
pub fn extra_database(instance_database: &Ident, requested: &str) -> Ident {
    fit(&format!("{}_{requested}", instance_database.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (InstanceId, BindingId) {
        (
            InstanceId::parse("a651d10f-25ab-4a75-99a6-520c0abbe2ae")
                .unwrap_or_else(|e| panic!("{e}")),
            BindingId::parse("9098f862-fb7e-42b5-9e8c-94c49e231cc3")
                .unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn renders_placeholders() -> Result<(), PatternError> {
        let (i, b) = ids();
        let p = NamePattern::parse("pgb_{instance}")?;
        assert_eq!(
            p.render(&i, None).as_str(),
            "pgb_a651d10f-25ab-4a75-99a6-520c0abbe2ae"
        );
        let p = NamePattern::parse("x{binding}")?;
        assert_eq!(
            p.render(&i, Some(&b)).as_str(),
            "x9098f862-fb7e-42b5-9e8c-94c49e231cc3"
        );
        Ok(())
    }

    #[test]
    fn long_names_are_shortened_with_a_stable_distinct_hash() -> Result<(), PatternError> {
        let (i, b) = ids();
        let p = NamePattern::parse("pgb_{instance}_{binding}")?;
        let name = p.render(&i, Some(&b));
        assert_eq!(name.as_str().len(), 63);
        assert!(
            name.as_str()
                .starts_with("pgb_a651d10f-25ab-4a75-99a6-520c0abbe2ae_9")
        );
        assert_eq!(p.render(&i, Some(&b)), name);
        let other = BindingId::parse("9098f862-fb7e-42b5-9e8c-94c49e231cc4")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(p.render(&i, Some(&other)), name);
        Ok(())
    }

    #[test]
    fn shortening_respects_character_boundaries() {
        let name = fit(&"é".repeat(100));
        assert!(name.as_str().len() <= 63);
        assert!(name.as_str().starts_with("éé"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "pgb_{instanc}",
            "pgb_{instance",
            "pgb_}x",
            "a{{instance}}",
            "x\0{instance}",
        ] {
            assert!(NamePattern::parse(bad).is_err(), "{bad}");
        }
        let p = NamePattern::parse("fixed").unwrap_or_else(|e| panic!("{e}"));
        assert!(p.require(true, false).is_err());
        let p = NamePattern::parse("{instance}").unwrap_or_else(|e| panic!("{e}"));
        assert!(p.require(true, true).is_err());
        assert!(p.require(true, false).is_ok());
    }

    #[test]
    fn retained_long_names_keep_the_marker() {
        let long = fit(&"x".repeat(80));
        let op = OperationId::from_uuid(uuid::Uuid::nil());
        let kept = retained(&long, op);
        assert_eq!(kept.as_str().len(), 63);
        assert!(kept.as_str().ends_with("_del_00000000"), "{kept}");
        assert_ne!(retained(&fit(&"x".repeat(81)), op), kept);
    }

    #[test]
    fn retained_names_carry_the_operation() {
        let (i, _) = ids();
        let db = NamePattern::parse("pgb_{instance}")
            .unwrap_or_else(|e| panic!("{e}"))
            .render(&i, None);
        let op = OperationId::from_uuid(uuid::Uuid::nil());
        assert_eq!(
            retained(&db, op).as_str(),
            "pgb_a651d10f-25ab-4a75-99a6-520c0abbe2ae_del_00000000"
        );
    }
}

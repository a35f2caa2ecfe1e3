//! DB identifiers and tags from `name_pattern` and `tags`: `{instance}` (the instance id) and,
//! for servers made through the operator, `{namespace}` and `{name}` (the object's). An
//! identifier follows RDS's rules (letters, digits and hyphens, a letter first, no two hyphens
//! in a row, none at the end, at most 63 characters); a longer one ends in a hash of the whole.

use std::collections::BTreeMap;

use pgbroker_domain::{InstanceId, JsonObject};
use sha2::{Digest, Sha256};

/// RDS's longest DB instance and cluster identifier.
const MAX_IDENTIFIER: usize = 63;
/// Hex digits of the hash that ends an identifier shortened to fit.
const HASH_HEX: usize = 10;

/// The tag that marks a DB as made by pgbroker for one instance.
pub const INSTANCE_TAG: &str = "pgbroker:instance-id";
/// The backend that made it.
pub const BACKEND_TAG: &str = "pgbroker:backend";
/// Set by a deprovision that retains the DB.
pub const RETAINED_TAG: &str = "pgbroker:retained";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("{pattern:?} has an unknown variable {{{name}}} (known: instance, namespace, name)")]
    Unknown { pattern: String, name: String },
    #[error("{pattern:?} has an unbalanced '{{' or '}}'")]
    Unbalanced { pattern: String },
    #[error("{pattern:?} must contain {{instance}}, or identifiers would collide")]
    NoInstance { pattern: String },
    #[error("{pattern:?} must start with a letter (RDS identifiers do)")]
    NoLetterFirst { pattern: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Instance,
    Namespace,
    Name,
}

/// A pattern such as `pgbroker-{instance}` or `{namespace}` (in a tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    pieces: Vec<Piece>,
}

/// What the variables stand for in one request.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    pub instance: &'a str,
    /// The operator's object, from the request's context (empty for OSB requests).
    pub namespace: &'a str,
    pub name: &'a str,
}

impl<'a> Vars<'a> {
    pub fn of(instance: &'a InstanceId, context: &'a JsonObject) -> Self {
        let text = |key: &str| context.get(key).and_then(|v| v.as_str()).unwrap_or("");
        Self {
            instance: instance.as_str(),
            namespace: text("namespace"),
            name: text("instance_name"),
        }
    }
}

impl NamePattern {
    /// An identifier pattern: contains `{instance}`, starts with a letter.
    pub fn parse(raw: &str) -> Result<Self, PatternError> {
        let pattern = Self::parse_text(raw)?;
        if !pattern.pieces.contains(&Piece::Instance) {
            return Err(PatternError::NoInstance {
                pattern: raw.to_string(),
            });
        }
        match pattern.pieces.first() {
            Some(Piece::Text(t)) if t.starts_with(|c: char| c.is_ascii_alphabetic()) => Ok(pattern),
            _ => Err(PatternError::NoLetterFirst {
                pattern: raw.to_string(),
            }),
        }
    }

    /// A tag value pattern: any text with variables.
    pub fn parse_text(raw: &str) -> Result<Self, PatternError> {
        let mut pieces = Vec::new();
        let mut rest = raw;
        let unbalanced = || PatternError::Unbalanced {
            pattern: raw.to_string(),
        };
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    pieces.push(Piece::Text(rest.to_string()));
                    break;
                }
                Some(i) if rest[i..].starts_with('}') => return Err(unbalanced()),
                Some(i) => {
                    if i > 0 {
                        pieces.push(Piece::Text(rest[..i].to_string()));
                    }
                    let end = rest[i..].find('}').ok_or_else(unbalanced)? + i;
                    let name = &rest[i + 1..end];
                    pieces.push(match name {
                        "instance" => Piece::Instance,
                        "namespace" => Piece::Namespace,
                        "name" => Piece::Name,
                        _ => {
                            return Err(PatternError::Unknown {
                                pattern: raw.to_string(),
                                name: name.to_string(),
                            });
                        }
                    });
                    rest = &rest[end + 1..];
                }
            }
        }
        Ok(Self { pieces })
    }

    /// The pattern with the variables filled in, as it is.
    pub fn render_text(&self, vars: &Vars<'_>) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.as_str(),
                Piece::Instance => vars.instance,
                Piece::Namespace => vars.namespace,
                Piece::Name => vars.name,
            })
            .collect()
    }

    /// A valid RDS identifier: lowercased, other characters as hyphens, shortened with a hash.
    pub fn identifier(&self, vars: &Vars<'_>) -> String {
        let full = self.render_text(vars);
        let mut id = String::with_capacity(full.len());
        for c in full.chars() {
            let c = if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            };
            if !(c == '-' && (id.is_empty() || id.ends_with('-'))) {
                id.push(c);
            }
        }
        let id = id.trim_end_matches('-');
        if id == full && id.len() <= MAX_IDENTIFIER {
            return id.to_string();
        }
        // Changed or shortened: two inputs could meet in one name, so a hash of the input
        // keeps them apart.
        let hash = hex(&Sha256::digest(full.as_bytes()));
        let mut head = id.to_string();
        head.truncate(MAX_IDENTIFIER - HASH_HEX - 1);
        format!("{}-{}", head.trim_end_matches('-'), &hash[..HASH_HEX])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The tags of everything made for an instance: the configured ones, then the backend's own.
pub fn tags(
    configured: &BTreeMap<String, String>,
    backend: &str,
    vars: &Vars<'_>,
) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = configured
        .iter()
        .filter_map(|(k, v)| {
            NamePattern::parse_text(v)
                .ok()
                .map(|p| (k.clone(), p.render_text(vars)))
        })
        .collect();
    tags.insert(INSTANCE_TAG.into(), vars.instance.into());
    tags.insert(BACKEND_TAG.into(), backend.into());
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(instance: &'a str, namespace: &'a str, name: &'a str) -> Vars<'a> {
        Vars {
            instance,
            namespace,
            name,
        }
    }

    #[test]
    fn identifiers_follow_rds_rules() {
        let p = NamePattern::parse("pgbroker-{instance}").unwrap_or_else(|e| panic!("{e}"));
        let id = "3b241101-e2bb-4255-8caf-4136c566a962";
        assert_eq!(p.identifier(&vars(id, "", "")), format!("pgbroker-{id}"));
        let p = NamePattern::parse("pg-{namespace}-{name}-{instance}")
            .unwrap_or_else(|e| panic!("{e}"));
        let got = p.identifier(&vars(id, "team_a", "orders--db"));
        assert!(got.len() <= 63, "{got}");
        assert!(got.starts_with("pg-team-a-orders-db-"), "{got}");
        assert!(!got.contains("--") && !got.ends_with('-'), "{got}");
        // Two inputs that meet in one shortened name still differ.
        let a = p.identifier(&vars("x", "Team", "a"));
        let b = p.identifier(&vars("x", "team", "a"));
        assert_ne!(a, b);
    }

    #[test]
    fn patterns_are_checked() {
        assert!(NamePattern::parse("pgbroker").is_err());
        assert!(NamePattern::parse("{instance}").is_err());
        assert!(NamePattern::parse("x-{instance").is_err());
        assert!(NamePattern::parse("x-{colour}-{instance}").is_err());
        assert!(NamePattern::parse_text("{namespace}").is_ok());
    }

    #[test]
    fn tags_carry_the_instance_and_backend() {
        let configured = BTreeMap::from([("team".to_string(), "{namespace}".to_string())]);
        let t = tags(&configured, "rds", &vars("i1", "ns", "n"));
        assert_eq!(t.get("team").map(String::as_str), Some("ns"));
        assert_eq!(t.get(INSTANCE_TAG).map(String::as_str), Some("i1"));
        assert_eq!(t.get(BACKEND_TAG).map(String::as_str), Some("rds"));
    }
}

//! A secret in the configuration (a password, a token): written inline, or better read from an
//! environment variable or a file. Printing the configuration never shows an inline secret.

use std::path::PathBuf;

use pgbroker_domain::Sensitive;
use serde::{Deserialize, Serialize, Serializer};

const MASK: &str = "***";

/// `"inline value"`, `{env: NAME}` or `{file: PATH}` (trailing newlines of the file are dropped).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SecretValue {
    Env { env: String },
    File { file: PathBuf },
    Inline(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{what}: environment variable {name} is not set or not valid UTF-8")]
    Env { what: String, name: String },
    #[error("{what}: reading {}", path.display())]
    File {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} is empty")]
    Empty { what: String },
}

impl SecretValue {
    /// The secret's value; `what` names it in errors (never the value).
    pub fn resolve(&self, what: &str) -> Result<Sensitive<String>, SecretError> {
        let value = match self {
            Self::Inline(value) => value.clone(),
            Self::Env { env } => std::env::var(env).map_err(|_| SecretError::Env {
                what: what.to_string(),
                name: env.clone(),
            })?,
            Self::File { file } => std::fs::read_to_string(file)
                .map_err(|source| SecretError::File {
                    what: what.to_string(),
                    path: file.clone(),
                    source,
                })?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        };
        if value.is_empty() {
            return Err(SecretError::Empty {
                what: what.to_string(),
            });
        }
        Ok(Sensitive::new(value))
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(_) => f.write_str(MASK),
            Self::Env { env } => write!(f, "env:{env}"),
            Self::File { file } => write!(f, "file:{}", file.display()),
        }
    }
}

impl Serialize for SecretValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Env<'a> {
            env: &'a str,
        }
        #[derive(Serialize)]
        struct File<'a> {
            file: &'a PathBuf,
        }
        match self {
            Self::Inline(_) => serializer.serialize_str(MASK),
            Self::Env { env } => Env { env }.serialize(serializer),
            Self::File { file } => File { file }.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_secrets_are_masked_and_references_shown() {
        let inline: SecretValue =
            serde_json::from_str("\"hunter2\"").unwrap_or(SecretValue::Inline(String::new()));
        assert_eq!(
            serde_json::to_string(&inline).unwrap_or_default(),
            "\"***\""
        );
        assert_eq!(format!("{inline:?}"), "***");
        let env: SecretValue =
            serde_json::from_str(r#"{"env": "X"}"#).unwrap_or(SecretValue::Inline(String::new()));
        assert_eq!(
            serde_json::to_string(&env).unwrap_or_default(),
            r#"{"env":"X"}"#
        );
    }

    #[test]
    fn resolves_from_a_file_and_names_what_is_missing() {
        let path = std::env::temp_dir().join(format!("pgbroker-secret-{}", std::process::id()));
        std::fs::write(&path, "from-file\n").unwrap_or_default();
        let value = SecretValue::File { file: path.clone() }.resolve("auth.basic[0].password");
        assert_eq!(
            value.ok().map(|v| v.expose().clone()),
            Some("from-file".to_string())
        );
        let _ = std::fs::remove_file(&path);
        let err = SecretValue::Env {
            env: "PGBROKER_TEST_SURELY_UNSET_VARIABLE".into(),
        }
        .resolve("auth.bearer_tokens[0]")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            err.contains("auth.bearer_tokens[0]")
                && err.contains("PGBROKER_TEST_SURELY_UNSET_VARIABLE"),
            "{err}"
        );
    }
}

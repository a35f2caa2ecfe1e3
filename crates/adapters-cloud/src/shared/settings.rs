//! The backend's settings (`backends.<name>.settings` in the broker configuration).

use std::collections::BTreeSet;
use std::path::PathBuf;

use pgbroker_domain::Sensitive;
use serde::{Deserialize, Serialize};

use super::names::{NamePattern, PatternError};
use super::sql::Ident;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("server {server:?}: admin_url is not a PostgreSQL URL: {why}")]
    BadUrl { server: String, why: String },
    #[error(
        "server {server:?}: admin_url must not carry a password; put it in the environment variable named by password_env or the file named by password_file"
    )]
    PasswordInUrl { server: String },
    #[error("server {server:?}: set password_env or password_file, not both")]
    TwoPasswordSources { server: String },
    #[error("server name {0:?} is used twice")]
    DuplicateServer(String),
    #[error("a server has an empty name")]
    EmptyServerName,
    #[error("server {server:?}: {field} must be at least 1")]
    Zero { server: String, field: &'static str },
    #[error("names.{which}: {source}")]
    Pattern {
        which: &'static str,
        #[source]
        source: PatternError,
    },
    #[error("extensions: {0:?} is not a valid extension name")]
    BadExtension(String),
}

/// Settings of a `shared-postgres` backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedSettings {
    /// The servers that databases are placed on. With none, the backend reports itself not ready.
    #[serde(default)]
    pub servers: Vec<ServerSettings>,
    /// How database and role names are derived from instance and binding ids.
    #[serde(default)]
    pub names: NameSettings,
    /// What deprovisioning does with the data: `drop` it, or `retain` it under a new name.
    #[serde(default)]
    pub deprovision: DeprovisionMode,
    /// Extensions an instance may ask for in its `extensions` parameter; nothing else is created.
    #[serde(default = "default_extensions")]
    pub extensions: Vec<String>,
}

impl Default for SharedSettings {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            names: NameSettings::default(),
            deprovision: DeprovisionMode::default(),
            extensions: default_extensions(),
        }
    }
}

fn default_extensions() -> Vec<String> {
    [
        "pg_trgm",
        "pgcrypto",
        "citext",
        "hstore",
        "uuid-ossp",
        "postgis",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// One PostgreSQL server that the broker administers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Name of the server in messages and logs.
    pub name: String,
    /// Admin connection URL without a password, e.g. `postgres://pgbroker_admin@db.internal:5432/postgres?sslmode=require`.
    /// The role must be a superuser (or CREATEROLE and CREATEDB with membership in `pg_signal_backend`).
    pub admin_url: String,
    /// Environment variable holding the admin password; read when the broker first connects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// File holding the admin password (a trailing newline is ignored); read when the broker first connects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Most instances placed on this server; retained databases do not count.
    #[serde(default = "default_max_databases")]
    pub max_databases: u32,
    /// Plan ids or names that may be placed here; empty means every plan of this backend.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<String>,
    /// Host handed to applications in credentials, when it differs from the admin URL's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_host: Option<String>,
    /// Port handed to applications in credentials, when it differs from the admin URL's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_port: Option<u16>,
    /// `sslmode` handed to applications; default: the admin URL's `sslmode`, else `prefer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_sslmode: Option<SslMode>,
    /// Connections to this server's admin database (each instance database the broker works
    /// in gets one more, closed after 1 s idle).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Seconds to wait for an admin connection before the step is retried later.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_seconds: u64,
}

fn default_max_databases() -> u32 {
    100
}

fn default_max_connections() -> u32 {
    4
}

fn default_connect_timeout() -> u64 {
    5
}

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(raw.to_string())).ok()
    }
}

/// Patterns with `{instance}` and `{binding}` placeholders. Names are always quoted in SQL and
/// shortened with a hash when longer than 63 bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NameSettings {
    /// The instance's database; must contain `{instance}`.
    pub database: NamePattern,
    /// The instance's NOLOGIN owner group role; must contain `{instance}`.
    pub owner_role: NamePattern,
    /// A binding's LOGIN role; must contain `{instance}` and `{binding}` (roles are cluster-wide).
    pub binding_role: NamePattern,
}

impl Default for NameSettings {
    fn default() -> Self {
        let pattern = |raw: &str| {
            NamePattern::parse(raw).unwrap_or_else(|e| unreachable!("default pattern: {e}"))
        };
        Self {
            database: pattern("pgb_{instance}"),
            owner_role: pattern("pgb_{instance}_owner"),
            binding_role: pattern("pgb_{instance}_{binding}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeprovisionMode {
    /// `DROP DATABASE ... WITH (FORCE)` and drop the roles.
    #[default]
    Drop,
    /// Drop the binding roles, rename the databases and owner role to `<name>_del_<operation>`
    /// and keep them, so data deleted by mistake can be recovered by an administrator.
    Retain,
}

/// A server's admin URL, checked: PostgreSQL scheme, no password.
#[derive(Debug, Clone)]
pub(crate) struct AdminUrl {
    pub url: url::Url,
    pub sslmode: Option<SslMode>,
}

impl AdminUrl {
    pub fn parse(server: &str, raw: &str) -> Result<Self, SettingsError> {
        let bad = |why: String| SettingsError::BadUrl {
            server: server.to_string(),
            why,
        };
        let url = url::Url::parse(raw).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(bad(format!("scheme {:?}; use postgres://", url.scheme())));
        }
        if url.password().is_some() {
            return Err(SettingsError::PasswordInUrl {
                server: server.to_string(),
            });
        }
        if url.query_pairs().any(|(k, _)| k == "password") {
            return Err(SettingsError::PasswordInUrl {
                server: server.to_string(),
            });
        }
        let sslmode = match url.query_pairs().find(|(k, _)| k == "sslmode") {
            Some((_, v)) => {
                Some(SslMode::parse(&v).ok_or_else(|| bad(format!("unknown sslmode {v:?}")))?)
            }
            None => None,
        };
        Ok(Self { url, sslmode })
    }
}

/// Splits a URL that carries a password (as people type them) into the URL without it and the
/// password, for callers that then hand the password over through `password_file`.
pub fn split_password(raw: &str) -> Result<(String, Option<Sensitive<String>>), SettingsError> {
    let bad = |why: String| SettingsError::BadUrl {
        server: "(given)".to_string(),
        why,
    };
    let mut url = url::Url::parse(raw).map_err(|e| bad(e.to_string()))?;
    let password = url
        .password()
        .map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8()
                .map(|p| Sensitive::new(p.into_owned()))
                .map_err(|_| bad("the password is not valid UTF-8".to_string()))
        })
        .transpose()?;
    url.set_password(None)
        .map_err(|()| bad("it cannot carry a user and password".to_string()))?;
    Ok((url.to_string(), password))
}

impl SharedSettings {
    /// Checks everything that can be checked without connecting.
    pub(crate) fn check(&self) -> Result<Vec<AdminUrl>, SettingsError> {
        let names = &self.names;
        let pattern = |which, p: &NamePattern, instance, binding| {
            p.require(instance, binding)
                .map_err(|source| SettingsError::Pattern { which, source })
        };
        pattern("database", &names.database, true, false)?;
        pattern("owner_role", &names.owner_role, true, false)?;
        pattern("binding_role", &names.binding_role, true, true)?;
        for ext in &self.extensions {
            Ident::new(ext.as_str()).map_err(|_| SettingsError::BadExtension(ext.clone()))?;
        }
        let mut seen = BTreeSet::new();
        let mut urls = Vec::with_capacity(self.servers.len());
        for server in &self.servers {
            let name = &server.name;
            if name.is_empty() {
                return Err(SettingsError::EmptyServerName);
            }
            if !seen.insert(name.clone()) {
                return Err(SettingsError::DuplicateServer(name.clone()));
            }
            if server.password_env.is_some() && server.password_file.is_some() {
                return Err(SettingsError::TwoPasswordSources {
                    server: name.clone(),
                });
            }
            for (field, value) in [
                ("max_databases", u64::from(server.max_databases)),
                ("max_connections", u64::from(server.max_connections)),
                ("connect_timeout_seconds", server.connect_timeout_seconds),
            ] {
                if value == 0 {
                    return Err(SettingsError::Zero {
                        server: name.clone(),
                        field,
                    });
                }
            }
            urls.push(AdminUrl::parse(name, &server.admin_url)?);
        }
        Ok(urls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: serde_json::Value) -> Result<SharedSettings, String> {
        let s: SharedSettings = serde_json::from_value(json).map_err(|e| e.to_string())?;
        s.check().map_err(|e| e.to_string())?;
        Ok(s)
    }

    #[test]
    fn empty_settings_are_valid_with_defaults() {
        let s = settings(serde_json::json!({})).unwrap_or_else(|e| panic!("{e}"));
        assert!(s.servers.is_empty());
        assert_eq!(s.deprovision, DeprovisionMode::Drop);
        assert!(s.extensions.contains(&"pgcrypto".to_string()));
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_echoing_it() {
        let err = settings(serde_json::json!({"servers": [
            {"name": "a", "admin_url": "postgres://admin:hunter2@db/postgres"}
        ]}))
        .unwrap_err();
        assert!(err.contains("password_env"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = settings(serde_json::json!({"servers": [
            {"name": "a", "admin_url": "postgres://admin@db/postgres?password=hunter2"}
        ]}))
        .unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_typed_password_is_split_off() {
        let (url, pw) = split_password("postgres://u:p%40ss@h:5433/db?sslmode=disable")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url, "postgres://u@h:5433/db?sslmode=disable");
        assert_eq!(pw.map(|p| p.expose().clone()).as_deref(), Some("p@ss"));
        let (url, pw) = split_password("postgres://u@h/db").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((url.as_str(), pw), ("postgres://u@h/db", None));
    }

    #[test]
    fn mistakes_are_named() {
        for (json, needle) in [
            (
                serde_json::json!({"servers": [{"name": "a", "admin_url": "mysql://db"}]}),
                "scheme",
            ),
            (
                serde_json::json!({"servers": [{"name": "a", "admin_url": "postgres://db", "password_env": "X", "password_file": "/f"}]}),
                "not both",
            ),
            (
                serde_json::json!({"servers": [{"name": "a", "admin_url": "postgres://db"}, {"name": "a", "admin_url": "postgres://db"}]}),
                "twice",
            ),
            (
                serde_json::json!({"servers": [{"name": "a", "admin_url": "postgres://db", "max_databases": 0}]}),
                "max_databases",
            ),
            (
                serde_json::json!({"names": {"database": "fixed"}}),
                "names.database",
            ),
            (
                serde_json::json!({"names": {"binding_role": "r_{binding}"}}),
                "{instance}",
            ),
            (serde_json::json!({"deprovision": "shred"}), "shred"),
            (serde_json::json!({"servers": [], "colour": 1}), "colour"),
            (
                serde_json::json!({"servers": [{"name": "a", "admin_url": "postgres://db?sslmode=maybe"}]}),
                "sslmode",
            ),
        ] {
            let err = settings(json).unwrap_err();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}

//! The broker's configuration: defaults, then an optional YAML or TOML file, then `PGBROKER_*`
//! environment variables (`__` separates nesting levels, e.g. `PGBROKER_STATE_STORE__URL`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml, Yaml};
use pgbroker_adapters_sql::PoolSettings;
use serde::{Deserialize, Serialize};

use crate::doors::{OperatorConfig, OsbConfig};
use crate::secret_value::SecretValue;
use crate::store_url::StoreUrl;
use crate::telemetry::TelemetryConfig;

/// Prefix of the environment variables that override the configuration.
pub const ENV_PREFIX: &str = "PGBROKER_";
/// Separator of nesting levels in environment variable names.
pub const ENV_NESTING: &str = "__";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0}: unknown format; use a .yaml, .yml or .toml file")]
    UnknownFormat(PathBuf),
    #[error("configuration file {0} does not exist or is not a file")]
    Missing(PathBuf),
    /// figment's error names the key and the provider (file or environment variable) it came from.
    #[error("reading the configuration")]
    Invalid(#[source] Box<figment::Error>),
}

/// Everything the broker reads at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where instances, bindings and operations are kept.
    pub state_store: StateStoreConfig,
    /// The service catalog the broker offers.
    pub catalog: CatalogConfig,
    /// The backends, by name; every catalog plan names one of them in its `backend` field.
    /// Setting this map replaces the default map whole.
    pub backends: BTreeMap<String, BackendConfig>,
    /// Log output.
    pub log: LogConfig,
    /// Traces (OpenTelemetry over OTLP).
    pub telemetry: TelemetryConfig,
    /// The HTTP server of `pgbroker serve`.
    pub server: ServerConfig,
    /// Who may call the OSB API.
    pub auth: AuthConfig,
    /// The operation engine that runs in the server process.
    pub engine: EngineSettings,
    /// The Open Service Broker API front door.
    pub osb: OsbConfig,
    /// The Kubernetes operator front door.
    pub operator: OperatorConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port the HTTP server listens on.
    pub listen: String,
    /// Largest request body in bytes; larger requests get 413.
    pub body_limit_bytes: usize,
    /// Seconds in-flight requests and engine steps get to finish after SIGTERM or Ctrl-C.
    pub shutdown_grace_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "0.0.0.0:8080".to_string(),
            body_limit_bytes: 256 * 1024,
            shutdown_grace_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HTTP basic identities; any of them is accepted.
    pub basic: Vec<BasicAuthConfig>,
    /// Bearer tokens accepted in `Authorization: Bearer ...`.
    pub bearer_tokens: Vec<SecretValue>,
    /// Development only: accept every request without credentials. The broker refuses to start
    /// without credentials unless this is set, and warns loudly when it is.
    pub dev_mode: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    pub username: String,
    /// `{env: NAME}`, `{file: PATH}` or (not recommended) the password inline; printed masked.
    pub password: SecretValue,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSettings {
    /// Operations stepped at once by this replica.
    pub concurrency: usize,
    /// Milliseconds between looks for due operations when nothing wakes the engine sooner.
    pub poll_interval_ms: u64,
    /// Seconds a request without `accepts_incomplete` waits for its operation.
    pub sync_timeout_seconds: u64,
    /// Seconds a replica's claim on an operation lasts without renewal (renewed every third of
    /// it while a step runs): how long the operations of a crashed replica wait to be resumed.
    pub lease_seconds: u64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            poll_interval_ms: 500,
            sync_timeout_seconds: 55,
            lease_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateStoreConfig {
    /// Connection URL: `sqlite://FILE?mode=rwc` (one broker replica) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DB` (shared by replicas). Shown with the password masked.
    pub url: StoreUrl,
    /// Most connections this replica opens to the store. On PostgreSQL each is a server process:
    /// keep replicas × this under the server's `max_connections`. An in-memory SQLite store
    /// always uses one.
    pub max_connections: u32,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// Milliseconds a request waits for a free connection before it fails as unavailable.
    pub acquire_timeout_ms: u64,
    /// 32 bytes of base64 (`openssl rand -base64 32`) that seal the secrets backends keep in
    /// the store (an Azure server's admin password); best `{env: NAME}` or `{file: PATH}`.
    /// Needed by the `azure-flexible` backend; keep it: without it those secrets cannot be read.
    pub vault_key: Option<SecretValue>,
}

impl Default for StateStoreConfig {
    fn default() -> Self {
        let pool = PoolSettings::default();
        Self {
            url: StoreUrl::new("sqlite://pgbroker.db?mode=rwc"),
            max_connections: pool.max_connections,
            min_connections: pool.min_connections,
            acquire_timeout_ms: u64::try_from(pool.acquire_timeout.as_millis()).unwrap_or(u64::MAX),
            vault_key: None,
        }
    }
}

impl StateStoreConfig {
    /// The store adapter's pool settings.
    pub fn pool(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.max_connections,
            min_connections: self.min_connections,
            acquire_timeout: Duration::from_millis(self.acquire_timeout_ms),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// YAML catalog file; when unset, the catalog embedded in the binary is used.
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// What kind of backend this is (`cloudnative-pg`, `shared-postgres`, ...).
    pub kind: String,
    /// The backend's own settings, checked by the backend's adapter when the broker starts.
    /// Passwords never go here inline: adapters read them from an environment variable or a file.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A `tracing` filter directive such as `info` or `pgbroker=debug,sqlx=warn`;
    /// the `RUST_LOG` environment variable, when set, takes its place.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            state_store: StateStoreConfig::default(),
            catalog: CatalogConfig::default(),
            backends: BTreeMap::from([
                ("cnpg".to_string(), BackendConfig::kind("cloudnative-pg")),
                ("shared".to_string(), BackendConfig::kind("shared-postgres")),
            ]),
            log: LogConfig::default(),
            telemetry: TelemetryConfig::default(),
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            engine: EngineSettings::default(),
            osb: OsbConfig::default(),
            operator: OperatorConfig::default(),
        }
    }
}

impl BackendConfig {
    fn kind(kind: &str) -> Self {
        Self {
            kind: kind.to_string(),
            settings: serde_json::Map::new(),
        }
    }
}

impl Config {
    /// Reads the configuration: defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            figment = merge_file(figment, path)?;
        }
        Self::extract(figment.merge(Env::prefixed(ENV_PREFIX).split(ENV_NESTING)))
    }

    fn extract(figment: Figment) -> Result<Self, ConfigError> {
        figment
            .extract()
            .map_err(|err| ConfigError::Invalid(Box::new(err)))
    }

    /// Names of the configured backends, which catalog plans are checked against.
    pub fn backend_names(&self) -> BTreeSet<String> {
        self.backends.keys().cloned().collect()
    }
}

/// Adds a configuration file, its format chosen by its extension.
fn merge_file(figment: Figment, path: &Path) -> Result<Figment, ConfigError> {
    // figment skips a missing file silently; a file named on the command line must exist.
    if !path.is_file() {
        return Err(ConfigError::Missing(path.to_path_buf()));
    }
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("yaml" | "yml") => Ok(figment.merge(Yaml::file_exact(path))),
        Some("toml") => Ok(figment.merge(Toml::file_exact(path))),
        _ => Err(ConfigError::UnknownFormat(path.to_path_buf())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::chain;

    fn from_yaml(yaml: &str) -> Result<Config, ConfigError> {
        Config::extract(Figment::from(Yaml::string(yaml)))
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let config = from_yaml("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config, Config::default());
        assert_eq!(
            config.state_store.url.expose(),
            "sqlite://pgbroker.db?mode=rwc"
        );
        assert_eq!(
            config.backend_names(),
            BTreeSet::from(["cnpg".to_string(), "shared".to_string()])
        );
        assert_eq!(config.log.format, LogFormat::Text);
        assert_eq!(config.log.filter, "info");
        assert_eq!(config.catalog.path, None);
        assert_eq!(config.telemetry.otlp.endpoint, None);
    }

    #[test]
    fn the_otlp_endpoint_and_protocol_are_read() {
        let config = from_yaml(
            "telemetry: {otlp: {endpoint: 'http://collector:4318', protocol: http/protobuf}, service_name: broker-a}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.telemetry.otlp.endpoint.as_deref(),
            Some("http://collector:4318")
        );
        assert_eq!(
            config.telemetry.otlp.protocol,
            Some(crate::telemetry::OtlpProtocol::HttpProtobuf)
        );
        assert_eq!(config.telemetry.service_name.as_deref(), Some("broker-a"));
        let err = chain(
            &from_yaml("telemetry: {otlp: {protocol: http/json}}")
                .map(|_| ())
                .unwrap_err(),
        );
        assert!(err.contains("http/json"), "{err}");
    }

    #[test]
    fn a_file_overrides_single_keys_and_replaces_the_backend_map() {
        let config = from_yaml(
            "state_store: {url: 'postgres://u:pw@db/broker'}\n\
             backends: {rds: {kind: aws-rds}}\n\
             log: {format: json}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.state_store.url.expose(), "postgres://u:pw@db/broker");
        assert_eq!(config.backend_names(), BTreeSet::from(["rds".to_string()]));
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(config.log.filter, "info");
    }

    #[test]
    fn the_state_store_pool_is_sized_by_its_section() {
        let config = from_yaml(
            "state_store: {max_connections: 48, min_connections: 4, acquire_timeout_ms: 2500}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.state_store.pool(),
            PoolSettings {
                max_connections: 48,
                min_connections: 4,
                acquire_timeout: Duration::from_millis(2500),
            }
        );
        let defaults = from_yaml("").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(defaults.state_store.pool(), PoolSettings::default());
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = chain(&from_yaml("state_store: {uri: x}").map(|_| ()).unwrap_err());
        assert!(err.contains("unknown field: found `uri`"), "{err}");
        let err = chain(&from_yaml("log: {format: xml}").map(|_| ()).unwrap_err());
        assert!(err.contains("xml"), "{err}");
    }

    #[test]
    fn a_missing_or_unknown_file_is_an_error() {
        let err = Config::load(Some(Path::new("/nonexistent/pgbroker.yaml"))).unwrap_err();
        assert!(matches!(err, ConfigError::Missing(_)), "{err}");
        // Tests run in the crate's directory.
        let err = Config::load(Some(Path::new("src/main.rs"))).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownFormat(_)), "{err}");
    }

    #[test]
    fn auth_secrets_come_from_env_or_file_and_are_masked() {
        let config = from_yaml(
            "auth:\n  basic: [{username: cf, password: {env: CF_PASSWORD}}, {username: k, password: inline-pw}]\n  bearer_tokens: [{file: /run/secrets/token}]\nserver: {listen: '127.0.0.1:9000'}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.auth.basic.len(), 2);
        assert_eq!(config.server.listen, "127.0.0.1:9000");
        assert!(!config.auth.dev_mode);
        let shown = serde_json::to_string(&config).unwrap_or_default();
        assert!(!shown.contains("inline-pw"), "{shown}");
        assert!(shown.contains(r#"{"env":"CF_PASSWORD"}"#), "{shown}");
        assert!(shown.contains("/run/secrets/token"), "{shown}");
        assert!(!format!("{config:?}").contains("inline-pw"));
    }

    #[test]
    fn printing_masks_the_password() {
        let config = from_yaml("state_store: {url: 'postgres://u:hunter2@db/broker'}")
            .unwrap_or_else(|e| panic!("{e}"));
        let shown = serde_json::to_string(&config).unwrap_or_default();
        assert!(shown.contains("postgres://u:***@db/broker"), "{shown}");
        assert!(!shown.contains("hunter2"));
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}

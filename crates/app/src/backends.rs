//! Builds the configured backends. Each `kind` maps to one adapter, which reads its own `settings`.
//! Building never connects: a backend that cannot be reached shows in its readiness check, so the
//! broker still starts and serves the plans of the backends that work. What building can tell
//! without connecting is whether a backend has anything to connect with at all (a Kubernetes
//! configuration, say): such a backend is listed in [`Backends::unconfigurable`].

use std::collections::BTreeMap;
use std::sync::Arc;

use pgbroker_domain::ports::{Backend, BackendRegistry};

use crate::config::BackendConfig;
use crate::vault::LateVault;

/// The backend kinds this build knows.
pub const KINDS: &[&str] = &[
    "aws-aurora",
    "aws-rds",
    "azure-flexible",
    "cloudnative-pg",
    "shared-postgres",
];

#[derive(Debug, thiserror::Error)]
pub enum BackendsError {
    #[error("backend {name:?}: unknown kind {kind:?} (this build knows: {known})")]
    UnknownKind {
        name: String,
        kind: String,
        known: String,
    },
    #[error("backend {name:?} ({kind}): invalid settings")]
    Settings {
        name: String,
        kind: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The built backends, and which of them cannot be configured in this environment.
pub struct Backends {
    pub registry: BackendRegistry,
    /// Backend name → why it has nothing to connect with (no secrets); its plans cannot be
    /// provisioned until that changes.
    pub unconfigurable: BTreeMap<String, String>,
    /// Where the backends that keep secrets of their own keep them; the server fills it once
    /// the state store is open.
    pub vault: Arc<LateVault>,
}

/// One adapter per configured backend, by name. `vault_key_set`: whether the configuration
/// has a key to seal the vault with (a backend that needs the vault is unconfigurable without).
pub fn build(
    configs: &BTreeMap<String, BackendConfig>,
    vault_key_set: bool,
) -> Result<Backends, BackendsError> {
    let mut registry = BackendRegistry::new();
    let mut unconfigurable = BTreeMap::new();
    let vault = LateVault::new();
    for (name, config) in configs {
        let (backend, missing) = build_one(name, config, &vault, vault_key_set)?;
        registry = registry.with(name.clone(), backend);
        if let Some(why) = missing {
            unconfigurable.insert(name.clone(), why);
        }
    }
    Ok(Backends {
        registry,
        unconfigurable,
        vault,
    })
}

/// The adapter, and why it cannot be configured here if that is known without connecting.
fn build_one(
    name: &str,
    config: &BackendConfig,
    vault: &Arc<LateVault>,
    vault_key_set: bool,
) -> Result<(Arc<dyn Backend>, Option<String>), BackendsError> {
    let invalid = |e: Box<dyn std::error::Error + Send + Sync>| BackendsError::Settings {
        name: name.to_string(),
        kind: config.kind.clone(),
        source: e,
    };
    // Adapters add their arm here: `"kind" => (Arc::new(Adapter::new(name, settings(name, config)?)...), None)`.
    match config.kind.as_str() {
        "cloudnative-pg" => {
            let settings: pgbroker_adapters_k8s::CnpgSettings = settings(name, config)?;
            let missing = pgbroker_adapters_k8s::config_source::locate(&settings.connection)
                .err()
                .map(|e| e.to_string());
            let backend = pgbroker_adapters_k8s::CnpgBackend::new(name, settings)
                .map_err(|e| invalid(Box::new(e)))?
                .traced(Arc::new(crate::telemetry::OtelTraceContext));
            Ok((Arc::new(backend), missing))
        }
        "shared-postgres" => {
            let settings: pgbroker_adapters_cloud::SharedSettings = settings(name, config)?;
            let missing = settings
                .servers
                .is_empty()
                .then(|| format!("no servers configured (set backends.{name}.settings.servers)"));
            let backend = pgbroker_adapters_cloud::SharedServerBackend::new(name, settings)
                .map_err(|e| invalid(Box::new(e)))?;
            Ok((Arc::new(backend), missing))
        }
        "aws-rds" | "aws-aurora" => {
            use pgbroker_adapters_cloud::aws::{AwsBackend, AwsSettings, Flavor};
            let settings: AwsSettings = settings(name, config)?;
            let flavor = if config.kind == "aws-rds" {
                Flavor::Rds
            } else {
                Flavor::Aurora
            };
            // Credentials come from the SDK's default chain, which only a call can try.
            let backend =
                AwsBackend::new(name, flavor, settings).map_err(|e| invalid(Box::new(e)))?;
            Ok((Arc::new(backend), None))
        }
        "azure-flexible" => {
            use pgbroker_adapters_cloud::azure::{AzureBackend, AzureSettings};
            let settings: AzureSettings = settings(name, config)?;
            let backend = AzureBackend::new(name, settings)
                .map_err(|e| invalid(Box::new(e)))?
                .with_vault(vault.clone());
            // The admin passwords of servers made through OSB are sealed in the state store.
            let missing = (!vault_key_set).then(|| {
                "state_store.vault_key is not set: the backend keeps each server's admin password in the state store, sealed with that key".to_string()
            });
            Ok((Arc::new(backend), missing))
        }
        _ => Err(BackendsError::UnknownKind {
            name: name.to_string(),
            kind: config.kind.clone(),
            known: if KINDS.is_empty() {
                "none yet".to_string()
            } else {
                KINDS.join(", ")
            },
        }),
    }
}

/// Reads `config.settings` into an adapter's settings type, naming the backend on error.
pub fn settings<T: serde::de::DeserializeOwned>(
    name: &str,
    config: &BackendConfig,
) -> Result<T, BackendsError> {
    serde_json::from_value(serde_json::Value::Object(config.settings.clone())).map_err(|e| {
        BackendsError::Settings {
            name: name.to_string(),
            kind: config.kind.clone(),
            source: Box::new(e),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_kind_is_named() {
        let configs = BTreeMap::from([(
            "x".to_string(),
            BackendConfig {
                kind: "mainframe".to_string(),
                settings: serde_json::Map::new(),
            },
        )]);
        let err = build(&configs, true)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("backend \"x\": unknown kind \"mainframe\""),
            "{err}"
        );
    }

    #[test]
    fn cloudnative_pg_builds_without_a_cluster_and_names_bad_settings() {
        let config = |settings: serde_json::Value| BackendConfig {
            kind: "cloudnative-pg".to_string(),
            settings: settings.as_object().cloned().unwrap_or_default(),
        };
        let ok = BTreeMap::from([("cnpg".to_string(), config(serde_json::json!({})))]);
        assert!(build(&ok, true).is_ok_and(|b| b.registry.get("cnpg").is_some()));
        let typo = BTreeMap::from([(
            "cnpg".to_string(),
            config(serde_json::json!({"namespce": "x"})),
        )]);
        let err = build(&typo, true)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(err, "backend \"cnpg\" (cloudnative-pg): invalid settings");
        let bad = BTreeMap::from([(
            "cnpg".to_string(),
            config(serde_json::json!({"name_prefix": "1x"})),
        )]);
        assert!(build(&bad, true).is_err());
    }

    #[test]
    fn shared_postgres_builds_without_connecting_and_refuses_a_password_in_the_url() {
        let config = |settings: serde_json::Value| BackendConfig {
            kind: "shared-postgres".to_string(),
            settings: settings.as_object().cloned().unwrap_or_default(),
        };
        // Nothing listens on port 1: building must not try.
        let ok = BTreeMap::from([(
            "shared".to_string(),
            config(serde_json::json!({"servers": [
                {"name": "a", "admin_url": "postgres://admin@127.0.0.1:1/postgres", "password_env": "X"}
            ]})),
        )]);
        assert!(build(&ok, true).is_ok_and(|b| b.registry.get("shared").is_some()));
        let leaky = BTreeMap::from([(
            "shared".to_string(),
            config(serde_json::json!({"servers": [
                {"name": "a", "admin_url": "postgres://admin:hunter2@db/postgres"}
            ]})),
        )]);
        let err = build(&leaky, true).err().map(|e| {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        });
        let err = err.unwrap_or_default();
        assert!(err.contains("password_env"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn aws_backends_build_without_calling_aws_and_name_bad_settings() {
        let config = |kind: &str, settings: serde_json::Value| BackendConfig {
            kind: kind.to_string(),
            settings: settings.as_object().cloned().unwrap_or_default(),
        };
        for kind in ["aws-rds", "aws-aurora"] {
            // Nothing listens on port 1: building must not try.
            let ok = BTreeMap::from([(
                "aws".to_string(),
                config(
                    kind,
                    serde_json::json!({"region": "eu-central-1", "endpoint_url": "http://127.0.0.1:1"}),
                ),
            )]);
            assert!(
                build(&ok, true)
                    .is_ok_and(|b| b.registry.get("aws").is_some() && b.unconfigurable.is_empty())
            );
            let bad = BTreeMap::from([(
                "aws".to_string(),
                config(kind, serde_json::json!({"default_class": "huge"})),
            )]);
            let err = build(&bad, true)
                .err()
                .and_then(|e| std::error::Error::source(&e).map(|s| s.to_string()));
            assert!(
                err.as_deref().is_some_and(|e| e.contains("huge")),
                "{err:?}"
            );
        }
    }

    #[test]
    fn backends_with_nothing_to_connect_with_are_named_with_the_reason() {
        let cnpg = |path: &str| BackendConfig {
            kind: "cloudnative-pg".to_string(),
            settings: serde_json::json!({"connection": {"mode": "kubeconfig", "path": path}})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        let configs = BTreeMap::from([
            ("gone".to_string(), cnpg("/nonexistent/kubeconfig")),
            // Only its presence is looked at when building.
            ("here".to_string(), cnpg("Cargo.toml")),
            (
                "empty".to_string(),
                BackendConfig {
                    kind: "shared-postgres".to_string(),
                    settings: serde_json::Map::new(),
                },
            ),
        ]);
        let built = build(&configs, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(built.registry.names().len(), 3);
        assert_eq!(
            built.unconfigurable,
            BTreeMap::from([
                (
                    "empty".to_string(),
                    "no servers configured (set backends.empty.settings.servers)".to_string()
                ),
                (
                    "gone".to_string(),
                    "no Kubernetes configuration found (kubeconfig /nonexistent/kubeconfig: no such file)"
                        .to_string()
                ),
            ])
        );
    }

    #[test]
    fn the_default_configuration_builds_every_backend() {
        let config = crate::config::Config::default();
        let registry = build(&config.backends, true).map_err(|e| e.to_string());
        assert!(registry.is_ok_and(|b| b.registry.names() == config.backend_names()));
    }
}

//! Builds the configured backends. Each `kind` maps to one adapter, which reads its own `settings`.
//! Building never connects: a backend that cannot be reached shows in its readiness check, so the
//! broker still starts and serves the plans of the backends that work.

use std::collections::BTreeMap;
use std::sync::Arc;

use pgbroker_domain::ports::{Backend, BackendRegistry};

use crate::config::BackendConfig;

/// The backend kinds this build knows.
pub const KINDS: &[&str] = &["cloudnative-pg"];

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

/// One adapter per configured backend, by name.
pub fn build(configs: &BTreeMap<String, BackendConfig>) -> Result<BackendRegistry, BackendsError> {
    let mut registry = BackendRegistry::new();
    for (name, config) in configs {
        registry = registry.with(name.clone(), build_one(name, config)?);
    }
    Ok(registry)
}

fn build_one(name: &str, config: &BackendConfig) -> Result<Arc<dyn Backend>, BackendsError> {
    // Adapters add their arm here: `"kind" => Arc::new(Adapter::new(name, settings(name, config)?)...)`.
    match config.kind.as_str() {
        "cloudnative-pg" => {
            let backend = pgbroker_adapters_k8s::CnpgBackend::new(name, settings(name, config)?)
                .map_err(|e| BackendsError::Settings {
                    name: name.to_string(),
                    kind: config.kind.clone(),
                    source: Box::new(e),
                })?;
            Ok(Arc::new(backend))
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
        let err = build(&configs)
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
        assert!(build(&ok).is_ok_and(|r| r.get("cnpg").is_some()));
        let typo = BTreeMap::from([(
            "cnpg".to_string(),
            config(serde_json::json!({"namespce": "x"})),
        )]);
        let err = build(&typo)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(err, "backend \"cnpg\" (cloudnative-pg): invalid settings");
        let bad = BTreeMap::from([(
            "cnpg".to_string(),
            config(serde_json::json!({"name_prefix": "1x"})),
        )]);
        assert!(build(&bad).is_err());
    }
}

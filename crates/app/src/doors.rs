//! Which front doors `pgbroker serve` runs, and the Kubernetes operator's settings. Both doors
//! share one state store and one operation engine.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OsbConfig {
    /// Serve the Open Service Broker API (under `/v2`). Health and metrics are served either way.
    pub enabled: bool,
}

impl Default for OsbConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperatorConfig {
    /// Run the Kubernetes operator (PostgreSQLServer and PostgreSQLDatabase objects).
    pub enabled: bool,
    /// Namespaces whose objects the operator serves; empty: all namespaces.
    pub namespaces: Vec<String>,
    /// Backends a PostgreSQLServer may name in `spec.backend`; empty: every configured backend.
    pub allowed_backends: Vec<String>,
    /// Backend of a PostgreSQLServer that names none. Without it, `spec.backend` is required.
    pub default_backend: Option<String>,
    /// Namespace of the leader-election Lease; unset: the Pod's own namespace (from
    /// `POD_NAMESPACE`, else the service account's namespace file), else `default`.
    pub lease_namespace: Option<String>,
    /// Name of the leader-election Lease.
    pub lease_name: String,
    /// Seconds a leader's lock lasts without renewal: how long a standby waits at most when the
    /// leader dies without stepping down.
    pub lease_seconds: u64,
    /// Seconds before expiry the leader renews its lock (also the clock skew tolerated).
    pub renew_margin_seconds: u64,
    /// Seconds between full re-reads of every object (drift repair), when nothing else happens.
    pub resync_seconds: u64,
    /// Kubeconfig file; unset: in-cluster configuration, then `KUBECONFIG`/`~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            namespaces: Vec::new(),
            allowed_backends: Vec::new(),
            default_backend: None,
            lease_namespace: None,
            lease_name: "pgbroker-operator".to_string(),
            lease_seconds: 15,
            renew_margin_seconds: 5,
            resync_seconds: 3600,
            kubeconfig: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DoorsError {
    #[error("neither osb.enabled nor operator.enabled is set: pgbroker serve would serve nothing")]
    Nothing,
    #[error("operator.{key} names backend {name:?}, which is not configured (backends: {known})")]
    UnknownBackend {
        key: &'static str,
        name: String,
        known: String,
    },
    #[error("operator.default_backend {0:?} is not in operator.allowed_backends")]
    DefaultNotAllowed(String),
    #[error(
        "operator.lease_seconds ({lease}) must be greater than operator.renew_margin_seconds ({margin}), and both above 0"
    )]
    LeaseTimes { lease: u64, margin: u64 },
}

impl OperatorConfig {
    /// The backends a PostgreSQLServer may use: the allowed list, or every configured backend.
    pub fn allowed(&self, configured: &BTreeSet<String>) -> BTreeSet<String> {
        if self.allowed_backends.is_empty() {
            configured.clone()
        } else {
            self.allowed_backends.iter().cloned().collect()
        }
    }

    /// Checks the operator's settings against the configured backends.
    pub fn check(&self, configured: &BTreeSet<String>) -> Result<(), DoorsError> {
        let known = || configured.iter().cloned().collect::<Vec<_>>().join(", ");
        for name in &self.allowed_backends {
            if !configured.contains(name) {
                return Err(DoorsError::UnknownBackend {
                    key: "allowed_backends",
                    name: name.clone(),
                    known: known(),
                });
            }
        }
        if let Some(name) = &self.default_backend {
            if !configured.contains(name) {
                return Err(DoorsError::UnknownBackend {
                    key: "default_backend",
                    name: name.clone(),
                    known: known(),
                });
            }
            if !self.allowed(configured).contains(name) {
                return Err(DoorsError::DefaultNotAllowed(name.clone()));
            }
        }
        if self.renew_margin_seconds == 0 || self.lease_seconds <= self.renew_margin_seconds {
            return Err(DoorsError::LeaseTimes {
                lease: self.lease_seconds,
                margin: self.renew_margin_seconds,
            });
        }
        Ok(())
    }

    /// The Lease's namespace: configured, else the Pod's, else `default`.
    pub fn lease_namespace(&self) -> String {
        const SERVICE_ACCOUNT_NAMESPACE: &str =
            "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
        self.lease_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .or_else(|| {
                std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
                    .ok()
                    .map(|s| s.trim().to_string())
            })
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "default".to_string())
    }
}

/// Checks that at least one door is open and the operator's settings hold together.
pub fn check(
    osb: &OsbConfig,
    operator: &OperatorConfig,
    configured: &BTreeSet<String>,
) -> Result<(), DoorsError> {
    if !osb.enabled && !operator.enabled {
        return Err(DoorsError::Nothing);
    }
    if operator.enabled {
        operator.check(configured)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backends() -> BTreeSet<String> {
        ["cnpg".to_string(), "shared".to_string()].into()
    }

    #[test]
    fn defaults_serve_only_the_osb_api() {
        let (osb, operator) = (OsbConfig::default(), OperatorConfig::default());
        assert!(osb.enabled);
        assert!(!operator.enabled);
        assert_eq!(check(&osb, &operator, &backends()), Ok(()));
    }

    #[test]
    fn no_door_is_an_error() {
        let osb = OsbConfig { enabled: false };
        assert_eq!(
            check(&osb, &OperatorConfig::default(), &backends()),
            Err(DoorsError::Nothing)
        );
    }

    #[test]
    fn the_operators_backends_must_be_configured_and_the_default_allowed() {
        let osb = OsbConfig::default();
        let operator = |allowed: &[&str], default: Option<&str>| OperatorConfig {
            enabled: true,
            allowed_backends: allowed.iter().map(|s| s.to_string()).collect(),
            default_backend: default.map(str::to_string),
            ..OperatorConfig::default()
        };
        assert_eq!(
            check(&osb, &operator(&["shared"], Some("shared")), &backends()),
            Ok(())
        );
        assert_eq!(
            check(&osb, &operator(&[], Some("cnpg")), &backends()),
            Ok(())
        );
        let err = check(&osb, &operator(&["aws-rds"], None), &backends()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "operator.allowed_backends names backend \"aws-rds\", which is not configured (backends: cnpg, shared)"
        );
        assert_eq!(
            check(&osb, &operator(&["shared"], Some("cnpg")), &backends()),
            Err(DoorsError::DefaultNotAllowed("cnpg".into()))
        );
        assert!(matches!(
            check(&osb, &operator(&[], Some("nope")), &backends()),
            Err(DoorsError::UnknownBackend {
                key: "default_backend",
                ..
            })
        ));
        assert_eq!(
            operator(&[], None).allowed(&backends()),
            backends(),
            "no list: every configured backend"
        );
    }

    #[test]
    fn lease_times_that_cannot_work_are_refused() {
        let operator = OperatorConfig {
            enabled: true,
            lease_seconds: 5,
            renew_margin_seconds: 5,
            ..OperatorConfig::default()
        };
        assert!(matches!(
            check(&OsbConfig::default(), &operator, &backends()),
            Err(DoorsError::LeaseTimes { .. })
        ));
    }

    #[test]
    fn a_configured_lease_namespace_comes_first() {
        let configured = OperatorConfig {
            lease_namespace: Some("pgbroker".into()),
            ..OperatorConfig::default()
        };
        assert_eq!(configured.lease_namespace(), "pgbroker");
    }
}

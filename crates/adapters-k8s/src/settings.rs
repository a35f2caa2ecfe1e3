//! Backend-wide settings, read from the `settings` of a backend of kind `cloudnative-pg`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How the backend runs CloudNativePG clusters. Per-plan sizes live in the plans (`PlanSettings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnpgSettings {
    /// Which Kubernetes API to talk to.
    #[serde(default)]
    pub connection: Connection,
    /// Where instances live: a namespace each (the Go broker's behaviour) or one shared namespace.
    #[serde(default)]
    pub namespace: NamespaceMode,
    /// First part of every Cluster (and per-instance namespace) name: `<prefix>-<instance id>`.
    /// Must start with a letter, so that names are DNS-1035 labels even when instance ids start
    /// with a digit.
    #[serde(default = "default_prefix")]
    pub name_prefix: String,
    /// StorageClass of the PostgreSQL volumes; the cluster's default class when unset.
    #[serde(default)]
    pub storage_class: Option<String>,
    /// Where the PostgreSQL image for a major version comes from.
    #[serde(default)]
    pub images: Images,
    /// Major version used when neither the plan nor the request names one.
    #[serde(default = "default_major")]
    pub default_postgres_version: u32,
    /// `postgresql.conf` settings users may set through the `parameters` request parameter;
    /// anything else is refused with a message naming it.
    #[serde(default)]
    pub allowed_parameters: Vec<String>,
    /// Create a Prometheus `PodMonitor` for every cluster (needs the Prometheus operator's CRDs).
    #[serde(default)]
    pub monitoring: bool,
    /// Annotations for the LoadBalancer services of plans that ask for external access
    /// (e.g. to pick an internal load balancer or an address pool).
    #[serde(default)]
    pub load_balancer_annotations: BTreeMap<String, String>,
    /// Continuous backup to an object store through the Barman Cloud plugin; off when unset.
    #[serde(default)]
    pub backup: Option<BackupSettings>,
    /// Keep the Cluster (and its data) on deprovision instead of deleting it. Clusters that never
    /// finished their bootstrap hold no data and are deleted anyway.
    #[serde(default)]
    pub retain_on_deprovision: bool,
    /// `sslmode` handed out in credentials and URIs.
    #[serde(default = "default_sslmode")]
    pub sslmode: String,
    /// Seconds between looks at a cluster that is still starting or changing.
    #[serde(default = "default_poll")]
    pub poll_interval_seconds: u64,
}

impl Default for CnpgSettings {
    fn default() -> Self {
        Self {
            connection: Connection::default(),
            namespace: NamespaceMode::default(),
            name_prefix: default_prefix(),
            storage_class: None,
            images: Images::default(),
            default_postgres_version: default_major(),
            allowed_parameters: Vec::new(),
            monitoring: false,
            load_balancer_annotations: BTreeMap::new(),
            backup: None,
            retain_on_deprovision: false,
            sslmode: default_sslmode(),
            poll_interval_seconds: default_poll(),
        }
    }
}

/// How the Kubernetes client is configured. Nothing is contacted when the backend is built:
/// the client is made on first use and problems show in the backend's readiness check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Connection {
    /// `KUBECONFIG` or `~/.kube/config` when present, else the in-cluster service account.
    #[default]
    Infer,
    /// The pod's service account (`KUBERNETES_SERVICE_HOST`, mounted token and CA).
    InCluster,
    /// A kubeconfig file, optionally with a context other than its current one.
    Kubeconfig {
        path: PathBuf,
        #[serde(default)]
        context: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
#[derive(Default)]
pub enum NamespaceMode {
    /// A namespace per instance, named like its Cluster; deleting it removes everything.
    #[default]
    PerInstance,
    /// Every instance in this one namespace, which must exist.
    Shared { name: String },
    /// Each instance in the namespace its request came from: the platform context's
    /// `namespace` (the Kubernetes profile of OSB contexts; the operator's PostgreSQLServer's own
    /// namespace), which must exist. A request without one fails, saying so.
    Request,
}

impl NamespaceMode {
    /// The one namespace every instance is in, if there is one.
    pub fn fixed(&self) -> Option<&str> {
        match self {
            Self::Shared { name } => Some(name.as_str()),
            Self::PerInstance | Self::Request => None,
        }
    }
}

/// The image of each PostgreSQL major version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Images {
    /// A CNPG `ClusterImageCatalog` (or namespaced `ImageCatalog` in shared-namespace mode) that
    /// maps majors to images; the cluster refers to it by name and major.
    Catalog {
        name: String,
        #[serde(default)]
        kind: CatalogKind,
    },
    /// Image names by major version, e.g. `18: ghcr.io/cloudnative-pg/postgresql:18.6-system-trixie`.
    Names { by_major: BTreeMap<u32, String> },
}

impl Default for Images {
    fn default() -> Self {
        Self::Names {
            by_major: [
                (15, "ghcr.io/cloudnative-pg/postgresql:15.15-system-trixie"),
                (16, "ghcr.io/cloudnative-pg/postgresql:16.11-system-trixie"),
                (17, "ghcr.io/cloudnative-pg/postgresql:17.7-system-trixie"),
                (18, "ghcr.io/cloudnative-pg/postgresql:18.6-system-trixie"),
            ]
            .into_iter()
            .map(|(major, image)| (major, image.to_string()))
            .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CatalogKind {
    #[default]
    ClusterImageCatalog,
    ImageCatalog,
}

impl CatalogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClusterImageCatalog => "ClusterImageCatalog",
            Self::ImageCatalog => "ImageCatalog",
        }
    }
}

/// Object store for WAL archiving and base backups (Barman Cloud plugin `ObjectStore`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// Bucket and prefix, e.g. `s3://backups/pgbroker`; each cluster writes below its own name.
    pub destination_path: String,
    /// S3-compatible endpoint (MinIO, Ceph, ...); the provider default when unset.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Secret (in the instance's namespace, or copied there, see below) with the S3 keys.
    /// Unset: credentials come from the pod's IAM role.
    #[serde(default)]
    pub s3_credentials: Option<S3Credentials>,
    /// Barman retention policy, e.g. `30d` (`^[1-9][0-9]*[dwm]$`).
    #[serde(default = "default_retention")]
    pub retention: String,
    /// Six-field cron (with seconds) of the scheduled base backup.
    #[serde(default = "default_schedule")]
    pub schedule: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Credentials {
    /// Secret with the keys; in per-instance-namespace mode the broker copies it from
    /// `source_namespace` into each instance's namespace.
    pub secret_name: String,
    #[serde(default)]
    pub source_namespace: Option<String>,
    #[serde(default = "default_access_key")]
    pub access_key_id_key: String,
    #[serde(default = "default_secret_key")]
    pub secret_access_key_key: String,
}

fn default_prefix() -> String {
    "pg".to_string()
}
fn default_major() -> u32 {
    18
}
fn default_sslmode() -> String {
    "verify-full".to_string()
}
fn default_poll() -> u64 {
    10
}
fn default_retention() -> String {
    "30d".to_string()
}
fn default_schedule() -> String {
    "0 0 2 * * *".to_string()
}
fn default_access_key() -> String {
    "ACCESS_KEY_ID".to_string()
}
fn default_secret_key() -> String {
    "ACCESS_SECRET_KEY".to_string()
}

/// What is wrong with the settings, found when the backend is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "name_prefix {0:?} must start with a lowercase letter and hold only a-z, 0-9 and '-' (at most 12 characters)"
    )]
    Prefix(String),
    #[error("namespace {0:?} is not a valid namespace name")]
    Namespace(String),
    #[error("default_postgres_version {0} has no image in images")]
    DefaultMajor(u32),
    #[error("sslmode {0:?} is not one of disable, allow, prefer, require, verify-ca, verify-full")]
    SslMode(String),
    #[error("backup.retention {0:?} must look like 30d, 4w or 6m")]
    Retention(String),
    #[error("backup.schedule {0:?} must have six fields (seconds first)")]
    Schedule(String),
    #[error("backup.s3_credentials.source_namespace is needed in per-instance namespace mode")]
    CredentialsSource,
}

impl CnpgSettings {
    pub fn check(&self) -> Result<(), SettingsError> {
        let p = &self.name_prefix;
        if p.is_empty()
            || p.len() > 12
            || !p.starts_with(|c: char| c.is_ascii_lowercase())
            || !p
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(SettingsError::Prefix(p.clone()));
        }
        if let NamespaceMode::Shared { name } = &self.namespace
            && !crate::names::is_dns_label(name, 63)
        {
            return Err(SettingsError::Namespace(name.clone()));
        }
        if let Images::Names { by_major } = &self.images
            && !by_major.contains_key(&self.default_postgres_version)
        {
            return Err(SettingsError::DefaultMajor(self.default_postgres_version));
        }
        const MODES: [&str; 6] = [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ];
        if !MODES.contains(&self.sslmode.as_str()) {
            return Err(SettingsError::SslMode(self.sslmode.clone()));
        }
        if let Some(b) = &self.backup {
            let (num, unit) = b.retention.split_at(b.retention.len().saturating_sub(1));
            let num_ok = num.starts_with(|c: char| ('1'..='9').contains(&c))
                && num.chars().all(|c| c.is_ascii_digit());
            if !num_ok || !matches!(unit, "d" | "w" | "m") {
                return Err(SettingsError::Retention(b.retention.clone()));
            }
            if b.schedule.split_whitespace().count() != 6 {
                return Err(SettingsError::Schedule(b.schedule.clone()));
            }
            if let Some(c) = &b.s3_credentials
                && self.namespace == NamespaceMode::PerInstance
                && c.source_namespace.is_none()
            {
                return Err(SettingsError::CredentialsSource);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_valid_and_unknown_fields_are_refused() {
        let s: CnpgSettings = serde_json::from_value(json!({})).unwrap_or_default();
        assert_eq!(s, CnpgSettings::default());
        assert_eq!(s.check(), Ok(()));
        let err = serde_json::from_value::<CnpgSettings>(json!({"namespaces": "x"}));
        assert!(err.is_err());
    }

    #[test]
    fn full_settings_parse() {
        let s: Result<CnpgSettings, _> = serde_json::from_value(json!({
            "connection": {"mode": "kubeconfig", "path": "/etc/kube/config", "context": "prod"},
            "namespace": {"mode": "shared", "name": "databases"},
            "name_prefix": "db",
            "storage_class": "fast",
            "images": {"mode": "catalog", "name": "postgresql"},
            "allowed_parameters": ["work_mem"],
            "monitoring": true,
            "load_balancer_annotations": {"metallb.universe.tf/address-pool": "public"},
            "backup": {"destination_path": "s3://b/p", "s3_credentials": {"secret_name": "s3"}},
            "retain_on_deprovision": true
        }));
        let s = s.map_err(|e| e.to_string());
        assert!(matches!(&s, Ok(s) if s.check().is_ok()), "{s:?}");
    }

    #[test]
    fn bad_values_are_named() {
        let bad_prefix = CnpgSettings {
            name_prefix: "1db".into(),
            ..CnpgSettings::default()
        };
        assert_eq!(bad_prefix.check(), Err(SettingsError::Prefix("1db".into())));
        let bad_retention = CnpgSettings {
            backup: Some(BackupSettings {
                destination_path: "s3://b".into(),
                endpoint_url: None,
                s3_credentials: None,
                retention: "0d".into(),
                schedule: default_schedule(),
            }),
            ..CnpgSettings::default()
        };
        assert_eq!(
            bad_retention.check(),
            Err(SettingsError::Retention("0d".into()))
        );
    }
}

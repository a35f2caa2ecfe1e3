//! The objects around a Cluster: namespace, pooler, monitoring, backups, application database.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{APP_DATABASE, APP_OWNER, BARMAN_PLUGIN, InstanceManifests};
use crate::kinds::Kind;

fn object(kind: Kind, metadata: Value, spec: Value) -> Value {
    json!({"apiVersion": kind.api_version(), "kind": kind.kind(), "metadata": metadata, "spec": spec})
}

impl InstanceManifests<'_> {
    fn meta(&self, name: &str) -> Value {
        self.owner.metadata(name, Some(&self.names.namespace))
    }

    /// The instance's own namespace (per-instance mode only).
    pub fn namespace(&self) -> Value {
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": self.owner.metadata(&self.names.namespace, None)})
    }

    pub fn pooler(&self) -> Option<Value> {
        let pooler = self.desired.pooler()?;
        Some(object(
            Kind::Pooler,
            self.meta(&self.names.pooler()),
            json!({
                "cluster": {"name": self.names.cluster},
                "type": "rw",
                "instances": pooler.instances,
                "pgbouncer": {"poolMode": pooler.pool_mode.as_str()},
            }),
        ))
    }

    /// CNPG deprecated `monitoring.enablePodMonitor`; it asks users to make the PodMonitor.
    pub fn pod_monitor(&self) -> Option<Value> {
        if !self.settings.monitoring {
            return None;
        }
        Some(object(
            Kind::PodMonitor,
            self.meta(&self.names.pod_monitor()),
            json!({
                "selector": {"matchLabels": {"cnpg.io/cluster": self.names.cluster}},
                "podMetricsEndpoints": [{"port": "metrics"}],
            }),
        ))
    }

    /// PgBouncer's exporter (port `metrics`) on the pooler's pods.
    pub fn pooler_pod_monitor(&self) -> Option<Value> {
        if !self.settings.monitoring || self.desired.pooler().is_none() {
            return None;
        }
        Some(object(
            Kind::PodMonitor,
            self.meta(&self.names.pooler_pod_monitor()),
            json!({
                "selector": {"matchLabels": {"cnpg.io/poolerName": self.names.pooler()}},
                "podMetricsEndpoints": [{"port": "metrics"}],
            }),
        ))
    }

    pub fn object_store(&self) -> Option<Value> {
        let backup = self.settings.backup.as_ref()?;
        let mut configuration = Map::new();
        configuration.insert("destinationPath".into(), json!(backup.destination_path));
        if let Some(url) = &backup.endpoint_url {
            configuration.insert("endpointURL".into(), json!(url));
        }
        let credentials = match &backup.s3_credentials {
            Some(c) => {
                let secret = if c.source_namespace.is_some() {
                    self.names.backup_credentials()
                } else {
                    c.secret_name.clone()
                };
                json!({
                    "accessKeyId": {"name": secret, "key": c.access_key_id_key},
                    "secretAccessKey": {"name": secret, "key": c.secret_access_key_key},
                })
            }
            None => json!({"inheritFromIAMRole": true}),
        };
        configuration.insert("s3Credentials".into(), credentials);
        configuration.insert("wal".into(), json!({"compression": "gzip"}));
        Some(object(
            Kind::ObjectStore,
            self.meta(&self.names.object_store()),
            json!({"retentionPolicy": backup.retention, "configuration": configuration}),
        ))
    }

    /// The backup credentials copied into the instance's namespace, from the source secret's data.
    pub fn backup_credentials(&self, data: &BTreeMap<String, Value>) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": self.meta(&self.names.backup_credentials()),
               "type": "Opaque", "data": data})
    }

    pub fn scheduled_backup(&self) -> Option<Value> {
        let backup = self.settings.backup.as_ref()?;
        Some(object(
            Kind::ScheduledBackup,
            self.meta(&self.names.scheduled_backup()),
            json!({
                "schedule": backup.schedule,
                "cluster": {"name": self.names.cluster},
                "immediate": true,
                // Backup objects go with the schedule; the data stays under the store's retention.
                "backupOwnerReference": "self",
                "method": "plugin",
                "pluginConfiguration": {"name": BARMAN_PLUGIN},
            }),
        ))
    }

    /// Declares the application database so that CNPG creates the requested extensions in it.
    pub fn database(&self) -> Option<Value> {
        if self.desired.extensions.is_empty() && self.dropped_extensions.is_empty() {
            return None;
        }
        let mut extensions: Vec<Value> = self
            .desired
            .extensions
            .iter()
            .map(|e| json!({"name": e, "ensure": "present"}))
            .collect();
        extensions.extend(
            self.dropped_extensions
                .iter()
                .map(|e| json!({"name": e, "ensure": "absent"})),
        );
        Some(object(
            Kind::Database,
            self.meta(&self.database_name()),
            json!({
                "cluster": {"name": self.names.cluster},
                "name": APP_DATABASE,
                "owner": APP_OWNER,
                "databaseReclaimPolicy": "retain",
                "extensions": extensions,
            }),
        ))
    }

    pub fn database_name(&self) -> String {
        format!("{}-{APP_DATABASE}", self.names.cluster)
    }
}

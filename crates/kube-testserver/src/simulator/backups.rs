//! Backups: a ScheduledBackup with `immediate: true` starts a Backup at once (CNPG's
//! `<scheduled>-<YYYYMMDDhhmmss>` name, owner per `backupOwnerReference`); a Backup completes
//! while its cluster is healthy, stays pending while it is not, fails for an unknown cluster or
//! when told to.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Inner, gvr, objects};
use crate::error::ApiError;
use crate::store::{ObjKey, WriteOptions, meta};

impl Inner {
    pub(super) fn reconcile_scheduled_backup(
        self: &Arc<Self>,
        key: &ObjKey,
        scheduled: &Value,
    ) -> Result<(), ApiError> {
        if meta::is_deleting(scheduled)
            || scheduled.pointer("/spec/suspend") == Some(&Value::Bool(true))
        {
            return Ok(());
        }
        let mut status = scheduled
            .get("status")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if status.get("lastCheckTime").is_none() {
            status["lastCheckTime"] = json!(meta::now());
        }
        let immediate = scheduled.pointer("/spec/immediate") == Some(&Value::Bool(true));
        if immediate && status.get("lastScheduleTime").is_none() {
            self.start_backup(key, scheduled)?;
            status["lastScheduleTime"] = json!(meta::now());
        }
        self.write_status(key, scheduled, status)
    }

    fn start_backup(&self, key: &ObjKey, scheduled: &Value) -> Result<(), ApiError> {
        let spec = scheduled.get("spec").cloned().unwrap_or_else(|| json!({}));
        let cluster = spec
            .pointer("/cluster/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
        let name = format!("{}-{stamp}", key.name);
        let mut backup_spec = json!({ "cluster": { "name": cluster } });
        for field in [
            "method",
            "pluginConfiguration",
            "target",
            "online",
            "onlineConfiguration",
        ] {
            if let Some(v) = spec.get(field) {
                backup_spec[field] = v.clone();
            }
        }
        let owner = match spec.get("backupOwnerReference").and_then(Value::as_str) {
            Some("self") => Some(objects::owner_ref(scheduled, "ScheduledBackup")),
            Some("cluster") => self
                .store
                .get(&gvr("clusters"), Some(&key.namespace), &cluster)
                .ok()
                .map(|c| objects::owner_ref(&c, "Cluster")),
            _ => None,
        };
        let mut backup = json!({
            "apiVersion": objects::CNPG_API_VERSION,
            "kind": "Backup",
            "metadata": {
                "name": name,
                "namespace": key.namespace,
                "labels": { "cnpg.io/cluster": cluster, "cnpg.io/scheduled-backup": key.name },
            },
            "spec": backup_spec,
        });
        if let Some(owner) = owner {
            backup["metadata"]["ownerReferences"] = owner;
        }
        match self.store.create(
            &gvr("backups"),
            Some(&key.namespace),
            backup,
            &WriteOptions::default(),
        ) {
            Err(e) if e.code == 409 => Ok(()),
            other => other.map(|_| ()),
        }
    }

    pub(super) fn reconcile_backup(
        self: &Arc<Self>,
        key: &ObjKey,
        backup: &Value,
    ) -> Result<(), ApiError> {
        let phase = backup.pointer("/status/phase").and_then(Value::as_str);
        if meta::is_deleting(backup) || matches!(phase, Some("completed" | "failed")) {
            return Ok(());
        }
        let cluster = backup
            .pointer("/spec/cluster/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let method = backup
            .pointer("/spec/method")
            .and_then(Value::as_str)
            .unwrap_or("barmanObjectStore");
        let injected = self
            .controls()
            .failed_backups
            .get(&(key.namespace.clone(), cluster.to_owned()))
            .cloned();
        let exists = self
            .store
            .get(&gvr("clusters"), Some(&key.namespace), cluster)
            .is_ok();
        let status = if let Some(reason) = injected {
            json!({ "phase": "failed", "method": method, "error": reason })
        } else if !exists {
            json!({ "phase": "failed", "method": method, "error": "Unknown cluster" })
        } else if !self.is_cluster_healthy(&key.namespace, cluster) {
            json!({ "phase": "pending", "method": method })
        } else {
            let now = meta::now();
            json!({
                "phase": "completed",
                "method": method,
                "backupId": chrono::Utc::now().format("%Y%m%dT%H%M%S").to_string(),
                "backupName": key.name,
                "serverName": cluster,
                "startedAt": now,
                "stoppedAt": now,
                "beginWal": "000000010000000000000002",
                "endWal": "000000010000000000000002",
                "beginLSN": "0/2000028",
                "endLSN": "0/2000100",
                "online": true,
            })
        };
        self.write_status(key, backup, status)
    }
}

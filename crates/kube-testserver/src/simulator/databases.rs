//! CNPG's database controller (`internal/management/controller/database_controller.go`, run by
//! the instance manager of the primary) against the simulated PostgreSQL: the finalizer
//! `cnpg.io/deleteDatabase`, `DROP DATABASE` on deletion only with `databaseReclaimPolicy:
//! delete` and only for an object that was reconciled once, one Database object per PostgreSQL
//! database (`detectConflictingManagers`), `CREATE DATABASE ... OWNER` or `ALTER DATABASE ...
//! OWNER TO` (the owner must exist), `CREATE EXTENSION` per `spec.extensions` with a status
//! entry each, and CNPG's status: `applied`/`message`, `observedGeneration` only on success.

use std::sync::Arc;

use serde_json::{Value, json};

use super::postgres::cluster_of;
use super::{Inner, key_of};
use crate::error::ApiError;
use crate::store::{ObjKey, Subresource, WriteOptions, meta};

const DATABASE_FINALIZER: &str = "cnpg.io/deleteDatabase";
/// CNPG's `ErrFailedDatabaseObjectReconciliation`.
const OBJECTS_FAILED: &str = "database object reconciliation failed";

fn text<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

fn observed(object: &Value) -> i64 {
    object
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn generation(object: &Value) -> i64 {
    meta::meta(object)
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// `SetAsFailed`: applied false with the error; the observed generation stays, so the object
/// is tried again.
fn failed(db: &Value, message: &str) -> Value {
    let mut status = db.get("status").cloned().unwrap_or_else(|| json!({}));
    status["applied"] = json!(false);
    status["message"] = json!(message);
    status
}

impl Inner {
    pub(super) fn reconcile_database(
        self: &Arc<Self>,
        key: &ObjKey,
        db: &Value,
    ) -> Result<(), ApiError> {
        let (namespace, cluster_name) = cluster_of(db);
        let cluster = self
            .store
            .get(&super::gvr("clusters"), Some(&namespace), &cluster_name);
        let healthy = self.is_cluster_healthy(&namespace, &cluster_name);
        let name = text(db, "/spec/name").unwrap_or_default().to_owned();
        let mut finalizers = meta::finalizers(db);
        // The API server bumps `generation` when it sets `deletionTimestamp`, so CNPG looks at a
        // deleting object whatever its observed generation; deletion comes first here.
        if meta::is_deleting(db) {
            if !finalizers.iter().any(|f| f == DATABASE_FINALIZER) {
                return Ok(());
            }
            if cluster.is_ok() && !healthy {
                // No primary to run `DROP DATABASE` on: the finalizer stays until there is one.
                return Ok(());
            }
            if let Ok(cluster) = &cluster
                && text(db, "/spec/databaseReclaimPolicy") == Some("delete")
                && observed(db) > 0
            {
                self.with_postgres(cluster, |pg| pg.databases.remove(&name));
            }
            finalizers.retain(|f| f != DATABASE_FINALIZER);
            let mut updated = db.clone();
            updated["metadata"]["finalizers"] = json!(finalizers);
            self.store
                .replace(key, updated, Subresource::Main, &WriteOptions::default())?;
            return Ok(());
        }
        if observed(db) == generation(db) {
            return Ok(());
        }
        let cluster = match cluster {
            Err(_) => {
                let message = format!(
                    "while fetching the cluster: clusters.postgresql.cnpg.io \"{cluster_name}\" not found"
                );
                return self.write_status(key, db, failed(db, &message));
            }
            Ok(_) if !healthy => return Ok(()),
            Ok(cluster) => cluster,
        };
        if !finalizers.iter().any(|f| f == DATABASE_FINALIZER) {
            finalizers.push(DATABASE_FINALIZER.to_owned());
            let mut updated = db.clone();
            updated["metadata"]["finalizers"] = json!(finalizers);
            // The update's event brings the object back here.
            self.store
                .replace(key, updated, Subresource::Main, &WriteOptions::default())?;
            return Ok(());
        }
        if observed(db) == 0
            && let Some(other) = self.other_manager(db, &cluster_name, &name)
        {
            let message =
                format!("database \"{name}\" is already managed by Database object \"{other}\"");
            return self.write_status(key, db, failed(db, &message));
        }
        if text(db, "/spec/ensure") == Some("absent") {
            self.with_postgres(&cluster, |pg| pg.databases.remove(&name));
            return self.write_status(key, db, self.ready(db, None));
        }
        let owner = text(db, "/spec/owner").unwrap_or_default().to_owned();
        let outcome = self.with_postgres(&cluster, |pg| {
            let exists = pg.databases.contains_key(&name);
            if !pg.has_role(&cluster, &owner) {
                let doing = if exists {
                    format!("while altering database \"{name}\" owner to {owner}")
                } else {
                    format!("while creating database \"{name}\"")
                };
                return Err(format!(
                    "{doing}: ERROR: role \"{owner}\" does not exist (SQLSTATE 42704)"
                ));
            }
            pg.databases.insert(name.clone(), owner.clone());
            Ok(())
        });
        if let Err(message) = outcome {
            return self.write_status(key, db, failed(db, &message));
        }
        let extensions = self.reconcile_extensions(db);
        if extensions
            .iter()
            .any(|e| e.get("applied") == Some(&json!(false)))
        {
            let mut status = failed(db, OBJECTS_FAILED);
            status["extensions"] = json!(extensions);
            return self.write_status(key, db, status);
        }
        let listed = db
            .pointer("/spec/extensions")
            .is_some()
            .then_some(extensions);
        self.write_status(key, db, self.ready(db, listed))
    }

    /// `SetAsReady`: applied, no message, the generation observed.
    fn ready(&self, db: &Value, extensions: Option<Vec<Value>>) -> Value {
        let mut status = json!({"applied": true, "observedGeneration": generation(db)});
        if let Some(extensions) = extensions {
            status["extensions"] = json!(extensions);
        }
        status
    }

    /// One status entry per `spec.extensions` item, as CNPG's `reconcileList` makes them.
    fn reconcile_extensions(&self, db: &Value) -> Vec<Value> {
        let available = self.controls().extensions.clone();
        db.pointer("/spec/extensions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|ext| {
                let name = text(ext, "/name").unwrap_or_default();
                let absent = text(ext, "/ensure") == Some("absent");
                if absent || available.contains(name) {
                    json!({"name": name, "applied": true})
                } else {
                    json!({"name": name, "applied": false,
                           "message": format!("ERROR: extension \"{name}\" is not available (SQLSTATE 0A000)")})
                }
            })
            .collect()
    }

    /// Another Database object of the same cluster that already reconciled `name`.
    fn other_manager(&self, db: &Value, cluster: &str, name: &str) -> Option<String> {
        let gvr = super::gvr("databases");
        let namespace = meta::meta_str(db, "namespace");
        self.store
            .objects_of(&gvr)
            .into_iter()
            .filter(|o| meta::meta_str(o, "namespace") == namespace)
            .filter(|o| key_of(&gvr, o).name != meta::name(db))
            .find(|o| {
                text(o, "/spec/cluster/name") == Some(cluster)
                    && text(o, "/spec/name") == Some(name)
                    && observed(o) > 0
            })
            .map(|o| meta::name(&o).to_owned())
    }
}

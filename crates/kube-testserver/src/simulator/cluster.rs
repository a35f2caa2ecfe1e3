//! Cluster status as CNPG writes it (phase text, Ready/Initialized conditions, instance counts) and
//! the secrets and services it creates for a Cluster.

use std::sync::Arc;

use serde_json::{Value, json};

use super::objects::{self, Login};
use super::{Inner, gvr, key_of};
use crate::error::ApiError;
use crate::store::{CNPG_DEFAULT_IMAGE, ObjKey, meta};

pub const PHASE_HEALTHY: &str = "Cluster in healthy state";
pub const PHASE_SETTING_UP_PRIMARY: &str = "Setting up primary";
pub const PHASE_APPLYING_CONFIGURATION: &str = "Applying configuration";
pub const PHASE_UNRECOVERABLE: &str = "Cluster is unrecoverable and needs manual intervention";
pub const PHASE_DEFINITION_INVALID: &str = "Invalid cluster definition";
pub const PHASE_CANNOT_CREATE_OBJECTS: &str = "Unable to create required cluster objects";
pub const PHASE_IMAGE_CATALOG_ERROR: &str = "Cluster has incomplete or invalid image catalog";

pub fn instances(cluster: &Value) -> i64 {
    cluster
        .pointer("/spec/instances")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn generation(cluster: &Value) -> i64 {
    meta::meta(cluster)
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// A metav1.Condition, keeping the previous transition time when the status did not change (so a
/// repeated reconcile is a no-op write).
fn condition(cluster: &Value, kind: &str, status: bool, reason: &str, message: &str) -> Value {
    let status_text = if status { "True" } else { "False" };
    let previous = cluster
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == kind));
    let time = match previous {
        Some(p) if p["status"] == status_text => {
            p["lastTransitionTime"].as_str().map(str::to_owned)
        }
        _ => None,
    }
    .unwrap_or_else(meta::now);
    json!({
        "type": kind,
        "status": status_text,
        "reason": reason,
        "message": message,
        "lastTransitionTime": time,
        "observedGeneration": generation(cluster),
    })
}

fn was_initialized(cluster: &Value) -> bool {
    cluster
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Initialized" && c["status"] == "True")
        })
}

fn image(cluster: &Value) -> (String, i64) {
    let image = cluster
        .pointer("/spec/imageName")
        .and_then(Value::as_str)
        .unwrap_or(CNPG_DEFAULT_IMAGE)
        .to_owned();
    let major = cluster
        .pointer("/spec/imageCatalogRef/major")
        .and_then(Value::as_i64)
        .or_else(|| {
            let tag = image.rsplit(':').next()?;
            tag.split(['.', '-']).next()?.parse().ok()
        })
        .unwrap_or(18);
    (image, major)
}

fn base_status(cluster: &Value, phase: &str, ready: i64) -> Value {
    let name = meta::name(cluster);
    let n = instances(cluster);
    let (image, major) = image(cluster);
    json!({
        "phase": phase,
        "instances": n,
        "readyInstances": ready,
        "instanceNames": (1..=n).map(|i| format!("{name}-{i}")).collect::<Vec<_>>(),
        "currentPrimary": format!("{name}-1"),
        "targetPrimary": format!("{name}-1"),
        "writeService": format!("{name}-rw"),
        "readService": format!("{name}-r"),
        "image": image,
        "pgDataImageInfo": { "image": image, "majorVersion": major },
    })
}

pub fn healthy_status(cluster: &Value) -> Value {
    let mut status = base_status(cluster, PHASE_HEALTHY, instances(cluster));
    status["conditions"] = json!([
        condition(cluster, "Ready", true, "ClusterIsReady", "Cluster is Ready"),
        condition(
            cluster,
            "Initialized",
            true,
            "BootstrapCompleted",
            "Cluster has been initialized"
        ),
    ]);
    let roles: Vec<Value> = cluster
        .pointer("/spec/managed/roles")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(|r| r.get("name").cloned()).collect())
        .unwrap_or_default();
    if !roles.is_empty() {
        status["managedRolesStatus"] = json!({ "byStatus": { "reconciled": roles } });
    }
    status
}

/// Not ready yet: `Setting up primary`, `Applying configuration`, ...
pub fn progressing_status(cluster: &Value, phase: &str) -> Value {
    let initialized = was_initialized(cluster);
    let ready = if initialized {
        instances(cluster).min(1)
    } else {
        0
    };
    let mut status = base_status(cluster, phase, ready);
    let initialized_condition = if initialized {
        condition(
            cluster,
            "Initialized",
            true,
            "BootstrapCompleted",
            "Cluster has been initialized",
        )
    } else {
        condition(
            cluster,
            "Initialized",
            false,
            "BootstrapPending",
            "Cluster bootstrap is pending",
        )
    };
    status["conditions"] = json!([
        condition(
            cluster,
            "Ready",
            false,
            "ClusterIsNotReady",
            "Cluster Is Not Ready"
        ),
        initialized_condition,
    ]);
    status
}

pub fn failed_status(cluster: &Value, phase: &str, reason: &str) -> Value {
    let mut status = progressing_status(cluster, phase);
    status["phaseReason"] = json!(reason);
    status["readyInstances"] = json!(0);
    status
}

/// The secrets and services CNPG creates for a Cluster.
pub fn owned_objects(cluster: &Value, cluster_domain: &str) -> Vec<Value> {
    let name = meta::name(cluster);
    let mut out = Vec::new();
    let bootstrap = cluster.pointer("/spec/bootstrap");
    let source = bootstrap.and_then(|b| {
        b.get("initdb")
            .or_else(|| b.get("recovery"))
            .or_else(|| b.get("pg_basebackup"))
    });
    let creates_app_db =
        bootstrap.is_none_or(|b| b.get("initdb").is_some() || b.get("recovery").is_some());
    let user_secret = source.and_then(|s| s.pointer("/secret/name")).is_some();
    if creates_app_db && !user_secret {
        let db = source
            .and_then(|s| s.get("database"))
            .and_then(Value::as_str)
            .unwrap_or("app");
        let owner = source
            .and_then(|s| s.get("owner"))
            .and_then(Value::as_str)
            .unwrap_or(db);
        let password = objects::generate_password();
        out.push(objects::login_secret(&Login {
            cluster,
            user_type: "app",
            username: owner,
            dbname: db,
            password: &password,
            cluster_domain,
        }));
    }
    let superuser_access =
        cluster.pointer("/spec/enableSuperuserAccess") == Some(&Value::Bool(true));
    let custom_superuser = cluster.pointer("/spec/superuserSecret/name").is_some();
    if superuser_access && !custom_superuser {
        let password = objects::generate_password();
        out.push(objects::login_secret(&Login {
            cluster,
            user_type: "superuser",
            username: "postgres",
            dbname: "*",
            password: &password,
            cluster_domain,
        }));
    }
    for suffix in ["ca", "server", "replication"] {
        out.push(objects::tls_secret(cluster, suffix));
    }
    let disabled: Vec<&str> = cluster
        .pointer("/spec/managed/services/disabledDefaultServices")
        .and_then(Value::as_array)
        .map(|d| d.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for kind in ["rw", "ro", "r"] {
        if !disabled.contains(&kind) {
            out.push(objects::cluster_service(
                cluster,
                &format!("{name}-{kind}"),
                kind,
                None,
            ));
        }
    }
    for extra in cluster
        .pointer("/spec/managed/services/additional")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(svc_name) = extra
            .pointer("/serviceTemplate/metadata/name")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let selector = extra
            .get("selectorType")
            .and_then(Value::as_str)
            .unwrap_or("rw");
        out.push(objects::cluster_service(
            cluster,
            svc_name,
            selector,
            extra.get("serviceTemplate"),
        ));
    }
    out
}

impl Inner {
    pub(super) fn first_sight(&self, cluster: &Value) {
        let key = key_of(&gvr("clusters"), cluster);
        let status = progressing_status(cluster, PHASE_SETTING_UP_PRIMARY);
        if let Err(error) = self.write_status(&key, cluster, status) {
            tracing::debug!(%error, "simulator could not mark a new cluster as setting up");
        }
    }

    pub(super) fn reconcile_cluster(
        self: &Arc<Self>,
        key: &ObjKey,
        cluster: &Value,
    ) -> Result<(), ApiError> {
        if meta::is_deleting(cluster) {
            return Ok(());
        }
        let id = (key.namespace.clone(), key.name.clone());
        let (failed, stalled, healthy_generation) = {
            let c = self.controls();
            (
                c.failed.get(&id).cloned(),
                c.stall_all || c.stalled.contains(&id),
                c.healthy_generation.get(&id).copied(),
            )
        };
        if let Some((phase, reason)) = failed {
            return self.write_status(key, cluster, failed_status(cluster, &phase, &reason));
        }
        if stalled {
            return self.write_status(
                key,
                cluster,
                progressing_status(cluster, PHASE_SETTING_UP_PRIMARY),
            );
        }
        for object in owned_objects(cluster, &self.cluster_domain) {
            self.ensure(&object)?;
        }
        self.reconcile_instances(cluster)?;
        let generation = meta::meta(cluster)
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let phase = cluster.pointer("/status/phase").and_then(Value::as_str);
        if healthy_generation.is_some_and(|g| g != generation) && phase == Some(PHASE_HEALTHY) {
            return self.write_status(
                key,
                cluster,
                progressing_status(cluster, PHASE_APPLYING_CONFIGURATION),
            );
        }
        self.write_status(key, cluster, healthy_status(cluster))?;
        self.controls().healthy_generation.insert(id, generation);
        Ok(())
    }

    pub(crate) fn is_cluster_healthy(&self, namespace: &str, name: &str) -> bool {
        self.store
            .get(&gvr("clusters"), Some(namespace), name)
            .is_ok_and(|c| {
                c.pointer("/status/phase").and_then(Value::as_str) == Some(PHASE_HEALTHY)
            })
    }
}

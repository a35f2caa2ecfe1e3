//! Objects that hang off a Cluster: DatabaseRole (`status.applied`, CNPG's finalizer, the role
//! in the simulated PostgreSQL), Pooler (its service), and LoadBalancer services (an address,
//! like a cloud would). Databases are in `databases.rs`.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Inner, objects};
use crate::error::ApiError;
use crate::registry::Gvr;
use crate::store::{ObjKey, Subresource, WriteOptions, meta};

const ROLE_FINALIZER: &str = "cnpg.io/deleteRole";

pub(super) fn wants_load_balancer(service: &Value) -> bool {
    service.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer")
        && service.pointer("/status/loadBalancer/ingress").is_none()
}

fn generation(object: &Value) -> i64 {
    meta::meta(object)
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

impl Inner {
    pub(super) fn reconcile_role(
        self: &Arc<Self>,
        key: &ObjKey,
        role: &Value,
    ) -> Result<(), ApiError> {
        let name = role
            .pointer("/spec/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if meta::is_deleting(role) && self.drop_role_blocked(key, role, &name)? {
            return Ok(());
        }
        if self.handle_finalizer(key, role, ROLE_FINALIZER)? {
            return Ok(());
        }
        let mut status = json!({ "observedGeneration": generation(role) });
        let problem = self.cluster_problem(key, role);
        let secret = role
            .pointer("/spec/passwordSecret/name")
            .and_then(Value::as_str);
        let secret_object = secret.map(|s| {
            self.store
                .get(&Gvr::new("", "v1", "secrets"), Some(&key.namespace), s)
        });
        match (problem, secret, secret_object) {
            (Some(message), _, _) => {
                status["applied"] = json!(false);
                status["message"] = json!(message);
            }
            (None, Some(name), Some(Err(_))) => {
                status["applied"] = json!(false);
                status["message"] = json!(format!(
                    "while getting password secret: secrets \"{name}\" not found"
                ));
            }
            (None, _, found) => {
                status["applied"] = json!(true);
                if let Ok(cluster) = self.cluster_of(key, role) {
                    let login = role.pointer("/spec/login").and_then(Value::as_bool) == Some(true);
                    self.with_postgres(&cluster, |pg| pg.roles.insert(name.clone(), login));
                }
                if let Some(Ok(secret)) = found {
                    status["secretResourceVersion"] = json!(meta::resource_version(&secret));
                }
            }
        }
        self.write_status(key, role, status)
    }

    pub(super) fn reconcile_pooler(
        self: &Arc<Self>,
        key: &ObjKey,
        pooler: &Value,
    ) -> Result<(), ApiError> {
        if meta::is_deleting(pooler) {
            return Ok(());
        }
        let cluster_name = pooler
            .pointer("/spec/cluster/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let instances = pooler
            .pointer("/spec/instances")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let cluster = self
            .store
            .get(&super::gvr("clusters"), Some(&key.namespace), cluster_name);
        let status = match cluster {
            Ok(cluster) if self.is_cluster_healthy(&key.namespace, cluster_name) => {
                self.ensure(&objects::pooler_service(pooler))?;
                self.ensure(&objects::tls_secret(&cluster, "pooler"))?;
                json!({ "instances": instances, "phase": "active" })
            }
            _ => json!({
                "instances": 0,
                "phase": "inactive",
                "phaseReason": format!("cluster {cluster_name} is not ready"),
            }),
        };
        self.write_status(key, pooler, status)
    }

    pub(super) fn assign_load_balancer(
        self: &Arc<Self>,
        key: &ObjKey,
        service: &Value,
    ) -> Result<(), ApiError> {
        if !wants_load_balancer(service) {
            return Ok(());
        }
        let ip = format!("192.0.2.{}", self.next_address() % 250 + 1);
        self.write_status(
            key,
            service,
            json!({ "loadBalancer": { "ingress": [{ "ip": ip }] } }),
        )
    }

    fn cluster_of(&self, key: &ObjKey, object: &Value) -> Result<Value, ApiError> {
        let cluster = object
            .pointer("/spec/cluster/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        self.store
            .get(&super::gvr("clusters"), Some(&key.namespace), cluster)
    }

    /// CNPG's `handleDeletion` with `databaseRoleReclaimPolicy: delete`: `DROP ROLE`, which
    /// PostgreSQL refuses while the role owns a database; then the finalizer stays and the
    /// error is the status. True while the drop cannot happen.
    fn drop_role_blocked(&self, key: &ObjKey, role: &Value, name: &str) -> Result<bool, ApiError> {
        let has_finalizer = meta::finalizers(role).iter().any(|f| f == ROLE_FINALIZER);
        let deletes = role
            .pointer("/spec/databaseRoleReclaimPolicy")
            .and_then(Value::as_str)
            == Some("delete");
        let Ok(cluster) = self.cluster_of(key, role) else {
            return Ok(false);
        };
        if !has_finalizer || !deletes {
            return Ok(false);
        }
        let owned = self.with_postgres(&cluster, |pg| {
            let owned = pg.owned_by(name);
            if owned.is_empty() {
                pg.roles.remove(name);
            }
            owned
        });
        if owned.is_empty() {
            return Ok(false);
        }
        let mut status = role.get("status").cloned().unwrap_or_else(|| json!({}));
        status["applied"] = json!(false);
        status["message"] = json!(format!(
            "while deleting role {name}: ERROR: role \"{name}\" cannot be dropped because some objects depend on it (SQLSTATE 2BP01): owner of database {}",
            owned.join(", ")
        ));
        self.write_status(key, role, status)?;
        Ok(true)
    }

    /// Why the referenced cluster cannot apply this object now, if it cannot.
    fn cluster_problem(&self, key: &ObjKey, object: &Value) -> Option<String> {
        let cluster = object
            .pointer("/spec/cluster/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        match self
            .store
            .get(&super::gvr("clusters"), Some(&key.namespace), cluster)
        {
            Err(_) => Some(format!("cluster \"{cluster}\" not found")),
            Ok(_) if !self.is_cluster_healthy(&key.namespace, cluster) => {
                Some(format!("cluster \"{cluster}\" is not ready"))
            }
            Ok(_) => None,
        }
    }

    /// Adds CNPG's finalizer to a live object and removes it from a deleting one (letting the
    /// deletion finish). Returns true when the object is being deleted.
    fn handle_finalizer(
        &self,
        key: &ObjKey,
        object: &Value,
        finalizer: &str,
    ) -> Result<bool, ApiError> {
        let mut finalizers = meta::finalizers(object);
        let deleting = meta::is_deleting(object);
        let has = finalizers.iter().any(|f| f == finalizer);
        if deleting == has {
            if deleting {
                finalizers.retain(|f| f != finalizer);
            } else {
                finalizers.push(finalizer.to_owned());
            }
            let mut updated = object.clone();
            updated["metadata"]["finalizers"] = json!(finalizers);
            self.store
                .replace(key, updated, Subresource::Main, &WriteOptions::default())?;
        }
        Ok(deleting)
    }
}

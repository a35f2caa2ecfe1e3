//! Objects that hang off a Cluster: Database and DatabaseRole (`status.applied`, CNPG's
//! finalizers), Pooler (its service), and LoadBalancer services (an address, like a cloud would).

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Inner, objects};
use crate::error::ApiError;
use crate::registry::Gvr;
use crate::store::{ObjKey, Subresource, WriteOptions, meta};

const DATABASE_FINALIZER: &str = "cnpg.io/deleteDatabase";
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
    pub(super) fn reconcile_database(
        self: &Arc<Self>,
        key: &ObjKey,
        db: &Value,
    ) -> Result<(), ApiError> {
        if self.handle_finalizer(key, db, DATABASE_FINALIZER)? {
            return Ok(());
        }
        let status = match self.cluster_problem(key, db) {
            Some(message) => {
                json!({ "applied": false, "message": message, "observedGeneration": generation(db) })
            }
            None => json!({ "applied": true, "observedGeneration": generation(db) }),
        };
        self.write_status(key, db, status)
    }

    pub(super) fn reconcile_role(
        self: &Arc<Self>,
        key: &ObjKey,
        role: &Value,
    ) -> Result<(), ApiError> {
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

//! Instance pods and their PVCs, as CNPG names and labels them: `<cluster>-<n>` for
//! n = 1..=instances (the first is the primary). Scaling down removes the extra instances;
//! a larger `spec.storage.size` resizes the PVCs.

use serde_json::{Value, json};

use super::cluster::instances;
use super::{Inner, objects};
use crate::error::ApiError;
use crate::registry::Gvr;
use crate::store::{DeleteOptions, ObjKey, Subresource, WriteOptions, meta};

fn pods() -> Gvr {
    Gvr::new("", "v1", "pods")
}

fn pvcs() -> Gvr {
    Gvr::new("", "v1", "persistentvolumeclaims")
}

fn pvc(cluster: &Value, instance: &str, size: &str) -> Value {
    let mut spec = json!({ "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": size } } });
    if let Some(class) = cluster.pointer("/spec/storage/storageClass") {
        spec["storageClassName"] = class.clone();
    }
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": instance,
            "namespace": meta::meta_str(cluster, "namespace").unwrap_or("default"),
            "labels": {
                "cnpg.io/cluster": meta::name(cluster),
                "cnpg.io/instanceName": instance,
                "cnpg.io/pvcRole": "PG_DATA",
            },
            "ownerReferences": objects::owner_ref(cluster, "Cluster"),
        },
        "spec": spec,
        "status": { "phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": { "storage": size } },
    })
}

fn pod(cluster: &Value, instance: &str, primary: bool) -> Value {
    let image = cluster
        .pointer("/status/image")
        .or_else(|| cluster.pointer("/spec/imageName"))
        .cloned();
    let role = if primary { "primary" } else { "replica" };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": instance,
            "namespace": meta::meta_str(cluster, "namespace").unwrap_or("default"),
            "labels": {
                "cnpg.io/cluster": meta::name(cluster),
                "cnpg.io/instanceName": instance,
                "cnpg.io/instanceRole": role,
                "cnpg.io/podRole": "instance",
                "role": role,
            },
            "ownerReferences": objects::owner_ref(cluster, "Cluster"),
        },
        "spec": { "containers": [{ "name": "postgres", "image": image.unwrap_or(json!("postgres")) }] },
        "status": { "phase": "Running" },
    })
}

impl Inner {
    pub(super) fn reconcile_instances(&self, cluster: &Value) -> Result<(), ApiError> {
        let name = meta::name(cluster);
        let namespace = meta::meta_str(cluster, "namespace").unwrap_or("default");
        let wanted = usize::try_from(instances(cluster)).unwrap_or(1);
        let size = cluster
            .pointer("/spec/storage/size")
            .and_then(Value::as_str)
            .unwrap_or("1Gi");
        for n in 1..=wanted {
            let instance = format!("{name}-{n}");
            self.ensure(&pvc(cluster, &instance, size))?;
            self.ensure(&pod(cluster, &instance, n == 1))?;
            self.resize(namespace, &instance, size)?;
        }
        for gvr in [pods(), pvcs()] {
            for object in self.store.objects_of(&gvr) {
                let labels = object.pointer("/metadata/labels");
                let ours = meta::meta_str(&object, "namespace") == Some(namespace)
                    && labels
                        .and_then(|l| l.get("cnpg.io/cluster"))
                        .and_then(Value::as_str)
                        == Some(name);
                let index = meta::name(&object)
                    .strip_prefix(&format!("{name}-"))
                    .and_then(|i| i.parse::<usize>().ok());
                if ours && index.is_some_and(|i| i > wanted) {
                    let key = ObjKey::new(gvr.clone(), Some(namespace), meta::name(&object));
                    match self.store.delete(&key, &DeleteOptions::default()) {
                        Err(e) if e.code != 404 => return Err(e),
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Grows a PVC's request and capacity to `size` (volume expansion).
    fn resize(&self, namespace: &str, instance: &str, size: &str) -> Result<(), ApiError> {
        let Ok(claim) = self.store.get(&pvcs(), Some(namespace), instance) else {
            return Ok(());
        };
        if !claim
            .pointer("/spec/resources/requests")
            .is_some_and(Value::is_object)
        {
            return Ok(());
        }
        if claim
            .pointer("/spec/resources/requests/storage")
            .and_then(Value::as_str)
            == Some(size)
        {
            return Ok(());
        }
        let key = ObjKey::new(pvcs(), Some(namespace), instance);
        let mut grown = claim.clone();
        grown["spec"]["resources"]["requests"]["storage"] = json!(size);
        let grown = self
            .store
            .replace(&key, grown, Subresource::Main, &WriteOptions::default())?;
        let mut status = grown.get("status").cloned().unwrap_or_else(|| json!({}));
        status["capacity"] = json!({ "storage": size });
        self.write_status(&key, &grown, status)
    }
}

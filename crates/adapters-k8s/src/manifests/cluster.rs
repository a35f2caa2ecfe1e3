//! The CNPG `Cluster` of an instance.

use serde_json::{Map, Value, json};

use super::{APP_DATABASE, APP_OWNER, BARMAN_PLUGIN, InstanceManifests};
use crate::kinds::Kind;
use crate::labels::{OPERATION, POSTGRES_VERSION};
use crate::settings::Images;

impl InstanceManifests<'_> {
    pub fn cluster(&self) -> Value {
        let plan = &self.desired.plan;
        let mut metadata = self
            .owner
            .metadata(&self.names.cluster, Some(&self.names.namespace));
        if let Some(a) = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
        {
            a.insert(OPERATION.into(), json!(self.operation.to_string()));
            a.insert(
                POSTGRES_VERSION.into(),
                json!(self.desired.major.to_string()),
            );
        }
        let mut spec = Map::new();
        spec.insert("instances".into(), json!(plan.instances));
        match &self.settings.images {
            Images::Names { by_major } => {
                if let Some(image) = by_major.get(&self.desired.major) {
                    spec.insert("imageName".into(), json!(image));
                }
            }
            Images::Catalog { name, kind } => {
                spec.insert(
                    "imageCatalogRef".into(),
                    json!({"apiGroup": Kind::Cluster.group(), "kind": kind.as_str(),
                           "name": name, "major": self.desired.major}),
                );
            }
        }
        spec.insert(
            "resources".into(),
            json!({
                "requests": {"cpu": plan.cpu, "memory": plan.memory},
                "limits": {
                    "cpu": plan.cpu_limit.as_ref().unwrap_or(&plan.cpu),
                    "memory": plan.memory_limit.as_ref().unwrap_or(&plan.memory),
                },
            }),
        );
        let mut storage = Map::new();
        storage.insert("size".into(), json!(plan.storage));
        if let Some(class) = &self.settings.storage_class {
            storage.insert("storageClass".into(), json!(class));
        }
        spec.insert("storage".into(), Value::Object(storage));
        spec.insert("enableSuperuserAccess".into(), json!(false));
        spec.insert("primaryUpdateStrategy".into(), json!("unsupervised"));
        if !self.desired.parameters.is_empty() {
            spec.insert(
                "postgresql".into(),
                json!({"parameters": self.desired.parameters}),
            );
        }
        if self.desired.is_ha() {
            // One instance per node: losing a node must not take the primary and its replica.
            spec.insert(
                "affinity".into(),
                json!({"enablePodAntiAffinity": true, "podAntiAffinityType": "required",
                       "topologyKey": "kubernetes.io/hostname"}),
            );
        }
        spec.insert(
            "inheritedMetadata".into(),
            json!({"labels": self.owner.labels(), "annotations": self.owner.annotations()}),
        );
        if self.desired.plan.load_balancer {
            let mut template_meta = Map::new();
            template_meta.insert("name".into(), json!(self.names.load_balancer()));
            template_meta.insert("labels".into(), Value::Object(self.owner.labels()));
            if !self.settings.load_balancer_annotations.is_empty() {
                template_meta.insert(
                    "annotations".into(),
                    json!(self.settings.load_balancer_annotations),
                );
            }
            spec.insert(
                "managed".into(),
                json!({"services": {"additional": [{
                    "selectorType": "rw",
                    "updateStrategy": "patch",
                    "serviceTemplate": {"metadata": template_meta, "spec": {"type": "LoadBalancer"}},
                }]}}),
            );
        }
        if self.desired.pooler().is_some() {
            // Clients of the pooler see the cluster's server certificate; it must name the pooler.
            let pooler = self.names.pooler();
            let ns = &self.names.namespace;
            spec.insert(
                "certificates".into(),
                json!({"serverAltDNSNames": [
                    pooler.clone(), format!("{pooler}.{ns}"), format!("{pooler}.{ns}.svc"),
                ]}),
            );
        }
        if self.settings.backup.is_some() {
            spec.insert(
                "plugins".into(),
                json!([{"name": BARMAN_PLUGIN, "isWALArchiver": true,
                        "parameters": {"barmanObjectName": self.names.object_store()}}]),
            );
        }
        match (&self.desired.restore_from, &self.restore_source) {
            (Some(from), Some(source_cluster)) => {
                let mut recovery = Map::new();
                recovery.insert("source".into(), json!("origin"));
                recovery.insert("database".into(), json!(APP_DATABASE));
                recovery.insert("owner".into(), json!(APP_OWNER));
                if let Some(t) = &from.target_time {
                    recovery.insert("recoveryTarget".into(), json!({"targetTime": t}));
                }
                spec.insert("bootstrap".into(), json!({"recovery": recovery}));
                // Every store of this backend writes to the same destination, one folder per
                // server name, so this instance's own store reads the source's backups.
                spec.insert(
                    "externalClusters".into(),
                    json!([{"name": "origin", "plugin": {"name": BARMAN_PLUGIN, "parameters": {
                        "barmanObjectName": self.names.object_store(),
                        "serverName": source_cluster,
                    }}}]),
                );
            }
            _ => {
                spec.insert(
                    "bootstrap".into(),
                    json!({"initdb": {"database": APP_DATABASE, "owner": APP_OWNER}}),
                );
            }
        }
        json!({
            "apiVersion": Kind::Cluster.api_version(),
            "kind": Kind::Cluster.kind(),
            "metadata": metadata,
            "spec": spec,
        })
    }
}

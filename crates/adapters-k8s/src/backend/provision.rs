//! Provision and update: apply the instance's objects once per operation, then read readiness
//! from the cluster cache until CNPG reports the cluster healthy.

use std::collections::BTreeMap;

use pgbroker_domain::Reason;
use pgbroker_domain::ports::{InstanceRequest, ProvisionOutput, Step, StepFailure};
use serde_json::Value;
use tracing::info;

use super::CnpgBackend;
use crate::client::ApiError;
use crate::kinds::Kind;
use crate::labels::{INSTANCE, OPERATION, Owner, POSTGRES_VERSION};
use crate::manifests::InstanceManifests;
use crate::names::{InstanceNames, cluster_name, label_value};
use crate::plan::{Desired, InstanceParameters, desired};
use crate::quantity;
use crate::settings::NamespaceMode;

fn permanent<T>(reason: Reason, why: impl Into<String>) -> Step<T> {
    Step::Failed(StepFailure::permanent(reason, why))
}

/// Whether the cached Cluster shows this operation's apply.
pub(super) fn applied_by(cluster: Option<&Value>, req: &InstanceRequest) -> bool {
    cluster
        .and_then(|c| c.pointer("/metadata/annotations"))
        .and_then(|a| a.get(OPERATION))
        .and_then(Value::as_str)
        == Some(req.operation_id.to_string().as_str())
}

impl CnpgBackend {
    pub(super) async fn provision_step(
        &self,
        req: &InstanceRequest,
    ) -> Result<Step<ProvisionOutput>, ApiError> {
        let desired = match desired(&self.settings, &req.plan, &req.spec.parameters) {
            Ok(d) => d,
            Err(e) => return Ok(permanent(e.reason(), e.to_string())),
        };
        let names = match InstanceNames::new(&self.settings, &req.instance_id, &req.spec.context) {
            Ok(names) => names,
            Err(why) => return Ok(permanent(Reason::InvalidSpec, why)),
        };
        let cache = self.cache().await?;
        let cached = cache.get(&names.namespace, &names.cluster);
        if !applied_by(cached.as_ref(), req) {
            self.apply_instance(req, &desired, &names, Vec::new())
                .await?;
            info!(instance_id = %req.instance_id, cluster = %names.cluster, namespace = %names.namespace, "instance objects applied");
        }
        Ok(match self.readiness(cache, req, &names, &desired).await? {
            Step::Done(()) => Step::Done(ProvisionOutput::default()),
            Step::InProgress {
                description,
                retry_after,
            } => Step::InProgress {
                description,
                retry_after,
            },
            Step::Failed(f) => Step::Failed(f),
        })
    }

    pub(super) async fn update_step(&self, req: &InstanceRequest) -> Result<Step<()>, ApiError> {
        let desired = match desired(&self.settings, &req.plan, &req.spec.parameters) {
            Ok(d) => d,
            Err(e) => return Ok(permanent(e.reason(), e.to_string())),
        };
        let names = match InstanceNames::new(&self.settings, &req.instance_id, &req.spec.context) {
            Ok(names) => names,
            Err(why) => return Ok(permanent(Reason::InvalidSpec, why)),
        };
        // The Cluster stays where it is: an update whose context names another namespace
        // cannot move it there.
        if let Some(previous) = &req.previous
            && let Ok(now) = InstanceNames::new(&self.settings, &req.instance_id, &previous.context)
            && now.namespace != names.namespace
        {
            return Ok(permanent(
                Reason::InvalidSpec,
                format!(
                    "the instance lives in namespace {} and cannot move to namespace {}",
                    now.namespace, names.namespace
                ),
            ));
        }
        let cache = self.cache().await?;
        let cached = cache.get(&names.namespace, &names.cluster);
        if !applied_by(cached.as_ref(), req) {
            let current = match cached {
                Some(c) => c,
                None => match self
                    .objects(Kind::Cluster, &names.namespace)
                    .await?
                    .get(&names.cluster)
                    .await?
                {
                    Some(c) => c,
                    None => {
                        return Ok(permanent(
                            Reason::NotFound,
                            format!(
                                "the instance's Cluster {}/{} does not exist",
                                names.namespace, names.cluster
                            ),
                        ));
                    }
                },
            };
            let previous: InstanceParameters = req
                .previous
                .as_ref()
                .and_then(|p| serde_json::from_value(Value::Object(p.parameters.clone())).ok())
                .unwrap_or_default();
            if let Some(why) = refuse_update(&current, &previous, &desired) {
                return Ok(permanent(Reason::Unsupported, why));
            }
            let dropped = previous
                .extensions
                .into_iter()
                .filter(|e| !desired.extensions.contains(e))
                .collect();
            self.apply_instance(req, &desired, &names, dropped).await?;
            info!(instance_id = %req.instance_id, cluster = %names.cluster, "instance objects updated");
        }
        self.readiness(cache, req, &names, &desired).await
    }

    async fn apply_instance(
        &self,
        req: &InstanceRequest,
        desired: &Desired,
        names: &InstanceNames,
        dropped_extensions: Vec<String>,
    ) -> Result<(), ApiError> {
        let manifests = InstanceManifests {
            settings: &self.settings,
            names,
            owner: Owner {
                backend: &self.name,
                instance_id: &req.instance_id,
                spec: &req.spec,
                binding_id: None,
            },
            desired,
            operation: req.operation_id,
            restore_source: desired
                .restore_from
                .as_ref()
                .map(|r| cluster_name(&self.settings.name_prefix, &r.instance_id)),
            dropped_extensions,
        };
        let ns = &names.namespace;
        if self.settings.namespace == NamespaceMode::PerInstance {
            let client = self.connector.client().await?;
            let namespaces = crate::client::Objects::new(client, Kind::Namespace, None);
            // Applying would adopt a namespace someone else made, and deprovision would then
            // delete it with everything in it.
            if let Some(existing) = namespaces.get(ns).await?
                && !owned_by(&existing, &req.instance_id)
            {
                return Err(ApiError::NotOurs(format!(
                    "namespace {ns} already exists and was not made for instance {}",
                    req.instance_id
                )));
            }
            namespaces.apply(&manifests.namespace()).await?;
        }
        if let Some(creds) = self
            .settings
            .backup
            .as_ref()
            .and_then(|b| b.s3_credentials.as_ref())
            && let Some(source_ns) = &creds.source_namespace
        {
            let source = self
                .objects(Kind::Secret, source_ns)
                .await?
                .get(&creds.secret_name)
                .await?;
            let data: BTreeMap<String, Value> = source
                .as_ref()
                .and_then(|s| s.get("data"))
                .and_then(Value::as_object)
                .map(|m| m.clone().into_iter().collect())
                .unwrap_or_default();
            if data.is_empty() {
                return Err(ApiError::Config(format!(
                    "backup credentials secret {source_ns}/{} is missing or empty",
                    creds.secret_name
                )));
            }
            self.objects(Kind::Secret, ns)
                .await?
                .apply(&manifests.backup_credentials(&data))
                .await?;
        }
        let extras = [
            (Kind::ObjectStore, manifests.object_store()),
            (Kind::PodMonitor, manifests.pod_monitor()),
            (Kind::Pooler, manifests.pooler()),
            (Kind::PodMonitor, manifests.pooler_pod_monitor()),
            (Kind::Database, manifests.database()),
            (Kind::ScheduledBackup, manifests.scheduled_backup()),
        ];
        for (kind, manifest) in extras {
            if let Some(m) = manifest {
                self.objects(kind, ns).await?.apply(&m).await?;
            }
        }
        if manifests.pooler().is_none() {
            // A plan change away from HA drops the pooler (a no-op when there never was one).
            self.objects(Kind::Pooler, ns)
                .await?
                .delete(&names.pooler())
                .await?;
            if self.settings.monitoring {
                self.objects(Kind::PodMonitor, ns)
                    .await?
                    .delete(&names.pooler_pod_monitor())
                    .await?;
            }
        }
        // Last: a cached Cluster with this operation's id means everything above is in place.
        let clusters = self.objects(Kind::Cluster, ns).await?;
        if let Some(existing) = clusters.get(&names.cluster).await?
            && !owned_by(&existing, &req.instance_id)
        {
            return Err(ApiError::NotOurs(format!(
                "Cluster {ns}/{} already exists and was not made for instance {}",
                names.cluster, req.instance_id
            )));
        }
        clusters.apply(&manifests.cluster()).await
    }
}

/// Whether an object carries the instance label of `id`.
pub(super) fn owned_by(object: &Value, id: &pgbroker_domain::InstanceId) -> bool {
    object
        .pointer("/metadata/labels")
        .and_then(|l| l.get(INSTANCE))
        .and_then(Value::as_str)
        == Some(label_value(id.as_str()).as_str())
}

/// Changes a plan update may not make, in words for the platform.
fn refuse_update(
    current: &Value,
    previous: &InstanceParameters,
    desired: &Desired,
) -> Option<String> {
    let have = current
        .pointer("/spec/storage/size")
        .and_then(Value::as_str);
    if let Some(have) = have
        && let (Some(h), Some(w)) = (
            quantity::parse(have),
            quantity::parse(&desired.plan.storage),
        )
        && w < h
    {
        return Some(format!(
            "storage can only grow: the cluster has {have}, the new plan {}",
            desired.plan.storage
        ));
    }
    let major = current
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(POSTGRES_VERSION))
        .and_then(Value::as_str)
        .and_then(|v| v.parse::<u32>().ok());
    if let Some(major) = major
        && desired.major < major
    {
        return Some(format!(
            "postgres_version cannot go down from {major} to {}",
            desired.major
        ));
    }
    if previous.restore_from != desired.restore_from {
        return Some("restore_from can only be given when the instance is created".into());
    }
    None
}

//! Deprovision: delete what the instance's provision made and report done only once it is gone;
//! or, in retain mode, keep a cluster that holds data.

use pgbroker_domain::ports::{InstanceRequest, Step};
use serde_json::json;
use tracing::info;

use super::CnpgBackend;
use crate::client::{ApiError, Objects};
use crate::kinds::Kind;
use crate::labels::{INSTANCE, instance_selector};
use crate::names::{InstanceNames, label_value};
use crate::settings::NamespaceMode;
use crate::status::initialized;

impl CnpgBackend {
    pub(super) async fn deprovision_step(
        &self,
        req: &InstanceRequest,
    ) -> Result<Step<()>, ApiError> {
        let names = InstanceNames::new(&self.settings, &req.instance_id);
        let ns = names.namespace.as_str();
        let clusters = self.objects(Kind::Cluster, ns).await?;
        if self.settings.retain_on_deprovision
            && let Some(cluster) = clusters.get(&names.cluster).await?
            && initialized(&cluster)
        {
            let at = chrono::Utc::now().to_rfc3339();
            clusters
                .merge(
                    &names.cluster,
                    &json!({"metadata": {"annotations": {"pgbroker.io/retained": at}}}),
                )
                .await?;
            info!(instance_id = %req.instance_id, cluster = %names.cluster, "cluster retained on deprovision");
            return Ok(Step::Done(()));
        }
        let selector = instance_selector(&self.name, &req.instance_id);
        // Roles and the database first: CNPG drops them in PostgreSQL through their finalizers,
        // which needs the cluster still running.
        let mut waiting = Vec::new();
        for kind in [Kind::DatabaseRole, Kind::Database] {
            let objects = self.objects(kind, ns).await?;
            for name in objects.names(&selector).await? {
                if !objects.delete(&name).await? {
                    waiting.push(format!("{} {name}", kind.kind()));
                }
            }
        }
        if !waiting.is_empty() {
            return Ok(Step::in_progress(
                format!("waiting for {} to be deleted", waiting.join(", ")),
                self.poll(),
            ));
        }
        let singles = [
            (Kind::ScheduledBackup, names.scheduled_backup()),
            (Kind::Pooler, names.pooler()),
            (Kind::PodMonitor, names.pod_monitor()),
            (Kind::PodMonitor, names.pooler_pod_monitor()),
            (Kind::Cluster, names.cluster.clone()),
            (Kind::ObjectStore, names.object_store()),
        ];
        for (kind, name) in singles {
            if !self.kind_in_use(kind) {
                continue;
            }
            if !self.objects(kind, ns).await?.delete(&name).await? {
                waiting.push(format!("{} {name}", kind.kind()));
            }
        }
        let secrets = self.objects(Kind::Secret, ns).await?;
        for name in secrets.names(&selector).await? {
            if !secrets.delete(&name).await? {
                waiting.push(format!("Secret {name}"));
            }
        }
        if self.settings.namespace == NamespaceMode::PerInstance {
            let namespaces = Objects::new(self.connector.client().await?, Kind::Namespace, None);
            match namespaces.get(ns).await? {
                // Only a namespace this instance's provision made is removed.
                Some(n)
                    if n.pointer("/metadata/labels")
                        .and_then(|l| l.get(INSTANCE))
                        .and_then(|v| v.as_str())
                        == Some(label_value(req.instance_id.as_str()).as_str()) =>
                {
                    namespaces.delete(ns).await?;
                    waiting.push(format!("Namespace {ns}"));
                }
                _ => {}
            }
        }
        if waiting.is_empty() {
            info!(instance_id = %req.instance_id, cluster = %names.cluster, "instance objects deleted");
            return Ok(Step::Done(()));
        }
        Ok(Step::in_progress(
            format!("waiting for {} to be deleted", waiting.join(", ")),
            self.poll(),
        ))
    }

    /// Kinds the settings never make are not asked about (their CRDs may not be installed).
    pub(super) fn kind_in_use(&self, kind: Kind) -> bool {
        match kind {
            Kind::PodMonitor => self.settings.monitoring,
            Kind::ObjectStore | Kind::ScheduledBackup => self.settings.backup.is_some(),
            _ => true,
        }
    }
}

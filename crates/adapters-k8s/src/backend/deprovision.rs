//! Deprovision: delete what the instance's provision made and report done only once it is gone;
//! or, in retain mode (the settings' `retain_on_deprovision` or the request's deletion policy),
//! keep a cluster that holds data. Objects are found by the instance's
//! labels, never by name alone, so an object someone else made under the same name is left be.

use pgbroker_domain::ports::{InstanceRequest, Step};
use serde_json::json;
use tracing::info;

use super::CnpgBackend;
use super::provision::owned_by;
use crate::client::{ApiError, Objects};
use crate::kinds::Kind;
use crate::labels::instance_selector;
use crate::names::InstanceNames;
use crate::settings::NamespaceMode;
use crate::status::initialized;

/// Deleted first: CNPG drops roles and databases in PostgreSQL through their finalizers, which
/// needs the cluster still running.
const FIRST: [Kind; 2] = [Kind::DatabaseRole, Kind::Database];
/// Services are CNPG's and go with their Cluster (owner references).
const THEN: [Kind; 6] = [
    Kind::ScheduledBackup,
    Kind::Pooler,
    Kind::PodMonitor,
    Kind::Cluster,
    Kind::ObjectStore,
    Kind::Secret,
];

impl CnpgBackend {
    pub(super) async fn deprovision_step(
        &self,
        req: &InstanceRequest,
    ) -> Result<Step<()>, ApiError> {
        // Without a namespace to look in, no provision can have made anything.
        let Ok(names) = InstanceNames::new(&self.settings, &req.instance_id, &req.spec.context)
        else {
            return Ok(Step::Done(()));
        };
        let ns = names.namespace.as_str();
        if self.settings.retain_on_deprovision || req.deletion_policy.retains() {
            let clusters = self.objects(Kind::Cluster, ns).await?;
            if let Some(cluster) = clusters.get(&names.cluster).await?
                && owned_by(&cluster, &req.instance_id)
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
        }
        let mut waiting = self.delete_labelled(req, ns, &FIRST).await?;
        if waiting.is_empty() {
            waiting = self.delete_labelled(req, ns, &THEN).await?;
        }
        if waiting.is_empty() && self.settings.namespace == NamespaceMode::PerInstance {
            let namespaces = Objects::new(self.connector.client().await?, Kind::Namespace, None);
            // Only a namespace this instance's provision made is removed.
            if let Some(n) = namespaces.get(ns).await?
                && owned_by(&n, &req.instance_id)
            {
                namespaces.delete(ns).await?;
                waiting.push(format!("Namespace {ns}"));
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

    /// Asks for the deletion of every object of `kinds` labelled with the instance; returns
    /// those that still exist.
    async fn delete_labelled(
        &self,
        req: &InstanceRequest,
        ns: &str,
        kinds: &[Kind],
    ) -> Result<Vec<String>, ApiError> {
        let selector = instance_selector(&self.name, &req.instance_id);
        let mut waiting = Vec::new();
        for &kind in kinds {
            if !self.kind_in_use(kind) {
                continue;
            }
            let objects = self.objects(kind, ns).await?;
            for name in objects.names(&selector).await? {
                if !objects.delete(&name).await? {
                    waiting.push(format!("{} {name}", kind.kind()));
                }
            }
        }
        Ok(waiting)
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

//! Deleting an Aurora cluster (its instances first, then the cluster with its final snapshot),
//! or keeping it tagged retained; and the cluster behind a bind or unbind.

use aws_sdk_rds::types::{DbCluster, Tag};
use pgbroker_domain::ports::{InstanceRequest, Step};
use pgbroker_domain::{InstanceId, Reason};

use crate::aws::AwsBackend;
use crate::aws::error::AwsError;
use crate::aws::names::RETAINED_TAG;
use crate::aws::tenant::Endpoint;

impl AwsBackend {
    pub(crate) async fn aurora_deprovision(
        &self,
        req: &InstanceRequest,
    ) -> Result<Step<()>, AwsError> {
        let id = &req.instance_id;
        let identifier = self.identifier(id, &req.spec.context);
        let Some(cluster) = self.describe_cluster(&identifier).await? else {
            self.forget_tenant(&identifier);
            self.delete_cluster_parameter_group(&identifier, id).await?;
            return Ok(Step::Done(()));
        };
        self.ensure_ours(&identifier, id, cluster.tag_list())?;
        if req.deletion_policy.retains() {
            self.tag_cluster_retained(&cluster, &identifier, req)
                .await?;
            self.forget_tenant(&identifier);
            return Ok(Step::Done(()));
        }
        if cluster.deletion_protection() == Some(true) {
            return Err(AwsError::permanent(
                Reason::InvalidState,
                format!(
                    "instance {id}: DB cluster {identifier} has deletion protection; release it with `aws rds modify-db-cluster --db-cluster-identifier {identifier} --no-deletion-protection --apply-immediately`, then deprovision again"
                ),
            ));
        }
        let status = cluster.status().unwrap_or("unknown");
        if status == "deleting" {
            return Ok(self.cluster_waiting(&identifier, status, "waiting for it to be gone"));
        }
        // The members go first: a cluster with instances cannot be deleted.
        let mut waiting = Vec::new();
        for member in cluster.db_cluster_members() {
            let Some(name) = member.db_instance_identifier() else {
                continue;
            };
            match self.describe_instance(name).await? {
                None => {}
                Some(db) if db.db_instance_status() == Some("deleting") => {
                    waiting.push(name.to_string())
                }
                Some(_) => {
                    self.delete_member(name).await?;
                    waiting.push(name.to_string());
                }
            }
        }
        if !waiting.is_empty() {
            return Ok(self.cluster_waiting(
                &identifier,
                status,
                &format!("deleting its instances ({})", waiting.join(", ")),
            ));
        }
        let snapshot = self
            .settings
            .final_snapshot
            .then(|| format!("{identifier}-final"));
        self.clients()
            .await
            .rds
            .delete_db_cluster()
            .db_cluster_identifier(&identifier)
            .skip_final_snapshot(snapshot.is_none())
            .set_final_db_snapshot_identifier(snapshot.clone())
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    format!("instance {id}: deleting DB cluster {identifier}"),
                    &e,
                )
            })?;
        self.forget_tenant(&identifier);
        let doing = match &snapshot {
            Some(s) => format!("deleting it after final snapshot {s}"),
            None => "deleting it without a final snapshot".to_string(),
        };
        Ok(self.cluster_waiting(&identifier, "deleting", &doing))
    }

    async fn tag_cluster_retained(
        &self,
        cluster: &DbCluster,
        identifier: &str,
        req: &InstanceRequest,
    ) -> Result<(), AwsError> {
        let arn = cluster.db_cluster_arn().ok_or_else(|| {
            AwsError::permanent(
                Reason::BackendFailed,
                format!("DB cluster {identifier}: AWS reports no ARN"),
            )
        })?;
        self.add_retained_tag(arn, identifier, req).await
    }

    pub(crate) async fn add_retained_tag(
        &self,
        arn: &str,
        identifier: &str,
        req: &InstanceRequest,
    ) -> Result<(), AwsError> {
        let tag = Tag::builder()
            .key(RETAINED_TAG)
            .value(req.operation_id.to_string())
            .build();
        self.clients()
            .await
            .rds
            .add_tags_to_resource()
            .resource_name(arn)
            .tags(tag)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("DB {identifier}: tagging it retained"), &e))?;
        Ok(())
    }

    /// The cluster of a bind or unbind's instance, which must be this backend's.
    pub(crate) async fn cluster_of(
        &self,
        id: &InstanceId,
        identifier: &str,
    ) -> Result<Option<Endpoint>, AwsError> {
        let Some(cluster) = self.describe_cluster(identifier).await? else {
            return Ok(None);
        };
        self.ensure_ours(identifier, id, cluster.tag_list())?;
        Self::cluster_endpoint(&cluster).map(Some)
    }
}

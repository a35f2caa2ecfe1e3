//! Deleting an Aurora cluster (its instances first, then the cluster with its final snapshot),
//! or keeping it tagged retained; and the cluster behind a bind or unbind.

use pgbroker_domain::InstanceId;
use pgbroker_domain::ports::{InstanceRequest, Step};

use crate::aws::AwsBackend;
use crate::aws::error::AwsError;
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
            self.tag_retained(cluster.db_cluster_arn(), &identifier, req)
                .await?;
            return Ok(Step::Done(()));
        }
        if cluster.deletion_protection() == Some(true) {
            let release = format!("aws rds modify-db-cluster --db-cluster-identifier {identifier}");
            return Err(Self::protected(id, "DB cluster", &identifier, &release));
        }
        let status = cluster.status().unwrap_or("unknown");
        if status == "deleting" {
            return Ok(self.waiting(
                "DB cluster",
                &identifier,
                status,
                "waiting for it to be gone",
            ));
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
            return Ok(self.waiting(
                "DB cluster",
                &identifier,
                status,
                &format!("deleting its instances ({})", waiting.join(", ")),
            ));
        }
        let snapshot = self.final_snapshot(&identifier);
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
        Ok(self.deleting("DB cluster", &identifier, snapshot.as_deref()))
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

//! An Aurora cluster's instances: the writer, and a reader in another zone for Multi-AZ plans.

use aws_sdk_rds::types::DbCluster;
use pgbroker_domain::ports::{InstanceRequest, ProvisionOutput, Step};

use super::{AVAILABLE, members};
use crate::aws::AwsBackend;
use crate::aws::error::AwsError;
use crate::aws::plan::Desired;

impl AwsBackend {
    /// Creates the members the cluster lacks and deletes those it should no longer have
    /// (a reader when Multi-AZ is switched off); `Some` while that is under way.
    pub(super) async fn ensure_members(
        &self,
        cluster: &DbCluster,
        req: &InstanceRequest,
        desired: &Desired,
    ) -> Result<Option<Step<ProvisionOutput>>, AwsError> {
        let identifier = cluster
            .db_cluster_identifier()
            .unwrap_or_default()
            .to_string();
        let (writer, reader) = self.member_names(req);
        let wanted = members(&writer, &reader, desired);
        let have: Vec<String> = cluster
            .db_cluster_members()
            .iter()
            .filter_map(|m| m.db_instance_identifier().map(str::to_string))
            .collect();
        if let Some(name) = wanted.iter().find(|n| !have.contains(n)) {
            self.create_member(&identifier, name, req, desired).await?;
            return Ok(Some(self.waiting(
                "DB cluster",
                &identifier,
                cluster.status().unwrap_or("unknown"),
                &format!("adding instance {name}"),
            )));
        }
        if let Some(name) = have.iter().find(|n| **n == reader && !wanted.contains(n)) {
            self.delete_member(name).await?;
            return Ok(Some(self.waiting(
                "DB cluster",
                &identifier,
                "modifying",
                &format!("removing instance {name}"),
            )));
        }
        for name in &wanted {
            let Some(db) = self.describe_instance(name).await? else {
                return Ok(Some(self.waiting(
                    "DB cluster",
                    &identifier,
                    "modifying",
                    &format!("waiting for instance {name}"),
                )));
            };
            let status = db.db_instance_status().unwrap_or("unknown");
            if status != AVAILABLE {
                return Ok(Some(Step::in_progress(
                    format!("DB instance {name} of cluster {identifier} is {status} (AWS status)"),
                    self.poll(),
                )));
            }
        }
        Ok(None)
    }

    async fn create_member(
        &self,
        cluster: &str,
        name: &str,
        req: &InstanceRequest,
        desired: &Desired,
    ) -> Result<(), AwsError> {
        let s = &self.settings;
        self.clients()
            .await
            .rds
            .create_db_instance()
            .db_instance_identifier(name)
            .db_cluster_identifier(cluster)
            .engine("aurora-postgresql")
            .db_instance_class(&desired.class.instance_type)
            .publicly_accessible(s.public_access)
            .set_tags(Some(self.tags(&req.instance_id, &req.spec.context)))
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    format!("instance {}: creating DB instance {name} (class {} = {}) in cluster {cluster}", req.instance_id, desired.class_name, desired.class.instance_type),
                    &e,
                )
            })?;
        Ok(())
    }

    pub(super) async fn delete_member(&self, name: &str) -> Result<(), AwsError> {
        // A cluster's instances have no backups of their own: the cluster's snapshot holds the data.
        self.clients()
            .await
            .rds
            .delete_db_instance()
            .db_instance_identifier(name)
            .skip_final_snapshot(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("DB instance {name}: deleting it"), &e))?;
        Ok(())
    }
}

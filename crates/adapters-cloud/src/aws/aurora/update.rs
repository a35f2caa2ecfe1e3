//! Updating an Aurora cluster: its members, the cluster's settings (backup retention,
//! Serverless v2 capacity, parameter group), then each instance's class.

use pgbroker_domain::Reason;
use pgbroker_domain::ports::{InstanceRequest, Step};

use super::{AVAILABLE, members, scaling};
use crate::aws::AwsBackend;
use crate::aws::error::AwsError;

impl AwsBackend {
    pub(crate) async fn aurora_update(&self, req: &InstanceRequest) -> Result<Step<()>, AwsError> {
        let id = &req.instance_id;
        let desired = self.aurora_desired(req)?;
        let identifier = self.identifier(id, &req.spec.context);
        let cluster = self.describe_cluster(&identifier).await?.ok_or_else(|| {
            AwsError::permanent(
                Reason::NotFound,
                format!("instance {id}: DB cluster {identifier} is gone"),
            )
        })?;
        self.ensure_ours(&identifier, id, cluster.tag_list())?;
        let status = cluster.status().unwrap_or("unknown");
        if status != AVAILABLE {
            return Ok(self.waiting(
                "DB cluster",
                &identifier,
                status,
                "waiting to apply the change",
            ));
        }
        if let Some(step) = self.ensure_members(&cluster, req, &desired).await? {
            return Ok(match step {
                Step::InProgress {
                    description,
                    retry_after,
                } => Step::InProgress {
                    description,
                    retry_after,
                },
                Step::Done(_) => Step::Done(()),
                Step::Failed(f) => Step::Failed(f),
            });
        }
        let immediately = self.settings.apply_immediately;
        let when = if immediately {
            "applied immediately"
        } else {
            "applied in the next maintenance window"
        };
        let group = self
            .ensure_cluster_parameter_group(&identifier, req, &desired)
            .await?;
        if let Some(change) =
            crate::aws::modify::cluster_changes(&cluster, &desired, group.as_deref())
        {
            self.clients()
                .await
                .rds
                .modify_db_cluster()
                .db_cluster_identifier(&identifier)
                .apply_immediately(immediately)
                .set_backup_retention_period(change.backup_retention_days)
                .set_serverless_v2_scaling_configuration(
                    change.scaling.then(|| scaling(&desired)).flatten(),
                )
                .set_db_cluster_parameter_group_name(change.parameter_group.clone())
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(
                        format!("instance {id}: modifying DB cluster {identifier} ({change})"),
                        &e,
                    )
                })?;
            return Ok(Step::in_progress(
                format!("DB cluster {identifier}: {change} requested, {when}"),
                self.poll(),
            ));
        }
        let (writer, reader) = self.member_names(req);
        for name in members(&writer, &reader, &desired) {
            let Some(db) = self.describe_instance(&name).await? else {
                continue;
            };
            let pending = db
                .pending_modified_values()
                .and_then(|p| p.db_instance_class());
            let class = pending.or(db.db_instance_class());
            if class != Some(desired.class.instance_type.as_str()) {
                self.clients()
                    .await
                    .rds
                    .modify_db_instance()
                    .db_instance_identifier(&name)
                    .apply_immediately(immediately)
                    .db_instance_class(&desired.class.instance_type)
                    .send()
                    .await
                    .map_err(|e| {
                        AwsError::from_sdk(
                            format!("instance {id}: modifying DB instance {name}"),
                            &e,
                        )
                    })?;
                return Ok(Step::in_progress(
                    format!(
                        "DB instance {name}: class {} requested, {when}",
                        desired.class.instance_type
                    ),
                    self.poll(),
                ));
            }
        }
        let endpoint = Self::cluster_endpoint(&cluster)?;
        self.sql_provision(&endpoint, req, &desired.extensions, true)
            .await?;
        Ok(Step::Done(()))
    }
}

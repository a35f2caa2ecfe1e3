//! `aws-aurora`: one Aurora PostgreSQL DB cluster per instance, with a writer instance (and a
//! reader in another zone for Multi-AZ plans); Serverless v2 when the class is `db.serverless`
//! (its `min_capacity`/`max_capacity`). Each step describes the cluster and its members first,
//! so it continues wherever the last one stopped.

mod members;
mod teardown;
mod update;

use aws_sdk_rds::operation::describe_db_clusters::DescribeDBClustersError;
use aws_sdk_rds::types::{DbCluster, ServerlessV2ScalingConfiguration};
use pgbroker_domain::ports::{InstanceRequest, ProvisionOutput, Step};

use super::AwsBackend;
use super::error::AwsError;
use super::plan::Desired;
use super::tenant::Endpoint;

const AVAILABLE: &str = "available";

pub(super) fn members(writer: &str, reader: &str, desired: &Desired) -> Vec<String> {
    let mut names = vec![writer.to_string()];
    if desired.multi_az {
        names.push(reader.to_string());
    }
    names
}

pub(super) fn scaling(desired: &Desired) -> Option<ServerlessV2ScalingConfiguration> {
    let class = &desired.class;
    class.is_serverless().then(|| {
        ServerlessV2ScalingConfiguration::builder()
            .set_min_capacity(class.min_capacity)
            .set_max_capacity(class.max_capacity)
            .build()
    })
}

impl AwsBackend {
    pub(crate) async fn describe_cluster(
        &self,
        identifier: &str,
    ) -> Result<Option<DbCluster>, AwsError> {
        let call = self.clients().await.rds.describe_db_clusters();
        let out = AwsError::found(
            call.db_cluster_identifier(identifier).send().await,
            DescribeDBClustersError::is_db_cluster_not_found_fault,
            format_args!("DB cluster {identifier}: describing it"),
        )?;
        Ok(out.and_then(|o| o.db_clusters().first().cloned()))
    }

    /// The SQL endpoint of a cluster (its writer endpoint).
    pub(crate) fn cluster_endpoint(cluster: &DbCluster) -> Result<Endpoint, AwsError> {
        Endpoint::new(
            cluster
                .db_cluster_identifier()
                .unwrap_or_default()
                .to_string(),
            cluster.endpoint(),
            cluster.port(),
            cluster.master_username(),
            cluster.master_user_secret().and_then(|s| s.secret_arn()),
        )
    }

    /// The writer's and the reader's identifiers (`name_pattern` with `-writer`, `-reader`).
    pub(super) fn member_names(&self, req: &InstanceRequest) -> (String, String) {
        let vars = crate::aws::names::Vars::of(&req.instance_id, &req.spec.context);
        (
            self.writer_pattern.identifier(&vars),
            self.reader_pattern.identifier(&vars),
        )
    }

    pub(crate) async fn aurora_provision(
        &self,
        req: &InstanceRequest,
    ) -> Result<Step<ProvisionOutput>, AwsError> {
        let id = &req.instance_id;
        let desired = self.aurora_desired(req)?;
        let identifier = self.identifier(id, &req.spec.context);
        let Some(cluster) = self.describe_cluster(&identifier).await? else {
            let group = self
                .ensure_cluster_parameter_group(&identifier, req, &desired)
                .await?;
            self.create_cluster(&identifier, req, &desired, group)
                .await?;
            return Ok(self.waiting(
                "DB cluster",
                &identifier,
                "creating",
                "waiting for it to be available",
            ));
        };
        self.ensure_ours(&identifier, id, cluster.tag_list())?;
        if let Some(step) = self.ensure_members(&cluster, req, &desired).await? {
            return Ok(step);
        }
        let status = cluster.status().unwrap_or("unknown");
        if status != AVAILABLE {
            return Ok(self.waiting(
                "DB cluster",
                &identifier,
                status,
                "waiting for it to be available",
            ));
        }
        let endpoint = Self::cluster_endpoint(&cluster)?;
        self.sql_provision(&endpoint, req, &desired.extensions, false)
            .await?;
        Ok(Step::Done(ProvisionOutput::default()))
    }

    /// The plan's request, checked for Aurora: an Aurora storage type, if any.
    pub(super) fn aurora_desired(&self, req: &InstanceRequest) -> Result<Desired, AwsError> {
        let desired = Desired::of(&self.settings, req)?;
        if let Some(t) = desired.class.storage_type
            && !t.is_aurora()
        {
            return Err(AwsError::invalid(format!(
                "instance {}: class {} has storage_type {}, which Aurora does not have (aurora or aurora-iopt1)",
                req.instance_id,
                desired.class_name,
                t.as_str()
            )));
        }
        Ok(desired)
    }

    async fn create_cluster(
        &self,
        identifier: &str,
        req: &InstanceRequest,
        desired: &Desired,
        parameter_group: Option<String>,
    ) -> Result<(), AwsError> {
        let s = &self.settings;
        self.clients()
            .await
            .rds
            .create_db_cluster()
            .db_cluster_identifier(identifier)
            .engine("aurora-postgresql")
            .engine_version(desired.major.to_string())
            .master_username(&s.admin_username)
            // RDS makes the password and keeps it in Secrets Manager.
            .manage_master_user_password(true)
            .backup_retention_period(desired.backup_retention_days)
            .set_db_subnet_group_name(s.subnet_group.clone())
            .set_vpc_security_group_ids(
                (!s.vpc_security_group_ids.is_empty()).then(|| s.vpc_security_group_ids.clone()),
            )
            .set_availability_zones(
                (!s.availability_zones.is_empty()).then(|| s.availability_zones.clone()),
            )
            .deletion_protection(s.deletion_protection)
            .storage_encrypted(true)
            .copy_tags_to_snapshot(true)
            // `aurora` (standard) is the default; only I/O-Optimized is asked for by name.
            .set_storage_type(
                desired
                    .class
                    .storage_type
                    .filter(|t| *t == crate::aws::StorageType::AuroraIopt1)
                    .map(|t| t.as_str().to_string()),
            )
            .set_serverless_v2_scaling_configuration(scaling(desired))
            .set_db_cluster_parameter_group_name(parameter_group)
            .set_tags(Some(self.tags(&req.instance_id, &req.spec.context)))
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    format!(
                        "instance {}: creating DB cluster {identifier}",
                        req.instance_id
                    ),
                    &e,
                )
            })?;
        tracing::info!(instance_id = %req.instance_id, db = %identifier, "DB cluster creation requested");
        Ok(())
    }
}

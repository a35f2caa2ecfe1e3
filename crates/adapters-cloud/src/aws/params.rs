//! Server parameters: a DB parameter group per instance (a DB cluster parameter group for
//! Aurora), named after its DB, made when the instance sets parameters (from the backend's
//! allow-list) and deleted with the DB. The group's description marks it as the instance's: a
//! group of that name without the mark is not ours.

use aws_sdk_rds::operation::describe_db_cluster_parameter_groups::DescribeDBClusterParameterGroupsError;
use aws_sdk_rds::operation::describe_db_parameter_groups::DescribeDBParameterGroupsError;
use aws_sdk_rds::types::{ApplyMethod, Parameter};
use pgbroker_domain::ports::InstanceRequest;
use pgbroker_domain::{InstanceId, Reason};

use super::AwsBackend;
use super::error::AwsError;
use super::plan::Desired;

/// ModifyDBParameterGroup takes at most this many parameters per call.
const PER_CALL: usize = 20;

fn mark(id: &InstanceId) -> String {
    format!("pgbroker instance {id}")
}

/// Which kind of parameter group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Instance,
    Cluster,
}

impl Level {
    fn what(self) -> &'static str {
        match self {
            Self::Instance => "DB parameter group",
            Self::Cluster => "DB cluster parameter group",
        }
    }
}

impl AwsBackend {
    /// The group's description, if the group exists.
    async fn group_description(
        &self,
        level: Level,
        name: &str,
    ) -> Result<Option<String>, AwsError> {
        let rds = &self.clients().await.rds;
        let doing = format!("{} {name}: describing it", level.what());
        let description = |d: Option<&str>| d.unwrap_or_default().to_string();
        Ok(match level {
            Level::Instance => AwsError::found(
                rds.describe_db_parameter_groups()
                    .db_parameter_group_name(name)
                    .send()
                    .await,
                DescribeDBParameterGroupsError::is_db_parameter_group_not_found_fault,
                &doing,
            )?
            .and_then(|o| {
                o.db_parameter_groups()
                    .first()
                    .map(|g| description(g.description()))
            }),
            Level::Cluster => AwsError::found(
                rds.describe_db_cluster_parameter_groups()
                    .db_cluster_parameter_group_name(name)
                    .send()
                    .await,
                DescribeDBClusterParameterGroupsError::is_db_parameter_group_not_found_fault,
                &doing,
            )?
            .and_then(|o| {
                o.db_cluster_parameter_groups()
                    .first()
                    .map(|g| description(g.description()))
            }),
        })
    }

    /// The instance's parameter group with `desired.parameters` set, if it has any (or had:
    /// a group once made stays the instance's); `None` keeps RDS's default group.
    pub(crate) async fn ensure_parameter_group(
        &self,
        identifier: &str,
        req: &InstanceRequest,
        desired: &Desired,
    ) -> Result<Option<String>, AwsError> {
        self.ensure_group(Level::Instance, identifier, req, desired)
            .await
    }

    /// As [`Self::ensure_parameter_group`], for an Aurora cluster.
    pub(crate) async fn ensure_cluster_parameter_group(
        &self,
        identifier: &str,
        req: &InstanceRequest,
        desired: &Desired,
    ) -> Result<Option<String>, AwsError> {
        self.ensure_group(Level::Cluster, identifier, req, desired)
            .await
    }

    async fn ensure_group(
        &self,
        level: Level,
        name: &str,
        req: &InstanceRequest,
        desired: &Desired,
    ) -> Result<Option<String>, AwsError> {
        let id = &req.instance_id;
        let what = level.what();
        let existing = self.group_description(level, name).await?;
        if existing.is_none() && desired.parameters.is_empty() {
            return Ok(None);
        }
        let rds = &self.clients().await.rds;
        let doing = |verb: &str| format!("instance {id}: {verb} {what} {name}");
        match existing {
            Some(description) if description != mark(id) => {
                return Err(AwsError::permanent(
                    Reason::ForeignObject,
                    format!(
                        "instance {id}: {what} {name} exists but is not marked as this instance's; refusing to touch it"
                    ),
                ));
            }
            Some(_) => {}
            None => {
                let tags = Some(self.tags(id, &req.spec.context));
                let made = match level {
                    Level::Instance => rds
                        .create_db_parameter_group()
                        .db_parameter_group_name(name)
                        .db_parameter_group_family(desired.family(false))
                        .description(mark(id))
                        .set_tags(tags)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| AwsError::from_sdk(doing("creating"), &e)),
                    Level::Cluster => rds
                        .create_db_cluster_parameter_group()
                        .db_cluster_parameter_group_name(name)
                        .db_parameter_group_family(desired.family(true))
                        .description(mark(id))
                        .set_tags(tags)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| AwsError::from_sdk(doing("creating"), &e)),
                };
                made?;
            }
        }
        let parameters: Vec<Parameter> = desired
            .parameters
            .iter()
            .map(|(name, value)| {
                Parameter::builder()
                    .parameter_name(name)
                    .parameter_value(value)
                    .apply_method(ApplyMethod::Immediate)
                    .build()
            })
            .collect();
        for chunk in parameters.chunks(PER_CALL) {
            let chunk = Some(chunk.to_vec());
            let set = match level {
                Level::Instance => rds
                    .modify_db_parameter_group()
                    .db_parameter_group_name(name)
                    .set_parameters(chunk)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| AwsError::from_sdk(doing("setting parameters in"), &e)),
                Level::Cluster => rds
                    .modify_db_cluster_parameter_group()
                    .db_cluster_parameter_group_name(name)
                    .set_parameters(chunk)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| AwsError::from_sdk(doing("setting parameters in"), &e)),
            };
            set?;
        }
        Ok(Some(name.to_string()))
    }

    /// Deletes the instance's parameter group, if it made one.
    pub(crate) async fn delete_parameter_group(
        &self,
        identifier: &str,
        id: &InstanceId,
    ) -> Result<(), AwsError> {
        self.delete_group(Level::Instance, identifier, id).await
    }

    /// Deletes the instance's cluster parameter group, if it made one.
    pub(crate) async fn delete_cluster_parameter_group(
        &self,
        identifier: &str,
        id: &InstanceId,
    ) -> Result<(), AwsError> {
        self.delete_group(Level::Cluster, identifier, id).await
    }

    async fn delete_group(
        &self,
        level: Level,
        name: &str,
        id: &InstanceId,
    ) -> Result<(), AwsError> {
        match self.group_description(level, name).await? {
            Some(description) if description == mark(id) => {}
            _ => return Ok(()),
        }
        let rds = &self.clients().await.rds;
        let doing = format!("instance {id}: deleting {} {name}", level.what());
        match level {
            Level::Instance => rds
                .delete_db_parameter_group()
                .db_parameter_group_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::from_sdk(&doing, &e)),
            Level::Cluster => rds
                .delete_db_cluster_parameter_group()
                .db_cluster_parameter_group_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::from_sdk(&doing, &e)),
        }
    }
}

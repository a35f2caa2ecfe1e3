//! Server parameters: a DB parameter group per instance, named after its DB, made when the
//! instance sets parameters (from the backend's allow-list) and deleted with the DB. The group's
//! description marks it as the instance's: a group of that name without the mark is not ours.

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

impl AwsBackend {
    /// The group's description, if the group exists.
    async fn parameter_group(&self, name: &str) -> Result<Option<String>, AwsError> {
        let result = self
            .clients()
            .await
            .rds
            .describe_db_parameter_groups()
            .db_parameter_group_name(name)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .db_parameter_groups()
                .first()
                .map(|g| g.description().unwrap_or_default().to_string())),
            Err(e)
                if e.as_service_error().is_some_and(
                    DescribeDBParameterGroupsError::is_db_parameter_group_not_found_fault,
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(AwsError::from_sdk(
                format!("DB parameter group {name}: describing it"),
                &e,
            )),
        }
    }

    /// The instance's parameter group with `desired.parameters` set, if it has any (or had:
    /// a group once made stays the instance's); `None` keeps RDS's default group.
    pub(crate) async fn ensure_parameter_group(
        &self,
        identifier: &str,
        req: &InstanceRequest,
        desired: &Desired,
    ) -> Result<Option<String>, AwsError> {
        let id = &req.instance_id;
        let existing = self.parameter_group(identifier).await?;
        if existing.is_none() && desired.parameters.is_empty() {
            return Ok(None);
        }
        match existing {
            Some(description) if description != mark(id) => {
                return Err(AwsError::permanent(
                    Reason::ForeignObject,
                    format!(
                        "instance {id}: DB parameter group {identifier} exists but is not marked as this instance's; refusing to touch it"
                    ),
                ));
            }
            Some(_) => {}
            None => {
                self.clients()
                    .await
                    .rds
                    .create_db_parameter_group()
                    .db_parameter_group_name(identifier)
                    .db_parameter_group_family(desired.family(false))
                    .description(mark(id))
                    .set_tags(Some(self.tags(id, &req.spec.context)))
                    .send()
                    .await
                    .map_err(|e| {
                        AwsError::from_sdk(
                            format!("instance {id}: creating DB parameter group {identifier}"),
                            &e,
                        )
                    })?;
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
            self.clients()
                .await
                .rds
                .modify_db_parameter_group()
                .db_parameter_group_name(identifier)
                .set_parameters(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(
                        format!(
                            "instance {id}: setting parameters in DB parameter group {identifier}"
                        ),
                        &e,
                    )
                })?;
        }
        Ok(Some(identifier.to_string()))
    }

    /// Deletes the instance's parameter group, if it made one.
    pub(crate) async fn delete_parameter_group(
        &self,
        identifier: &str,
        id: &InstanceId,
    ) -> Result<(), AwsError> {
        match self.parameter_group(identifier).await? {
            Some(description) if description == mark(id) => {}
            _ => return Ok(()),
        }
        self.clients()
            .await
            .rds
            .delete_db_parameter_group()
            .db_parameter_group_name(identifier)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    format!("instance {id}: deleting DB parameter group {identifier}"),
                    &e,
                )
            })?;
        Ok(())
    }
}

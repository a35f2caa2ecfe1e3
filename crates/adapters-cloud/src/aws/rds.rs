//! `aws-rds`: provision, update and deprovision of one RDS for PostgreSQL DB instance. Each
//! step starts with a describe, so running it again (or after a crash) continues where the DB is.

use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;
use aws_sdk_rds::types::{DbInstance, Tag};
use pgbroker_domain::ports::{InstanceRequest, ProvisionOutput, Step};
use pgbroker_domain::{InstanceId, Reason};

use super::AwsBackend;
use super::error::AwsError;
use super::names::INSTANCE_TAG;
use super::plan::Desired;
use super::tenant::Endpoint;

/// AWS's word for a DB that takes requests.
const AVAILABLE: &str = "available";

impl AwsBackend {
    pub(crate) async fn describe_instance(
        &self,
        identifier: &str,
    ) -> Result<Option<DbInstance>, AwsError> {
        let call = self.clients().await.rds.describe_db_instances();
        let out = AwsError::found(
            call.db_instance_identifier(identifier).send().await,
            DescribeDBInstancesError::is_db_instance_not_found_fault,
            format_args!("DB instance {identifier}: describing it"),
        )?;
        Ok(out.and_then(|o| o.db_instances().first().cloned()))
    }

    /// A DB of the instance's identifier is only touched when its tag names this instance.
    pub(crate) fn ensure_ours(
        &self,
        identifier: &str,
        id: &InstanceId,
        tags: &[Tag],
    ) -> Result<(), AwsError> {
        let owner = tags
            .iter()
            .find(|t| t.key() == Some(INSTANCE_TAG))
            .and_then(Tag::value);
        if owner == Some(id.as_str()) {
            return Ok(());
        }
        Err(AwsError::permanent(
            Reason::ForeignObject,
            format!(
                "instance {id}: DB {identifier} exists but its tag {INSTANCE_TAG} is {}, not this instance's id; refusing to touch it",
                owner.map_or("missing".to_string(), |o| format!("{o:?}"))
            ),
        ))
    }

    pub(crate) async fn rds_provision(
        &self,
        req: &InstanceRequest,
    ) -> Result<Step<ProvisionOutput>, AwsError> {
        let id = &req.instance_id;
        let desired = Desired::of(&self.settings, req)?;
        let identifier = self.identifier(id, &req.spec.context);
        let Some(db) = self.describe_instance(&identifier).await? else {
            let group = self
                .ensure_parameter_group(&identifier, req, &desired)
                .await?;
            self.create_instance(&identifier, req, &desired, group)
                .await?;
            return Ok(self.waiting(
                "DB instance",
                &identifier,
                "creating",
                "waiting for it to be available",
            ));
        };
        self.ensure_ours(&identifier, id, db.tag_list())?;
        let status = db.db_instance_status().unwrap_or("unknown");
        if status != AVAILABLE {
            return Ok(self.waiting(
                "DB instance",
                &identifier,
                status,
                "waiting for it to be available",
            ));
        }
        let endpoint = Endpoint::of(&db)?;
        self.sql_provision(&endpoint, req, &desired.extensions, false)
            .await?;
        Ok(Step::Done(ProvisionOutput::default()))
    }

    async fn create_instance(
        &self,
        identifier: &str,
        req: &InstanceRequest,
        desired: &Desired,
        parameter_group: Option<String>,
    ) -> Result<(), AwsError> {
        let s = &self.settings;
        let class = &desired.class;
        let call = self
            .clients()
            .await
            .rds
            .create_db_instance()
            .db_instance_identifier(identifier)
            .engine("postgres")
            .engine_version(desired.major.to_string())
            .db_instance_class(&class.instance_type)
            .allocated_storage(desired.storage_gb)
            .set_max_allocated_storage(desired.max_storage_gb)
            .set_storage_type(class.storage_type.map(|t| t.as_str().to_string()))
            .set_iops(class.iops)
            .set_storage_throughput(class.storage_throughput)
            .master_username(&s.admin_username)
            // RDS makes the password and keeps it in Secrets Manager: it never passes the broker's store or logs.
            .manage_master_user_password(true)
            .multi_az(desired.multi_az)
            .set_availability_zone(if desired.multi_az {
                None
            } else {
                s.availability_zone.clone()
            })
            .backup_retention_period(desired.backup_retention_days)
            .set_db_subnet_group_name(s.subnet_group.clone())
            .set_vpc_security_group_ids(
                (!s.vpc_security_group_ids.is_empty()).then(|| s.vpc_security_group_ids.clone()),
            )
            .publicly_accessible(s.public_access)
            .deletion_protection(s.deletion_protection)
            .storage_encrypted(true)
            .copy_tags_to_snapshot(true)
            .set_db_parameter_group_name(parameter_group)
            .set_tags(Some(self.tags(&req.instance_id, &req.spec.context)));
        call.send().await.map_err(|e| {
            AwsError::from_sdk(
                format!(
                    "instance {}: creating DB instance {identifier} (class {} = {})",
                    req.instance_id, desired.class_name, class.instance_type
                ),
                &e,
            )
        })?;
        tracing::info!(instance_id = %req.instance_id, db = %identifier, "DB instance creation requested");
        Ok(())
    }

    pub(crate) async fn rds_update(&self, req: &InstanceRequest) -> Result<Step<()>, AwsError> {
        let id = &req.instance_id;
        let desired = Desired::of(&self.settings, req)?;
        let identifier = self.identifier(id, &req.spec.context);
        let db = self.describe_instance(&identifier).await?.ok_or_else(|| {
            AwsError::permanent(
                Reason::NotFound,
                format!("instance {id}: DB instance {identifier} is gone"),
            )
        })?;
        self.ensure_ours(&identifier, id, db.tag_list())?;
        let status = db.db_instance_status().unwrap_or("unknown");
        if status != AVAILABLE {
            return Ok(self.waiting(
                "DB instance",
                &identifier,
                status,
                "waiting to apply the change",
            ));
        }
        let group = self
            .ensure_parameter_group(&identifier, req, &desired)
            .await?;
        let change = super::modify::changes(&db, &desired, group.as_deref()).map_err(|why| {
            AwsError::permanent(Reason::Unsupported, format!("instance {id}: {why}"))
        })?;
        if change.is_empty() {
            let endpoint = Endpoint::of(&db)?;
            self.sql_provision(&endpoint, req, &desired.extensions, true)
                .await?;
            return Ok(Step::Done(()));
        }
        let immediately = self.settings.apply_immediately;
        self.clients()
            .await
            .rds
            .modify_db_instance()
            .db_instance_identifier(&identifier)
            .apply_immediately(immediately)
            .set_db_instance_class(change.class.clone())
            .set_allocated_storage(change.storage_gb)
            .set_max_allocated_storage(change.max_storage_gb)
            .set_multi_az(change.multi_az)
            .set_backup_retention_period(change.backup_retention_days)
            .set_db_parameter_group_name(change.parameter_group.clone())
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    format!("instance {id}: modifying DB instance {identifier} ({change})"),
                    &e,
                )
            })?;
        let when = if immediately {
            "applied immediately"
        } else {
            "applied in the next maintenance window"
        };
        Ok(Step::in_progress(
            format!("DB instance {identifier}: {change} requested, {when}"),
            self.poll(),
        ))
    }

    pub(crate) async fn rds_deprovision(
        &self,
        req: &InstanceRequest,
    ) -> Result<Step<()>, AwsError> {
        let id = &req.instance_id;
        let identifier = self.identifier(id, &req.spec.context);
        let Some(db) = self.describe_instance(&identifier).await? else {
            self.forget_tenant(&identifier);
            self.delete_parameter_group(&identifier, id).await?;
            return Ok(Step::Done(()));
        };
        self.ensure_ours(&identifier, id, db.tag_list())?;
        let status = db.db_instance_status().unwrap_or("unknown");
        if req.deletion_policy.retains() {
            self.tag_retained(db.db_instance_arn(), &identifier, req)
                .await?;
            return Ok(Step::Done(()));
        }
        if status == "deleting" {
            return Ok(self.waiting(
                "DB instance",
                &identifier,
                status,
                "waiting for it to be gone",
            ));
        }
        if db.deletion_protection() == Some(true) {
            let release =
                format!("aws rds modify-db-instance --db-instance-identifier {identifier}");
            return Err(Self::protected(id, "DB instance", &identifier, &release));
        }
        let snapshot = self.final_snapshot(&identifier);
        self.clients()
            .await
            .rds
            .delete_db_instance()
            .db_instance_identifier(&identifier)
            .skip_final_snapshot(snapshot.is_none())
            .set_final_db_snapshot_identifier(snapshot.clone())
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    format!("instance {id}: deleting DB instance {identifier}"),
                    &e,
                )
            })?;
        Ok(self.deleting("DB instance", &identifier, snapshot.as_deref()))
    }
}

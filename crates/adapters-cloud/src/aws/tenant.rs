//! The SQL side of a DB (see `cloud_sql`), as the master user with the password RDS keeps in
//! Secrets Manager. The password is read when a step
//! needs it (so a rotation is picked up), held in memory only, and never logged.

use std::sync::Arc;

use aws_sdk_rds::types::DbInstance;
use pgbroker_domain::ports::{BindRequest, InstanceRequest, StepFailure, UnbindRequest};
use pgbroker_domain::{Credentials, JsonObject, Reason, Sensitive};

use super::AwsBackend;
use super::error::AwsError;
use crate::cloud_sql::{self, Login, Reach};
use crate::shared::SharedServerBackend;

/// Where and as whom the broker's SQL connects to a DB.
pub(crate) struct Endpoint {
    pub identifier: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub secret_arn: String,
}

impl Endpoint {
    pub fn of(db: &DbInstance) -> Result<Self, AwsError> {
        let identifier = db.db_instance_identifier().unwrap_or_default().to_string();
        let endpoint = db.endpoint().ok_or_else(|| {
            AwsError::retryable(
                Reason::BackendUnavailable,
                format!("DB instance {identifier} has no endpoint yet"),
            )
        })?;
        Self::new(
            identifier,
            endpoint.address(),
            endpoint.port(),
            db.master_username(),
            db.master_user_secret().and_then(|s| s.secret_arn()),
        )
    }

    pub fn new(
        identifier: String,
        host: Option<&str>,
        port: Option<i32>,
        username: Option<&str>,
        secret_arn: Option<&str>,
    ) -> Result<Self, AwsError> {
        let missing = |what: &str| {
            AwsError::permanent(
                Reason::BackendFailed,
                format!("DB {identifier}: AWS reports no {what}"),
            )
        };
        let secret_arn = secret_arn.ok_or_else(|| {
            AwsError::permanent(
                Reason::BackendFailed,
                format!("DB {identifier} has no master user secret in Secrets Manager (it was not created with ManageMasterUserPassword); the broker cannot log in to it"),
            )
        })?;
        Ok(Self {
            host: host.ok_or_else(|| missing("endpoint address"))?.to_string(),
            port: port
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| missing("endpoint port"))?,
            username: username
                .ok_or_else(|| missing("master username"))?
                .to_string(),
            secret_arn: secret_arn.to_string(),
            identifier,
        })
    }

    fn login(&self) -> Login {
        Login {
            server: self.identifier.clone(),
            host: self.host.clone(),
            port: self.port,
            username: self.username.clone(),
        }
    }
}

fn failure(e: impl Into<StepFailure>) -> AwsError {
    AwsError::from(e.into())
}

impl AwsBackend {
    /// The master password from the DB's secret (`{"username": ..., "password": ...}`).
    async fn master_password(&self, endpoint: &Endpoint) -> Result<Sensitive<String>, AwsError> {
        let doing = format!(
            "DB {}: reading the master user secret {}",
            endpoint.identifier, endpoint.secret_arn
        );
        let out = self
            .clients()
            .await
            .secrets
            .get_secret_value()
            .secret_id(&endpoint.secret_arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&doing, &e))?;
        let text = out.secret_string().ok_or_else(|| {
            AwsError::permanent(Reason::BackendFailed, format!("{doing}: it holds no text"))
        })?;
        // Only the password field is read; an error never shows the secret's text.
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| {
            AwsError::permanent(Reason::BackendFailed, format!("{doing}: it is not JSON"))
        })?;
        value
            .get("password")
            .and_then(|p| p.as_str())
            .map(|p| Sensitive::new(p.to_string()))
            .ok_or_else(|| {
                AwsError::permanent(
                    Reason::BackendFailed,
                    format!("{doing}: it has no \"password\" field"),
                )
            })
    }

    /// The shared-server backend for the DB, on its (or the override's) endpoint.
    pub(crate) async fn tenant(
        &self,
        endpoint: &Endpoint,
    ) -> Result<Arc<SharedServerBackend>, AwsError> {
        let password = self.master_password(endpoint).await?;
        let reach = Reach {
            endpoint_override: self.settings.sql_endpoint_override.as_ref(),
            ca_bundle_file: self.settings.ca_bundle_file.as_deref(),
        };
        self.tenants
            .tenant(reach, &endpoint.login(), password)
            .map_err(AwsError::from)
    }

    /// Drops the DB's SQL side from memory (the DB is gone or kept aside).
    pub(crate) fn forget_tenant(&self, identifier: &str) {
        self.tenants.forget(identifier);
    }

    /// The instance's database and owner role on the DB (provision and update).
    pub(crate) async fn sql_provision(
        &self,
        endpoint: &Endpoint,
        req: &InstanceRequest,
        extensions: &[String],
        update: bool,
    ) -> Result<(), AwsError> {
        let tenant = self.tenant(endpoint).await?;
        let req = cloud_sql::instance_request(req, extensions);
        if update {
            tenant.update_step(&req).await.map_err(failure)
        } else {
            tenant.provision_step(&req).await.map_err(failure)
        }
    }

    /// The DB of a bind or unbind's instance, which must be this backend's.
    async fn bound_endpoint(
        &self,
        id: &pgbroker_domain::InstanceId,
        context: &JsonObject,
    ) -> Result<Option<Endpoint>, AwsError> {
        let identifier = self.identifier(id, context);
        if self.flavor == super::Flavor::Aurora {
            return self.cluster_of(id, &identifier).await;
        }
        let Some(db) = self.describe_instance(&identifier).await? else {
            return Ok(None);
        };
        self.ensure_ours(&identifier, id, db.tag_list())?;
        Endpoint::of(&db).map(Some)
    }

    pub(crate) async fn bind_step(
        &self,
        req: &BindRequest,
    ) -> Result<pgbroker_domain::ports::Step<Credentials>, AwsError> {
        let id = &req.instance_id;
        let endpoint = self
            .bound_endpoint(id, &req.instance.context)
            .await?
            .ok_or_else(|| {
                AwsError::permanent(
                    Reason::NotFound,
                    format!("binding {}: instance {id} has no DB on AWS", req.binding_id),
                )
            })?;
        let tenant = self.tenant(&endpoint).await?;
        tenant
            .bind_step(&cloud_sql::bind_request(req))
            .await
            .map(pgbroker_domain::ports::Step::Done)
            .map_err(failure)
    }

    pub(crate) async fn unbind_step(
        &self,
        req: &UnbindRequest,
    ) -> Result<pgbroker_domain::ports::Step<()>, AwsError> {
        // No DB, no login on it.
        let Some(endpoint) = self
            .bound_endpoint(&req.instance_id, &req.instance.context)
            .await?
        else {
            return Ok(pgbroker_domain::ports::Step::Done(()));
        };
        let tenant = self.tenant(&endpoint).await?;
        tenant
            .unbind_step(&cloud_sql::unbind_request(req))
            .await
            .map(pgbroker_domain::ports::Step::Done)
            .map_err(failure)
    }
}

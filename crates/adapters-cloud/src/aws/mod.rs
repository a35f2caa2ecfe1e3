//! The AWS backends: `aws-rds` (one RDS for PostgreSQL DB instance per service instance) and
//! `aws-aurora` (one Aurora PostgreSQL DB cluster with a writer instance per service instance).
//!
//! Each step describes the DB first and moves it one stretch: create it (tagged as this
//! instance's, with the master password managed by RDS in Secrets Manager), report AWS's status
//! while it is not `available` (the engine looks again after `poll_interval_ms`), then run the
//! SQL side (the instance's database, roles, bindings) through the shared-server backend's own
//! steps on the DB's endpoint with the master secret. A DB of the same identifier that lacks
//! this instance's tag is never touched.

mod aurora;
pub mod client;
mod error;
mod modify;
pub(crate) mod names;
mod params;
pub(crate) mod plan;
mod rds;
mod server_spec;
mod settings;
mod tenant;

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use pgbroker_domain::ports::{
    Backend, BindRequest, CheckError, InstanceRequest, ProvisionOutput, Step, UnbindRequest,
};
use pgbroker_domain::server::{PlanSize, ServerTarget, Translation, Unsupported};
use pgbroker_domain::{Credentials, InstanceId, JsonObject, OperationKind, Plan};
use tokio::sync::OnceCell;

pub use crate::cloud_sql::SqlEndpoint;
pub use error::{AwsError, Category};
pub use names::{BACKEND_TAG, INSTANCE_TAG, RETAINED_TAG};
pub use plan::{InstanceParameters, PlanSettings};
pub use settings::{AwsSettings, ClassSettings, SettingsError, StorageType};

use crate::cloud_sql::Tenants;
use client::Clients;
use names::{NamePattern, Vars};

/// Which AWS service a backend provisions with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// RDS for PostgreSQL: a DB instance.
    Rds,
    /// Aurora PostgreSQL: a DB cluster and its writer instance.
    Aurora,
}

/// The `aws-rds` and `aws-aurora` backends.
pub struct AwsBackend {
    name: String,
    flavor: Flavor,
    settings: AwsSettings,
    pattern: NamePattern,
    /// Aurora's writer and reader instances: the pattern with `-writer`, `-reader`.
    writer_pattern: NamePattern,
    reader_pattern: NamePattern,
    /// The SDK configuration to use instead of the default chain's.
    given: Option<SdkConfig>,
    clients: OnceCell<Clients>,
    /// The SQL side of each DB (by identifier), with the master password it connects with.
    tenants: Tenants,
}

impl std::fmt::Debug for AwsBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsBackend")
            .field("name", &self.name)
            .field("flavor", &self.flavor)
            .finish_non_exhaustive()
    }
}

impl AwsBackend {
    /// Checks the settings; calls nothing (the SDK is set up on the first step).
    pub fn new(
        name: impl Into<String>,
        flavor: Flavor,
        settings: AwsSettings,
    ) -> Result<Self, SettingsError> {
        settings.check()?;
        let parse = |suffix: &str| {
            NamePattern::parse(&format!("{}{suffix}", settings.name_pattern))
                .map_err(SettingsError::NamePattern)
        };
        let (pattern, writer_pattern, reader_pattern) =
            (parse("")?, parse("-writer")?, parse("-reader")?);
        let name = name.into();
        Ok(Self {
            tenants: Tenants::new(name.clone(), settings.extensions.clone()),
            name,
            flavor,
            settings,
            pattern,
            writer_pattern,
            reader_pattern,
            given: None,
            clients: OnceCell::new(),
        })
    }

    /// Uses `config` (credentials, region, HTTP client) instead of the SDK's default chain.
    pub fn with_sdk_config(mut self, config: SdkConfig) -> Self {
        self.given = Some(config);
        self
    }

    async fn clients(&self) -> &Clients {
        self.clients
            .get_or_init(|| async {
                let base = match &self.given {
                    Some(config) => config.clone(),
                    None => client::load(&self.settings).await,
                };
                client::clients(&self.settings, &base)
            })
            .await
    }

    /// The DB's identifier for an instance.
    pub fn identifier(&self, id: &InstanceId, context: &JsonObject) -> String {
        self.pattern.identifier(&Vars::of(id, context))
    }

    fn tags(&self, id: &InstanceId, context: &JsonObject) -> Vec<aws_sdk_rds::types::Tag> {
        names::tags(&self.settings.tags, &self.name, &Vars::of(id, context))
            .into_iter()
            .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
            .collect()
    }

    fn poll(&self) -> Duration {
        Duration::from_millis(self.settings.poll_interval_ms)
    }

    /// "Not yet": AWS's status of the DB (`what`: DB instance, DB cluster) and what the step waits for.
    fn waiting<T>(&self, what: &str, identifier: &str, status: &str, doing: &str) -> Step<T> {
        Step::in_progress(
            format!("{what} {identifier} is {status} (AWS status); {doing}"),
            self.poll(),
        )
    }

    /// The final snapshot a delete takes, named after the DB, unless switched off.
    fn final_snapshot(&self, identifier: &str) -> Option<String> {
        self.settings
            .final_snapshot
            .then(|| format!("{identifier}-final"))
    }

    /// What a deletion requested with `snapshot` waits for.
    fn deleting<T>(&self, what: &str, identifier: &str, snapshot: Option<&str>) -> Step<T> {
        let doing = match snapshot {
            Some(s) => format!("deleting it after final snapshot {s}"),
            None => "deleting it without a final snapshot".to_string(),
        };
        self.forget_tenant(identifier);
        self.waiting(what, identifier, "deleting", &doing)
    }

    /// A deprovision of a protected DB fails until someone releases it with `release`.
    fn protected(id: &InstanceId, what: &str, identifier: &str, release: &str) -> AwsError {
        AwsError::permanent(
            pgbroker_domain::Reason::InvalidState,
            format!(
                "instance {id}: {what} {identifier} has deletion protection; release it with `{release} --no-deletion-protection --apply-immediately`, then deprovision again"
            ),
        )
    }

    /// The retain policy keeps the DB (`arn`); a tag names the operation that kept it.
    async fn tag_retained(
        &self,
        arn: Option<&str>,
        identifier: &str,
        req: &InstanceRequest,
    ) -> Result<(), AwsError> {
        let arn = arn.ok_or_else(|| {
            AwsError::permanent(
                pgbroker_domain::Reason::BackendFailed,
                format!("DB {identifier}: AWS reports no ARN"),
            )
        })?;
        let tag = aws_sdk_rds::types::Tag::builder()
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
        self.forget_tenant(identifier);
        Ok(())
    }
}

fn step<T>(result: Result<Step<T>, AwsError>) -> Step<T> {
    match result {
        Ok(step) => step,
        Err(e) => Step::Failed(e.into()),
    }
}

#[async_trait]
impl Backend for AwsBackend {
    fn completes_synchronously(&self, _kind: OperationKind) -> bool {
        // Creating, changing and deleting a DB takes minutes.
        false
    }

    async fn provision(&self, req: &InstanceRequest) -> Step<ProvisionOutput> {
        step(match self.flavor {
            Flavor::Rds => self.rds_provision(req).await,
            Flavor::Aurora => self.aurora_provision(req).await,
        })
    }

    async fn update(&self, req: &InstanceRequest) -> Step<()> {
        step(match self.flavor {
            Flavor::Rds => self.rds_update(req).await,
            Flavor::Aurora => self.aurora_update(req).await,
        })
    }

    async fn deprovision(&self, req: &InstanceRequest) -> Step<()> {
        step(match self.flavor {
            Flavor::Rds => self.rds_deprovision(req).await,
            Flavor::Aurora => self.aurora_deprovision(req).await,
        })
    }

    async fn bind(&self, req: &BindRequest) -> Step<Credentials> {
        step(self.bind_step(req).await)
    }

    async fn unbind(&self, req: &UnbindRequest) -> Step<()> {
        step(self.unbind_step(req).await)
    }

    fn supports_own_database(&self) -> bool {
        true
    }

    async fn check(&self) -> Result<(), CheckError> {
        let clients = self.clients().await;
        // One cheap read that needs credentials, a region and the rds:DescribeDBInstances right.
        clients
            .rds
            .describe_db_instances()
            .max_records(20)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let e =
                    AwsError::from_sdk(format!("backend {}: listing DB instances", self.name), &e);
                CheckError::new(e.reason, e.message)
            })
    }

    fn plan_size(&self, plan: &Plan) -> Option<PlanSize> {
        server_spec::plan_size(plan, self.flavor)
    }

    fn server_parameters(
        &self,
        plan: &Plan,
        target: &ServerTarget<'_>,
    ) -> Result<Translation, Unsupported> {
        server_spec::server_parameters(&self.name, self.flavor, &self.settings, plan, target)
    }
}

//! `CnpgBackend`: the domain's `Backend` port on CloudNativePG.

mod bind;
mod credentials;
mod deprovision;
mod own_database;
mod provision;
mod readiness;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kube::Client;
use pgbroker_domain::operation::OperationKind;
use pgbroker_domain::ports::{
    Backend, BindRequest, CheckError, InstanceRequest, ProvisionOutput, Step, StepFailure,
    UnbindRequest,
};
use pgbroker_domain::server::{PlanSize, ServerTarget, Translation, Unsupported};
use pgbroker_domain::{Credentials, Plan};
use tokio::sync::OnceCell;

use crate::cache::ClusterCache;
use crate::client::{ApiError, Connector, Objects};
use crate::kinds::Kind;
use crate::labels::backend_selector;
use crate::settings::{CnpgSettings, SettingsError};

/// How long a step waits for the cluster watch's first listing before reporting back.
const CACHE_SYNC: Duration = Duration::from_secs(10);

pub struct CnpgBackend {
    /// The backend's name in the configuration; in labels, so two backends never touch each
    /// other's objects.
    name: String,
    settings: CnpgSettings,
    connector: Connector,
    cache: OnceCell<ClusterCache>,
}

impl CnpgBackend {
    /// Checks the settings; contacts nothing (the client is made on first use).
    pub fn new(name: impl Into<String>, settings: CnpgSettings) -> Result<Self, SettingsError> {
        settings.check()?;
        Ok(Self {
            name: name.into(),
            connector: Connector::new(settings.connection.clone()),
            settings,
            cache: OnceCell::new(),
        })
    }

    /// With a client made elsewhere (tests, or an app that shares one client).
    pub fn with_client(
        name: impl Into<String>,
        settings: CnpgSettings,
        client: Client,
    ) -> Result<Self, SettingsError> {
        settings.check()?;
        Ok(Self {
            name: name.into(),
            connector: Connector::with_client(client),
            settings,
            cache: OnceCell::new(),
        })
    }

    /// Its Kubernetes requests inside an engine step get spans and a `traceparent` (see
    /// [`Connector::traced`]).
    pub fn traced(mut self, traces: Arc<dyn pgbroker_domain::ports::TraceContext>) -> Self {
        self.connector = self.connector.traced(traces);
        self
    }

    pub fn settings(&self) -> &CnpgSettings {
        &self.settings
    }

    fn poll(&self) -> Duration {
        Duration::from_secs(self.settings.poll_interval_seconds.max(1))
    }

    async fn objects(&self, kind: Kind, namespace: &str) -> Result<Objects, ApiError> {
        Ok(Objects::new(
            self.connector.client().await?,
            kind,
            Some(namespace),
        ))
    }

    /// The cluster cache, started on first use and synced.
    async fn cache(&self) -> Result<&ClusterCache, ApiError> {
        let client = self.connector.client().await?;
        let cache = self
            .cache
            .get_or_init(|| async {
                ClusterCache::start(
                    client,
                    self.settings.namespace.fixed(),
                    &backend_selector(&self.name),
                )
            })
            .await;
        if cache.synced(CACHE_SYNC).await {
            Ok(cache)
        } else {
            Err(ApiError::Config(
                "the watch of CloudNativePG clusters has not listed them yet".into(),
            ))
        }
    }
}

/// A failed API call as a step outcome.
fn failed<T>(e: ApiError) -> Step<T> {
    Step::Failed(StepFailure {
        reason: e.reason(),
        description: e.to_string(),
        retryable: e.is_retryable(),
    })
}

fn flatten<T>(r: Result<Step<T>, ApiError>) -> Step<T> {
    r.unwrap_or_else(failed)
}

#[async_trait]
impl Backend for CnpgBackend {
    fn completes_synchronously(&self, _kind: OperationKind) -> bool {
        // Even a bind waits for CNPG to apply the role.
        false
    }

    async fn provision(&self, req: &InstanceRequest) -> Step<ProvisionOutput> {
        flatten(self.provision_step(req).await)
    }

    async fn update(&self, req: &InstanceRequest) -> Step<()> {
        flatten(self.update_step(req).await)
    }

    async fn deprovision(&self, req: &InstanceRequest) -> Step<()> {
        flatten(self.deprovision_step(req).await)
    }

    async fn bind(&self, req: &BindRequest) -> Step<Credentials> {
        flatten(self.bind_step(req).await)
    }

    async fn unbind(&self, req: &UnbindRequest) -> Step<()> {
        flatten(self.unbind_step(req).await)
    }

    /// A CNPG `Database` owned by the binding's `DatabaseRole`, which is outside the application
    /// owner's group (see `own_database.rs`).
    fn supports_own_database(&self) -> bool {
        true
    }

    async fn check(&self) -> Result<(), CheckError> {
        let checked = |e: ApiError| CheckError::new(e.reason(), e.to_string());
        let client = self.connector.client().await.map_err(checked)?;
        Objects::new(client, Kind::Cluster, self.settings.namespace.fixed())
            .names(&backend_selector(&self.name))
            .await
            .map(drop)
            .map_err(checked)
    }

    fn plan_size(&self, plan: &Plan) -> Option<PlanSize> {
        crate::server_spec::plan_size(plan)
    }

    fn server_parameters(
        &self,
        plan: &Plan,
        target: &ServerTarget<'_>,
    ) -> Result<Translation, Unsupported> {
        crate::server_spec::server_parameters(&self.settings, plan, target)
    }
}

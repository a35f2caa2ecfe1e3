//! The `azure-flexible` backend: one Azure Database for PostgreSQL flexible server per service
//! instance, through ARM's REST API (see `arm.rs`).
//!
//! Each step looks first: at the long-running operation it started last (followed through
//! `Azure-AsyncOperation` or `Location`, as often as `Retry-After` says), then at the server.
//! It moves the server one stretch (create it tagged as this instance's; change its SKU,
//! storage, backups or high availability; its firewall rules and server parameters; a
//! `CanNotDelete` lock), reports ARM's status while Azure works, then runs the SQL side (the
//! instance's database, roles, bindings) through the shared-server backend's own steps as the
//! server's administrator. A server of the same name without this instance's tag is never
//! touched. The administrator's password is made here, kept only in the vault (a Kubernetes
//! Secret for the operator's servers, the encrypted state store otherwise) and rotated with a
//! binding's password reset.

mod arm;
mod error;
mod lro;
mod password;
mod server;
mod server_spec;
mod settings;
mod steps;
mod token;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pgbroker_domain::ports::{
    Backend, BindRequest, CheckError, InstanceRequest, NoVault, ProvisionOutput, SecretGenerator,
    SecretVault, Step, UnbindRequest,
};
use pgbroker_domain::server::{PlanSize, ServerTarget, Translation, Unsupported};
use pgbroker_domain::{Credentials, InstanceId, JsonObject, OperationKind, Plan, Reason};
use reqwest::Method;
use serde_json::Value;
use tokio::sync::OnceCell;

pub use arm::{FLEXIBLE_API_VERSION, LOCKS_API_VERSION};
pub use error::{AzureError, Category};
pub use server::{InstanceParameters, PlanSettings, STORAGE_SIZES};
pub use settings::{
    AzureSettings, ClassSettings, CredentialSettings, FirewallRule, NetworkSettings,
    ParameterDefaults, SettingsError, Tier,
};

use crate::aws::names::{self, NamePattern, Vars};
use crate::cloud_sql::Tenants;
use arm::Arm;
use lro::Pending;

/// The tag that marks a server as made by pgbroker for one instance.
pub const INSTANCE_TAG: &str = names::INSTANCE_TAG;
/// Set by a deprovision that keeps the server (fake deletion, or the retain policy).
pub const DELETED_TAG: &str = "pgbroker:deleted";
/// The lock `lock_from_deletion` puts on each server.
pub const LOCK_NAME: &str = "pgbroker-delete-lock";

/// The `azure-flexible` backend.
pub struct AzureBackend {
    name: String,
    settings: AzureSettings,
    pattern: NamePattern,
    arm: OnceCell<Arm>,
    vault: Arc<dyn SecretVault>,
    secrets: Arc<dyn SecretGenerator>,
    /// The long-running operation each server (by name) has under way, as far as this
    /// replica started it; lost on a restart, when the server's state tells the rest.
    pending: Mutex<HashMap<String, Pending>>,
    tenants: Tenants,
}

impl std::fmt::Debug for AzureBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureBackend")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl AzureBackend {
    /// Checks the settings; calls nothing. Without [`Self::with_vault`] the backend cannot keep
    /// an admin password, and every step says so.
    pub fn new(name: impl Into<String>, settings: AzureSettings) -> Result<Self, SettingsError> {
        settings.check()?;
        let pattern =
            NamePattern::parse(&settings.name_pattern).map_err(SettingsError::NamePattern)?;
        let name = name.into();
        Ok(Self {
            tenants: Tenants::new(name.clone(), settings.extensions.clone()),
            vault: Arc::new(NoVault(format!(
                "backend {name}: no vault for the admin passwords is configured (state.vault_key)"
            ))),
            secrets: Arc::new(crate::OsRngSecrets),
            name,
            settings,
            pattern,
            arm: OnceCell::new(),
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// Where the admin passwords are kept.
    pub fn with_vault(mut self, vault: Arc<dyn SecretVault>) -> Self {
        self.vault = vault;
        self
    }

    async fn arm(&self) -> Result<&Arm, AzureError> {
        self.arm
            .get_or_try_init(|| async {
                let http = arm::http_client(Duration::from_secs(60))
                    .map_err(|e| AzureError::invalid(format!("backend {}: {e}", self.name)))?;
                let tokens = token::Tokens::new(&self.settings.credential, http.clone())?;
                Ok(Arm::new(&self.settings.resource_manager_url, http, tokens))
            })
            .await
    }

    /// The server's name for an instance.
    pub fn server_name(&self, id: &InstanceId, context: &JsonObject) -> String {
        self.pattern.identifier(&Vars::of(id, context))
    }

    fn tags(&self, id: &InstanceId, context: &JsonObject) -> BTreeMap<String, String> {
        names::tags(&self.settings.tags, &self.name, &Vars::of(id, context))
    }

    fn group_path(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.DBforPostgreSQL/flexibleServers",
            self.settings.subscription_id, self.settings.resource_group
        )
    }

    fn server_path(&self, server: &str) -> String {
        format!("{}/{server}", self.group_path())
    }

    fn poll(&self) -> Duration {
        Duration::from_millis(self.settings.poll_interval_ms)
    }

    fn max_wait(&self) -> Duration {
        Duration::from_millis(self.settings.max_retry_after_ms)
    }

    /// One ARM call on the flexible-server API.
    async fn call(
        &self,
        doing: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<arm::Answer, AzureError> {
        self.arm()
            .await?
            .call(
                doing,
                method,
                path,
                Some(FLEXIBLE_API_VERSION),
                body,
                self.max_wait(),
            )
            .await
    }

    /// The server as ARM's GET shows it, or `None`.
    async fn get_server(&self, server: &str) -> Result<Option<Value>, AzureError> {
        let answer = self
            .call(
                &format!("flexible server {server}: reading it"),
                Method::GET,
                &self.server_path(server),
                None,
            )
            .await?;
        Ok((answer.status != 404).then_some(answer.body))
    }

    /// A server of the instance's name is only touched when its tag names this instance.
    fn ensure_ours(&self, server: &str, id: &InstanceId, body: &Value) -> Result<(), AzureError> {
        let owner = body
            .pointer("/tags")
            .and_then(|t| t.get(INSTANCE_TAG))
            .and_then(Value::as_str);
        if owner == Some(id.as_str()) {
            return Ok(());
        }
        Err(AzureError::permanent(
            Reason::ForeignObject,
            format!(
                "instance {id}: flexible server {server} exists but its tag {INSTANCE_TAG} is {}, not this instance's id; refusing to touch it",
                owner.map_or("missing".to_string(), |o| format!("{o:?}"))
            ),
        ))
    }

    /// "Not yet", with what Azure says.
    fn waiting<T>(
        &self,
        server: &str,
        doing: &str,
        state: &str,
        wait: Option<Duration>,
    ) -> Step<T> {
        Step::in_progress(
            format!("flexible server {server}: {doing} (Azure state {state})"),
            wait.unwrap_or_else(|| self.poll()),
        )
    }
}

/// A step's result; ARM's `Retry-After` on a retryable error becomes the wait before the next
/// try (throttling is not a failure of the operation).
fn step<T>(result: Result<Step<T>, AzureError>) -> Step<T> {
    match result {
        Ok(step) => step,
        Err(e) if e.is_retryable() && e.retry_after.is_some() => Step::in_progress(
            format!("{}; Azure asks to try again later", e.message),
            e.retry_after.unwrap_or_default(),
        ),
        Err(e) => Step::Failed(e.into()),
    }
}

#[async_trait]
impl Backend for AzureBackend {
    fn completes_synchronously(&self, _kind: OperationKind) -> bool {
        // Creating, changing and deleting a server takes minutes.
        false
    }

    async fn provision(&self, req: &InstanceRequest) -> Step<ProvisionOutput> {
        step(self.provision_step(req, false).await.map(|s| match s {
            Step::Done(()) => Step::Done(ProvisionOutput::default()),
            Step::InProgress {
                description,
                retry_after,
            } => Step::InProgress {
                description,
                retry_after,
            },
            Step::Failed(f) => Step::Failed(f),
        }))
    }

    async fn update(&self, req: &InstanceRequest) -> Step<()> {
        step(self.provision_step(req, true).await)
    }

    async fn deprovision(&self, req: &InstanceRequest) -> Step<()> {
        step(self.deprovision_step(req).await)
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

    fn plan_size(&self, plan: &Plan) -> Option<PlanSize> {
        server_spec::plan_size(plan)
    }

    fn server_parameters(
        &self,
        plan: &Plan,
        target: &ServerTarget<'_>,
    ) -> Result<Translation, Unsupported> {
        server_spec::server_parameters(&self.name, &self.settings, plan, target)
    }

    async fn check(&self) -> Result<(), CheckError> {
        // One cheap read that needs a token and the flexibleServers/read right.
        self.call(
            &format!("backend {}: listing flexible servers", self.name),
            Method::GET,
            &self.group_path(),
            None,
        )
        .await
        .map(|_| ())
        .map_err(|e| CheckError::new(e.reason, e.message))
    }
}

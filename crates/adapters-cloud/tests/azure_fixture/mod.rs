//! An `azure-flexible` backend against the test suite's ARM stand-in (testkit::arm), its
//! tokens from the stand-in's Entra ID token endpoint, its admin passwords in a real vault
//! (the state store's, sealed, on an in-memory SQLite), and its SQL side on the local
//! PostgreSQL (`sql_endpoint_override`, `sslmode=disable`: the local server has no TLS). The
//! local server trusts local logins, so the fixture makes a login role named after the
//! backend's `admin_username` (unique per test, CREATEROLE and CREATEDB, as Azure's admin has);
//! what the test made there is dropped with the fixture.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::sync::Arc;
use std::time::Duration;

use pgbroker_adapters_cloud::azure::{AzureBackend, AzureSettings};
use pgbroker_adapters_sql::{PoolSettings, VaultCipher, open_with_vault};
use pgbroker_domain::ports::{Backend, InstanceRequest, SecretVault, Step, StepFailure, VaultKey};
use pgbroker_domain::{InstanceId, Plan};
use pgbroker_testkit::arm::{self, Arm};
use pgbroker_testkit::pg_tagged::TaggedCleanup;
use serde_json::{Value, json};

use crate::common;

pub const VAULT_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

pub struct AzureFixture {
    pub arm: Arm,
    pub backend: AzureBackend,
    pub admin: String,
    pub vault: Arc<dyn SecretVault>,
    dir: std::path::PathBuf,
    cleanups: std::sync::Mutex<Vec<TaggedCleanup>>,
}

impl Drop for AzureFixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The settings of the tests' backend; `extra` is merged in.
pub fn settings(
    arm: &Arm,
    admin: &str,
    secret_file: &std::path::Path,
    extra: Value,
) -> AzureSettings {
    let mut s = json!({
        "subscription_id": arm::SUBSCRIPTION,
        "resource_group": arm::RESOURCE_GROUP,
        "location": arm::LOCATION,
        "admin_username": admin,
        "tags": {"team": "{namespace}"},
        "classes": {
            "small": {"name": "Standard_B1ms", "tier": "Burstable"},
            "medium": {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"},
        },
        "configurations": ["work_mem", "log_min_duration_statement"],
        "parameters": {"firewall_rules": [{"name": "office", "start_ip": "203.0.113.0", "end_ip": "203.0.113.255"}]},
        "credential": {
            "kind": "token_endpoint",
            "url": arm.token_url(),
            "client_id": arm::CLIENT_ID,
            "client_secret_file": secret_file,
        },
        "resource_manager_url": arm.endpoint(),
        "sql_endpoint_override": {"host": "127.0.0.1", "port": 5432, "sslmode": "disable"},
        "poll_interval_ms": 20,
        "max_retry_after_ms": 100,
    });
    if let (Value::Object(s), Value::Object(e)) = (&mut s, extra) {
        s.extend(e);
    }
    serde_json::from_value(s).unwrap()
}

impl AzureFixture {
    pub async fn new() -> Self {
        Self::with(json!({})).await
    }

    pub async fn with(extra: Value) -> Self {
        let arm = Arm::start().await;
        arm.set_polls(2);
        let admin = format!("pgbaz{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let dir = std::env::temp_dir().join(format!("pgbroker-azure-{admin}"));
        std::fs::create_dir_all(&dir).unwrap();
        let secret_file = dir.join("client-secret");
        std::fs::write(&secret_file, format!("{}\n", arm::CLIENT_SECRET)).unwrap();
        let (_, vault) = open_with_vault(
            "sqlite::memory:",
            &PoolSettings::default(),
            VaultCipher::from_base64(VAULT_KEY).unwrap(),
        )
        .await
        .unwrap();
        let backend = AzureBackend::new("azure", settings(&arm, &admin, &secret_file, extra))
            .unwrap()
            .with_vault(vault.clone());
        let mut local = common::admin().await;
        let sql = format!(
            "CREATE ROLE {} LOGIN CREATEROLE CREATEDB IN ROLE pg_signal_backend",
            common::quote(&admin)
        );
        sqlx::raw_sql(&sql).execute(&mut local).await.unwrap();
        Self {
            cleanups: std::sync::Mutex::new(vec![TaggedCleanup(admin.clone())]),
            arm,
            backend,
            admin,
            vault,
            dir,
        }
    }

    pub fn instance_id(&self) -> InstanceId {
        let id = InstanceId::parse(uuid::Uuid::new_v4().to_string()).unwrap();
        // The SQL side's names (the shared backend's default patterns) start with this.
        self.cleanups
            .lock()
            .unwrap()
            .push(TaggedCleanup(format!("pgb_{id}")));
        id
    }

    pub fn server_name(&self, id: &InstanceId) -> String {
        self.backend.server_name(id, &Default::default())
    }

    /// The admin password the vault holds for the instance (OSB-made: the sealed store).
    pub async fn vault_password(&self, id: &InstanceId, name: &str) -> Option<String> {
        let key = VaultKey::new("azure", id, name, &Default::default());
        self.vault
            .load(&key)
            .await
            .unwrap()
            .map(|p| p.expose().clone())
    }

    /// Runs steps until done; the descriptions seen on the way. Panics on a failure.
    pub async fn settle<T>(
        &self,
        what: &str,
        mut step: impl AsyncFnMut() -> Step<T>,
    ) -> (T, Vec<String>) {
        let mut seen = Vec::new();
        for _ in 0..60 {
            match step().await {
                Step::Done(v) => return (v, seen),
                Step::InProgress { description, .. } => {
                    seen.push(description);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Step::Failed(f) => panic!("{what}: {f:?} after {seen:?}"),
            }
        }
        panic!("{what} did not finish in 60 steps: {seen:?}");
    }

    /// Runs steps until one fails; the failure.
    pub async fn failure<T: std::fmt::Debug>(
        &self,
        what: &str,
        mut step: impl AsyncFnMut() -> Step<T>,
    ) -> StepFailure {
        for _ in 0..60 {
            match step().await {
                Step::Failed(f) => return f,
                Step::InProgress { .. } => tokio::time::sleep(Duration::from_millis(5)).await,
                Step::Done(v) => panic!("{what}: expected a failure, got {v:?}"),
            }
        }
        panic!("{what} neither failed nor finished in 60 steps");
    }

    pub async fn provision(&self, req: &InstanceRequest) -> Vec<String> {
        self.settle("provision", async || self.backend.provision(req).await)
            .await
            .1
    }

    /// ARM's recorded requests broke none of its rules.
    pub fn assert_no_violations(&self) {
        assert_eq!(
            self.arm.violations(),
            Vec::<String>::new(),
            "requests ARM would refuse"
        );
    }
}

pub fn plan(settings: Value) -> Plan {
    Plan {
        name: "azure-small".into(),
        backend: "azure".into(),
        ..common::plan(settings)
    }
}

/// An instance request on an Azure plan.
pub fn instance_req(id: &InstanceId, plan_settings: Value, parameters: Value) -> InstanceRequest {
    InstanceRequest {
        plan: plan(plan_settings),
        ..common::instance_req(id, parameters)
    }
}

/// The Azure RBAC action each recorded ARM request needs (GET → read, PUT and PATCH → write,
/// DELETE → delete, on the resource type its path names).
pub fn actions(arm: &Arm) -> std::collections::BTreeSet<String> {
    arm.requests()
        .into_iter()
        .filter(|r| !r.path.contains("/oauth2/"))
        .map(|r| {
            let verb = match r.method.as_str() {
                "GET" => "read",
                "DELETE" => "delete",
                _ => "write",
            };
            let p = r.path.as_str();
            let kind = if p.contains("/providers/Microsoft.Authorization/locks") {
                "Microsoft.Authorization/locks"
            } else if p.contains("/azureAsyncOperation/") {
                "Microsoft.DBforPostgreSQL/locations/azureAsyncOperation"
            } else if p.contains("/operationResults/") {
                "Microsoft.DBforPostgreSQL/locations/operationResults"
            } else if p.contains("/firewallRules") {
                "Microsoft.DBforPostgreSQL/flexibleServers/firewallRules"
            } else if p.contains("/configurations") {
                "Microsoft.DBforPostgreSQL/flexibleServers/configurations"
            } else if p.contains("/databases") {
                "Microsoft.DBforPostgreSQL/flexibleServers/databases"
            } else {
                "Microsoft.DBforPostgreSQL/flexibleServers"
            };
            format!("{kind}/{verb}")
        })
        .collect()
}

/// The `Actions` of the custom role in docs/azure-backend.md.
pub fn role_actions() -> std::collections::BTreeSet<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/azure-backend.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let start = doc
        .find("```json\n{\n  \"Name\"")
        .expect("the role's JSON block")
        + 8;
    let end = start + doc[start..].find("```").unwrap();
    let role: Value = serde_json::from_str(&doc[start..end]).unwrap();
    role["Actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

impl AzureFixture {
    /// Every call made is allowed by the documented role.
    pub fn assert_calls_within_role(&self) {
        let (called, role) = (actions(&self.arm), role_actions());
        let missing: Vec<_> = called.difference(&role).collect();
        assert!(
            missing.is_empty(),
            "docs/azure-backend.md's role lacks {missing:?}"
        );
    }
}

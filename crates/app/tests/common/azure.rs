//! An `azure-flexible` backend for the app's tests: the ARM stand-in (pgbroker_testkit::arm)
//! for Azure Resource Manager and Entra ID's token endpoint, the local PostgreSQL for the SQL
//! side (`sql_endpoint_override`, `sslmode: disable`). The local server trusts local logins, so
//! the world makes a login role named after the backend's `admin_username` (unique per test,
//! CREATEROLE CREATEDB as Azure's administrator has); it is dropped at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::PathBuf;

use pgbroker_testkit::arm::{self, Arm};
use pgbroker_testkit::pg_tagged::TaggedCleanup;
use serde_json::{Value, json};
use sqlx::Connection;

/// 32 bytes of base64: the state store's vault key in these tests (never to be logged).
pub const VAULT_KEY: &str = "c2VhbGluZy1rZXktZm9yLXBnYnJva2VyLXRlc3RzISE=";

pub struct AzureWorld {
    pub arm: Arm,
    pub admin: String,
    pub secret_file: PathBuf,
    _dir: super::TempDir,
    _cleanup: TaggedCleanup,
}

impl AzureWorld {
    pub async fn start() -> Self {
        let arm = Arm::start().await;
        arm.set_polls(2);
        arm.set_retry_after(0);
        let admin = format!("pgbaz{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let dir = super::TempDir::new();
        let secret_file = dir.file("client-secret", arm::CLIENT_SECRET);
        let mut local = sqlx::PgConnection::connect(super::aws::ADMIN_URL)
            .await
            .unwrap();
        sqlx::raw_sql(&format!(
            "CREATE ROLE \"{admin}\" LOGIN CREATEROLE CREATEDB IN ROLE pg_signal_backend"
        ))
        .execute(&mut local)
        .await
        .unwrap();
        Self {
            _cleanup: TaggedCleanup(admin.clone()),
            arm,
            admin,
            secret_file,
            _dir: dir,
        }
    }

    /// The backend's settings.
    pub fn settings(&self) -> Value {
        json!({
            "subscription_id": arm::SUBSCRIPTION,
            "resource_group": arm::RESOURCE_GROUP,
            "location": arm::LOCATION,
            "admin_username": self.admin,
            "classes": {
                "small": {"name": "Standard_B1ms", "tier": "Burstable"},
                "medium": {"name": "Standard_D2ds_v5", "tier": "GeneralPurpose"},
            },
            "configurations": ["work_mem"],
            "parameters": {"firewall_rules": [{"name": "office", "start_ip": "203.0.113.0", "end_ip": "203.0.113.255"}]},
            "credential": {
                "kind": "token_endpoint",
                "url": self.arm.token_url(),
                "client_id": arm::CLIENT_ID,
                "client_secret_file": self.secret_file,
            },
            "resource_manager_url": self.arm.endpoint(),
            "sql_endpoint_override": {"host": "127.0.0.1", "port": 5432, "sslmode": "disable"},
            "poll_interval_ms": 20,
            "max_retry_after_ms": 100,
        })
    }

    /// The server of instance `id` (the default name pattern).
    pub fn server(&self, id: &str) -> Option<Value> {
        self.arm.server(&format!("pgbroker-{id}"))
    }
}

//! An `aws-rds` backend against a moto server of the test's own, with its SQL side pointed at
//! the local PostgreSQL (`sql_endpoint_override`, `sslmode=disable`: the local server has no
//! TLS). moto's master secret holds a password that no real server knows, so the fixture makes
//! the local server accept it: it creates a login role named after the backend's
//! `admin_username` (unique per test, CREATEROLE and CREATEDB as an RDS master user has) with
//! the password read from the DB's secret in moto. Everything made on the local server carries
//! the test's tags and is dropped when the fixture is.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_rds::config::Credentials;
use aws_sdk_rds::types::DbInstance;
use pgbroker_adapters_cloud::aws::client::fixed;
use pgbroker_adapters_cloud::{AwsBackend, AwsSettings, Flavor};
use pgbroker_domain::ports::{Backend, InstanceRequest, Step};
use pgbroker_domain::{InstanceId, Plan};
use pgbroker_testkit::moto::{Moto, REGION};
use pgbroker_testkit::pg_tagged::TaggedCleanup;
use serde_json::{Value, json};

use crate::common;

pub struct AwsFixture {
    pub flavor: Flavor,
    pub moto: Moto,
    pub backend: AwsBackend,
    pub admin: String,
    /// A client straight to moto (not recorded) for the test's own looks.
    pub rds: aws_sdk_rds::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    cleanups: std::sync::Mutex<Vec<TaggedCleanup>>,
}

pub fn credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "pgbroker-tests")
}

/// The settings of the tests' backend; `extra` is merged in.
pub fn settings(moto: &Moto, admin: &str, extra: Value) -> AwsSettings {
    let mut s = json!({
        "region": REGION,
        "endpoint_url": moto.endpoint_url(),
        "admin_username": admin,
        "classes": {
            "small": {"instance_type": "db.t4g.micro", "storage_type": "gp3"},
            "medium": {"instance_type": "db.t4g.small", "storage_type": "gp3"},
            "serverless": {"instance_type": "db.serverless", "min_capacity": 0.5, "max_capacity": 4.0},
            "serverless-large": {"instance_type": "db.serverless", "min_capacity": 1.0, "max_capacity": 8.0},
            "provisioned": {"instance_type": "db.r6g.large", "storage_type": "aurora"},
        },
        "parameters": ["work_mem", "log_min_duration_statement"],
        "sql_endpoint_override": {"host": "127.0.0.1", "port": 5432, "sslmode": "disable"},
        "poll_interval_ms": 50,
        "max_attempts": 3,
    });
    if let (Value::Object(s), Value::Object(e)) = (&mut s, extra) {
        s.extend(e);
    }
    serde_json::from_value(s).unwrap()
}

impl AwsFixture {
    pub async fn new() -> Self {
        Self::with(json!({})).await
    }

    pub async fn with(extra: Value) -> Self {
        Self::of(Flavor::Rds, extra).await
    }

    pub async fn of(flavor: Flavor, extra: Value) -> Self {
        let moto = Moto::start().await;
        let admin = format!("pgbaws{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let backend = AwsBackend::new("rds", flavor, settings(&moto, &admin, extra))
            .unwrap()
            .with_sdk_config(fixed(REGION, credentials()));
        let direct = fixed(REGION, credentials());
        let rds = aws_sdk_rds::Client::from_conf(
            aws_sdk_rds::config::Builder::from(&direct)
                .endpoint_url(moto.moto_url())
                .build(),
        );
        let secrets = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&direct)
                .endpoint_url(moto.moto_url())
                .build(),
        );
        Self {
            flavor,
            cleanups: std::sync::Mutex::new(vec![TaggedCleanup(admin.clone())]),
            moto,
            backend,
            admin,
            rds,
            secrets,
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

    pub fn identifier(&self, id: &InstanceId) -> String {
        self.backend.identifier(id, &Default::default())
    }

    pub async fn describe(&self, id: &InstanceId) -> Option<DbInstance> {
        self.instance(&self.identifier(id)).await
    }

    /// The DB instance `name` (an Aurora cluster's writer, say).
    pub async fn instance(&self, name: &str) -> Option<DbInstance> {
        let out = self
            .rds
            .describe_db_instances()
            .db_instance_identifier(name)
            .send()
            .await
            .ok()?;
        out.db_instances().first().cloned()
    }

    pub async fn describe_cluster(&self, id: &InstanceId) -> Option<aws_sdk_rds::types::DbCluster> {
        let out = self
            .rds
            .describe_db_clusters()
            .db_cluster_identifier(self.identifier(id))
            .send()
            .await
            .ok()?;
        out.db_clusters().first().cloned()
    }

    /// The master user secret's ARN, once the DB (or cluster) exists.
    async fn secret_arn(&self, id: &InstanceId) -> Option<String> {
        let secret = match self.flavor {
            Flavor::Rds => self.describe(id).await?.master_user_secret().cloned(),
            Flavor::Aurora => self
                .describe_cluster(id)
                .await?
                .master_user_secret()
                .cloned(),
        };
        secret?.secret_arn().map(str::to_string)
    }

    /// Makes the local PostgreSQL accept the DB's master user with moto's password.
    pub async fn accept_master_user(&self, id: &InstanceId) {
        let arn = self.secret_arn(id).await.expect("the DB exists");
        let secret = self
            .secrets
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .unwrap();
        let value: Value = serde_json::from_str(secret.secret_string().unwrap()).unwrap();
        let password = value["password"].as_str().unwrap().replace('\'', "''");
        let mut admin = common::admin().await;
        let role = common::quote(&self.admin);
        let sql = format!(
            "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{}') THEN \
             CREATE ROLE {role} LOGIN CREATEROLE CREATEDB PASSWORD '{password}' IN ROLE pg_signal_backend; END IF; END$$",
            self.admin
        );
        sqlx::raw_sql(&sql).execute(&mut admin).await.unwrap();
    }

    /// Runs provision steps until done, making the local server accept the master user once
    /// the DB exists; panics on a failure.
    pub async fn provision(&self, req: &InstanceRequest) {
        for _ in 0..20 {
            if self.secret_arn(&req.instance_id).await.is_some() {
                self.accept_master_user(&req.instance_id).await;
            }
            match self.backend.provision(req).await {
                Step::Done(_) => return,
                Step::InProgress { .. } => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Step::Failed(f) => panic!("provision: {f:?}"),
            }
        }
        panic!("provision did not finish in 20 steps");
    }

    /// The calls the backend made are exactly those of the policy statement `sid` in
    /// docs/aws-backend.md, and none of them is one AWS only implies.
    pub fn assert_calls_match_policy(&self, sid: &str) {
        let (called, implied) = policy_actions(sid);
        assert_eq!(
            self.moto.actions(),
            called,
            "docs/aws-backend.md's policy vs the calls made"
        );
        assert!(called.is_disjoint(&implied));
    }

    /// Runs update or deprovision steps until done.
    pub async fn settle(&self, what: &str, mut step: impl AsyncFnMut() -> Step<()>) -> Vec<String> {
        let mut seen = Vec::new();
        for _ in 0..20 {
            match step().await {
                Step::Done(()) => return seen,
                Step::InProgress { description, .. } => seen.push(description),
                Step::Failed(f) => panic!("{what}: {f:?}"),
            }
        }
        panic!("{what} did not finish in 20 steps: {seen:?}");
    }
}

/// A binding's login on the local server the override points at (its URI names the DB's
/// endpoint `host`, with `sslmode=require`).
pub async fn connect_locally(
    creds: &pgbroker_domain::Credentials,
    host: &str,
) -> sqlx::PgConnection {
    let uri = common::field(creds, "uri")
        .replace(host, "127.0.0.1")
        .replace("sslmode=require", "sslmode=disable");
    <sqlx::PgConnection as sqlx::Connection>::connect(&uri)
        .await
        .unwrap()
}

pub fn plan(settings: Value) -> Plan {
    Plan {
        name: "rds-small".into(),
        backend: "rds".into(),
        ..common::plan(settings)
    }
}

/// An instance request on an RDS plan.
pub fn instance_req(id: &InstanceId, plan_settings: Value, parameters: Value) -> InstanceRequest {
    InstanceRequest {
        plan: plan(plan_settings),
        ..common::instance_req(id, parameters)
    }
}

/// The actions of the IAM policy in docs/aws-backend.md: those of the statement `sid` (the
/// API calls one backend makes: `RdsCalls`, `AuroraCalls`) and those of `ImpliedByCalls` (what AWS checks on the caller
/// when RDS acts on its behalf: the master secret, the tags on create, the final snapshot).
pub fn policy_actions(sid: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/aws-backend.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let start = doc
        .find("```json\n{\n  \"Version\"")
        .expect("the policy's JSON block")
        + 8;
    let end = start + doc[start..].find("```").unwrap();
    let policy: Value = serde_json::from_str(&doc[start..end]).unwrap();
    let of = |sid: &str| -> BTreeSet<String> {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Sid"] == sid)
            .flat_map(|s| s["Action"].as_array().unwrap().iter())
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    };
    (of(sid), of("ImpliedByCalls"))
}

//! An `aws-rds` backend for the app's tests: moto (pgbroker_testkit::moto) for the AWS APIs and
//! the local PostgreSQL for the SQL side (`sql_endpoint_override`, `sslmode: disable`). The
//! local server must accept the master user whose password RDS (here moto) keeps in Secrets
//! Manager: the test creates a login role named after the backend's `admin_username` (unique per
//! test, CREATEROLE CREATEDB as an RDS master user) before provisioning and, once moto has the
//! DB, gives it the password read from the DB's secret. Everything is dropped at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::str::FromStr;
use std::time::Duration;

use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
use pgbroker_testkit::moto::{Moto, REGION};
use pgbroker_testkit::pg_tagged::TaggedCleanup;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection};

pub const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct AwsWorld {
    pub moto: Moto,
    pub admin: String,
    /// Straight to moto (not recorded): the test's own looks.
    pub rds: aws_sdk_rds::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    _cleanup: TaggedCleanup,
}

/// The environment a `pgbroker` process needs to reach moto with the SDK's default chain.
/// The secret access key the tests give (moto takes any): it must never be logged.
pub const SECRET_KEY: &str = "moto-secret-Zq8xW";

pub const ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
    ("AWS_REGION", REGION),
    // Nothing but the environment: no profile files, no instance metadata (no network here).
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/nonexistent/pgbroker-test-aws-config"),
    (
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/pgbroker-test-aws-credentials",
    ),
];

impl AwsWorld {
    pub async fn start() -> Self {
        let moto = Moto::start().await;
        let admin = format!("pgbaws{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let conf = |url: String| {
            aws_sdk_rds::config::Builder::new()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
                .endpoint_url(url)
                .http_client(pgbroker_adapters_cloud::aws::client::https())
                .build()
        };
        let rds = aws_sdk_rds::Client::from_conf(conf(moto.moto_url()));
        let secrets = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::new()
                .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
                .region(aws_sdk_secretsmanager::config::Region::new(REGION))
                .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
                .endpoint_url(moto.moto_url())
                .http_client(pgbroker_adapters_cloud::aws::client::https())
                .build(),
        );
        let world = Self {
            _cleanup: TaggedCleanup(admin.clone()),
            moto,
            admin,
            rds,
            secrets,
        };
        let role = quote(&world.admin);
        sqlx::raw_sql(&format!(
            "CREATE ROLE {role} LOGIN CREATEROLE CREATEDB IN ROLE pg_signal_backend"
        ))
        .execute(&mut admin_connection().await)
        .await
        .unwrap();
        world
    }

    /// The backend's settings.
    pub fn settings(&self) -> Value {
        json!({
            "region": REGION,
            "endpoint_url": self.moto.endpoint_url(),
            "admin_username": self.admin,
            "classes": {
                "small": {"instance_type": "db.t4g.micro", "storage_type": "gp3"},
                "medium": {"instance_type": "db.t4g.small", "storage_type": "gp3"},
                "serverless": {"instance_type": "db.serverless", "min_capacity": 0.5, "max_capacity": 4.0},
                "provisioned": {"instance_type": "db.r6g.large"},
            },
            "sql_endpoint_override": {"host": "127.0.0.1", "port": 5432, "sslmode": "disable"},
            "poll_interval_ms": 50,
        })
    }

    /// Waits until moto has a DB (an Aurora cluster, else a DB instance), then gives the master
    /// user's local role the password of its secret; answers the DB's identifier and password.
    pub async fn accept_master_password(&self) -> (String, String) {
        for _ in 0..600 {
            let clusters = self.rds.describe_db_clusters().send().await.unwrap();
            let instances = self.rds.describe_db_instances().send().await.unwrap();
            let found = match clusters.db_clusters().first() {
                Some(c) => Some((c.db_cluster_identifier(), c.master_user_secret())),
                None => instances
                    .db_instances()
                    .first()
                    .map(|d| (d.db_instance_identifier(), d.master_user_secret())),
            };
            if let Some((identifier, secret)) = found {
                let arn = secret.and_then(|s| s.secret_arn()).unwrap();
                let secret = self
                    .secrets
                    .get_secret_value()
                    .secret_id(arn)
                    .send()
                    .await
                    .unwrap();
                let value: Value = serde_json::from_str(secret.secret_string().unwrap()).unwrap();
                let password = value["password"].as_str().unwrap().to_string();
                let sql = format!(
                    "ALTER ROLE {} PASSWORD '{}'",
                    quote(&self.admin),
                    password.replace('\'', "''")
                );
                sqlx::raw_sql(&sql)
                    .execute(&mut admin_connection().await)
                    .await
                    .unwrap();
                return (identifier.unwrap().to_string(), password);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto never had a DB instance");
    }

    pub async fn db(&self, identifier: &str) -> Option<aws_sdk_rds::types::DbInstance> {
        let out = self
            .rds
            .describe_db_instances()
            .db_instance_identifier(identifier)
            .send()
            .await
            .ok()?;
        out.db_instances().first().cloned()
    }

    pub async fn cluster(&self, identifier: &str) -> Option<aws_sdk_rds::types::DbCluster> {
        let out = self
            .rds
            .describe_db_clusters()
            .db_cluster_identifier(identifier)
            .send()
            .await
            .ok()?;
        out.db_clusters().first().cloned()
    }

    pub async fn cluster_snapshot_exists(&self, name: &str) -> bool {
        self.rds
            .describe_db_cluster_snapshots()
            .db_cluster_snapshot_identifier(name)
            .send()
            .await
            .is_ok_and(|o| !o.db_cluster_snapshots().is_empty())
    }

    pub async fn snapshot_exists(&self, name: &str) -> bool {
        self.rds
            .describe_db_snapshots()
            .db_snapshot_identifier(name)
            .send()
            .await
            .is_ok_and(|o| !o.db_snapshots().is_empty())
    }
}

pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub async fn admin_connection() -> PgConnection {
    PgConnectOptions::from_str(ADMIN_URL)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A binding's `uri` (which names the DB's endpoint) on the local server the override points at.
pub fn local_uri(uri: &str, host: &str) -> String {
    uri.replace(host, "127.0.0.1")
        .replace("sslmode=require", "sslmode=disable")
}

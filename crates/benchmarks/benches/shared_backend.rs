//! The shared-server backend through the broker's HTTP API, next to the same SQL sent directly.
//!
//! 50 instances (PGBROKER_BENCH_INSTANCES): provision+bind, then unbind+deprovision, first one at
//! a time, then 16 at a time (PGBROKER_BENCH_CONCURRENCY). The broker runs in-process with its
//! SQLite state store and records the statements its backend sends; those statements are then
//! replayed with psql under other names, one psql per database visited per step, which is what
//! an administrator scripting the same work would do. Target: the broker's sequential wall time
//! at most 1.15 times the direct SQL. Server: TEST_POSTGRES_URL or the local one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use pgbroker_adapters_cloud::shared::Statement;
use pgbroker_adapters_cloud::{SharedServerBackend, SharedSettings};
use pgbroker_app::config::{BasicAuthConfig, Config};
use pgbroker_app::secret_value::SecretValue;
use pgbroker_app::serve;
use pgbroker_app::store_url::StoreUrl;
use pgbroker_domain::ports::BackendRegistry;
use pgbroker_testkit::backend::TestBackend;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor};

const LIMIT: f64 = 1.15;
const SERVICE: &str = "f3f7eb7c-f181-44e2-8a8e-95fc51e94990";
const PLAN: &str = "8918ebda-7ee3-4766-bb57-9e658fcd9689";
const PASSWORD: &str = "bench-password";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        want: u16,
    ) -> anyhow::Result<()> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .basic_auth("bench", Some(PASSWORD))
            .header("X-Broker-API-Version", "2.17");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        if status != want {
            bail!(
                "{method} {path}: {status} {}",
                response.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    async fn up(&self, id: &str) -> anyhow::Result<()> {
        let body = json!({"service_id": SERVICE, "plan_id": PLAN});
        let instance = format!("/v2/service_instances/{id}");
        self.send(reqwest::Method::PUT, &instance, Some(body.clone()), 201)
            .await?;
        self.send(
            reqwest::Method::PUT,
            &format!("{instance}/service_bindings/app"),
            Some(body),
            201,
        )
        .await
    }

    async fn down(&self, id: &str) -> anyhow::Result<()> {
        let ids = format!("service_id={SERVICE}&plan_id={PLAN}");
        let instance = format!("/v2/service_instances/{id}");
        self.send(
            reqwest::Method::DELETE,
            &format!("{instance}/service_bindings/app?{ids}"),
            None,
            200,
        )
        .await?;
        self.send(
            reqwest::Method::DELETE,
            &format!("{instance}?{ids}"),
            None,
            200,
        )
        .await
    }
}

/// Runs one step's statements with psql: one psql per run of statements in the same database.
fn replay(
    server: &PgConnectOptions,
    statements: &[Statement],
    from: &str,
    to: &str,
) -> anyhow::Result<()> {
    let mut i = 0;
    while i < statements.len() {
        let database = statements[i].database.clone();
        let mut psql = std::process::Command::new("psql");
        psql.args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            server.get_host(),
            "-p",
        ])
        .arg(server.get_port().to_string())
        .args(["-U", server.get_username(), "-d"])
        .arg(
            database
                .as_deref()
                .map(|d| d.replace(from, to))
                .unwrap_or_else(|| "postgres".into()),
        )
        .stdout(std::process::Stdio::null());
        while i < statements.len() && statements[i].database == database {
            psql.arg("-c").arg(statements[i].sql.replace(from, to));
            i += 1;
        }
        let status = psql.status().context("running psql")?;
        if !status.success() {
            bail!("psql failed: {status}");
        }
    }
    Ok(())
}

async fn replay_all(
    server: &PgConnectOptions,
    steps: &[Vec<Statement>],
    from: &str,
    to: &str,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    futures::stream::iter(steps.iter().cloned())
        .map(|step| {
            let (server, from, to) = (server.clone(), from.to_string(), to.to_string());
            async move { tokio::task::spawn_blocking(move || replay(&server, &step, &from, &to)).await? }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(start.elapsed())
}

async fn broker_all(
    client: &Client,
    ids: &[String],
    up: bool,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    futures::stream::iter(ids)
        .map(|id| async move {
            if up {
                client.up(id).await
            } else {
                client.down(id).await
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(start.elapsed())
}

async fn cleanup(admin_url: &str, tag: &str) -> anyhow::Result<()> {
    let mut admin = PgConnectOptions::from_str(admin_url)?.connect().await?;
    let pattern = format!("{tag}%");
    let dbs: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE $1")
            .bind(&pattern)
            .fetch_all(&mut admin)
            .await?;
    for db in dbs {
        admin
            .execute(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)").as_str())
            .await?;
    }
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE rolname LIKE $1")
            .bind(&pattern)
            .fetch_all(&mut admin)
            .await?;
    for role in roles {
        admin
            .execute(format!("DROP ROLE IF EXISTS \"{role}\"").as_str())
            .await?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let admin_url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let tag = format!("pgbb{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let result = runtime.block_on(run(&admin_url, &tag));
    runtime.block_on(cleanup(&admin_url, &tag))?;
    result
}

async fn run(admin_url: &str, tag: &str) -> anyhow::Result<()> {
    let n = env_usize("PGBROKER_BENCH_INSTANCES", 50);
    let concurrency = env_usize("PGBROKER_BENCH_CONCURRENCY", 16);
    let server = PgConnectOptions::from_str(admin_url)?;
    let settings: SharedSettings = serde_json::from_value(json!({
        "servers": [{"name": "bench", "admin_url": admin_url, "max_databases": 100000, "max_connections": concurrency}],
        "names": {
            "database": format!("{tag}_{{instance}}"),
            "owner_role": format!("{tag}_{{instance}}_owner"),
            "binding_role": format!("{tag}_{{instance}}_{{binding}}"),
        },
    }))?;
    let backend = Arc::new(SharedServerBackend::new("shared", settings)?);
    let registry = BackendRegistry::new()
        .with("shared", backend.clone())
        .with("cnpg", Arc::new(TestBackend::asynchronous()));
    let dir = std::env::temp_dir().join(format!("{tag}-state"));
    std::fs::create_dir_all(&dir)?;
    let mut config = Config::default();
    config.state_store.url = StoreUrl::new(format!(
        "sqlite://{}?mode=rwc",
        dir.join("state.db").display()
    ));
    config.server.listen = "127.0.0.1:0".into();
    config.engine.concurrency = concurrency;
    config.auth.basic = vec![BasicAuthConfig {
        username: "bench".into(),
        password: SecretValue::Inline(PASSWORD.into()),
    }];
    let broker = serve::start(&config, Some(registry)).await?;
    let client = Client {
        http: reqwest::Client::new(),
        base: format!("http://{}", broker.addr),
    };
    let ids = |set: &str| {
        (0..n)
            .map(|i| format!("{set}-{i}-{}", uuid::Uuid::new_v4()))
            .collect::<Vec<_>>()
    };

    // Warm-up: connection pools, SQLite file, psql binary in the page cache.
    let warm = ids("warm");
    broker_all(&client, &warm[..2], true, 1).await?;
    broker_all(&client, &warm[..2], false, 1).await?;

    // The broker, one at a time, recording what its backend sends.
    let seq = ids("seq");
    let (mut up_steps, mut down_steps) = (Vec::new(), Vec::new());
    backend.record_statements(true);
    let mut broker_up = Duration::ZERO;
    for id in &seq {
        broker_up += broker_all(&client, std::slice::from_ref(id), true, 1).await?;
        up_steps.push(backend.take_statements());
    }
    let mut broker_down = Duration::ZERO;
    for id in &seq {
        broker_down += broker_all(&client, std::slice::from_ref(id), false, 1).await?;
        down_steps.push(backend.take_statements());
    }
    backend.record_statements(false);
    let par = ids("par");
    let broker_up_par = broker_all(&client, &par, true, concurrency).await?;
    let broker_down_par = broker_all(&client, &par, false, concurrency).await?;
    broker.shutdown().await?;
    std::fs::remove_dir_all(&dir)?;

    // The same statements with psql, under other names (the tag is a prefix of both).
    let (seq_tag, par_tag) = (format!("{tag}s"), format!("{tag}p"));
    let direct_up = replay_all(&server, &up_steps, tag, &seq_tag, 1).await?;
    let direct_down = replay_all(&server, &down_steps, tag, &seq_tag, 1).await?;
    let direct_up_par = replay_all(&server, &up_steps, tag, &par_tag, concurrency).await?;
    let direct_down_par = replay_all(&server, &down_steps, tag, &par_tag, concurrency).await?;

    let statements: usize = up_steps.iter().chain(&down_steps).map(Vec::len).sum();
    println!(
        "shared-server backend, {n} instances, {statements} statements, server {}:{}",
        server.get_host(),
        server.get_port()
    );
    println!(
        "{:<34} {:>12} {:>12} {:>7}",
        "", "broker HTTP", "direct psql", "ratio"
    );
    let mut over = false;
    for (label, broker, direct, checked) in [
        ("provision+bind, sequential", broker_up, direct_up, true),
        (
            "unbind+deprovision, sequential",
            broker_down,
            direct_down,
            true,
        ),
        (
            &*format!("provision+bind, {concurrency}-way"),
            broker_up_par,
            direct_up_par,
            false,
        ),
        (
            &*format!("unbind+deprovision, {concurrency}-way"),
            broker_down_par,
            direct_down_par,
            false,
        ),
    ] {
        let ratio = broker.as_secs_f64() / direct.as_secs_f64();
        let verdict = if !checked {
            ""
        } else if ratio <= LIMIT {
            "  ok"
        } else {
            over = true;
            "  OVER"
        };
        println!(
            "{label:<34} {:>10.3} s {:>10.3} s {ratio:>7.2}{verdict}",
            broker.as_secs_f64(),
            direct.as_secs_f64()
        );
    }
    println!("limit: broker wall time <= {LIMIT} x direct SQL, sequential");
    if over {
        bail!("the broker is over the limit");
    }
    Ok(())
}

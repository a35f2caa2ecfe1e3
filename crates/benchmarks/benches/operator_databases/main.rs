//! 200 PostgreSQLDatabase objects applied at once through the operator, next to the same 200
//! databases through the OSB API of the same `pgbroker serve`.
//!
//! One process runs the real server (`pgbroker_app::serve::start`, OSB and operator doors on,
//! its default SQLite state store and engine) on the shared-server backend (the local
//! PostgreSQL, every name starting with a tag unique to the run, dropped at the end), and the
//! in-memory Kubernetes API test server with pgbroker's CRDs. A PostgreSQLServer is made Ready
//! first (and an OSB instance provisioned); then, per round:
//!
//! - operator: OPERATOR_BENCH_OBJECTS (200) PostgreSQLDatabase objects applied at once (one
//!   server-side apply each, all in flight together); timed until every one is Ready with its
//!   Secret; then all deleted at once, timed until the objects and Secrets are gone. The
//!   Kubernetes API requests the operator made meanwhile are counted from the test server's
//!   request log (the bench's own applies and deletes left out; it watches the store directly);
//! - OSB: as many binds with `parameters.database` on the instance, all at once, asynchronous
//!   as the operator's, each polled every OPERATOR_BENCH_OSB_POLL_MS (100) until bound and its
//!   credentials fetched; then all unbound at once, polled until done.
//!
//! The OSB run is the reference: the same broker, backend, engine and store doing the same
//! binds, driven by a client that knows which operation to wait for. The ratio printed is
//! operator ÷ OSB. After each phase the databases on the server are counted (made, and gone).
//! Knobs: OPERATOR_BENCH_ROUNDS (1; the order of the doors alternates), OPERATOR_BENCH_ENGINE
//! (engine concurrency, default the server's), OPERATOR_BENCH_GIVE_UP_SECONDS (600),
//! TEST_POSTGRES_URL. docs/benchmarks.md has the method and results.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cleanup;
mod objects;
mod osb;
mod report;
mod tally;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use pgbroker_adapters_cloud::{SharedServerBackend, SharedSettings};
use pgbroker_app::config::{BasicAuthConfig, Config};
use pgbroker_app::secret_value::SecretValue;
use pgbroker_app::serve;
use pgbroker_app::store_url::StoreUrl;
use pgbroker_domain::ports::BackendRegistry;
use pgbroker_kube_testserver::{SimulatorOptions, TestServer, TestServerOptions, crds};
use serde_json::json;

use cleanup::Cleanup;
use osb::Osb;
use tally::Tally;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub struct Knobs {
    pub objects: usize,
    pub rounds: usize,
    pub poll: Duration,
    pub give_up: Duration,
}

fn main() -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        pgbroker_app::logging::init(
            &Config::default().log,
            &pgbroker_app::telemetry::Telemetry::new(&Default::default())?,
        )?;
    }
    let knobs = Knobs {
        objects: env_u64("OPERATOR_BENCH_OBJECTS", 200).max(1) as usize,
        rounds: env_u64("OPERATOR_BENCH_ROUNDS", 1).max(1) as usize,
        poll: Duration::from_millis(env_u64("OPERATOR_BENCH_OSB_POLL_MS", 100).max(1)),
        give_up: Duration::from_secs(env_u64("OPERATOR_BENCH_GIVE_UP_SECONDS", 600)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let admin_url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let tag = format!("pgob{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    // Dropped last: after the server has stopped, whatever is left on PostgreSQL goes.
    let _cleanup = Cleanup {
        admin_url: admin_url.clone(),
        tag: tag.clone(),
    };
    let dir = std::env::temp_dir().join(format!("{tag}-state"));
    std::fs::create_dir_all(&dir)?;
    let result = runtime.block_on(run(&knobs, &admin_url, &tag, &dir));
    std::fs::remove_dir_all(&dir)?;
    result
}

fn kubeconfig(kube: &TestServer) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters: [{{name: bench, cluster: {{server: '{url}'}}}}]
users: [{{name: bench, user: {{}}}}]
contexts: [{{name: bench, context: {{cluster: bench, user: bench, namespace: default}}}}]
current-context: bench
",
        url = kube.url()
    )
}

const CATALOG: &str = "services:
  - id: svc-shared
    name: shared
    description: shared server databases
    bindable: true
    plans:
      - {id: plan-shared-small, name: small, description: a database, backend: shared}
";

fn config(dir: &std::path::Path, kube: &TestServer) -> anyhow::Result<Config> {
    let kubeconfig_path = dir.join("kubeconfig");
    std::fs::write(&kubeconfig_path, kubeconfig(kube))?;
    let catalog = dir.join("catalog.yaml");
    std::fs::write(&catalog, CATALOG)?;
    let mut config = Config::default();
    config.state_store.url = StoreUrl::new(std::env::var("OPERATOR_BENCH_STORE_URL").unwrap_or(
        format!("sqlite://{}?mode=rwc", dir.join("state.db").display()),
    ));
    config.server.listen = "127.0.0.1:0".into();
    if let Some(n) = std::env::var("OPERATOR_BENCH_ENGINE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.engine.concurrency = n;
    }
    config.catalog.path = Some(catalog);
    config.auth.basic = vec![BasicAuthConfig {
        username: osb::USER.into(),
        password: SecretValue::Inline(osb::PASSWORD.into()),
    }];
    config.operator.enabled = true;
    config.operator.kubeconfig = Some(kubeconfig_path);
    config.operator.default_backend = Some("shared".into());
    config.operator.lease_namespace = Some(objects::NS.into());
    config.operator.namespaces = vec![objects::NS.into()];
    Ok(config)
}

/// The sum of the samples of `name{kind="<kind>"}` in a Prometheus text.
fn reconciles(metrics: &str, kind: &str) -> f64 {
    let series = format!("pgbroker_operator_reconciles_total{{kind=\"{kind}\"}}");
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix(series.as_str())?.trim().parse::<f64>().ok())
        .sum()
}

async fn metrics(osb: &Osb) -> anyhow::Result<String> {
    Ok(osb
        .http
        .get(format!("{}/metrics", osb.base))
        .send()
        .await?
        .text()
        .await?)
}

/// What one round measured.
#[derive(Default)]
pub struct Round {
    pub operator_up: Duration,
    pub operator_down: Duration,
    pub osb_up: Duration,
    pub osb_down: Duration,
    pub up_tally: Option<Tally>,
    pub down_tally: Option<Tally>,
    /// Reconciles of databases and of the server.
    pub reconciles_up: (f64, f64),
    pub reconciles_down: (f64, f64),
    /// HTTP requests, and those refused because the instance was busy.
    pub osb_requests_up: (usize, usize),
    pub osb_requests_down: (usize, usize),
}

struct Bench<'a> {
    knobs: &'a Knobs,
    admin_url: &'a str,
    tag: &'a str,
    kube: &'a TestServer,
    osb: &'a Osb,
    server: &'a str,
    instance: &'a str,
}

impl Bench<'_> {
    async fn databases(&self) -> anyhow::Result<i64> {
        cleanup::databases(self.admin_url, self.tag).await
    }

    async fn operator(&self, round: &mut Round, names: &[String]) -> anyhow::Result<()> {
        let n = names.len() as i64;
        let base = self.databases().await?;
        let before = self.kube.requests().len();
        let m0 = metrics(self.osb).await?;
        let start = Instant::now();
        objects::apply_databases(self.kube, self.server, names).await?;
        objects::until_ready(self.kube, "postgresqldatabases", names, self.knobs.give_up).await?;
        round.operator_up = start.elapsed();
        let up = self.kube.requests();
        let m1 = metrics(self.osb).await?;
        ensure!(
            self.databases().await? == base + n,
            "not {n} databases made"
        );
        round.up_tally = Some(Tally::of(&up[before..]));
        round.reconciles_up = (
            reconciles(&m1, "database") - reconciles(&m0, "database"),
            reconciles(&m1, "server") - reconciles(&m0, "server"),
        );

        let before = up.len();
        let start = Instant::now();
        objects::delete_databases(self.kube, names).await?;
        objects::until_gone(self.kube, "postgresqldatabases", names, self.knobs.give_up).await?;
        round.operator_down = start.elapsed();
        let m2 = metrics(self.osb).await?;
        round.down_tally = Some(Tally::of(&self.kube.requests()[before..]));
        round.reconciles_down = (
            reconciles(&m2, "database") - reconciles(&m1, "database"),
            reconciles(&m2, "server") - reconciles(&m1, "server"),
        );
        ensure!(
            self.databases().await? == base,
            "the operator's databases are not all gone"
        );
        Ok(())
    }

    async fn osb(&self, round: &mut Round, names: &[String]) -> anyhow::Result<()> {
        let n = names.len() as i64;
        let base = self.databases().await?;
        let bindings: Vec<String> = names
            .iter()
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect();
        // The database names the operator makes of the object names.
        let databases: Vec<String> = names.iter().map(|n| n.replace('-', "_")).collect();
        let sent = (self.osb.requests(), self.osb.refused());
        let start = Instant::now();
        let binds = bindings
            .iter()
            .zip(&databases)
            .map(|(b, db)| self.osb.bind(self.instance, b, db));
        for result in futures::future::join_all(binds).await {
            result?;
        }
        round.osb_up = start.elapsed();
        round.osb_requests_up = (self.osb.requests() - sent.0, self.osb.refused() - sent.1);
        ensure!(
            self.databases().await? == base + n,
            "not {n} databases made"
        );

        let sent = (self.osb.requests(), self.osb.refused());
        let start = Instant::now();
        let unbinds = bindings.iter().map(|b| self.osb.unbind(self.instance, b));
        for result in futures::future::join_all(unbinds).await {
            result?;
        }
        round.osb_down = start.elapsed();
        round.osb_requests_down = (self.osb.requests() - sent.0, self.osb.refused() - sent.1);
        ensure!(
            self.databases().await? == base,
            "the OSB databases are not all gone"
        );
        Ok(())
    }
}

async fn run(
    knobs: &Knobs,
    admin_url: &str,
    tag: &str,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let kube = TestServer::start(TestServerOptions {
        crd_dirs: vec![crds::pgbroker_crd_dir()],
        simulator: SimulatorOptions {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    })
    .await?;
    let settings: SharedSettings = serde_json::from_value(json!({
        "servers": [{"name": "bench", "admin_url": admin_url, "max_databases": 100000,
                     "client_sslmode": "disable"}],
        "names": {
            "database": format!("{tag}_{{instance}}"),
            "owner_role": format!("{tag}_{{instance}}_owner"),
            "binding_role": format!("{tag}_{{instance}}_{{binding}}"),
        },
    }))?;
    let backends = BackendRegistry::new().with(
        "shared",
        Arc::new(SharedServerBackend::new("shared", settings)?),
    );
    let config = config(dir, &kube)?;
    let running = serve::start(&config, Some(backends)).await?;
    let osb = Osb::new(
        format!("http://{}", running.addr),
        knobs.poll,
        knobs.give_up,
    );

    let (server, instance) = ("pg", uuid::Uuid::new_v4().to_string());
    objects::apply_server(&kube, server).await?;
    objects::until_ready(&kube, "postgresqlservers", &[server.into()], knobs.give_up).await?;
    osb.provision(&instance).await?;
    let bench = Bench {
        knobs,
        admin_url,
        tag,
        kube: &kube,
        osb: &osb,
        server,
        instance: &instance,
    };
    // Warm-up, not measured: connection pools, the server's caches, the watches.
    let warm: Vec<String> = (0..4).map(|i| format!("warm-{i}")).collect();
    bench.operator(&mut Round::default(), &warm).await?;
    bench.osb(&mut Round::default(), &warm).await?;

    let names: Vec<String> = (0..knobs.objects).map(|i| format!("db-{i:04}")).collect();
    let mut rounds = Vec::new();
    for r in 0..knobs.rounds {
        let mut round = Round::default();
        if r % 2 == 0 {
            bench.operator(&mut round, &names).await?;
            bench.osb(&mut round, &names).await?;
        } else {
            bench.osb(&mut round, &names).await?;
            bench.operator(&mut round, &names).await?;
        }
        rounds.push(round);
    }

    objects::delete_server(&kube, server).await?;
    objects::until_gone(&kube, "postgresqlservers", &[server.into()], knobs.give_up).await?;
    osb.deprovision(&instance).await?;
    running.shutdown().await?;
    report::print(knobs, &config, &rounds);
    Ok(())
}

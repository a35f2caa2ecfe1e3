//! The shared-server backend through the broker's HTTP API, next to its limit: the same
//! statements over persistent connections.
//!
//! 50 instances (PGBROKER_BENCH_INSTANCES): provision+bind, then unbind+deprovision, first one at
//! a time, then 16 at a time (PGBROKER_BENCH_CONCURRENCY). The broker runs in-process with its
//! default SQLite state store (PGBROKER_BENCH_STATE_DIR for its directory,
//! PGBROKER_BENCH_STORE_URL for another store) and records the statements its backend sends; the
//! limit replays exactly those under other names in the same round (see `limit.rs`, `rounds.rs`).
//! Target: every broker figure at most 1.15 times its limit. The other sections split the
//! difference: the backend's steps called directly, the broker's time inside its backend steps,
//! and the broker on a backend that does nothing, over HTTP and in-process. docs/benchmarks.md
//! describes the method and the results. Server: TEST_POSTGRES_URL or the local one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod direct;
mod http;
mod limit;
mod rounds;
mod timed;
mod usecases;

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use futures::{StreamExt, TryStreamExt};
use pgbroker_adapters_cloud::shared::Statement;
use pgbroker_adapters_cloud::{SharedServerBackend, SharedSettings};
use pgbroker_app::config::{BasicAuthConfig, Config};
use pgbroker_app::secret_value::SecretValue;
use pgbroker_app::serve::{self, RunningServer};
use pgbroker_app::store_url::StoreUrl;
use pgbroker_domain::ports::BackendRegistry;
use pgbroker_testkit::backend::TestBackend;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor};

use http::{Client, PASSWORD};
use rounds::{Ids, Row, Sections, direction};

const LIMIT: f64 = 1.15;

/// How long each step of the sleeping backend takes: about a shared-backend step here, so that
/// the broker's threads wait as long between a request's store writes as with the real one,
/// without the server's work competing with them for the CPU.
const SLEEP: Duration = Duration::from_millis(20);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Broker {
    server: RunningServer,
    client: Client,
}

async fn start_broker(
    registry: BackendRegistry,
    state: &std::path::Path,
    concurrency: usize,
) -> anyhow::Result<Broker> {
    let mut config = Config::default();
    config.state_store.url = StoreUrl::new(
        std::env::var("PGBROKER_BENCH_STORE_URL")
            .unwrap_or(format!("sqlite://{}?mode=rwc", state.display())),
    );
    config.server.listen = "127.0.0.1:0".into();
    config.engine.concurrency = concurrency;
    config.auth.basic = vec![BasicAuthConfig {
        username: "bench".into(),
        password: SecretValue::Inline(PASSWORD.into()),
    }];
    let server = serve::start(&config, Some(registry)).await?;
    let client = Client {
        http: reqwest::Client::new(),
        base: format!("http://{}", server.addr),
    };
    Ok(Broker { server, client })
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

/// A statement's shape (see [`limit::shape`]).
type Shape = (Option<String>, String);

/// The shapes of one instance's statements, in the order sent.
fn instance_shapes(statements: &[Statement], id: &str) -> Vec<Shape> {
    statements.iter().map(|s| limit::shape(s, id)).collect()
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
    if std::env::var_os("RUST_LOG").is_some() {
        // The broker's own log on standard error, filtered by RUST_LOG.
        pgbroker_app::logging::init(
            &Config::default().log,
            &pgbroker_app::telemetry::Telemetry::new(&Default::default())?,
        )?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let admin_url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let tag = format!("pgbb{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    // PGBROKER_BENCH_STATE_DIR: where the SQLite state stores go (e.g. /dev/shm, to see what
    // their fsyncs cost); default: the temporary directory.
    let parent = std::env::var_os("PGBROKER_BENCH_STATE_DIR")
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    let dir = parent.join(format!("{tag}-state"));
    std::fs::create_dir_all(&dir)?;
    let result = runtime.block_on(run(&admin_url, &tag, &dir));
    runtime.block_on(cleanup(&admin_url, &tag))?;
    std::fs::remove_dir_all(&dir)?;
    result
}

/// Mean time of one SCRAM-SHA-256 verifier, as the backend computes it for every bind.
fn verifier_time() -> Duration {
    let start = Instant::now();
    for _ in 0..50 {
        std::hint::black_box(postgres_protocol::password::scram_sha_256(
            b"bench-password",
        ));
    }
    start.elapsed() / 50
}

/// Mean time of checking empty parameters against the plan's instance and binding schemas, as
/// the broker does for every provision and bind.
fn schema_check_time(plan: &pgbroker_domain::Plan) -> Duration {
    use pgbroker_domain::ports::ParameterSchemas;
    let schemas = [&plan.schemas.instance_create, &plan.schemas.binding_create];
    let empty = serde_json::Map::new();
    let start = Instant::now();
    for _ in 0..50 {
        for schema in schemas.iter().copied().flatten() {
            let checked = pgbroker_api_osb::JsonSchemaParameters.validate(schema, &empty);
            std::hint::black_box(checked).ok();
        }
    }
    start.elapsed() / 50
}

async fn run(admin_url: &str, tag: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let n = env_usize("PGBROKER_BENCH_INSTANCES", 50);
    let concurrency = env_usize("PGBROKER_BENCH_CONCURRENCY", 16).max(1);
    let par_rounds = env_usize("PGBROKER_BENCH_PARALLEL_ROUNDS", 4).max(1);
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
    let timed = Arc::new(timed::Timed::new(backend.clone()));
    let broker = start_broker(
        BackendRegistry::new()
            .with("shared", timed.clone())
            .with("cnpg", Arc::new(TestBackend::asynchronous())),
        &dir.join("broker.db"),
        concurrency,
    )
    .await?;
    let noop = start_broker(
        BackendRegistry::new()
            .with("shared", Arc::new(TestBackend::synchronous()))
            .with("cnpg", Arc::new(TestBackend::asynchronous())),
        &dir.join("noop.db"),
        concurrency,
    )
    .await?;
    let sleeping = start_broker(
        BackendRegistry::new()
            .with(
                "shared",
                Arc::new(TestBackend::synchronous().with_step_delay(SLEEP)),
            )
            .with("cnpg", Arc::new(TestBackend::asynchronous())),
        &dir.join("sleeping.db"),
        concurrency,
    )
    .await?;
    let plan = direct::catalog_plan()?;
    // Short prefixes: names are the tag, the id and a suffix, within PostgreSQL's 63 bytes.
    let ids = |set: &str, count: usize| {
        (0..count)
            .map(|i| format!("{set}{i}-{}", uuid::Uuid::new_v4()))
            .collect::<Vec<_>>()
    };

    let sections = Sections {
        tag,
        admin_url,
        broker: &broker,
        noop: &noop,
        sleeping: &sleeping,
        backend: &backend,
        timed: &timed,
        plan: &plan,
    };

    // Warm-up: connection pools, SQLite files, the server's caches.
    let warm = ids("w", 2);
    let warm_direct = ids("x", 2);
    let warm_noop = ids("v", 2);
    let warm_usecases = ids("u", 2);
    let warm_sleeping = ids("z", 2);
    let mut warm_limit = limit::Limit::connect(admin_url, 1).await?;
    for up in [true, false] {
        let ids = Ids {
            broker: &warm[..2],
            direct: &warm_direct[..2],
            noop: &warm_noop[..2],
            usecases: &warm_usecases[..2],
            sleeping: &warm_sleeping[..2],
        };
        sections
            .round(&mut warm_limit, &format!("{tag}w"), &ids, up, 1, true)
            .await?;
    }

    // Sequential: one instance at a time, the sections in turn for each instance, so that all
    // of them see the server in the same state (its speed moves with checkpoints and with
    // whatever else runs on it).
    let (seq, dseq, nseq, useq) = (ids("s", n), ids("d", n), ids("n", n), ids("a", n));
    let zseq = ids("z", n);
    drop(warm_limit);
    let mut seq_limit = limit::Limit::connect(admin_url, 1).await?;
    let mut rows = Vec::new();
    // Each direction's statement shapes per instance, as the sequential run sent them.
    let mut expected: Vec<BTreeSet<Vec<Shape>>> = Vec::new();
    let mut per_instance = Vec::new();
    for up in [true, false] {
        let mut row = Row::new(format!("{}, sequential", direction(up)));
        let mut shapes = BTreeSet::new();
        let mut count = 0;
        for i in 0..n {
            let ids = Ids {
                broker: &seq[i..=i],
                direct: &dseq[i..=i],
                noop: &nseq[i..=i],
                usecases: &useq[i..=i],
                sleeping: &zseq[i..=i],
            };
            let (times, sent) = sections
                .round(
                    &mut seq_limit,
                    &format!("{tag}s"),
                    &ids,
                    up,
                    1,
                    i.is_multiple_of(2),
                )
                .await?;
            row.add(times);
            count += sent[0].len();
            shapes.insert(instance_shapes(&sent[0], &seq[i]));
        }
        rows.push(row);
        expected.push(shapes);
        per_instance.push(count as f64 / n as f64);
    }

    // 16-way: rounds of 16 instances at once, again the sections in turn; each instance's
    // statements in the 16-way journal must be those of an instance of the sequential run.
    drop(seq_limit);
    let mut par_limit = limit::Limit::connect(admin_url, concurrency).await?;
    let m = par_rounds * concurrency;
    let (par, dpar, npar, upar) = (ids("p", m), ids("q", m), ids("m", m), ids("b", m));
    let zpar = ids("y", m);
    for (up, expected) in [true, false].into_iter().zip(&expected) {
        let mut row = Row::new(format!("{}, {concurrency}-way", direction(up)));
        for start in (0..m).step_by(concurrency) {
            let end = start + concurrency;
            let ids = Ids {
                broker: &par[start..end],
                direct: &dpar[start..end],
                noop: &npar[start..end],
                usecases: &upar[start..end],
                sleeping: &zpar[start..end],
            };
            let (times, sent) = sections
                .round(
                    &mut par_limit,
                    &format!("{tag}p"),
                    &ids,
                    up,
                    concurrency,
                    (start / concurrency).is_multiple_of(2),
                )
                .await?;
            row.add(times);
            for (steps, id) in sent.iter().zip(ids.broker) {
                ensure!(
                    expected.contains(&instance_shapes(steps, id)),
                    "the broker's {concurrency}-way run sent other statements for {id} than its sequential run did for any instance"
                );
            }
        }
        rows.push(row);
    }
    broker.server.shutdown().await?;
    noop.server.shutdown().await?;
    sleeping.server.shutdown().await?;

    println!(
        "shared-server backend, {n} instances one at a time, {par_rounds} rounds of {concurrency} at once, server {}:{}; statements per instance: {:.0} up, {:.0} down",
        server.get_host(),
        server.get_port(),
        per_instance[0],
        per_instance[1],
    );
    println!(
        "{:<32} {:>11} {:>11} {:>6} {:>7}      {:>11} {:>11}",
        "", "broker HTTP", "limit", "total", "median", "backend", "no-op HTTP"
    );
    let mut over = false;
    for row in &rows {
        let total = row.broker.as_secs_f64() / row.limit.as_secs_f64();
        let median = row.median_ratio();
        let verdict = if median <= LIMIT { "ok  " } else { "OVER" };
        over |= median > LIMIT;
        println!(
            "{:<32} {:>9.3} s {:>9.3} s {total:>6.2} {median:>7.2} {verdict} {:>9.3} s {:>9.3} s",
            row.label,
            row.broker.as_secs_f64(),
            row.limit.as_secs_f64(),
            row.direct.as_secs_f64(),
            row.noop.as_secs_f64(),
        );
    }
    println!(
        "  (total: the summed broker time ÷ the summed limit; median: the median over rounds of each round's broker ÷ limit, {n} rounds sequential, {par_rounds} rounds {concurrency}-way; the verdict is on the median)"
    );
    println!(
        "per instance, sequential, ms: {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "broker", "limit", "backend", "in steps", "around", "no-op", "no HTTP", "sleeping"
    );
    for row in rows.iter().take(2) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
        println!(
            "  {:<28} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            row.label,
            ms(row.broker),
            ms(row.limit),
            ms(row.direct),
            ms(row.steps),
            ms(row.broker) - ms(row.steps),
            ms(row.noop),
            ms(row.usecases),
            // Two steps per instance (provision and bind, or unbind and deprovision).
            ms(row.sleeping) - 2.0 * SLEEP.as_secs_f64() * 1000.0,
        );
    }
    println!(
        "  (backend: its steps called directly; in steps: the broker's time inside backend steps; around: the rest of the broker's time, HTTP, state store and engine; no-op: the broker on a backend that does nothing; no HTTP: its use cases called in-process; sleeping: the broker on a backend whose steps sleep {} ms, less the sleeps)",
        SLEEP.as_millis()
    );
    println!(
        "SCRAM-SHA-256 verifier (one per bind): {:.2} ms",
        verifier_time().as_secs_f64() * 1000.0
    );
    println!(
        "parameter schema checks (instance and binding schema, one provision+bind): {:.3} ms",
        schema_check_time(&plan).as_secs_f64() * 1000.0
    );
    println!(
        "limit: the same statements over persistent connections (one admin connection per lane, one into each instance's database); target: broker <= {LIMIT} x limit"
    );
    if over {
        bail!("the broker is over the limit");
    }
    Ok(())
}

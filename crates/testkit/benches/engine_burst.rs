//! A burst of operations on a backend with a fixed per-step latency, on each state store: the
//! time from the first request to the last operation done, against the ideal of an engine that
//! loses no time between steps (steps ÷ concurrency × step latency).
//!
//! `cargo bench -p pgbroker-testkit --bench engine_burst` (PostgreSQL at 127.0.0.1:5432, or
//! `TEST_POSTGRES_URL`). Targets: at most 1.2× the ideal on PostgreSQL, 1.5× on SQLite; the run
//! exits non-zero when a store's median misses its target. Environment: `BURST_OPERATIONS`
//! (64), `BURST_STEPS` (steps per operation, 3), `BURST_STEP_MS` (200), `BURST_CONCURRENCY`
//! (16), `BURST_ROUNDS` (3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use pgbroker_adapters_sql::PoolSettings;
use pgbroker_testkit::backend::TestBackend;
use pgbroker_testkit::load::{
    LoadBroker, StoreKind, StoreLocation, load_policy, wait_until_succeeded,
};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Shape {
    operations: usize,
    steps: usize,
    step: Duration,
    concurrency: usize,
}

impl Shape {
    fn ideal(&self) -> Duration {
        let waves = (self.operations * self.steps) as f64 / self.concurrency as f64;
        self.step.mul_f64(waves)
    }
}

/// One burst on a fresh store: seconds from the first request to the last operation done.
async fn round(kind: StoreKind, shape: &Shape, n: usize) -> anyhow::Result<Duration> {
    let location = StoreLocation::create(kind).await?;
    let store = location.open(&PoolSettings::default()).await?;
    let backend = Arc::new(
        TestBackend::asynchronous()
            .with_step_delay(shape.step)
            .with_steps_per_operation(shape.steps),
    );
    let broker = LoadBroker::new(
        store,
        backend,
        load_policy(Duration::from_secs(30)),
        "bench",
        shape.concurrency,
    );
    let (engine, stop) = broker.spawn_engine();
    let started = Instant::now();
    let ops = broker
        .provision_burst(&format!("burst-{n}"), shape.operations)
        .await?;
    wait_until_succeeded(broker.store.as_ref(), &ops, shape.ideal() * 10).await?;
    let took = started.elapsed();
    let _ = stop.send(());
    engine.await?;
    Ok(took)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let shape = Shape {
        operations: setting("BURST_OPERATIONS", 64) as usize,
        steps: setting("BURST_STEPS", 3) as usize,
        step: Duration::from_millis(setting("BURST_STEP_MS", 200)),
        concurrency: setting("BURST_CONCURRENCY", 16) as usize,
    };
    let rounds = setting("BURST_ROUNDS", 3).max(1) as usize;
    let ideal = shape.ideal();
    println!(
        "engine burst: {} operations x {} steps of {:?}, concurrency {}: ideal {:.3}s",
        shape.operations,
        shape.steps,
        shape.step,
        shape.concurrency,
        ideal.as_secs_f64()
    );
    let mut missed = Vec::new();
    for (kind, target) in [(StoreKind::Postgres, 1.2), (StoreKind::SqliteFile, 1.5)] {
        let mut ratios = Vec::with_capacity(rounds);
        for n in 0..rounds {
            let took = round(kind, &shape, n).await?;
            let ratio = took.as_secs_f64() / ideal.as_secs_f64();
            println!(
                "  {:<8} round {}: {:.3}s = {ratio:.3}x ideal",
                kind.name(),
                n + 1,
                took.as_secs_f64()
            );
            ratios.push(ratio);
        }
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        let verdict = if median <= target { "within" } else { "MISSES" };
        println!(
            "  {:<8} median {median:.3}x ideal: {verdict} the target of {target}x",
            kind.name()
        );
        if median > target {
            missed.push(kind.name());
        }
    }
    anyhow::ensure!(missed.is_empty(), "over target on {missed:?}");
    Ok(())
}

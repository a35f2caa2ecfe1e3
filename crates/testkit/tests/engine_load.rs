//! The engine at its full concurrency of slow operations, with platform polls arriving
//! meanwhile, on a SQLite file and on PostgreSQL, killed in the middle and started again: every
//! operation converges, nothing warns of a stall (failed claims, failed renewals, unsettled
//! steps, lost leases), every poll is answered well within the store's acquire timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::ensure;
use pgbroker_adapters_sql::PoolSettings;
use pgbroker_domain::{InstanceId, OperationId};
use pgbroker_testkit::backend::TestBackend;
use pgbroker_testkit::load::{
    LoadBroker, StoreKind, StoreLocation, load_policy, logged_warnings, wait_until_succeeded,
};
use tokio::sync::watch;

const OPERATIONS: usize = 48;
const CONCURRENCY: usize = 16;
const STEPS_PER_OPERATION: usize = 3;
const STEP_LATENCY: Duration = Duration::from_millis(250);
/// Short, so that the killed engine's operations are taken over within the test.
const LEASE: Duration = Duration::from_secs(2);
/// A stalled store makes requests wait this long for a connection, then fail.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
const POLLERS: usize = 4;

fn slow_backend() -> Arc<TestBackend> {
    Arc::new(
        TestBackend::asynchronous()
            .with_step_delay(STEP_LATENCY)
            .with_steps_per_operation(STEPS_PER_OPERATION),
    )
}

/// What the pollers saw: every latency and every error.
#[derive(Default)]
struct Polls {
    latencies: Vec<Duration>,
    errors: Vec<String>,
}

impl Polls {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(at).copied().unwrap_or_default()
    }
}

/// Pollers that poll `ops` round robin through `broker` until `stop` turns true.
fn spawn_pollers(
    broker: &Arc<LoadBroker>,
    ops: &[(InstanceId, OperationId)],
    polls: &Arc<Mutex<Polls>>,
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..POLLERS)
        .map(|n| {
            let (broker, ops, polls, stop) =
                (broker.clone(), ops.to_vec(), polls.clone(), stop.clone());
            tokio::spawn(async move {
                let mut next = n;
                while !*stop.borrow() {
                    let (instance, op) = &ops[next % ops.len()];
                    next += POLLERS;
                    let started = Instant::now();
                    let result = broker.poll(instance, *op).await;
                    {
                        let mut polls = polls.lock().unwrap();
                        polls.latencies.push(started.elapsed());
                        if let Err(e) = result {
                            polls.errors.push(format!("{e:#}"));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect()
}

async fn stop_pollers(stop: &watch::Sender<bool>, pollers: Vec<tokio::task::JoinHandle<()>>) {
    stop.send_replace(true);
    for poller in pollers {
        poller.await.unwrap();
    }
    stop.send_replace(false);
}

async fn burst_with_a_kill_and_restart(kind: StoreKind) -> anyhow::Result<()> {
    logged_warnings();
    let location = StoreLocation::create(kind).await?;
    let pool = PoolSettings {
        acquire_timeout: ACQUIRE_TIMEOUT,
        ..PoolSettings::default()
    };
    let policy = load_policy(LEASE);
    let prefix = format!("load-{}", kind.name());

    // The first replica: a burst of provisions, polled meanwhile, killed in the middle.
    let first = Arc::new(LoadBroker::new(
        location.open(&pool).await?,
        slow_backend(),
        policy.clone(),
        "replica-a",
        CONCURRENCY,
    ));
    let (engine, _stop_engine) = first.spawn_engine();
    let provisions = first.provision_burst(&prefix, OPERATIONS).await?;
    let polls = Arc::new(Mutex::new(Polls::default()));
    let (stop, stopped) = watch::channel(false);
    let pollers = spawn_pollers(&first, &provisions, &polls, &stopped);
    // Two of the three steps of the first wave of operations have run.
    tokio::time::sleep(STEP_LATENCY * 2 + STEP_LATENCY / 2).await;
    let stepped_before_kill = first
        .backend
        .calls(pgbroker_domain::OperationKind::Provision);
    engine.abort();
    assert!(engine.await.unwrap_err().is_cancelled());
    stop_pollers(&stop, pollers).await;
    drop(first);
    ensure!(
        stepped_before_kill >= CONCURRENCY,
        "the engine ran {stepped_before_kill} steps before it was killed"
    );

    // The restarted replica takes the killed one's operations over once their leases lapse,
    // then binds to every instance while the pollers go on.
    let second = Arc::new(LoadBroker::new(
        location.open(&pool).await?,
        slow_backend(),
        policy,
        "replica-b",
        CONCURRENCY,
    ));
    let (engine, stop_engine) = second.spawn_engine();
    let pollers = spawn_pollers(&second, &provisions, &polls, &stopped);
    let within = Duration::from_secs(60);
    wait_until_succeeded(second.store.as_ref(), &provisions, within).await?;
    let instances: Vec<_> = provisions.iter().map(|(id, _)| id.clone()).collect();
    let binds = second.bind_burst(&instances).await?;
    wait_until_succeeded(second.store.as_ref(), &binds, within).await?;
    stop_pollers(&stop, pollers).await;
    stop_engine.send(()).unwrap();
    engine.await.unwrap();
    ensure!(
        second.backend.overlaps().is_empty(),
        "operations stepped twice at once: {:?}",
        second.backend.overlaps()
    );

    let polls = polls.lock().unwrap();
    let slowest = polls.percentile(1.0);
    println!(
        "{}: {} polls, p50 {:?}, p99 {:?}, slowest {slowest:?}",
        kind.name(),
        polls.latencies.len(),
        polls.percentile(0.5),
        polls.percentile(0.99)
    );
    ensure!(polls.errors.is_empty(), "polls failed: {:?}", polls.errors);
    ensure!(
        slowest < ACQUIRE_TIMEOUT / 2,
        "a poll took {slowest:?}: reads waited for the engine's writes"
    );
    let logged = logged_warnings();
    ensure!(logged.is_empty(), "warnings were logged:\n{logged}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_engine_converges_under_a_burst_with_a_kill() -> anyhow::Result<()> {
    burst_with_a_kill_and_restart(StoreKind::SqliteFile).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_engine_converges_under_a_burst_with_a_kill() -> anyhow::Result<()> {
    burst_with_a_kill_and_restart(StoreKind::Postgres).await
}

//! Two engines, each with its own connection pool to one PostgreSQL database, race over 200
//! operations: no operation step ever runs twice at once, every operation ends, none is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use pgbroker_domain::ports::{BackendRegistry, Clock, StateStore};
use pgbroker_domain::usecases::ProvisionCommand;
use pgbroker_domain::{
    Broker, Core, Engine, EngineConfig, OperationId, OperationKind, OperationPolicy,
    OperationState, Outcome,
};
use pgbroker_testkit::backend::{Scripted, TestBackend};
use pgbroker_testkit::clock::{CountingSecrets, system_clock};
use pgbroker_testkit::pg_database::TestDatabase;
use pgbroker_testkit::world::*;
use serde_json::json;

const OPERATIONS: usize = 200;
const IN_PROGRESS_STEPS: usize = 150;
const RETRYABLE_STEPS: usize = 50;

fn core(store: Arc<dyn StateStore>, backend: Arc<TestBackend>) -> Arc<Core> {
    Arc::new(Core {
        traces: std::sync::Arc::new(pgbroker_domain::ports::NoTraceContext),
        catalog: Arc::new(test_catalog()),
        store,
        backends: BackendRegistry::new()
            .with("async", backend.clone())
            .with("sync", backend),
        clock: Arc::new(system_clock()) as Arc<dyn Clock>,
        secrets: Arc::new(CountingSecrets::default()),
        parameter_schemas: Arc::new(pgbroker_testkit::parameters::AcceptAllParameters),
        policy: OperationPolicy {
            lease: Duration::from_secs(5),
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(50),
            ..test_policy()
        },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_engines_never_step_one_operation_at_once() {
    let db = TestDatabase::create().await.unwrap();
    let backend = Arc::new(TestBackend::asynchronous().with_step_delay(Duration::from_millis(2)));
    backend.script(
        OperationKind::Provision,
        std::iter::repeat_n(
            Scripted::InProgress(Duration::from_millis(10)),
            IN_PROGRESS_STEPS,
        )
        .chain(std::iter::repeat_n(Scripted::Retryable, RETRYABLE_STEPS)),
    );
    let core_a = core(
        pgbroker_adapters_sql::open(db.url()).await.unwrap(),
        backend.clone(),
    );
    let core_b = core(
        pgbroker_adapters_sql::open(db.url()).await.unwrap(),
        backend.clone(),
    );
    let brokers = [Broker::new(core_a.clone()), Broker::new(core_b.clone())];

    let mut ops: Vec<OperationId> = Vec::with_capacity(OPERATIONS);
    for i in 0..OPERATIONS {
        let cmd = ProvisionCommand {
            door: pgbroker_domain::FrontDoor::Osb,
            instance_id: instance_id(&format!("race-{i}")),
            spec: spec(ASYNC_SERVICE, ASYNC_PLAN, json!({})),
            accepts_incomplete: true,
            originating_identity: None,
        };
        match brokers[i % 2].provision(cmd).await.unwrap() {
            Outcome::Accepted { operation } => ops.push(operation),
            other => panic!("{other:?}"),
        }
    }

    let config = |owner: &str| EngineConfig {
        owner: owner.into(),
        concurrency: 8,
        poll_interval: Duration::from_millis(5),
    };
    let engines = [
        Arc::new(Engine::new(core_a.clone(), config("replica-a"))),
        Arc::new(Engine::new(core_b.clone(), config("replica-b"))),
    ];
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runs: Vec<_> = engines
        .iter()
        .map(|engine| {
            let engine = engine.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                engine
                    .run(async move { while stop.changed().await.is_ok() && !*stop.borrow() {} })
                    .await
            })
        })
        .collect();

    // Bounded wait: the run ends by itself, finished or not.
    let mut unfinished = ops.len();
    for _ in 0..1200 {
        unfinished = 0;
        for op in &ops {
            let stored = core_a
                .store
                .operation(*op)
                .await
                .unwrap()
                .expect("operation is not lost");
            if stored.state == OperationState::InProgress {
                unfinished += 1;
            }
        }
        if unfinished == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop_tx.send(true).unwrap();
    for run in runs {
        run.await.unwrap();
    }
    assert_eq!(unfinished, 0, "operations still in flight after the wait");
    assert!(
        backend.overlaps().is_empty(),
        "steps overlapped: {:?}",
        backend.overlaps()
    );

    let mut steps = 0;
    for op in &ops {
        let stored = core_b
            .store
            .operation(*op)
            .await
            .unwrap()
            .expect("operation is not lost");
        assert_eq!(
            stored.state,
            OperationState::Succeeded,
            "{op}: {:?}",
            stored.description
        );
        assert_eq!(
            stored.attempts as usize,
            backend.calls_for(*op),
            "{op}: every claim ran one step"
        );
        steps += backend.calls_for(*op);
    }
    // Each scripted outcome was used exactly once and each operation finished with one success.
    assert_eq!(steps, OPERATIONS + IN_PROGRESS_STEPS + RETRYABLE_STEPS);
    assert_eq!(backend.calls(OperationKind::Provision), steps);
    db.drop_now().await.unwrap();
}

//! Every step of the shared-server backend, run twice or stopped after each of its statements
//! and then run again, ends in the same state as one clean run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::snapshot::snapshot;
use common::*;
use pgbroker_domain::InstanceId;
use pgbroker_domain::ports::{Backend, Step};
use serde_json::json;

/// More statements than any step has; the loop stops at the first run that is not interrupted.
const MAX_STATEMENTS: usize = 30;

fn interrupted<T: std::fmt::Debug>(step: &Step<T>) -> bool {
    match step {
        Step::Failed(f) => {
            assert!(f.retryable, "{f:?}");
            assert!(f.description.contains("interrupted"), "{f:?}");
            true
        }
        Step::Done(_) => false,
        other => panic!("unexpected {other:?}"),
    }
}

fn params() -> serde_json::Value {
    json!({"extensions": ["pg_trgm", "citext"]})
}

#[tokio::test]
async fn each_step_run_twice_ends_as_after_one_run() {
    let fx = Fixture::new();
    let id = fx.instance_id();
    let prov = instance_req(&id, params());
    fx.provision(&prov).await;
    let once = snapshot(&fx.tag, &id, &[]).await;
    fx.provision(&prov).await;
    assert_eq!(snapshot(&fx.tag, &id, &[]).await, once);

    let bind = bind_req(&id, "b1", json!({}));
    let c1 = fx.bind(&bind).await;
    let once = snapshot(&fx.tag, &id, &[]).await;
    let c2 = fx.bind(&bind).await;
    assert_eq!(c1, c2);
    assert_eq!(snapshot(&fx.tag, &id, &[]).await, once);
    connect(&c2).await.unwrap();

    fx.unbind(&unbind_req(&bind)).await;
    let once = snapshot(&fx.tag, &id, &[]).await;
    fx.unbind(&unbind_req(&bind)).await;
    assert_eq!(snapshot(&fx.tag, &id, &[]).await, once);

    fx.deprovision(&prov).await;
    fx.deprovision(&prov).await;
    assert_eq!(snapshot(&fx.tag, &id, &[]).await, Vec::<String>::new());
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
}

/// Runs `setup` for a fresh instance, then the step interrupted after k statements, then the
/// step again; compares with the state after a clean run. Returns the number of statements.
async fn converges<S, SF, R, RF>(fx: &Fixture, setup: S, step: R) -> usize
where
    S: Fn(InstanceId) -> SF,
    SF: std::future::Future<Output = ()>,
    R: Fn(InstanceId, bool) -> RF,
    RF: std::future::Future<Output = (bool, Vec<pgbroker_domain::OperationId>)>,
{
    let reference_id = fx.instance_id();
    setup(reference_id.clone()).await;
    let (was_interrupted, ops) = step(reference_id.clone(), true).await;
    assert!(!was_interrupted);
    let reference = snapshot(&fx.tag, &reference_id, &ops).await;
    for k in 0..MAX_STATEMENTS {
        let id = fx.instance_id();
        setup(id.clone()).await;
        fx.backend.interrupt_after(Some(k));
        let (was_interrupted, _) = step(id.clone(), false).await;
        fx.backend.interrupt_after(None);
        if !was_interrupted {
            return k;
        }
        let (again, ops) = step(id.clone(), true).await;
        assert!(!again);
        assert_eq!(
            snapshot(&fx.tag, &id, &ops).await,
            reference,
            "interrupted after {k} statements"
        );
    }
    panic!("step did not finish within {MAX_STATEMENTS} statements");
}

#[tokio::test]
async fn provision_interrupted_after_each_statement_converges() {
    let fixture = Fixture::new();
    let fx = &fixture;
    let reqs = std::sync::Mutex::new(std::collections::HashMap::new());
    let statements = converges(
        fx,
        |_| async {},
        |id, _| {
            let req = reqs
                .lock()
                .unwrap()
                .entry(id.clone())
                .or_insert_with(|| instance_req(&id, params()))
                .clone();
            async move {
                let step = fx.backend.provision(&req).await;
                (interrupted(&step), vec![])
            }
        },
    )
    .await;
    assert!(statements >= 3, "{statements}");
}

#[tokio::test]
async fn bind_interrupted_after_each_statement_converges() {
    let fixture = Fixture::new();
    let fx = &fixture;
    let reqs = std::sync::Mutex::new(std::collections::HashMap::new());
    let statements = converges(
        fx,
        |id| {
            let req = instance_req(&id, json!({}));
            async move { fx.provision(&req).await }
        },
        |id, _| {
            let req = reqs
                .lock()
                .unwrap()
                .entry(id.clone())
                .or_insert_with(|| bind_req(&id, "b1", json!({"database": "extra"})))
                .clone();
            async move {
                let step = fx.backend.bind(&req).await;
                if let Step::Done(creds) = &step {
                    connect(creds).await.unwrap();
                }
                (interrupted(&step), vec![])
            }
        },
    )
    .await;
    assert!(statements >= 3, "{statements}");
}

#[tokio::test]
async fn unbind_interrupted_after_each_statement_converges() {
    let fixture = Fixture::new();
    let fx = &fixture;
    let statements = converges(
        fx,
        |id| async move {
            fx.provision(&instance_req(&id, json!({}))).await;
            fx.bind(&bind_req(&id, "b1", json!({}))).await;
            fx.bind(&bind_req(&id, "b2", json!({"database": "extra"})))
                .await;
        },
        |id, _| async move {
            let req = unbind_req(&bind_req(&id, "b1", json!({})));
            let step = fx.backend.unbind(&req).await;
            (interrupted(&step), vec![])
        },
    )
    .await;
    assert!(statements >= 4, "{statements}");
}

async fn deprovision_converges(fx: &Fixture) -> usize {
    let reqs = std::sync::Mutex::new(std::collections::HashMap::new());
    converges(
        fx,
        |id| async move {
            fx.provision(&instance_req(&id, json!({}))).await;
            fx.bind(&bind_req(&id, "b1", json!({}))).await;
            fx.bind(&bind_req(&id, "b2", json!({"database": "extra"})))
                .await;
        },
        |id, _| {
            let req = reqs
                .lock()
                .unwrap()
                .entry(id.clone())
                .or_insert_with(|| instance_req(&id, json!({})))
                .clone();
            async move {
                let step = fx.backend.deprovision(&req).await;
                (interrupted(&step), vec![req.operation_id])
            }
        },
    )
    .await
}

#[tokio::test]
async fn deprovision_interrupted_after_each_statement_converges() {
    let fx = Fixture::new();
    assert!(deprovision_converges(&fx).await >= 4);
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
}

#[tokio::test]
async fn retaining_deprovision_interrupted_after_each_statement_converges() {
    let fx = Fixture::with(json!({"deprovision": "retain"}));
    assert!(deprovision_converges(&fx).await >= 4);
    let (dbs, roles) = fx.leftovers().await;
    assert!(
        !dbs.is_empty() && dbs.iter().all(|d| d.contains("_del_")),
        "{dbs:?}"
    );
    assert!(roles.iter().all(|r| r.contains("_del_")), "{roles:?}");
}

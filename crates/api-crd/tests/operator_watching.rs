//! What the operator does while nothing changes (no reconcile at all), and how its watches
//! show in readiness: not ready until every watch has listed, not ready while one keeps
//! failing, ready where the controllers do not run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator;

use std::time::{Duration, Instant};

use operator::{NS, World, database_with_reason, delete, eventually, server_with_reason};
use pgbroker_api_crd::Operator;
use pgbroker_api_crd::controller::ControllerKind;
use pgbroker_domain::server::ServerPolicy;
use pgbroker_kube_testserver::FaultRule;
use serde_json::json;

/// The reconcile count once it has stopped moving for a while (the last status write wakes
/// one more reconcile, which finds nothing to do).
async fn settled(world: &World) -> u64 {
    let started = Instant::now();
    let mut last = (world.reconciles.total(), Instant::now());
    while started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = world.reconciles.total();
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_millis(1500) {
            return now;
        }
    }
    panic!("the reconciles never settled: {}", world.reconciles.total());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_changing_means_no_reconcile_and_a_change_means_one() {
    let world = World::start().await;
    world.apply_small_server("main").await;
    world
        .apply_database(
            "app",
            json!({"serverRef": {"name": "main"}, "credentialsSecret": "app-pg"}),
        )
        .await;
    server_with_reason(&world, "main", "Ready").await;
    database_with_reason(&world, "app", "Ready").await;
    let quiet = settled(&world).await;
    assert!(world.reconciles.of(ControllerKind::Server) > 0);
    assert!(world.reconciles.of(ControllerKind::Database) > 0);

    // Longer than any poll or requeue the operator uses while work is under way.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        world.reconciles.total(),
        quiet,
        "reconciles while nothing changed"
    );

    // A change to something the database owns wakes it; the first try fails (its server
    // cannot be read) and is counted by the error's category, the retry writes the Secret.
    let before = world.reconciles.of(ControllerKind::Database);
    let errors = world.reconciles.errors().len();
    world.kube.faults().inject(
        FaultRule::status(500)
            .verb("get")
            .resource("postgresqlservers"),
    );
    delete(&world.secrets(), "app-pg").await;
    eventually(
        "the Secret is written again",
        || async { world.secrets().get_opt("app-pg").await.unwrap() },
        Option::is_some,
    )
    .await;
    assert!(world.reconciles.of(ControllerKind::Database) >= before + 2);
    assert_eq!(
        world.reconciles.errors()[errors..],
        [("database", "KubernetesApi")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_watches_where_the_controllers_run() {
    let world = World::start().await;
    eventually(
        "the running operator's watches have listed",
        || async { (world.health.is_running(), world.health.check()) },
        |(running, check)| *running && check.is_ok(),
    )
    .await
    .1
    .unwrap();

    // A second operator whose first list of databases keeps failing: not ready meanwhile.
    world.kube.faults().inject(
        FaultRule::status(500)
            .verb("list")
            .resource("postgresqldatabases")
            .times(10_000),
    );
    let second = Operator::new(
        world.client(),
        world.broker.clone(),
        ServerPolicy::new(["shared".to_string()], Some("shared".into())),
    )
    .namespaces(vec![NS.to_string()]);
    let health = second.health();
    assert!(!health.is_running());
    assert_eq!(health.check(), Ok(()), "not running: nothing to watch");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(second.run(async {
        let _ = stopped.await;
    }));
    eventually(
        "the second operator runs",
        || async { health.check() },
        Result::is_err,
    )
    .await
    .unwrap_err();
    for _ in 0..20 {
        let why = health.check().unwrap_err();
        assert!(
            why.contains("the watch of PostgreSQLDatabase objects in namespace default"),
            "{why}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    world.kube.faults().clear();
    eventually(
        "the list succeeds once the API server answers",
        || async { health.check() },
        Result::is_ok,
    )
    .await
    .unwrap();
    stop.send(()).unwrap();
    run.await.unwrap();
    assert_eq!(health.check(), Ok(()), "stopped: nothing to watch");

    // The running operator's watch of servers keeps failing: not ready, saying which.
    world.kube.faults().inject(
        FaultRule::status(500)
            .verb("watch")
            .resource("postgresqlservers")
            .times(10_000),
    );
    world.kube.faults().drop_watches();
    let why = eventually(
        "the failing watch shows",
        || async { world.health.check() },
        Result::is_err,
    )
    .await
    .unwrap_err();
    assert!(
        why.contains("the watch of PostgreSQLServer objects in namespace default by the")
            && why.contains("is failing"),
        "{why}"
    );
    // Working again: the next change it delivers shows it.
    world.kube.faults().clear();
    world
        .apply_server(
            "later",
            json!({"size": {"class": "shared-small", "storageGB": 10}, "credentialsSecret": "later-pg"}),
        )
        .await;
    eventually(
        "ready again",
        || async { world.health.check() },
        Result::is_ok,
    )
    .await
    .unwrap();
    server_with_reason(&world, "later", "Ready").await;
}

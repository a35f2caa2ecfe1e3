//! The CloudNativePG backend under the burst that stalled it: 20 provisions sent at once (as a
//! platform's users do on day one), CNPG's side taking 3 s per object, the engine at its full
//! concurrency on a SQLite file store, platform polls meanwhile; then a bind to each and every
//! instance deprovisioned again. Every operation converges, every poll is answered, no warning
//! is logged, and no namespace is left behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use pgbroker_adapters_k8s::CnpgBackend;
use pgbroker_adapters_sql::PoolSettings;
use pgbroker_domain::ports::BackendRegistry;
use pgbroker_domain::{Catalog, CatalogDocument, InstanceId, PlanId, ServiceId};
use pgbroker_kube_testserver::{SimulatorOptions, TestServer, TestServerOptions};
use pgbroker_testkit::load::{
    LoadBroker, StoreKind, StoreLocation, load_policy, logged_warnings, wait_until_succeeded,
};
use serde_json::json;

const INSTANCES: usize = 20;

fn catalog() -> Catalog {
    let doc: CatalogDocument = serde_json::from_value(json!({"services": [
        {"id": "svc-pg", "name": "pg", "description": "postgres", "plans": [
            {"id": "plan-small", "name": "small", "description": "s", "backend": "cnpg",
             "settings": {"instances": 1, "cpu": "500m", "memory": "512Mi", "storage": "1Gi"}}
        ]}
    ]}))
    .unwrap();
    Catalog::load(doc, &["cnpg".to_string()].into()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_provisions_at_once_all_become_usable() {
    logged_warnings();
    let server = TestServer::start(TestServerOptions {
        simulator: SimulatorOptions {
            ready_delay: Duration::from_secs(3),
            ..SimulatorOptions::default()
        },
        ..TestServerOptions::default()
    })
    .await
    .unwrap();
    let settings = pgbroker_adapters_k8s::settings::CnpgSettings {
        poll_interval_seconds: 1,
        ..Default::default()
    };
    let backend = CnpgBackend::with_client("cnpg", settings, server.client()).unwrap();
    let location = StoreLocation::create(StoreKind::SqliteFile).await.unwrap();
    let store = location.open(&PoolSettings::default()).await.unwrap();
    let broker = Arc::new(LoadBroker::on(
        store,
        catalog(),
        BackendRegistry::new().with("cnpg", Arc::new(backend)),
        (
            ServiceId::parse("svc-pg").unwrap(),
            PlanId::parse("plan-small").unwrap(),
        ),
        load_policy(Duration::from_secs(30)),
        "burst",
        16,
    ));
    let (engine, stop) = broker.spawn_engine();
    let started = Instant::now();
    let within = Duration::from_secs(90);

    let provisions = broker.provision_burst("burst", INSTANCES).await.unwrap();
    let polls = {
        let (broker, provisions) = (broker.clone(), provisions.clone());
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for round in 0.. {
                let (instance, op) = &provisions[round % provisions.len()];
                let asked = Instant::now();
                if broker.poll(instance, *op).await.unwrap()
                    != pgbroker_domain::OperationState::InProgress
                    && round >= provisions.len()
                {
                    break;
                }
                slowest = slowest.max(asked.elapsed());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            slowest
        })
    };
    wait_until_succeeded(broker.store.as_ref(), &provisions, within)
        .await
        .unwrap();
    let provisioned = started.elapsed();
    for (instance, _) in &provisions {
        let namespace = format!("pg-{instance}");
        assert!(
            server.get_object("namespaces", None, &namespace).is_some(),
            "no {namespace}"
        );
    }
    let slowest_poll = polls.await.unwrap();
    let instances: Vec<InstanceId> = provisions.iter().map(|(id, _)| id.clone()).collect();
    let binds = broker.bind_burst(&instances).await.unwrap();
    wait_until_succeeded(broker.store.as_ref(), &binds, within)
        .await
        .unwrap();
    let bound = started.elapsed();
    // Deprovision removes the bindings with the instance.
    let removals = broker.deprovision_burst(&instances).await.unwrap();
    wait_until_succeeded(broker.store.as_ref(), &removals, within)
        .await
        .unwrap();
    println!(
        "{INSTANCES} instances: provisioned after {provisioned:?}, bound after {bound:?}, \
         removed after {:?}; slowest poll {slowest_poll:?}",
        started.elapsed()
    );
    stop.send(()).unwrap();
    engine.await.unwrap();

    for instance in &instances {
        let namespace = format!("pg-{instance}");
        assert!(
            server.get_object("namespaces", None, &namespace).is_none(),
            "namespace {namespace} is left behind"
        );
    }
    assert!(
        slowest_poll < Duration::from_secs(2),
        "a poll took {slowest_poll:?}"
    );
    let logged = logged_warnings();
    assert!(logged.is_empty(), "warnings were logged:\n{logged}");
}

//! Reads run on reader tasks that keep a pooled connection while reads are queued: many more
//! concurrent reads than connections all get answers, and reads whose callers give up leave
//! the store working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::FutureExt;
use futures::future::join_all;
use pgbroker_adapters_sql::{PgStateStore, PoolSettings};
use pgbroker_domain::InstanceId;
use pgbroker_domain::ports::StateStore;
use pgbroker_testkit::pg_database::TestDatabase;

async fn small_store(db: &TestDatabase) -> PgStateStore {
    let settings = PoolSettings {
        max_connections: 2,
        ..PoolSettings::default()
    };
    let store = PgStateStore::connect_pooled(db.url(), &settings)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_more_reads_than_connections_all_get_answers() {
    let db = TestDatabase::create().await.unwrap();
    let store = small_store(&db).await;
    let ids: Vec<_> = (0..300)
        .map(|n| InstanceId::parse(format!("read-{n}")).unwrap())
        .collect();
    let reads = ids.iter().map(|id| store.instance(id));
    for read in join_all(reads).await {
        assert_eq!(read.unwrap(), None);
    }
    // Readers have a pool of their own, so writes still get a connection.
    let writes = store.claim_due("w", chrono::Utc::now(), Duration::from_secs(1), 1);
    assert!(writes.await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_dropped_mid_flight_leave_the_store_working() {
    let db = TestDatabase::create().await.unwrap();
    let store = small_store(&db).await;
    let id = InstanceId::parse("dropped").unwrap();
    for _ in 0..100 {
        // Polled once (queued for a reader), then dropped: the caller gave up.
        assert!(store.instance(&id).now_or_never().is_none_or(|r| r.is_ok()));
    }
    for _ in 0..10 {
        assert_eq!(store.instance(&id).await.unwrap(), None);
    }
    assert!(store.pool().size() <= 2);
}

//! An in-memory SQLite store keeps its database when the pool loses its connection: the pool
//! closes a connection whose query future was dropped mid-flight (a cancelled lease renewal, a
//! timed-out request), and a fresh connection to an in-memory database used to be a fresh,
//! empty database ("no such table: operations").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;
use futures::FutureExt;
use pgbroker_adapters_sql::SqliteStateStore;
use pgbroker_domain::ports::StateStore;
use pgbroker_domain::{InstanceId, OperationId};

async fn memory_store() -> SqliteStateStore {
    let store = SqliteStateStore::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    store
}

#[tokio::test]
async fn closing_the_pools_connection_keeps_the_tables() {
    let store = memory_store().await;
    let id = InstanceId::parse("kept".to_string()).unwrap();
    assert_eq!(store.instance(&id).await.unwrap(), None);

    // What the pool does to a connection it no longer trusts.
    store.pool().acquire().await.unwrap().close().await.unwrap();

    assert_eq!(store.instance(&id).await.unwrap(), None);
    assert_eq!(store.latest_operation(&id, None).await.unwrap(), None);
}

#[tokio::test]
async fn queries_dropped_mid_flight_keep_the_tables() {
    let store = memory_store().await;
    let id = InstanceId::parse("cancelled".to_string()).unwrap();
    for _ in 0..50 {
        // Polled once (the query is sent to SQLite's worker), then dropped, like a lease
        // renewal cancelled when the backend step it guards ends.
        let renewal = store.renew_lease(OperationId::new(), 1, Utc::now());
        assert!(renewal.now_or_never().is_none_or(|done| done.is_ok()));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(store.instance(&id).await.unwrap(), None);
    assert!(
        !store
            .renew_lease(OperationId::new(), 1, Utc::now())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn two_memory_stores_do_not_share_a_database() {
    let one = memory_store().await;
    let two = SqliteStateStore::connect("sqlite::memory:").await.unwrap();
    let id = InstanceId::parse("alone".to_string()).unwrap();
    assert_eq!(one.instance(&id).await.unwrap(), None);
    // `two` was never migrated: it has no tables, whatever `one` has.
    assert!(two.instance(&id).await.is_err());
}

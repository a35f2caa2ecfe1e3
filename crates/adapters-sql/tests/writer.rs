//! A SQLite file store keeps its one write connection between writes (no ping on release, no
//! hand-over to the pool, for writes one after another), gives it back when a write fails or
//! is given up, and goes on working either way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::FutureExt;
use pgbroker_adapters_sql::SqliteStateStore;
use pgbroker_domain::ports::{StateStore, StoreError, Write};
use pgbroker_domain::{InstanceState, Operation, OperationKind, OperationState};
use pgbroker_testkit::store_contract::fixtures::{at, instance, instance_id, operation};

struct FileStore {
    store: SqliteStateStore,
    dir: std::path::PathBuf,
}

impl FileStore {
    async fn open() -> Self {
        let dir =
            std::env::temp_dir().join(format!("pgbroker-writer-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("state.db").display());
        let store = SqliteStateStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        Self { store, dir }
    }

    async fn close(self) {
        self.store.close().await;
        std::fs::remove_dir_all(&self.dir).unwrap();
    }
}

/// A provision of instance `tag`, due at once.
fn provision(tag: &str) -> Operation {
    operation(
        OperationKind::Provision,
        &instance_id(tag).unwrap(),
        None,
        at(1),
    )
}

/// Waits (at most 5 s) until the write pool has `idle` idle connections: a connection given
/// back goes through sqlx's ping on release, on a task of its own.
async fn idle_connections(store: &SqliteStateStore, idle: usize) -> usize {
    for _ in 0..100 {
        if store.pool().num_idle() == idle {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.pool().num_idle()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_one_after_another_keep_the_one_write_connection() {
    let file = FileStore::open().await;
    let store = &file.store;
    for n in 0..5 {
        let op = provision(&format!("kept-{n}"));
        store.start(&op, &[]).await.unwrap();
        // Checked out by the store, not idle in the pool: the next write needs no ping first.
        assert_eq!(store.pool().size(), 1);
        assert_eq!(idle_connections(store, 0).await, 0);
    }
    store.release_writer().await;
    assert_eq!(idle_connections(store, 1).await, 1);
    // Taken again by the next write.
    let claimed = store
        .claim_due("w", at(2), Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 5);
    assert_eq!(idle_connections(store, 0).await, 0);
    file.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_abandoned_write_gives_the_connection_back_and_the_store_goes_on() {
    let file = FileStore::open().await;
    let store = &file.store;
    let op = provision("failing");
    store.start(&op, &[]).await.unwrap();
    // The same operation again: refused (the instance is busy with it), and the connection
    // goes back to the pool.
    let again = store.start(&op, &[]).await;
    assert!(matches!(again, Err(StoreError::Busy(_))), "{again:?}");
    assert_eq!(idle_connections(store, 1).await, 1);

    // Writes polled once (their transaction open, maybe) and dropped: the caller gave up.
    // Each writes an instance with its operation.
    let mut dropped = Vec::new();
    for n in 0..200 {
        let other = provision(&format!("dropped-{n}"));
        let new = Write::InsertInstance(
            instance(&other.instance_id, InstanceState::Provisioning).unwrap(),
        );
        assert!(
            store
                .start(&other, &[new])
                .now_or_never()
                .is_none_or(|r| r.is_ok())
        );
        dropped.push(other);
    }
    // Every write after them works, on one connection.
    let claimed = store
        .claim_due("w", at(2), Duration::from_secs(30), 100)
        .await
        .unwrap();
    let mine = claimed.iter().find(|c| c.id == op.id).unwrap();
    let token = mine.lease.as_ref().unwrap().token;
    let done = Operation {
        state: OperationState::Succeeded,
        lease: None,
        ..mine.clone()
    };
    assert!(store.settle(&done, token, &[], None).await.unwrap());
    assert_eq!(
        store.operation(op.id).await.unwrap().unwrap().state,
        OperationState::Succeeded
    );
    // Each given-up write is all there or not there at all.
    for other in &dropped {
        let op = store.operation(other.id).await.unwrap();
        let instance = store.instance(&other.instance_id).await.unwrap();
        assert_eq!(op.is_some(), instance.is_some(), "{}", other.instance_id);
    }
    assert_eq!(store.pool().size(), 1);
    file.close().await;
}

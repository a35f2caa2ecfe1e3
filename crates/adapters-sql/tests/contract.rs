//! The state-store contract suite, unchanged, on every store this crate offers, plus what only a
//! real multi-pool PostgreSQL setup can show.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::ensure;
use chrono::{DateTime, TimeZone, Utc};
use pgbroker_adapters_sql::{PgStateStore, SqlStoreError, SqliteStateStore};
use pgbroker_domain::ports::StateStore;
use pgbroker_domain::{
    InstanceId, Operation, OperationId, OperationKind, OperationState, Origin, PlanId, ServiceId,
};
use pgbroker_testkit::pg_database::TestDatabase;
use pgbroker_testkit::store_contract::FreshStore;

mod postgres {
    use super::*;

    pub async fn fresh() -> anyhow::Result<FreshStore> {
        let db = TestDatabase::create().await?;
        let store = pgbroker_adapters_sql::open(db.url()).await?;
        Ok(FreshStore::new(store, db))
    }

    pgbroker_testkit::state_store_contract_tests!(fresh);
}

mod sqlite_file {
    use super::*;

    /// Removes the database file and its WAL companions.
    struct TempFile(PathBuf);

    impl Drop for TempFile {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = self.0.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
    }

    pub async fn fresh() -> anyhow::Result<FreshStore> {
        let path = std::env::temp_dir().join(format!(
            "pgbroker-contract-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        let file = TempFile(path.clone());
        let store = pgbroker_adapters_sql::open(&format!("sqlite://{}", path.display())).await?;
        Ok(FreshStore::new(store, file))
    }

    pgbroker_testkit::state_store_contract_tests!(fresh);
}

mod sqlite_memory {
    use super::*;

    pub async fn fresh() -> anyhow::Result<FreshStore> {
        let store = pgbroker_adapters_sql::open("sqlite::memory:").await?;
        Ok(FreshStore::new(store, ()))
    }

    pgbroker_testkit::state_store_contract_tests!(fresh);
}

fn t0() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_800_000_000_123)
        .single()
        .unwrap_or_default()
}

fn due_operation(n: usize) -> anyhow::Result<Operation> {
    Ok(Operation {
        id: OperationId::new(),
        kind: OperationKind::Provision,
        origin: Origin::Platform,
        door: pgbroker_domain::FrontDoor::Osb,
        instance_id: InstanceId::parse(format!("race-{n}"))?,
        binding_id: None,
        service_id: Some(ServiceId::parse("postgresql")?),
        plan_id: Some(PlanId::parse("small")?),
        state: OperationState::InProgress,
        description: None,
        reason: None,
        target: None,
        deletion_policy: pgbroker_domain::DeletionPolicy::Delete,
        originating_identity: None,
        trace_parent: None,
        attempts: 0,
        failures: 0,
        next_attempt_at: t0(),
        deadline: t0() + chrono::Duration::hours(1),
        lease: None,
        created_at: t0(),
        updated_at: t0(),
    })
}

/// Two brokers (two pools on one database) race for 200 operations; each is claimed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_pools_never_claim_the_same_operation() -> anyhow::Result<()> {
    const OPERATIONS: usize = 200;
    let db = TestDatabase::create().await?;
    let a = PgStateStore::connect(db.url()).await?;
    a.migrate().await?;
    let b = PgStateStore::connect(db.url()).await?;
    b.migrate().await?; // a second migrate is a no-op
    let mut started = HashSet::new();
    for n in 0..OPERATIONS {
        let op = due_operation(n)?;
        a.start(&op, &[]).await?;
        started.insert(op.id);
    }
    let stores: [Arc<dyn StateStore>; 2] = [Arc::new(a), Arc::new(b)];
    let workers = (0..8).map(|w| {
        let store = stores[w % 2].clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let owner = format!("broker-{}-worker-{w}", w % 2);
                let batch = store
                    .claim_due(&owner, t0(), Duration::from_secs(60), 7)
                    .await?;
                if batch.is_empty() {
                    return anyhow::Ok(mine);
                }
                mine.extend(batch.into_iter().map(|op| op.id));
            }
        })
    });
    let mut claimed = Vec::new();
    for worker in futures::future::join_all(workers).await {
        claimed.extend(worker??);
    }
    let unique: HashSet<_> = claimed.iter().copied().collect();
    ensure!(
        unique.len() == claimed.len(),
        "an operation was claimed twice"
    );
    ensure!(
        unique == started,
        "claimed {} of {OPERATIONS}",
        unique.len()
    );
    db.drop_now().await
}

#[tokio::test]
async fn errors_never_show_the_password() {
    let secret = "hunter2-Secret";
    let urls = [
        format!("postgres://broker:{secret}@127.0.0.1:1/state"),
        format!("postgresql://broker:{secret}@127.0.0.1:1/state?sslmode=disable"),
        format!("postgres://broker:{secret}@127.0.0.1:5432/state?sslmode=bogus"),
        format!("mysql://broker:{secret}@127.0.0.1/state"),
    ];
    // Refused connections are retried until the acquire timeout: try them all at once.
    let opened = futures::future::join_all(urls.iter().map(|url| pgbroker_adapters_sql::open(url)));
    for (url, result) in urls.iter().zip(opened.await) {
        let err = match result {
            Ok(_) => panic!("opened {url}"),
            Err(err) => err,
        };
        let shown = format!("{err} | {err:#?}");
        let shown = format!("{shown} | {:?}", anyhow::Error::new(err));
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[tokio::test]
async fn connect_errors_say_what_was_being_done() {
    let err = match PgStateStore::connect("postgres://broker:pw@127.0.0.1:1/state").await {
        Ok(_) => panic!("connected to a closed port"),
        Err(err) => err,
    };
    assert!(matches!(err, SqlStoreError::Connect { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "connecting to the state store (PostgreSQL database state on 127.0.0.1:1)"
    );
    let err = match pgbroker_adapters_sql::open("redis://cache").await {
        Ok(_) => panic!("opened redis"),
        Err(err) => err,
    };
    assert!(
        matches!(err, SqlStoreError::UnsupportedScheme { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn sqlite_creates_a_missing_file_and_reopens_it() -> anyhow::Result<()> {
    let dir =
        std::env::temp_dir().join(format!("pgbroker-reopen-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}/state.db", dir.display());
    let op = due_operation(1)?;
    {
        let store = SqliteStateStore::connect(&url).await?;
        store.migrate().await?;
        store.start(&op, &[]).await?;
        store.close().await;
    }
    let store = pgbroker_adapters_sql::open(&url).await?;
    let found = store.operation(op.id).await?;
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    ensure!(found == Some(op));
    Ok(())
}

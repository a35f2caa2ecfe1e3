//! Which writes wait for the disk: an operation's start does (it is stored before any backend is
//! touched), its claim and its settlement do not (the engine makes them again if a crash of the
//! machine loses them; see `Durability` in src/dialect.rs). Observed on the real databases: on
//! PostgreSQL a trigger records the `synchronous_commit` each write to `operations` ran under;
//! on a SQLite file, the writer connection's `synchronous` after each write.

use std::time::Duration;

use anyhow::ensure;
use pgbroker_adapters_sql::{PgStateStore, SqliteStateStore};
use pgbroker_domain::ports::StateStore;
use pgbroker_domain::{Operation, OperationKind, OperationState};
use pgbroker_testkit::pg_database::TestDatabase;
use pgbroker_testkit::store_contract::fixtures::{at, instance_id, operation};

/// Starts an operation, claims it and settles it as succeeded; `seen` reads what the store's
/// writes ran with after each of the three.
async fn start_claim_settle<F, Fut>(
    store: &dyn StateStore,
    mut seen: F,
) -> anyhow::Result<Vec<String>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    let op = operation(
        OperationKind::Provision,
        &instance_id("durable")?,
        None,
        at(1),
    );
    let mut after = Vec::new();
    store.start(&op, &[]).await?;
    after.push(seen().await?);
    let claimed = store
        .claim_due("worker", at(2), Duration::from_secs(30), 10)
        .await?;
    ensure!(claimed.len() == 1, "claimed {claimed:?}");
    after.push(seen().await?);
    let token = claimed[0]
        .lease
        .as_ref()
        .map(|l| l.token)
        .unwrap_or_default();
    let done = Operation {
        state: OperationState::Succeeded,
        lease: None,
        ..claimed[0].clone()
    };
    ensure!(store.settle(&done, token, &[], None).await?, "settled");
    after.push(seen().await?);
    Ok(after)
}

#[tokio::test]
async fn postgres_starts_wait_for_the_disk_claims_and_settlements_do_not() -> anyhow::Result<()> {
    let db = TestDatabase::create().await?;
    let store = PgStateStore::connect(db.url()).await?;
    store.migrate().await?;
    sqlx::raw_sql(
        "CREATE TABLE seen (n bigserial PRIMARY KEY, write text, setting text);
         CREATE FUNCTION record_setting() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           INSERT INTO seen (write, setting) VALUES (TG_OP, current_setting('synchronous_commit'));
           RETURN NEW;
         END $$;
         CREATE TRIGGER record_setting AFTER INSERT OR UPDATE ON operations
           FOR EACH ROW EXECUTE FUNCTION record_setting();",
    )
    .execute(store.pool())
    .await?;
    let pool = store.pool().clone();
    let after = start_claim_settle(&store, || {
        let pool = pool.clone();
        async move {
            let (write, setting): (String, String) =
                sqlx::query_as("SELECT write, setting FROM seen ORDER BY n DESC LIMIT 1")
                    .fetch_one(&pool)
                    .await?;
            Ok(format!("{write} {setting}"))
        }
    })
    .await?;
    ensure!(
        after == ["INSERT on", "UPDATE off", "UPDATE off"],
        "{after:?}"
    );
    // SET LOCAL: the connection is back at the server's setting once the transaction ends.
    let (setting,): (String,) = sqlx::query_as("SHOW synchronous_commit")
        .fetch_one(store.pool())
        .await?;
    ensure!(setting == "on", "{setting}");
    store.close().await;
    db.drop_now().await
}

#[tokio::test]
async fn sqlite_starts_wait_for_the_disk_claims_and_settlements_do_not() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "pgbroker-durability-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("state.db").display());
    let store = SqliteStateStore::connect(&url).await?;
    store.migrate().await?;
    let pool = store.pool().clone();
    // The store writes on exactly one connection, which it keeps between writes: given back,
    // this is the one its writes ran on.
    let after = start_claim_settle(&store, || {
        let (pool, store) = (pool.clone(), &store);
        async move {
            store.release_writer().await;
            let (level,): (i64,) = sqlx::query_as("PRAGMA synchronous")
                .fetch_one(&pool)
                .await?;
            Ok(match level {
                2 => "full".to_string(),
                1 => "normal".to_string(),
                other => other.to_string(),
            })
        }
    })
    .await?;
    ensure!(after == ["full", "normal", "normal"], "{after:?}");
    store.close().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

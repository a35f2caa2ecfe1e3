//! Rows written before a migration read back after it, on both databases: operations from before
//! 0002 (which added their `service_id` and `plan_id`) with neither, so `last_operation` skips the
//! check; instances and operations from before 0003 as the OSB door's (the only door then), and
//! operations from before 0005 with deletion policy `delete`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use pgbroker_adapters_sql::{PgStateStore, SqliteStateStore};
use pgbroker_domain::ports::StateStore;
use pgbroker_domain::{DeletionPolicy, FrontDoor, InstanceId, OperationId, OperationState};
use pgbroker_testkit::pg_database::TestDatabase;
use sqlx::migrate::Migrator;

/// The migrations of `database` up to and including `0001_state.sql`.
async fn first_migration_only(database: &str) -> Migrator {
    migrations_up_to(database, 1).await
}

/// The migrations of `database` up to and including number `last`.
async fn migrations_up_to(database: &str, last: i64) -> Migrator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(database);
    let mut migrator = Migrator::new(dir).await.unwrap();
    migrator.migrations.to_mut().retain(|m| m.version <= last);
    assert_eq!(migrator.migrations.len(), usize::try_from(last).unwrap());
    migrator
}

/// A row with only the columns migration 0001 made; timestamps in the database's own form.
const LEGACY_ROW: &str = "INSERT INTO operations (id, kind, origin, instance_id, state, \
    attempts, failures, next_attempt_at, deadline, created_at, updated_at) \
    VALUES ($1, 'provision', 'platform', 'legacy-1', 'in progress', 0, 0, $2, $2, $2, $2)";

fn expect_legacy(op: Option<pgbroker_domain::Operation>, id: OperationId) {
    let op = op.expect("the legacy operation reads back");
    assert_eq!((op.id, op.state), (id, OperationState::InProgress));
    assert_eq!((op.service_id, op.plan_id), (None, None));
}

#[tokio::test]
async fn postgres_operations_from_before_0002_have_no_ids() {
    let db = TestDatabase::create().await.unwrap();
    let store = PgStateStore::connect(db.url()).await.unwrap();
    first_migration_only("postgres")
        .await
        .run(store.pool())
        .await
        .unwrap();
    let id = OperationId::new();
    sqlx::query(LEGACY_ROW)
        .bind(id.as_uuid())
        .bind(chrono::Utc::now())
        .execute(store.pool())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    expect_legacy(store.operation(id).await.unwrap(), id);
}

#[tokio::test]
async fn sqlite_operations_from_before_0002_have_no_ids() {
    let store = SqliteStateStore::connect("sqlite::memory:").await.unwrap();
    first_migration_only("sqlite")
        .await
        .run(store.pool())
        .await
        .unwrap();
    let id = OperationId::new();
    sqlx::query(LEGACY_ROW)
        .bind(id.to_string())
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(store.pool())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    expect_legacy(store.operation(id).await.unwrap(), id);
}

/// An instance row with only the columns migrations 0001-0002 made.
const INSTANCE_BEFORE_0003: &str = "INSERT INTO instances (id, service_id, plan_id, parameters, \
    context, state, created_at, updated_at) VALUES ('legacy-2', 'svc', 'plan', '{}', '{}', 'ready', $1, $1)";

async fn expect_osb_owned(store: &dyn StateStore, op: OperationId) {
    let id = InstanceId::parse("legacy-2").unwrap();
    let instance = store
        .instance(&id)
        .await
        .unwrap()
        .expect("the legacy instance");
    assert_eq!(instance.owner, FrontDoor::Osb);
    let op = store
        .operation(op)
        .await
        .unwrap()
        .expect("the legacy operation");
    assert_eq!(op.door, FrontDoor::Osb);
    assert_eq!(op.deletion_policy, DeletionPolicy::Delete);
}

#[tokio::test]
async fn postgres_rows_from_before_0003_belong_to_osb_and_delete() {
    let db = TestDatabase::create().await.unwrap();
    let store = PgStateStore::connect(db.url()).await.unwrap();
    migrations_up_to("postgres", 2)
        .await
        .run(store.pool())
        .await
        .unwrap();
    let now = chrono::Utc::now();
    sqlx::query(INSTANCE_BEFORE_0003)
        .bind(now)
        .execute(store.pool())
        .await
        .unwrap();
    let op = OperationId::new();
    sqlx::query(LEGACY_ROW)
        .bind(op.as_uuid())
        .bind(now)
        .execute(store.pool())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    expect_osb_owned(&store, op).await;
}

#[tokio::test]
async fn sqlite_rows_from_before_0003_belong_to_osb_and_delete() {
    let store = SqliteStateStore::connect("sqlite::memory:").await.unwrap();
    migrations_up_to("sqlite", 2)
        .await
        .run(store.pool())
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    sqlx::query(INSTANCE_BEFORE_0003)
        .bind(now)
        .execute(store.pool())
        .await
        .unwrap();
    let op = OperationId::new();
    sqlx::query(LEGACY_ROW)
        .bind(op.to_string())
        .bind(now)
        .execute(store.pool())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    expect_osb_owned(&store, op).await;
}

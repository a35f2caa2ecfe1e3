//! Operations written before migration 0002 (which added their `service_id` and `plan_id`) read
//! back after it with neither, on both databases: `last_operation` skips the check then.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use pgbroker_adapters_sql::{PgStateStore, SqliteStateStore};
use pgbroker_domain::ports::StateStore;
use pgbroker_domain::{OperationId, OperationState};
use pgbroker_testkit::pg_database::TestDatabase;
use sqlx::migrate::Migrator;

/// The migrations of `database` up to and including `0001_state.sql`.
async fn first_migration_only(database: &str) -> Migrator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(database);
    let mut migrator = Migrator::new(dir).await.unwrap();
    migrator.migrations.to_mut().retain(|m| m.version == 1);
    assert_eq!(migrator.migrations.len(), 1);
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

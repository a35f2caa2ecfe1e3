//! The broker's [`StateStore`] on sqlx: [`PgStateStore`] (PostgreSQL, shared by several broker
//! replicas) and [`SqliteStateStore`] (SQLite, the embedded default for a single replica).
//!
//! Both keep the same three tables (`instances`, `bindings`, `operations`; see
//! `migrations/postgres` and `migrations/sqlite`) and enforce the store's cross-replica rules in
//! the database: a unique partial index allows one operation in flight per instance, and
//! claims, settles and renewals are fenced by a lease token that grows with every claim.

mod dialect;
mod error;
mod pool;
mod postgres;
mod reads;
mod rows;
mod sqlite;
mod statements;
mod store;
mod transaction;
mod vault;
mod writer;

use std::sync::Arc;

use pgbroker_domain::ports::StateStore;

pub use error::SqlStoreError;
pub use pool::PoolSettings;
pub use postgres::PgStateStore;
pub use sqlite::SqliteStateStore;
pub use store::SqlStateStore;
pub use vault::{CipherError, SqlVault, VaultCipher};

use pgbroker_domain::ports::SecretVault;

/// Which store a URL asks for.
enum Kind {
    Postgres,
    Sqlite,
}

impl Kind {
    fn of(url: &str) -> Result<Self, SqlStoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(SqlStoreError::unsupported_scheme(url))
        }
    }
}

/// Opens the store `url` names (`postgres://`, `postgresql://` or `sqlite:`) with the default
/// pool settings and migrates its schema.
pub async fn open(url: &str) -> Result<Arc<dyn StateStore>, SqlStoreError> {
    open_pooled(url, &PoolSettings::default()).await
}

/// Opens the store `url` names with a pool sized by `settings`, and migrates its schema.
pub async fn open_pooled(
    url: &str,
    settings: &PoolSettings,
) -> Result<Arc<dyn StateStore>, SqlStoreError> {
    Ok(match Kind::of(url)? {
        Kind::Postgres => {
            let store = PgStateStore::connect_pooled(url, settings).await?;
            store.migrate().await?;
            Arc::new(store)
        }
        Kind::Sqlite => {
            let store = SqliteStateStore::connect_pooled(url, settings).await?;
            store.migrate().await?;
            Arc::new(store)
        }
    })
}

/// Like [`open_pooled`], and a [`SecretVault`] on the same database sealed with `cipher`.
pub async fn open_with_vault(
    url: &str,
    settings: &PoolSettings,
    cipher: VaultCipher,
) -> Result<(Arc<dyn StateStore>, Arc<dyn SecretVault>), SqlStoreError> {
    Ok(match Kind::of(url)? {
        Kind::Postgres => {
            let store = PgStateStore::connect_pooled(url, settings).await?;
            store.migrate().await?;
            let vault = SqlVault::new(&store, cipher);
            (Arc::new(store), Arc::new(vault))
        }
        Kind::Sqlite => {
            let store = SqliteStateStore::connect_pooled(url, settings).await?;
            store.migrate().await?;
            let vault = SqlVault::new(&store, cipher);
            (Arc::new(store), Arc::new(vault))
        }
    })
}

/// Migrates the schema of the store `url` names, then closes the connections.
pub async fn migrate(url: &str) -> Result<(), SqlStoreError> {
    match Kind::of(url)? {
        Kind::Postgres => {
            let store = PgStateStore::connect(url).await?;
            let migrated = store.migrate().await;
            store.close().await;
            migrated
        }
        Kind::Sqlite => {
            let store = SqliteStateStore::connect(url).await?;
            let migrated = store.migrate().await;
            store.close().await;
            migrated
        }
    }
}

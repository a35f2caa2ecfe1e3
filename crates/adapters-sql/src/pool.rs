//! How a store's connection pool is sized, and how long a request waits for a connection.

use std::time::Duration;

use sqlx::Database;
use sqlx::pool::PoolOptions;

/// Pool settings of a store; [`Default`] suits one broker replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most connections open at once. PostgreSQL serves each connection with one backend
    /// process, so more connections than the database host has cores mostly add context
    /// switches; every broker replica opens its own pool. Half of them at most serve reads
    /// (see `reads.rs`), so writes always find a connection. An in-memory SQLite database
    /// always uses one (its writers would only queue for its lock).
    pub max_connections: u32,
    /// Connections kept open while idle, so a burst after a quiet spell needs no handshakes.
    pub min_connections: u32,
    /// How long a request waits for a pooled connection (and `open` for the first one) before
    /// it fails as unavailable.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 8,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

impl PoolSettings {
    /// sqlx pool options with these settings.
    ///
    /// sqlx pings a connection when it is returned to the pool, so a connection whose query
    /// future was dropped mid-flight is closed there; pinging it again before every use (sqlx's
    /// default) costs every store read a second round trip to the database for no safety.
    pub(crate) fn options<DB: Database>(&self) -> PoolOptions<DB> {
        PoolOptions::new()
            .max_connections(self.max_connections.max(1))
            .min_connections(self.min_connections.min(self.max_connections.max(1)))
            .acquire_timeout(self.acquire_timeout)
            .test_before_acquire(false)
    }
}

//! How a store's connection pool is sized, and how long a request waits for a connection.

use std::time::Duration;

use sqlx::Database;
use sqlx::pool::PoolOptions;

/// The pools of a store: one for writes and, unless they share it, one for the reader tasks.
pub(crate) struct Split<DB: Database> {
    pub writes: PoolOptions<DB>,
    pub reads: Option<PoolOptions<DB>>,
    /// Writes keep their one connection between writes (see `writer.rs`): a database with a
    /// single writer whose reads have a pool of their own.
    pub hold_writer: bool,
}

/// Pool settings of a store; [`Default`] suits one broker replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most connections open at once. PostgreSQL serves each connection with one backend
    /// process, so more connections than the database host has cores mostly add context
    /// switches; every broker replica opens its own pool. Half of them (rounded down) serve
    /// reads from a pool of their own (see `reads.rs`), the others writes, so neither kind can
    /// take the other's connections. A SQLite file has one writer at a time, so its writes
    /// queue for one connection (in order, without the busy handler's sleep-and-retry); an
    /// in-memory SQLite database uses one connection for everything. With fewer than two
    /// connections, reads and writes share one.
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
        self.sized(self.max_connections, self.min_connections)
    }

    fn sized<DB: Database>(&self, max: u32, min: u32) -> PoolOptions<DB> {
        PoolOptions::new()
            .max_connections(max.max(1))
            .min_connections(min.min(max.max(1)))
            .acquire_timeout(self.acquire_timeout)
            .test_before_acquire(false)
    }

    /// The write and read pools for these settings; `most_writers` caps the write pool (1 for
    /// a database with a single writer).
    pub(crate) fn split<DB: Database>(&self, most_writers: Option<u32>) -> Split<DB> {
        if self.max_connections < 2 {
            return Split {
                writes: self.options(),
                reads: None,
                hold_writer: false,
            };
        }
        let readers = self.max_connections / 2;
        let writers = (self.max_connections - readers).min(most_writers.unwrap_or(u32::MAX));
        let min_writers = self.min_connections.min(writers);
        Split {
            writes: self.sized(writers, min_writers),
            reads: Some(self.sized(readers, self.min_connections - min_writers)),
            hold_writer: writers == 1 && most_writers == Some(1),
        }
    }
}

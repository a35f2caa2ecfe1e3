//! Where the store's writes get their connection.
//!
//! A SQLite file has one writer at a time, so its write pool is one connection, and sqlx pings
//! every connection that goes back to its pool: a call to the connection's worker thread that
//! the next write waits for, on top of the hand-over to a spawned task that runs it. Writes one
//! after another (a synchronous request's start and settlement, a claim after a settlement)
//! would pay that after every transaction. So on such a database the store keeps the one write
//! connection between writes, behind a lock the writes queue for in order, and gives it back
//! to the pool only when a write failed or was given up (the pool's ping on release then
//! decides whether the connection is still usable) and when the store closes. Where several
//! writers run at once (PostgreSQL), each write checks a connection out of the pool as before.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool, TransactionManager};

use crate::dialect::Dialect;
use tokio::sync::{Mutex, MutexGuard};

/// The write pool, and on a single-writer database the connection kept between writes.
pub(crate) struct Writer<DB: Database> {
    pool: Pool<DB>,
    held: Option<Mutex<Option<PoolConnection<DB>>>>,
    /// A write sent as one call (`sqlite/batch.rs`) may have left its transaction open: it was
    /// given up before its outcome was in. The next write rolls back first.
    unfinished: AtomicBool,
}

impl<DB: Dialect> Writer<DB> {
    /// Writes on `pool`; with `hold`, on one connection kept between writes (`pool` must be
    /// the only user of its connections then, or others would wait for the held one).
    pub(crate) fn new(pool: Pool<DB>, hold: bool) -> Self {
        Self {
            pool,
            held: hold.then(|| Mutex::new(None)),
            unfinished: AtomicBool::new(false),
        }
    }

    pub(crate) fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// A connection for one write (a transaction or a statement). Call
    /// [`WriteConnection::done`] when it succeeded, so that a held connection is kept.
    pub(crate) async fn acquire(&self) -> Result<WriteConnection<'_, DB>, sqlx::Error> {
        let mut conn = match &self.held {
            None => WriteConnection {
                conn: Some(outside_transaction(self.pool.acquire().await?).await?),
                slot: None,
                unfinished: &self.unfinished,
                done: false,
            },
            Some(held) => {
                let mut slot = held.lock().await;
                let conn = match slot.take() {
                    Some(conn) => conn,
                    None => self.pool.acquire().await?,
                };
                WriteConnection {
                    conn: Some(outside_transaction(conn).await?),
                    slot: Some(slot),
                    unfinished: &self.unfinished,
                    done: false,
                }
            }
        };
        if self.unfinished.load(Ordering::Acquire) {
            DB::roll_back_unfinished(&mut conn).await;
        }
        Ok(conn)
    }

    /// Gives the held connection (if any) back to the pool, e.g. before the pool closes.
    pub(crate) async fn release(&self) {
        if let Some(held) = &self.held {
            let conn = held.lock().await.take();
            if let Some(mut conn) = conn {
                conn.return_to_pool().await;
            }
        }
    }
}

/// `conn`, with any transaction left open on it rolled back. A write given up while its `BEGIN`
/// was answered leaves one that sqlx has no `Transaction` for, so nothing rolls it back: the
/// SQLite worker ran the `BEGIN` and sent its answer just before the waiting future was dropped
/// (sqlx only rolls back when that answer cannot be sent). Every later `BEGIN` on the
/// connection would then fail, and the pool's ping on release does not notice.
async fn outside_transaction<DB: Database>(
    mut conn: PoolConnection<DB>,
) -> Result<PoolConnection<DB>, sqlx::Error> {
    if DB::TransactionManager::get_transaction_depth(&conn) > 0 {
        DB::TransactionManager::rollback(&mut conn).await?;
    }
    Ok(conn)
}

/// A connection one write runs on; derefs to the pooled connection.
pub struct WriteConnection<'a, DB: Database> {
    conn: Option<PoolConnection<DB>>,
    /// Where a held connection goes back to (and the lock on it, held meanwhile).
    slot: Option<MutexGuard<'a, Option<PoolConnection<DB>>>>,
    unfinished: &'a AtomicBool,
    done: bool,
}

impl<DB: Database> WriteConnection<'_, DB> {
    /// Marks a write sent in one call as under way (`true`) or its transaction as ended.
    pub(crate) fn set_unfinished(&self, unfinished: bool) {
        self.unfinished.store(unfinished, Ordering::Release);
    }

    /// The write succeeded: a held connection stays held for the next one. Without this (an
    /// error, or the write's future dropped mid-way) it goes back to the pool, whose ping on
    /// release closes it if it is no longer usable.
    pub(crate) fn done(mut self) {
        self.done = true;
    }
}

impl<DB: Database> Drop for WriteConnection<'_, DB> {
    fn drop(&mut self) {
        if let (Some(slot), true) = (self.slot.as_mut(), self.done) {
            **slot = self.conn.take();
        }
    }
}

impl<DB: Database> Deref for WriteConnection<'_, DB> {
    type Target = PoolConnection<DB>;

    fn deref(&self) -> &Self::Target {
        // Present from `acquire` until drop.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl<DB: Database> DerefMut for WriteConnection<'_, DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.conn.as_mut().unwrap_or_else(|| unreachable!())
    }
}

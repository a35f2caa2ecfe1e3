//! Store reads (`instance`, `binding`, `operation`, `latest_operation`) run on a few reader tasks
//! that keep their pooled connection while reads are queued.
//!
//! Why: sqlx pings a connection (a round trip to the database) every time it goes back to the
//! pool, so a read that checks a connection out for itself costs the database two wake-ups, and
//! on PostgreSQL each wake-up is a context switch into a backend process. A reader runs queued
//! reads back to back on one connection and returns it (one ping) only when the queue is empty.
//! A read whose caller gives up (a dropped request future) still completes on the reader, so
//! cancellation never leaves a connection half-way through a query.

use std::sync::Arc;

use sqlx::Pool;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::dialect::{Dialect, Statement};

/// Reads waiting for a reader; beyond this, callers wait to enqueue.
const QUEUE: usize = 1024;

struct Job<DB: Dialect> {
    statement: Statement<'static>,
    reply: oneshot::Sender<Result<Vec<DB::Row>, sqlx::Error>>,
}

type Queue<DB> = Arc<Mutex<mpsc::Receiver<Job<DB>>>>;

/// The queue of reads; the reader tasks end when it is dropped.
pub(crate) struct Readers<DB: Dialect> {
    jobs: mpsc::Sender<Job<DB>>,
}

impl<DB: Dialect> Readers<DB> {
    /// Spawns `count` reader tasks on the current tokio runtime, each taking connections from
    /// `pool` (so the pool's maximum still bounds every connection of the store).
    pub(crate) fn spawn(pool: &Pool<DB>, count: usize) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let queue: Queue<DB> = Arc::new(Mutex::new(queue));
        for _ in 0..count.max(1) {
            tokio::spawn(read_loop(pool.clone(), queue.clone()));
        }
        Self { jobs }
    }

    /// The rows `statement` returns.
    pub(crate) async fn fetch_all(
        &self,
        statement: Statement<'_>,
    ) -> Result<Vec<DB::Row>, sqlx::Error> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            statement: statement.into_owned(),
            reply,
        };
        self.jobs
            .send(job)
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        // A reader drops the reply only when its task ends, which happens when the runtime
        // shuts down.
        answer.await.unwrap_or(Err(sqlx::Error::PoolClosed))
    }
}

async fn read_loop<DB: Dialect>(pool: Pool<DB>, queue: Queue<DB>) {
    loop {
        // Idle readers queue for the receiver; the one holding it gets the next read.
        let Some(mut job) = queue.lock().await.recv().await else {
            return;
        };
        let mut conn = match pool.acquire().await {
            Ok(conn) => conn,
            Err(e) => {
                let _ = job.reply.send(Err(e));
                continue;
            }
        };
        loop {
            let result = DB::fetch_all(&mut conn, job.statement).await;
            let failed = result.is_err();
            // The caller may have given up; the read is done either way.
            let _ = job.reply.send(result);
            if failed {
                // The pool's ping on release decides whether the connection is still usable.
                break;
            }
            // A reader waiting in `recv` holds the lock only while the queue is empty.
            let next = queue.try_lock().ok().and_then(|mut q| q.try_recv().ok());
            match next {
                Some(next) => job = next,
                None => break,
            }
        }
        drop(conn);
    }
}

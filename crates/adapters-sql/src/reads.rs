//! Store lookups (`instance`, `binding`, `operation`, `operation_in_flight`, `latest_operation`)
//! run on a few reader tasks that keep their pooled connection while lookups are queued, and
//! that answer the lookups queued together with one statement per kind where the database
//! batches them (see `statements/lookups.rs`).
//!
//! Why readers: sqlx pings a connection (a round trip to the database) every time it goes back
//! to the pool, so a read that checks a connection out for itself costs the database two
//! wake-ups, and on PostgreSQL each wake-up is a context switch into a backend process. A reader
//! runs queued lookups back to back on one connection and returns it (one ping) only when the
//! queue is empty. A lookup whose caller gives up (a dropped request future) still completes on
//! the reader, so cancellation never leaves a connection half-way through a query.

use std::sync::Arc;
#[cfg(test)]
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::Pool;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::dialect::Dialect;
use crate::statements::lookups::{self, BATCH_INDEX, Lookup, LookupKind};

/// Lookups waiting for a reader; beyond this, callers wait to enqueue.
const QUEUE: usize = 1024;

/// Most lookups a reader takes at once: bounds one statement's parameters and rows.
const MAX_BATCH: usize = 128;

/// A failed read; shared because one failed statement can answer several lookups.
pub(crate) type ReadError = Arc<sqlx::Error>;

type Answer<DB> = Result<Vec<<DB as sqlx::Database>::Row>, ReadError>;

struct Job<DB: Dialect> {
    lookup: Lookup,
    reply: oneshot::Sender<Answer<DB>>,
}

type Queue<DB> = Arc<Mutex<mpsc::Receiver<Job<DB>>>>;

/// The queue of lookups; the reader tasks end when it is dropped.
pub(crate) struct Readers<DB: Dialect> {
    jobs: mpsc::Sender<Job<DB>>,
    /// Statements the readers ran, for tests that check lookups were batched.
    #[cfg(test)]
    statements: Arc<AtomicUsize>,
}

impl<DB: Dialect> Readers<DB> {
    /// Spawns `count` reader tasks on the current tokio runtime, each taking connections from
    /// `pool` (so the pool's maximum still bounds every connection of the store).
    pub(crate) fn spawn(pool: &Pool<DB>, count: usize) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let queue: Queue<DB> = Arc::new(Mutex::new(queue));
        #[cfg(test)]
        let statements = Arc::new(AtomicUsize::new(0));
        for _ in 0..count.max(1) {
            let reader = Reader {
                pool: pool.clone(),
                queue: queue.clone(),
                #[cfg(test)]
                statements: statements.clone(),
            };
            tokio::spawn(reader.run());
        }
        Self {
            jobs,
            #[cfg(test)]
            statements,
        }
    }

    /// The rows that answer `lookup`.
    pub(crate) async fn fetch(&self, lookup: Lookup) -> Answer<DB> {
        let (reply, answer) = oneshot::channel();
        let closed = || Arc::new(sqlx::Error::PoolClosed);
        self.jobs
            .send(Job { lookup, reply })
            .await
            .map_err(|_| closed())?;
        // A reader drops the reply only when its task ends, which happens when the runtime
        // shuts down.
        answer.await.unwrap_or_else(|_| Err(closed()))
    }

    #[cfg(test)]
    pub(crate) fn statements_run(&self) -> usize {
        self.statements.load(Ordering::Relaxed)
    }
}

struct Reader<DB: Dialect> {
    pool: Pool<DB>,
    queue: Queue<DB>,
    #[cfg(test)]
    statements: Arc<AtomicUsize>,
}

impl<DB: Dialect> Reader<DB> {
    async fn run(self) {
        loop {
            // Idle readers queue for the receiver; the one holding it takes the next lookup
            // and whatever else is queued with it.
            let mut jobs = {
                let mut queue = self.queue.lock().await;
                let Some(first) = queue.recv().await else {
                    return;
                };
                let mut jobs = vec![first];
                take_queued(&mut queue, &mut jobs);
                jobs
            };
            let mut conn = match self.pool.acquire().await {
                Ok(conn) => conn,
                Err(e) => {
                    let e = Arc::new(e);
                    for job in jobs {
                        let _ = job.reply.send(Err(e.clone()));
                    }
                    continue;
                }
            };
            loop {
                if !self.answer(&mut conn, jobs).await {
                    // The pool's ping on release decides whether the connection is still usable.
                    break;
                }
                // A reader waiting in `recv` holds the lock only while the queue is empty.
                jobs = Vec::new();
                if let Ok(mut queue) = self.queue.try_lock() {
                    take_queued(&mut queue, &mut jobs);
                }
                if jobs.is_empty() {
                    break;
                }
            }
            drop(conn);
        }
    }

    /// Answers `jobs`, a statement per kind of lookup where the database batches them and a
    /// statement per lookup otherwise; false if a statement failed.
    async fn answer(&self, conn: &mut DB::Connection, jobs: Vec<Job<DB>>) -> bool {
        let mut ok = true;
        for (kind, group) in by_kind(jobs) {
            if DB::BATCHES_LOOKUPS && group.len() > 1 {
                ok &= self.batched(conn, kind, group).await;
                continue;
            }
            for job in group {
                self.count();
                let answer = DB::fetch_all(conn, job.lookup.statement()).await;
                ok &= answer.is_ok();
                // The caller may have given up; the read is done either way.
                let _ = job.reply.send(answer.map_err(Arc::new));
            }
        }
        ok
    }

    async fn batched(
        &self,
        conn: &mut DB::Connection,
        kind: LookupKind,
        group: Vec<Job<DB>>,
    ) -> bool {
        self.count();
        let statement = lookups::batch(kind, group.iter().map(|job| &job.lookup));
        let rows = match DB::fetch_all(conn, statement).await {
            Ok(rows) => rows,
            Err(e) => {
                let e = Arc::new(e);
                for job in group {
                    let _ = job.reply.send(Err(e.clone()));
                }
                return false;
            }
        };
        let mut answers: Vec<Vec<DB::Row>> = group.iter().map(|_| Vec::new()).collect();
        for row in rows {
            let slot = DB::int(&row, BATCH_INDEX)
                .ok()
                .and_then(|index| usize::try_from(index).ok())
                .and_then(|index| index.checked_sub(1))
                .and_then(|index| answers.get_mut(index));
            match slot {
                Some(answer) => answer.push(row),
                None => {
                    // Only a statement that does not do what lookups.rs says gets here.
                    let e = Arc::new(sqlx::Error::Protocol(format!(
                        "a batched lookup returned a row without a valid {BATCH_INDEX}"
                    )));
                    for job in group {
                        let _ = job.reply.send(Err(e.clone()));
                    }
                    return false;
                }
            }
        }
        for (job, rows) in group.into_iter().zip(answers) {
            let _ = job.reply.send(Ok(rows));
        }
        true
    }

    fn count(&self) {
        #[cfg(test)]
        self.statements.fetch_add(1, Ordering::Relaxed);
    }
}

fn take_queued<DB: Dialect>(queue: &mut mpsc::Receiver<Job<DB>>, jobs: &mut Vec<Job<DB>>) {
    while jobs.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
}

/// `jobs` grouped by kind of lookup, each group in arrival order.
fn by_kind<DB: Dialect>(jobs: Vec<Job<DB>>) -> Vec<(LookupKind, Vec<Job<DB>>)> {
    let mut groups: Vec<(LookupKind, Vec<Job<DB>>)> = Vec::new();
    for job in jobs {
        let kind = job.lookup.kind();
        match groups.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, group)) => group.push(job),
            None => groups.push((kind, vec![job])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use pgbroker_testkit::pg_database::TestDatabase;
    use pgbroker_testkit::store_contract::{
        CONCURRENT_LOOKUPS, concurrent_lookups_each_get_their_own_answer,
    };

    use crate::{PgStateStore, PoolSettings};

    /// The contract check proves each lookup gets its own answer; this proves the PostgreSQL
    /// store answered them with far fewer statements than lookups, i.e. that batches ran.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lookups_waiting_together_run_as_one_statement_per_kind() {
        let db = TestDatabase::create().await.unwrap();
        let settings = PoolSettings {
            max_connections: 2,
            ..PoolSettings::default()
        };
        let store = PgStateStore::connect_pooled(db.url(), &settings)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let store = Arc::new(store);
        concurrent_lookups_each_get_their_own_answer(store.clone())
            .await
            .unwrap();
        let statements = store.read_statements();
        // The setup reads a few things one at a time; the concurrent lookups (six kinds) need
        // a handful of batches.
        assert!(
            statements < CONCURRENT_LOOKUPS / 4,
            "{statements} statements for {CONCURRENT_LOOKUPS} concurrent lookups"
        );
    }
}

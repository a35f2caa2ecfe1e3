//! The [`StateStore`] rules, written once for both databases.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pgbroker_domain::ports::{StateStore, StoreError, Write};
use pgbroker_domain::{Binding, BindingId, Instance, InstanceId, Operation, OperationId};
use sqlx::{Database, Pool};
use tracing::error;

use crate::dialect::{ConnectOptions, Dialect, Durability};
use crate::error::{SqlStoreError, unavailable};
use crate::pool::Split;
use crate::reads::Readers;
use crate::statements::lookups::Lookup;
use crate::transaction::{Change, Check, Failed};
use crate::writer::Writer;
use crate::{rows, statements};

mod writes;

use writes::Transaction;

/// A [`StateStore`] on a sqlx pool; see [`crate::PgStateStore`] and [`crate::SqliteStateStore`].
pub struct SqlStateStore<DB: Dialect> {
    /// Where writes run: operation starts, claims, lease renewals, settles.
    pub(crate) writer: Arc<Writer<DB>>,
    /// Where single-row reads run (see `reads.rs`), on a pool of their own so that reads are
    /// served while writers hold every write connection (an engine at full concurrency).
    reads: Readers<DB>,
    pub(crate) read_pool: Pool<DB>,
    /// Held, never used: an in-memory SQLite database lives only while a connection to it is
    /// open, and the pool closes its connection when a query future is dropped mid-flight.
    pub(crate) keep_alive: Option<KeepAlive>,
}

/// Something the store holds for as long as it lives (see `SqlStateStore::keep_alive`).
pub(crate) type KeepAlive = Box<dyn std::any::Any + Send + Sync>;

impl<DB: Dialect> SqlStateStore<DB> {
    /// A store writing on `pool` and reading on `read_pool` (which may be the same pool); its
    /// schema must be migrated (see `migrate`). Spawns a reader task per read connection on the
    /// current tokio runtime.
    fn from_pools(pool: Pool<DB>, read_pool: Pool<DB>, hold_writer: bool) -> Self {
        let readers = read_pool.options().get_max_connections().max(1);
        Self {
            reads: Readers::spawn(&read_pool, readers as usize),
            read_pool,
            writer: Arc::new(Writer::new(pool, hold_writer)),
            keep_alive: None,
        }
    }

    /// The pool writes run on (migrations too). On a SQLite file the store keeps that pool's
    /// one connection between writes (see `writer.rs`): call [`Self::release_writer`] before
    /// using the pool yourself.
    pub fn pool(&self) -> &Pool<DB> {
        self.writer.pool()
    }

    /// Gives the write connection the store keeps between writes (a SQLite file's) back to the
    /// pool; the next write takes it again.
    pub async fn release_writer(&self) {
        self.writer.release().await;
    }

    /// Closes every connection of the store.
    pub async fn close(&self) {
        self.writer.release().await;
        self.pool().close().await;
        self.read_pool.close().await;
    }

    /// Brings the schema up to date with the migrations built into this binary.
    pub async fn migrate(&self) -> Result<(), SqlStoreError> {
        self.writer.release().await;
        DB::migrator()
            .run(self.pool())
            .await
            .map_err(|source| SqlStoreError::Migrate {
                target: DB::describe(&self.pool().connect_options()),
                source,
            })
    }

    pub(crate) fn parse_url(url: &str) -> Result<ConnectOptions<DB>, SqlStoreError> {
        url.parse().map_err(|source| SqlStoreError::InvalidUrl {
            engine: <DB as Database>::NAME,
            source,
        })
    }

    /// Opens the pools `split` describes, failing unless one connection can be made within the
    /// acquire timeout.
    pub(crate) async fn connect_with(
        split: Split<DB>,
        options: ConnectOptions<DB>,
    ) -> Result<Self, SqlStoreError> {
        let target = DB::describe(&options);
        let failed = |source| SqlStoreError::Connect {
            target: target.clone(),
            source,
        };
        let pool = split
            .writes
            .connect_with(DB::writer_options(options.clone()))
            .await
            .map_err(failed)?;
        let read_pool = match split.reads {
            Some(reads) => reads.connect_lazy_with(options),
            None => pool.clone(),
        };
        Ok(Self::from_pools(pool, read_pool, split.hold_writer))
    }

    async fn fetch<T>(
        &self,
        doing: impl FnOnce() -> String + Send,
        lookup: Lookup,
        read: fn(&DB::Row) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let rows = self
            .reads
            .fetch(lookup)
            .await
            .map_err(|e| unavailable(doing(), e))?;
        rows.first().map(read).transpose()
    }

    /// Statements the reader tasks ran, for tests that check lookups were batched.
    #[cfg(test)]
    pub(crate) fn read_statements(&self) -> usize {
        self.reads.statements_run()
    }
}

/// The pool's Debug output could show connect options; only the database kind is shown.
impl<DB: Dialect> fmt::Debug for SqlStateStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStateStore")
            .field("engine", &<DB as Database>::NAME)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<DB: Dialect> StateStore for SqlStateStore<DB> {
    async fn ping(&self) -> Result<(), StoreError> {
        async {
            let mut conn = self.writer.acquire().await?;
            let pinged = DB::execute(&mut conn, statements::ping()).await?;
            conn.done();
            Ok::<_, sqlx::Error>(pinged)
        }
        .await
        .map(drop)
        .map_err(|e| {
            unavailable(
                format_args!("pinging the {} state store", <DB as Database>::NAME),
                e,
            )
        })
    }

    async fn instance(&self, id: &InstanceId) -> Result<Option<Instance>, StoreError> {
        let doing = || format!("reading instance {id}");
        self.fetch(doing, Lookup::Instance(id.clone()), rows::instance::<DB>)
            .await
    }

    async fn binding(
        &self,
        instance: &InstanceId,
        id: &BindingId,
    ) -> Result<Option<Binding>, StoreError> {
        let doing = || format!("reading binding {id} of instance {instance}");
        let lookup = Lookup::Binding(instance.clone(), id.clone());
        self.fetch(doing, lookup, rows::binding::<DB>).await
    }

    async fn operation(&self, id: OperationId) -> Result<Option<Operation>, StoreError> {
        let doing = || format!("reading operation {id}");
        let lookup = Lookup::Operation(id);
        self.fetch(doing, lookup, rows::operation::<DB>).await
    }

    async fn operation_in_flight(
        &self,
        instance: &InstanceId,
    ) -> Result<Option<Operation>, StoreError> {
        let doing = || format!("reading the operation in flight on instance {instance}");
        let lookup = Lookup::InFlight(instance.clone());
        self.fetch(doing, lookup, rows::operation::<DB>).await
    }

    async fn latest_operation(
        &self,
        instance: &InstanceId,
        binding: Option<&BindingId>,
    ) -> Result<Option<Operation>, StoreError> {
        let doing = || format!("reading the latest operation of instance {instance}");
        let lookup = match binding {
            None => Lookup::LatestOfInstance(instance.clone()),
            Some(b) => Lookup::LatestOfBinding(instance.clone(), b.clone()),
        };
        self.fetch(doing, lookup, rows::operation::<DB>).await
    }

    async fn start(&self, operation: &Operation, writes: &[Write]) -> Result<(), StoreError> {
        let doing = || format!("starting operation {}", operation.id);
        let mut tx = Transaction::default();
        tx.operation(operation)?;
        tx.writes(writes);
        let (changes, meanings) = tx.split();
        let mut conn = self
            .writer
            .acquire()
            .await
            .map_err(|e| unavailable(doing(), e))?;
        // Stored before any backend is touched: the one write that must survive the machine.
        DB::transact(&mut conn, Durability::Durable, changes)
            .await
            .map_err(|failed| meanings.error(failed, doing))?;
        conn.done();
        Ok(())
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Operation>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let doing = "claiming due operations";
        let expires_at = chrono::Duration::from_std(lease)
            .ok()
            .and_then(|lease| now.checked_add_signed(lease))
            .ok_or_else(|| {
                StoreError::Unavailable(format!("{doing}: a lease of {lease:?} is out of range"))
            })?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let statement = statements::claim_due(DB::CLAIM_DUE, owner, now, expires_at, limit);
        let mut conn = self
            .writer
            .acquire()
            .await
            .map_err(|e| unavailable(doing, e))?;
        // A lost claim only lets the operation be claimed again.
        let claim = vec![Change::new(statement, Check::Returns)];
        let rows = DB::transact(&mut conn, Durability::Redone, claim)
            .await
            .map_err(|failed| match failed.into_error() {
                Some(e) => unavailable(doing, e),
                None => StoreError::Unavailable(format!("{doing}: the claim changed nothing")),
            })?;
        conn.done();
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            match rows::operation::<DB>(row) {
                Ok(op) => claimed.push(op),
                // One unreadable row must not stop every other operation; its lease lapses
                // and it shows up here again, logged each time.
                Err(e) => {
                    error!(error = %e, "claimed an operation that cannot be read; skipping it")
                }
            }
        }
        claimed.sort_by_key(|op| (op.next_attempt_at, op.created_at));
        Ok(claimed)
    }

    async fn renew_lease(
        &self,
        id: OperationId,
        token: i64,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        async {
            let mut conn = self.writer.acquire().await?;
            let changed = DB::execute(&mut conn, statements::renew_lease(id, token, until)).await?;
            conn.done();
            Ok::<_, sqlx::Error>(changed)
        }
        .await
        .map(|changed| changed > 0)
        .map_err(|e| unavailable(format_args!("renewing the lease on operation {id}"), e))
    }

    async fn settle(
        &self,
        operation: &Operation,
        token: i64,
        writes: &[Write],
        follow_up: Option<&Operation>,
    ) -> Result<bool, StoreError> {
        let doing = || format!("settling operation {}", operation.id);
        let mut tx = Transaction::default();
        // Settled only under the caller's lease; nothing else is written otherwise.
        tx.own(
            statements::settle_operation(operation, token),
            Check::Changed,
        );
        // The settled operation is no longer in flight when the follow-up (on the same
        // instance, usually) is inserted; the one-in-flight index checks the final state.
        tx.writes(writes);
        if let Some(follow_up) = follow_up {
            tx.operation(follow_up)?;
        }
        let (changes, meanings) = tx.split();
        let mut conn = self
            .writer
            .acquire()
            .await
            .map_err(|e| unavailable(doing(), e))?;
        // A lost settlement leaves the operation in flight under a lapsed lease: the engine
        // claims it again and its idempotent step ends it the same way (see `Durability`).
        match DB::transact(&mut conn, Durability::Redone, changes).await {
            Ok(_) => {
                conn.done();
                Ok(true)
            }
            Err(Failed::Unchanged(0)) => {
                conn.done();
                Ok(false)
            }
            Err(failed) => Err(meanings.error(failed, doing)),
        }
    }
}

//! The store on SQLite, for a single broker process. Writers take the database's write lock at
//! `BEGIN IMMEDIATE`, so two claimers run one after the other and never take the same operation.
//! Timestamps are unix milliseconds: domain timestamps are whole milliseconds, so none is lost.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pgbroker_domain::OperationId;
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteRow,
};
use sqlx::types::Json;
use sqlx::{Connection, Sqlite};

use crate::dialect::{ColumnError, Dialect, Durability, Param, Statement, get};
use crate::error::SqlStoreError;
use crate::pool::{PoolSettings, Split};
use crate::statements;
use crate::store::SqlStateStore;
use crate::transaction::{Change, Failed};
use crate::writer::WriteConnection;

mod batch;

/// The state store on SQLite.
pub type SqliteStateStore = SqlStateStore<Sqlite>;

/// How long a writer waits for another one to finish before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl SqlStateStore<Sqlite> {
    /// Opens `url` (`sqlite://path`, `sqlite:path` or `sqlite::memory:`), creating the file if it
    /// is missing. Does not migrate: see [`SqlStateStore::migrate`].
    ///
    /// An in-memory database is named and shared by the connections of this process that open
    /// it (sqlx names each `sqlite::memory:` uniquely), and lives as long as one of them is
    /// open. The pool closes its connection when a query future is dropped mid-flight, so the
    /// store holds one more connection that it never uses, which keeps the database (and its
    /// tables) alive for as long as the store. The pool itself holds one connection: writers
    /// of one in-memory database would only queue for its lock.
    pub async fn connect(url: &str) -> Result<Self, SqlStoreError> {
        Self::connect_pooled(url, &PoolSettings::default()).await
    }

    /// Opens `url` like [`Self::connect`], with a pool sized by `settings` (an in-memory
    /// database keeps one pooled connection whatever `settings` say).
    pub async fn connect_pooled(url: &str, settings: &PoolSettings) -> Result<Self, SqlStoreError> {
        let options = Self::parse_url(url)?
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        if url.contains(":memory:") || url.contains("mode=memory") {
            let options = options.shared_cache(true);
            let keeper = SqliteConnection::connect_with(&options)
                .await
                .map_err(|source| SqlStoreError::Connect {
                    target: Self::describe_options(&options),
                    source,
                })?;
            let pool = PoolSettings {
                max_connections: 1,
                ..*settings
            }
            .options()
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
            let split = Split {
                writes: pool,
                reads: None,
                hold_writer: false,
            };
            let mut store = Self::connect_with(split, options).await?;
            store.keep_alive = Some(Box::new(Mutex::new(keeper)));
            Ok(store)
        } else {
            let options = options.journal_mode(SqliteJournalMode::Wal);
            Self::connect_with(settings.split(Some(1)), options).await
        }
    }

    fn describe_options(options: &SqliteConnectOptions) -> String {
        <Sqlite as Dialect>::describe(options)
    }
}

impl Dialect for Sqlite {
    const CLAIM_DUE: &'static str = statements::CLAIM_DUE_SERIALIZED;
    /// A statement is a call into the library on a connection's worker thread: there is no
    /// server round trip for a batch to save.
    const BATCHES_LOOKUPS: bool = false;

    fn migrator() -> &'static Migrator {
        static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");
        &MIGRATOR
    }

    fn describe(options: &SqliteConnectOptions) -> String {
        format!("SQLite database {}", options.get_filename().display())
    }

    async fn transact<'c, 'w: 'c>(
        conn: &'c mut WriteConnection<'w, Self>,
        durability: Durability,
        changes: Vec<Change<'c>>,
    ) -> Result<Vec<SqliteRow>, Failed> {
        batch::transact(conn, durability, changes).await
    }

    async fn roll_back_unfinished<'c, 'w: 'c>(conn: &'c mut WriteConnection<'w, Self>) {
        batch::roll_back(conn).await;
    }

    /// The write connections' statements hold the values they write (`sqlite/batch.rs`), a
    /// binding's password among them: sqlx logs none of them, slow ones included.
    fn writer_options(options: SqliteConnectOptions) -> SqliteConnectOptions {
        sqlx::ConnectOptions::disable_statement_logging(options)
    }

    async fn execute(
        conn: &mut SqliteConnection,
        statement: Statement<'_>,
    ) -> Result<u64, sqlx::Error> {
        let done = bind(statement).execute(conn).await?;
        Ok(done.rows_affected())
    }

    async fn fetch_all(
        conn: &mut SqliteConnection,
        statement: Statement<'_>,
    ) -> Result<Vec<SqliteRow>, sqlx::Error> {
        bind(statement).fetch_all(conn).await
    }

    fn text(row: &SqliteRow, column: &'static str) -> Result<Option<String>, ColumnError> {
        get(row, column)
    }

    fn int(row: &SqliteRow, column: &'static str) -> Result<i64, ColumnError> {
        get(row, column)
    }

    fn json(row: &SqliteRow, column: &'static str) -> Result<Option<Value>, ColumnError> {
        get::<_, Option<Json<Value>>>(row, column).map(|json| json.map(|Json(value)| value))
    }

    fn time(row: &SqliteRow, column: &'static str) -> Result<Option<DateTime<Utc>>, ColumnError> {
        let millis: Option<i64> = get(row, column)?;
        millis
            .map(|ms| {
                DateTime::from_timestamp_millis(ms)
                    .ok_or_else(|| ColumnError::new(column, "timestamp out of range"))
            })
            .transpose()
    }

    fn id(row: &SqliteRow, column: &'static str) -> Result<OperationId, ColumnError> {
        let raw: String = get(row, column)?;
        raw.parse().map_err(|e| ColumnError::new(column, e))
    }
}

fn bind(statement: Statement<'_>) -> Query<'_, Sqlite, SqliteArguments<'_>> {
    let query = sqlx::query(statement.sql);
    statement
        .params
        .into_iter()
        .fold(query, |query, param| match param {
            Param::Text(v) => query.bind(v),
            // SQLite has no arrays; a JSON array is what its `json_each` reads.
            Param::TextList(v) => query.bind(Json(v)),
            Param::Int(v) => query.bind(v),
            Param::Json(v) => query.bind(v.map(Json)),
            Param::Time(v) => query.bind(v.map(|t| t.timestamp_millis())),
            Param::Id(v) => query.bind(v.to_string()),
        })
}

//! What differs between PostgreSQL and SQLite, behind one small trait, so that every query and
//! every transactional rule of the store is written once (in `statements.rs` and `store.rs`).

use std::fmt;
use std::future::Future;

use chrono::{DateTime, Utc};
use pgbroker_domain::OperationId;
use serde_json::Value;
use sqlx::Database;
use sqlx::migrate::{Migrate, Migrator};

use crate::transaction::{Change, Failed};
use crate::writer::WriteConnection;

/// What a database's connections are configured with (parsed from a URL).
pub type ConnectOptions<DB> = <<DB as Database>::Connection as sqlx::Connection>::Options;

/// A value bound to a statement parameter. The dialect picks the column type: a timestamp is a
/// `timestamptz` on PostgreSQL and unix milliseconds on SQLite, an operation id a `uuid` or text.
/// Its Debug output names the kind, never the value (a binding's password is one).
pub enum Param<'a> {
    Text(Option<&'a str>),
    /// A list of texts: a `text[]` on PostgreSQL (batched lookups only run there).
    TextList(Vec<String>),
    Int(i64),
    Json(Option<Value>),
    Time(Option<DateTime<Utc>>),
    Id(OperationId),
}

impl fmt::Debug for Param<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text(None) | Self::Json(None) | Self::Time(None) => "NULL",
            Self::Text(Some(_)) => "Text(..)",
            Self::TextList(_) => "TextList(..)",
            Self::Int(_) => "Int(..)",
            Self::Json(Some(_)) => "Json(..)",
            Self::Time(Some(_)) => "Time(..)",
            Self::Id(_) => "Id(..)",
        })
    }
}

/// SQL text (with `$1`, `$2`, ... placeholders, which both databases accept) and its parameters.
#[derive(Debug)]
pub struct Statement<'a> {
    pub sql: &'static str,
    pub params: Vec<Param<'a>>,
}

/// A column that could not be read back; the caller adds which row it belongs to.
#[derive(Debug)]
pub struct ColumnError {
    pub column: &'static str,
    pub why: String,
}

impl ColumnError {
    pub fn new(column: &'static str, why: impl ToString) -> Self {
        Self {
            column,
            why: why.to_string(),
        }
    }
}

/// `column` of `row` as a `T`.
pub fn get<'r, R, T>(row: &'r R, column: &'static str) -> Result<T, ColumnError>
where
    R: sqlx::Row,
    T: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    row.try_get(column).map_err(|e| ColumnError::new(column, e))
}

/// What a write transaction's commit waits for.
///
/// Only the write that records an operation before any backend is touched must survive a crash
/// of the machine: without it a backend could hold what no operation knows of. Every later write
/// of an operation (its claim, its settlement and what that changes) is one the engine makes
/// again if it is lost: the operation is still stored as in flight, so it is claimed again and
/// its step, idempotent, run again to the same end (a binding's password was stored with its
/// start, so the credentials are the same). Such writes commit without waiting for the disk;
/// both databases keep commits in order, so a lost one takes only the writes after it with it,
/// and the next durable commit makes every earlier one durable too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The commit returns once the transaction is on disk (SQLite `synchronous = FULL`,
    /// PostgreSQL `synchronous_commit = on`).
    Durable,
    /// The commit returns once the database has it; a crash of the machine (not of pgbroker) may
    /// lose it (SQLite `synchronous = NORMAL` in WAL mode, PostgreSQL
    /// `synchronous_commit = off`).
    Redone,
}

/// A database the store runs on. Implemented for `sqlx::Postgres` and `sqlx::Sqlite`; sealed
/// (it lives in a private module).
pub trait Dialect: Database<Connection: Migrate> {
    /// This database's schema migrations, built into the binary.
    fn migrator() -> &'static Migrator;

    /// Names the database (host, port and name, or file) for messages; never the password.
    fn describe(options: &ConnectOptions<Self>) -> String;

    /// Claims due operations: parameters are owner, lease expiry, now, limit; returns the
    /// claimed rows (operation columns).
    const CLAIM_DUE: &'static str;

    /// Whether keyed reads waiting together run as one statement (see
    /// `statements/lookups.rs`). Only where a statement is a round trip to a server process.
    const BATCHES_LOOKUPS: bool;

    /// Runs `changes` as one write transaction on `conn`, in order, committed only if every
    /// one of them did what its check asks; the rows of those that return rows.
    fn transact<'c, 'w: 'c>(
        conn: &'c mut WriteConnection<'w, Self>,
        durability: Durability,
        changes: Vec<Change<'c>>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, Failed>> + Send + 'c;

    /// Ends the transaction a [`Self::transact`] given up mid-way may have left open on `conn`.
    fn roll_back_unfinished<'c, 'w: 'c>(
        conn: &'c mut WriteConnection<'w, Self>,
    ) -> impl Future<Output = ()> + Send + 'c;

    /// The options of the connections writes run on, from those of the store.
    fn writer_options(options: ConnectOptions<Self>) -> ConnectOptions<Self> {
        options
    }

    /// Runs a statement; the number of rows it changed.
    fn execute(
        conn: &mut Self::Connection,
        statement: Statement<'_>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;

    fn fetch_all(
        conn: &mut Self::Connection,
        statement: Statement<'_>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send;

    fn text(row: &Self::Row, column: &'static str) -> Result<Option<String>, ColumnError>;
    fn int(row: &Self::Row, column: &'static str) -> Result<i64, ColumnError>;
    fn json(row: &Self::Row, column: &'static str) -> Result<Option<Value>, ColumnError>;
    fn time(row: &Self::Row, column: &'static str) -> Result<Option<DateTime<Utc>>, ColumnError>;
    fn id(row: &Self::Row, column: &'static str) -> Result<OperationId, ColumnError>;
}

//! The store on PostgreSQL, shared by every broker replica. Claims lock rows with
//! `FOR UPDATE SKIP LOCKED`, so concurrent claimers pass each other by instead of waiting.

use chrono::{DateTime, Utc};
use pgbroker_domain::OperationId;
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgRow};
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{Connection, Postgres, Transaction};
use uuid::Uuid;

use crate::dialect::{ColumnError, Dialect, Durability, Param, Statement, get};
use crate::error::SqlStoreError;
use crate::pool::PoolSettings;
use crate::statements;
use crate::store::SqlStateStore;
use crate::transaction::{Change, Check, Failed};
use crate::writer::WriteConnection;

/// The state store on PostgreSQL.
pub type PgStateStore = SqlStateStore<Postgres>;

impl SqlStateStore<Postgres> {
    /// Connects to `url` (`postgres://` or `postgresql://`) with the default pool settings.
    /// Does not migrate: see [`SqlStateStore::migrate`].
    pub async fn connect(url: &str) -> Result<Self, SqlStoreError> {
        Self::connect_pooled(url, &PoolSettings::default()).await
    }

    /// Connects to `url` with a pool sized by `settings`.
    pub async fn connect_pooled(url: &str, settings: &PoolSettings) -> Result<Self, SqlStoreError> {
        let options = Self::parse_url(url)?;
        Self::connect_with(settings.split(None), options).await
    }
}

impl Dialect for Postgres {
    const CLAIM_DUE: &'static str = statements::CLAIM_DUE_SKIP_LOCKED;
    const BATCHES_LOOKUPS: bool = true;

    fn migrator() -> &'static Migrator {
        static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");
        &MIGRATOR
    }

    fn describe(options: &PgConnectOptions) -> String {
        format!(
            "PostgreSQL database {} on {}:{}",
            options.get_database().unwrap_or("(default)"),
            options.get_host(),
            options.get_port()
        )
    }

    async fn transact<'c, 'w: 'c>(
        conn: &'c mut WriteConnection<'w, Self>,
        durability: Durability,
        changes: Vec<Change<'c>>,
    ) -> Result<Vec<PgRow>, Failed> {
        // A statement is a round trip to the server either way; sqlx's transaction rolls back
        // whatever a write given up mid-way left open before the connection is used again.
        in_steps(conn, durability, changes).await
    }

    /// sqlx's own transaction is rolled back when its connection is next used.
    async fn roll_back_unfinished<'c, 'w: 'c>(_conn: &'c mut WriteConnection<'w, Self>) {}

    async fn execute(
        conn: &mut PgConnection,
        statement: Statement<'_>,
    ) -> Result<u64, sqlx::Error> {
        let done = bind(statement).execute(conn).await?;
        Ok(done.rows_affected())
    }

    async fn fetch_all(
        conn: &mut PgConnection,
        statement: Statement<'_>,
    ) -> Result<Vec<PgRow>, sqlx::Error> {
        bind(statement).fetch_all(conn).await
    }

    fn text(row: &PgRow, column: &'static str) -> Result<Option<String>, ColumnError> {
        get(row, column)
    }

    fn int(row: &PgRow, column: &'static str) -> Result<i64, ColumnError> {
        get(row, column)
    }

    fn json(row: &PgRow, column: &'static str) -> Result<Option<Value>, ColumnError> {
        get::<_, Option<Json<Value>>>(row, column).map(|json| json.map(|Json(value)| value))
    }

    fn time(row: &PgRow, column: &'static str) -> Result<Option<DateTime<Utc>>, ColumnError> {
        get(row, column)
    }

    fn id(row: &PgRow, column: &'static str) -> Result<OperationId, ColumnError> {
        let id: Uuid = get(row, column)?;
        Ok(OperationId::from_uuid(id))
    }
}

fn bind(statement: Statement<'_>) -> Query<'_, Postgres, PgArguments> {
    let query = sqlx::query(statement.sql);
    statement
        .params
        .into_iter()
        .fold(query, |query, param| match param {
            Param::Text(v) => query.bind(v),
            Param::TextList(v) => query.bind(v),
            Param::Int(v) => query.bind(v),
            Param::Json(v) => query.bind(v.map(Json)),
            Param::Time(v) => query.bind(v),
            Param::Id(v) => query.bind(v.as_uuid()),
        })
}

/// [`Dialect::transact`] in a sqlx transaction, one call per statement.
async fn in_steps(
    conn: &mut PoolConnection<Postgres>,
    durability: Durability,
    changes: Vec<Change<'_>>,
) -> Result<Vec<PgRow>, Failed> {
    let mut tx = begin_write(conn, durability)
        .await
        .map_err(Failed::Transaction)?;
    let mut rows = Vec::new();
    for (index, change) in changes.into_iter().enumerate() {
        // A failed statement drops `tx`, which rolls back.
        let failed = |e| Failed::Statement(index, e);
        match change.check {
            Check::Returns => rows.extend(
                Postgres::fetch_all(&mut tx, change.statement)
                    .await
                    .map_err(failed)?,
            ),
            Check::None => {
                Postgres::execute(&mut tx, change.statement)
                    .await
                    .map_err(failed)?;
            }
            Check::Changed => {
                if Postgres::execute(&mut tx, change.statement)
                    .await
                    .map_err(failed)?
                    == 0
                {
                    tx.rollback().await.map_err(Failed::Transaction)?;
                    return Err(Failed::Unchanged(index));
                }
            }
        }
    }
    tx.commit().await.map_err(Failed::Transaction)?;
    Ok(rows)
}

/// Opens a transaction that writes on `conn`, whose commit waits for the disk or not as
/// `durability` says.
async fn begin_write<'c>(
    conn: &'c mut PoolConnection<Postgres>,
    durability: Durability,
) -> Result<Transaction<'c, Postgres>, sqlx::Error> {
    let mut tx = (**conn).begin().await?;
    if durability == Durability::Redone {
        // For this transaction only; the server's setting (on) for every other.
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

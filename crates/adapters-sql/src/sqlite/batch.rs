//! A SQLite write transaction in one call to the connection's worker thread.
//!
//! sqlx runs every statement on a SQLite connection's own worker thread, and each statement is a
//! hand-over to that thread and back; where the threads sleep between statements (a broker
//! waiting for its backend) each hand-over wakes one. A transaction of four statements sent one
//! by one is four of them. sqlx runs several statements in one call only without bound
//! parameters (`raw_sql`; several statements in one prepared query are deprecated,
//! launchbadge/sqlx#3108), so the transaction is written out as one text, every value as a
//! literal: text as the hex of its UTF-8 bytes cast to text (no quoting to get wrong, and a NUL
//! byte cannot end the statement early), numbers as digits. The same columns get the same values
//! and types as when bound.
//!
//! The text holds every value written, a binding's password among them, so the write
//! connections log no statements ([`super::Dialect::writer_options`]); a transaction slower than
//! sqlx's slow-statement threshold is logged here by the number of its statements, without text.
//! No SQLite error message holds a literal of ours except a syntax error near one, which the
//! rendering here cannot produce (unit tests) and which is reported without its message anyway.
//!
//! A statement that must change a row ([`Check::Changed`]) is followed by a guard: an insert into
//! a temporary table whose `CHECK` fails when `changes()` (the rows the statement before changed)
//! is 0, so the text stops there, before `COMMIT`. Which statement failed is the number of
//! statements sqlx reported done before the error. After a failure the transaction is rolled
//! back; a call given up while the worker ran it may leave it open, so the writer marks the call
//! unfinished until its outcome is in and rolls back first when the next write finds the mark.

use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

use futures::StreamExt;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{Either, Executor as _, Sqlite};
use tracing::warn;

use crate::dialect::{Durability, Param, Statement};
use crate::transaction::{Change, Check, Failed};
use crate::writer::WriteConnection;

/// Where sqlx would have logged a statement as slow (its default).
const SLOW: Duration = Duration::from_secs(1);

const GUARD_TABLE: &str = "CREATE TEMP TABLE IF NOT EXISTS pgbroker_changed \
    (changed INTEGER NOT NULL CHECK (changed > 0))";
const GUARD: &str =
    "INSERT INTO temp.pgbroker_changed (changed) SELECT changes() WHERE changes() = 0";

/// What a statement of the text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Setting up or committing the transaction.
    Frame,
    Change(usize),
    Guard(usize),
}

/// The transaction's text, and what each of its statements is.
struct Batch {
    text: String,
    parts: Vec<Part>,
}

/// The text holds the values written: Debug output shows its statements' kinds only.
impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

impl Batch {
    fn new(durability: Durability, changes: &[Change<'_>]) -> Result<Self, Failed> {
        let mut batch = Self {
            text: String::new(),
            parts: Vec::new(),
        };
        // Set on every transaction: the connection keeps what the last one set, and SQLite
        // does not change it inside a transaction.
        batch.push(
            Part::Frame,
            match durability {
                Durability::Durable => "PRAGMA synchronous = FULL",
                Durability::Redone => "PRAGMA synchronous = NORMAL",
            },
        );
        // Takes the write lock up front, so two writers serialize at `BEGIN` instead of failing
        // when one upgrades its read lock.
        batch.push(Part::Frame, "BEGIN IMMEDIATE");
        if changes.iter().any(|c| c.check == Check::Changed) {
            batch.push(Part::Frame, GUARD_TABLE);
        }
        for (index, change) in changes.iter().enumerate() {
            batch.separate();
            render(&change.statement, &mut batch.text)
                .map_err(|why| Failed::Statement(index, sqlx::Error::Protocol(why)))?;
            batch.parts.push(Part::Change(index));
            if change.check == Check::Changed {
                batch.push(Part::Guard(index), GUARD);
            }
        }
        batch.push(Part::Frame, "COMMIT");
        Ok(batch)
    }

    fn separate(&mut self) {
        if !self.text.is_empty() {
            self.text.push_str(";\n");
        }
    }

    fn push(&mut self, part: Part, sql: &str) {
        self.separate();
        self.text.push_str(sql);
        self.parts.push(part);
    }

    /// What the failure of the statement at `done` (the number sqlx reported done before it)
    /// means.
    fn failure(&self, done: usize, error: sqlx::Error) -> Failed {
        match self.parts.get(done) {
            Some(Part::Change(index)) => Failed::Statement(*index, scrubbed(error)),
            Some(Part::Guard(index)) => Failed::Unchanged(*index),
            Some(Part::Frame) | None => Failed::Transaction(scrubbed(error)),
        }
    }
}

/// Runs `changes` as one transaction in one call; the rows of its [`Check::Returns`] statements.
pub(super) async fn transact(
    conn: &mut WriteConnection<'_, Sqlite>,
    durability: Durability,
    changes: Vec<Change<'_>>,
) -> Result<Vec<SqliteRow>, Failed> {
    let batch = Batch::new(durability, &changes)?;
    let started = Instant::now();
    conn.set_unfinished(true);
    let (rows, failure) = run(conn, &batch).await;
    let elapsed = started.elapsed();
    if elapsed > SLOW {
        warn!(
            statements = changes.len(),
            elapsed_ms = elapsed.as_millis() as u64,
            "a state-store write transaction was slow"
        );
    }
    match failure {
        None => {
            conn.set_unfinished(false);
            Ok(rows)
        }
        Some(failed) => {
            // Stopped inside the transaction, or at its BEGIN or COMMIT: nothing is committed.
            roll_back(conn).await;
            Err(failed)
        }
    }
}

/// Runs `batch` on `conn`: the rows it returned, and its failure if it stopped at one.
async fn run(conn: &mut SqliteConnection, batch: &Batch) -> (Vec<SqliteRow>, Option<Failed>) {
    let mut done = 0;
    let mut rows = Vec::new();
    // The executor's own methods answer boxed futures and streams, which are `Send` for every
    // lifetime (`RawSql`'s, generic over the executor, are not provably so).
    let mut results = conn.fetch_many(sqlx::raw_sql(&batch.text));
    while let Some(result) = results.next().await {
        match result {
            Ok(Either::Left(_)) => done += 1,
            Ok(Either::Right(row)) => rows.push(row),
            Err(e) => return (rows, Some(batch.failure(done, e))),
        }
    }
    (rows, None)
}

async fn raw(conn: &mut SqliteConnection, sql: &str) -> Result<(), sqlx::Error> {
    conn.execute(sqlx::raw_sql(sql)).await.map(drop)
}

/// Ends a transaction a write left open on `conn` (none open: SQLite answers that, and nothing
/// changes). Clears the unfinished mark once the connection is known to be outside one.
pub(crate) async fn roll_back(conn: &mut WriteConnection<'_, Sqlite>) {
    match raw(conn, "ROLLBACK").await {
        Ok(_) => conn.set_unfinished(false),
        Err(sqlx::Error::Database(e)) if e.message().contains("no transaction is active") => {
            conn.set_unfinished(false)
        }
        // The connection is not usable; the writer gives it back to the pool, whose ping on
        // release closes it, and the mark stays for whichever connection comes next.
        Err(_) => {}
    }
}

/// `error` without SQLite's message when that message could quote the statement's text.
fn scrubbed(error: sqlx::Error) -> sqlx::Error {
    match &error {
        sqlx::Error::Database(e) if e.message().contains("X'") || e.message().contains("near ") => {
            sqlx::Error::Protocol(
                "SQLite could not parse a statement of a write transaction (its text, which \
                 holds the values written, is not shown)"
                    .to_string(),
            )
        }
        _ => error,
    }
}

/// Appends `statement` with its `$n` placeholders replaced by the literals of its parameters.
fn render(statement: &Statement<'_>, out: &mut String) -> Result<(), String> {
    let sql = statement.sql;
    let mut quoted = false;
    let mut chars = sql.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '$' if !quoted => {
                let start = at + 1;
                let mut end = start;
                while let Some((i, d)) = chars.peek().copied() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    end = i + d.len_utf8();
                    chars.next();
                }
                let param = sql[start..end]
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|n| statement.params.get(n))
                    .ok_or_else(|| {
                        format!(
                            "placeholder ${} of a state-store statement has no parameter",
                            &sql[start..end]
                        )
                    })?;
                literal(param, out);
            }
            _ => out.push(c),
        }
    }
    if quoted {
        return Err("a state-store statement has an unterminated quote".to_string());
    }
    Ok(())
}

/// `param` as a SQLite literal of the type sqlx would bind it as (see `bind` in `sqlite.rs`).
fn literal(param: &Param<'_>, out: &mut String) {
    match param {
        Param::Text(None) | Param::Json(None) | Param::Time(None) => out.push_str("NULL"),
        Param::Text(Some(text)) => hex_text(text, out),
        Param::TextList(list) => hex_text(&serde_json::Value::from(list.clone()).to_string(), out),
        Param::Json(Some(value)) => hex_text(&value.to_string(), out),
        Param::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Param::Time(Some(t)) => {
            let _ = write!(out, "{}", t.timestamp_millis());
        }
        Param::Id(id) => hex_text(&id.to_string(), out),
    }
}

fn hex_text(text: &str, out: &mut String) {
    out.push_str("CAST(X'");
    for byte in text.bytes() {
        let _ = write!(out, "{byte:02X}");
    }
    out.push_str("' AS TEXT)");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(sql: &'static str, params: Vec<Param<'_>>) -> Result<String, String> {
        let mut out = String::new();
        render(&Statement { sql, params }, &mut out).map(|()| out)
    }

    #[test]
    fn placeholders_become_literals_and_quoted_text_stays() {
        let sql = "UPDATE t SET a = $2, b = $10, c = $1 WHERE s = 'in $1 progress' AND d = $1";
        let mut params = vec![Param::Int(-7), Param::Text(Some("it's"))];
        params.extend((3..=9).map(|_| Param::Text(None)));
        params.push(Param::Json(Some(serde_json::json!({"k": "v"}))));
        assert_eq!(
            rendered(sql, params).unwrap(),
            "UPDATE t SET a = CAST(X'69742773' AS TEXT), b = CAST(X'7B226B223A2276227D' AS TEXT), \
             c = -7 WHERE s = 'in $1 progress' AND d = -7"
        );
    }

    #[test]
    fn a_placeholder_without_its_parameter_is_an_error_not_a_panic() {
        assert!(rendered("SELECT $2", vec![Param::Int(1)]).is_err());
        assert!(rendered("SELECT $0", vec![Param::Int(1)]).is_err());
        assert!(rendered("SELECT $", vec![]).is_err());
        assert!(rendered("SELECT 'open", vec![]).is_err());
    }

    #[test]
    fn guards_follow_the_statements_that_must_change_a_row() {
        let changes = vec![
            Change::new(
                Statement {
                    sql: "UPDATE a SET x = 1",
                    params: vec![],
                },
                Check::Changed,
            ),
            Change::new(
                Statement {
                    sql: "DELETE FROM b",
                    params: vec![],
                },
                Check::None,
            ),
        ];
        let batch = Batch::new(Durability::Durable, &changes).unwrap();
        assert_eq!(
            batch.parts,
            [
                Part::Frame,
                Part::Frame,
                Part::Frame,
                Part::Change(0),
                Part::Guard(0),
                Part::Change(1),
                Part::Frame
            ]
        );
        assert_eq!(batch.text.matches(";\n").count(), batch.parts.len() - 1);
        assert!(
            batch
                .text
                .starts_with("PRAGMA synchronous = FULL;\nBEGIN IMMEDIATE;\n")
        );
        assert!(batch.text.ends_with(";\nCOMMIT"));
    }

    #[test]
    fn debug_output_never_shows_a_value_written() {
        let changes = vec![Change::new(
            Statement {
                sql: "UPDATE bindings SET password = $1",
                params: vec![Param::Text(Some("hunter2-secret"))],
            },
            Check::Changed,
        )];
        let batch = Batch::new(Durability::Redone, &changes).unwrap();
        for shown in [format!("{batch:?}"), format!("{changes:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains(&hex("hunter2")), "{shown}");
        }
        assert!(batch.text.contains(&hex("hunter2-secret")));
    }

    fn hex(text: &str) -> String {
        let mut out = String::new();
        hex_text(text, &mut out);
        out.trim_start_matches("CAST(X'")
            .trim_end_matches("' AS TEXT)")
            .to_string()
    }

    /// A write given up while the worker thread runs it stops there, its transaction open on
    /// the connection (the worker ends a call whose answer nobody takes, before `COMMIT`): the
    /// next write rolls it back first, and works.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_given_up_mid_way_is_rolled_back_by_the_next() {
        let dir =
            std::env::temp_dir().join(format!("pgbroker-batch-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("state.db").display());
        let store = super::super::SqliteStateStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let secret = |name: &'static str| Statement {
            sql: "INSERT INTO backend_secrets (backend, instance_id, name, sealed, key_id) \
                  VALUES ('b', 'i', $1, 's', 'k')",
            params: vec![Param::Text(Some(name))],
        };
        // Seconds of work for the worker thread, after the insert.
        let slow = Statement {
            sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) \
                  SELECT count(*) FROM c",
            params: vec![],
        };
        {
            let mut conn = store.writer.acquire().await.unwrap();
            let abandoned = vec![
                Change::new(secret("abandoned"), Check::Changed),
                Change::new(slow, Check::Returns),
            ];
            let given_up = tokio::time::timeout(
                Duration::from_millis(20),
                transact(&mut conn, Durability::Durable, abandoned),
            )
            .await;
            assert!(
                given_up.is_err(),
                "the slow write finished before it was given up"
            );
        }
        let mut conn = store.writer.acquire().await.unwrap();
        let next = vec![Change::new(secret("next"), Check::Changed)];
        let written = transact(&mut conn, Durability::Durable, next).await;
        assert!(written.is_ok(), "{:?}", written.err());
        conn.done();
        let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM backend_secrets")
            .fetch_all(&store.read_pool)
            .await
            .unwrap();
        assert_eq!(names, [("next".to_string(),)]);
        store.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Runs a step's statements one by one on a server. Each statement is idempotent on its own
//! (or guarded by a look at the system catalogs just before it), so a step can stop after any
//! statement and a later run converges. Fault injection stops a run after a given number of
//! statements, so tests can prove exactly that.

use std::fmt::Display;
use std::sync::Mutex;

use sqlx::postgres::PgPool;

use super::error::StepError;
use super::server::Server;
use super::sql::{Ident, Literal};

/// SQLSTATE `configuration_limit_exceeded`, raised when the server holds `max_databases` instances.
const FULL: &str = "53400";
/// SQLSTATE `duplicate_database`.
pub(crate) const DUPLICATE_DATABASE: &str = "42P04";

/// A statement a step sent, kept when the backend records (for benchmarks that replay them).
#[derive(Clone, PartialEq, Eq)]
pub struct Statement {
    /// The database it ran in; `None`: the admin URL's database.
    pub database: Option<String>,
    pub sql: String,
}

/// The SQL may hold password verifiers: only its size is shown.
impl std::fmt::Debug for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statement")
            .field("database", &self.database)
            .field("sql_bytes", &self.sql.len())
            .finish()
    }
}

pub(crate) type Journal = Mutex<Option<Vec<Statement>>>;

pub(crate) struct Run<'a> {
    pub server: &'a Server,
    executed: usize,
    limit: Option<usize>,
    journal: &'a Journal,
}

impl<'a> Run<'a> {
    pub fn new(server: &'a Server, limit: Option<usize>, journal: &'a Journal) -> Self {
        Self {
            server,
            executed: 0,
            limit,
            journal,
        }
    }

    fn record(&self, database: Option<&Ident>, sql: String) {
        if let Ok(mut journal) = self.journal.lock()
            && let Some(statements) = journal.as_mut()
        {
            statements.push(Statement {
                database: database.map(|d| d.as_str().to_string()),
                sql,
            });
        }
    }

    /// Counts one statement about to run; refuses when fault injection says to stop here.
    fn next(&mut self) -> Result<(), StepError> {
        if self.limit == Some(self.executed) {
            return Err(StepError::Interrupted(self.executed));
        }
        Ok(())
    }

    fn done(&mut self) {
        self.executed += 1;
    }

    fn pool(&self, database: Option<&Ident>) -> Result<PgPool, StepError> {
        match database {
            None => self.server.admin(),
            Some(db) => self.server.database(db),
        }
    }

    /// Runs `sql` (one or more statements, sent as one simple query, so they apply together) in
    /// the admin database or in `database`.
    pub async fn exec(
        &mut self,
        doing: impl Display,
        database: Option<&Ident>,
        sql: &str,
    ) -> Result<(), StepError> {
        self.exec_unless(doing, database, sql, None)
            .await
            .map(|_| ())
    }

    /// Like [`Self::exec`], but an error with SQLSTATE `code` (nothing was changed) is `false`.
    pub async fn exec_unless(
        &mut self,
        doing: impl Display,
        database: Option<&Ident>,
        sql: &str,
        code: Option<&str>,
    ) -> Result<bool, StepError> {
        self.next()?;
        let pool = self.pool(database)?;
        match sqlx::raw_sql(sql).execute(&pool).await {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if code.is_some() && db.code().as_deref() == code => {
                return Ok(false);
            }
            Err(e) => return Err(StepError::from_sqlx(&doing, &e)),
        }
        self.record(database, sql.to_string());
        self.done();
        tracing::debug!(server = %self.server.name(), %doing, "statement done");
        Ok(true)
    }

    /// Runs `sql` in a transaction of its own on the admin database, after taking the
    /// placement lock and checking that the server holds fewer than `max` instances, so that
    /// two brokers cannot both fill the last free place. `false` when the server is full.
    /// All of it is one `DO` block: one round trip, atomic.
    pub async fn exec_placed(
        &mut self,
        doing: impl Display,
        max: i64,
        sql: &str,
    ) -> Result<bool, StepError> {
        self.next()?;
        let pool = self.server.admin()?;
        let body = format!(
            "BEGIN\n\
             PERFORM pg_advisory_xact_lock({lock});\n\
             IF ({count}) >= {max} THEN\n\
             RAISE EXCEPTION 'server is full' USING ERRCODE = '{FULL}';\n\
             END IF;\n\
             {sql};\n\
             END",
            lock = super::inspect::PLACEMENT_LOCK,
            count = super::inspect::INSTANCE_COUNT,
        );
        let body = Literal::new(body).map_err(|e| StepError::invalid(e.to_string()))?;
        let sql = format!("DO {body}");
        match sqlx::raw_sql(&sql).execute(&pool).await {
            Ok(_) => {
                self.record(None, sql);
                self.done();
                Ok(true)
            }
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(FULL) => Ok(false),
            Err(e) => Err(StepError::from_sqlx(&doing, &e)),
        }
    }

    /// Ends the sessions of a role (`usename`) or on a database (`datname`) and waits up to
    /// five seconds for each to be gone.
    pub async fn terminate(
        &mut self,
        doing: impl Display,
        column: Sessions,
        name: &Ident,
    ) -> Result<(), StepError> {
        self.next()?;
        let pool = self.server.admin()?;
        let sql = match column {
            Sessions::OfRole => {
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity \
                 WHERE usename = $1 AND pid <> pg_backend_pid()"
            }
            Sessions::OnDatabase => {
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()"
            }
        };
        sqlx::query(sql)
            .bind(name.as_str())
            .execute(&pool)
            .await
            .map_err(|e| StepError::from_sqlx(&doing, &e))?;
        let name = Literal::new(name.as_str()).map_err(|e| StepError::invalid(e.to_string()))?;
        self.record(None, sql.replace("$1", &name.to_string()));
        self.done();
        Ok(())
    }

    /// Reads from the admin database; not counted, since reading changes nothing.
    pub fn admin(&self) -> Result<PgPool, StepError> {
        self.server.admin()
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Sessions {
    OfRole,
    OnDatabase,
}

//! Runs a step's statements one by one on a server. Each statement is idempotent on its own
//! (or guarded by a look at the system catalogs just before it), so a step can stop after any
//! statement and a later run converges. Fault injection stops a run after a given number of
//! statements, so tests can prove exactly that.

use std::fmt::Display;

use sqlx::postgres::PgPool;

use super::error::StepError;
use super::server::Server;
use super::sql::{Ident, Literal};

/// SQLSTATE `configuration_limit_exceeded`, raised when the server holds `max_databases` instances.
const FULL: &str = "53400";

pub(crate) struct Run<'a> {
    pub server: &'a Server,
    executed: usize,
    limit: Option<usize>,
}

impl<'a> Run<'a> {
    pub fn new(server: &'a Server, limit: Option<usize>) -> Self {
        Self {
            server,
            executed: 0,
            limit,
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
        self.next()?;
        let pool = self.pool(database)?;
        sqlx::raw_sql(sql)
            .execute(&pool)
            .await
            .map_err(|e| StepError::from_sqlx(&doing, &e))?;
        self.done();
        Ok(())
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
        let body = Literal::new(body).map_err(|e| StepError::Permanent(e.to_string()))?;
        match sqlx::raw_sql(&format!("DO {body}")).execute(&pool).await {
            Ok(_) => {
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

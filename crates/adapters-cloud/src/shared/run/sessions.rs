//! The statements that end sessions: before a role is dropped or a database renamed.

use std::fmt::Display;

use sqlx::postgres::{PgConnection, PgQueryResult, PgRow};
use sqlx::{Executor, Row};
use tracing::Instrument;

use super::super::error::StepError;
use super::super::sql::{Ident, Literal};
use super::{Run, Sent, statement_span};

#[derive(Debug, Clone, Copy)]
pub(crate) enum Sessions {
    OfRole,
    OnDatabase,
}

fn sessions<'c>(
    conn: &'c mut PgConnection,
    sql: &'c str,
    name: &'c str,
) -> Sent<'c, PgQueryResult> {
    conn.execute(sqlx::query(sql).bind(name))
}

fn listing<'c>(
    conn: &'c mut PgConnection,
    sql: &'c str,
    role: &'c str,
    owner: &'c str,
) -> Sent<'c, PgRow> {
    conn.fetch_one(sqlx::query(sql).bind(role).bind(owner))
}

fn quoted(name: &Ident) -> Result<String, StepError> {
    Literal::new(name.as_str())
        .map(|l| l.to_string())
        .map_err(|e| StepError::invalid(e.to_string()))
}

impl Run<'_> {
    /// Ends the sessions of a role (`usename`) or on a database (`datname`) and waits up to
    /// five seconds for each to be gone.
    pub async fn terminate(
        &mut self,
        doing: impl Display,
        column: Sessions,
        name: &Ident,
    ) -> Result<(), StepError> {
        self.next()?;
        self.hold_admin().await?;
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
        let span = statement_span(self.server, &doing);
        sessions(self.held(None)?, sql, name.as_str())
            .instrument(span)
            .await
            .map_err(|e| StepError::from_sqlx(&doing, &e))?;
        self.record(None, sql.replace("$1", &quoted(name)?));
        self.done();
        Ok(())
    }

    /// Ends the sessions of `role` as [`Self::terminate`] does and, in the same statement,
    /// lists the databases `owner` owns (by name): where the role's objects are handed over.
    pub async fn terminate_listing(
        &mut self,
        doing: impl Display,
        role: &Ident,
        owner: &Ident,
    ) -> Result<Vec<String>, StepError> {
        const SQL: &str = "SELECT (SELECT count(pg_terminate_backend(pid, 5000)) \
             FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()), \
             ARRAY(SELECT d.datname::text FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba \
             WHERE r.rolname = $2 ORDER BY d.datname)";
        self.next()?;
        self.hold_admin().await?;
        let span = statement_span(self.server, &doing);
        let row = listing(self.held(None)?, SQL, role.as_str(), owner.as_str())
            .instrument(span)
            .await
            .map_err(|e| StepError::from_sqlx(&doing, &e))?;
        let databases: Vec<String> = row
            .try_get(1)
            .map_err(|e| StepError::from_sqlx(&doing, &e))?;
        let sql = SQL
            .replace("$1", &quoted(role)?)
            .replace("$2", &quoted(owner)?);
        self.record(None, sql);
        self.done();
        Ok(databases)
    }
}

//! Runs a step's statements one by one on a server. Each statement is idempotent on its own
//! (or guarded by a look at the system catalogs just before it), so a step can stop after any
//! statement and a later run converges. Fault injection stops a run after a given number of
//! statements, so tests can prove exactly that.
//!
//! A run holds one admin connection and one connection into an instance database from the
//! first statement that needs each to the end of the step: sqlx pings a connection every time
//! it goes back to its pool (a round trip), and an instance database has a pool of one, so a
//! connection per statement made each statement there wait for the previous one's ping.
//!
//! A new session in an instance database (TLS, authentication, a server process starting and
//! loading that database's catalog: several milliseconds) is connected while the admin
//! statements before the first statement there run ([`Run::connect_ahead`]).

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgQueryResult};
use sqlx::{Executor, Pool, Postgres};
use tracing::Instrument;

/// A statement's future on a step's connection.
type Sent<'c, T> = Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'c>>;

use pgbroker_domain::Reason;

use super::error::StepError;
use super::server::Server;
use super::sql::{Ident, Literal};

mod sessions;
pub(crate) use sessions::Sessions;

/// SQLSTATE `configuration_limit_exceeded`, raised when the server holds `max_databases` instances.
const FULL: &str = "53400";
/// SQLSTATE `duplicate_database`.
pub(crate) const DUPLICATE_DATABASE: &str = "42P04";
/// The class of our own SQLSTATEs, raised by the `DO` blocks steps send: PostgreSQL uses no
/// class `PB`.
const OWN_CLASS: &str = "PB";
/// Our own SQLSTATE for a block that found the owner role without the instance's mark.
pub(crate) const UNMARKED: &str = "PB001";

/// What a placement block did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// The owner role exists now: created, or found with the instance's mark.
    Done,
    /// The owner role was there without the mark: not the broker's; nothing was done.
    Unmarked,
    /// The server holds its most instances; nothing was done.
    Full,
}

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

/// A connection into an instance database made ahead of the statements that need it (see
/// [`Run::connect_ahead`]); `None`: none was needed.
pub(crate) struct Ahead(Option<(String, PoolConnection<Postgres>)>);

pub(crate) struct Run<'a> {
    pub server: &'a Server,
    executed: usize,
    limit: Option<usize>,
    journal: &'a Journal,
    /// The admin connection, held from first use to the end of the step.
    admin: Option<PoolConnection<Postgres>>,
    /// The connection into the instance database the step last worked in, with its name.
    inside: Option<(String, PoolConnection<Postgres>)>,
}

// Statements go through `Executor::execute` on the connection, whose future is a concrete
// boxed one: sqlx's generic `execute(executor)` futures over a borrowed `&mut PgConnection`
// inside the backend's `async_trait` futures meet rustc's "`Executor` is not general enough".

fn simple<'c>(conn: &'c mut PgConnection, sql: &'c str) -> Sent<'c, PgQueryResult> {
    conn.execute(sqlx::raw_sql(sql))
}

async fn acquire(
    server: &Server,
    pool: Result<Pool<Postgres>, StepError>,
    database: Option<&Ident>,
) -> Result<PoolConnection<Postgres>, StepError> {
    pool?.acquire().await.map_err(|e| {
        let what = match database {
            Some(db) => format!("server {}: connecting to database {db}", server.name()),
            None => format!("server {}: connecting as the admin role", server.name()),
        };
        StepError::from_sqlx(what, &e)
    })
}

impl<'a> Run<'a> {
    pub fn new(server: &'a Server, limit: Option<usize>, journal: &'a Journal) -> Self {
        Self {
            server,
            executed: 0,
            limit,
            journal,
            admin: None,
            inside: None,
        }
    }

    /// Connects the step's admin connection (the admin URL's database) unless it holds it.
    async fn hold_admin(&mut self) -> Result<(), StepError> {
        if self.admin.is_none() {
            self.admin = Some(acquire(self.server, self.server.admin(), None).await?);
        }
        Ok(())
    }

    /// Connects the step's connection into `database` (nothing for `None`) unless it holds
    /// it; a connection into another instance database held before goes back to its pool.
    async fn hold(&mut self, database: Option<&Ident>) -> Result<(), StepError> {
        let Some(db) = database else {
            return self.hold_admin().await;
        };
        if !self.holds(db) {
            self.inside = None;
            let conn = acquire(self.server, self.server.database(db), Some(db)).await?;
            self.inside = Some((db.as_str().to_string(), conn));
        }
        Ok(())
    }

    /// The connection [`Self::hold`] connected for `database`.
    fn held(&mut self, database: Option<&Ident>) -> Result<&mut PgConnection, StepError> {
        let conn = match database {
            None => self.admin.as_mut(),
            Some(db) => self
                .inside
                .as_mut()
                .filter(|(open, _)| open == db.as_str())
                .map(|(_, conn)| conn),
        };
        conn.map(|c| &mut **c).ok_or_else(|| {
            StepError::Retryable(
                Reason::BackendUnavailable,
                "the step's connection was not held".into(),
            )
        })
    }

    /// Connects into `database` for the statements there that come after the ones the run
    /// sends meanwhile: join this future with those (admin statements only: an instance
    /// database's pool has one connection, which this takes) and hand the result to
    /// [`Self::adopt`]. Nothing to do for `None`, or when the run holds a connection into
    /// `database` already.
    pub fn connect_ahead(
        &self,
        database: Option<&Ident>,
    ) -> impl Future<Output = Result<Ahead, StepError>> + Send + 'a {
        let server = self.server;
        let needed = database.filter(|db| !self.holds(db)).cloned();
        async move {
            let Some(db) = needed else {
                return Ok(Ahead(None));
            };
            let conn = acquire(server, server.database(&db), Some(&db)).await?;
            Ok(Ahead(Some((db.as_str().to_string(), conn))))
        }
    }

    /// Holds the connection [`Self::connect_ahead`] made, in place of any other instance
    /// database's connection.
    pub fn adopt(&mut self, ahead: Ahead) {
        if let Ahead(Some(inside)) = ahead {
            self.inside = Some(inside);
        }
    }

    fn holds(&self, database: &Ident) -> bool {
        self.inside
            .as_ref()
            .is_some_and(|(open, _)| open == database.as_str())
    }

    /// The step's admin connection, connected on first use.
    pub async fn admin(&mut self) -> Result<&mut PgConnection, StepError> {
        self.hold_admin().await?;
        self.held(None)
    }

    /// Gives up the step's connection into `database` and closes that database's pool: it is
    /// about to be dropped or renamed, and the broker's own sessions must not stand in the way.
    pub async fn forget(&mut self, database: &Ident) {
        if self.holds(database) {
            self.inside = None;
        }
        self.server.forget(database).await;
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
        let refused = self
            .exec_refusing(doing, database, sql, |c| Some(c) == code)
            .await?;
        Ok(refused.is_none())
    }

    /// Runs `sql` (a `DO` block that checks before it writes) in the admin database; when it
    /// raises one of our own SQLSTATEs (class `PB`, which PostgreSQL does not use), nothing was
    /// changed and that code is the answer.
    pub async fn exec_checked(
        &mut self,
        doing: impl Display,
        sql: &str,
    ) -> Result<Option<String>, StepError> {
        self.exec_refusing(doing, None, sql, |c| c.starts_with(OWN_CLASS))
            .await
    }

    /// Runs `sql`; an error whose SQLSTATE `refusal` accepts (nothing was changed) is that code.
    async fn exec_refusing(
        &mut self,
        doing: impl Display,
        database: Option<&Ident>,
        sql: &str,
        refusal: impl Fn(&str) -> bool,
    ) -> Result<Option<String>, StepError> {
        self.next()?;
        let span = statement_span(self.server, &doing);
        self.hold(database).instrument(span.clone()).await?;
        match simple(self.held(database)?, sql).instrument(span).await {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.code().is_some_and(|c| refusal(&c)) => {
                return Ok(db.code().map(|c| c.into_owned()));
            }
            Err(e) => return Err(StepError::from_sqlx(&doing, &e)),
        }
        self.record(database, sql.to_string());
        self.done();
        tracing::debug!(server = %self.server.name(), %doing, "statement done");
        Ok(None)
    }

    /// Runs `sql` in a transaction of its own on the admin database, after taking the
    /// placement lock and checking that the server holds fewer than `max` instances, so that
    /// two brokers cannot both fill the last free place. All of it is one `DO` block: one round
    /// trip, atomic.
    ///
    /// With `owner` (the owner role's name and the mark an instance's owner carries), the block
    /// first looks for that role under the lock: a role with the mark is this instance's
    /// already (a step run again) and nothing is created; a role without it is not the
    /// broker's and the step is refused. That look replaces a separate one before placing
    /// when there is only one server to look at.
    pub async fn exec_placed(
        &mut self,
        doing: impl Display,
        max: i64,
        owner: Option<(&Ident, &str)>,
        sql: &str,
    ) -> Result<Placed, StepError> {
        self.next()?;
        let quote = |text: &str| Literal::new(text).map_err(|e| StepError::invalid(e.to_string()));
        let (declare, open, close) = match owner {
            None => (String::new(), String::new(), String::new()),
            Some((role, marker)) => (
                "DECLARE mark text;\n".to_string(),
                format!(
                    "{select}\
                     IF FOUND THEN\n\
                     IF mark <> {marker} THEN\n\
                     RAISE EXCEPTION 'role exists without the mark' USING ERRCODE = '{UNMARKED}';\n\
                     END IF;\n\
                     ELSE\n",
                    select = super::inspect::select_mark_into("mark", &quote(role.as_str())?),
                    marker = quote(marker)?,
                ),
                "END IF;\n".to_string(),
            ),
        };
        let body = format!(
            "{declare}BEGIN\n\
             PERFORM pg_advisory_xact_lock({lock});\n\
             {open}\
             IF ({count}) >= {max} THEN\n\
             RAISE EXCEPTION 'server is full' USING ERRCODE = '{FULL}';\n\
             END IF;\n\
             {sql};\n\
             {close}\
             END",
            lock = super::inspect::PLACEMENT_LOCK,
            count = super::inspect::INSTANCE_COUNT,
        );
        let sql = format!("DO {}", quote(&body)?);
        let span = statement_span(self.server, &doing);
        self.hold_admin().instrument(span.clone()).await?;
        match simple(self.held(None)?, &sql).instrument(span).await {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(FULL) => {
                return Ok(Placed::Full);
            }
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(UNMARKED) => {
                return Ok(Placed::Unmarked);
            }
            Err(e) => return Err(StepError::from_sqlx(&doing, &e)),
        }
        self.record(None, sql);
        self.done();
        Ok(Placed::Done)
    }
}

/// The span of one statement group sent to a server (a trace's leaf under the backend step):
/// what it does in words, never the SQL, which may carry a password verifier.
fn statement_span(server: &Server, doing: &impl Display) -> tracing::Span {
    tracing::info_span!("sql", server = %server.name(), doing = %doing)
}

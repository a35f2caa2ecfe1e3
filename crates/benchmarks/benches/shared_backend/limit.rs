//! The limit: the statements the backend sent, replayed under other names over persistent
//! connections, as the shortest script doing the same work would send them. Each lane (one
//! when sequential, one per concurrent request otherwise) holds one admin connection for the
//! whole run, opened before the clock starts; statements that must run inside an instance's
//! database go over one connection to it, opened when the instance first needs it and kept for
//! the rest of its statements (closed before anything drops or renames a database).

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pgbroker_adapters_cloud::shared::Statement;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

/// One instance's statements, in the order the backend sent them.
pub type Steps = Vec<Statement>;

/// The statement with the run's tag replaced and its SCRAM verifier's salt and keys cut, so that
/// statements of different runs and instances compare equal when they do the same work.
pub fn shape(statement: &Statement, id: &str) -> (Option<String>, String) {
    let scrub = |text: &str| {
        let text = text.replace(id, "{instance}");
        match text.find("SCRAM-SHA-256$") {
            Some(start) => {
                let end = text[start..].find('\'').map_or(text.len(), |e| start + e);
                format!(
                    "{}SCRAM-SHA-256${{verifier}}{}",
                    &text[..start],
                    &text[end..]
                )
            }
            None => text,
        }
    };
    (
        statement.database.as_deref().map(scrub),
        scrub(&statement.sql),
    )
}

/// The statements of each instance of `ids`, in the order sent: the journal of a concurrent
/// round interleaves them. Every statement names its instance (the names carry the id).
pub fn per_instance(statements: &[Statement], ids: &[String]) -> anyhow::Result<Vec<Steps>> {
    let mut steps: Vec<Steps> = vec![Vec::new(); ids.len()];
    for statement in statements {
        let Some(i) = ids
            .iter()
            .position(|id| statement.sql.contains(id.as_str()))
        else {
            anyhow::bail!("a recorded statement names none of the round's instances");
        };
        steps[i].push(statement.clone());
    }
    Ok(steps)
}

fn drops_or_renames_a_database(sql: &str) -> bool {
    sql.starts_with("DROP DATABASE")
        || (sql.starts_with("ALTER DATABASE") && sql.contains(" RENAME TO "))
}

async fn run_instance(
    server: &PgConnectOptions,
    admin: &mut PgConnection,
    steps: &Steps,
    from: &str,
    to: &str,
) -> anyhow::Result<()> {
    let mut inside: Option<(String, PgConnection)> = None;
    for statement in steps {
        let sql = statement.sql.replace(from, to);
        match &statement.database {
            None => {
                if drops_or_renames_a_database(&sql)
                    && let Some((_, conn)) = inside.take()
                {
                    conn.close().await?;
                }
                sqlx::raw_sql(&sql).execute(&mut *admin).await?;
            }
            Some(database) => {
                let database = database.replace(from, to);
                if inside.as_ref().is_none_or(|(open, _)| *open != database) {
                    let conn = server.clone().database(&database).connect().await?;
                    inside = Some((database, conn));
                }
                if let Some((_, conn)) = inside.as_mut() {
                    sqlx::raw_sql(&sql).execute(conn).await?;
                }
            }
        }
    }
    if let Some((_, conn)) = inside {
        conn.close().await?;
    }
    Ok(())
}

/// The limit's persistent admin connections, one per lane.
pub struct Limit {
    server: PgConnectOptions,
    lanes: Vec<PgConnection>,
}

impl Limit {
    pub async fn connect(admin_url: &str, lanes: usize) -> anyhow::Result<Self> {
        let server = PgConnectOptions::from_str(admin_url)?;
        let mut connections = Vec::new();
        for _ in 0..lanes.max(1) {
            connections.push(server.connect().await?);
        }
        Ok(Self {
            server,
            lanes: connections,
        })
    }

    /// Replays every instance's statements, `from` renamed to `to`, each lane taking the next
    /// instance when it is free (the lanes are driven together on this task: the work is
    /// waiting on the server); returns the wall time from the first statement to the last.
    pub async fn run(
        &mut self,
        instances: &[Steps],
        from: &str,
        to: &str,
    ) -> anyhow::Result<Duration> {
        let queue = Mutex::new(instances.iter().collect::<VecDeque<_>>());
        let (queue, server) = (&queue, &self.server);
        let start = Instant::now();
        let lanes = self.lanes.iter_mut().map(|admin| async move {
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(steps) = next else { break };
                run_instance(server, admin, steps, from, to).await?;
            }
            anyhow::Ok(())
        });
        for lane in futures::future::join_all(lanes).await {
            lane?;
        }
        Ok(start.elapsed())
    }
}

//! One round of the benchmark: the broker, its limit, the backend alone and the broker on a
//! no-op backend (over HTTP and its use cases in-process), in turn, each DDL section after a checkpoint, so that all four meet the server alike.

use std::str::FromStr;
use std::time::Duration;

use pgbroker_adapters_cloud::SharedServerBackend;
use pgbroker_adapters_cloud::shared::Statement;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor};

use super::limit::{self, Steps};
use super::{Broker, broker_all, direct, timed, usecases};

/// Writes out the server's dirty buffers before a section (not timed). DROP DATABASE waits for a
/// checkpoint, so without this the first section of a round would pay for the buffers that the
/// round before it (and anything else on the server) left dirty.
async fn checkpoint(admin_url: &str) -> anyhow::Result<()> {
    let mut admin = PgConnectOptions::from_str(admin_url)?.connect().await?;
    admin.execute("CHECKPOINT").await?;
    Ok(())
}

/// Waits (not timed, at most 10 s) until no connection is left in the run's databases: the
/// backend closes an instance database's connection after 1 s idle, and 16-way rounds in a row
/// would otherwise pile up more connections than a default server allows (100).
pub async fn drained(admin_url: &str, tag: &str) -> anyhow::Result<()> {
    let mut admin = PgConnectOptions::from_str(admin_url)?.connect().await?;
    for _ in 0..100 {
        let open: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname LIKE $1")
                .bind(format!("{tag}%"))
                .fetch_one(&mut admin)
                .await?;
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// One row of the table: the four figures of one direction and concurrency, summed over rounds.
pub struct Row {
    pub label: String,
    pub broker: Duration,
    pub limit: Duration,
    pub direct: Duration,
    pub noop: Duration,
    /// The use cases in-process on the no-op backend.
    pub usecases: Duration,
    /// Time in backend steps within the broker's requests (summed over concurrent ones).
    pub steps: Duration,
}

impl Row {
    pub fn new(label: String) -> Self {
        Self {
            label,
            broker: Duration::ZERO,
            limit: Duration::ZERO,
            direct: Duration::ZERO,
            noop: Duration::ZERO,
            steps: Duration::ZERO,
            usecases: Duration::ZERO,
        }
    }

    pub fn add(&mut self, t: [Duration; 6]) {
        self.broker += t[0];
        self.limit += t[1];
        self.direct += t[2];
        self.noop += t[3];
        self.steps += t[4];
        self.usecases += t[5];
    }
}

pub fn direction(up: bool) -> &'static str {
    if up {
        "provision+bind"
    } else {
        "unbind+deprovision"
    }
}

/// The instance ids one round works on, one set per section.
pub struct Ids<'a> {
    pub broker: &'a [String],
    pub direct: &'a [String],
    pub noop: &'a [String],
    pub usecases: &'a [String],
}

/// What the four sections run on.
pub struct Sections<'a> {
    pub tag: &'a str,
    pub admin_url: &'a str,
    pub broker: &'a Broker,
    pub noop: &'a Broker,
    pub backend: &'a SharedServerBackend,
    pub timed: &'a timed::Timed,
    pub plan: &'a pgbroker_domain::Plan,
}

impl Sections<'_> {
    /// One round of the four sections: the broker (recording its backend's statements), the
    /// limit replaying exactly those, the backend called directly, the broker on a no-op backend.
    pub async fn round(
        &self,
        limit: &mut limit::Limit,
        limit_tag: &str,
        ids: &Ids<'_>,
        up: bool,
        concurrency: usize,
    ) -> anyhow::Result<([Duration; 6], Vec<Statement>)> {
        self.round_with(limit, limit_tag, ids, up, concurrency, None)
            .await
    }

    /// As [`Self::round`]; with `replay`, the limit replays those statements instead of the
    /// round's (concurrent rounds record all instances in one journal).
    pub async fn round_with(
        &self,
        limit: &mut limit::Limit,
        limit_tag: &str,
        ids: &Ids<'_>,
        up: bool,
        concurrency: usize,
        replay: Option<&[Steps]>,
    ) -> anyhow::Result<([Duration; 6], Vec<Statement>)> {
        if concurrency > 1 {
            drained(self.admin_url, self.tag).await?;
        }
        checkpoint(self.admin_url).await?;
        self.backend.record_statements(true);
        self.timed.take();
        let broker = broker_all(&self.broker.client, ids.broker, up, concurrency).await?;
        let steps = self.timed.take();
        let sent = self.backend.take_statements();
        self.backend.record_statements(false);
        let own = [sent.clone()];
        let limit = limit
            .run(replay.unwrap_or(&own), self.tag, limit_tag)
            .await?;
        let direct = direct::all(self.backend, self.plan, ids.direct, up, concurrency).await?;
        let noop = broker_all(&self.noop.client, ids.noop, up, concurrency).await?;
        let usecases =
            usecases::all(&self.noop.server.broker, ids.usecases, up, concurrency).await?;
        Ok(([broker, limit, direct, noop, steps, usecases], sent))
    }
}

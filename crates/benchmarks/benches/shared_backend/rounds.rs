//! One round of the benchmark: the broker, its limit, the backend alone and the broker on a
//! no-op backend, in turn, each after a checkpoint, so that all four meet the server alike.

use std::str::FromStr;
use std::time::Duration;

use pgbroker_adapters_cloud::SharedServerBackend;
use pgbroker_adapters_cloud::shared::Statement;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor};

use super::limit::{self, Steps};
use super::{Broker, broker_all, direct, timed};

/// Writes out the server's dirty buffers before a section (not timed). DROP DATABASE waits for a
/// checkpoint, so without this the first section of a round would pay for the buffers that the
/// round before it (and anything else on the server) left dirty.
async fn checkpoint(admin_url: &str) -> anyhow::Result<()> {
    let mut admin = PgConnectOptions::from_str(admin_url)?.connect().await?;
    admin.execute("CHECKPOINT").await?;
    Ok(())
}

/// One row of the table: the four figures of one direction and concurrency, summed over rounds.
pub struct Row {
    pub label: String,
    pub broker: Duration,
    pub limit: Duration,
    pub direct: Duration,
    pub noop: Duration,
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
        }
    }

    pub fn add(&mut self, t: [Duration; 5]) {
        self.broker += t[0];
        self.limit += t[1];
        self.direct += t[2];
        self.noop += t[3];
        self.steps += t[4];
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
    ) -> anyhow::Result<([Duration; 5], Vec<Statement>)> {
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
    ) -> anyhow::Result<([Duration; 5], Vec<Statement>)> {
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
        Ok(([broker, limit, direct, noop, steps], sent))
    }
}

//! One round of the benchmark: the backend alone, the broker, its limit and the broker on a
//! no-op backend (over HTTP and its use cases in-process), in turn, each DDL section after a
//! checkpoint, so that all of them meet the server alike. The backend alone goes first: the
//! first DDL section of a round meets the server after the previous round's sections without
//! DDL, and its `DROP DATABASE` took about 3 ms longer (median) than the same statement in the
//! sections after it, whichever section came first (docs/benchmarks.md); the broker and its
//! limit, which the verdict compares, both come after a DDL section. The two no-op sections
//! take the place right after the limit in turn (it costs the section there about as much as
//! HTTP does), so that their difference is HTTP.

use std::str::FromStr;
use std::time::Duration;

use pgbroker_adapters_cloud::SharedServerBackend;
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

/// One row of the table: the figures of one direction and concurrency, summed over rounds,
/// and each round's broker ÷ limit.
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
    /// The broker on a backend that sleeps in each step, over HTTP.
    pub sleeping: Duration,
    /// Broker ÷ limit of each round.
    pub ratios: Vec<f64>,
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
            sleeping: Duration::ZERO,
            ratios: Vec::new(),
        }
    }

    /// The median of the rounds' broker ÷ limit (the mean of the middle two for an even count).
    pub fn median_ratio(&self) -> f64 {
        let mut ratios = self.ratios.clone();
        ratios.sort_by(f64::total_cmp);
        match ratios.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => ratios[n / 2],
            n => (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0,
        }
    }

    pub fn add(&mut self, t: [Duration; 7]) {
        self.broker += t[0];
        self.limit += t[1];
        self.direct += t[2];
        self.noop += t[3];
        self.steps += t[4];
        self.usecases += t[5];
        self.sleeping += t[6];
        self.ratios.push(t[0].as_secs_f64() / t[1].as_secs_f64());
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
    pub sleeping: &'a [String],
}

/// What the four sections run on.
pub struct Sections<'a> {
    pub tag: &'a str,
    pub admin_url: &'a str,
    pub broker: &'a Broker,
    pub noop: &'a Broker,
    /// The broker on a backend whose steps only sleep (see `SLEEP`).
    pub sleeping: &'a Broker,
    pub backend: &'a SharedServerBackend,
    pub timed: &'a timed::Timed,
    pub plan: &'a pgbroker_domain::Plan,
}

impl Sections<'_> {
    /// One round: the backend called directly, the broker (recording its backend's
    /// statements), the limit replaying exactly those (per instance, in the order each
    /// instance's statements were sent), the broker on a no-op backend over HTTP and
    /// in-process (over HTTP first when `http_first`; callers alternate), the broker on a
    /// sleeping backend. A checkpoint before each section that sends DDL.
    pub async fn round(
        &self,
        limit: &mut limit::Limit,
        limit_tag: &str,
        ids: &Ids<'_>,
        up: bool,
        concurrency: usize,
        http_first: bool,
    ) -> anyhow::Result<([Duration; 7], Vec<Steps>)> {
        if concurrency > 1 {
            drained(self.admin_url, self.tag).await?;
        }
        checkpoint(self.admin_url).await?;
        let direct = direct::all(self.backend, self.plan, ids.direct, up, concurrency).await?;
        checkpoint(self.admin_url).await?;
        self.backend.record_statements(true);
        self.timed.take();
        let broker = broker_all(&self.broker.client, ids.broker, up, concurrency).await?;
        let steps = self.timed.take();
        let sent = self.backend.take_statements();
        self.backend.record_statements(false);
        let sent = limit::per_instance(&sent, ids.broker)?;
        checkpoint(self.admin_url).await?;
        let limit = limit.run(&sent, self.tag, limit_tag).await?;
        // The section right after the limit meets the server still busy with the limit's DDL
        // (its no-op requests took about twice as long there, docs/benchmarks.md): the two
        // no-op sections take that place in turn, so their difference is HTTP, not position.
        let over_http = broker_all(&self.noop.client, ids.noop, up, concurrency);
        let in_process = usecases::all(&self.noop.server.broker, ids.usecases, up, concurrency);
        let (noop, usecases) = if http_first {
            let noop = over_http.await?;
            (noop, in_process.await?)
        } else {
            let usecases = in_process.await?;
            (over_http.await?, usecases)
        };
        let sleeping = broker_all(&self.sleeping.client, ids.sleeping, up, concurrency).await?;
        Ok((
            [broker, limit, direct, noop, steps, usecases, sleeping],
            sent,
        ))
    }
}

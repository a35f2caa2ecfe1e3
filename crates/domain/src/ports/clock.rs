use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};

/// Time, as the domain sees it. Timestamps are whole milliseconds so that every store keeps them exactly.
#[async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    async fn sleep(&self, duration: Duration);
}

/// Wall-clock time; sleeping is delegated to the async runtime the app runs on.
pub struct SystemClock<S> {
    sleeper: S,
}

impl<S, F> SystemClock<S>
where
    S: Fn(Duration) -> F + Send + Sync,
    F: std::future::Future<Output = ()> + Send,
{
    /// `sleeper` is the runtime's sleep, e.g. `tokio::time::sleep`.
    pub fn new(sleeper: S) -> Self {
        Self { sleeper }
    }
}

#[async_trait]
impl<S, F> Clock for SystemClock<S>
where
    S: Fn(Duration) -> F + Send + Sync,
    F: std::future::Future<Output = ()> + Send,
{
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(3)
    }

    async fn sleep(&self, duration: Duration) {
        (self.sleeper)(duration).await
    }
}

//! Clocks and secrets for tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use pgbroker_domain::Sensitive;
use pgbroker_domain::ports::{Clock, SecretGenerator};

/// A clock that only moves when told to. Sleeping waits a real millisecond without moving it,
/// so heartbeats and polls keep yielding while a test decides what time it is.
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self {
            now: Mutex::new(Utc::now().trunc_subsecs(3)),
        }
    }

    /// The current time, without going through the `Clock` trait.
    pub fn now_for_test(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += chrono::Duration::from_std(by).unwrap_or_default();
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn sleep(&self, _duration: Duration) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Wall-clock time with tokio's sleep.
pub fn system_clock() -> impl Clock {
    pgbroker_domain::ports::SystemClock::new(tokio::time::sleep)
}

/// Predictable, unique passwords (`test-password-0000000001-...`), 40 characters long.
#[derive(Default)]
pub struct CountingSecrets {
    next: AtomicU64,
}

impl SecretGenerator for CountingSecrets {
    fn password(&self) -> Sensitive<String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Sensitive::new(format!("test-password-{n:010}-abcdefghijklmnop"))
    }
}

//! The operation engine: workers claim due operations from the store under a lease, run one
//! backend step each, store the outcome and come back when the operation is next due.
//!
//! Every replica runs an engine over the same store; the store's claim makes sure that one
//! operation is worked on by one worker at a time, and leases that lapse (a crashed replica) are
//! claimed again, so in-flight operations resume after a restart.

pub mod backoff;
pub(crate) mod step;

use std::sync::Arc;
use std::time::Duration;

use std::future::Future;
use std::task::Poll;

use futures::channel::mpsc;
use futures::future::{BoxFuture, poll_fn};
use futures::lock::Mutex;
use futures::stream::{FuturesUnordered, StreamExt};
use tracing::{error, info};

use crate::core::Core;
use crate::operation::OperationState;
use crate::ports::{OperationObserver, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Name of this worker in leases (e.g. host name + process id); must differ between replicas.
    pub owner: String,
    /// Operations worked on at once by this engine.
    pub concurrency: usize,
    /// How often the store is asked for due operations when nothing wakes the engine sooner.
    pub poll_interval: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            owner: format!("pgbroker-{}", uuid::Uuid::new_v4().simple()),
            concurrency: 16,
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// Wakes an engine that is waiting for work, e.g. when a use case has just started an operation.
#[derive(Clone)]
pub struct EngineWaker(mpsc::Sender<()>);

impl EngineWaker {
    pub fn wake(&self) {
        // A full channel already holds a wake-up; that is enough.
        let _ = self.0.clone().try_send(());
    }
}

type Claimed = Result<Vec<crate::operation::Operation>, StoreError>;

/// What woke the engine's loop.
enum Event {
    Shutdown,
    StepDone,
    /// A claim of up to this many operations returned.
    Claimed(usize, Claimed),
    Woken,
    Napped,
}

pub struct Engine {
    core: Arc<Core>,
    config: EngineConfig,
    wake_rx: Mutex<mpsc::Receiver<()>>,
    wake_tx: mpsc::Sender<()>,
    observers: Vec<Arc<dyn OperationObserver>>,
}

impl Engine {
    pub fn new(core: Arc<Core>, config: EngineConfig) -> Self {
        let (wake_tx, wake_rx) = mpsc::channel(1);
        Self {
            core,
            config,
            wake_rx: Mutex::new(wake_rx),
            wake_tx,
            observers: Vec::new(),
        }
    }

    /// Tells `observer` of every operation this engine finishes.
    pub fn with_observer(mut self, observer: Arc<dyn OperationObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    pub fn waker(&self) -> EngineWaker {
        EngineWaker(self.wake_tx.clone())
    }

    /// Claims what is due now (up to the concurrency limit), runs one step of each, and returns
    /// how many operations it stepped. For tests and one-shot tools; servers use [`Engine::run`].
    pub async fn tick(&self) -> Result<usize, StoreError> {
        let claimed = self.claim(self.config.concurrency).await?;
        let count = claimed.len();
        let mut running: FuturesUnordered<_> =
            claimed.into_iter().map(|op| self.step(op)).collect();
        while running.next().await.is_some() {}
        Ok(count)
    }

    /// Works until `shutdown` completes; operations being stepped then are finished first.
    ///
    /// Claims and steps are driven together: a step is never left unpolled while a claim waits
    /// for the store, and a claim never waits for a step. (A step that is not polled can hold a
    /// store connection in the middle of its settling transaction, and with it SQLite's write
    /// lock or PostgreSQL row locks, while the claim that keeps it from being polled waits for
    /// that very lock or connection.) One claim is in flight at a time; steps that finish
    /// meanwhile are noted and claimed for when it returns.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        info!(owner = %self.config.owner, concurrency = self.config.concurrency, "operation engine started");
        let mut shutdown = std::pin::pin!(shutdown);
        let mut running = FuturesUnordered::new();
        let mut wake_rx = self.wake_rx.lock().await;
        let mut claiming: Option<(usize, BoxFuture<'_, Claimed>)> = None;
        let mut nap = self.core.clock.sleep(self.config.poll_interval);
        // Whether operations may be due that this engine has not claimed yet.
        let mut look = true;
        loop {
            let free = self.config.concurrency.saturating_sub(running.len());
            if look && free > 0 && claiming.is_none() {
                look = false;
                claiming = Some((free, Box::pin(self.claim(free))));
            }
            let event = poll_fn(|cx| {
                if shutdown.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Event::Shutdown);
                }
                if !running.is_empty()
                    && let Poll::Ready(Some(())) = running.poll_next_unpin(cx)
                {
                    return Poll::Ready(Event::StepDone);
                }
                if let Some((asked, claim)) = claiming.as_mut()
                    && let Poll::Ready(result) = claim.as_mut().poll(cx)
                {
                    return Poll::Ready(Event::Claimed(*asked, result));
                }
                if let Poll::Ready(Some(())) = wake_rx.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Woken);
                }
                if nap.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Event::Napped);
                }
                Poll::Pending
            })
            .await;
            match event {
                Event::Shutdown => break,
                // A slot is free, and the settled step may have left work due at once (its
                // next step, a follow-up, operations that waited for a slot).
                Event::StepDone | Event::Woken => look = true,
                Event::Napped => {
                    look = true;
                    nap = self.core.clock.sleep(self.config.poll_interval);
                }
                Event::Claimed(asked, result) => {
                    claiming = None;
                    match result {
                        Ok(ops) => {
                            // A full batch: more may be due right away.
                            look |= ops.len() >= asked;
                            running.extend(ops.into_iter().map(|op| self.step(op)));
                        }
                        // Tried again at the next wake-up or nap.
                        Err(e) => error!(error = %e, "claiming due operations failed"),
                    }
                }
            }
        }
        // What a claim in flight takes is leased to this engine: step it rather than leave it
        // to wait for the lease to lapse.
        if let Some((_, claim)) = claiming
            && let Ok(ops) = claim.await
        {
            running.extend(ops.into_iter().map(|op| self.step(op)));
        }
        while running.next().await.is_some() {}
        info!(owner = %self.config.owner, "operation engine stopped");
    }

    async fn claim(&self, limit: usize) -> Result<Vec<crate::operation::Operation>, StoreError> {
        let now = self.core.clock.now();
        self.core
            .store
            .claim_due(&self.config.owner, now, self.core.policy.lease, limit)
            .await
    }

    async fn step(&self, op: crate::operation::Operation) {
        let Some(token) = op.lease.as_ref().map(|l| l.token) else {
            error!(operation_id = %op.id, "store returned a claimed operation without a lease");
            return;
        };
        let id = op.id;
        match step::run_claimed(&self.core, op, token).await {
            Ok(step::Ran::Settled(next, _)) if next.state != OperationState::InProgress => {
                for observer in &self.observers {
                    observer.operation_ended(&next);
                }
            }
            Ok(_) => {}
            // The lease lapses and the operation is claimed again later.
            Err(e) => error!(operation_id = %id, error = %e, "operation step could not be stored"),
        }
    }
}

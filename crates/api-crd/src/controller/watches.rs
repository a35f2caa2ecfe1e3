//! Whether the controllers' watches can be trusted, for `/readyz`: while the operator runs (on
//! the leader), every watch must have finished its initial list and must not keep failing. A
//! replica that does not run the controllers has nothing to watch and is ready (it serves the
//! OSB API and runs the engine).
//!
//! A failed watch gives no sign when it recovers until the next change arrives (the watcher
//! restarts its watch silently), so a watch counts as failing only while failures keep coming:
//! [`FAILING_AFTER`] in a row, the last within [`FAILURE_WINDOW`]. A failing watch retries at most
//! 30 s apart (kube-runtime's default backoff), so a watch that stays broken stays failing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use kube::runtime::watcher;

/// Failures in a row before a watch counts as failing (one dropped connection is not).
pub const FAILING_AFTER: u32 = 3;
/// How long after its last failure a watch still counts as failing.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// The health of the running controllers' watches; cheap to clone, shared with `/readyz`.
#[derive(Clone, Default)]
pub struct WatchHealth(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    /// Runs under way (one per leadership term; a term that ends drops its guard).
    running: usize,
    watches: BTreeMap<String, Watch>,
}

#[derive(Default)]
struct Watch {
    synced: bool,
    failures: u32,
    last_failure: Option<(Instant, String)>,
}

/// Keeps the watches counted while a run lasts; dropping it (the run ended or leadership was
/// lost) forgets them.
pub(super) struct Running(WatchHealth);

impl Drop for Running {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.running = state.running.saturating_sub(1);
        if state.running == 0 {
            state.watches.clear();
        }
    }
}

impl WatchHealth {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Ok` when no controller runs here, or every watch has synced and none keeps failing;
    /// otherwise which watches are not (no secrets: object kinds, scopes and API errors).
    pub fn check(&self) -> Result<(), String> {
        let state = self.lock();
        if state.running == 0 {
            return Ok(());
        }
        let mut problems = Vec::new();
        for (name, watch) in &state.watches {
            match &watch.last_failure {
                Some((at, error))
                    if watch.failures >= FAILING_AFTER && at.elapsed() < FAILURE_WINDOW =>
                {
                    problems.push(format!(
                        "the watch of {name} is failing ({} failures in a row): {error}",
                        watch.failures
                    ));
                }
                _ if !watch.synced => {
                    problems.push(format!("the watch of {name} has not listed everything yet"));
                }
                _ => {}
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Whether the controllers run here (this replica leads).
    pub fn is_running(&self) -> bool {
        self.lock().running > 0
    }

    /// Marks a run as started; its watches count until the guard is dropped.
    pub(super) fn start(&self) -> Running {
        self.lock().running += 1;
        Running(self.clone())
    }

    /// Registers the watch `name` (not yet synced) and follows `events`: the end of the
    /// initial list syncs it, any event clears its failures, an error counts one.
    pub(super) fn follow<K, S>(
        &self,
        name: String,
        events: S,
    ) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static
    where
        S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
        K: Send + 'static,
    {
        self.lock().watches.insert(name.clone(), Watch::default());
        let health = self.clone();
        events.inspect(move |event| {
            let mut state = health.lock();
            let Some(watch) = state.watches.get_mut(&name) else {
                return;
            };
            match event {
                Ok(watcher::Event::InitDone) => {
                    watch.synced = true;
                    watch.failures = 0;
                }
                Ok(_) => watch.failures = 0,
                Err(e) => {
                    watch.failures = watch.failures.saturating_add(1);
                    watch.last_failure = Some((Instant::now(), e.to_string()));
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn failure() -> Result<watcher::Event<()>, watcher::Error> {
        Err(watcher::Error::NoResourceVersion)
    }

    #[tokio::test]
    async fn ready_when_not_running_then_after_the_initial_list_and_not_while_failing() {
        let health = WatchHealth::default();
        assert_eq!(health.check(), Ok(()), "nothing runs here");
        assert!(!health.is_running());
        let run = health.start();
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let mut followed = Box::pin(health.follow("Secret objects".into(), rx));
        let err = health.check().unwrap_err();
        assert!(err.contains("Secret objects has not listed"), "{err}");

        tx.unbounded_send(Ok(watcher::Event::Init)).unwrap();
        tx.unbounded_send(Ok(watcher::Event::InitDone)).unwrap();
        followed.next().await;
        followed.next().await;
        assert_eq!(health.check(), Ok(()));

        for _ in 1..FAILING_AFTER {
            tx.unbounded_send(failure()).unwrap();
            followed.next().await;
        }
        assert_eq!(health.check(), Ok(()), "a few failures are not failing yet");
        tx.unbounded_send(failure()).unwrap();
        followed.next().await;
        let err = health.check().unwrap_err();
        assert!(err.contains("is failing (3 failures in a row)"), "{err}");

        tx.unbounded_send(Ok(watcher::Event::Apply(()))).unwrap();
        followed.next().await;
        assert_eq!(
            health.check(),
            Ok(()),
            "an event shows the watch works again"
        );

        tx.unbounded_send(failure()).unwrap();
        followed.next().await;
        drop(run);
        assert_eq!(health.check(), Ok(()), "leadership over: nothing to watch");
        assert!(!health.is_running());
    }
}

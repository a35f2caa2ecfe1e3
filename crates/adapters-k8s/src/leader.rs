//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several replicas exactly one
//! runs the operator's controllers. The lock itself is `kube-lease-manager`'s: the holder renews
//! the Lease before it expires, a candidate takes it over once it has expired (or at once when
//! the holder steps down), and two candidates racing for a free Lease are told apart by the API
//! server's server-side apply conflict on `holderIdentity`.
//!
//! The operation engine does not need this: it runs safely in every replica through the state
//! store's leases.

use std::future::Future;

use kube::Client;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseParams};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Where the Lease lives and how long a holder keeps it without renewing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderSettings {
    pub namespace: String,
    pub lease_name: String,
    /// This replica's name in the Lease's `holderIdentity` (the Pod name, say); unique per replica.
    pub identity: String,
    /// `leaseDurationSeconds`: how long after its last renewal a holder's lock stays valid, and
    /// so how long a crashed leader's successor waits at most.
    pub lease_seconds: u64,
    /// How long before the lock expires the holder renews it; also the clock skew tolerated
    /// between nodes. Less than `lease_seconds`.
    pub renew_margin_seconds: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error(
        "leader election: lease_seconds ({lease}) must be greater than renew_margin_seconds ({margin}), and both above 0"
    )]
    InvalidTimes { lease: u64, margin: u64 },
    #[error("leader election on Lease {namespace}/{name}: {source}")]
    Lease {
        namespace: String,
        name: String,
        #[source]
        source: kube_lease_manager::LeaseManagerError,
    },
    #[error("leader election on Lease {namespace}/{name} stopped")]
    Stopped { namespace: String, name: String },
}

/// A running candidacy: the Lease is taken, renewed and watched in a background task.
pub struct Leadership {
    settings: LeaderSettings,
    state: watch::Receiver<bool>,
    task: JoinHandle<kube_lease_manager::Result<LeaseManager>>,
}

impl LeaderSettings {
    fn check(&self) -> Result<(), LeaderError> {
        if self.renew_margin_seconds == 0 || self.lease_seconds <= self.renew_margin_seconds {
            return Err(LeaderError::InvalidTimes {
                lease: self.lease_seconds,
                margin: self.renew_margin_seconds,
            });
        }
        Ok(())
    }

    fn lease_error(&self, source: kube_lease_manager::LeaseManagerError) -> LeaderError {
        LeaderError::Lease {
            namespace: self.namespace.clone(),
            name: self.lease_name.clone(),
            source,
        }
    }

    fn stopped(&self) -> LeaderError {
        LeaderError::Stopped {
            namespace: self.namespace.clone(),
            name: self.lease_name.clone(),
        }
    }
}

impl Leadership {
    /// Becomes a candidate: creates the Lease if it does not exist and starts competing for it.
    pub async fn start(client: Client, settings: LeaderSettings) -> Result<Self, LeaderError> {
        settings.check()?;
        let params = LeaseParams::new(
            settings.identity.clone(),
            settings.lease_seconds,
            settings.renew_margin_seconds,
        );
        let manager = LeaseManager::new(
            client,
            settings.lease_name.clone(),
            settings.namespace.clone(),
            params,
            LeaseCreateMode::AutoCreate,
        )
        .await
        .map_err(|e| settings.lease_error(e))?;
        let (state, task) = manager.watch().await;
        Ok(Self {
            settings,
            state,
            task,
        })
    }

    pub fn is_leader(&self) -> bool {
        *self.state.borrow()
    }

    pub fn identity(&self) -> &str {
        &self.settings.identity
    }

    /// Waits until this replica holds the Lease.
    pub async fn acquired(&mut self) -> Result<(), LeaderError> {
        self.wait_for(true).await
    }

    /// Waits until this replica no longer holds the Lease (another took it over, or renewing
    /// failed for longer than the lock lasts).
    pub async fn lost(&mut self) -> Result<(), LeaderError> {
        self.wait_for(false).await
    }

    async fn wait_for(&mut self, leading: bool) -> Result<(), LeaderError> {
        match self.state.wait_for(|now| *now == leading).await {
            Ok(_) => Ok(()),
            Err(_) => Err(self.settings.stopped()),
        }
    }

    /// Gives the Lease up (if held) so another replica takes over at once, and stops competing.
    pub async fn step_down(self) -> Result<(), LeaderError> {
        let Self {
            settings,
            state,
            task,
        } = self;
        // Closing the channel makes the manager's task release the Lease and end.
        drop(state);
        match task.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(settings.lease_error(e)),
            Err(_) => Err(settings.stopped()),
        }
    }

    /// Runs `work` only while this replica leads: started each time the Lease is won, dropped
    /// (cancelled) as soon as it is lost. Returns when `shutdown` resolves, then steps down so
    /// a standby replica takes over without waiting for the Lease to expire. `work` ending on
    /// its own while leading also ends the candidacy, with its result.
    pub async fn run_while_leading<W, F, S>(
        mut self,
        mut work: W,
        shutdown: S,
    ) -> Result<(), LeaderError>
    where
        W: FnMut() -> F,
        F: Future<Output = ()>,
        S: Future<Output = ()>,
    {
        tokio::pin!(shutdown);
        let finished = loop {
            tokio::select! {
                () = &mut shutdown => break Ok(()),
                won = self.acquired() => {
                    if let Err(e) = won {
                        break Err(e);
                    }
                }
            }
            info!(identity = %self.settings.identity, lease = %self.settings.lease_name, "leader election: leading");
            let run = work();
            tokio::pin!(run);
            tokio::select! {
                () = &mut shutdown => break Ok(()),
                () = &mut run => {
                    break Ok(());
                }
                lost = self.lost() => {
                    if let Err(e) = lost {
                        break Err(e);
                    }
                    warn!(identity = %self.settings.identity, lease = %self.settings.lease_name, "leader election: lost the lease; stopped leading");
                }
            }
        };
        let stepped_down = self.step_down().await;
        finished.and(stepped_down)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(lease: u64, margin: u64) -> LeaderSettings {
        LeaderSettings {
            namespace: "ns".into(),
            lease_name: "pgbroker-operator".into(),
            identity: "a".into(),
            lease_seconds: lease,
            renew_margin_seconds: margin,
        }
    }

    #[test]
    fn times_that_would_panic_the_lock_are_refused() {
        assert!(settings(15, 5).check().is_ok());
        for (lease, margin) in [(5, 5), (5, 6), (0, 0), (10, 0)] {
            let err = settings(lease, margin).check().unwrap_err();
            assert!(matches!(err, LeaderError::InvalidTimes { .. }), "{err}");
        }
    }
}

//! The Kubernetes operator front door inside `pgbroker serve`: its Kubernetes client, its
//! leader election and its readiness. Only the leader runs the controllers; every replica runs
//! the operation engine. Readiness: a replica whose election cannot run is not ready; the
//! leader is ready once its controllers' watches have listed everything and while none keeps
//! failing; a standby is ready (it serves the OSB API and runs the engine).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use pgbroker_adapters_k8s::client::Connector;
use pgbroker_adapters_k8s::leader::{LeaderSettings, Leadership};
use pgbroker_adapters_k8s::settings::Connection;
use pgbroker_api_crd::controller::{Operator, ReconcileMetrics, WatchHealth};
use pgbroker_api_osb::health::ReadinessCheck;
use pgbroker_domain::Broker;
use pgbroker_domain::ports::OperationObserver;
use pgbroker_domain::server::ServerPolicy;
use tokio::sync::watch;

use crate::doors::OperatorConfig;

/// The operator, built but not started.
pub struct OperatorDoor {
    operator: Operator,
    client: kube::Client,
    leader: LeaderSettings,
    state: Arc<DoorState>,
    watches: WatchHealth,
}

/// What `/readyz` reports of the operator.
#[derive(Default)]
struct DoorState {
    /// The election could not run (no Lease access, say): the operator can never lead here.
    failed: std::sync::Mutex<Option<String>>,
}

struct OperatorReadiness(Arc<DoorState>, WatchHealth);

impl ReadinessCheck for OperatorReadiness {
    fn name(&self) -> String {
        "operator".to_string()
    }

    fn check(&self) -> Result<(), String> {
        match self.0.failed.lock() {
            Ok(failed) => match failed.as_ref() {
                Some(why) => Err(why.clone()),
                // Only while this replica leads do the controllers, and so the watches, run.
                None => self.1.check(),
            },
            Err(_) => Err("the operator's state is unreadable".to_string()),
        }
    }
}

/// The Kubernetes connection: the pod's service account in a cluster, else `KUBECONFIG` or
/// `~/.kube/config`, unless `operator.kubeconfig` names a file.
fn connection(config: &OperatorConfig) -> Connection {
    match &config.kubeconfig {
        Some(path) => Connection::Kubeconfig {
            path: path.clone(),
            context: None,
        },
        None if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|v| !v.is_empty()) => {
            Connection::InCluster
        }
        None => Connection::Infer,
    }
}

/// This replica's name in the Lease: the Pod name (`HOSTNAME`) and a random part, so two
/// processes on one host never share it.
fn identity() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "pgbroker".to_string());
    format!("{host}-{}", uuid::Uuid::new_v4().simple())
}

impl OperatorDoor {
    /// Connects to Kubernetes and builds the controllers over `broker`.
    pub async fn build(
        config: &OperatorConfig,
        configured_backends: &std::collections::BTreeSet<String>,
        broker: Arc<Broker>,
        metrics: Arc<dyn ReconcileMetrics>,
    ) -> anyhow::Result<Self> {
        let client = Connector::new(connection(config))
            .traced(Arc::new(crate::telemetry::OtelTraceContext))
            .client()
            .await
            .context("connecting to Kubernetes for the operator")?;
        Ok(Self::with_client(
            config,
            configured_backends,
            broker,
            metrics,
            client,
        ))
    }

    /// [`OperatorDoor::build`] with a client chosen by the caller (tests).
    pub fn with_client(
        config: &OperatorConfig,
        configured_backends: &std::collections::BTreeSet<String>,
        broker: Arc<Broker>,
        metrics: Arc<dyn ReconcileMetrics>,
        client: kube::Client,
    ) -> Self {
        let policy = ServerPolicy::new(
            config.allowed(configured_backends),
            config.default_backend.clone(),
        );
        let identity = identity();
        let operator = Operator::new(client.clone(), broker, policy)
            .namespaces(config.namespaces.clone())
            .resync(Duration::from_secs(config.resync_seconds.max(1)))
            .metrics(metrics)
            .reporting_instance(identity.clone());
        let leader = LeaderSettings {
            namespace: config.lease_namespace(),
            lease_name: config.lease_name.clone(),
            identity,
            lease_seconds: config.lease_seconds,
            renew_margin_seconds: config.renew_margin_seconds,
        };
        Self {
            watches: operator.health(),
            operator,
            client,
            leader,
            state: Arc::default(),
        }
    }

    /// The Kubernetes client the operator works with.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// For the engine: wakes the controllers when an operation ends.
    pub fn observer(&self) -> Arc<dyn OperationObserver> {
        self.operator.observer()
    }

    pub fn readiness(&self) -> Arc<dyn ReadinessCheck> {
        Arc::new(OperatorReadiness(self.state.clone(), self.watches.clone()))
    }

    /// Competes for the Lease and runs the controllers while this replica leads, until
    /// `shutdown`; then steps down so a standby takes over at once.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let shutdown = move || {
            let mut stop = stop.clone();
            async move {
                let _ = stop.wait_for(|stop| *stop).await;
            }
        };
        let Self {
            operator,
            client,
            leader,
            state,
            watches: _,
        } = self;
        let lease = format!("{}/{}", leader.namespace, leader.lease_name);
        let leadership = match Leadership::start(client, leader).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "the operator cannot run: leader election failed");
                if let Ok(mut failed) = state.failed.lock() {
                    *failed = Some(e.to_string());
                }
                return;
            }
        };
        let work_shutdown = shutdown.clone();
        let result = leadership
            .run_while_leading(
                move || {
                    // A replica that loses the Lease and wins it again runs a fresh copy.
                    let operator = operator.clone();
                    let shutdown = work_shutdown();
                    async move { operator.run(shutdown).await }
                },
                shutdown(),
            )
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, %lease, "leader election ended");
        }
    }
}

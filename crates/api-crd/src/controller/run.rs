//! Running the operator: a controller per kind (per namespace when the operator is limited to
//! some), watching the objects, the Secrets they own and each other, and woken by the engine
//! when an operation of theirs ends.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, reflector::reflector, watcher};
use kube::{Client, Resource, ResourceExt};
use pgbroker_domain::Broker;
use pgbroker_domain::operation::Operation;
use pgbroker_domain::ports::OperationObserver;
use pgbroker_domain::server::ServerPolicy;
use tokio::sync::broadcast;

use crate::crd::{PostgreSQLDatabase, PostgreSQLServer};

use super::events::Events;
use super::metrics::{ControllerKind, NoMetrics, ReconcileMetrics, measured};
use super::secret::MANAGED_BY;
use super::watches::WatchHealth;
use super::{Context, error_policy, reconcile};

/// The operator front door, ready to run. The app builds it with its Kubernetes client, the
/// shared [`Broker`] and the configured policy, hands [`Operator::observer`] to its engine, and
/// runs it (on the leader only).
#[derive(Clone)]
pub struct Operator {
    client: Client,
    broker: Arc<Broker>,
    policy: ServerPolicy,
    namespaces: Vec<String>,
    resync: Duration,
    ended: broadcast::Sender<(String, Option<String>)>,
    metrics: Arc<dyn ReconcileMetrics>,
    reporting_instance: Option<String>,
    health: WatchHealth,
}

/// Tells the operator's controllers when the engine has finished an operation, so an object
/// whose operation ended is looked at at once.
struct EndedOperations(broadcast::Sender<(String, Option<String>)>);

impl OperationObserver for EndedOperations {
    fn operation_ended(&self, op: &Operation) {
        // Nobody listening (the operator not running here) is fine.
        let _ = self.0.send((
            op.instance_id.to_string(),
            op.binding_id.as_ref().map(ToString::to_string),
        ));
    }
}

impl Operator {
    pub fn new(client: Client, broker: Arc<Broker>, policy: ServerPolicy) -> Self {
        Self {
            client,
            broker,
            policy,
            namespaces: Vec::new(),
            resync: Duration::from_secs(10 * 60),
            ended: broadcast::channel(1024).0,
            metrics: Arc::new(NoMetrics),
            reporting_instance: None,
            health: WatchHealth::default(),
        }
    }

    /// Where each reconcile is reported (default: nowhere).
    pub fn metrics(mut self, metrics: Arc<dyn ReconcileMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// This replica's name in the Events it publishes (`reportingInstance`, at most 128
    /// bytes; default: the controller's name).
    pub fn reporting_instance(mut self, instance: impl Into<String>) -> Self {
        self.reporting_instance = Some(instance.into());
        self
    }

    /// The health of the controllers' watches while they run here, for `/readyz`.
    pub fn health(&self) -> WatchHealth {
        self.health.clone()
    }

    /// Only these namespaces (empty: all).
    pub fn namespaces(mut self, namespaces: Vec<String>) -> Self {
        self.namespaces = namespaces;
        self
    }

    /// How often an object is looked at when nothing changes (default 10 minutes).
    pub fn resync(mut self, resync: Duration) -> Self {
        self.resync = resync;
        self
    }

    /// For `Engine::with_observer`: wakes the controllers when an operation ends.
    pub fn observer(&self) -> Arc<dyn OperationObserver> {
        Arc::new(EndedOperations(self.ended.clone()))
    }

    /// Runs until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        // Dropped when the run ends or is dropped (leadership lost): readiness stops asking.
        let _running = self.health.start();
        let health = self.health.clone();
        let ctx = Arc::new(Context::new(
            self.client.clone(),
            self.broker,
            self.policy,
            self.resync,
            Events::new(self.client.clone(), self.reporting_instance),
            self.metrics,
        ));
        let shutdown = shutdown.boxed().shared();
        let scopes: Vec<Option<String>> = if self.namespaces.is_empty() {
            vec![None]
        } else {
            self.namespaces.into_iter().map(Some).collect()
        };
        let mut runs = Vec::new();
        for scope in scopes {
            let api = |client: Client| -> (
                Api<PostgreSQLServer>,
                Api<PostgreSQLDatabase>,
                Api<PartialObjectMeta<Secret>>,
            ) {
                match &scope {
                    Some(ns) => (
                        Api::namespaced(client.clone(), ns),
                        Api::namespaced(client.clone(), ns),
                        Api::namespaced(client, ns),
                    ),
                    None => (
                        Api::all(client.clone()),
                        Api::all(client.clone()),
                        Api::all(client),
                    ),
                }
            };
            let (servers, databases, secrets) = api(self.client.clone());
            let scope_name = match &scope {
                Some(ns) => format!("namespace {ns}"),
                None => "all namespaces".to_string(),
            };
            let owned =
                watcher::Config::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
            // Each watch is built here rather than by the Controller, so its health is followed.
            let watch_of = |kind: &str, controller: &str| {
                format!("{kind} objects in {scope_name} by the {controller} controller")
            };

            let (store, writer) = reflector::store();
            let main = health.follow(
                watch_of("PostgreSQLServer", "PostgreSQLServer"),
                watcher(servers.clone(), watcher::Config::default()),
            );
            let server_run =
                Controller::for_stream(reflector(writer, main).applied_objects(), store.clone())
                    .owns_stream(
                        health
                            .follow(
                                watch_of("Secret", "PostgreSQLServer"),
                                watcher(secrets.clone(), owned.clone()),
                            )
                            .touched_objects(),
                    )
                    .watches_stream(
                        health
                            .follow(
                                watch_of("PostgreSQLDatabase", "PostgreSQLServer"),
                                watcher(databases.clone(), watcher::Config::default()),
                            )
                            .touched_objects(),
                        |db: PostgreSQLDatabase| {
                            db.namespace()
                                .map(|ns| ObjectRef::new(&db.spec.server_ref.name).within(&ns))
                        },
                    )
                    .reconcile_on(woken(self.ended.subscribe(), store))
                    .graceful_shutdown_on(shutdown.clone())
                    .run(
                        |obj, ctx| {
                            measured(
                                ControllerKind::Server,
                                obj,
                                ctx,
                                reconcile::<PostgreSQLServer>,
                            )
                        },
                        error_policy,
                        ctx.clone(),
                    )
                    .for_each(log_outcome);
            runs.push(server_run.boxed());

            let (store, writer) = reflector::store();
            let main = health.follow(
                watch_of("PostgreSQLDatabase", "PostgreSQLDatabase"),
                watcher(databases, watcher::Config::default()),
            );
            let referencing = store.clone();
            let database_run =
                Controller::for_stream(reflector(writer, main).applied_objects(), store.clone())
                    .owns_stream(
                        health
                            .follow(
                                watch_of("Secret", "PostgreSQLDatabase"),
                                watcher(secrets, owned),
                            )
                            .touched_objects(),
                    )
                    .watches_stream(
                        health
                            .follow(
                                watch_of("PostgreSQLServer", "PostgreSQLDatabase"),
                                watcher(servers, watcher::Config::default()),
                            )
                            .touched_objects(),
                        move |srv: PostgreSQLServer| {
                            let (name, ns) = (srv.name_any(), srv.namespace());
                            referencing
                                .state()
                                .into_iter()
                                .filter(|d| d.spec.server_ref.name == name && d.namespace() == ns)
                                .map(|d| ObjectRef::from_obj(d.as_ref()))
                                .collect::<Vec<_>>()
                        },
                    )
                    .reconcile_on(woken(self.ended.subscribe(), store))
                    .graceful_shutdown_on(shutdown.clone())
                    .run(
                        |obj, ctx| {
                            measured(
                                ControllerKind::Database,
                                obj,
                                ctx,
                                reconcile::<PostgreSQLDatabase>,
                            )
                        },
                        error_policy,
                        ctx.clone(),
                    )
                    .for_each(log_outcome);
            runs.push(database_run.boxed());
        }
        futures::future::join_all(runs).await;
    }
}

fn log_outcome<K: Resource, E: std::fmt::Display>(
    outcome: Result<(ObjectRef<K>, kube::runtime::controller::Action), E>,
) -> futures::future::Ready<()> {
    match outcome {
        Ok((obj, _)) => tracing::debug!(object = %obj, "reconciled"),
        Err(e) => tracing::warn!(error = %e, "controller"),
    }
    futures::future::ready(())
}

/// The objects of `store` whose operation just ended: a server's uid is its instance id (and
/// its own login's binding id), a database's uid its binding id.
fn woken<K>(
    receiver: broadcast::Receiver<(String, Option<String>)>,
    store: Store<K>,
) -> impl futures::Stream<Item = ObjectRef<K>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    futures::stream::unfold(receiver, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(ids) => return Some((ids, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .flat_map(move |(instance, binding)| {
        let refs: Vec<ObjectRef<K>> = store
            .state()
            .into_iter()
            .filter(|o| {
                let uid = o.meta().uid.as_deref();
                uid == Some(instance.as_str()) || (binding.is_some() && uid == binding.as_deref())
            })
            .map(|o| ObjectRef::from_obj(o.as_ref()))
            .collect();
        futures::stream::iter(refs)
    })
}

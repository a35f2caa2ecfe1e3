//! The operator: controllers for `PostgreSQLServer` (an instance) and `PostgreSQLDatabase` (a
//! binding with a database of its own), in the shape of kube-rs' controller-rs: a reconcile
//! function per kind over one shared [`Context`], a separate [`error_policy`] with backoff,
//! deletion through `kube::runtime::finalizer`, status by server-side apply. Every decision
//! about what a spec means is the domain's (`Broker::choose_server` and the use cases).
//!
//! Nothing polls while nothing changes: an object is looked at again when it, its Secret or a
//! related object changes, at the operation's retry interval while one runs, and otherwise at
//! the long resync.
//!
//! Around the reconcilers: an Event for each status transition ([`events`]), each reconcile
//! reported to the app's metrics port ([`metrics`]), and the watches' health for readiness
//! ([`watches`]).

mod binding;
mod broker_errors;
mod database;
mod deliver;
pub mod events;
pub mod metrics;
mod reset;
mod run;
mod secret;
mod server;
mod server_cleanup;
pub mod spec;
mod status;
pub mod watches;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::runtime::controller::Action;
use kube::runtime::finalizer;
use pgbroker_domain::server::ServerPolicy;
use pgbroker_domain::{Broker, BrokerError};

pub use metrics::{ControllerKind, ReconcileMetrics};
pub use reset::{ACTION_LABEL, RESET_PASSWORD};
pub use run::Operator;
pub use secret::secret_data;
pub use watches::WatchHealth;

/// Field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "pgbroker-operator";
/// Finalizer that holds an object until the backend has removed what it made.
pub const FINALIZER: &str = "pgbroker.io/finalizer";

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub broker: Arc<Broker>,
    pub policy: ServerPolicy,
    /// Longest time between two looks at an object when nothing changes (drift).
    pub resync: Duration,
    /// Failures in a row per object uid, for the backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Where status transitions are published.
    events: events::Events,
    /// Where each reconcile is reported.
    metrics: Arc<dyn ReconcileMetrics>,
}

impl Context {
    pub fn new(
        client: Client,
        broker: Arc<Broker>,
        policy: ServerPolicy,
        resync: Duration,
        events: events::Events,
        metrics: Arc<dyn ReconcileMetrics>,
    ) -> Self {
        Self {
            client,
            broker,
            policy,
            resync,
            failures: Mutex::new(HashMap::new()),
            events,
            metrics,
        }
    }

    fn succeeded(&self, uid: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(uid);
        }
    }

    fn failed(&self, uid: &str) -> u32 {
        match self.failures.lock() {
            Ok(mut f) => {
                let n = f.entry(uid.to_string()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            }
            Err(_) => 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Broker(#[from] BrokerError),
    #[error("the object has no {0}")]
    MissingField(&'static str),
    #[error("serializing an object: {0}")]
    Serialize(serde_json::Error),
    /// Deletion is under way or waits for something; the finalizer stays until it is done.
    #[error("{what}")]
    InProgress { what: String, retry_after: Duration },
    #[error(transparent)]
    Finalizer(Box<finalizer::Error<Error>>),
}

impl Error {
    /// A short CamelCase label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Kube(_) => "KubernetesApi",
            Self::Broker(e) => broker_errors::reason_of(e).as_str(),
            Self::MissingField(_) => "InvalidObject",
            Self::Serialize(_) => "Serialize",
            Self::InProgress { .. } => "InProgress",
            Self::Finalizer(e) => match e.as_ref() {
                finalizer::Error::ApplyFailed(inner) | finalizer::Error::CleanupFailed(inner) => {
                    inner.label()
                }
                _ => "Finalizer",
            },
        }
    }

    /// The instance had another operation in flight (the domain runs one per instance at a
    /// time): the object waits its turn, it did not fail.
    fn is_busy(&self) -> bool {
        match self {
            Self::Broker(BrokerError::Concurrency(_)) => true,
            Self::Finalizer(e) => match e.as_ref() {
                finalizer::Error::ApplyFailed(inner) | finalizer::Error::CleanupFailed(inner) => {
                    inner.is_busy()
                }
                _ => false,
            },
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::InProgress { retry_after, .. } => Some(*retry_after),
            Self::Finalizer(e) => match e.as_ref() {
                finalizer::Error::ApplyFailed(inner) | finalizer::Error::CleanupFailed(inner) => {
                    inner.retry_after()
                }
                _ => None,
            },
            _ => None,
        }
    }
}

/// A kind whose objects hold the finalizer until the backend is done: what a reconcile does
/// while the object lives and once it is deleted.
pub(crate) trait Finalized:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    fn apply(
        &self,
        api: &kube::Api<Self>,
        ctx: &Context,
    ) -> impl std::future::Future<Output = Result<Action, Error>> + Send;

    fn cleanup(
        &self,
        api: &kube::Api<Self>,
        ctx: &Context,
    ) -> impl std::future::Future<Output = Result<Action, Error>> + Send;
}

/// The reconcile of a [`Finalized`] kind: the finalizer around apply and cleanup, and the
/// object's failure count reset once it succeeds.
pub(crate) async fn reconcile<K: Finalized>(
    obj: Arc<K>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    use kube::ResourceExt;
    let ns = obj
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let api: kube::Api<K> = kube::Api::namespaced(ctx.client.clone(), &ns);
    let uid = obj.uid().unwrap_or_default();
    let result = finalizer::finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            finalizer::Event::Apply(obj) => obj.apply(&api, &ctx).await,
            finalizer::Event::Cleanup(obj) => obj.cleanup(&api, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    if result.is_ok() {
        ctx.succeeded(&uid);
    }
    result
}

/// Backoff for failed reconciles: 2 s doubling to 5 min per object; an operation under way is
/// looked at again at its own retry interval; an object whose instance was busy with another
/// operation tries again within [`BUSY_RETRY`], not counted as a failure (with the backoff, a
/// burst of databases on one server waited minutes for their turn: issue 11's bench).
pub fn error_policy<K: kube::Resource>(obj: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    if let Some(after) = error.retry_after() {
        return Action::requeue(after);
    }
    let uid = obj.meta().uid.clone().unwrap_or_default();
    if error.is_busy() {
        tracing::debug!(object = obj.meta().name.as_deref().unwrap_or(""), error = %error, "instance busy; trying again shortly");
        return Action::requeue(busy_retry());
    }
    let failures = ctx.failed(&uid);
    tracing::warn!(object = obj.meta().name.as_deref().unwrap_or(""), error = %error, reason = error.label(), failures, "reconcile failed");
    let secs = 2u64.saturating_pow(failures.min(9)).min(300);
    Action::requeue(Duration::from_secs(secs))
}

/// Shortest and longest wait before an object whose instance was busy tries again.
pub const BUSY_RETRY: (Duration, Duration) =
    (Duration::from_millis(500), Duration::from_millis(1500));

/// A wait within [`BUSY_RETRY`], drawn anew each time so that objects refused together do not
/// all come back together (`RandomState` keys are random per instance).
fn busy_retry() -> Duration {
    use std::hash::BuildHasher;
    let (min, max) = BUSY_RETRY;
    let spread = (max - min).as_millis().max(1) as u64;
    let draw = std::collections::hash_map::RandomState::new().hash_one(0u8);
    min + Duration::from_millis(draw % spread)
}

/// Annotation that keeps the data when the object is deleted (`retain`); anything else deletes.
pub const DELETION_POLICY: &str = "pgbroker.io/deletion-policy";

/// The deletion policy the object's annotation asks for.
fn deletion_policy(meta: &kube::api::ObjectMeta) -> pgbroker_domain::operation::DeletionPolicy {
    use pgbroker_domain::operation::DeletionPolicy;
    match meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(DELETION_POLICY))
    {
        Some(v) if v.trim().eq_ignore_ascii_case("retain") => DeletionPolicy::Retain,
        _ => DeletionPolicy::Delete,
    }
}

/// Set by deploy/'s MutatingAdmissionPolicy (`pgbroker-requested-by`) to the Kubernetes user
/// who created the object or last changed its spec: the API server tells a controller nothing
/// of who made a request, so this is how the audit records of the operator's operations name
/// the user. It is only as trustworthy as that policy, which overwrites what a user writes.
pub const REQUESTED_BY: &str = "pgbroker.io/requested-by";

/// The Kubernetes user who asked for what the object now says ([`REQUESTED_BY`]), as the OSB
/// door records an originating identity: platform `kubernetes`, value `{"username": ...}`.
fn requested_by(meta: &kube::api::ObjectMeta) -> Option<String> {
    let user = meta.annotations.as_ref()?.get(REQUESTED_BY)?.trim();
    (!user.is_empty()).then(|| {
        serde_json::json!({"platform": "kubernetes", "value": {"username": user}}).to_string()
    })
}

/// How long to wait before looking at an operation again when the broker does not say.
const OPERATION_POLL: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_retries_are_short_and_spread() {
        let waits: std::collections::BTreeSet<Duration> = (0..50).map(|_| busy_retry()).collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= BUSY_RETRY.0 && *w < BUSY_RETRY.1)
        );
        assert!(waits.len() > 10, "{waits:?}");
    }
}

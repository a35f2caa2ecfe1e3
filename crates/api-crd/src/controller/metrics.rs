//! What the controllers tell about each reconcile: the port the app implements with its
//! Prometheus registry (this crate knows no metrics library), and the wrapper that times every
//! reconcile and reports it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Resource;
use kube::runtime::controller::Action;

use super::{Context, Error};

/// Which controller reconciled (the `kind` label: `server`, `database`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControllerKind {
    Server,
    Database,
}

impl ControllerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Database => "database",
        }
    }
}

/// Where each reconcile is reported.
pub trait ReconcileMetrics: Send + Sync {
    /// One reconcile by the `kind` controller that took `took`; `error` is the failure's
    /// category ([`Error::label`]: a CamelCase reason, never an object's name) when it failed.
    fn reconciled(&self, kind: ControllerKind, took: Duration, error: Option<&'static str>);
}

/// Reports nothing (the default when the app passes no metrics).
pub struct NoMetrics;

impl ReconcileMetrics for NoMetrics {
    fn reconciled(&self, _: ControllerKind, _: Duration, _: Option<&'static str>) {}
}

/// Runs `reconcile` on `obj`, reports it, and forgets the events bookkeeping of an object whose
/// deletion just finished.
pub(super) async fn measured<K, Fut>(
    kind: ControllerKind,
    obj: Arc<K>,
    ctx: Arc<Context>,
    reconcile: fn(Arc<K>, Arc<Context>) -> Fut,
) -> Result<Action, Error>
where
    K: Resource,
    Fut: Future<Output = Result<Action, Error>>,
{
    let uid = obj.meta().uid.clone();
    let deleting = obj.meta().deletion_timestamp.is_some();
    let started = Instant::now();
    let result = reconcile(obj, ctx.clone()).await;
    let error = result.as_ref().err().map(Error::label);
    ctx.metrics.reconciled(kind, started.elapsed(), error);
    if let (true, true, Some(uid)) = (deleting, result.is_ok(), uid) {
        ctx.events.forget(&uid);
    }
    result
}

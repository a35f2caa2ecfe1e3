//! The broker's backend, timed: how much of a broker request is the backend step itself, the
//! rest being HTTP, the state store and the operation bookkeeping around it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pgbroker_domain::ports::{
    Backend, BindRequest, InstanceRequest, ProvisionOutput, Step, UnbindRequest,
};
use pgbroker_domain::{Credentials, OperationKind};

pub struct Timed {
    inner: Arc<dyn Backend>,
    nanos: AtomicU64,
}

impl Timed {
    pub fn new(inner: Arc<dyn Backend>) -> Self {
        Self {
            inner,
            nanos: AtomicU64::new(0),
        }
    }

    /// Time spent in steps since the last call.
    pub fn take(&self) -> Duration {
        Duration::from_nanos(self.nanos.swap(0, Ordering::Relaxed))
    }

    async fn timed<T>(&self, step: impl Future<Output = T>) -> T {
        let start = Instant::now();
        let result = step.await;
        let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
        result
    }
}

#[async_trait]
impl Backend for Timed {
    fn completes_synchronously(&self, kind: OperationKind) -> bool {
        self.inner.completes_synchronously(kind)
    }

    async fn provision(&self, req: &InstanceRequest) -> Step<ProvisionOutput> {
        self.timed(self.inner.provision(req)).await
    }

    async fn update(&self, req: &InstanceRequest) -> Step<()> {
        self.timed(self.inner.update(req)).await
    }

    async fn deprovision(&self, req: &InstanceRequest) -> Step<()> {
        self.timed(self.inner.deprovision(req)).await
    }

    async fn bind(&self, req: &BindRequest) -> Step<Credentials> {
        self.timed(self.inner.bind(req)).await
    }

    async fn unbind(&self, req: &UnbindRequest) -> Step<()> {
        self.timed(self.inner.unbind(req)).await
    }

    async fn check(&self) -> Result<(), pgbroker_domain::ports::CheckError> {
        self.inner.check().await
    }

    fn supports_own_database(&self) -> bool {
        self.inner.supports_own_database()
    }
}

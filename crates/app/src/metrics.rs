//! Prometheus metrics of the domain's work, measured at the ports so the domain stays free of
//! them: operations by kind and state (a state-store decorator), failures by reason (operations
//! as that decorator stores them, requests as the front doors report them), backend step
//! latency (a backend decorator) and the operator's reconciles (its metrics port).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pgbroker_api_crd::controller::{ControllerKind, ReconcileMetrics};
use pgbroker_domain::ports::{
    Backend, BackendRegistry, BindRequest, CheckError, InstanceRequest, ProvisionOutput,
    StateStore, Step, StoreError, UnbindRequest, Write,
};
use pgbroker_domain::{
    Binding, BindingId, Credentials, Instance, InstanceId, Operation, OperationId, OperationKind,
    OperationState, Reason,
};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// `pgbroker_failures_total{source, reason}`: operations that failed for good
/// (`source="operation"`) and requests a front door refused (`source="osb"`), by [`Reason`].
/// Both label sets are short, fixed lists.
#[derive(Clone)]
pub struct FailureMetrics {
    failures: IntCounterVec,
}

impl FailureMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let failures = IntCounterVec::new(
            Opts::new(
                "pgbroker_failures_total",
                "Failed operations and refused requests by source and reason",
            ),
            &["source", "reason"],
        )?;
        registry.register(Box::new(failures.clone()))?;
        Ok(Self { failures })
    }

    pub fn record(&self, source: &'static str, reason: Reason) {
        self.failures
            .with_label_values(&[source, reason.as_str()])
            .inc();
    }

    /// A front door's report of its failed requests, counted under `source`.
    pub fn for_door(&self, source: &'static str) -> Arc<dyn Fn(Reason) + Send + Sync> {
        let metrics = self.clone();
        Arc::new(move |reason| metrics.record(source, reason))
    }
}

/// The operator's reconciles by controller `kind` (`server`, `database`):
/// `pgbroker_operator_reconciles_total`, `pgbroker_operator_reconcile_duration_seconds` and
/// `pgbroker_operator_reconcile_errors_total{kind, reason}`, `reason` being the error's category
/// (a short fixed list, never an object's name).
pub struct ReconcileCounters {
    reconciles: IntCounterVec,
    durations: HistogramVec,
    errors: IntCounterVec,
}

impl ReconcileCounters {
    pub fn new(registry: &Registry) -> Result<Arc<Self>, prometheus::Error> {
        let reconciles = IntCounterVec::new(
            Opts::new(
                "pgbroker_operator_reconciles_total",
                "Reconciles by the operator's controllers, by kind",
            ),
            &["kind"],
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "pgbroker_operator_reconcile_duration_seconds",
                "How long the operator's reconciles took, by kind",
            )
            .buckets(vec![
                0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["kind"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "pgbroker_operator_reconcile_errors_total",
                "Failed reconciles by kind and the error's category",
            ),
            &["kind", "reason"],
        )?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(durations.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        Ok(Arc::new(Self {
            reconciles,
            durations,
            errors,
        }))
    }
}

impl ReconcileMetrics for ReconcileCounters {
    fn reconciled(&self, kind: ControllerKind, took: Duration, error: Option<&'static str>) {
        let kind = kind.as_str();
        self.reconciles.with_label_values(&[kind]).inc();
        self.durations
            .with_label_values(&[kind])
            .observe(took.as_secs_f64());
        if let Some(reason) = error {
            self.errors.with_label_values(&[kind, reason]).inc();
        }
    }
}

/// Counts operations entering each state: `in progress` when started, `succeeded` or `failed`
/// when settled for good; and each failed one by its reason.
pub struct MeteredStore {
    inner: Arc<dyn StateStore>,
    operations: IntCounterVec,
    failures: FailureMetrics,
}

impl MeteredStore {
    pub fn wrap(
        inner: Arc<dyn StateStore>,
        registry: &Registry,
        failures: FailureMetrics,
    ) -> Result<Arc<dyn StateStore>, prometheus::Error> {
        let operations = IntCounterVec::new(
            Opts::new(
                "pgbroker_operations_total",
                "Operations by kind, origin and the state they entered",
            ),
            &["kind", "origin", "state"],
        )?;
        registry.register(Box::new(operations.clone()))?;
        Ok(Arc::new(Self {
            inner,
            operations,
            failures,
        }))
    }

    fn count(&self, op: &Operation) {
        self.operations
            .with_label_values(&[op.kind.as_str(), op.origin.as_str(), op.state.as_str()])
            .inc();
        if op.state == OperationState::Failed {
            // Every failure the engine stores has a reason; a row without one is older.
            let reason = op.reason.unwrap_or(Reason::BackendFailed);
            self.failures.record("operation", reason);
        }
    }
}

#[async_trait]
impl StateStore for MeteredStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn instance(&self, id: &InstanceId) -> Result<Option<Instance>, StoreError> {
        self.inner.instance(id).await
    }

    async fn binding(
        &self,
        instance: &InstanceId,
        id: &BindingId,
    ) -> Result<Option<Binding>, StoreError> {
        self.inner.binding(instance, id).await
    }

    async fn operation(&self, id: OperationId) -> Result<Option<Operation>, StoreError> {
        self.inner.operation(id).await
    }

    async fn operation_in_flight(
        &self,
        instance: &InstanceId,
    ) -> Result<Option<Operation>, StoreError> {
        self.inner.operation_in_flight(instance).await
    }

    async fn latest_operation(
        &self,
        instance: &InstanceId,
        binding: Option<&BindingId>,
    ) -> Result<Option<Operation>, StoreError> {
        self.inner.latest_operation(instance, binding).await
    }

    async fn start(&self, operation: &Operation, writes: &[Write]) -> Result<(), StoreError> {
        self.inner.start(operation, writes).await?;
        self.count(operation);
        Ok(())
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Operation>, StoreError> {
        self.inner.claim_due(owner, now, lease, limit).await
    }

    async fn renew_lease(
        &self,
        id: OperationId,
        token: i64,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.renew_lease(id, token, until).await
    }

    async fn settle(
        &self,
        operation: &Operation,
        token: i64,
        writes: &[Write],
        follow_up: Option<&Operation>,
    ) -> Result<bool, StoreError> {
        let settled = self
            .inner
            .settle(operation, token, writes, follow_up)
            .await?;
        if settled {
            // A step that leaves the operation in flight is progress, not a new state.
            if !operation.is_in_flight() {
                self.count(operation);
            }
            if let Some(follow_up) = follow_up {
                self.count(follow_up);
            }
        }
        Ok(settled)
    }
}

/// Times every backend step, by backend, operation kind and outcome.
pub struct TimedBackend {
    name: String,
    inner: Arc<dyn Backend>,
    latency: HistogramVec,
}

/// Wraps every backend of `registry` in a [`TimedBackend`].
pub fn time_backends(
    registry: BackendRegistry,
    metrics: &Registry,
) -> Result<BackendRegistry, prometheus::Error> {
    let latency = HistogramVec::new(
        HistogramOpts::new(
            "pgbroker_backend_step_duration_seconds",
            "Latency of backend steps by backend, operation kind and outcome",
        )
        .buckets(vec![
            0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ]),
        &["backend", "kind", "outcome"],
    )?;
    metrics.register(Box::new(latency.clone()))?;
    Ok(registry
        .iter()
        .fold(BackendRegistry::new(), |timed, (name, backend)| {
            timed.with(
                name.clone(),
                Arc::new(TimedBackend {
                    name: name.clone(),
                    inner: backend.clone(),
                    latency: latency.clone(),
                }),
            )
        }))
}

impl TimedBackend {
    async fn timed<T>(&self, kind: OperationKind, step: impl Future<Output = Step<T>>) -> Step<T> {
        let started = Instant::now();
        let result = step.await;
        let outcome = match &result {
            Step::Done(_) => "done",
            Step::InProgress { .. } => "in_progress",
            Step::Failed(f) if f.retryable => "retryable_failure",
            Step::Failed(_) => "permanent_failure",
        };
        self.latency
            .with_label_values(&[self.name.as_str(), kind.as_str(), outcome])
            .observe(started.elapsed().as_secs_f64());
        result
    }
}

#[async_trait]
impl Backend for TimedBackend {
    fn completes_synchronously(&self, kind: OperationKind) -> bool {
        self.inner.completes_synchronously(kind)
    }

    async fn provision(&self, req: &InstanceRequest) -> Step<ProvisionOutput> {
        self.timed(OperationKind::Provision, self.inner.provision(req))
            .await
    }

    async fn update(&self, req: &InstanceRequest) -> Step<()> {
        self.timed(OperationKind::Update, self.inner.update(req))
            .await
    }

    async fn deprovision(&self, req: &InstanceRequest) -> Step<()> {
        self.timed(OperationKind::Deprovision, self.inner.deprovision(req))
            .await
    }

    async fn bind(&self, req: &BindRequest) -> Step<Credentials> {
        self.timed(OperationKind::Bind, self.inner.bind(req)).await
    }

    async fn unbind(&self, req: &UnbindRequest) -> Step<()> {
        self.timed(OperationKind::Unbind, self.inner.unbind(req))
            .await
    }

    async fn check(&self) -> Result<(), CheckError> {
        self.inner.check().await
    }

    fn supports_own_database(&self) -> bool {
        self.inner.supports_own_database()
    }

    fn plan_size(&self, plan: &pgbroker_domain::Plan) -> Option<pgbroker_domain::server::PlanSize> {
        self.inner.plan_size(plan)
    }

    fn server_parameters(
        &self,
        plan: &pgbroker_domain::Plan,
        target: &pgbroker_domain::server::ServerTarget<'_>,
    ) -> Result<pgbroker_domain::server::Translation, pgbroker_domain::server::Unsupported> {
        self.inner.server_parameters(plan, target)
    }
}

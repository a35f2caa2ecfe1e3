//! A scriptable backend for tests: outcomes per operation kind, call counting, an optional gate
//! that holds steps until released, and detection of the same operation being stepped twice at once.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use pgbroker_domain::ports::{
    Backend, BindRequest, CheckError, InstanceRequest, ProvisionOutput, Step, StepFailure,
    UnbindRequest,
};
use pgbroker_domain::{Credentials, OperationId, OperationKind, Reason, Sensitive};
use serde_json::json;
use tokio::sync::Semaphore;

/// What a step reports; `Done` carries no value (the backend makes up the right one).
#[derive(Debug, Clone, PartialEq)]
pub enum Scripted {
    Done,
    InProgress(Duration),
    /// A transient failure: [`Reason::BackendUnavailable`].
    Retryable,
    /// A permanent failure: [`Reason::BackendFailed`].
    Permanent,
    /// A failure with the given reason, as a real backend maps one.
    Fails {
        reason: Reason,
        retryable: bool,
    },
}

#[derive(Default)]
struct State {
    /// Outcomes used first, in order, per kind.
    queued: HashMap<OperationKind, VecDeque<Scripted>>,
    /// Outcome once the queue is empty, per kind (default: Done).
    default: HashMap<OperationKind, Scripted>,
    calls: HashMap<OperationKind, usize>,
    calls_per_operation: BTreeMap<OperationId, usize>,
    active: HashSet<OperationId>,
    overlaps: Vec<OperationId>,
    /// What `check` reports; `None` is reachable.
    check_error: Option<String>,
}

pub struct TestBackend {
    state: Mutex<State>,
    synchronous: bool,
    step_delay: Duration,
    /// Steps each operation takes: the ones before the last report progress, due again at once.
    steps_per_operation: usize,
    /// When set, every step waits for a permit (released by `release`).
    gate: Option<Arc<Semaphore>>,
}

impl TestBackend {
    /// A backend whose operations finish asynchronously (synchronous requests get AsyncRequired).
    pub fn asynchronous() -> Self {
        Self::new(false)
    }

    /// A backend that finishes within a request.
    pub fn synchronous() -> Self {
        Self::new(true)
    }

    fn new(synchronous: bool) -> Self {
        Self {
            state: Mutex::new(State::default()),
            synchronous,
            step_delay: Duration::ZERO,
            steps_per_operation: 1,
            gate: None,
        }
    }

    /// Every step sleeps this long (widens race windows).
    pub fn with_step_delay(mut self, delay: Duration) -> Self {
        self.step_delay = delay;
        self
    }

    /// Every operation takes `steps` steps (unless a scripted outcome says otherwise): the
    /// steps before its last report progress, due again at once.
    pub fn with_steps_per_operation(mut self, steps: usize) -> Self {
        self.steps_per_operation = steps.max(1);
        self
    }

    /// Steps block until [`TestBackend::release`] hands out permits.
    pub fn gated(mut self) -> Self {
        self.gate = Some(Arc::new(Semaphore::new(0)));
        self
    }

    pub fn release(&self, steps: usize) {
        if let Some(gate) = &self.gate {
            gate.add_permits(steps);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn script(&self, kind: OperationKind, outcomes: impl IntoIterator<Item = Scripted>) {
        self.lock().queued.entry(kind).or_default().extend(outcomes);
    }

    pub fn always(&self, kind: OperationKind, outcome: Scripted) {
        self.lock().default.insert(kind, outcome);
    }

    pub fn calls(&self, kind: OperationKind) -> usize {
        self.lock().calls.get(&kind).copied().unwrap_or(0)
    }

    pub fn calls_for(&self, operation: OperationId) -> usize {
        self.lock()
            .calls_per_operation
            .get(&operation)
            .copied()
            .unwrap_or(0)
    }

    /// Makes `check` fail with `error` (or succeed again with `None`), as an unreachable backend would.
    pub fn set_check_error(&self, error: Option<&str>) {
        self.lock().check_error = error.map(str::to_string);
    }

    /// Operations that had a step start while another step of theirs was running.
    pub fn overlaps(&self) -> Vec<OperationId> {
        self.lock().overlaps.clone()
    }

    async fn step<T>(
        &self,
        kind: OperationKind,
        operation: OperationId,
        done: impl FnOnce() -> T,
    ) -> Step<T> {
        let outcome = {
            let mut state = self.lock();
            *state.calls.entry(kind).or_default() += 1;
            let calls = state.calls_per_operation.entry(operation).or_default();
            *calls += 1;
            let unfinished = *calls < self.steps_per_operation;
            if !state.active.insert(operation) {
                state.overlaps.push(operation);
            }
            match state.queued.get_mut(&kind).and_then(VecDeque::pop_front) {
                Some(outcome) => outcome,
                None if unfinished => Scripted::InProgress(Duration::ZERO),
                None => state.default.get(&kind).cloned().unwrap_or(Scripted::Done),
            }
        };
        // Leaves the operation marked active if the future is dropped mid-step, as a crash would.
        if let Some(gate) = &self.gate
            && let Ok(permit) = gate.acquire().await
        {
            permit.forget();
        }
        if !self.step_delay.is_zero() {
            tokio::time::sleep(self.step_delay).await;
        }
        self.lock().active.remove(&operation);
        match outcome {
            Scripted::Done => Step::Done(done()),
            Scripted::InProgress(retry_after) => {
                Step::in_progress(format!("{} under way", kind.as_str()), retry_after)
            }
            Scripted::Retryable => Step::Failed(StepFailure::retryable(
                Reason::BackendUnavailable,
                format!("{} hit a transient error", kind.as_str()),
            )),
            Scripted::Permanent => Step::Failed(StepFailure::permanent(
                Reason::BackendFailed,
                format!("{} is impossible", kind.as_str()),
            )),
            Scripted::Fails { reason, retryable } => {
                let description = format!("{} failed: {reason}", kind.as_str());
                Step::Failed(if retryable {
                    StepFailure::retryable(reason, description)
                } else {
                    StepFailure::permanent(reason, description)
                })
            }
        }
    }
}

#[async_trait]
impl Backend for TestBackend {
    fn completes_synchronously(&self, _kind: OperationKind) -> bool {
        self.synchronous
    }

    async fn provision(&self, req: &InstanceRequest) -> Step<ProvisionOutput> {
        self.step(OperationKind::Provision, req.operation_id, || {
            ProvisionOutput {
                dashboard_url: Some(format!("https://dashboard.test/{}", req.instance_id)),
            }
        })
        .await
    }

    async fn update(&self, req: &InstanceRequest) -> Step<()> {
        self.step(OperationKind::Update, req.operation_id, || ())
            .await
    }

    async fn deprovision(&self, req: &InstanceRequest) -> Step<()> {
        self.step(OperationKind::Deprovision, req.operation_id, || ())
            .await
    }

    async fn bind(&self, req: &BindRequest) -> Step<Credentials> {
        self.step(OperationKind::Bind, req.operation_id, || {
            let username = format!("u_{}", req.binding_id);
            let password = req.password.expose();
            let database = format!("db_{}", req.instance_id);
            // The key set every real backend hands out, so front doors are tested with it.
            Sensitive::new(BTreeMap::from([
                ("host".to_string(), json!("127.0.0.1")),
                ("port".to_string(), json!(5432)),
                ("database".to_string(), json!(database)),
                ("username".to_string(), json!(username)),
                ("password".to_string(), json!(password)),
                (
                    "uri".to_string(),
                    json!(format!(
                        "postgresql://{username}:{password}@127.0.0.1:5432/{database}"
                    )),
                ),
                (
                    "jdbc_uri".to_string(),
                    json!(format!(
                        "jdbc:postgresql://127.0.0.1:5432/{database}?user={username}&password={password}"
                    )),
                ),
            ]))
        })
        .await
    }

    async fn unbind(&self, req: &UnbindRequest) -> Step<()> {
        self.step(OperationKind::Unbind, req.operation_id, || ())
            .await
    }

    async fn check(&self) -> Result<(), CheckError> {
        match &self.lock().check_error {
            Some(error) => Err(CheckError::unavailable(error.clone())),
            None => Ok(()),
        }
    }
}

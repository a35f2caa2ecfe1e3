//! One backend step for a claimed operation, and the durable record of its outcome.

use std::future::Future;
use std::time::Duration;

use futures::future::{Either, select};
use tracing::field::Empty;
use tracing::{Instrument, debug, info_span, warn};

use crate::core::Core;
use crate::engine::backoff::retry_delay;
use crate::ids::{PlanId, ServiceId};
use crate::model::{Binding, BindingState, Instance, InstanceState};
use crate::operation::{Operation, OperationKind, OperationState, Origin};
use crate::ports::{
    BindRequest, InstanceRequest, ProvisionOutput, Step, StepFailure, StoreError, UnbindRequest,
    Write,
};
use crate::reason::Reason;
use crate::sensitive::Credentials;

/// What became of a claimed operation.
#[derive(Debug)]
pub(crate) enum Ran {
    /// Its new state is stored, with these writes.
    Settled(Box<Operation>, Vec<Write>),
    /// Another worker holds it now; nothing was stored.
    LeaseLost,
}

/// What the step is about, read from the store before calling the backend.
enum Work {
    Provision(InstanceRequest, Instance),
    Update(InstanceRequest, Instance),
    Deprovision(InstanceRequest, Instance),
    Bind(BindRequest, Binding),
    Unbind(UnbindRequest, Binding),
    /// Deprovision or unbind of something already gone: done.
    AlreadyGone,
    /// The operation cannot run (its instance vanished, its plan left the catalog, ...).
    Broken(Reason, String),
}

enum Done {
    Provisioned(ProvisionOutput),
    Bound(Credentials),
    Finished,
}

/// Rows the caller wrote when it started the operation, so the first step need not read them
/// back (a synchronous request steps its operation right after starting it, under its own
/// lease, so nothing can have changed them since).
#[derive(Default)]
pub(crate) struct Written<'a> {
    instance: Option<&'a Instance>,
    binding: Option<&'a Binding>,
}

impl<'a> Written<'a> {
    /// The instance and binding of `op` among `writes`.
    pub(crate) fn among(op: &Operation, writes: &'a [Write]) -> Self {
        let mut written = Self::default();
        for write in writes {
            match write {
                Write::InsertInstance(i) | Write::UpdateInstance(i) if i.id == op.instance_id => {
                    written.instance = Some(i)
                }
                Write::InsertBinding(b) | Write::UpdateBinding(b)
                    if b.instance_id == op.instance_id && Some(&b.id) == op.binding_id.as_ref() =>
                {
                    written.binding = Some(b)
                }
                _ => {}
            }
        }
        written
    }

    /// Also the instance the caller read just before starting the operation (a bind reads it
    /// to check the request), unless the start wrote it.
    pub(crate) fn with_instance(mut self, instance: Option<&'a Instance>) -> Self {
        self.instance = self.instance.or(instance);
        self
    }
}

/// Runs one backend step for `op`, claimed with lease `token`, and stores the outcome.
pub(crate) async fn run_claimed(core: &Core, op: Operation, token: i64) -> Result<Ran, StoreError> {
    run_claimed_after(core, op, token, Written::default()).await
}

/// [`run_claimed`] for an operation whose start wrote `written`.
pub(crate) async fn run_claimed_after(
    core: &Core,
    op: Operation,
    token: i64,
    written: Written<'_>,
) -> Result<Ran, StoreError> {
    let span = info_span!(
        "engine.step",
        operation_id = %op.id,
        kind = op.kind.as_str(),
        origin = op.origin.as_str(),
        door = op.door.as_str(),
        instance_id = %op.instance_id,
        binding_id = op.binding_id.as_ref().map(tracing::field::display),
        attempt = op.attempts,
        state = Empty,
    );
    // A step runs after the request that started it has ended, maybe on another replica: its
    // span joins that request's trace rather than starting one of its own.
    if let Some(parent) = &op.trace_parent {
        core.traces.continue_in(&span, parent);
    }
    let ran = step(core, op, token, written)
        .instrument(span.clone())
        .await;
    if let Ok(Ran::Settled(next, _)) = &ran {
        span.record("state", next.state.as_str());
    }
    ran
}

async fn step(
    core: &Core,
    op: Operation,
    token: i64,
    written: Written<'_>,
) -> Result<Ran, StoreError> {
    let work = prepare(core, &op, written).await?;
    let step = match &work {
        Work::AlreadyGone => Step::Done(Done::Finished),
        Work::Broken(reason, why) => Step::Failed(StepFailure::permanent(*reason, why.clone())),
        _ => match with_lease(core, &op, token, call_backend(core, &op, &work)).await {
            Some(step) => step,
            None => {
                warn!(operation_id = %op.id, "lease lost while the backend step ran; leaving the operation to its new owner");
                return Ok(Ran::LeaseLost);
            }
        },
    };
    let (next, writes, follow_up) = settle_plan(core, op, work, step);
    let settled = core
        .store
        .settle(&next, token, &writes, follow_up.as_ref())
        .await?;
    if !settled {
        warn!(operation_id = %next.id, "lease token went stale before the outcome was stored");
        return Ok(Ran::LeaseLost);
    }
    // Stored once: only the holder of the current lease settles an operation's end.
    if next.state != OperationState::InProgress {
        crate::audit::ended(&next);
    }
    if let Some(follow_up) = &follow_up {
        crate::audit::started(follow_up);
    }
    debug!(operation_id = %next.id, kind = next.kind.as_str(), state = next.state.as_str(), "operation step stored");
    Ok(Ran::Settled(Box::new(next), writes))
}

async fn prepare(core: &Core, op: &Operation, written: Written<'_>) -> Result<Work, StoreError> {
    let gone_is_done = matches!(op.kind, OperationKind::Deprovision | OperationKind::Unbind);
    let instance = match written.instance {
        Some(instance) => Some(instance.clone()),
        None => core.store.instance(&op.instance_id).await?,
    };
    let Some(instance) = instance else {
        return Ok(if gone_is_done {
            Work::AlreadyGone
        } else {
            Work::Broken(
                Reason::NotFound,
                format!("instance {} no longer exists", op.instance_id),
            )
        });
    };
    let spec = match (op.kind, &op.target) {
        (OperationKind::Update, Some(target)) => target.clone(),
        (OperationKind::Update, None) => {
            return Ok(Work::Broken(
                Reason::InvalidState,
                "update operation has no target".into(),
            ));
        }
        _ => instance.spec.clone(),
    };
    let plan = match core.plan_and_backend(&spec) {
        Ok((plan, _)) => plan.clone(),
        Err(why) => return Ok(Work::Broken(why.reason, why.message)),
    };
    let instance_request = |previous| InstanceRequest {
        operation_id: op.id,
        instance_id: op.instance_id.clone(),
        spec: spec.clone(),
        plan: plan.clone(),
        previous,
        deletion_policy: op.deletion_policy,
    };
    let binding = match (&op.binding_id, op.kind.is_binding()) {
        (Some(_), true) if written.binding.is_some() => written.binding.cloned(),
        (Some(id), true) => core.store.binding(&op.instance_id, id).await?,
        (None, true) => {
            return Ok(Work::Broken(
                Reason::InvalidState,
                "binding operation without binding id".into(),
            ));
        }
        _ => None,
    };
    Ok(match op.kind {
        OperationKind::Provision => Work::Provision(instance_request(None), instance),
        OperationKind::Update => {
            Work::Update(instance_request(Some(instance.spec.clone())), instance)
        }
        OperationKind::Deprovision => Work::Deprovision(instance_request(None), instance),
        OperationKind::Bind => match binding {
            Some(binding) => Work::Bind(
                BindRequest {
                    operation_id: op.id,
                    instance_id: op.instance_id.clone(),
                    binding_id: binding.id.clone(),
                    instance: instance.spec.clone(),
                    binding: binding.spec.clone(),
                    plan,
                    password: binding.password.clone(),
                    reset: binding.credentials.is_some(),
                },
                binding,
            ),
            None => Work::Broken(Reason::NotFound, "binding no longer exists".into()),
        },
        OperationKind::Unbind => match binding {
            Some(binding) => Work::Unbind(
                UnbindRequest {
                    operation_id: op.id,
                    instance_id: op.instance_id.clone(),
                    binding_id: binding.id.clone(),
                    instance: instance.spec.clone(),
                    plan,
                    deletion_policy: op.deletion_policy,
                },
                binding,
            ),
            None => Work::AlreadyGone,
        },
    })
}

async fn call_backend(core: &Core, op: &Operation, work: &Work) -> Step<Done> {
    let spec = match work {
        Work::Provision(r, _) | Work::Update(r, _) | Work::Deprovision(r, _) => &r.spec,
        Work::Bind(r, _) => &r.instance,
        Work::Unbind(r, _) => &r.instance,
        Work::AlreadyGone | Work::Broken(..) => return Step::Done(Done::Finished),
    };
    let (plan, backend) = match core.plan_and_backend(spec) {
        Ok(found) => found,
        Err(why) => return Step::Failed(StepFailure::permanent(why.reason, why.message)),
    };
    debug!(operation_id = %op.id, kind = op.kind.as_str(), attempt = op.attempts, "running backend step");
    // The backend's own spans (a Kubernetes request, a statement group) nest in this one.
    let span = info_span!(
        "backend.step",
        otel.name = %format_args!("backend {}", op.kind.as_str()),
        backend = %plan.backend,
        kind = op.kind.as_str(),
        plan_id = %plan.id,
        outcome = Empty,
    );
    let step = call(backend.as_ref(), work).instrument(span.clone()).await;
    span.record(
        "outcome",
        match &step {
            Step::Done(_) => "done",
            Step::InProgress { .. } => "in_progress",
            Step::Failed(f) if f.retryable => "failed_retryable",
            Step::Failed(_) => "failed",
        },
    );
    step
}

async fn call(backend: &dyn crate::ports::Backend, work: &Work) -> Step<Done> {
    match work {
        Work::Provision(r, _) => map(backend.provision(r).await, Done::Provisioned),
        Work::Update(r, _) => map(backend.update(r).await, |()| Done::Finished),
        Work::Deprovision(r, _) => map(backend.deprovision(r).await, |()| Done::Finished),
        Work::Bind(r, _) => map(backend.bind(r).await, Done::Bound),
        Work::Unbind(r, _) => map(backend.unbind(r).await, |()| Done::Finished),
        Work::AlreadyGone | Work::Broken(..) => Step::Done(Done::Finished),
    }
}

fn map<T>(step: Step<T>, f: impl FnOnce(T) -> Done) -> Step<Done> {
    match step {
        Step::Done(v) => Step::Done(f(v)),
        Step::InProgress {
            description,
            retry_after,
        } => Step::InProgress {
            description,
            retry_after,
        },
        Step::Failed(f) => Step::Failed(f),
    }
}

/// Runs `fut` while renewing the lease; `None` if the lease was lost (the step is dropped, which
/// is safe because backend steps are idempotent and resumable).
async fn with_lease<T>(
    core: &Core,
    op: &Operation,
    token: i64,
    fut: impl Future<Output = T>,
) -> Option<T> {
    let lease = core.policy.lease;
    let heartbeat = async {
        let mut last_renewed = core.clock.now();
        loop {
            core.clock.sleep(lease / 3).await;
            let now = core.clock.now();
            match core.store.renew_lease(op.id, token, now + lease).await {
                Ok(true) => last_renewed = now,
                Ok(false) => return,
                Err(e) => {
                    warn!(operation_id = %op.id, error = %e, "could not renew lease");
                    if now >= last_renewed + lease {
                        return;
                    }
                }
            }
        }
    };
    let fut = std::pin::pin!(fut);
    let heartbeat = std::pin::pin!(heartbeat);
    match select(fut, heartbeat).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(((), _)) => None,
    }
}

/// The operation's next state, the writes that go with it and any follow-up operation.
fn settle_plan(
    core: &Core,
    op: Operation,
    work: Work,
    step: Step<Done>,
) -> (Operation, Vec<Write>, Option<Operation>) {
    let now = core.clock.now();
    let mut next = op;
    next.lease = None;
    next.updated_at = now;
    // A platform's operation says why only while a failure stands; an orphan mitigation keeps
    // the reason of the failure it cleans up after (see `progress_text`) until it fails itself.
    let platform = next.origin == Origin::Platform;
    let (reason, failure) = match step {
        Step::Done(done) => {
            next.state = OperationState::Succeeded;
            // A finished clean-up still says what failed before it.
            let text = format!("{} succeeded", next.kind.as_str());
            next.description = Some(progress_text(&next, text));
            if platform {
                next.reason = None;
            }
            let writes = success_writes(&next, work, done, now);
            return (next, writes, None);
        }
        Step::InProgress {
            description,
            retry_after,
        } => {
            next.failures = 0;
            if now >= next.deadline {
                (
                    Reason::DeadlineExceeded,
                    format!("not finished by its deadline; last state: {description}"),
                )
            } else {
                next.description = Some(progress_text(&next, description));
                next.next_attempt_at = (now + retry_after).min(next.deadline);
                if platform {
                    next.reason = None;
                }
                return (next, Vec::new(), None);
            }
        }
        Step::Failed(f) if f.retryable => {
            next.failures += 1;
            if now >= next.deadline {
                (
                    f.reason,
                    format!("{} (gave up at the deadline)", f.description),
                )
            } else {
                let delay = retry_delay(
                    core.policy.backoff_base,
                    core.policy.backoff_max,
                    next.id,
                    next.failures,
                );
                let text = format!(
                    "{} (retry {} in {}s)",
                    f.description,
                    next.failures,
                    delay.as_secs_f64().ceil()
                );
                next.description = Some(progress_text(&next, text));
                next.next_attempt_at = (now + delay).min(next.deadline);
                if platform {
                    next.reason = Some(f.reason);
                }
                return (next, Vec::new(), None);
            }
        }
        Step::Failed(f) => (f.reason, f.description),
    };
    next.state = OperationState::Failed;
    next.description = Some(failure.clone());
    next.reason = Some(reason);
    let (writes, follow_up) = failure_writes(core, &next, work, &failure, now);
    (next, writes, follow_up)
}

fn success_writes(
    op: &Operation,
    work: Work,
    done: Done,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Write> {
    match (work, done) {
        (Work::Provision(_, mut instance), Done::Provisioned(out)) => {
            instance.state = InstanceState::Ready;
            instance.dashboard_url = out.dashboard_url;
            instance.updated_at = now;
            vec![Write::UpdateInstance(instance)]
        }
        (Work::Update(req, mut instance), _) => {
            instance.spec = req.spec;
            instance.updated_at = now;
            vec![Write::UpdateInstance(instance)]
        }
        (Work::Bind(_, mut binding), Done::Bound(credentials)) => {
            binding.state = BindingState::Ready;
            binding.credentials = Some(credentials);
            binding.updated_at = now;
            vec![Write::UpdateBinding(binding)]
        }
        _ => match (op.kind, &op.binding_id) {
            (OperationKind::Deprovision, _) => vec![Write::DeleteInstance(op.instance_id.clone())],
            (OperationKind::Unbind, Some(b)) => {
                vec![Write::DeleteBinding(op.instance_id.clone(), b.clone())]
            }
            _ => Vec::new(),
        },
    }
}

fn failure_writes(
    core: &Core,
    op: &Operation,
    work: Work,
    failure: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> (Vec<Write>, Option<Operation>) {
    let platform = op.origin == Origin::Platform;
    // The follow-up is for what the failed operation made: the instance's or binding's ids.
    let mitigation = |kind, binding_id, ids: (&ServiceId, &PlanId)| {
        let mut follow = core.new_operation(
            kind,
            (Origin::OrphanMitigation, op.door),
            op.instance_id.clone(),
            binding_id,
            ids,
            None,
        );
        follow.description = Some(format!(
            "{} failed: {failure}{MITIGATION_MARK}",
            op.kind.as_str()
        ));
        follow.reason = op.reason;
        follow
    };
    match work {
        Work::Provision(_, mut instance) | Work::Deprovision(_, mut instance) => {
            instance.state = InstanceState::Failed;
            instance.updated_at = now;
            let follow = (op.kind == OperationKind::Provision && platform).then(|| {
                let ids = (&instance.spec.service_id, &instance.spec.plan_id);
                mitigation(OperationKind::Deprovision, None, ids)
            });
            (vec![Write::UpdateInstance(instance)], follow)
        }
        // A password reset of a ready binding that failed: the binding keeps its old
        // credentials (the backend set the new password or did not) and nothing is cleaned up.
        Work::Bind(_, binding) if binding.credentials.is_some() => (Vec::new(), None),
        Work::Bind(_, mut binding) | Work::Unbind(_, mut binding) => {
            binding.state = BindingState::Failed;
            binding.updated_at = now;
            let follow = (op.kind == OperationKind::Bind && platform).then(|| {
                let ids = (&binding.spec.service_id, &binding.spec.plan_id);
                mitigation(OperationKind::Unbind, Some(binding.id.clone()), ids)
            });
            (vec![Write::UpdateBinding(binding)], follow)
        }
        Work::Update(..) | Work::AlreadyGone | Work::Broken(..) => (Vec::new(), None),
    }
}

/// Ends the cause part of an orphan mitigation's description.
const MITIGATION_MARK: &str = "; removing what was made";

/// Progress text for an operation. An orphan mitigation keeps saying what failed before it, so
/// a platform polling the failed provision or bind still reads the cause.
fn progress_text(op: &Operation, progress: String) -> String {
    match (op.origin, op.description.as_deref()) {
        (Origin::OrphanMitigation, Some(previous)) => {
            let cause = previous.split(MITIGATION_MARK).next().unwrap_or(previous);
            format!("{cause}{MITIGATION_MARK}: {progress}")
        }
        _ => progress,
    }
}

/// How long until an in-flight operation is next looked at, for `Retry-After`.
pub(crate) fn retry_after(op: &Operation, now: chrono::DateTime<chrono::Utc>) -> Duration {
    (op.next_attempt_at - now)
        .to_std()
        .unwrap_or_default()
        .max(Duration::from_secs(1))
}

//! Provisioning backends. Every call is an idempotent, resumable step: it looks at what exists,
//! moves it one stretch closer to the goal and reports how far it got. Running a step again, or
//! after a crash half-way, must end in the same state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::catalog::Plan;
use crate::ids::{BindingId, InstanceId, OperationId};
use crate::model::{BindingSpec, InstanceSpec};
use crate::operation::{DeletionPolicy, OperationKind};
use crate::reason::Reason;
use crate::sensitive::{Credentials, Sensitive};
use crate::server::{PlanSize, ServerTarget, Translation, Unsupported};

/// How far a step got.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<T> {
    /// The goal is reached.
    Done(T),
    /// Work continues (a cluster starting, a role being applied); call again after `retry_after`.
    InProgress {
        description: String,
        retry_after: Duration,
    },
    /// The step failed. Retryable failures are tried again with backoff until the deadline.
    Failed(StepFailure),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    /// Why, in the vocabulary every backend maps its failures onto.
    pub reason: Reason,
    /// For a person; must not contain secrets.
    pub description: String,
    pub retryable: bool,
}

impl StepFailure {
    /// Tried again with backoff until the operation's deadline.
    pub fn retryable(reason: Reason, description: impl Into<String>) -> Self {
        Self {
            reason,
            description: description.into(),
            retryable: true,
        }
    }

    /// Ends the operation as failed.
    pub fn permanent(reason: Reason, description: impl Into<String>) -> Self {
        Self {
            reason,
            description: description.into(),
            retryable: false,
        }
    }
}

/// Why [`Backend::check`] failed: the reason (usually [`Reason::BackendUnavailable`]) and what is
/// wrong, for a person (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CheckError {
    pub reason: Reason,
    pub message: String,
}

impl CheckError {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// The backend (or a server behind it) cannot be reached or refuses to work.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Reason::BackendUnavailable, message)
    }
}

impl<T> Step<T> {
    pub fn in_progress(description: impl Into<String>, retry_after: Duration) -> Self {
        Self::InProgress {
            description: description.into(),
            retry_after,
        }
    }
}

/// Provision, update and deprovision get the instance as it should be.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRequest {
    pub operation_id: OperationId,
    pub instance_id: InstanceId,
    /// For an update: the spec being moved to.
    pub spec: InstanceSpec,
    pub plan: Plan,
    /// For an update: the spec the instance has now.
    pub previous: Option<InstanceSpec>,
    /// For a deprovision: `Retain` keeps the instance's databases (as a backend configured to
    /// retain does); `Delete` otherwise.
    pub deletion_policy: DeletionPolicy,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProvisionOutput {
    pub dashboard_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BindRequest {
    pub operation_id: OperationId,
    pub instance_id: InstanceId,
    pub binding_id: BindingId,
    pub instance: InstanceSpec,
    pub binding: BindingSpec,
    pub plan: Plan,
    /// The binding's password, fixed when the binding was requested.
    pub password: Sensitive<String>,
    /// Whether this bind resets the password of a ready binding (the password-reset action),
    /// so a backend can rotate its own secrets of the instance along with it.
    pub reset: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnbindRequest {
    pub operation_id: OperationId,
    pub instance_id: InstanceId,
    pub binding_id: BindingId,
    pub instance: InstanceSpec,
    pub plan: Plan,
    /// `Retain` keeps what holds the binding's data (its own database, if it has one).
    pub deletion_policy: DeletionPolicy,
}

#[async_trait]
pub trait Backend: Send + Sync {
    /// Whether `kind` finishes within one request, so a platform that does not accept
    /// asynchronous operations can still be served.
    fn completes_synchronously(&self, kind: OperationKind) -> bool;

    async fn provision(&self, req: &InstanceRequest) -> Step<ProvisionOutput>;
    async fn update(&self, req: &InstanceRequest) -> Step<()>;
    async fn deprovision(&self, req: &InstanceRequest) -> Step<()>;
    async fn bind(&self, req: &BindRequest) -> Step<Credentials>;
    async fn unbind(&self, req: &UnbindRequest) -> Step<()>;

    /// Whether a binding may come with a database of its own ([`OwnDatabase`]): made by
    /// `bind`, owned by the binding's login, which opens nothing else of the instance, and
    /// dropped by `unbind` (or kept, under the instance's owner, with `Retain`).
    ///
    /// [`OwnDatabase`]: crate::own_database::OwnDatabase
    fn supports_own_database(&self) -> bool {
        false
    }

    /// Whether the backend can be reached; the error says why not (no secrets).
    async fn check(&self) -> Result<(), CheckError>;

    /// What `plan` gives in the sizes a server spec asks for, as far as this backend can tell
    /// from the plan's settings. `None`: its plans are not sized (chosen by class only).
    fn plan_size(&self, _plan: &Plan) -> Option<PlanSize> {
        None
    }

    /// A server spec as provision parameters of `plan` (they must pass the plan's
    /// `instance_create` schema). A field the backend cannot honour is refused by name, never
    /// dropped. The default honours none of them.
    fn server_parameters(
        &self,
        plan: &Plan,
        target: &ServerTarget<'_>,
    ) -> Result<Translation, Unsupported> {
        let fields = target.request.fields_set();
        target.request.refuse_any(&fields, |_| {
            format!(
                "backend {} does not take operator server specs beyond the plan",
                plan.backend
            )
        })?;
        Ok(Translation::default())
    }
}

/// The configured backends, by the name plans use.
#[derive(Clone, Default)]
pub struct BackendRegistry {
    backends: BTreeMap<String, Arc<dyn Backend>>,
}

impl BackendRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, name: impl Into<String>, backend: Arc<dyn Backend>) -> Self {
        self.backends.insert(name.into(), backend);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Backend>> {
        self.backends.get(name)
    }

    pub fn names(&self) -> std::collections::BTreeSet<String> {
        self.backends.keys().cloned().collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<dyn Backend>)> {
        self.backends.iter()
    }
}

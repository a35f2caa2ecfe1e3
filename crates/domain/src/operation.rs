//! Long-running operations: the durable record of work a backend is doing for an instance or binding.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{BindingId, InstanceId, OperationId, PlanId, ServiceId};
use crate::model::InstanceSpec;
use crate::reason::FrontDoor;
use crate::reason::Reason;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    Provision,
    Update,
    Deprovision,
    Bind,
    Unbind,
}

impl OperationKind {
    pub const ALL: [Self; 5] = [
        Self::Provision,
        Self::Update,
        Self::Deprovision,
        Self::Bind,
        Self::Unbind,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provision => "provision",
            Self::Update => "update",
            Self::Deprovision => "deprovision",
            Self::Bind => "bind",
            Self::Unbind => "unbind",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    pub fn is_binding(self) -> bool {
        matches!(self, Self::Bind | Self::Unbind)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    InProgress,
    Succeeded,
    Failed,
}

impl OperationState {
    /// The OSB `state` text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in progress",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "in progress" => Self::InProgress,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// Who asked for an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A platform request.
    Platform,
    /// The broker, cleaning up after a failed provision or bind.
    OrphanMitigation,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::OrphanMitigation => "orphan_mitigation",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "platform" => Self::Platform,
            "orphan_mitigation" => Self::OrphanMitigation,
            _ => return None,
        })
    }
}

/// What a deprovision or unbind does with the data: drop it, or keep it (databases stay, the
/// broker forgets the instance or binding). The operator's `pgbroker.io/deletion-policy: retain`
/// annotation asks for `Retain`; OSB requests use `Delete`. A backend configured to retain keeps
/// the data whatever the request says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeletionPolicy {
    #[default]
    Delete,
    Retain,
}

impl DeletionPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Retain => "retain",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "delete" => Some(Self::Delete),
            "retain" => Some(Self::Retain),
            _ => None,
        }
    }

    pub fn retains(self) -> bool {
        self == Self::Retain
    }
}

/// A worker's claim on an operation. `token` grows with every claim, so a worker whose lease
/// expired and was taken over can no longer write (its token is stale).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub token: i64,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub id: OperationId,
    pub kind: OperationKind,
    pub origin: Origin,
    /// The front door of the instance the operation is for (its owner), so a poll from the
    /// other door is refused without reading the instance, and a door can be told when an
    /// operation of its own ends.
    pub door: FrontDoor,
    pub instance_id: InstanceId,
    pub binding_id: Option<BindingId>,
    /// The service the operation was created for: the instance's, or for a binding operation the
    /// binding's (which bind required to be the instance's). `None` on operations recorded before
    /// the broker kept it; `last_operation` then does not check the `service_id` it is sent.
    pub service_id: Option<ServiceId>,
    /// The plan the operation was created for, as `service_id`; for an update the plan before it
    /// (the new one is in `target`). `None` on older operations, as for `service_id`.
    pub plan_id: Option<PlanId>,
    pub state: OperationState,
    /// Text for a person: progress while in flight, the reason when failed.
    pub description: Option<String>,
    /// Why it failed, machine-readable: set when it failed, and while in flight after a
    /// retryable failure (cleared by progress). An orphan mitigation keeps the reason of the
    /// failure it cleans up after, as its description keeps the cause.
    pub reason: Option<Reason>,
    /// For updates: the spec the instance moves to when the update succeeds.
    pub target: Option<InstanceSpec>,
    /// For deprovisions and unbinds: whether the backend drops the data or keeps it; `Delete`
    /// for every other kind. Stored, so a step after a restart does what was asked.
    pub deletion_policy: DeletionPolicy,
    /// `X-Broker-API-Originating-Identity` of the request, kept for audit.
    pub originating_identity: Option<String>,
    /// W3C `traceparent` of the span that started the operation (see
    /// [`TraceContext`](crate::ports::TraceContext)); its steps' spans continue that trace.
    pub trace_parent: Option<String>,
    /// Backend steps run so far.
    pub attempts: u32,
    /// Retryable failures in a row; drives the backoff.
    pub failures: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// The operation fails if it is not done by then.
    pub deadline: DateTime<Utc>,
    pub lease: Option<Lease>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Operation {
    pub fn is_in_flight(&self) -> bool {
        self.state == OperationState::InProgress
    }
}

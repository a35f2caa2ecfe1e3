//! One machine-readable vocabulary for why something failed, shared by every use case, backend
//! and front door: the operator turns it into condition and Event reasons, both doors into the
//! `failures{reason}` metric label, and the OSB door keeps its own wire format beside it.

use serde::{Deserialize, Serialize};

/// Why a request or an operation did not (yet) succeed. The names are stable: they appear in
/// Kubernetes conditions, Events and metrics, so renaming one breaks users' alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Reason {
    /// The request or spec is malformed or asks for something that does not exist in the catalog.
    InvalidSpec,
    /// No plan on the chosen backend covers what was asked for.
    NoFittingPlan,
    /// The chosen backend cannot honour a field or capability that was asked for.
    Unsupported,
    /// The backend (or a server behind it) cannot be reached or refused to work right now.
    BackendUnavailable,
    /// A limit was reached: servers full, a cloud quota, a database count.
    QuotaExceeded,
    /// The object belongs to someone else: another front door's instance, a Secret or database
    /// pgbroker did not create.
    ForeignObject,
    /// The resource does not exist.
    NotFound,
    /// The resource is already gone.
    Gone,
    /// The same id exists with different attributes.
    Conflict,
    /// Another operation on the same instance is in flight.
    OperationInProgress,
    /// The work cannot finish within the request and the caller did not accept asynchrony.
    AsyncRequired,
    /// `maintenance_info` does not match the catalog.
    MaintenanceInfoConflict,
    /// The resource's state does not allow the request (binding an instance being deleted, ...).
    InvalidState,
    /// The operation ran past its deadline.
    DeadlineExceeded,
    /// The backend reported a failure that fits no narrower reason.
    BackendFailed,
    /// The state store cannot be used right now.
    StateStoreUnavailable,
}

impl Reason {
    pub const ALL: [Self; 16] = [
        Self::InvalidSpec,
        Self::NoFittingPlan,
        Self::Unsupported,
        Self::BackendUnavailable,
        Self::QuotaExceeded,
        Self::ForeignObject,
        Self::NotFound,
        Self::Gone,
        Self::Conflict,
        Self::OperationInProgress,
        Self::AsyncRequired,
        Self::MaintenanceInfoConflict,
        Self::InvalidState,
        Self::DeadlineExceeded,
        Self::BackendFailed,
        Self::StateStoreUnavailable,
    ];

    /// The CamelCase name used in conditions, Events and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidSpec => "InvalidSpec",
            Self::NoFittingPlan => "NoFittingPlan",
            Self::Unsupported => "Unsupported",
            Self::BackendUnavailable => "BackendUnavailable",
            Self::QuotaExceeded => "QuotaExceeded",
            Self::ForeignObject => "ForeignObject",
            Self::NotFound => "NotFound",
            Self::Gone => "Gone",
            Self::Conflict => "Conflict",
            Self::OperationInProgress => "OperationInProgress",
            Self::AsyncRequired => "AsyncRequired",
            Self::MaintenanceInfoConflict => "MaintenanceInfoConflict",
            Self::InvalidState => "InvalidState",
            Self::DeadlineExceeded => "DeadlineExceeded",
            Self::BackendFailed => "BackendFailed",
            Self::StateStoreUnavailable => "StateStoreUnavailable",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which front door created an instance and alone may change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FrontDoor {
    /// The Open Service Broker API (every instance made before doors were recorded).
    #[default]
    Osb,
    /// The Kubernetes operator (PostgreSQLServer objects).
    Operator,
}

impl FrontDoor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Osb => "osb",
            Self::Operator => "operator",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "osb" => Some(Self::Osb),
            "operator" => Some(Self::Operator),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_their_names() {
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(Reason::parse("invalidspec"), None);
    }

    #[test]
    fn doors_round_trip_through_their_names() {
        for door in [FrontDoor::Osb, FrontDoor::Operator] {
            assert_eq!(FrontDoor::parse(door.as_str()), Some(door));
        }
        assert_eq!(FrontDoor::parse("kubernetes"), None);
    }
}

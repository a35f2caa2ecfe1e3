//! The audit trail: one record when an operation starts and one when it ends, as log lines on
//! their own target ([`TARGET`]), whichever door asked. Who asked is told by the door and the
//! platform's user id from `X-Broker-API-Originating-Identity`, never the whole identity (a
//! platform may put anything in it).

use crate::operation::{Operation, Origin};
use crate::reason::FrontDoor;

/// The `tracing` target of audit records, for filters and log routing.
pub const TARGET: &str = "pgbroker::audit";

/// Who asked for an operation, as far as the broker knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    /// `osb`, `operator`, or `broker` for the broker's own clean-up.
    pub actor: &'static str,
    /// The originating identity's platform (`cloudfoundry`, `kubernetes`, ...).
    pub platform: Option<String>,
    /// The platform's user: `user_id` (Cloud Foundry) or `username` (Kubernetes).
    pub user: Option<String>,
}

impl Who {
    pub fn of(op: &Operation) -> Self {
        let actor = match (op.origin, op.door) {
            (Origin::OrphanMitigation, _) => "broker",
            (Origin::Platform, FrontDoor::Osb) => "osb",
            (Origin::Platform, FrontDoor::Operator) => "operator",
        };
        let identity = op
            .originating_identity
            .as_deref()
            .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw).ok());
        let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_owned);
        let platform = text(identity.as_ref().and_then(|i| i.get("platform")));
        let user = identity.as_ref().and_then(|i| {
            let value = i.get("value")?;
            text(value.get("user_id")).or_else(|| text(value.get("username")))
        });
        Self {
            actor,
            platform,
            user,
        }
    }
}

/// Records that `op` was stored as started.
pub(crate) fn started(op: &Operation) {
    record(op, "operation_started", "operation started", false);
}

/// Records that `op` was stored as ended (succeeded or failed).
pub(crate) fn ended(op: &Operation) {
    record(op, "operation_ended", "operation ended", true);
}

/// One audit line about `op`; with `outcome`, its state and reason too.
fn record(op: &Operation, event: &'static str, message: &'static str, outcome: bool) {
    let who = Who::of(op);
    tracing::info!(
        target: TARGET,
        audit = event,
        actor = who.actor,
        platform = who.platform.as_deref(),
        user = who.user.as_deref(),
        operation = op.kind.as_str(),
        operation_id = %op.id,
        instance_id = %op.instance_id,
        binding_id = op.binding_id.as_ref().map(tracing::field::display),
        outcome = outcome.then(|| op.state.as_str()),
        reason = outcome.then(|| op.reason.map(|r| r.as_str())).flatten(),
        "{message}"
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ids::{InstanceId, OperationId};
    use crate::operation::{DeletionPolicy, OperationKind, OperationState};

    fn op(identity: Option<&str>, door: FrontDoor, origin: Origin) -> Operation {
        let now = chrono::Utc::now();
        Operation {
            id: OperationId::new(),
            kind: OperationKind::Provision,
            origin,
            door,
            instance_id: InstanceId::parse("i-1").unwrap(),
            binding_id: None,
            service_id: None,
            plan_id: None,
            state: OperationState::InProgress,
            description: None,
            reason: None,
            target: None,
            deletion_policy: DeletionPolicy::Delete,
            originating_identity: identity.map(str::to_owned),
            trace_parent: None,
            attempts: 0,
            failures: 0,
            next_attempt_at: now,
            deadline: now,
            lease: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn who_is_the_door_and_the_platform_user_never_the_rest_of_the_identity() {
        let cf = r#"{"platform":"cloudfoundry","value":{"user_id":"683ea748","token":"s3cr3t"}}"#;
        let who = Who::of(&op(Some(cf), FrontDoor::Osb, Origin::Platform));
        assert_eq!(
            who,
            Who {
                actor: "osb",
                platform: Some("cloudfoundry".into()),
                user: Some("683ea748".into())
            }
        );
        assert!(!format!("{who:?}").contains("s3cr3t"));
        let k8s = r#"{"platform":"kubernetes","value":{"username":"alice","groups":["a"]}}"#;
        let who = Who::of(&op(Some(k8s), FrontDoor::Osb, Origin::Platform));
        assert_eq!(who.user.as_deref(), Some("alice"));
        let who = Who::of(&op(None, FrontDoor::Operator, Origin::Platform));
        assert_eq!((who.actor, who.user), ("operator", None));
        let who = Who::of(&op(Some(cf), FrontDoor::Osb, Origin::OrphanMitigation));
        assert_eq!(who.actor, "broker");
    }
}

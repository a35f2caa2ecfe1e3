//! `last_operation`: where an asynchronous operation stands, as a platform polls it.

use std::time::Duration;

use crate::engine::step::retry_after;
use crate::ids::{BindingId, InstanceId, OperationId, PlanId, ServiceId};
use crate::operation::{Operation, OperationKind, OperationState, Origin};
use crate::reason::FrontDoor;
use crate::reason::Reason;

use super::binding_ids::accepted_plans;
use super::door::check_operation;
use super::{Broker, BrokerError};

#[derive(Debug, Clone, PartialEq)]
pub struct LastOperationQuery {
    /// The door asking; must be the owner of the operation's instance.
    pub door: FrontDoor,
    pub instance_id: InstanceId,
    /// Set when polling a binding's operation.
    pub binding_id: Option<BindingId>,
    /// The `operation` value the broker returned; the newest operation when absent.
    pub operation: Option<OperationId>,
    /// When sent, must be the service the operation is for.
    pub service_id: Option<ServiceId>,
    /// When sent, must be the plan the operation is for; for an update, the plan before it or
    /// the target plan (platforms send either).
    pub plan_id: Option<PlanId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LastOperation {
    pub operation: OperationId,
    pub kind: OperationKind,
    pub state: OperationState,
    pub description: Option<String>,
    /// Why it failed (or, in flight, why its last step did), machine-readable.
    pub reason: Option<Reason>,
    /// While in progress: when polling again is worthwhile.
    pub retry_after: Option<Duration>,
}

impl Broker {
    #[tracing::instrument(name = "broker.last_operation", skip_all, fields(instance_id = %q.instance_id, binding_id = q.binding_id.as_ref().map(tracing::field::display), operation_id = q.operation.as_ref().map(tracing::field::display)))]
    pub async fn last_operation(
        &self,
        q: LastOperationQuery,
    ) -> Result<LastOperation, BrokerError> {
        let store = &self.core.store;
        let op = match q.operation {
            Some(id) => store
                .operation(id)
                .await?
                .filter(|op| op.instance_id == q.instance_id && op.binding_id == q.binding_id),
            None => {
                store
                    .latest_operation(&q.instance_id, q.binding_id.as_ref())
                    .await?
            }
        };
        let subject = match &q.binding_id {
            Some(b) => format!("binding {b} of instance {}", q.instance_id),
            None => format!("instance {}", q.instance_id),
        };
        let Some(op) = op else {
            return Err(BrokerError::not_found(match q.operation {
                Some(id) => format!("{subject} has no operation {id}"),
                None => format!("{subject} does not exist"),
            }));
        };
        check_operation(&op, q.door)?;
        // A poll may name the instance's current plan, which is not the operation's after a plan
        // change (OSB: the plan "for the Service Instance"; Cloud Foundry reads a binding's plan
        // through its instance): only then is the instance read.
        let instance_plan = match &q.plan_id {
            Some(sent) if !plan_of_operation(&op, sent) => store
                .instance(&q.instance_id)
                .await?
                .map(|i| i.spec.plan_id),
            _ => None,
        };
        check_ids(&op, &q, &subject, instance_plan.as_ref())?;
        let removal = matches!(op.kind, OperationKind::Deprovision | OperationKind::Unbind);
        let named = q.operation.is_some();
        // The platform asked for a removal (or joined the broker's own clean-up): done means gone.
        // Only then does existence matter, so the common poll is one store read.
        if removal
            && op.state == OperationState::Succeeded
            && (named || op.origin == Origin::Platform)
        {
            let exists = match &q.binding_id {
                Some(b) => store.binding(&q.instance_id, b).await?.is_some(),
                None => store.instance(&q.instance_id).await?.is_some(),
            };
            if !exists {
                return Err(BrokerError::gone(format!("{subject} is gone")));
            }
        }
        Ok(self.report(op, named))
    }

    fn report(&self, op: Operation, named: bool) -> LastOperation {
        // Polled without an operation id after a failed provision or bind, the clean-up that
        // followed is reported as what the platform asked for: failed.
        let state = if op.origin == Origin::OrphanMitigation && !named {
            OperationState::Failed
        } else {
            op.state
        };
        let retry_after =
            (state == OperationState::InProgress).then(|| retry_after(&op, self.core.clock.now()));
        LastOperation {
            operation: op.id,
            kind: op.kind,
            state,
            description: op.description,
            reason: op.reason,
            retry_after,
        }
    }
}

/// Whether `sent` is a plan the operation is for: its own, or an update's target.
fn plan_of_operation(op: &Operation, sent: &PlanId) -> bool {
    match &op.plan_id {
        // Recorded before the broker kept the ids: not checked.
        None => true,
        Some(own) => own == sent || op.target.as_ref().map(|t| &t.plan_id) == Some(sent),
    }
}

/// OSB: `service_id` and `plan_id` of a poll are those of the instance (or binding) polled; others
/// make the request malformed. The ids come from the operation itself, so the poll stays one read;
/// a poll may also name the instance's current plan (`instance_plan`, read only when the
/// operation's plan does not match), as after a plan change. An operation recorded before the
/// broker kept the ids has `None`, and that field is not checked.
fn check_ids(
    op: &Operation,
    q: &LastOperationQuery,
    subject: &str,
    instance_plan: Option<&PlanId>,
) -> Result<(), BrokerError> {
    if let (Some(sent), Some(own)) = (&q.service_id, &op.service_id)
        && sent != own
    {
        return Err(BrokerError::bad_request(
            Reason::InvalidSpec,
            format!(
                "service_id {sent} is not the service of {subject}: operation {} is for service_id {own}",
                op.id
            ),
        ));
    }
    if let (Some(sent), Some(own)) = (&q.plan_id, &op.plan_id)
        && !plan_of_operation(op, sent)
    {
        if instance_plan == Some(sent) {
            return Ok(());
        }
        if q.binding_id.is_some() {
            return Err(BrokerError::bad_request(
                Reason::InvalidSpec,
                format!(
                    "plan_id {sent} is not the plan of {subject}: operation {} is for {}",
                    op.id,
                    accepted_plans(own, instance_plan)
                ),
            ));
        }
        let target = op.target.as_ref().map(|t| &t.plan_id);
        let mut expected = match target {
            Some(new) if new != own => format!("plan_id {own} (before the update) or {new}"),
            _ => format!("plan_id {own}"),
        };
        if let Some(current) = instance_plan
            && current != own
            && Some(current) != target
        {
            expected.push_str(&format!(" or {current} (the instance's current plan)"));
        }
        return Err(BrokerError::bad_request(
            Reason::InvalidSpec,
            format!(
                "plan_id {sent} is not the plan of {subject}: operation {} is for {expected}",
                op.id
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::model::InstanceSpec;

    fn op(kind: OperationKind, plan: Option<&str>, target: Option<&str>) -> Operation {
        let now = Utc::now();
        let spec = |plan: &str| InstanceSpec {
            service_id: ServiceId::parse("svc").unwrap(),
            plan_id: PlanId::parse(plan).unwrap(),
            parameters: Default::default(),
            context: Default::default(),
            organization_guid: None,
            space_guid: None,
            maintenance_version: None,
        };
        Operation {
            id: OperationId::new(),
            kind,
            origin: Origin::Platform,
            door: FrontDoor::Osb,
            instance_id: InstanceId::parse("i-1").unwrap(),
            binding_id: None,
            service_id: plan.map(|_| ServiceId::parse("svc").unwrap()),
            plan_id: plan.map(|p| PlanId::parse(p).unwrap()),
            state: OperationState::InProgress,
            description: None,
            reason: None,
            target: target.map(spec),
            deletion_policy: crate::operation::DeletionPolicy::Delete,
            originating_identity: None,
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

    fn query(service: Option<&str>, plan: Option<&str>) -> LastOperationQuery {
        LastOperationQuery {
            door: FrontDoor::Osb,
            instance_id: InstanceId::parse("i-1").unwrap(),
            binding_id: None,
            operation: None,
            service_id: service.map(|s| ServiceId::parse(s).unwrap()),
            plan_id: plan.map(|p| PlanId::parse(p).unwrap()),
        }
    }

    fn check(op: &Operation, service: Option<&str>, plan: Option<&str>) -> Result<(), String> {
        check_ids(op, &query(service, plan), "instance i-1", None).map_err(|e| match e {
            BrokerError::BadRequest(why) => why.message,
            other => panic!("not a bad request: {other:?}"),
        })
    }

    #[test]
    fn ids_of_the_operation_or_none_pass() {
        let provision = op(OperationKind::Provision, Some("small"), None);
        assert_eq!(check(&provision, Some("svc"), Some("small")), Ok(()));
        assert_eq!(check(&provision, None, None), Ok(()));
        assert_eq!(check(&provision, Some("svc"), None), Ok(()));
        assert_eq!(check(&provision, None, Some("small")), Ok(()));
    }

    #[test]
    fn another_service_or_plan_is_a_bad_request_naming_the_field_and_both_ids() {
        let provision = op(OperationKind::Provision, Some("small"), None);
        let why = check(&provision, Some("other-svc"), Some("small")).unwrap_err();
        for word in ["service_id", "other-svc", "svc", "instance i-1"] {
            assert!(why.contains(word), "{word} missing in {why:?}");
        }
        let why = check(&provision, Some("svc"), Some("big")).unwrap_err();
        for word in ["plan_id", "big", "small"] {
            assert!(why.contains(word), "{word} missing in {why:?}");
        }
    }

    #[test]
    fn an_update_accepts_the_plan_before_and_the_target_plan() {
        let update = op(OperationKind::Update, Some("small"), Some("big"));
        assert_eq!(check(&update, Some("svc"), Some("small")), Ok(()));
        assert_eq!(check(&update, Some("svc"), Some("big")), Ok(()));
        let why = check(&update, Some("svc"), Some("huge")).unwrap_err();
        for word in ["plan_id huge", "small", "big"] {
            assert!(why.contains(word), "{word} missing in {why:?}");
        }
    }

    #[test]
    fn operations_recorded_without_ids_are_not_checked() {
        let legacy = op(OperationKind::Update, None, Some("big"));
        assert_eq!(check(&legacy, Some("any-svc"), Some("any-plan")), Ok(()));
    }
}

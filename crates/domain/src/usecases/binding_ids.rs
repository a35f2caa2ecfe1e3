//! The `service_id` and `plan_id` a platform sends about an existing binding (unbind, fetch, the
//! binding's `last_operation`). Cloud Foundry reads the plan through the instance, so after a plan
//! change it sends the instance's current plan, not the one the binding was made under: both name
//! the binding's plan. Anything else makes the request malformed (OSB 400).

use crate::ids::{PlanId, ServiceId};
use crate::reason::Reason;
use crate::usecases::BrokerError;

/// The ids a binding answers to: its service, and the plans it was made under and its instance
/// is on now (`None` when the instance cannot be read, e.g. it is gone).
pub(super) struct BindingIds<'a> {
    /// What the request is about, for the error text: `binding B of instance I`.
    pub subject: &'a str,
    pub service_id: &'a ServiceId,
    pub bound_plan: &'a PlanId,
    pub instance_plan: Option<&'a PlanId>,
}

impl BindingIds<'_> {
    pub fn check_service(&self, sent: &ServiceId) -> Result<(), BrokerError> {
        if sent == self.service_id {
            return Ok(());
        }
        Err(BrokerError::bad_request(
            Reason::InvalidSpec,
            format!(
                "service_id {sent} is not the service of {}: it is service_id {}",
                self.subject, self.service_id
            ),
        ))
    }

    pub fn check_plan(&self, sent: &PlanId) -> Result<(), BrokerError> {
        if sent == self.bound_plan || Some(sent) == self.instance_plan {
            return Ok(());
        }
        Err(BrokerError::bad_request(
            Reason::InvalidSpec,
            format!(
                "plan_id {sent} is not the plan of {}: {}",
                self.subject,
                self.accepted_plans()
            ),
        ))
    }

    pub fn accepted_plans(&self) -> String {
        accepted_plans(self.bound_plan, self.instance_plan)
    }
}

/// The plans a binding answers to, for error texts.
pub(super) fn accepted_plans(bound_plan: &PlanId, instance_plan: Option<&PlanId>) -> String {
    match instance_plan {
        Some(current) if current != bound_plan => format!(
            "plan_id {bound_plan} (the binding was made under it) or {current} (the instance's current plan)"
        ),
        _ => format!("plan_id {bound_plan}"),
    }
}

/// Whether a request sending `plan` needs the instance's current plan to be checked: only when it
/// is not the binding's own, so the common request stays one store read.
pub(super) fn needs_instance_plan(plan: Option<&PlanId>, bound_plan: &PlanId) -> bool {
    plan.is_some_and(|sent| sent != bound_plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::ErrorDetail;

    fn plan(raw: &str) -> PlanId {
        PlanId::parse(raw).unwrap()
    }

    #[test]
    fn the_bound_plan_and_the_instances_current_plan_are_accepted() {
        let (service, small, big) = (ServiceId::parse("svc").unwrap(), plan("small"), plan("big"));
        let ids = BindingIds {
            subject: "binding b of instance i",
            service_id: &service,
            bound_plan: &small,
            instance_plan: Some(&big),
        };
        assert_eq!(ids.check_plan(&small), Ok(()));
        assert_eq!(ids.check_plan(&big), Ok(()));
        assert_eq!(ids.check_service(&service), Ok(()));
        let Err(BrokerError::BadRequest(ErrorDetail { message: why, .. })) =
            ids.check_plan(&plan("huge"))
        else {
            panic!("another plan must be a bad request");
        };
        for word in ["plan_id huge", "binding b of instance i", "small", "big"] {
            assert!(why.contains(word), "{word} missing in {why:?}");
        }
        let Err(BrokerError::BadRequest(ErrorDetail { message: why, .. })) =
            ids.check_service(&ServiceId::parse("other").unwrap())
        else {
            panic!("another service must be a bad request");
        };
        assert!(
            why.contains("service_id other") && why.contains("svc"),
            "{why}"
        );
    }

    #[test]
    fn without_the_instance_only_the_bound_plan_is_accepted() {
        let (service, small) = (ServiceId::parse("svc").unwrap(), plan("small"));
        let ids = BindingIds {
            subject: "binding b of instance i",
            service_id: &service,
            bound_plan: &small,
            instance_plan: None,
        };
        assert_eq!(ids.check_plan(&small), Ok(()));
        assert!(ids.check_plan(&plan("big")).is_err());
        assert!(!needs_instance_plan(Some(&small), &small));
        assert!(!needs_instance_plan(None, &small));
        assert!(needs_instance_plan(Some(&plan("big")), &small));
    }
}

//! The catalog as the front doors see it, and the check that ids a request names are in it.

use crate::catalog::Catalog;
use crate::ids::{PlanId, ServiceId};
use crate::reason::Reason;

use super::{Broker, BrokerError};

impl Broker {
    /// The services and plans on offer.
    pub fn catalog(&self) -> &Catalog {
        &self.core.catalog
    }

    /// Optional `service_id`/`plan_id` a request names must be in the catalog (together: a plan
    /// of that service); see [`check_catalog_ids`].
    pub fn check_catalog_ids(
        &self,
        service_id: Option<&ServiceId>,
        plan_id: Option<&PlanId>,
    ) -> Result<(), BrokerError> {
        check_catalog_ids(&self.core.catalog, service_id, plan_id)
    }
}

/// Optional `service_id`/`plan_id` must name a service, a plan, or a plan of that service in
/// `catalog`; anything else is an invalid spec naming the id.
pub fn check_catalog_ids(
    catalog: &Catalog,
    service_id: Option<&ServiceId>,
    plan_id: Option<&PlanId>,
) -> Result<(), BrokerError> {
    match (service_id, plan_id) {
        (Some(service), Some(plan)) => catalog
            .plan(service, plan)
            .map(|_| ())
            .map_err(BrokerError::from),
        (Some(service), None) => catalog.service(service).map(|_| ()).ok_or_else(|| {
            BrokerError::bad_request(
                Reason::InvalidSpec,
                format!("service_id {service} is not in the catalog"),
            )
            .service(service)
        }),
        (None, Some(plan)) => catalog
            .services()
            .iter()
            .any(|s| s.plans.iter().any(|p| &p.id == plan))
            .then_some(())
            .ok_or_else(|| {
                BrokerError::bad_request(
                    Reason::InvalidSpec,
                    format!("plan_id {plan} is not in the catalog"),
                )
                .plan(plan)
            }),
        (None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;
    use crate::catalog::CatalogDocument;

    fn catalog() -> Catalog {
        let doc: CatalogDocument = serde_json::from_value(json!({"services": [
            {"id": "svc-a", "name": "a", "description": "A", "plans": [
                {"id": "plan-1", "name": "one", "description": "1", "backend": "shared"}
            ]},
            {"id": "svc-b", "name": "b", "description": "B", "plans": [
                {"id": "plan-2", "name": "two", "description": "2", "backend": "shared"}
            ]}
        ]}))
        .unwrap();
        Catalog::load(doc, &BTreeSet::from(["shared".to_string()])).unwrap()
    }

    fn check(service: Option<&str>, plan: Option<&str>) -> Result<(), BrokerError> {
        let service = service.map(|s| ServiceId::parse(s).unwrap());
        let plan = plan.map(|p| PlanId::parse(p).unwrap());
        check_catalog_ids(&catalog(), service.as_ref(), plan.as_ref())
    }

    #[test]
    fn ids_of_the_catalog_or_none_pass() {
        assert_eq!(check(None, None), Ok(()));
        assert_eq!(check(Some("svc-a"), None), Ok(()));
        assert_eq!(check(None, Some("plan-2")), Ok(()));
        assert_eq!(check(Some("svc-a"), Some("plan-1")), Ok(()));
    }

    #[test]
    fn an_id_not_in_the_catalog_is_an_invalid_spec_naming_it() {
        for (service, plan, named) in [
            (Some("nope"), None, "service_id nope"),
            (None, Some("nope"), "plan_id nope"),
            (Some("nope"), Some("plan-1"), "service_id nope"),
            (
                Some("svc-a"),
                Some("plan-2"),
                "does not belong to service_id svc-a",
            ),
        ] {
            let err = check(service, plan).unwrap_err();
            assert!(matches!(err, BrokerError::BadRequest(_)), "{err:?}");
            assert_eq!(err.reason(), Reason::InvalidSpec);
            assert!(err.message().contains(named), "{named} missing in {err}");
            let ids = err.ids();
            assert_eq!(ids.service_id.as_ref().map(|s| s.as_str()), service);
            if service.is_none() || plan == Some("plan-2") {
                assert_eq!(ids.plan_id.as_ref().map(|p| p.as_str()), plan);
            }
        }
    }
}

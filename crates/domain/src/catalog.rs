//! The service catalog: offerings and plans, each plan naming the backend that provisions it.
//!
//! A catalog is read from a [`CatalogDocument`] (any serde format; the app reads YAML) and checked
//! whole before use: a duplicate or dangling id is an error that names it, never a silent fallback.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{InvalidId, PlanId, ServiceId};

/// The catalog as written by an operator, before it is checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogDocument {
    pub services: Vec<ServiceDocument>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDocument {
    pub id: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default = "yes")]
    pub bindable: bool,
    #[serde(default = "yes")]
    pub instances_retrievable: bool,
    #[serde(default = "yes")]
    pub bindings_retrievable: bool,
    #[serde(default)]
    pub allow_context_updates: bool,
    #[serde(default)]
    pub plan_updateable: bool,
    #[serde(default)]
    pub metadata: Option<Value>,
    pub plans: Vec<PlanDocument>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanDocument {
    pub id: String,
    pub name: String,
    pub description: String,
    #[serde(default = "yes")]
    pub free: bool,
    /// Overrides the service's `bindable` when set.
    #[serde(default)]
    pub bindable: Option<bool>,
    /// Overrides the service's `plan_updateable` when set.
    #[serde(default)]
    pub plan_updateable: Option<bool>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub maintenance_info: Option<MaintenanceInfo>,
    /// Seconds a platform should poll before giving up; also the deadline of the plan's operations.
    #[serde(default)]
    pub maximum_polling_duration: Option<u64>,
    /// Name of the configured backend that provisions this plan.
    pub backend: String,
    /// Settings handed to the backend as they are (sizes, versions, ...); the backend checks them.
    #[serde(default)]
    pub settings: Map<String, Value>,
    #[serde(default)]
    pub schemas: PlanSchemas,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceInfo {
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// JSON schemas (draft 2020-12 or 04-07) for the parameters of each request kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSchemas {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_create: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_update: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding_create: Option<Value>,
}

fn yes() -> bool {
    true
}

/// A checked service offering.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: ServiceId,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub requires: Vec<String>,
    pub bindable: bool,
    pub instances_retrievable: bool,
    pub bindings_retrievable: bool,
    pub allow_context_updates: bool,
    pub plan_updateable: bool,
    pub metadata: Option<Value>,
    pub plans: Vec<Plan>,
}

/// A checked plan; `bindable` and `plan_updateable` are already resolved against its service.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    pub description: String,
    pub free: bool,
    pub bindable: bool,
    pub plan_updateable: bool,
    pub metadata: Option<Value>,
    pub maintenance_info: Option<MaintenanceInfo>,
    pub maximum_polling_duration: Option<u64>,
    pub backend: String,
    pub settings: Map<String, Value>,
    pub schemas: PlanSchemas,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog has no services")]
    Empty,
    #[error("catalog: {0}")]
    InvalidId(#[from] InvalidId),
    #[error("catalog: service id {0} is used twice")]
    DuplicateServiceId(String),
    #[error("catalog: service name {0:?} is used twice")]
    DuplicateServiceName(String),
    #[error("catalog: plan id {plan} is used twice (services {first} and {second})")]
    DuplicatePlanId {
        plan: String,
        first: String,
        second: String,
    },
    #[error("catalog: service {service} has two plans named {name:?}")]
    DuplicatePlanName { service: String, name: String },
    #[error("catalog: service {0} has no plans")]
    NoPlans(String),
    #[error(
        "catalog: plan {plan} names backend {backend:?}, which is not configured (configured: {known})"
    )]
    DanglingBackend {
        plan: String,
        backend: String,
        known: String,
    },
    #[error("catalog: plan {plan}: schema {which} must be a JSON object")]
    SchemaNotObject { plan: String, which: &'static str },
    /// OSB defines `metadata` as an object; platforms and generated clients reject anything else.
    #[error("catalog: {what} {id}: metadata must be a JSON object")]
    MetadataNotObject { what: &'static str, id: String },
    #[error("catalog: {what} {id}: {field} must not be empty")]
    EmptyField {
        what: &'static str,
        id: String,
        field: &'static str,
    },
}

/// A checked catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    services: Vec<Service>,
}

impl Catalog {
    /// Checks a document. `backends` are the names of the configured backends; a plan naming any
    /// other is rejected.
    pub fn load(doc: CatalogDocument, backends: &BTreeSet<String>) -> Result<Self, CatalogError> {
        if doc.services.is_empty() {
            return Err(CatalogError::Empty);
        }
        let mut service_ids = BTreeSet::new();
        let mut service_names = BTreeSet::new();
        let mut plan_owner: BTreeMap<String, String> = BTreeMap::new();
        let mut services = Vec::with_capacity(doc.services.len());
        for s in doc.services {
            let id = ServiceId::parse(s.id.clone())?;
            non_empty("service", &s.id, "name", &s.name)?;
            non_empty("service", &s.id, "description", &s.description)?;
            if !service_ids.insert(s.id.clone()) {
                return Err(CatalogError::DuplicateServiceId(s.id));
            }
            if !service_names.insert(s.name.clone()) {
                return Err(CatalogError::DuplicateServiceName(s.name));
            }
            if s.plans.is_empty() {
                return Err(CatalogError::NoPlans(s.id));
            }
            metadata_is_object("service", &s.id, s.metadata.as_ref())?;
            let mut plan_names = BTreeSet::new();
            let mut plans = Vec::with_capacity(s.plans.len());
            for p in s.plans {
                let plan_id = PlanId::parse(p.id.clone())?;
                non_empty("plan", &p.id, "name", &p.name)?;
                non_empty("plan", &p.id, "description", &p.description)?;
                metadata_is_object("plan", &p.id, p.metadata.as_ref())?;
                if let Some(first) = plan_owner.insert(p.id.clone(), s.id.clone()) {
                    return Err(CatalogError::DuplicatePlanId {
                        plan: p.id,
                        first,
                        second: s.id,
                    });
                }
                if !plan_names.insert(p.name.clone()) {
                    return Err(CatalogError::DuplicatePlanName {
                        service: s.id,
                        name: p.name,
                    });
                }
                if !backends.contains(&p.backend) {
                    return Err(CatalogError::DanglingBackend {
                        plan: p.id,
                        backend: p.backend,
                        known: backends.iter().cloned().collect::<Vec<_>>().join(", "),
                    });
                }
                for (which, schema) in [
                    ("instance_create", &p.schemas.instance_create),
                    ("instance_update", &p.schemas.instance_update),
                    ("binding_create", &p.schemas.binding_create),
                ] {
                    if schema.as_ref().is_some_and(|v| !v.is_object()) {
                        return Err(CatalogError::SchemaNotObject { plan: p.id, which });
                    }
                }
                plans.push(Plan {
                    id: plan_id,
                    name: p.name,
                    description: p.description,
                    free: p.free,
                    bindable: p.bindable.unwrap_or(s.bindable),
                    plan_updateable: p.plan_updateable.unwrap_or(s.plan_updateable),
                    metadata: p.metadata,
                    maintenance_info: p.maintenance_info,
                    maximum_polling_duration: p.maximum_polling_duration,
                    backend: p.backend,
                    settings: p.settings,
                    schemas: p.schemas,
                });
            }
            services.push(Service {
                id,
                name: s.name,
                description: s.description,
                tags: s.tags,
                requires: s.requires,
                bindable: s.bindable,
                instances_retrievable: s.instances_retrievable,
                bindings_retrievable: s.bindings_retrievable,
                allow_context_updates: s.allow_context_updates,
                plan_updateable: s.plan_updateable,
                metadata: s.metadata,
                plans,
            });
        }
        Ok(Self { services })
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }

    pub fn service(&self, id: &ServiceId) -> Option<&Service> {
        self.services.iter().find(|s| &s.id == id)
    }

    /// The plan `plan_id` of service `service_id`, or which of the two is wrong.
    pub fn plan(
        &self,
        service_id: &ServiceId,
        plan_id: &PlanId,
    ) -> Result<(&Service, &Plan), PlanLookupError> {
        let service = self
            .service(service_id)
            .ok_or_else(|| PlanLookupError::UnknownService(service_id.clone()))?;
        if let Some(plan) = service.plans.iter().find(|p| &p.id == plan_id) {
            return Ok((service, plan));
        }
        let elsewhere = self
            .services
            .iter()
            .any(|s| s.plans.iter().any(|p| &p.id == plan_id));
        Err(if elsewhere {
            PlanLookupError::PlanOfAnotherService {
                plan: plan_id.clone(),
                service: service_id.clone(),
            }
        } else {
            PlanLookupError::UnknownPlan(plan_id.clone())
        })
    }

    /// The catalog with each bindable plan's bind schema offering the `database` parameter
    /// (a database of the binding's own) exactly when `supports` says the plan's backend can
    /// make one; see [`OwnDatabase::in_bind_schema`].
    ///
    /// [`OwnDatabase::in_bind_schema`]: crate::own_database::OwnDatabase::in_bind_schema
    pub fn offering_own_databases(mut self, supports: impl Fn(&str) -> bool) -> Self {
        for plan in self.services.iter_mut().flat_map(|s| s.plans.iter_mut()) {
            let offered = plan.bindable && supports(&plan.backend);
            plan.schemas.binding_create = crate::own_database::OwnDatabase::in_bind_schema(
                plan.schemas.binding_create.take(),
                offered,
            );
        }
        self
    }

    /// Names of the backends the catalog's plans use.
    pub fn backends(&self) -> BTreeSet<&str> {
        self.services
            .iter()
            .flat_map(|s| s.plans.iter().map(|p| p.backend.as_str()))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanLookupError {
    #[error("service_id {0} is not in the catalog")]
    UnknownService(ServiceId),
    #[error("plan_id {0} is not in the catalog")]
    UnknownPlan(PlanId),
    #[error("plan_id {plan} does not belong to service_id {service}")]
    PlanOfAnotherService { plan: PlanId, service: ServiceId },
}

fn metadata_is_object(
    what: &'static str,
    id: &str,
    metadata: Option<&Value>,
) -> Result<(), CatalogError> {
    match metadata {
        Some(value) if !value.is_object() => Err(CatalogError::MetadataNotObject {
            what,
            id: id.to_string(),
        }),
        _ => Ok(()),
    }
}

fn non_empty(
    what: &'static str,
    id: &str,
    field: &'static str,
    value: &str,
) -> Result<(), CatalogError> {
    if value.trim().is_empty() {
        return Err(CatalogError::EmptyField {
            what,
            id: id.to_string(),
            field,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn backends() -> BTreeSet<String> {
        ["cnpg".to_string(), "shared".to_string()].into()
    }

    fn doc(value: Value) -> CatalogDocument {
        serde_json::from_value(value).expect("test document parses")
    }

    fn two_services() -> Value {
        json!({"services": [
            {"id": "svc-a", "name": "a", "description": "A", "plans": [
                {"id": "plan-1", "name": "one", "description": "1", "backend": "cnpg"},
                {"id": "plan-2", "name": "two", "description": "2", "backend": "cnpg", "bindable": false}
            ]},
            {"id": "svc-b", "name": "b", "description": "B", "plan_updateable": true, "plans": [
                {"id": "plan-3", "name": "one", "description": "3", "backend": "shared"}
            ]}
        ]})
    }

    #[test]
    fn loads_and_resolves_plan_flags() {
        let catalog = Catalog::load(doc(two_services()), &backends()).expect("valid");
        let svc_a = ServiceId::parse("svc-a").unwrap();
        let (_, p2) = catalog
            .plan(&svc_a, &PlanId::parse("plan-2").unwrap())
            .unwrap();
        assert!(!p2.bindable);
        assert!(!p2.plan_updateable);
        let svc_b = ServiceId::parse("svc-b").unwrap();
        let (_, p3) = catalog
            .plan(&svc_b, &PlanId::parse("plan-3").unwrap())
            .unwrap();
        assert!(p3.bindable && p3.plan_updateable);
    }

    #[test]
    fn lookup_says_which_part_is_wrong() {
        let catalog = Catalog::load(doc(two_services()), &backends()).unwrap();
        let svc_a = ServiceId::parse("svc-a").unwrap();
        let err = catalog
            .plan(&svc_a, &PlanId::parse("plan-3").unwrap())
            .unwrap_err();
        assert!(matches!(err, PlanLookupError::PlanOfAnotherService { .. }));
        let err = catalog
            .plan(&svc_a, &PlanId::parse("nope").unwrap())
            .unwrap_err();
        assert_eq!(err.to_string(), "plan_id nope is not in the catalog");
        let err = catalog
            .plan(
                &ServiceId::parse("x").unwrap(),
                &PlanId::parse("plan-1").unwrap(),
            )
            .unwrap_err();
        assert!(matches!(err, PlanLookupError::UnknownService(_)));
    }

    #[test]
    fn duplicate_plan_id_is_named() {
        let mut v = two_services();
        v["services"][1]["plans"][0]["id"] = json!("plan-1");
        let err = Catalog::load(doc(v), &backends()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "catalog: plan id plan-1 is used twice (services svc-a and svc-b)"
        );
    }

    #[test]
    fn duplicate_service_id_and_names_are_named() {
        let mut v = two_services();
        v["services"][1]["id"] = json!("svc-a");
        let err = Catalog::load(doc(v), &backends()).unwrap_err();
        assert_eq!(err, CatalogError::DuplicateServiceId("svc-a".into()));

        let mut v = two_services();
        v["services"][1]["name"] = json!("a");
        let err = Catalog::load(doc(v), &backends()).unwrap_err();
        assert_eq!(err, CatalogError::DuplicateServiceName("a".into()));

        let mut v = two_services();
        v["services"][0]["plans"][1]["name"] = json!("one");
        let err = Catalog::load(doc(v), &backends()).unwrap_err();
        assert!(err.to_string().contains("two plans named \"one\""), "{err}");
    }

    #[test]
    fn dangling_backend_is_named() {
        let mut v = two_services();
        v["services"][0]["plans"][0]["backend"] = json!("rds");
        let err = Catalog::load(doc(v), &backends()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "catalog: plan plan-1 names backend \"rds\", which is not configured (configured: cnpg, shared)"
        );
    }

    #[test]
    fn rejects_bad_ids_empty_parts_and_bad_schemas() {
        let mut v = two_services();
        v["services"][0]["plans"][0]["id"] = json!("bad id");
        assert!(matches!(
            Catalog::load(doc(v), &backends()),
            Err(CatalogError::InvalidId(_))
        ));
        let mut v = two_services();
        v["services"][0]["plans"] = json!([]);
        assert_eq!(
            Catalog::load(doc(v), &backends()).unwrap_err(),
            CatalogError::NoPlans("svc-a".into())
        );
        let mut v = two_services();
        v["services"][0]["plans"][0]["schemas"] = json!({"instance_create": "string"});
        assert!(matches!(
            Catalog::load(doc(v), &backends()),
            Err(CatalogError::SchemaNotObject { .. })
        ));
        assert_eq!(
            Catalog::load(doc(json!({"services": []})), &backends()).unwrap_err(),
            CatalogError::Empty
        );
    }

    #[test]
    fn metadata_must_be_an_object_and_the_error_names_where() {
        let mut v = two_services();
        v["services"][0]["plans"][0]["metadata"] = json!("shiny");
        let err = Catalog::load(doc(v), &backends()).unwrap_err();
        let plan = two_services()["services"][0]["plans"][0]["id"].clone();
        assert_eq!(
            err.to_string(),
            format!(
                "catalog: plan {}: metadata must be a JSON object",
                plan.as_str().unwrap_or_default()
            )
        );
        let mut v = two_services();
        v["services"][1]["metadata"] = json!([1, 2]);
        assert!(matches!(
            Catalog::load(doc(v), &backends()),
            Err(CatalogError::MetadataNotObject {
                what: "service",
                ..
            })
        ));
        let mut v = two_services();
        v["services"][0]["metadata"] = json!({"displayName": "A"});
        assert!(Catalog::load(doc(v), &backends()).is_ok());
    }

    #[test]
    fn unknown_fields_are_rejected_in_the_document() {
        let mut v = two_services();
        v["services"][0]["plans"][0]["bakend"] = json!("cnpg");
        assert!(serde_json::from_value::<CatalogDocument>(v).is_err());
    }
}

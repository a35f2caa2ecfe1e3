//! `GET /v2/catalog` as the OSB spec shapes it (backend names and settings stay inside).

use pgbroker_domain::catalog::MaintenanceInfo as DomainMaintenanceInfo;
use pgbroker_domain::{Catalog, Plan, Service};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CatalogResponse {
    pub services: Vec<ServiceOffering>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServiceOffering {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub requires: Vec<String>,
    pub bindable: bool,
    pub instances_retrievable: bool,
    pub bindings_retrievable: bool,
    pub allow_context_updates: bool,
    pub plan_updateable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    pub plans: Vec<ServicePlan>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServicePlan {
    pub id: String,
    pub name: String,
    pub description: String,
    pub free: bool,
    pub bindable: bool,
    pub plan_updateable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_info: Option<MaintenanceInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_polling_duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schemas: Option<Schemas>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MaintenanceInfo {
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Schemas {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_instance: Option<InstanceSchemas>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_binding: Option<BindingSchemas>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct InstanceSchemas {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<ParametersSchema>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<ParametersSchema>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct BindingSchemas {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<ParametersSchema>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ParametersSchema {
    /// A JSON schema the request's `parameters` must match.
    #[schema(value_type = Object)]
    pub parameters: Value,
}

impl From<&DomainMaintenanceInfo> for MaintenanceInfo {
    fn from(m: &DomainMaintenanceInfo) -> Self {
        Self {
            version: m.version.clone(),
            description: m.description.clone(),
        }
    }
}

fn parameters(schema: &Option<Value>) -> Option<ParametersSchema> {
    schema.as_ref().map(|s| ParametersSchema {
        parameters: s.clone(),
    })
}

impl From<&Plan> for ServicePlan {
    fn from(p: &Plan) -> Self {
        let instance = InstanceSchemas {
            create: parameters(&p.schemas.instance_create),
            update: parameters(&p.schemas.instance_update),
        };
        let binding = BindingSchemas {
            create: parameters(&p.schemas.binding_create),
        };
        let schemas = Schemas {
            service_instance: (instance.create.is_some() || instance.update.is_some())
                .then_some(instance),
            service_binding: binding.create.is_some().then_some(binding),
        };
        Self {
            id: p.id.to_string(),
            name: p.name.clone(),
            description: p.description.clone(),
            free: p.free,
            bindable: p.bindable,
            plan_updateable: p.plan_updateable,
            metadata: p.metadata.clone(),
            maintenance_info: p.maintenance_info.as_ref().map(Into::into),
            maximum_polling_duration: p.maximum_polling_duration,
            schemas: (schemas.service_instance.is_some() || schemas.service_binding.is_some())
                .then_some(schemas),
        }
    }
}

impl From<&Service> for ServiceOffering {
    fn from(s: &Service) -> Self {
        Self {
            id: s.id.to_string(),
            name: s.name.clone(),
            description: s.description.clone(),
            tags: s.tags.clone(),
            requires: s.requires.clone(),
            bindable: s.bindable,
            instances_retrievable: s.instances_retrievable,
            bindings_retrievable: s.bindings_retrievable,
            allow_context_updates: s.allow_context_updates,
            plan_updateable: s.plan_updateable,
            metadata: s.metadata.clone(),
            plans: s.plans.iter().map(Into::into).collect(),
        }
    }
}

impl From<&Catalog> for CatalogResponse {
    fn from(c: &Catalog) -> Self {
        Self {
            services: c.services().iter().map(Into::into).collect(),
        }
    }
}

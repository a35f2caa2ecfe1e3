//! Service binding requests and responses.

use pgbroker_domain::{JsonObject, PlanId, ServiceId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `PUT /v2/service_instances/{instance_id}/service_bindings/{binding_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BindRequest {
    #[schema(value_type = String)]
    pub service_id: ServiceId,
    #[schema(value_type = String)]
    pub plan_id: PlanId,
    /// Deprecated in favour of `bind_resource.app_guid`.
    #[serde(default)]
    pub app_guid: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub bind_resource: Option<JsonObject>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<JsonObject>,
    /// Must match the plan's `schemas.service_binding.create` schema.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<JsonObject>,
}

/// Database connection details of a binding: `host`, `port`, `database`, `username`,
/// `password`, `uri`, `jdbc_uri`, and where the backend has them `ro_*`, `pooler_*`,
/// `ca_cert`, `sslmode`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BindResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<JsonObject>,
    /// Poll the binding's `last_operation` with this value (202 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

/// `GET .../service_bindings/{binding_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BindingResponse {
    #[schema(value_type = Object)]
    pub credentials: JsonObject,
    #[schema(value_type = Object)]
    pub parameters: JsonObject,
    #[schema(value_type = Object)]
    pub context: JsonObject,
}

//! Service instance requests and responses.

use pgbroker_domain::{JsonObject, PlanId, ServiceId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A string field OSB says "MUST be a non-empty string".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NonEmptyString(String);

impl TryFrom<String> for NonEmptyString {
    type Error = &'static str;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        if raw.is_empty() {
            Err("must be a non-empty string")
        } else {
            Ok(Self(raw))
        }
    }
}

impl From<NonEmptyString> for String {
    fn from(value: NonEmptyString) -> String {
        value.0
    }
}

/// `maintenance_info` in a request: only the version matters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MaintenanceInfoRequest {
    pub version: String,
}

/// `PUT /v2/service_instances/{instance_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProvisionRequest {
    #[schema(value_type = String)]
    pub service_id: ServiceId,
    #[schema(value_type = String)]
    pub plan_id: PlanId,
    /// Where the instance lives on the platform (Cloud Foundry organization/space, Kubernetes
    /// namespace/cluster id, ...); stored and returned by GET.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<JsonObject>,
    /// The platform's organization for the instance. Deprecated in favour of `context`, but
    /// still required by OSB 2.17: a request without it is 400.
    #[schema(value_type = String, min_length = 1)]
    pub organization_guid: NonEmptyString,
    /// The platform's space for the instance. Deprecated in favour of `context`, but still
    /// required by OSB 2.17: a request without it is 400.
    #[schema(value_type = String, min_length = 1)]
    pub space_guid: NonEmptyString,
    /// Must match the plan's `schemas.service_instance.create` schema.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<JsonObject>,
    #[serde(default)]
    pub maintenance_info: Option<MaintenanceInfoRequest>,
}

/// `previous_values` of an update; informational, the broker knows the current values.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PreviousValues {
    #[serde(default)]
    pub service_id: Option<String>,
    #[serde(default)]
    pub plan_id: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub space_id: Option<String>,
    #[serde(default)]
    pub maintenance_info: Option<MaintenanceInfoRequest>,
}

/// `PATCH /v2/service_instances/{instance_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpdateRequest {
    #[schema(value_type = String)]
    pub service_id: ServiceId,
    /// A new plan; absent keeps the current one.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub plan_id: Option<PlanId>,
    /// Parameters to change, merged over the current ones; `null` removes a key.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<JsonObject>,
    /// Replaces the stored context.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<JsonObject>,
    #[serde(default)]
    pub previous_values: Option<PreviousValues>,
    #[serde(default)]
    pub maintenance_info: Option<MaintenanceInfoRequest>,
}

/// Answer to provision and update.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct InstanceOperationResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
    /// Poll `last_operation` with this value (202 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

/// Answer to deprovision and unbind.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AsyncOperationResponse {
    /// Poll `last_operation` with this value (202 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

/// `GET /v2/service_instances/{instance_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InstanceResponse {
    pub service_id: String,
    pub plan_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
    #[schema(value_type = Object)]
    pub parameters: JsonObject,
    /// The platform context the instance was provisioned (or last updated) with.
    #[schema(value_type = Object)]
    pub context: JsonObject,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_info: Option<MaintenanceInfoRequest>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum LastOperationState {
    #[serde(rename = "in progress")]
    InProgress,
    #[serde(rename = "succeeded")]
    Succeeded,
    #[serde(rename = "failed")]
    Failed,
}

/// `GET .../last_operation`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LastOperationResponse {
    pub state: LastOperationState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `accepts_incomplete` of PUT and PATCH.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsyncQuery {
    /// The platform polls `last_operation`; without it, a backend that cannot finish within
    /// the request answers 422 AsyncRequired.
    #[serde(default)]
    pub accepts_incomplete: Option<bool>,
}

/// Query of DELETE.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    #[param(value_type = String)]
    pub service_id: ServiceId,
    #[param(value_type = String)]
    pub plan_id: PlanId,
    #[serde(default)]
    pub accepts_incomplete: Option<bool>,
}

/// Optional query of GET: when given, they must name a plan of the catalog.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FetchQuery {
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub service_id: Option<ServiceId>,
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub plan_id: Option<PlanId>,
}

/// Query of `last_operation`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LastOperationQuery {
    /// When given: a catalog service, the polled instance's or binding's; else 400.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub service_id: Option<ServiceId>,
    /// When given: a catalog plan, the polled operation's (an update's old or new); else 400.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    pub plan_id: Option<PlanId>,
    /// The `operation` value of the 202 answer being polled.
    #[serde(default)]
    pub operation: Option<String>,
}

//! Service instances and bindings as the broker records them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{BindingId, InstanceId, PlanId, ServiceId};
use crate::reason::FrontDoor;
use crate::sensitive::{Credentials, Sensitive};

/// JSON object of request parameters or platform context.
pub type JsonObject = Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    /// Provision under way.
    Provisioning,
    /// Provisioned; updates and bindings may run.
    Ready,
    /// Provision failed; orphan mitigation removes what the backend made.
    Failed,
    /// Deprovision under way.
    Deprovisioning,
}

impl InstanceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Deprovisioning => "deprovisioning",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "provisioning" => Self::Provisioning,
            "ready" => Self::Ready,
            "failed" => Self::Failed,
            "deprovisioning" => Self::Deprovisioning,
            _ => return None,
        })
    }
}

/// What a platform asked for when it created or last updated an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceSpec {
    pub service_id: ServiceId,
    pub plan_id: PlanId,
    pub parameters: JsonObject,
    /// OSB `context` (platform, organization/space or namespace, ...), as sent.
    pub context: JsonObject,
    pub organization_guid: Option<String>,
    pub space_guid: Option<String>,
    /// `maintenance_info.version` the instance runs at.
    pub maintenance_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: InstanceId,
    pub spec: InstanceSpec,
    pub state: InstanceState,
    /// The front door that created the instance; only it may change, bind or read it.
    pub owner: FrontDoor,
    pub dashboard_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindingState {
    Binding,
    Ready,
    Failed,
    Unbinding,
}

impl BindingState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Binding => "binding",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Unbinding => "unbinding",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "binding" => Self::Binding,
            "ready" => Self::Ready,
            "failed" => Self::Failed,
            "unbinding" => Self::Unbinding,
            _ => return None,
        })
    }
}

/// What a platform asked for when it created a binding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BindingSpec {
    pub service_id: ServiceId,
    pub plan_id: PlanId,
    pub parameters: JsonObject,
    pub context: JsonObject,
    /// OSB `bind_resource` (app_guid, route, ...), as sent.
    pub bind_resource: JsonObject,
}

impl BindingSpec {
    /// The database of its own this binding asks for (the `database` parameter), if any.
    pub fn own_database(
        &self,
    ) -> Result<Option<crate::own_database::OwnDatabase>, crate::own_database::InvalidOwnDatabase>
    {
        crate::own_database::OwnDatabase::from_parameters(&self.parameters)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub id: BindingId,
    pub instance_id: InstanceId,
    pub spec: BindingSpec,
    pub state: BindingState,
    /// Password chosen when the binding was requested, so every retried bind step sets the same one.
    pub password: Sensitive<String>,
    /// Set once the bind step is done.
    pub credentials: Option<Credentials>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

//! What a request asks of the DB: the plan's settings (class, storage and its growth ceiling,
//! Multi-AZ, backup retention, engine major) and the instance's parameters, merged and checked
//! before any API call, so a mistake fails at once with a message naming the field.

use std::collections::BTreeMap;

use pgbroker_domain::ports::InstanceRequest;
use pgbroker_domain::{JsonObject, Plan};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::AwsError;
use super::settings::{AwsSettings, ClassSettings};

/// `settings` of a plan on an AWS backend.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// A key of the backend's `classes`; default: its `default_class`.
    #[serde(default)]
    pub class: Option<String>,
    /// Allocated storage in GiB (RDS; Aurora storage grows by itself).
    #[serde(default = "default_storage_gb")]
    pub storage_gb: u32,
    /// Ceiling of RDS storage autoscaling (`MaxAllocatedStorage`); none: no autoscaling.
    #[serde(default)]
    pub max_storage_gb: Option<u32>,
    /// A standby in another availability zone (HA plans).
    #[serde(default)]
    pub multi_az: bool,
    #[serde(default = "default_retention")]
    pub backup_retention_days: u32,
    /// PostgreSQL major version.
    #[serde(default = "default_major")]
    pub postgres_version: u32,
}

fn default_storage_gb() -> u32 {
    20
}

fn default_retention() -> u32 {
    7
}

fn default_major() -> u32 {
    17
}

/// Parameters of a provision or update on an AWS backend.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceParameters {
    /// Extensions to create in the database, from the backend's allow-list.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Server parameters (DB parameter group), from the backend's `parameters` allow-list.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// More storage than the plan's (GiB).
    #[serde(default)]
    pub storage_gb: Option<u32>,
    #[serde(default)]
    pub postgres_version: Option<u32>,
    #[serde(default)]
    pub multi_az: Option<bool>,
    #[serde(default)]
    pub backup_retention_days: Option<u32>,
}

/// The DB as the request wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub class_name: String,
    pub class: ClassSettings,
    pub storage_gb: i32,
    pub max_storage_gb: Option<i32>,
    pub multi_az: bool,
    pub backup_retention_days: i32,
    pub major: u32,
    pub parameters: BTreeMap<String, String>,
    pub extensions: Vec<String>,
}

pub fn parse<T: DeserializeOwned>(what: &str, object: &JsonObject) -> Result<T, String> {
    let value = serde_json::Value::Object(object.clone());
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("{what}: {}", e.inner())
        } else {
            format!("{what}.{path}: {}", e.inner())
        }
    })
}

pub fn plan_settings(plan: &Plan) -> Result<PlanSettings, AwsError> {
    parse(&format!("plan {} settings", plan.name), &plan.settings).map_err(AwsError::invalid)
}

impl Desired {
    pub fn of(settings: &AwsSettings, req: &InstanceRequest) -> Result<Self, AwsError> {
        let id = &req.instance_id;
        let plan = plan_settings(&req.plan)?;
        let params: InstanceParameters = parse("parameters", &req.spec.parameters)
            .map_err(|e| AwsError::invalid(format!("instance {id}: {e}")))?;
        let class_name = plan
            .class
            .clone()
            .unwrap_or_else(|| settings.default_class.clone());
        let class = settings.classes.get(&class_name).cloned().ok_or_else(|| {
            AwsError::invalid(format!(
                "instance {id}: plan {} asks for class {class_name:?}, which is not one of the backend's classes ({})",
                req.plan.name,
                settings.classes.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        if let Some(why) = crate::shared::server_spec::disallowed(
            params.parameters.keys(),
            &settings.parameters,
            &params.extensions,
            &settings.extensions,
        ) {
            return Err(AwsError::permanent(
                pgbroker_domain::Reason::Unsupported,
                format!("instance {id}: {why}"),
            ));
        }
        let storage_gb = params.storage_gb.unwrap_or(0).max(plan.storage_gb);
        let max_storage_gb = plan.max_storage_gb;
        if let Some(max) = max_storage_gb
            && max < storage_gb
        {
            return Err(AwsError::invalid(format!(
                "instance {id}: plan {} has max_storage_gb {max} below the storage asked for ({storage_gb} GiB)",
                req.plan.name
            )));
        }
        let gib = |v: u32| {
            i32::try_from(v)
                .map_err(|_| AwsError::invalid(format!("instance {id}: {v} GiB is too much")))
        };
        Ok(Self {
            class_name,
            class,
            storage_gb: gib(storage_gb)?,
            max_storage_gb: max_storage_gb.map(gib).transpose()?,
            multi_az: params.multi_az.unwrap_or(plan.multi_az),
            backup_retention_days: gib(params
                .backup_retention_days
                .unwrap_or(plan.backup_retention_days))?,
            major: params.postgres_version.unwrap_or(plan.postgres_version),
            parameters: params.parameters,
            extensions: params.extensions,
        })
    }

    /// The parameter group family of the engine (`postgres17`, `aurora-postgresql17`).
    pub fn family(&self, aurora: bool) -> String {
        if aurora {
            format!("aurora-postgresql{}", self.major)
        } else {
            format!("postgres{}", self.major)
        }
    }
}

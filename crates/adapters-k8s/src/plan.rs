//! What a plan and a request ask for: sizes from `Plan.settings`, choices from the request's
//! `parameters`. Both are parsed strictly, so a typo is an error that names it.

use std::collections::BTreeMap;

use pgbroker_domain::{InstanceId, JsonObject, Plan, Reason};
use serde::{Deserialize, Serialize};

use crate::settings::CnpgSettings;

/// Per-plan settings of a `cloudnative-pg` plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// PostgreSQL instances (1 = no replicas). Above 1 the plan is highly available: instances
    /// are spread over nodes and a PgBouncer pooler is added.
    pub instances: u32,
    /// CPU request, a Kubernetes quantity (`500m`, `2`).
    pub cpu: String,
    /// Memory request (`512Mi`).
    pub memory: String,
    /// CPU limit; the request when unset.
    #[serde(default)]
    pub cpu_limit: Option<String>,
    /// Memory limit; the request when unset (PostgreSQL should not be OOM-killed by surprise).
    #[serde(default)]
    pub memory_limit: Option<String>,
    /// Volume size (`10Gi`). Plan changes may only grow it.
    pub storage: String,
    /// Major version when the request names none; the backend's default when unset.
    #[serde(default)]
    pub postgres_version: Option<u32>,
    /// PgBouncer in front of the primary. HA plans get one even when unset.
    #[serde(default)]
    pub pooler: Option<PoolerSettings>,
    /// A LoadBalancer service for access from outside the Kubernetes cluster.
    #[serde(default)]
    pub load_balancer: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolerSettings {
    #[serde(default)]
    pub pool_mode: PoolMode,
    #[serde(default = "two")]
    pub instances: u32,
}

impl Default for PoolerSettings {
    fn default() -> Self {
        Self {
            pool_mode: PoolMode::default(),
            instances: two(),
        }
    }
}

fn two() -> u32 {
    2
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolMode {
    #[default]
    Session,
    Transaction,
}

impl PoolMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Transaction => "transaction",
        }
    }
}

/// Request parameters of provision and update (the plans' `instance_create` schema).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceParameters {
    #[serde(default)]
    pub postgres_version: Option<u32>,
    /// `postgresql.conf` settings; each name must be on the backend's allow-list.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// Extensions to create in the application database.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Provision only: start from the backups of another instance of this backend.
    #[serde(default)]
    pub restore_from: Option<RestoreFrom>,
    /// Volume size in GiB when more than the plan's (a smaller one is the plan's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_gb: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreFrom {
    /// The instance whose backups are restored.
    pub instance_id: InstanceId,
    /// Point in time to recover to (RFC 3339); the end of the archive when unset.
    #[serde(default)]
    pub target_time: Option<String>,
}

/// Everything the manifests need, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub plan: PlanSettings,
    pub major: u32,
    pub parameters: BTreeMap<String, String>,
    pub extensions: Vec<String>,
    pub restore_from: Option<RestoreFrom>,
}

impl Desired {
    pub fn is_ha(&self) -> bool {
        self.plan.instances > 1
    }

    /// The pooler this instance gets, if any.
    pub fn pooler(&self) -> Option<PoolerSettings> {
        match &self.plan.pooler {
            Some(p) => Some(p.clone()),
            None if self.is_ha() => Some(PoolerSettings::default()),
            None => None,
        }
    }
}

/// Why a plan or request cannot be served; always a permanent failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("plan {plan}: settings for the CloudNativePG backend are invalid: {why}")]
    Settings { plan: String, why: String },
    #[error("parameters are invalid: {0}")]
    Parameters(String),
    #[error("postgresql parameter {0:?} may not be set (allowed: {1})")]
    ParameterNotAllowed(String, String),
    #[error("postgres_version {0} is not offered (offered: {1})")]
    Major(u32, String),
    #[error("{0:?} is not a valid extension name")]
    Extension(String),
    #[error("restore_from needs backups, which this backend does not have configured")]
    RestoreWithoutBackup,
}

impl PlanError {
    /// Malformed settings or parameters are an invalid spec; a valid ask this backend does not
    /// offer (a parameter it keeps, a version, restores without backups) is unsupported.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Settings { .. } | Self::Parameters(_) | Self::Extension(_) => Reason::InvalidSpec,
            Self::ParameterNotAllowed(..) | Self::Major(..) | Self::RestoreWithoutBackup => {
                Reason::Unsupported
            }
        }
    }
}

pub fn desired(
    settings: &CnpgSettings,
    plan: &Plan,
    parameters: &JsonObject,
) -> Result<Desired, PlanError> {
    let plan_settings: PlanSettings =
        serde_json::from_value(serde_json::Value::Object(plan.settings.clone())).map_err(|e| {
            PlanError::Settings {
                plan: plan.id.to_string(),
                why: e.to_string(),
            }
        })?;
    if plan_settings.instances == 0 {
        return Err(PlanError::Settings {
            plan: plan.id.to_string(),
            why: "instances must be at least 1".into(),
        });
    }
    for (field, value) in [
        ("cpu", Some(&plan_settings.cpu)),
        ("memory", Some(&plan_settings.memory)),
        ("storage", Some(&plan_settings.storage)),
        ("cpu_limit", plan_settings.cpu_limit.as_ref()),
        ("memory_limit", plan_settings.memory_limit.as_ref()),
    ] {
        if let Some(v) = value
            && crate::quantity::parse(v).is_none()
        {
            return Err(PlanError::Settings {
                plan: plan.id.to_string(),
                why: format!("{field} {v:?} is not a Kubernetes quantity"),
            });
        }
    }
    let params: InstanceParameters =
        serde_json::from_value(serde_json::Value::Object(parameters.clone()))
            .map_err(|e| PlanError::Parameters(e.to_string()))?;
    let mut plan_settings = plan_settings;
    if let Some(gb) = params.storage_gb {
        let asked = f64::from(gb) * 1024f64.powi(3);
        if crate::quantity::parse(&plan_settings.storage).is_some_and(|of_plan| asked > of_plan) {
            plan_settings.storage = format!("{gb}Gi");
        }
    }
    for name in params.parameters.keys() {
        if !settings.allowed_parameters.iter().any(|a| a == name) {
            return Err(PlanError::ParameterNotAllowed(
                name.clone(),
                if settings.allowed_parameters.is_empty() {
                    "none".into()
                } else {
                    settings.allowed_parameters.join(", ")
                },
            ));
        }
    }
    for ext in &params.extensions {
        let ok = !ext.is_empty()
            && ext.len() <= 63
            && ext
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !ok {
            return Err(PlanError::Extension(ext.clone()));
        }
    }
    if params.restore_from.is_some() && settings.backup.is_none() {
        return Err(PlanError::RestoreWithoutBackup);
    }
    let major = params
        .postgres_version
        .or(plan_settings.postgres_version)
        .unwrap_or(settings.default_postgres_version);
    if let crate::settings::Images::Names { by_major } = &settings.images
        && !by_major.contains_key(&major)
    {
        let offered: Vec<String> = by_major.keys().map(u32::to_string).collect();
        return Err(PlanError::Major(major, offered.join(", ")));
    }
    Ok(Desired {
        plan: plan_settings,
        major,
        parameters: params.parameters,
        extensions: params.extensions,
        restore_from: params.restore_from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_ask_is_invalid_and_one_this_backend_does_not_offer_is_unsupported() {
        let settings = PlanError::Settings {
            plan: "small".into(),
            why: "instances: not a number".into(),
        };
        assert_eq!(settings.reason(), Reason::InvalidSpec);
        assert_eq!(
            PlanError::Parameters("x".into()).reason(),
            Reason::InvalidSpec
        );
        assert_eq!(
            PlanError::Extension("a;b".into()).reason(),
            Reason::InvalidSpec
        );
        let kept = PlanError::ParameterNotAllowed("shared_buffers".into(), "work_mem".into());
        assert_eq!(kept.reason(), Reason::Unsupported);
        assert_eq!(
            PlanError::Major(9, "16, 17".into()).reason(),
            Reason::Unsupported
        );
        assert_eq!(
            PlanError::RestoreWithoutBackup.reason(),
            Reason::Unsupported
        );
    }
}

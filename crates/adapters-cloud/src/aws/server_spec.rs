//! How an AWS backend serves an operator's server spec: the plan's size from its settings, and
//! the spec as provision parameters (`postgres_version`, `storage_gb`, `multi_az`,
//! `backup_retention_days`, `parameters`, `extensions`). Firewall rules are not an RDS concept
//! (security groups belong to the platform), so they are refused by name, as is what the
//! backend does not set per DB (geo-redundant backups, the maintenance window).

use pgbroker_domain::server::{PlanSize, ServerField, ServerTarget, Translation, Unsupported};
use pgbroker_domain::{JsonObject, Plan};
use serde_json::json;

use super::Flavor;
use super::plan::plan_settings;
use super::settings::AwsSettings;

pub fn plan_size(plan: &Plan, flavor: Flavor) -> Option<PlanSize> {
    let settings = plan_settings(plan).ok()?;
    Some(PlanSize {
        cpu_millicores: None,
        memory_mb: None,
        // Aurora's storage grows by itself: not sized per cluster.
        storage_gb: (flavor == Flavor::Rds).then_some(settings.storage_gb),
        instances: Some(if settings.multi_az { 2 } else { 1 }),
    })
}

pub fn server_parameters(
    backend: &str,
    flavor: Flavor,
    settings: &AwsSettings,
    plan: &Plan,
    target: &ServerTarget<'_>,
) -> Result<Translation, Unsupported> {
    let request = target.request;
    request.refuse_any(
        &[
            ServerField::FirewallRules,
            ServerField::BackupGeoRedundant,
            ServerField::MaintenanceWindow,
        ],
        |field| match field {
            ServerField::FirewallRules => format!(
                "backend {backend} places DBs on AWS, where access is set by VPC security groups, which belong to the platform (settings vpc_security_group_ids)"
            ),
            ServerField::BackupGeoRedundant => format!(
                "backend {backend} does not copy backups to another region"
            ),
            _ => format!("backend {backend} leaves the maintenance window to AWS"),
        },
    )?;
    let of_plan = plan_settings(plan).ok();
    if request.size.storage_auto_grow && of_plan.as_ref().and_then(|p| p.max_storage_gb).is_none() {
        return Err(Unsupported::new(
            ServerField::StorageAutoGrow,
            format!(
                "plan {} has no storage ceiling (max_storage_gb); choose a plan with storage autoscaling",
                plan.name
            ),
        ));
    }
    if let Some(name) = request
        .server_parameters
        .keys()
        .find(|name| !settings.parameters.contains(name))
    {
        return Err(Unsupported::new(
            ServerField::ServerParameters,
            format!(
                "{name:?} may not be set on backend {backend} (allowed: {})",
                if settings.parameters.is_empty() {
                    "none".to_string()
                } else {
                    settings.parameters.join(", ")
                }
            ),
        ));
    }
    if let Some(ext) = request
        .extensions
        .iter()
        .find(|ext| !settings.extensions.contains(ext))
    {
        return Err(Unsupported::new(
            ServerField::Extensions,
            format!(
                "{ext:?} is not one of backend {backend}'s extensions ({})",
                settings.extensions.join(", ")
            ),
        ));
    }
    let mut parameters = JsonObject::new();
    if let Some(version) = request.version {
        parameters.insert("postgres_version".into(), json!(version));
    }
    if let Some(gb) = target.storage_gb
        && flavor == Flavor::Rds
        && of_plan.as_ref().is_none_or(|p| gb > p.storage_gb)
    {
        parameters.insert("storage_gb".into(), json!(gb));
    }
    if request.high_availability {
        parameters.insert("multi_az".into(), json!(true));
    }
    if let Some(days) = request.backup.retention_days {
        parameters.insert("backup_retention_days".into(), json!(days));
    }
    if !request.server_parameters.is_empty() {
        parameters.insert("parameters".into(), json!(request.server_parameters));
    }
    if !request.extensions.is_empty() {
        parameters.insert("extensions".into(), json!(request.extensions));
    }
    Ok(Translation {
        parameters,
        notes: Vec::new(),
    })
}

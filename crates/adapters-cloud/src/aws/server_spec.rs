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
    crate::shared::server_spec::refuse_server_parameters(
        backend,
        &settings.parameters,
        &request.server_parameters,
    )?;
    crate::shared::server_spec::refuse_extensions(
        backend,
        &settings.extensions,
        &request.extensions,
    )?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use pgbroker_domain::server::{FirewallRule, ServerRequest};
    use pgbroker_domain::{Plan, PlanId};

    fn plan(settings: serde_json::Value) -> Plan {
        Plan {
            id: PlanId::parse("p1").unwrap_or_else(|e| panic!("{e}")),
            name: "small".into(),
            description: "test".into(),
            free: true,
            bindable: true,
            plan_updateable: true,
            metadata: None,
            maintenance_info: None,
            maximum_polling_duration: None,
            backend: "rds".into(),
            settings: settings.as_object().cloned().unwrap_or_default(),
            schemas: Default::default(),
        }
    }

    fn translate(
        flavor: Flavor,
        plan_settings: serde_json::Value,
        request: &ServerRequest,
        storage_gb: Option<u32>,
    ) -> Result<Translation, Unsupported> {
        let settings = AwsSettings {
            parameters: vec!["work_mem".into()],
            ..AwsSettings::default()
        };
        let target = ServerTarget {
            request,
            storage_gb,
        };
        server_parameters("rds", flavor, &settings, &plan(plan_settings), &target)
    }

    #[test]
    fn a_server_spec_becomes_rds_parameters() {
        let mut request = ServerRequest {
            version: Some(16),
            high_availability: true,
            server_parameters: [("work_mem".to_string(), "8MB".to_string())].into(),
            ..ServerRequest::default()
        };
        request.backup.retention_days = Some(14);
        let t = translate(Flavor::Rds, json!({"storage_gb": 20}), &request, Some(50))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            serde_json::Value::Object(t.parameters),
            json!({"postgres_version": 16, "storage_gb": 50, "multi_az": true,
                   "backup_retention_days": 14, "parameters": {"work_mem": "8MB"}})
        );
        // Aurora's storage is not sized.
        let t = translate(
            Flavor::Aurora,
            json!({}),
            &ServerRequest::default(),
            Some(50),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(t.parameters.is_empty());
        assert_eq!(
            plan_size(&plan(json!({})), Flavor::Aurora).and_then(|s| s.storage_gb),
            None
        );
    }

    #[test]
    fn what_rds_does_not_take_is_refused_by_name() {
        let request = ServerRequest {
            firewall_rules: vec![
                FirewallRule::parse("office", "10.0.0.1", "10.0.0.9")
                    .unwrap_or_else(|e| panic!("{e}")),
            ],
            ..ServerRequest::default()
        };
        let err = translate(Flavor::Rds, json!({}), &request, None).unwrap_err();
        assert_eq!(err.field, ServerField::FirewallRules);
        assert!(err.why.contains("security groups"), "{err}");
        let mut request = ServerRequest::default();
        request.size.storage_auto_grow = true;
        let err = translate(Flavor::Rds, json!({}), &request, None).unwrap_err();
        assert!(err.why.contains("max_storage_gb"), "{err}");
        assert!(translate(Flavor::Rds, json!({"max_storage_gb": 100}), &request, None).is_ok());
        let request = ServerRequest {
            server_parameters: [("fsync".to_string(), "off".to_string())].into(),
            ..ServerRequest::default()
        };
        let err = translate(Flavor::Rds, json!({}), &request, None).unwrap_err();
        assert_eq!(err.field, ServerField::ServerParameters);
    }
}

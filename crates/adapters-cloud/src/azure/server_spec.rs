//! How the `azure-flexible` backend serves an operator's server spec: the plan's size from its
//! settings, and the spec as provision parameters (`postgres_version` through the plan only,
//! `storage_gb`, `high_availability`, `backup_retention_days`, `geo_redundant_backup`,
//! `firewall_rules`, `configurations`, `extensions`). What the backend does not set per server
//! (the maintenance window) is refused by name.

use std::net::IpAddr;

use pgbroker_domain::server::{PlanSize, ServerField, ServerTarget, Translation, Unsupported};
use pgbroker_domain::{JsonObject, Plan};
use serde_json::json;

use super::server::PlanSettings;
use super::settings::AzureSettings;
use crate::aws::plan::parse;

fn plan_settings(plan: &Plan) -> Option<PlanSettings> {
    parse(&format!("plan {} settings", plan.name), &plan.settings).ok()
}

pub fn plan_size(plan: &Plan) -> Option<PlanSize> {
    let settings = plan_settings(plan)?;
    Some(PlanSize {
        cpu_millicores: None,
        memory_mb: None,
        storage_gb: Some(settings.storage_gb),
        instances: Some(if settings.high_availability { 2 } else { 1 }),
    })
}

pub fn server_parameters(
    backend: &str,
    settings: &AzureSettings,
    plan: &Plan,
    target: &ServerTarget<'_>,
) -> Result<Translation, Unsupported> {
    let request = target.request;
    request.refuse_any(&[ServerField::MaintenanceWindow], |_| {
        format!("backend {backend} leaves the maintenance window to Azure")
    })?;
    let of_plan = plan_settings(plan);
    crate::shared::server_spec::refuse_server_parameters(
        backend,
        &settings.configurations,
        &request.server_parameters,
    )?;
    crate::shared::server_spec::refuse_extensions(
        backend,
        &settings.extensions,
        &request.extensions,
    )?;
    let mut rules = Vec::new();
    for rule in &request.firewall_rules {
        let (IpAddr::V4(start), IpAddr::V4(end)) = (rule.start_ip, rule.end_ip) else {
            return Err(Unsupported::new(
                ServerField::FirewallRules,
                format!(
                    "rule {}: Azure's firewall rules take IPv4 addresses only",
                    rule.name
                ),
            ));
        };
        if !settings.network.public_access {
            return Err(Unsupported::new(
                ServerField::FirewallRules,
                format!(
                    "backend {backend} places servers in a virtual network, without public access"
                ),
            ));
        }
        rules.push(
            json!({"name": rule.name, "start_ip": start.to_string(), "end_ip": end.to_string()}),
        );
    }
    let mut parameters = JsonObject::new();
    if let Some(version) = request.version {
        parameters.insert("postgres_version".into(), json!(version));
    }
    if let Some(gb) = target.storage_gb
        && of_plan.as_ref().is_none_or(|p| gb > p.storage_gb)
    {
        parameters.insert("storage_gb".into(), json!(gb));
    }
    if request.high_availability {
        parameters.insert("high_availability".into(), json!(true));
    }
    if let Some(days) = request.backup.retention_days {
        parameters.insert("backup_retention_days".into(), json!(days));
    }
    if request.backup.geo_redundant {
        parameters.insert("geo_redundant_backup".into(), json!(true));
    }
    if !rules.is_empty() {
        parameters.insert("firewall_rules".into(), json!(rules));
    }
    if !request.server_parameters.is_empty() {
        parameters.insert("configurations".into(), json!(request.server_parameters));
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
    use pgbroker_domain::PlanId;
    use pgbroker_domain::server::{FirewallRule, ServerRequest};

    fn plan() -> Plan {
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
            backend: "azure".into(),
            settings: json!({"storage_gb": 32})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            schemas: Default::default(),
        }
    }

    fn settings() -> AzureSettings {
        AzureSettings {
            configurations: vec!["work_mem".into()],
            ..AzureSettings::default()
        }
    }

    #[test]
    fn a_server_spec_becomes_azure_parameters_firewall_rules_included() {
        let mut request = ServerRequest {
            high_availability: true,
            firewall_rules: vec![
                FirewallRule::parse("office", "10.0.0.1", "10.0.0.9")
                    .unwrap_or_else(|e| panic!("{e}")),
            ],
            server_parameters: [("work_mem".to_string(), "8192".to_string())].into(),
            ..ServerRequest::default()
        };
        request.backup.geo_redundant = true;
        let target = ServerTarget {
            request: &request,
            storage_gb: Some(100),
        };
        let t = server_parameters("azure", &settings(), &plan(), &target)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            serde_json::Value::Object(t.parameters),
            json!({"storage_gb": 100, "high_availability": true, "geo_redundant_backup": true,
                   "firewall_rules": [{"name": "office", "start_ip": "10.0.0.1", "end_ip": "10.0.0.9"}],
                   "configurations": {"work_mem": "8192"}})
        );
    }

    #[test]
    fn what_azure_does_not_take_here_is_refused_by_name() {
        let request = ServerRequest {
            firewall_rules: vec![
                FirewallRule::parse("v6", "2001:db8::1", "2001:db8::9")
                    .unwrap_or_else(|e| panic!("{e}")),
            ],
            ..ServerRequest::default()
        };
        let target = ServerTarget {
            request: &request,
            storage_gb: None,
        };
        let err = server_parameters("azure", &settings(), &plan(), &target).unwrap_err();
        assert_eq!(err.field, ServerField::FirewallRules);
        let request = ServerRequest {
            server_parameters: [("fsync".to_string(), "off".to_string())].into(),
            ..ServerRequest::default()
        };
        let target = ServerTarget {
            request: &request,
            storage_gb: None,
        };
        let err = server_parameters("azure", &settings(), &plan(), &target).unwrap_err();
        assert_eq!(err.field, ServerField::ServerParameters);
    }
}

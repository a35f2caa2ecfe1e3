//! How this backend serves an operator's server spec: a plan's size from its settings, and the
//! spec as the provision parameters of the plans' `instance_create` schema (`postgres_version`,
//! `parameters`, `extensions`, `storage_gb`). What a CNPG Cluster made by pgbroker cannot do
//! (firewall rules, backup retention per server, maintenance windows, growing volumes by
//! itself) is refused by name.

use pgbroker_domain::server::{PlanSize, ServerField, ServerTarget, Translation, Unsupported};
use pgbroker_domain::{JsonObject, Plan};
use serde_json::json;

use crate::plan::{PlanError, PlanSettings};
use crate::quantity;
use crate::settings::CnpgSettings;

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = MIB * 1024.0;

/// A plan's size, rounded down (a plan never claims more than it gives); `None` when its
/// settings are not this backend's.
pub fn plan_size(plan: &Plan) -> Option<PlanSize> {
    let settings: PlanSettings =
        serde_json::from_value(serde_json::Value::Object(plan.settings.clone())).ok()?;
    let floor_u32 =
        |v: f64| (v.is_finite() && v >= 0.0 && v < f64::from(u32::MAX)).then(|| v.floor() as u32);
    Some(PlanSize {
        cpu_millicores: quantity::parse(&settings.cpu)
            .and_then(|c| floor_u32((c * 1000.0).round())),
        memory_mb: quantity::parse(&settings.memory)
            .filter(|m| m.is_finite() && *m >= 0.0)
            .map(|m| (m / MIB).floor() as u64),
        storage_gb: quantity::parse(&settings.storage).and_then(|s| floor_u32(s / GIB)),
        instances: Some(settings.instances),
    })
}

pub fn server_parameters(
    settings: &CnpgSettings,
    plan: &Plan,
    target: &ServerTarget<'_>,
) -> Result<Translation, Unsupported> {
    let request = target.request;
    request.refuse_any(
        &[
            ServerField::FirewallRules,
            ServerField::BackupRetentionDays,
            ServerField::BackupGeoRedundant,
            ServerField::MaintenanceWindow,
            ServerField::StorageAutoGrow,
        ],
        |field| match field {
            ServerField::FirewallRules => {
                "CloudNativePG clusters are reached through Kubernetes Services; restrict access with a NetworkPolicy".into()
            }
            ServerField::BackupRetentionDays | ServerField::BackupGeoRedundant => {
                "backups of CloudNativePG servers are set for the whole backend (backends.<name>.settings.backup), not per server".into()
            }
            ServerField::MaintenanceWindow => {
                "CloudNativePG applies changes by rolling restarts when they are made, not in a maintenance window".into()
            }
            _ => "CloudNativePG does not grow volumes by itself; raise spec.size.storageGB instead".into(),
        },
    )?;
    if request.high_availability && plan_size(plan).and_then(|s| s.instances).unwrap_or(1) < 2 {
        return Err(Unsupported::new(
            ServerField::HighAvailability,
            format!(
                "plan {} runs one instance; choose a plan with replicas",
                plan.name
            ),
        ));
    }
    if let Some(name) = request
        .server_parameters
        .keys()
        .find(|name| !settings.allowed_parameters.contains(name))
    {
        let allowed = if settings.allowed_parameters.is_empty() {
            "none".to_string()
        } else {
            settings.allowed_parameters.join(", ")
        };
        return Err(Unsupported::new(
            ServerField::ServerParameters,
            format!("{name:?} may not be set on this backend (allowed: {allowed})"),
        ));
    }
    let mut parameters = JsonObject::new();
    if let Some(version) = request.version {
        parameters.insert("postgres_version".into(), json!(version));
    }
    if !request.server_parameters.is_empty() {
        parameters.insert("parameters".into(), json!(request.server_parameters));
    }
    if !request.extensions.is_empty() {
        parameters.insert("extensions".into(), json!(request.extensions));
    }
    let of_plan = plan_size(plan).and_then(|s| s.storage_gb);
    if let Some(gb) = target.storage_gb
        && of_plan.is_none_or(|p| gb > p)
    {
        parameters.insert("storage_gb".into(), json!(gb));
    }
    // The step reads the parameters with the same rules; what it would refuse is refused now,
    // before anything is made.
    if let Err(e) = crate::plan::desired(settings, plan, &parameters) {
        let field = match e {
            PlanError::Major(..) => ServerField::Version,
            PlanError::Extension(_) => ServerField::Extensions,
            PlanError::ParameterNotAllowed(..) => ServerField::ServerParameters,
            _ => ServerField::Class,
        };
        return Err(Unsupported::new(field, e.to_string()));
    }
    Ok(Translation {
        parameters,
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgbroker_domain::server::{Backup, FirewallRule, ServerRequest};
    use pgbroker_domain::{Catalog, CatalogDocument};

    fn plan(settings: serde_json::Value) -> Plan {
        let doc: CatalogDocument = serde_json::from_value(json!({"services": [{
            "id": "s", "name": "s", "description": "s", "plans": [
                {"id": "p", "name": "small", "description": "p", "backend": "cnpg", "settings": settings}
            ]}]}))
        .unwrap();
        let catalog = Catalog::load(doc, &["cnpg".to_string()].into()).unwrap();
        catalog.services()[0].plans[0].clone()
    }

    fn small() -> Plan {
        plan(json!({"instances": 1, "cpu": "500m", "memory": "512Mi", "storage": "10Gi"}))
    }

    #[test]
    fn sizes_come_from_the_plan_settings_rounded_down() {
        let size = plan_size(&small()).unwrap();
        assert_eq!(
            size,
            PlanSize {
                cpu_millicores: Some(500),
                memory_mb: Some(512),
                storage_gb: Some(10),
                instances: Some(1)
            }
        );
        let decimal = plan_size(&plan(
            json!({"instances": 3, "cpu": "2", "memory": "1G", "storage": "20G"}),
        ))
        .unwrap();
        assert_eq!(decimal.cpu_millicores, Some(2000));
        assert_eq!(decimal.memory_mb, Some(953));
        assert_eq!(decimal.storage_gb, Some(18));
        assert_eq!(decimal.instances, Some(3));
        assert_eq!(plan_size(&plan(json!({"connection_limit": 5}))), None);
    }

    fn translate(
        request: &ServerRequest,
        storage_gb: Option<u32>,
    ) -> Result<Translation, Unsupported> {
        let settings = CnpgSettings {
            allowed_parameters: vec!["work_mem".into()],
            ..CnpgSettings::default()
        };
        server_parameters(
            &settings,
            &small(),
            &ServerTarget {
                request,
                storage_gb,
            },
        )
    }

    #[test]
    fn spec_fields_map_onto_the_instance_create_parameters() {
        let mut request = ServerRequest {
            version: Some(17),
            extensions: vec!["pg_trgm".into()],
            ..ServerRequest::default()
        };
        request
            .server_parameters
            .insert("work_mem".into(), "8MB".into());
        let t = translate(&request, Some(40)).unwrap();
        assert_eq!(
            serde_json::Value::Object(t.parameters),
            json!({"postgres_version": 17, "parameters": {"work_mem": "8MB"}, "extensions": ["pg_trgm"], "storage_gb": 40})
        );
        // The plan's own storage needs no parameter.
        let t = translate(&ServerRequest::default(), Some(10)).unwrap();
        assert!(t.parameters.is_empty());
    }

    #[test]
    fn what_a_cluster_cannot_do_is_refused_by_name() {
        let request = ServerRequest {
            firewall_rules: vec![FirewallRule::parse("office", "10.0.0.1", "10.0.0.2").unwrap()],
            ..ServerRequest::default()
        };
        assert_eq!(
            translate(&request, None).unwrap_err().field,
            ServerField::FirewallRules
        );

        let request = ServerRequest {
            backup: Backup {
                retention_days: Some(7),
                geo_redundant: false,
            },
            ..ServerRequest::default()
        };
        assert_eq!(
            translate(&request, None).unwrap_err().field,
            ServerField::BackupRetentionDays
        );

        let mut request = ServerRequest::default();
        request.size.storage_auto_grow = true;
        assert_eq!(
            translate(&request, None).unwrap_err().field,
            ServerField::StorageAutoGrow
        );

        let request = ServerRequest {
            high_availability: true,
            ..ServerRequest::default()
        };
        let err = translate(&request, None).unwrap_err();
        assert_eq!(err.field, ServerField::HighAvailability);
        assert!(err.why.contains("one instance"), "{err}");

        let mut request = ServerRequest::default();
        request
            .server_parameters
            .insert("shared_buffers".into(), "1GB".into());
        let err = translate(&request, None).unwrap_err();
        assert_eq!(err.field, ServerField::ServerParameters);
        assert_eq!(
            err.to_string(),
            "spec.serverParameters is not supported: \"shared_buffers\" may not be set on this backend (allowed: work_mem)"
        );
    }

    #[test]
    fn high_availability_is_a_plan_with_replicas() {
        let ha = plan(json!({"instances": 2, "cpu": "1", "memory": "1Gi", "storage": "10Gi"}));
        let request = ServerRequest {
            high_availability: true,
            ..ServerRequest::default()
        };
        let t = server_parameters(
            &CnpgSettings::default(),
            &ha,
            &ServerTarget {
                request: &request,
                storage_gb: Some(10),
            },
        )
        .unwrap();
        assert!(t.parameters.is_empty());
    }

    #[test]
    fn what_the_step_would_refuse_is_refused_before_anything_is_made() {
        let request = ServerRequest {
            version: Some(12),
            ..ServerRequest::default()
        };
        let err = translate(&request, None).unwrap_err();
        assert_eq!(err.field, ServerField::Version);
        assert!(
            err.why.contains("postgres_version 12 is not offered"),
            "{err}"
        );
        let request = ServerRequest {
            extensions: vec!["Bad Name".into()],
            ..ServerRequest::default()
        };
        assert_eq!(
            translate(&request, None).unwrap_err().field,
            ServerField::Extensions
        );
    }
}

//! Instances to build manifests for: a plan, a request, settings with every feature.

use pgbroker_adapters_k8s::labels::Owner;
use pgbroker_adapters_k8s::manifests::{
    InstanceManifests, database_role, own_database, password_secret,
};
use pgbroker_adapters_k8s::names::{BindingNames, InstanceNames};
use pgbroker_adapters_k8s::plan::{Desired, desired};
use pgbroker_adapters_k8s::settings::{
    BackupSettings, CatalogKind, CnpgSettings, Images, NamespaceMode, S3Credentials,
};
use pgbroker_domain::{
    BindingId, InstanceId, InstanceSpec, OperationId, OwnDatabase, Plan, PlanId, Sensitive,
    ServiceId,
};
use serde_json::{Value, json};

pub fn plan(settings: Value) -> Plan {
    Plan {
        id: PlanId::parse("plan-1").unwrap(),
        name: "p".into(),
        description: "p".into(),
        free: true,
        bindable: true,
        plan_updateable: true,
        metadata: None,
        maintenance_info: None,
        maximum_polling_duration: None,
        backend: "cnpg".into(),
        settings: settings.as_object().unwrap().clone(),
        schemas: Default::default(),
    }
}

pub fn spec(parameters: Value) -> InstanceSpec {
    InstanceSpec {
        service_id: ServiceId::parse("svc-1").unwrap(),
        plan_id: PlanId::parse("plan-1").unwrap(),
        parameters: parameters.as_object().unwrap().clone(),
        context: json!({"platform": "kubernetes", "namespace": "team-a"})
            .as_object()
            .unwrap()
            .clone(),
        organization_guid: Some("org-1".into()),
        space_guid: None,
        maintenance_version: None,
    }
}

pub fn full_settings() -> CnpgSettings {
    CnpgSettings {
        namespace: NamespaceMode::Shared {
            name: "databases".into(),
        },
        storage_class: Some("fast-ssd".into()),
        images: Images::Catalog {
            name: "postgresql".into(),
            kind: CatalogKind::ClusterImageCatalog,
        },
        allowed_parameters: vec!["work_mem".into(), "max_connections".into()],
        monitoring: true,
        load_balancer_annotations: [(
            "metallb.universe.tf/address-pool".to_string(),
            "public".to_string(),
        )]
        .into(),
        backup: Some(BackupSettings {
            destination_path: "s3://backups/pgbroker".into(),
            endpoint_url: Some("https://minio.example:9000".into()),
            s3_credentials: Some(S3Credentials {
                secret_name: "backup-s3".into(),
                source_namespace: None,
                access_key_id_key: "ACCESS_KEY_ID".into(),
                secret_access_key_key: "ACCESS_SECRET_KEY".into(),
            }),
            retention: "30d".into(),
            schedule: "0 0 2 * * *".into(),
        }),
        ..CnpgSettings::default()
    }
}

pub const HA_PLAN: &str = r#"{"instances": 3, "cpu": "2", "memory": "2Gi", "storage": "50Gi",
    "pooler": {"pool_mode": "transaction", "instances": 2}, "load_balancer": true}"#;

pub struct Case {
    pub settings: CnpgSettings,
    pub names: InstanceNames,
    pub spec: InstanceSpec,
    pub desired: Desired,
    pub id: InstanceId,
}

impl Case {
    pub fn new(settings: CnpgSettings, plan_settings: Value, parameters: Value) -> Self {
        let id = InstanceId::parse("0a651d10-25ab-4a75-99a6-520c0abbe2ae").unwrap();
        let spec = spec(parameters);
        let desired = desired(&settings, &plan(plan_settings), &spec.parameters).unwrap();
        Self {
            names: InstanceNames::new(&settings, &id, &spec.context).unwrap(),
            settings,
            spec,
            desired,
            id,
        }
    }

    pub fn manifests(&self) -> InstanceManifests<'_> {
        InstanceManifests {
            settings: &self.settings,
            names: &self.names,
            owner: Owner {
                backend: "cnpg",
                instance_id: &self.id,
                spec: &self.spec,
                binding_id: None,
            },
            desired: &self.desired,
            // Fixed, so that snapshots are stable.
            operation: OperationId::from_uuid(uuid::Uuid::nil()),
            restore_source: self.desired.restore_from.as_ref().map(|r| {
                pgbroker_adapters_k8s::names::cluster_name(
                    &self.settings.name_prefix,
                    &r.instance_id,
                )
            }),
            dropped_extensions: vec!["hstore".into()],
        }
    }

    pub fn all(&self) -> Vec<Value> {
        let m = self.manifests();
        let mut all = vec![m.cluster(), m.namespace()];
        all.extend(
            [
                m.pooler(),
                m.pod_monitor(),
                m.pooler_pod_monitor(),
                m.object_store(),
                m.scheduled_backup(),
                m.database(),
            ]
            .into_iter()
            .flatten(),
        );
        let binding = BindingNames::new(&self.names, &BindingId::parse("b-1").unwrap());
        let owner = Owner {
            backend: "cnpg",
            instance_id: &self.id,
            spec: &self.spec,
            binding_id: Some(&BindingId::parse("b-1").unwrap()),
        };
        all.push(database_role(&self.names, &binding, owner, true));
        all.push(password_secret(
            &self.names,
            &binding,
            owner,
            &Sensitive::new("pw".into()),
        ));
        // A binding with a database of its own, asking for everything it can.
        let id = BindingId::parse("b-own").unwrap();
        let binding = BindingNames::new(&self.names, &id);
        let owner = Owner {
            binding_id: Some(&id),
            ..owner
        };
        all.push(database_role(&self.names, &binding, owner, false));
        all.push(own_database(
            &self.names,
            &binding,
            owner,
            &full_own_database(),
        ));
        all
    }
}

/// A database of a binding's own with every field set.
pub fn full_own_database() -> OwnDatabase {
    OwnDatabase {
        name: "reports".into(),
        charset: Some("LATIN1".into()),
        collation: Some("de_DE.ISO-8859-1".into()),
        extensions: vec!["pg_trgm".into(), "uuid-ossp".into()],
    }
}

//! The manifests the backend sends, checked against CNPG's (and Barman Cloud's) real CRD schemas
//! and for the plan and settings values they must carry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/crd.rs"]
mod crd;

use crd::validate;
use pgbroker_adapters_k8s::labels::Owner;
use pgbroker_adapters_k8s::manifests::{InstanceManifests, database_role, password_secret};
use pgbroker_adapters_k8s::names::{BindingNames, InstanceNames};
use pgbroker_adapters_k8s::plan::{Desired, desired};
use pgbroker_adapters_k8s::settings::{
    BackupSettings, CatalogKind, CnpgSettings, Images, NamespaceMode, S3Credentials,
};
use pgbroker_domain::{
    BindingId, InstanceId, InstanceSpec, OperationId, Plan, PlanId, Sensitive, ServiceId,
};
use serde_json::{Value, json};

fn plan(settings: Value) -> Plan {
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

fn spec(parameters: Value) -> InstanceSpec {
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

fn full_settings() -> CnpgSettings {
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

const HA_PLAN: &str = r#"{"instances": 3, "cpu": "2", "memory": "2Gi", "storage": "50Gi",
    "pooler": {"pool_mode": "transaction", "instances": 2}, "load_balancer": true}"#;

struct Case {
    settings: CnpgSettings,
    names: InstanceNames,
    spec: InstanceSpec,
    desired: Desired,
    id: InstanceId,
}

impl Case {
    fn new(settings: CnpgSettings, plan_settings: Value, parameters: Value) -> Self {
        let id = InstanceId::parse("0a651d10-25ab-4a75-99a6-520c0abbe2ae").unwrap();
        let spec = spec(parameters);
        let desired = desired(&settings, &plan(plan_settings), &spec.parameters).unwrap();
        Self {
            names: InstanceNames::new(&settings, &id),
            settings,
            spec,
            desired,
            id,
        }
    }

    fn manifests(&self) -> InstanceManifests<'_> {
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
            operation: OperationId::new(),
            restore_source: self.desired.restore_from.as_ref().map(|r| {
                pgbroker_adapters_k8s::names::cluster_name(
                    &self.settings.name_prefix,
                    &r.instance_id,
                )
            }),
            dropped_extensions: vec!["hstore".into()],
        }
    }

    fn all(&self) -> Vec<Value> {
        let m = self.manifests();
        let mut all = vec![m.cluster(), m.namespace()];
        all.extend(
            [
                m.pooler(),
                m.pod_monitor(),
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
        all.push(database_role(&self.names, &binding, owner));
        all.push(password_secret(
            &self.names,
            &binding,
            owner,
            &Sensitive::new("pw".into()),
        ));
        all
    }
}

#[test]
fn every_object_of_a_full_ha_instance_fits_the_crds() {
    let case = Case::new(
        full_settings(),
        serde_json::from_str(HA_PLAN).unwrap(),
        json!({"postgres_version": 17, "parameters": {"work_mem": "64MB"}, "extensions": ["pg_trgm"]}),
    );
    let mut checked = Vec::new();
    for object in case.all() {
        match validate(&object) {
            Ok(true) => checked.push(object["kind"].as_str().unwrap().to_string()),
            Ok(false) => {}
            Err(e) => panic!("{e}\n{object:#}"),
        }
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "Cluster",
            "Database",
            "DatabaseRole",
            "ObjectStore",
            "Pooler",
            "ScheduledBackup"
        ],
        "every CNPG and Barman object was checked"
    );
}

#[test]
fn a_restore_and_a_single_instance_plan_fit_the_crds() {
    let single = Case::new(
        CnpgSettings::default(),
        json!({"instances": 1, "cpu": "500m", "memory": "512Mi", "storage": "10Gi"}),
        json!({}),
    );
    let restore = Case::new(
        full_settings(),
        serde_json::from_str(HA_PLAN).unwrap(),
        json!({"restore_from": {"instance_id": "old-1", "target_time": "2026-11-20T10:00:00Z"}}),
    );
    for case in [single, restore] {
        for object in case.all() {
            if let Err(e) = validate(&object) {
                panic!("{e}\n{object:#}");
            }
        }
    }
}

#[test]
fn the_validator_refuses_what_cnpg_refuses() {
    let case = Case::new(
        CnpgSettings::default(),
        json!({"instances": 1, "cpu": "1", "memory": "1Gi", "storage": "1Gi"}),
        json!({}),
    );
    let mut cluster = case.manifests().cluster();
    cluster["spec"]["instancez"] = json!(1);
    assert!(validate(&cluster).is_err(), "unknown field");
    let mut cluster = case.manifests().cluster();
    cluster["spec"]["primaryUpdateStrategy"] = json!("whenever");
    assert!(validate(&cluster).is_err(), "enum");
}

#[test]
fn the_cluster_carries_the_plan() {
    let case = Case::new(
        full_settings(),
        serde_json::from_str(HA_PLAN).unwrap(),
        json!({"postgres_version": 17, "parameters": {"work_mem": "64MB"}}),
    );
    let c = case.manifests().cluster();
    let s = &c["spec"];
    assert_eq!(
        c["metadata"]["name"],
        json!("pg-0a651d10-25ab-4a75-99a6-520c0abbe2ae")
    );
    assert_eq!(c["metadata"]["namespace"], json!("databases"));
    assert_eq!(s["instances"], json!(3));
    assert_eq!(
        s["resources"]["requests"],
        json!({"cpu": "2", "memory": "2Gi"})
    );
    assert_eq!(
        s["resources"]["limits"],
        json!({"cpu": "2", "memory": "2Gi"})
    );
    assert_eq!(
        s["storage"],
        json!({"size": "50Gi", "storageClass": "fast-ssd"})
    );
    assert_eq!(
        s["imageCatalogRef"],
        json!({"apiGroup": "postgresql.cnpg.io", "kind": "ClusterImageCatalog", "name": "postgresql", "major": 17})
    );
    assert_eq!(s["postgresql"]["parameters"], json!({"work_mem": "64MB"}));
    assert_eq!(
        s["bootstrap"],
        json!({"initdb": {"database": "app", "owner": "app"}})
    );
    assert_eq!(s["affinity"]["podAntiAffinityType"], json!("required"));
    assert_eq!(
        s["managed"]["services"]["additional"][0]["serviceTemplate"]["spec"]["type"],
        json!("LoadBalancer")
    );
    assert_eq!(
        s["managed"]["services"]["additional"][0]["serviceTemplate"]["metadata"]["annotations"],
        json!({"metallb.universe.tf/address-pool": "public"})
    );
    assert_eq!(
        s["plugins"][0]["parameters"]["barmanObjectName"],
        json!(case.names.object_store())
    );
    let sans = s["certificates"]["serverAltDNSNames"].as_array().unwrap();
    assert!(sans.contains(&json!(format!("{}.databases.svc", case.names.pooler()))));
    let pooler = case.manifests().pooler().unwrap();
    assert_eq!(
        pooler["spec"]["pgbouncer"]["poolMode"],
        json!("transaction")
    );
    assert_eq!(pooler["spec"]["type"], json!("rw"));
}

#[test]
fn a_single_instance_plan_has_no_pooler_affinity_or_extras() {
    let case = Case::new(
        CnpgSettings::default(),
        json!({"instances": 1, "cpu": "500m", "memory": "512Mi", "storage": "10Gi"}),
        json!({}),
    );
    let m = case.manifests();
    let c = m.cluster();
    assert!(c["spec"].get("affinity").is_none());
    assert!(c["spec"].get("managed").is_none());
    assert_eq!(
        c["spec"]["imageName"],
        json!("ghcr.io/cloudnative-pg/postgresql:18.6-system-trixie")
    );
    assert!(
        m.pooler().is_none()
            && m.pod_monitor().is_none()
            && m.object_store().is_none()
            && m.scheduled_backup().is_none()
    );
    assert_eq!(
        case.names.namespace, case.names.cluster,
        "a namespace per instance by default"
    );
}

#[test]
fn a_restore_bootstraps_from_the_source_clusters_backups() {
    let case = Case::new(
        full_settings(),
        serde_json::from_str(HA_PLAN).unwrap(),
        json!({"restore_from": {"instance_id": "old-1", "target_time": "2026-11-20T10:00:00Z"}}),
    );
    let c = case.manifests().cluster();
    assert_eq!(
        c["spec"]["bootstrap"]["recovery"]["source"],
        json!("origin")
    );
    assert_eq!(
        c["spec"]["bootstrap"]["recovery"]["recoveryTarget"]["targetTime"],
        json!("2026-11-20T10:00:00Z")
    );
    assert_eq!(
        c["spec"]["externalClusters"][0]["plugin"]["parameters"]["serverName"],
        json!("pg-old-1")
    );
}

#[test]
fn every_object_is_labelled_with_instance_service_plan_and_context() {
    let case = Case::new(
        full_settings(),
        serde_json::from_str(HA_PLAN).unwrap(),
        json!({"extensions": ["pg_trgm"]}),
    );
    for object in case.all() {
        let labels = &object["metadata"]["labels"];
        let annotations = &object["metadata"]["annotations"];
        let kind = &object["kind"];
        assert_eq!(
            labels["app.kubernetes.io/managed-by"],
            json!("pgbroker"),
            "{kind}"
        );
        assert_eq!(
            labels["pgbroker.io/instance-id"],
            json!(case.id.as_str()),
            "{kind}"
        );
        assert_eq!(labels["pgbroker.io/service-id"], json!("svc-1"), "{kind}");
        assert_eq!(labels["pgbroker.io/plan-id"], json!("plan-1"), "{kind}");
        assert_eq!(
            annotations["pgbroker.io/platform"],
            json!("kubernetes"),
            "{kind}"
        );
        assert!(
            annotations["pgbroker.io/context"]
                .as_str()
                .unwrap()
                .contains("team-a"),
            "{kind}"
        );
    }
}

#[test]
fn plans_and_parameters_are_checked_with_messages_that_name_the_problem() {
    let settings = CnpgSettings {
        allowed_parameters: vec!["work_mem".into()],
        ..CnpgSettings::default()
    };
    let ok_plan = plan(json!({"instances": 1, "cpu": "1", "memory": "1Gi", "storage": "1Gi"}));
    let err = desired(
        &settings,
        &ok_plan,
        &spec(json!({"parameters": {"shared_buffers": "1GB"}})).parameters,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "postgresql parameter \"shared_buffers\" may not be set (allowed: work_mem)"
    );
    let err = desired(
        &settings,
        &ok_plan,
        &spec(json!({"postgres_version": 9})).parameters,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "postgres_version 9 is not offered (offered: 15, 16, 17, 18)"
    );
    let err = desired(
        &settings,
        &plan(json!({"instances": 1, "cpu": "lots", "memory": "1Gi", "storage": "1Gi"})),
        &Default::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("cpu \"lots\" is not a Kubernetes quantity"),
        "{err}"
    );
    let err = desired(
        &settings,
        &ok_plan,
        &spec(json!({"restore_from": {"instance_id": "x"}})).parameters,
    )
    .unwrap_err();
    assert!(err.to_string().contains("backups"), "{err}");
}

/// The same objects through the test API server's own validator (its translation of the CRD
/// schemas is independent of `support/crd.rs`).
#[tokio::test]
async fn the_test_servers_validator_accepts_every_object_too() {
    let server = pgbroker_kube_testserver::TestServer::start_default()
        .await
        .unwrap();
    let full = Case::new(
        full_settings(),
        serde_json::from_str(HA_PLAN).unwrap(),
        json!({"postgres_version": 17, "parameters": {"work_mem": "64MB"}, "extensions": ["pg_trgm"]}),
    );
    let restore = Case::new(
        full_settings(),
        serde_json::from_str(HA_PLAN).unwrap(),
        json!({"restore_from": {"instance_id": "old-1"}}),
    );
    for case in [full, restore] {
        for object in case.all() {
            let plural = format!("{}s", object["kind"].as_str().unwrap().to_lowercase());
            if object["apiVersion"] == json!("v1") || plural == "podmonitors" {
                continue; // no schema to check against
            }
            if let Err(e) = server.validate(&plural, &object) {
                panic!("{plural}: {e}\n{object:#}");
            }
        }
    }
    let mut bad = Case::new(
        CnpgSettings::default(),
        json!({"instances": 1, "cpu": "1", "memory": "1Gi", "storage": "1Gi"}),
        json!({}),
    )
    .manifests()
    .cluster();
    bad["spec"]["instances"] = json!("three");
    assert!(server.validate("clusters", &bad).is_err());
}

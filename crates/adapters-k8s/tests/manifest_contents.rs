//! The manifests carry the plan, the request and the settings: sizes, image, parameters,
//! pooler, load balancer, backups, restore, labels; bad plans and requests are named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use pgbroker_adapters_k8s::plan::desired;
use pgbroker_adapters_k8s::settings::CnpgSettings;
use serde_json::json;
use support::cases::*;

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
            && m.pooler_pod_monitor().is_none()
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

/// The whole of what a full HA instance sends, so that a change to any manifest shows as a diff.
#[test]
fn snapshot_of_a_full_ha_instance() {
    let case = Case::new(
        full_settings(),
        serde_json::from_str(HA_PLAN).unwrap(),
        json!({"postgres_version": 17, "parameters": {"work_mem": "64MB"}, "extensions": ["pg_trgm"]}),
    );
    insta::assert_json_snapshot!(case.all());
}

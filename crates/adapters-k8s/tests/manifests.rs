//! The manifests the backend sends, checked against CNPG's (and Barman Cloud's) real CRD schemas,
//! by this crate's translation of them and by the test API server's validator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use pgbroker_adapters_k8s::settings::CnpgSettings;
use serde_json::json;
use support::cases::*;
use support::crd::validate;

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
            "Database",
            "DatabaseRole",
            "DatabaseRole",
            "ObjectStore",
            "Pooler",
            "ScheduledBackup"
        ],
        "every CNPG and Barman object was checked (a binding's own Database and its role too)"
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

//! The app's embedded catalog: every `cnpg` plan's settings are valid for this backend and HA
//! plans get a pooler.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use pgbroker_adapters_k8s::plan::desired;
use pgbroker_adapters_k8s::settings::CnpgSettings;
use pgbroker_domain::{Catalog, CatalogDocument};

#[test]
fn every_cnpg_plan_of_the_default_catalog_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../app/catalog/default.yaml");
    let doc: CatalogDocument =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let backends: BTreeSet<String> = ["cnpg".to_string(), "shared".to_string()].into();
    let catalog = Catalog::load(doc, &backends).unwrap();
    let mut checked = 0;
    for plan in catalog.services().iter().flat_map(|s| &s.plans) {
        if plan.backend != "cnpg" {
            continue;
        }
        let d = desired(&CnpgSettings::default(), plan, &Default::default())
            .unwrap_or_else(|e| panic!("plan {}: {e}", plan.name));
        assert_eq!(
            d.is_ha(),
            d.pooler().is_some(),
            "plan {}: HA plans and only they get a pooler",
            plan.name
        );
        assert!(
            !d.plan.load_balancer,
            "plan {}: load balancers are off by default",
            plan.name
        );
        checked += 1;
    }
    assert_eq!(checked, 6);
}

/// What the operator's translation makes of a server spec passes every `cnpg` plan's
/// `instance_create` schema, and the step reads it back with the storage asked for.
#[test]
fn server_spec_translations_pass_the_default_catalogs_schemas() {
    use pgbroker_adapters_k8s::server_spec::server_parameters;
    use pgbroker_domain::server::{ServerRequest, ServerTarget};

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../app/catalog/default.yaml");
    let doc: CatalogDocument =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let backends: BTreeSet<String> = ["cnpg".to_string(), "shared".to_string()].into();
    let catalog = Catalog::load(doc, &backends).unwrap();
    let settings = CnpgSettings {
        allowed_parameters: vec!["work_mem".into()],
        ..CnpgSettings::default()
    };
    let mut request = ServerRequest {
        version: Some(17),
        extensions: vec!["pg_trgm".into(), "citext".into()],
        high_availability: false,
        ..ServerRequest::default()
    };
    request
        .server_parameters
        .insert("work_mem".into(), "16MB".into());
    let mut checked = 0;
    for plan in catalog.services().iter().flat_map(|s| &s.plans) {
        if plan.backend != "cnpg" {
            continue;
        }
        let target = ServerTarget {
            request: &request,
            storage_gb: Some(500),
        };
        let translation = server_parameters(&settings, plan, &target)
            .unwrap_or_else(|e| panic!("plan {}: {e}", plan.name));
        assert_eq!(translation.parameters.get("storage_gb"), Some(&500.into()));
        let schema = plan.schemas.instance_create.as_ref().unwrap();
        let validator = jsonschema::validator_for(schema).unwrap();
        let instance = serde_json::Value::Object(translation.parameters.clone());
        let problems: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| e.to_string())
            .collect();
        assert!(problems.is_empty(), "plan {}: {problems:?}", plan.name);
        let d = desired(&settings, plan, &translation.parameters).unwrap();
        assert_eq!(d.plan.storage, "500Gi", "plan {}", plan.name);
        assert_eq!(d.major, 17);
        checked += 1;
    }
    assert_eq!(checked, 6);
    // A smaller size keeps the plan's.
    let plan = &catalog.services()[0].plans[0];
    let mut params = pgbroker_domain::JsonObject::new();
    params.insert("storage_gb".into(), 1.into());
    assert_eq!(
        desired(&settings, plan, &params).unwrap().plan.storage,
        "10Gi"
    );
}

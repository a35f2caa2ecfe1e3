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

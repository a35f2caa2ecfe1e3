//! The configuration examples in docs/shared-backend.md and docs/aws-backend.md are accepted as
//! they are written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pgbroker_adapters_cloud::{SharedServerBackend, SharedSettings};

#[test]
fn the_documented_settings_build_a_backend() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/shared-backend.md");
    let text = std::fs::read_to_string(path).unwrap();
    let block = text
        .split_once("```yaml\n")
        .unwrap()
        .1
        .split_once("```")
        .unwrap()
        .0;
    let doc: serde_json::Value = serde_yaml::from_str(block).unwrap();
    assert_eq!(doc["backends"]["shared"]["kind"], "shared-postgres");
    let settings: SharedSettings =
        serde_json::from_value(doc["backends"]["shared"]["settings"].clone()).unwrap();
    assert_eq!(settings.servers.len(), 2);
    let backend = SharedServerBackend::new("shared", settings).unwrap();
    assert!(format!("{backend:?}").contains("second"));
}

/// The default catalog's shared plans carry settings this backend reads, and offer only
/// extensions its default allow-list has.
#[test]
fn the_default_catalog_shared_plans_fit_this_backend() {
    use pgbroker_adapters_cloud::shared::PlanSettings;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../app/catalog/default.yaml");
    let catalog: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let allowed = SharedSettings::default().extensions;
    let mut shared = 0;
    for service in catalog["services"].as_array().unwrap() {
        for plan in service["plans"].as_array().unwrap() {
            if plan["backend"] != "shared" {
                continue;
            }
            shared += 1;
            let settings: PlanSettings = serde_json::from_value(plan["settings"].clone())
                .unwrap_or_else(|e| panic!("plan {}: {e}", plan["name"]));
            assert!(settings.connection_limit.is_some() && settings.statement_timeout.is_some());
            let offered =
                &plan["schemas"]["instance_create"]["properties"]["extensions"]["items"]["enum"];
            for ext in offered.as_array().unwrap() {
                assert!(
                    allowed.contains(&ext.as_str().unwrap().to_string()),
                    "{ext}"
                );
            }
        }
    }
    assert_eq!(shared, 2);
}

/// Every backend and plan in docs/aws-backend.md's examples is accepted by this backend.
#[test]
fn the_documented_aws_settings_and_plans_build() {
    use pgbroker_adapters_cloud::aws::{AwsBackend, AwsSettings, Flavor, PlanSettings};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/aws-backend.md");
    let text = std::fs::read_to_string(path).unwrap();
    let blocks: Vec<&str> = text
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split_once("```").unwrap().0)
        .collect();
    let config: serde_json::Value = serde_yaml::from_str(blocks[0]).unwrap();
    let mut built = 0;
    for (name, backend) in config["backends"].as_object().unwrap() {
        let flavor = match backend["kind"].as_str().unwrap() {
            "aws-rds" => Flavor::Rds,
            "aws-aurora" => Flavor::Aurora,
            other => panic!("{other}"),
        };
        let settings: AwsSettings = serde_json::from_value(backend["settings"].clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        AwsBackend::new(name, flavor, settings).unwrap_or_else(|e| panic!("{name}: {e}"));
        built += 1;
    }
    assert_eq!(built, 2);
    let plans: serde_json::Value = serde_yaml::from_str(blocks[1]).unwrap();
    for plan in plans["plans"].as_array().unwrap() {
        let _: PlanSettings = serde_json::from_value(plan["settings"].clone())
            .unwrap_or_else(|e| panic!("plan {}: {e}", plan["name"]));
    }
}

/// Every backend and plan in docs/azure-backend.md's examples is accepted by this backend.
#[test]
fn the_documented_azure_settings_and_plans_build() {
    use pgbroker_adapters_cloud::azure::{AzureBackend, AzureSettings, PlanSettings};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/azure-backend.md");
    let text = std::fs::read_to_string(path).unwrap();
    let blocks: Vec<&str> = text
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split_once("```").unwrap().0)
        .collect();
    let config: serde_json::Value = serde_yaml::from_str(blocks[0]).unwrap();
    let mut built = 0;
    for (name, backend) in config["backends"].as_object().unwrap() {
        assert_eq!(backend["kind"], "azure-flexible");
        let settings: AzureSettings = serde_json::from_value(backend["settings"].clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        AzureBackend::new(name, settings).unwrap_or_else(|e| panic!("{name}: {e}"));
        built += 1;
    }
    assert_eq!(built, 1);
    let plans: serde_json::Value = serde_yaml::from_str(blocks[1]).unwrap();
    for plan in plans["plans"].as_array().unwrap() {
        let _: PlanSettings = serde_json::from_value(plan["settings"].clone())
            .unwrap_or_else(|e| panic!("plan {}: {e}", plan["name"]));
    }
}

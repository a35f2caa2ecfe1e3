//! The configuration example in docs/shared-backend.md is accepted as it is written.
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

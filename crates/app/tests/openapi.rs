//! The committed OpenAPI document is what `pgbroker openapi` prints: regenerate it with
//! `cargo run -p pgbroker-app -- openapi > docs/openapi.json` when this fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{pgbroker, run};

#[test]
fn docs_openapi_json_is_current() {
    let out = run(&mut pgbroker(&["openapi"])).success();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert!(
        committed == out.stdout,
        "docs/openapi.json is stale: run `cargo run -p pgbroker-app -- openapi > docs/openapi.json`"
    );
    let document: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
}

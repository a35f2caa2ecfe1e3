//! `pgbroker crds` prints the CustomResourceDefinitions committed under `deploy/crds/`
//! (crates/api-crd's `committed_crds` test keeps those current).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{pgbroker, run};
use serde::Deserialize;
use serde_json::Value;

fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn pgbroker_crds_prints_the_committed_crds() {
    let out = run(&mut pgbroker(&["crds"])).success();
    let printed = documents(&out.stdout);
    let names: Vec<&str> = printed
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "postgresqlservers.pgbroker.io",
            "postgresqldatabases.pgbroker.io"
        ]
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    for document in &printed {
        let name = document["metadata"]["name"].as_str().unwrap();
        let committed = std::fs::read_to_string(dir.join(format!("{name}.yaml"))).unwrap();
        assert_eq!(
            documents(&committed),
            vec![document.clone()],
            "{name}: regenerate with `PGBROKER_WRITE_CRDS=1 cargo test -p pgbroker-api-crd --test committed_crds`"
        );
    }
}

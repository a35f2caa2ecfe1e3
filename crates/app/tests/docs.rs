//! The examples in the docs are checked by the binary they describe, so they cannot drift.

mod common;

use std::path::Path;

use common::{TempDir, pgbroker, run};

/// The first ```yaml block of a file at the workspace root.
fn first_yaml_block(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let after = text
        .split_once("```yaml\n")
        .map(|(_, after)| after)
        .unwrap_or_else(|| panic!("no yaml block in {relative}"));
    after
        .split_once("```")
        .map(|(block, _)| block.to_string())
        .unwrap_or_else(|| panic!("unterminated yaml block in {relative}"))
}

#[test]
fn catalog_example_is_a_valid_catalog() {
    let dir = TempDir::new();
    let file = dir.file("catalog.yaml", &first_yaml_block("docs/catalog.md"));
    run(pgbroker(&["catalog"]).env("PGBROKER_CATALOG__PATH", &file)).success();
}

#[test]
fn readme_configuration_example_is_accepted() {
    let dir = TempDir::new();
    let file = dir.file("pgbroker.yaml", &first_yaml_block("README.md"));
    let out = run(&mut pgbroker(&[
        "--config",
        &file.display().to_string(),
        "config",
    ]))
    .success();
    assert!(out.stdout.contains("pgbroker:***@db.internal"), "{out}");
}

/// The keys of a configuration as `pgbroker config` prints it, as dotted paths; the backends'
/// map is `backends.<name>.kind` and `backends.<name>.settings` whatever the names.
fn leaf_keys(
    value: &serde_json::Value,
    prefix: &str,
    out: &mut std::collections::BTreeSet<String>,
) {
    match value {
        serde_json::Value::Object(map) if prefix == "backends" => {
            if !map.is_empty() {
                out.insert("backends.<name>.kind".into());
                out.insert("backends.<name>.settings".into());
            }
        }
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_keys(v, &path, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

#[test]
fn the_configuration_reference_lists_exactly_the_codes_keys() {
    let out = run(&mut pgbroker(&["config", "--format", "json"])).success();
    let printed: serde_json::Value = serde_json::from_str(&out.stdout).expect("config as JSON");
    let mut code = std::collections::BTreeSet::new();
    leaf_keys(&printed, "", &mut code);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let documented: std::collections::BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(key, _)| key.to_string()))
        .filter(|k| k != "key")
        .collect();
    assert_eq!(
        code.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "keys missing from docs/configuration.md"
    );
    assert_eq!(
        documented.difference(&code).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "docs/configuration.md names keys the code does not have"
    );
}

#[test]
fn the_complete_configuration_example_is_accepted_with_its_backends() {
    let dir = TempDir::new();
    let file = dir.file("pgbroker.yaml", &first_yaml_block("docs/configuration.md"));
    let catalog = dir.file("catalog.yaml", &first_yaml_block("docs/catalog.md"));
    let config = file.display().to_string();
    run(&mut pgbroker(&["--config", &config, "config"])).success();
    // `catalog` builds the configured backends: their settings are checked too.
    run(pgbroker(&["--config", &config, "catalog"])
        .env("PGBROKER_CATALOG__PATH", &catalog)
        .env("SHARED_ADMIN_PASSWORD", "unused"))
    .success();
}

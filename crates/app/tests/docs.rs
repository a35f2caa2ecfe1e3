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

//! `deploy/crds/` holds exactly what the Rust types generate; this test fails when it is stale.
//! Regenerate with `PGBROKER_WRITE_CRDS=1 cargo test -p pgbroker-api-crd --test committed_crds`.

use std::path::{Path, PathBuf};

fn deploy_crds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds")
}

#[test]
fn deploy_crds_matches_the_rust_types() -> anyhow::Result<()> {
    let dir = deploy_crds();
    let write = std::env::var_os("PGBROKER_WRITE_CRDS").is_some();
    let mut stale = Vec::new();
    let mut expected_files = Vec::new();
    for crd in pgbroker_api_crd::crds() {
        let name = pgbroker_api_crd::crd_file_name(&crd);
        let path = dir.join(&name);
        let generated = pgbroker_api_crd::crd_file(&crd)?;
        expected_files.push(name.clone());
        if write {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&path, &generated)?;
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(generated.as_str()) {
            stale.push(name);
        }
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| (n.ends_with(".yaml") || n.ends_with(".yml")) && n != "kustomization.yaml")
        .collect();
    present.sort();
    expected_files.sort();
    assert!(
        stale.is_empty() && present == expected_files,
        "deploy/crds is stale (differs: {stale:?}; files there: {present:?}, expected: \
         {expected_files:?}). Regenerate with \
         `PGBROKER_WRITE_CRDS=1 cargo test -p pgbroker-api-crd --test committed_crds` \
         and commit the result."
    );
    Ok(())
}

#[test]
fn pgbroker_crds_prints_both_committed_files() -> anyhow::Result<()> {
    let stream = pgbroker_api_crd::crds_yaml()?;
    let documents: Vec<&str> = stream.split("---\n").filter(|d| !d.is_empty()).collect();
    let crds = pgbroker_api_crd::crds();
    assert_eq!(documents.len(), crds.len());
    for (document, crd) in documents.iter().zip(&crds) {
        assert_eq!(*document, pgbroker_api_crd::crd_yaml(crd)?);
    }
    Ok(())
}

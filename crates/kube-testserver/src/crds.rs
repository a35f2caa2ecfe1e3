//! Loading CRD manifests (YAML, possibly multi-document) from directories.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// Why a CRD directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CrdLoadError {
    #[error("reading CRD directory {path}: {source}")]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading CRD file {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing CRD file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("CRD in {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// `../shared` beside the repository (CI clones the repo with `shared/` next to it).
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// CloudNativePG 1.30's CRDs (clusters, poolers, databases, databaseroles, backups, ...).
pub fn cnpg_crd_dir() -> PathBuf {
    shared_dir().join("crds/cnpg")
}

/// The barman-cloud plugin's `ObjectStore` CRD.
pub fn barman_cloud_crd_dir() -> PathBuf {
    shared_dir().join("crds/barman-cloud")
}

/// pgbroker's own CRDs (`PostgreSQLServer`, `PostgreSQLDatabase`), as committed in the
/// repository's `deploy/crds/` (generated from `crates/api-crd`, kept current by its test).
pub fn pgbroker_crd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds")
}

/// Every `CustomResourceDefinition` document in `*.yaml`/`*.yml` files of `dir`, sorted by file name.
pub fn load_crd_dir(dir: &Path) -> Result<Vec<Value>, CrdLoadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CrdLoadError::ReadDir {
        path: dir.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    let mut crds = Vec::new();
    for path in files {
        crds.extend(load_crd_file(&path)?);
    }
    Ok(crds)
}

/// The `CustomResourceDefinition` documents of one YAML file (other kinds are skipped).
pub fn load_crd_file(path: &Path) -> Result<Vec<Value>, CrdLoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| CrdLoadError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let mut crds = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = Value::deserialize(document).map_err(|source| CrdLoadError::Parse {
            path: path.to_owned(),
            source,
        })?;
        if value.is_null() {
            continue;
        }
        if value.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
            continue;
        }
        if value.pointer("/spec/names/plural").is_none() {
            return Err(CrdLoadError::Invalid {
                path: path.to_owned(),
                reason: "no spec.names.plural".into(),
            });
        }
        crds.push(value);
    }
    Ok(crds)
}

//! Reading the catalog: a YAML file named in the configuration, or the default embedded in the
//! binary, checked against the configured backends before anything uses it.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Yaml};
use pgbroker_domain::{Catalog, CatalogDocument, CatalogError};

/// The catalog used when the configuration names no file.
pub const DEFAULT_CATALOG: &str = include_str!("../catalog/default.yaml");

/// Where a catalog came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogOrigin {
    Embedded,
    File(PathBuf),
}

impl fmt::Display for CatalogOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Embedded => f.write_str("embedded default catalog"),
            Self::File(path) => write!(f, "catalog file {}", path.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogFileError {
    #[error("{0} does not exist or is not a file")]
    Missing(CatalogOrigin),
    #[error("reading {origin}")]
    Unreadable {
        origin: CatalogOrigin,
        #[source]
        source: Box<figment::Error>,
    },
    #[error("{origin} is not valid")]
    Invalid {
        origin: CatalogOrigin,
        #[source]
        source: CatalogError,
    },
}

/// A checked catalog together with the document it was read from (which is what gets printed:
/// it can be fed back as a catalog file).
#[derive(Debug, Clone)]
pub struct LoadedCatalog {
    pub origin: CatalogOrigin,
    pub document: CatalogDocument,
    pub catalog: Catalog,
}

/// Reads and checks the catalog at `path`, or the embedded default when `path` is `None`.
pub fn load(
    path: Option<&Path>,
    backends: &BTreeSet<String>,
) -> Result<LoadedCatalog, CatalogFileError> {
    let (origin, document) = read(path)?;
    check(origin, document, backends)
}

/// Reads the catalog document at `path` (or the embedded default) without checking it.
pub fn read(path: Option<&Path>) -> Result<(CatalogOrigin, CatalogDocument), CatalogFileError> {
    let (origin, figment) = match path {
        None => (
            CatalogOrigin::Embedded,
            Figment::from(Yaml::string(DEFAULT_CATALOG)),
        ),
        Some(path) => {
            let origin = CatalogOrigin::File(path.to_path_buf());
            // figment treats a missing file as empty; a configured catalog must exist.
            if !path.is_file() {
                return Err(CatalogFileError::Missing(origin));
            }
            (origin, Figment::from(Yaml::file_exact(path)))
        }
    };
    match figment.extract() {
        Ok(document) => Ok((origin, document)),
        Err(err) => Err(CatalogFileError::Unreadable {
            origin,
            source: Box::new(err),
        }),
    }
}

/// Checks a document read by [`read`] against the configured backends' names.
pub fn check(
    origin: CatalogOrigin,
    document: CatalogDocument,
    backends: &BTreeSet<String>,
) -> Result<LoadedCatalog, CatalogFileError> {
    match Catalog::load(document.clone(), backends) {
        Ok(catalog) => Ok(LoadedCatalog {
            origin,
            document,
            catalog,
        }),
        Err(source) => Err(CatalogFileError::Invalid { origin, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::chain;

    fn default_backends() -> BTreeSet<String> {
        crate::config::Config::default().backend_names()
    }

    #[test]
    fn the_embedded_catalog_is_valid_against_the_default_backends() {
        let loaded = load(None, &default_backends()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.origin, CatalogOrigin::Embedded);
        let names: Vec<_> = loaded
            .catalog
            .services()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "postgresql-dev-db",
                "postgresql-ha-cluster",
                "postgresql-shared"
            ]
        );
        for service in loaded.catalog.services() {
            for plan in &service.plans {
                assert!(plan.bindable, "plan {}", plan.id);
                assert_eq!(plan.plan_updateable, service.plan_updateable);
                let schema = plan.schemas.instance_create.as_ref();
                assert_eq!(
                    schema.and_then(|s| s.get("additionalProperties")),
                    Some(&serde_json::Value::Bool(false)),
                    "plan {}",
                    plan.id
                );
                assert!(plan.maintenance_info.is_some(), "plan {}", plan.id);
            }
        }
    }

    #[test]
    fn the_embedded_catalog_needs_its_backends() {
        let err = chain(&load(None, &BTreeSet::from(["cnpg".to_string()])).unwrap_err());
        assert!(
            err.starts_with("embedded default catalog is not valid: catalog: plan "),
            "{err}"
        );
        assert!(
            err.contains("names backend \"shared\", which is not configured"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = load(
            Some(Path::new("/nonexistent/catalog.yaml")),
            &default_backends(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "catalog file /nonexistent/catalog.yaml does not exist or is not a file"
        );
    }
}

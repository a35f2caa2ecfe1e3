//! Objects from YAML manifests (such as `deploy/rbac/`), created directly in the store.

use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::store::{Store, WriteOptions};

/// Why [`crate::TestServer::create_from_yaml`] failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("parsing YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("document {index}: {reason}")]
    Document { index: usize, reason: String },
    #[error("document {index} ({kind} {name}): {source}")]
    Create {
        index: usize,
        kind: String,
        name: String,
        source: Box<ApiError>,
    },
}

pub(crate) fn create_from_yaml(
    store: &Store,
    yaml: &str,
    namespace: Option<&str>,
) -> Result<Vec<Value>, LoadError> {
    let mut created = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(yaml).enumerate() {
        let object = Value::deserialize(document)?;
        if object.is_null() {
            continue;
        }
        let field = |k: &str| {
            object
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let (api_version, kind) = (field("apiVersion"), field("kind"));
        let registry = store.registry();
        let def = registry
            .all()
            .find(|d| d.gvr.api_version() == api_version && d.kind == kind)
            .ok_or_else(|| LoadError::Document {
                index,
                reason: format!("the server does not serve {kind} of {api_version}"),
            })?;
        let ns = crate::store::meta::meta_str(&object, "namespace")
            .map(str::to_owned)
            .or_else(|| namespace.map(str::to_owned));
        let ns = if def.namespaced { ns } else { None };
        let name = crate::store::meta::name(&object).to_owned();
        let stored = store
            .create(&def.gvr, ns.as_deref(), object, &WriteOptions::default())
            .map_err(|source| LoadError::Create {
                index,
                kind: kind.clone(),
                name,
                source: Box::new(source),
            })?;
        created.push(stored);
    }
    Ok(created)
}

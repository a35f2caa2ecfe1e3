//! CloudNativePG's admission webhooks for Clusters, which a real installation runs on every
//! create/update: defaulting (`mcluster.cnpg.io`) and the name rule (`vcluster.cnpg.io`).

use serde_json::{Value, json};

use super::validation::{dns_label_problem, field_error};
use super::{meta, quantity};
use crate::error::ApiError;
use crate::registry::ResourceDef;

/// The operator's default PostgreSQL image (CNPG 1.30.0, `pkg/versions/versions.go`).
pub const CNPG_DEFAULT_IMAGE: &str = "ghcr.io/cloudnative-pg/postgresql:18.6-system-trixie";

/// CloudNativePG's mutating webhook (`mcluster.cnpg.io`) for Clusters: the default image when no
/// image or catalog is named, and an `initdb` bootstrap with database `app` owned by a role of the
/// database's name when no bootstrap is given (`api/v1/cluster_defaults.go`).
pub fn cnpg_cluster_defaults(def: &ResourceDef, object: &mut Value) {
    if def.gvr.group != "postgresql.cnpg.io" || def.gvr.plural != "clusters" {
        return;
    }
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if !spec.contains_key("imageName") && !spec.contains_key("imageCatalogRef") {
        spec.insert("imageName".into(), json!(CNPG_DEFAULT_IMAGE));
    }
    let bootstrap = spec.entry("bootstrap").or_insert_with(|| json!({}));
    let Some(bootstrap) = bootstrap.as_object_mut() else {
        return;
    };
    if !["initdb", "recovery", "pg_basebackup"]
        .iter()
        .any(|k| bootstrap.contains_key(*k))
    {
        bootstrap.insert("initdb".into(), json!({}));
    }
    if let Some(initdb) = bootstrap.get_mut("initdb").and_then(Value::as_object_mut) {
        let database = initdb
            .get("database")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .unwrap_or("app")
            .to_owned();
        let owner = initdb
            .get("owner")
            .and_then(Value::as_str)
            .filter(|o| !o.is_empty())
            .unwrap_or(&database)
            .to_owned();
        initdb.insert("database".into(), json!(database));
        initdb.insert("owner".into(), json!(owner));
    }
}

/// CloudNativePG's validating webhook (`vcluster.cnpg.io`): a Cluster name is a DNS-1035 label of
/// at most 50 characters.
pub fn cnpg_cluster_webhook(def: &ResourceDef, object: &Value) -> Result<(), ApiError> {
    if def.gvr.group != "postgresql.cnpg.io" || def.gvr.plural != "clusters" {
        return Ok(());
    }
    let name = meta::name(object);
    let detail = if name.len() > 50 {
        Some("the maximum length of a cluster name is 50 characters".to_owned())
    } else {
        dns_label_problem(name, true)
    };
    match detail {
        None => Ok(()),
        Some(detail) => {
            let inner = ApiError::invalid(
                &def.kind_group(),
                name,
                &[field_error(
                    "metadata.name",
                    &format!("Invalid value: \"{name}\": {detail}"),
                )],
            );
            Err(ApiError {
                message: format!(
                    "admission webhook \"vcluster.cnpg.io\" denied the request: {}",
                    inner.message
                ),
                ..inner
            })
        }
    }
}

/// CloudNativePG refuses to shrink storage (`spec.storage.size`, `spec.walStorage.size`).
pub fn cnpg_cluster_update_webhook(
    def: &ResourceDef,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    if def.gvr.group != "postgresql.cnpg.io" || def.gvr.plural != "clusters" {
        return Ok(());
    }
    let mut errors = Vec::new();
    for field in ["storage", "walStorage"] {
        let pointer = format!("/spec/{field}/size");
        let (Some(before), Some(after)) = (
            old.pointer(&pointer).and_then(Value::as_str),
            new.pointer(&pointer).and_then(Value::as_str),
        ) else {
            continue;
        };
        if let (Some(b), Some(a)) = (quantity::parse(before), quantity::parse(after))
            && a < b
        {
            errors.push(field_error(
                &format!("spec.{field}.size"),
                &format!("Invalid value: \"{after}\": can't shrink existing storage from {before} to {after}"),
            ));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let inner = ApiError::invalid(&def.kind_group(), meta::name(new), &errors);
    Err(ApiError {
        message: format!(
            "admission webhook \"vcluster.cnpg.io\" denied the request: {}",
            inner.message
        ),
        ..inner
    })
}

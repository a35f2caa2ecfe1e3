//! The scale subresource (`autoscaling/v1` `Scale`) of CRDs that declare one, e.g. CNPG's Cluster
//! (`.spec.instances`) and Pooler: reads and writes the replica count at the CRD's JSON paths.

use axum::response::Response;
use serde_json::{Value, json};

use super::resources::{Request, parse_json, patch_kind};
use super::{Shared, json_response};
use crate::error::ApiError;
use crate::registry::{ResourceDef, ScaleSpec};
use crate::store::{ObjKey, PatchKind, Subresource, WriteOptions, meta};

/// `.spec.instances` → `/spec/instances`.
fn pointer(json_path: &str) -> String {
    json_path
        .trim_start_matches('.')
        .split('.')
        .fold(String::new(), |acc, seg| format!("{acc}/{seg}"))
}

fn scale_of(object: &Value, spec: &ScaleSpec) -> Value {
    let replicas = |path: &str| {
        object
            .pointer(&pointer(path))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let mut status = json!({ "replicas": replicas(&spec.status_replicas_path) });
    if let Some(selector) = spec
        .label_selector_path
        .as_deref()
        .and_then(|p| object.pointer(&pointer(p)))
    {
        status["selector"] = selector.clone();
    }
    let m = meta::meta(object);
    let keep = |k: &str| m.and_then(|m| m.get(k)).cloned().unwrap_or(Value::Null);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": keep("name"), "namespace": keep("namespace"), "uid": keep("uid"),
            "resourceVersion": keep("resourceVersion"), "creationTimestamp": keep("creationTimestamp"),
        },
        "spec": { "replicas": replicas(&spec.spec_replicas_path) },
        "status": status,
    })
}

pub(super) fn serve(
    shared: &Shared,
    def: &ResourceDef,
    request: &Request<'_>,
) -> Result<Response, ApiError> {
    let Some(spec) = &def.scale else {
        return Err(ApiError::new(404, "NotFound", "no scale subresource"));
    };
    let t = request.target;
    let name = t
        .name
        .as_deref()
        .ok_or_else(|| ApiError::method_not_allowed("scale needs an object name"))?;
    let ns = t.namespace.as_deref();
    let object = shared.store.get(&def.gvr, ns, name)?;
    let current = scale_of(&object, spec);
    let wanted = match request.method.as_str() {
        "GET" => return Ok(json_response(200, &current)),
        "PUT" => parse_json(request.body)?,
        "PATCH" => {
            let mut patched = current.clone();
            match patch_kind(request.headers, None, def)? {
                PatchKind::Merge | PatchKind::Strategic | PatchKind::Apply { .. } => {
                    let patch: Value = serde_yaml::from_slice(request.body)
                        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
                    json_patch::merge(&mut patched, &patch);
                }
                PatchKind::Json => {
                    let ops: json_patch::Patch =
                        serde_json::from_slice(request.body).map_err(|e| {
                            ApiError::bad_request(format!("error decoding JSON patch: {e}"))
                        })?;
                    json_patch::patch(&mut patched, &ops)
                        .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?;
                }
            }
            patched
        }
        other => {
            return Err(ApiError::method_not_allowed(format!(
                "{other} is not supported on scale"
            )));
        }
    };
    let replicas = wanted
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("Scale without spec.replicas"))?;
    let mut updated = object.clone();
    let sent_rv = meta::resource_version(&wanted);
    if !sent_rv.is_empty()
        && let Some(m) = updated.get_mut("metadata").and_then(Value::as_object_mut)
    {
        m.insert("resourceVersion".into(), json!(sent_rv));
    }
    if let Some(slot) = updated.pointer_mut(&pointer(&spec.spec_replicas_path)) {
        *slot = json!(replicas);
    } else {
        return Err(ApiError::bad_request(format!(
            "{} has no {}",
            def.kind, spec.spec_replicas_path
        )));
    }
    let key = ObjKey::new(def.gvr.clone(), ns, name);
    let opts = WriteOptions {
        dry_run: false,
        field_manager: request.query.get("fieldManager").cloned(),
    };
    let stored = shared
        .store
        .replace(&key, updated, Subresource::Main, &opts)?;
    Ok(json_response(200, &scale_of(&stored, spec)))
}

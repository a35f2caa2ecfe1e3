//! RBAC mode: a write of a Role, ClusterRole or binding is checked for escalation against the
//! object it would store (the policy-based RBAC storages check it before storing).

use serde_json::{Map, Value, json};

use super::Shared;
use super::resources::{Request, patch_kind};
use crate::error::ApiError;
use crate::rbac;
use crate::store::PatchKind;

pub(super) fn check(shared: &Shared, request: &Request<'_>) -> Result<(), ApiError> {
    let (Some(rbac), Some(user)) = (&shared.rbac, request.user) else {
        return Ok(());
    };
    let Some(target) = &request.attributes.resource else {
        return Ok(());
    };
    if target.group != "rbac.authorization.k8s.io" || !target.subresource.is_empty() {
        return Ok(());
    }
    match preview(shared, request) {
        Some(object) => rbac::escalation::check(rbac, &shared.store, user, target, &object),
        // A body that does not parse is refused by the write itself.
        None => Ok(()),
    }
}

/// The object a POST, PUT or PATCH would store, as far as escalation cares (rules, roleRef).
fn preview(shared: &Shared, request: &Request<'_>) -> Option<Value> {
    let t = request.target;
    match request.method.as_str() {
        "POST" | "PUT" => serde_json::from_slice(request.body).ok(),
        "PATCH" => {
            let name = t.name.as_deref()?;
            let def = shared.store.resource(&t.gvr).ok()?;
            let mut new = shared
                .store
                .get(&t.gvr, t.namespace.as_deref(), name)
                .unwrap_or_else(|_| json!({"metadata": {"name": name}}));
            match patch_kind(request.headers, None, &def).ok()? {
                PatchKind::Merge | PatchKind::Strategic => {
                    let patch: Value = serde_json::from_slice(request.body).ok()?;
                    json_patch::merge(&mut new, &patch);
                }
                PatchKind::Json => {
                    let patch: json_patch::Patch = serde_json::from_slice(request.body).ok()?;
                    json_patch::patch(&mut new, &patch).ok()?;
                }
                PatchKind::Apply { .. } => {
                    // `rules` and `roleRef` are atomic: the applied ones replace the stored ones.
                    let applied: Map<String, Value> = serde_yaml::from_slice(request.body).ok()?;
                    let map = new.as_object_mut()?;
                    for key in ["rules", "roleRef"] {
                        if let Some(value) = applied.get(key) {
                            map.insert(key.into(), value.clone());
                        }
                    }
                }
            }
            Some(new)
        }
        _ => None,
    }
}

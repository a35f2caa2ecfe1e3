//! Server-side apply with a simple ownership model: each apply manager owns the leaf fields of its
//! last applied configuration (kept in `managedFields` as FieldsV1). Applying sets those fields,
//! removes fields the manager owned before but no longer applies (unless someone else owns them),
//! and reports a 409 conflict when another apply manager owns a field with a different value,
//! unless `force` moves ownership. Lists are atomic; update (non-apply) writes own nothing.

use serde_json::{Value, json};

use super::managed_fields::{
    Entry, Path, entry_json, field_set, new_entry, parse_entries, set_item, value_at,
};
use super::meta::{self, meta_mut};
use super::rules::merge_for_subresource;
use super::write::{Subresource, WriteOptions};
use super::{ObjKey, State};
use crate::error::ApiError;
use crate::registry::ResourceDef;

impl State {
    pub(super) fn apply(
        &mut self,
        def: &ResourceDef,
        key: &ObjKey,
        body: &[u8],
        sub: Subresource,
        force: bool,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let manager = opts
            .field_manager
            .clone()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "PATCH requests with apply content type must have fieldManager",
                )
            })?;
        let mut applied: Value = serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        let applied_meta = meta_mut(&mut applied)
            .ok_or_else(|| ApiError::bad_request("apply configuration is not an object"))?;
        match applied_meta.get("name").and_then(Value::as_str) {
            Some(name) if name != key.name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({name}) does not match the name on the URL ({})",
                    key.name
                )));
            }
            Some(_) => {}
            None => {
                applied_meta.insert("name".into(), json!(key.name));
            }
        }
        let sent_namespace = meta::meta_str(&applied, "namespace").unwrap_or("");
        let is_namespace = def.gvr.group.is_empty() && def.gvr.plural == "namespaces";
        if def.namespaced
            && !is_namespace
            && !sent_namespace.is_empty()
            && sent_namespace != key.namespace
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let subresource = if sub == Subresource::Status {
            "status"
        } else {
            ""
        };
        let mine = field_set(&applied, sub, def.status_subresource);
        let Some(existing) = self.objects.get(key).cloned() else {
            if sub == Subresource::Status {
                return Err(ApiError::not_found(&def.gvr.qualified(), &key.name));
            }
            // patch.go `applyPatch`: an applied uid names an object that must already exist.
            let uid = meta::uid(&applied);
            if !uid.is_empty() {
                return Err(ApiError::conflict(
                    &def.gvr.qualified(),
                    &key.name,
                    &format!(
                        "uid mismatch: the provided object specified uid {uid}, and no existing object was found"
                    ),
                ));
            }
            let entry = new_entry(&manager, subresource, &def.gvr.api_version(), mine);
            let managed = Value::Array(vec![entry_json(&entry)]);
            let ns = (!key.namespace.is_empty()).then_some(key.namespace.as_str());
            return self.create_with_managed_fields(&key.gvr, ns, applied, opts, Some(managed));
        };
        let sent_rv = meta::resource_version(&applied);
        if !sent_rv.is_empty() && sent_rv != meta::resource_version(&existing) {
            return Err(ApiError::conflict(
                &key.gvr.qualified(),
                &key.name,
                "the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        let mut entries = parse_entries(&existing);
        let mut conflicts = Vec::new();
        for entry in entries.iter_mut().filter(|e| e.manager != manager) {
            let clashing: Vec<Path> = entry
                .fields
                .intersection(&mine)
                .filter(|p| value_at(&existing, p) != value_at(&applied, p))
                .cloned()
                .collect();
            for path in clashing {
                if force {
                    entry.fields.remove(&path);
                } else {
                    conflicts.push((entry.manager.clone(), path));
                }
            }
        }
        if !conflicts.is_empty() {
            return Err(conflict_error(&conflicts));
        }
        let previous = entries
            .iter()
            .find(|e| {
                e.manager == manager && e.operation == "Apply" && e.subresource == subresource
            })
            .map(|e| e.fields.clone())
            .unwrap_or_default();
        let mut new = existing.clone();
        for path in previous.difference(&mine) {
            let owned_elsewhere = entries
                .iter()
                .any(|e| e.manager != manager && e.fields.contains(path));
            if !owned_elsewhere {
                remove_path(&mut new, path);
            }
        }
        let applied_finalizers = meta::finalizers(&applied);
        let applies_finalizers = applied.pointer("/metadata/finalizers").is_some();
        deep_merge(&mut new, &applied);
        // Finalizers merge as a set: the applied ones join those others own.
        if applies_finalizers
            || previous
                .iter()
                .any(|p| p.len() == 3 && p[0] == "metadata" && p[1] == "finalizers")
        {
            let mut merged: Vec<String> = meta::finalizers(&existing)
                .into_iter()
                .filter(|f| new_has_or_owned_elsewhere(f, &applied_finalizers, &entries, &manager))
                .collect();
            for f in applied_finalizers {
                if !merged.contains(&f) {
                    merged.push(f);
                }
            }
            if let Some(m) = meta_mut(&mut new) {
                if merged.is_empty() {
                    m.remove("finalizers");
                } else {
                    m.insert("finalizers".into(), json!(merged));
                }
            }
        }
        let unchanged = previous == mine;
        entries.retain(|e| {
            !(e.manager == manager && e.operation == "Apply" && e.subresource == subresource)
        });
        let mut entry = new_entry(&manager, subresource, &def.gvr.api_version(), mine);
        if unchanged
            && let Some(old) = parse_entries(&existing)
                .into_iter()
                .find(|e| e.manager == manager)
        {
            entry.time = old.time;
        }
        entries.push(entry);
        entries.retain(|e| !e.fields.is_empty());
        let mut new = merge_for_subresource(def, &existing, new, sub);
        if let Some(m) = meta_mut(&mut new) {
            m.insert(
                "managedFields".into(),
                Value::Array(entries.iter().map(entry_json).collect()),
            );
        }
        self.commit(def, key, Some(existing), new, opts)
    }
}

fn remove_path(value: &mut Value, path: &Path) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let parent = parents.iter().try_fold(value, |v, seg| v.get_mut(seg));
    match (parent, set_item(last)) {
        (Some(Value::Array(items)), Some(item)) => items.retain(|i| *i != item),
        (Some(Value::Object(map)), _) => {
            map.remove(last);
        }
        _ => {}
    }
}

/// Objects merge key by key; anything else (scalars, lists) is replaced.
fn deep_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn conflict_error(conflicts: &[(String, Path)]) -> ApiError {
    let described: Vec<String> = conflicts
        .iter()
        .map(|(m, p)| format!("conflict with \"{m}\": .{}", p.join(".")))
        .collect();
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, p)| json!({ "reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": format!(".{}", p.join(".")) }))
        .collect();
    let noun = if conflicts.len() == 1 {
        "conflict"
    } else {
        "conflicts"
    };
    ApiError::new(
        409,
        "Conflict",
        format!(
            "Apply failed with {} {noun}: {}",
            conflicts.len(),
            described.join(", ")
        ),
    )
    .with_details(json!({ "causes": causes }))
}

/// Whether an existing finalizer stays after an apply: applied again, or kept by another manager
/// (or by nobody's apply: set by an update or at creation and never applied by this manager).
fn new_has_or_owned_elsewhere(
    finalizer: &str,
    applied: &[String],
    entries: &[Entry],
    manager: &str,
) -> bool {
    let path: Path = vec![
        "metadata".into(),
        "finalizers".into(),
        format!("v:{}", json!(finalizer)),
    ];
    let mine = entries
        .iter()
        .any(|e| e.manager == manager && e.operation == "Apply" && e.fields.contains(&path));
    applied.iter().any(|f| f == finalizer)
        || !mine
        || entries
            .iter()
            .any(|e| e.manager != manager && e.fields.contains(&path))
}

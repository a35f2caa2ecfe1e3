//! Server-side apply with a simple ownership model: each apply manager owns the leaf fields of its
//! last applied configuration (kept in `managedFields` as FieldsV1). Applying sets those fields,
//! removes fields the manager owned before but no longer applies (unless someone else owns them),
//! and reports a 409 conflict when another apply manager owns a field with a different value,
//! unless `force` moves ownership. Lists are atomic; update (non-apply) writes own nothing.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::meta::{self, meta_mut};
use super::rules::merge_for_subresource;
use super::write::{Subresource, WriteOptions};
use super::{ObjKey, State};
use crate::error::ApiError;
use crate::registry::ResourceDef;

type Path = Vec<String>;

#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    subresource: String,
    api_version: String,
    time: String,
    fields: BTreeSet<Path>,
}

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
        for entry in entries
            .iter_mut()
            .filter(|e| e.manager != manager && e.operation == "Apply")
        {
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
        deep_merge(&mut new, &applied);
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

fn new_entry(manager: &str, subresource: &str, api_version: &str, fields: BTreeSet<Path>) -> Entry {
    Entry {
        manager: manager.to_owned(),
        operation: "Apply".into(),
        subresource: subresource.to_owned(),
        api_version: api_version.to_owned(),
        time: meta::now(),
        fields,
    }
}

/// Leaf paths an apply configuration sets: labels, annotations, finalizers and owner references
/// of metadata, and everything outside metadata that the addressed subresource may change.
fn field_set(applied: &Value, sub: Subresource, status_subresource: bool) -> BTreeSet<Path> {
    let mut set = BTreeSet::new();
    let Some(map) = applied.as_object() else {
        return set;
    };
    for (key, value) in map {
        match key.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                for field in ["labels", "annotations"] {
                    if let Some(entries) = value.get(field).and_then(Value::as_object) {
                        for k in entries.keys() {
                            set.insert(vec!["metadata".into(), field.into(), k.clone()]);
                        }
                    }
                }
                for field in ["finalizers", "ownerReferences"] {
                    if value.get(field).is_some() {
                        set.insert(vec!["metadata".into(), field.into()]);
                    }
                }
            }
            "status" if sub == Subresource::Main && status_subresource => {}
            _ if sub == Subresource::Status && key != "status" => {}
            _ => leaves(value, vec![key.clone()], &mut set),
        }
    }
    set
}

fn leaves(value: &Value, path: Path, out: &mut BTreeSet<Path>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let mut p = path.clone();
                p.push(k.clone());
                leaves(v, p, out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

fn value_at<'a>(value: &'a Value, path: &Path) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, seg| v.get(seg))
}

fn remove_path(value: &mut Value, path: &Path) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let parent = parents.iter().try_fold(value, |v, seg| v.get_mut(seg));
    if let Some(Value::Object(map)) = parent {
        map.remove(last);
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

fn parse_entries(object: &Value) -> Vec<Entry> {
    let Some(list) = meta::meta(object)
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let mut fields = BTreeSet::new();
            if let Some(tree) = e.get("fieldsV1") {
                decode(tree, Vec::new(), &mut fields);
            }
            Entry {
                manager: s("manager"),
                operation: s("operation"),
                subresource: s("subresource"),
                api_version: s("apiVersion"),
                time: s("time"),
                fields,
            }
        })
        .collect()
}

fn decode(tree: &Value, path: Path, out: &mut BTreeSet<Path>) {
    let children: Vec<(&String, &Value)> = tree
        .as_object()
        .map(|m| m.iter().filter(|(k, _)| k.starts_with("f:")).collect())
        .unwrap_or_default();
    if children.is_empty() {
        if !path.is_empty() {
            out.insert(path);
        }
        return;
    }
    for (k, v) in children {
        let mut p = path.clone();
        p.push(k.trim_start_matches("f:").to_owned());
        decode(v, p, out);
    }
}

fn entry_json(entry: &Entry) -> Value {
    let mut tree = Map::new();
    for path in &entry.fields {
        let mut node = &mut tree;
        for seg in path {
            let child = node.entry(format!("f:{seg}")).or_insert_with(|| json!({}));
            let Value::Object(map) = child else { break };
            node = map;
        }
    }
    let mut v = json!({
        "manager": entry.manager,
        "operation": entry.operation,
        "apiVersion": entry.api_version,
        "time": entry.time,
        "fieldsType": "FieldsV1",
        "fieldsV1": Value::Object(tree),
    });
    if !entry.subresource.is_empty() {
        v["subresource"] = json!(entry.subresource);
    }
    v
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

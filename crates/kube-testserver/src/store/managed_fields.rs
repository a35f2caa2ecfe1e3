//! `metadata.managedFields` (FieldsV1) as sets of leaf paths per manager and operation.
//! Non-apply writes record an `Update` entry for the fields they changed, taking them from
//! every other manager, as the API server does; apply uses the same sets for its conflicts.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::meta::{self, meta_mut};
use super::write::Subresource;
use crate::registry::ResourceDef;

pub(super) type Path = Vec<String>;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub manager: String,
    pub operation: String,
    pub subresource: String,
    pub api_version: String,
    pub time: String,
    pub fields: BTreeSet<Path>,
}

pub(super) fn new_entry(
    manager: &str,
    subresource: &str,
    api_version: &str,
    fields: BTreeSet<Path>,
) -> Entry {
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
pub(super) fn field_set(
    applied: &Value,
    sub: Subresource,
    status_subresource: bool,
) -> BTreeSet<Path> {
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
                // Finalizers are a set: each one is owned on its own (`v:"<finalizer>"`).
                for finalizer in value
                    .get("finalizers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    set.insert(vec![
                        "metadata".into(),
                        "finalizers".into(),
                        format!("v:{finalizer}"),
                    ]);
                }
                if value.get("ownerReferences").is_some() {
                    set.insert(vec!["metadata".into(), "ownerReferences".into()]);
                }
            }
            "status" if sub == Subresource::Main && status_subresource => {}
            _ if sub == Subresource::Status && key != "status" => {}
            _ => leaves(value, vec![key.clone()], &mut set),
        }
    }
    set
}

pub(super) fn leaves(value: &Value, path: Path, out: &mut BTreeSet<Path>) {
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

/// The value at `path`; a `v:<json>` segment is the set item equal to `<json>`.
pub(super) fn value_at<'a>(value: &'a Value, path: &Path) -> Option<&'a Value> {
    path.iter()
        .try_fold(value, |v, seg| match (v, set_item(seg)) {
            (Value::Array(items), Some(item)) => items.iter().find(|i| **i == item),
            _ => v.get(seg),
        })
}

/// The item a `v:<json>` path segment names.
pub(super) fn set_item(seg: &str) -> Option<Value> {
    seg.strip_prefix("v:")
        .and_then(|json| serde_json::from_str(json).ok())
}

pub(super) fn parse_entries(object: &Value) -> Vec<Entry> {
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

pub(super) fn decode(tree: &Value, path: Path, out: &mut BTreeSet<Path>) {
    let children: Vec<(&String, &Value)> = tree
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("f:") || k.starts_with("v:"))
                .collect()
        })
        .unwrap_or_default();
    if children.is_empty() {
        if !path.is_empty() {
            out.insert(path);
        }
        return;
    }
    for (k, v) in children {
        let mut p = path.clone();
        p.push(k.strip_prefix("f:").unwrap_or(k).to_owned());
        decode(v, p, out);
    }
}

pub(super) fn entry_json(entry: &Entry) -> Value {
    let mut tree = Map::new();
    for path in &entry.fields {
        let mut node = &mut tree;
        for seg in path {
            let key = if seg.starts_with("v:") {
                seg.clone()
            } else {
                format!("f:{seg}")
            };
            let child = node.entry(key).or_insert_with(|| json!({}));
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

/// Records a non-apply write by `manager`: the leaf fields it changed become its `Update` entry's
/// and leave every other entry; fields no longer in the object are owned by nobody.
pub(super) fn record_update(
    def: &ResourceDef,
    old: Option<&Value>,
    new: &mut Value,
    sub: Subresource,
    manager: &str,
) {
    let subresource = if sub == Subresource::Status {
        "status"
    } else {
        ""
    };
    let now_set = field_set(new, sub, def.status_subresource);
    let changed: BTreeSet<Path> = match old {
        None => now_set,
        Some(old) => now_set
            .into_iter()
            .filter(|p| value_at(old, p) != value_at(new, p))
            .collect(),
    };
    let mut entries = old.map(parse_entries).unwrap_or_default();
    let before = entries.clone();
    for entry in &mut entries {
        entry.fields.retain(|p| value_at(new, p).is_some());
        if entry.manager != manager || entry.operation != "Update" {
            entry.fields.retain(|p| !changed.contains(p));
        }
    }
    if !changed.is_empty() {
        let mine = entries.iter_mut().find(|e| {
            e.manager == manager && e.operation == "Update" && e.subresource == subresource
        });
        match mine {
            Some(entry) => {
                entry.fields.extend(changed);
                entry.time = meta::now();
            }
            None => {
                let mut entry = new_entry(manager, subresource, &def.gvr.api_version(), changed);
                entry.operation = "Update".into();
                entries.push(entry);
            }
        }
    }
    entries.retain(|e| !e.fields.is_empty());
    if entries == before {
        return;
    }
    if let Some(m) = meta_mut(new) {
        if entries.is_empty() {
            m.remove("managedFields");
        } else {
            m.insert(
                "managedFields".into(),
                Value::Array(entries.iter().map(entry_json).collect()),
            );
        }
    }
}

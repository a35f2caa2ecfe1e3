//! Object metadata helpers: names, timestamps, uids, resource versions, generation.

use serde_json::{Map, Value, json};

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn meta(object: &Value) -> Option<&Map<String, Value>> {
    object.get("metadata").and_then(Value::as_object)
}

/// `metadata`, created if absent; `None` only when `object` is not a JSON object.
pub fn meta_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    let map = object.as_object_mut()?;
    let metadata = map.entry("metadata").or_insert_with(|| json!({}));
    if !metadata.is_object() {
        *metadata = json!({});
    }
    metadata.as_object_mut()
}

pub fn meta_str<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    meta(object)
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
}

pub fn name(object: &Value) -> &str {
    meta_str(object, "name").unwrap_or("")
}

pub fn uid(object: &Value) -> &str {
    meta_str(object, "uid").unwrap_or("")
}

pub fn resource_version(object: &Value) -> &str {
    meta_str(object, "resourceVersion").unwrap_or("")
}

pub fn finalizers(object: &Value) -> Vec<String> {
    meta(object)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(object: &Value) -> bool {
    meta(object).is_some_and(|m| m.get("deletionTimestamp").is_some_and(|t| !t.is_null()))
}

/// uids this object names in `ownerReferences`.
pub fn owner_uids(object: &Value) -> Vec<String> {
    meta(object)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The part of an object whose change bumps `metadata.generation` (everything but metadata/status).
pub fn spec_part(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    copy
}

/// An object equal to `other` except for the resource version (a no-op write).
pub fn same_content(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut c = v.clone();
        if let Some(m) = meta_mut(&mut c) {
            m.remove("resourceVersion");
        }
        c
    };
    strip(a) == strip(b)
}

/// Five random lowercase alphanumerics, the API server's `generateName` suffix.
pub fn random_suffix() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    id.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(5)
        .collect()
}

//! What a write may change: type metadata, status vs. main resource, server-owned metadata, and
//! the Secret `stringData` convenience.

use serde_json::{Value, json};

use super::meta::{self, meta_mut};
use super::write::Subresource;
use crate::error::ApiError;
use crate::registry::ResourceDef;

/// Fills `apiVersion`/`kind` when absent; rejects a body meant for another type.
pub(super) fn check_type_meta(def: &ResourceDef, body: &mut Value) -> Result<(), ApiError> {
    let map = body
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("object is not a JSON object"))?;
    let expected = def.gvr.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != expected => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected})"
            )));
        }
        _ => {
            map.insert("apiVersion".into(), json!(expected));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        Some(k) if k != def.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                def.kind
            )));
        }
        _ => {
            map.insert("kind".into(), json!(def.kind));
        }
    }
    Ok(())
}

/// What a write may change: a main write keeps the stored status (when there is a status
/// subresource), a `/status` write changes only the status; server-owned metadata always stays.
pub(super) fn merge_for_subresource(
    def: &ResourceDef,
    existing: &Value,
    body: Value,
    sub: Subresource,
) -> Value {
    let mut new = match sub {
        Subresource::Status => {
            let mut new = existing.clone();
            match body.get("status") {
                Some(status) => new["status"] = status.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            new
        }
        Subresource::Main => {
            let mut new = body;
            if def.status_subresource {
                match existing.get("status") {
                    Some(status) => new["status"] = status.clone(),
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            new
        }
    };
    if let (Some(old_meta), Some(new_meta)) = (meta::meta(existing).cloned(), meta_mut(&mut new)) {
        for key in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "managedFields",
        ] {
            match old_meta.get(key) {
                Some(v) => new_meta.insert(key.into(), v.clone()),
                None => new_meta.remove(key),
            };
        }
        new_meta.insert(
            "resourceVersion".into(),
            old_meta
                .get("resourceVersion")
                .cloned()
                .unwrap_or(Value::Null),
        );
    }
    new
}

/// `stringData` is write-only: the API server folds it into base64 `data`.
pub(super) fn fold_string_data(secret: &mut Value) {
    use base64::Engine;
    let Some(map) = secret.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = map.remove("stringData") else {
        return;
    };
    let data = map.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    for (key, value) in strings {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned);
        data[key] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// A Secret's `data` values are base64 (standard alphabet, padded; line breaks ignored), as Go's
/// JSON decoding of `[]byte` reads them: the decode error otherwise, worded like Go's.
pub(super) fn secret_data_problem(secret: &Value) -> Option<String> {
    use base64::Engine;
    let data = secret.get("data")?.as_object()?;
    for value in data.values() {
        let Some(text) = value.as_str() else {
            if value.is_null() {
                continue;
            }
            let found = match value {
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::Array(_) => "array",
                _ => "object",
            };
            return Some(format!(
                "json: cannot unmarshal {found} into Go struct field Secret.data of type []uint8"
            ));
        };
        let cleaned: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        if let Err(error) = base64::engine::general_purpose::STANDARD.decode(&cleaned) {
            let at = match error {
                base64::DecodeError::InvalidByte(at, _)
                | base64::DecodeError::InvalidLastSymbol(at, _) => at,
                base64::DecodeError::InvalidLength(_) | base64::DecodeError::InvalidPadding => {
                    cleaned.len()
                }
            };
            return Some(format!("illegal base64 data at input byte {at}"));
        }
    }
    None
}

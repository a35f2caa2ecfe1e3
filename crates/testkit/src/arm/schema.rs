//! Small checks of a JSON body against a schema written out by hand from the REST spec:
//! every field is known, read-only fields are absent, types and enums fit.

use serde_json::{Map, Value};

use super::reply::Refusal;

pub(crate) type Obj = Map<String, Value>;

pub(crate) fn object<'a>(value: &'a Value, at: &str) -> Result<&'a Obj, Refusal> {
    value
        .as_object()
        .ok_or_else(|| Refusal::invalid_content(format!("'{at}' must be a JSON object")))
}

/// Refuses a field the schema does not have, or one it marks read-only.
pub(crate) fn known_keys(
    map: &Obj,
    at: &str,
    writable: &[&str],
    read_only: &[&str],
) -> Result<(), Refusal> {
    for key in map.keys() {
        if read_only.contains(&key.as_str()) {
            return Err(Refusal::invalid_content(format!(
                "'{at}.{key}' is read-only and may not be set in a request"
            )));
        }
        if !writable.contains(&key.as_str()) {
            return Err(Refusal::invalid_content(format!(
                "Could not find member '{key}' on object of type '{at}'"
            )));
        }
    }
    Ok(())
}

pub(crate) fn opt_str<'a>(map: &'a Obj, key: &str, at: &str) -> Result<Option<&'a str>, Refusal> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Refusal::invalid_content(format!(
            "'{at}.{key}' must be a string"
        ))),
    }
}

pub(crate) fn opt_int(map: &Obj, key: &str, at: &str) -> Result<Option<i64>, Refusal> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .filter(|n| i32::try_from(*n).is_ok())
            .map(Some)
            .ok_or_else(|| Refusal::invalid_content(format!("'{at}.{key}' must be an int32"))),
    }
}

/// A string field whose value must come from the spec's enum.
pub(crate) fn opt_enum<'a>(
    map: &'a Obj,
    key: &str,
    at: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, Refusal> {
    let Some(value) = opt_str(map, key, at)? else {
        return Ok(None);
    };
    if allowed.contains(&value) {
        Ok(Some(value))
    } else {
        Err(Refusal::invalid_value(format!(
            "The value '{value}' of '{at}.{key}' is not valid. Allowed values: {}",
            allowed.join(", ")
        )))
    }
}

pub(crate) fn opt_object<'a>(
    map: &'a Obj,
    key: &str,
    at: &str,
) -> Result<Option<&'a Obj>, Refusal> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => object(v, &format!("{at}.{key}")).map(Some),
    }
}

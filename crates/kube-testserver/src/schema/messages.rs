//! Field errors worded like the API server's.

use serde_json::Value;

use crate::error::FieldError;

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub(super) fn invalid(path: &str, value: &Value, why: &str) -> FieldError {
    FieldError {
        field: path.to_owned(),
        reason: "FieldValueInvalid",
        detail: format!("Invalid value: {value}: {why}"),
    }
}

pub(super) fn invalid_n(path: &str, n: u64, why: &str) -> FieldError {
    FieldError {
        field: path.to_owned(),
        reason: "FieldValueInvalid",
        detail: format!("Invalid value: {n}: {why}"),
    }
}

pub(super) fn too_many(path: &str, count: u64, max: u64) -> FieldError {
    FieldError {
        field: path.to_owned(),
        reason: "FieldValueTooMany",
        detail: format!("Too many: {count}: must have at most {max} items"),
    }
}

pub(super) fn unknown_field(path: &str) -> FieldError {
    FieldError {
        field: path.to_owned(),
        reason: "FieldValueForbidden",
        detail: format!("Forbidden: unknown field \"{path}\" is not declared in the schema"),
    }
}

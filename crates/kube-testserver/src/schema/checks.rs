//! The per-keyword checks of a structural schema.

use serde_json::{Map, Value};

use super::messages::{invalid, invalid_n, join, too_many, unknown_field};
use super::{flag, is_nullable, preserves_unknown, regex_matches};
use crate::error::FieldError;

pub(super) fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    if value.is_null() {
        if !is_nullable(schema) {
            errors.push(invalid(
                path,
                value,
                &format!(
                    "{path} in body must be of type {}: \"null\"",
                    type_name(schema)
                ),
            ));
        }
        return;
    }
    if !type_matches(schema, value) {
        let detail = format!(
            "{path} in body must be of type {}: \"{}\"",
            type_name(schema),
            json_type(value)
        );
        errors.push(FieldError {
            field: path.to_owned(),
            reason: "FieldValueTypeInvalid",
            detail: format!("Invalid value: \"{}\": {detail}", json_type(value)),
        });
        return;
    }
    check_enum(schema, value, path, errors);
    match value {
        Value::Object(map) => check_map(schema, map, path, errors),
        Value::Array(items) => check_array(schema, items, path, errors),
        Value::String(s) => check_string(schema, s, value, path, errors),
        Value::Number(_) => check_number(schema, value, path, errors),
        Value::Bool(_) | Value::Null => {}
    }
    check_combinators(schema, value, path, errors);
}

fn check_map(schema: &Value, map: &Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    let embedded = flag(schema, "x-kubernetes-embedded-resource");
    for (key, value) in map {
        if let Some(sub) = properties.and_then(|p| p.get(key)) {
            check(sub, value, &format!("{path}.{key}"), errors);
        } else if let Some(sub) = additional.filter(|a| a.is_object()) {
            check(sub, value, &format!("{path}[{key}]"), errors);
        } else if additional == Some(&Value::Bool(true))
            || preserves_unknown(schema)
            || (embedded && matches!(key.as_str(), "apiVersion" | "kind" | "metadata"))
        {
        } else {
            errors.push(unknown_field(&format!("{path}.{key}")));
        }
    }
    check_required(schema, map, path, errors);
    let count = map.len() as u64;
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && count < min
    {
        errors.push(invalid_n(
            path,
            count,
            &format!("{path} in body should have at least {min} properties"),
        ));
    }
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && count > max
    {
        errors.push(too_many(path, count, max));
    }
}

pub(super) fn check_required(
    schema: &Value,
    map: &Map<String, Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = required.as_str()
            && !map.contains_key(name)
        {
            errors.push(FieldError {
                field: join(path, name),
                reason: "FieldValueRequired",
                detail: "Required value".into(),
            });
        }
    }
}

fn check_array(schema: &Value, items: &[Value], path: &str, errors: &mut Vec<FieldError>) {
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{path}[{i}]"), errors);
        }
    }
    let count = items.len() as u64;
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && count < min
    {
        errors.push(invalid_n(
            path,
            count,
            &format!("{path} in body should have at least {min} items"),
        ));
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && count > max
    {
        errors.push(too_many(path, count, max));
    }
    let list_type = schema.get("x-kubernetes-list-type").and_then(Value::as_str);
    let keys: Vec<&str> = schema
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|k| k.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let identity = |item: &Value| -> Value {
        if list_type == Some("map") {
            Value::Array(
                keys.iter()
                    .map(|k| item.get(*k).cloned().unwrap_or(Value::Null))
                    .collect(),
            )
        } else {
            item.clone()
        }
    };
    if flag(schema, "uniqueItems") || matches!(list_type, Some("set" | "map")) {
        for (i, item) in items.iter().enumerate() {
            let id = identity(item);
            if items[..i].iter().any(|earlier| identity(earlier) == id) {
                errors.push(FieldError {
                    field: format!("{path}[{i}]"),
                    reason: "FieldValueDuplicate",
                    detail: format!("Duplicate value: {id}"),
                });
            }
        }
    }
}

fn check_string(schema: &Value, s: &str, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let len = s.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        errors.push(FieldError {
            field: path.to_owned(),
            reason: "FieldValueTooLong",
            detail: format!("Too long: may not be more than {max} bytes"),
        });
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        errors.push(invalid(
            path,
            value,
            &format!("{path} in body should be at least {min} chars long"),
        ));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && let Some(false) = regex_matches(pattern, s)
    {
        errors.push(invalid(
            path,
            value,
            &format!("{path} in body should match '{pattern}'"),
        ));
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && chrono::DateTime::parse_from_rfc3339(s).is_err()
    {
        errors.push(invalid(
            path,
            value,
            &format!("{path} in body must be of type date-time: \"{s}\""),
        ));
    }
}

fn check_number(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(n) = value.as_f64() else { return };
    let exclusive_min = flag(schema, "exclusiveMinimum");
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && (n < min || (exclusive_min && n <= min))
    {
        let op = if exclusive_min {
            "greater than"
        } else {
            "greater than or equal to"
        };
        errors.push(invalid(
            path,
            value,
            &format!("{path} in body should be {op} {min}"),
        ));
    }
    let exclusive_max = flag(schema, "exclusiveMaximum");
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
        && (n > max || (exclusive_max && n >= max))
    {
        let op = if exclusive_max {
            "less than"
        } else {
            "less than or equal to"
        };
        errors.push(invalid(
            path,
            value,
            &format!("{path} in body should be {op} {max}"),
        ));
    }
    if schema.get("format").and_then(Value::as_str) == Some("int32")
        && !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&n)
    {
        errors.push(invalid(
            path,
            value,
            &format!("{path} in body must be of type int32"),
        ));
    }
}

fn check_enum(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let Some(allowed) = schema.get("enum").and_then(Value::as_array) else {
        return;
    };
    if !allowed.contains(value) {
        let listed: Vec<String> = allowed.iter().map(Value::to_string).collect();
        errors.push(FieldError {
            field: path.to_owned(),
            reason: "FieldValueNotSupported",
            detail: format!(
                "Unsupported value: {value}: supported values: {}",
                listed.join(", ")
            ),
        });
    }
}

fn check_combinators(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let passes = |sub: &Value| {
        let mut scratch = Vec::new();
        check(sub, value, path, &mut scratch);
        scratch.is_empty()
    };
    for sub in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check(sub, value, path, errors);
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
        && !any.iter().any(passes)
    {
        errors.push(invalid(
            path,
            value,
            &format!("{path} in body must match at least one schema in anyOf"),
        ));
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array)
        && one.iter().filter(|s| passes(s)).count() != 1
    {
        errors.push(invalid(
            path,
            value,
            &format!("{path} in body must match exactly one schema in oneOf"),
        ));
    }
    if let Some(not) = schema.get("not")
        && passes(not)
    {
        errors.push(invalid(
            path,
            value,
            &format!("{path} in body must not match the schema in not"),
        ));
    }
}

fn type_matches(schema: &Value, value: &Value) -> bool {
    if flag(schema, "x-kubernetes-int-or-string") {
        return value.is_i64() || value.is_u64() || value.is_string();
    }
    match schema.get("type").and_then(Value::as_str) {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("boolean") => value.is_boolean(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some(_) => true,
    }
}

fn type_name(schema: &Value) -> &str {
    if flag(schema, "x-kubernetes-int-or-string") {
        return "integer,string";
    }
    schema.get("type").and_then(Value::as_str).unwrap_or("any")
}

pub(super) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

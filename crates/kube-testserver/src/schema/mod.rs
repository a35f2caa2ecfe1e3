//! A focused validator for CRD structural schemas (`openAPIV3Schema`), with the API server's
//! pruning of nulls, defaulting, and its field-error wording.
//!
//! Checked: type (incl. `x-kubernetes-int-or-string`, `nullable`), properties and unknown fields
//! (rejected unless `x-kubernetes-preserve-unknown-fields` or `additionalProperties` allow them),
//! required, enum, minimum/maximum (+exclusive), int32/int64 ranges, date-time, min/maxLength,
//! pattern, min/maxItems, uniqueItems, list-type set/map duplicates, min/maxProperties,
//! anyOf/oneOf/allOf/not; CEL rules (`x-kubernetes-validations`) in the subset `cel` supports.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::Value;

pub mod cel;
mod checks;
mod messages;
mod rules;

pub use rules::{UnevaluatedRule, unevaluated_rules};

use checks::{check, check_required};
use messages::{invalid, unknown_field};

use crate::error::FieldError;

/// Removes nulls the schema does not allow and fills `default`s, as the API server does before
/// validating a custom resource.
pub fn prune_and_default(schema: &Value, value: &mut Value) {
    let Value::Object(map) = value else {
        if let Value::Array(items) = value
            && let Some(item_schema) = schema.get("items")
        {
            items
                .iter_mut()
                .for_each(|item| prune_and_default(item_schema, item));
        }
        return;
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    map.retain(|key, v| {
        let sub = properties.and_then(|p| p.get(key)).or(additional);
        !v.is_null() || sub.is_some_and(is_nullable)
    });
    if let Some(properties) = properties {
        for (key, sub) in properties {
            if !map.contains_key(key)
                && let Some(default) = sub.get("default")
            {
                map.insert(key.clone(), default.clone());
            }
        }
    }
    for (key, v) in map.iter_mut() {
        if let Some(sub) = properties.and_then(|p| p.get(key)).or(additional) {
            prune_and_default(sub, v);
        }
    }
}

/// Validates a whole custom resource; `metadata` is the API server's business, not the schema's.
/// CEL rules that compare with `oldSelf` need [`validate_update`].
pub fn validate_object(schema: &Value, object: &Value) -> Vec<FieldError> {
    validate_update(schema, object, None)
}

/// [`validate_object`] for a write that replaces `old` (transition rules such as
/// `self == oldSelf` are evaluated too).
pub fn validate_update(schema: &Value, object: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errors = validate_structure(schema, object);
    if errors.is_empty() {
        rules::check_rules(schema, object, old, "", &mut errors);
    }
    errors
}

fn validate_structure(schema: &Value, object: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(map) = object.as_object() else {
        errors.push(invalid("", object, "must be an object"));
        return errors;
    };
    let properties = schema.get("properties").and_then(Value::as_object);
    for (key, value) in map {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match properties.and_then(|p| p.get(key)) {
            Some(sub) => check(sub, value, key, &mut errors),
            None if preserves_unknown(schema) => {}
            None => errors.push(unknown_field(key)),
        }
    }
    check_required(schema, map, "", &mut errors);
    errors
}

pub(super) fn is_nullable(schema: &Value) -> bool {
    flag(schema, "nullable")
}

pub(super) fn preserves_unknown(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-preserve-unknown-fields")
}

pub(super) fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key) == Some(&Value::Bool(true))
}

/// `None` when the CRD's (Go RE2) pattern does not compile as a Rust regex; then it is not enforced.
pub(super) fn regex_matches(pattern: &str, s: &str) -> Option<bool> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let mut cache = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let regex = cache
        .entry(pattern.to_owned())
        .or_insert_with(|| Regex::new(pattern).ok());
    regex.as_ref().map(|r| r.is_match(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": { "type": "string", "maxLength": 5, "minLength": 1 },
                        "size": { "x-kubernetes-int-or-string": true, "anyOf": [{ "type": "integer" }, { "type": "string" }] },
                        "maybe": { "type": "string", "nullable": true },
                        "plain": { "type": "string" },
                        "free": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                        "labels": { "type": "object", "additionalProperties": { "type": "string" } },
                        "any": { "type": "object", "additionalProperties": true },
                        "embedded": { "type": "object", "x-kubernetes-embedded-resource": true, "properties": { "spec": { "type": "object" } } },
                        "ports": {
                            "type": "array", "maxItems": 2,
                            "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                            "items": { "type": "object", "properties": { "name": { "type": "string" }, "port": { "type": "integer", "format": "int32" } } },
                        },
                        "when": { "type": "string", "format": "date-time" },
                        "mode": { "type": "string", "default": "fast", "enum": ["fast", "safe"] },
                        "either": { "oneOf": [{ "type": "integer" }, { "type": "boolean" }] },
                        "notFive": { "type": "integer", "not": { "enum": [5] } },
                    },
                },
            },
        })
    }

    fn errors_for(spec: Value) -> Vec<String> {
        let mut object =
            json!({ "apiVersion": "x/v1", "kind": "X", "metadata": { "name": "a" }, "spec": spec });
        prune_and_default(&schema(), &mut object);
        validate_object(&schema(), &object)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn accepts_what_the_schema_allows() {
        let ok = errors_for(json!({
            "name": "ab", "size": "10Gi", "maybe": null, "plain": null,
            "free": { "anything": { "goes": [1, 2] } }, "labels": { "a": "b" }, "any": { "x": 1 },
            "embedded": { "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "p" }, "spec": {} },
            "ports": [{ "name": "a", "port": 1 }, { "name": "b", "port": 2 }],
            "when": "2026-01-01T00:00:00Z", "either": true, "notFive": 4,
        }));
        assert_eq!(ok, Vec::<String>::new());
        assert!(
            errors_for(json!({ "name": "ab", "size": 3 })).is_empty(),
            "int-or-string takes integers"
        );
    }

    #[test]
    fn prunes_non_nullable_nulls_and_fills_defaults() {
        let mut object = json!({ "spec": { "name": "a", "plain": null, "maybe": null } });
        prune_and_default(&schema(), &mut object);
        assert_eq!(
            object["spec"],
            json!({ "name": "a", "maybe": null, "mode": "fast" })
        );
    }

    #[test]
    fn reports_each_violation_with_its_path() {
        let errors = errors_for(json!({
            "name": "toolong", "size": 1.5, "labels": { "a": 1 }, "unknown": 1,
            "ports": [{ "name": "a", "port": 3_000_000_000_i64 }, { "name": "a" }, { "name": "c" }],
            "when": "yesterday", "mode": "slow", "either": "x", "notFive": 5,
        }));
        let expect = [
            "spec.name: Too long: may not be more than 5 bytes",
            "spec.size: Invalid value: \"number\"",
            "spec.labels[a]: Invalid value: \"integer\"",
            "spec.unknown: Forbidden: unknown field \"spec.unknown\"",
            "spec.ports[0].port: Invalid value: 3000000000: spec.ports[0].port in body must be of type int32",
            "spec.ports: Too many: 3: must have at most 2 items",
            "spec.ports[1]: Duplicate value",
            "spec.when: Invalid value: \"yesterday\"",
            "spec.mode: Unsupported value: \"slow\"",
            "spec.either: Invalid value: \"x\": spec.either in body must match exactly one schema in oneOf",
            "spec.notFive: Invalid value: 5: spec.notFive in body must not match the schema in not",
        ];
        for e in expect {
            assert!(
                errors.iter().any(|got| got.starts_with(e)),
                "missing {e:?} in {errors:#?}"
            );
        }
        assert_eq!(errors_for(json!({}))[0], "spec.name: Required value");
    }
}

//! `x-kubernetes-validations`: each rule of a schema node is evaluated with `self` bound to the
//! node's value (and `oldSelf` to the stored value on update; transition rules are skipped on
//! create). A rule outside the supported CEL subset, or one whose evaluation errs, is skipped.

use serde_json::Value;

use super::cel::{self, Env};
use super::checks::json_type;
use crate::error::FieldError;

pub(super) fn check_rules(
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for rule in schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(text) = rule.get("rule").and_then(Value::as_str) else {
            continue;
        };
        let Ok(expr) = cel::parse(text) else { continue };
        if cel::uses_old_self(&expr) && old.is_none() {
            continue;
        }
        let mut env = Env::new();
        env.insert("self".into(), value.clone());
        if let Some(old) = old {
            env.insert("oldSelf".into(), old.clone());
        }
        if let Ok(Value::Bool(false)) = cel::eval(&expr, &env) {
            let message = rule
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| format!("failed rule: {text}"), str::to_owned);
            errors.push(FieldError {
                field: path.to_owned(),
                reason: "FieldValueInvalid",
                detail: format!("Invalid value: \"{}\": {message}", json_type(value)),
            });
        }
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, child) in map {
                if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let (sub, child_path) = match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(sub), _) => (sub, join(path, key)),
                    (None, Some(sub)) => (sub, format!("{path}[{key}]")),
                    (None, None) => continue,
                };
                let old_child = old.and_then(|o| o.get(key));
                check_rules(sub, child, old_child, &child_path, errors);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_rules(item_schema, item, None, &format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

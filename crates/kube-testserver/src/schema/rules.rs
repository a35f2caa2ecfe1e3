//! `x-kubernetes-validations`: each rule of a schema node is evaluated with `self` bound to the
//! node's value (and `oldSelf` to the stored value on update; transition rules are skipped on
//! create). A rule outside the supported CEL subset, or one whose evaluation errs, is skipped;
//! [`unevaluated_rules`] names them, so a test can make sure its CRD's rules are all enforced.

use serde_json::Value;

use super::cel::{self, Env};
use super::checks::json_type;
use crate::error::FieldError;

/// A rule that was not enforced on a value: outside the CEL subset, or its evaluation erred.
#[derive(Debug, Clone, PartialEq)]
pub struct UnevaluatedRule {
    /// Field path of the value, as 422 causes name it (`spec.size.storageGB`).
    pub path: String,
    pub rule: String,
    pub error: String,
}

/// What evaluating one rule gave.
enum Outcome {
    Passed,
    Failed,
    NotEvaluated(String),
}

pub(super) fn check_rules(
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    walk(
        schema,
        value,
        old,
        path,
        &mut |rule, text, value, path, outcome| {
            if let Outcome::Failed = outcome {
                let message = rule
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("failed rule: {text}"), str::to_owned);
                // A rule's `fieldPath` (`.backend`) moves the cause below the rule's node, with
                // the node's type still as the value (apiextensions-apiserver `cel/validation.go`).
                let field = match rule.get("fieldPath").and_then(Value::as_str) {
                    Some(relative) => join(path, relative.trim_start_matches('.')),
                    None => path.to_owned(),
                };
                errors.push(FieldError {
                    field,
                    reason: "FieldValueInvalid",
                    detail: format!("Invalid value: \"{}\": {message}", json_type(value)),
                });
            }
        },
    );
}

/// The rules of `schema` that [`super::validate_object`] (or `validate_update`, with `old`) skips
/// on `value`: outside the supported CEL subset, or erring on this value. Transition rules are
/// not evaluated without `old` and are not listed then.
pub fn unevaluated_rules(
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
) -> Vec<UnevaluatedRule> {
    let mut skipped = Vec::new();
    walk(schema, value, old, "", &mut |_, text, _, path, outcome| {
        if let Outcome::NotEvaluated(error) = outcome {
            skipped.push(UnevaluatedRule {
                path: path.to_owned(),
                rule: text.to_owned(),
                error,
            });
        }
    });
    skipped
}

/// Called for each rule met: the rule object, its text, the value and path it applied to.
type Visit<'v> = dyn FnMut(&Value, &str, &Value, &str, Outcome) + 'v;

fn walk(schema: &Value, value: &Value, old: Option<&Value>, path: &str, visit: &mut Visit<'_>) {
    for rule in schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(text) = rule.get("rule").and_then(Value::as_str) else {
            continue;
        };
        let outcome = match cel::parse(text) {
            Err(error) => Outcome::NotEvaluated(format!("outside the CEL subset: {error}")),
            Ok(expr) if cel::uses_old_self(&expr) && old.is_none() => continue,
            Ok(expr) => {
                let mut env = Env::new();
                env.insert("self".into(), value.clone());
                if let Some(old) = old {
                    env.insert("oldSelf".into(), old.clone());
                }
                match cel::eval(&expr, &env) {
                    Ok(Value::Bool(true)) => Outcome::Passed,
                    Ok(Value::Bool(false)) => Outcome::Failed,
                    Ok(other) => Outcome::NotEvaluated(format!("not a bool: {other}")),
                    Err(error) => Outcome::NotEvaluated(error),
                }
            }
        };
        visit(rule, text, value, path, outcome);
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
                walk(sub, child, old_child, &child_path, visit);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(item_schema, item, None, &format!("{path}[{i}]"), visit);
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

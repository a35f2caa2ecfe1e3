//! The JSON-schema check of request parameters, with the `jsonschema` crate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use pgbroker_domain::JsonObject;
use pgbroker_domain::ports::ParameterSchemas;
use serde_json::Value;

/// Most compiled schemas kept; the catalog's schemas are far fewer, so this only bounds memory
/// should schemas ever come from elsewhere.
const MOST_CACHED: usize = 256;

type Cache = Mutex<HashMap<String, Arc<jsonschema::Validator>>>;

/// The validator for `schema`, compiled once per schema (by its JSON text) and kept: compiling
/// (resolving the draft's meta-schema, checking the schema against it) costs more than the
/// check of a request's parameters, and the catalog's schemas do not change while it runs.
fn compiled(schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Cache::default);
    let key = schema.to_string();
    if let Some(validator) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(validator);
    }
    let validator = Arc::new(
        jsonschema::validator_for(schema)
            .map_err(|e| format!("the plan's schema is not valid: {e}"))?,
    );
    if let Ok(mut cache) = cache.lock() {
        if cache.len() >= MOST_CACHED {
            cache.clear();
        }
        cache.insert(key, validator.clone());
    }
    Ok(validator)
}

/// Validates parameters against plan schemas (drafts 4 to 2020-12, chosen by `$schema`).
/// Only local references resolve: schemas never make the broker fetch anything.
#[derive(Debug, Default)]
pub struct JsonSchemaParameters;

impl ParameterSchemas for JsonSchemaParameters {
    fn validate(&self, schema: &Value, parameters: &JsonObject) -> Result<(), String> {
        let validator = compiled(schema)?;
        let instance = Value::Object(parameters.clone());
        let problems: Vec<String> = validator
            .iter_errors(&instance)
            .take(5)
            .map(|e| {
                let path = e.instance_path.to_string();
                let field = if path.is_empty() {
                    "parameters".to_string()
                } else {
                    format!("parameters{}", path.replace('/', "."))
                };
                format!("{field}: {e}")
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> JsonObject {
        match v {
            Value::Object(map) => map,
            _ => JsonObject::new(),
        }
    }

    #[test]
    fn names_the_offending_field() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "postgres_version": {"type": "integer", "enum": [16, 17]},
                "settings": {"type": "object", "properties": {"work_mem": {"type": "string"}}}
            }
        });
        let v = JsonSchemaParameters;
        assert!(
            v.validate(&schema, &params(json!({"postgres_version": 17})))
                .is_ok()
        );
        let e = v
            .validate(&schema, &params(json!({"postgres_version": 14})))
            .unwrap_err();
        assert!(e.starts_with("parameters.postgres_version: "), "{e}");
        let e = v
            .validate(&schema, &params(json!({"settings": {"work_mem": 4}})))
            .unwrap_err();
        assert!(e.starts_with("parameters.settings.work_mem: "), "{e}");
        let e = v
            .validate(&schema, &params(json!({"colour": "red"})))
            .unwrap_err();
        assert!(e.contains("colour"), "{e}");
    }
}

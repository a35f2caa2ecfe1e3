//! The JSON-schema check of request parameters, with the `jsonschema` crate.

use pgbroker_domain::JsonObject;
use pgbroker_domain::ports::ParameterSchemas;
use serde_json::Value;

/// Validates parameters against plan schemas (drafts 4 to 2020-12, chosen by `$schema`).
/// Only local references resolve: schemas never make the broker fetch anything.
#[derive(Debug, Default)]
pub struct JsonSchemaParameters;

impl ParameterSchemas for JsonSchemaParameters {
    fn validate(&self, schema: &Value, parameters: &JsonObject) -> Result<(), String> {
        let validator = jsonschema::validator_for(schema)
            .map_err(|e| format!("the plan's schema is not valid: {e}"))?;
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

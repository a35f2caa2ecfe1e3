//! Validates objects against the real CRDs in `../shared/crds/` (CNPG 1.30, Barman Cloud), by
//! translating each CRD's structural OpenAPI v3 schema into JSON Schema: unknown fields are
//! refused where the schema does not preserve them, `nullable` admits null, int-or-string
//! admits both. CEL rules are not evaluated.

use std::path::PathBuf;

use serde_json::{Map, Value, json};

fn crd_path(group: &str, plural: &str) -> Option<PathBuf> {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/crds");
    let dir = match group {
        "postgresql.cnpg.io" => "cnpg",
        "barmancloud.cnpg.io" => "barman-cloud",
        _ => return None,
    };
    Some(shared.join(dir).join(format!("{group}_{plural}.yaml")))
}

fn translate(schema: &Value) -> Value {
    let Some(obj) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "properties" | "patternProperties" => {
                let props = v
                    .as_object()
                    .map(|m| m.iter().map(|(n, s)| (n.clone(), translate(s))).collect())
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Object(props));
            }
            "items" | "additionalProperties" | "not" => {
                out.insert(k.clone(), translate(v));
            }
            "allOf" | "anyOf" | "oneOf" => {
                let list = v
                    .as_array()
                    .map(|a| a.iter().map(translate).collect())
                    .unwrap_or_default();
                out.insert(k.clone(), Value::Array(list));
            }
            k2 if k2.starts_with("x-kubernetes-") || k2 == "nullable" || k2 == "format" => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let preserve = obj
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    if obj.contains_key("properties") && !preserve && !obj.contains_key("additionalProperties") {
        out.insert("additionalProperties".into(), json!(false));
    }
    if obj
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true)
    {
        out.remove("type");
        out.insert(
            "anyOf".into(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    if obj.get("nullable").and_then(Value::as_bool) == Some(true)
        && let Some(t) = out.get("type").cloned()
    {
        out.insert("type".into(), json!([t, "null"]));
    }
    Value::Object(out)
}

/// `Ok` when `object` (with `apiVersion` and `kind`) fits its CRD's schema; `Err` lists the
/// violations. Objects of kinds without a CRD file (core kinds, PodMonitor) are not checked
/// here and give `Ok(false)`.
pub fn validate(object: &Value) -> Result<bool, String> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let Some((group, version)) = api_version.split_once('/') else {
        return Ok(false);
    };
    let kind = object["kind"].as_str().unwrap_or_default();
    let plural = format!("{}s", kind.to_lowercase());
    let Some(path) = crd_path(group, &plural) else {
        return Ok(false);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let crd: Value = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
    let versions = crd["spec"]["versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let schema = versions
        .iter()
        .find(|v| v["name"] == json!(version))
        .map(|v| v["schema"]["openAPIV3Schema"].clone())
        .ok_or_else(|| format!("{kind}: CRD has no version {version}"))?;
    let mut schema = translate(&schema);
    // The API server owns metadata's shape; the CRD schema leaves it open.
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("metadata".into(), json!({"type": "object"}));
    }
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(false)
        .build(&schema)
        .map_err(|e| format!("{kind}: schema does not compile: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(object)
        .map(|e| format!("{kind} {}: {e}", e.instance_path))
        .collect();
    if errors.is_empty() {
        Ok(true)
    } else {
        Err(errors.join("\n"))
    }
}

use serde_json::Value;

use crate::model::JsonObject;

/// Checks request parameters against a plan's JSON schema (the catalog's `schemas`). The domain
/// decides when a schema applies; the implementation (a JSON-schema library) lives outside.
pub trait ParameterSchemas: Send + Sync {
    /// `Err` says what is wrong and names the offending field, e.g.
    /// `parameters.postgres_version: 14 is not one of [15,16,17]`.
    fn validate(&self, schema: &Value, parameters: &JsonObject) -> Result<(), String>;
}

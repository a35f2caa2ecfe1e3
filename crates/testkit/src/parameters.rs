//! Parameter checking for test worlds whose catalog has no JSON schemas.

use pgbroker_domain::JsonObject;
use pgbroker_domain::ports::ParameterSchemas;
use serde_json::Value;

/// Accepts any parameters. The test catalog has no schemas, so it is never asked; a test that
/// needs real validation wires the JSON-schema implementation of the OSB front door instead.
#[derive(Debug, Default)]
pub struct AcceptAllParameters;

impl ParameterSchemas for AcceptAllParameters {
    fn validate(&self, _schema: &Value, _parameters: &JsonObject) -> Result<(), String> {
        Ok(())
    }
}

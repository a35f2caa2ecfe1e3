//! Every answer the conformance tests receive is checked against the broker's own OpenAPI
//! document: the status must be listed for the route and method, a JSON body must validate
//! against the schema listed for that status, and a `Retry-After` header must be declared.
//! A client generated from `docs/openapi.json` would otherwise reject (or mis-read) a real answer.

use std::sync::OnceLock;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde_json::{Value, json};

fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(pgbroker_api_osb::openapi_document)
}

/// The documented path template a concrete path belongs to, if any.
fn template(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Some(match segments.as_slice() {
        ["v2", "catalog"] => "/v2/catalog",
        ["v2", "service_instances", _] => "/v2/service_instances/{instance_id}",
        ["v2", "service_instances", _, "last_operation"] => {
            "/v2/service_instances/{instance_id}/last_operation"
        }
        ["v2", "service_instances", _, "service_bindings", _] => {
            "/v2/service_instances/{instance_id}/service_bindings/{binding_id}"
        }
        [
            "v2",
            "service_instances",
            _,
            "service_bindings",
            _,
            "last_operation",
        ] => "/v2/service_instances/{instance_id}/service_bindings/{binding_id}/last_operation",
        ["healthz"] => "/healthz",
        ["readyz"] => "/readyz",
        _ => return None,
    })
}

/// Checks one answer; routes or methods the document does not describe (unknown routes, 405
/// probes) are not the document's business and pass.
pub fn check(method: &Method, path: &str, status: u16, headers: &HeaderMap, bytes: &[u8]) {
    let Some(template) = template(path) else {
        return;
    };
    let operation = &document()["paths"][template][method.as_str().to_ascii_lowercase()];
    if operation.is_null() {
        return;
    }
    let what = format!("{method} {template} answered {status}");
    let response = &operation["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{what}, a status the OpenAPI document does not list (it lists {:?}); body: {}",
        operation["responses"]
            .as_object()
            .map(|r| r.keys().collect::<Vec<_>>()),
        String::from_utf8_lossy(bytes)
    );
    if headers.contains_key(RETRY_AFTER) {
        assert!(
            response["headers"]["Retry-After"].is_object(),
            "{what} with Retry-After, which the document does not declare"
        );
    }
    let schema = &response["content"]["application/json"]["schema"];
    if schema.is_null() {
        return;
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{what} with Content-Type {content_type:?}, the document says application/json"
    );
    let body: Value = serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "{what} with a body that is not JSON ({e}): {}",
            String::from_utf8_lossy(bytes)
        )
    });
    // OpenAPI 3.1 schemas are JSON Schema 2020-12; the components ride along so that
    // `#/components/schemas/..` references resolve inside this root.
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document()["components"],
        "allOf": [schema],
    });
    let validator = jsonschema::validator_for(&root)
        .unwrap_or_else(|e| panic!("{what}: the document's schema does not compile: {e}"));
    let problems: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    assert!(
        problems.is_empty(),
        "{what} with a body the document's schema rejects: {problems:?}\nbody: {body}"
    );
}

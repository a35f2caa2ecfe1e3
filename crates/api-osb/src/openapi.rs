//! The OpenAPI 3.1 document of the broker, generated from the handlers and wire types.

mod links;
mod no_nul;

use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, Ref, RefOr, Required, Response, ResponseBuilder, Type,
};
use utoipa::{Modify, OpenApi};

use crate::error::ErrorBody;
use crate::handlers::{bindings, catalog, instances, last_operation};
use crate::health;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pgbroker",
        description = "Open Service Broker API v2.17 for PostgreSQL databases. Every /v2 route needs \
            HTTP basic or bearer authentication and the X-Broker-API-Version header (2.13 or newer).",
        version = "2.17",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        catalog::get_catalog,
        instances::provision,
        instances::update,
        instances::deprovision,
        instances::get_instance,
        last_operation::instance_last_operation,
        bindings::bind,
        bindings::unbind,
        bindings::get_binding,
        last_operation::binding_last_operation,
        health::healthz,
        health::readyz,
        health::metrics,
    ),
    components(schemas(ErrorBody)),
    modifiers(&OsbHeadersAndSecurity),
    tags(
        (name = "catalog", description = "Services and plans on offer"),
        (name = "instances", description = "Service instances: PostgreSQL databases"),
        (name = "bindings", description = "Service bindings: credentials of a database role"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// Adds what every `/v2` operation shares: the OSB headers, the security requirement and the
/// error answers that come from the layers around the handlers rather than from one handler
/// (authentication, API version, body limits, panics, an unreachable state store, a synchronous
/// request running out of time), so that the document lists every status the server sends.
struct OsbHeadersAndSecurity;

impl Modify for OsbHeadersAndSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        no_nul::declare(components);
        for (name, fields) in ID_FIELDS {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(*name) {
                for field in *fields {
                    if let Some(RefOr::T(Schema::Object(property))) =
                        object.properties.get_mut(*field)
                    {
                        constrain_id(property);
                    }
                }
            }
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v2/") {
                continue;
            }
            let uses_store = path != "/v2/catalog";
            let reads = [&mut item.get].into_iter().flatten();
            for operation in reads {
                add_osb_headers(operation);
                add_error_responses(operation, uses_store, Mutation::None);
            }
            for operation in [&mut item.put, &mut item.patch].into_iter().flatten() {
                add_osb_headers(operation);
                add_error_responses(operation, uses_store, Mutation::WithBody);
            }
            for operation in [&mut item.delete].into_iter().flatten() {
                add_osb_headers(operation);
                add_error_responses(operation, uses_store, Mutation::WithoutBody);
            }
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                constrain_id_parameters(operation);
            }
        }
        links::declare(openapi);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mutation {
    None,
    WithBody,
    WithoutBody,
}

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

fn add_error_responses(operation: &mut Operation, uses_store: bool, mutation: Mutation) {
    let mut shared = vec![
        ("401", "Missing or wrong credentials"),
        (
            "412",
            "X-Broker-API-Version missing, malformed or older than 2.13",
        ),
        (
            "500",
            "InternalError: the broker failed unexpectedly; OperationFailed: a synchronous \
             operation failed in the backend",
        ),
    ];
    if uses_store {
        shared.push(("503", "Unavailable: the state store cannot be reached"));
    }
    if mutation == Mutation::WithBody {
        shared.push(("413", "The request body is larger than the broker accepts"));
        shared.push(("415", "The request body is not application/json"));
    }
    if mutation != Mutation::None {
        shared.push((
            "504",
            "Timeout: a synchronous operation did not finish within the request; it goes on, \
             repeat the request to see its result",
        ));
    }
    for (status, description) in shared {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(description));
    }
}

fn add_osb_headers(operation: &mut Operation) {
    let header = |name: &str, required: Required, description: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(required)
            .description(Some(description))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build()
    };
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    parameters.push(header(
        "X-Broker-API-Version",
        Required::True,
        "OSB API version of the platform; 2.13 or newer (this broker implements 2.17)",
    ));
    parameters.push(header(
        "X-Broker-API-Originating-Identity",
        Required::False,
        "`<platform> <base64 of a JSON object>`: who asked, recorded with the operation",
    ));
    parameters.push(header(
        "X-Broker-API-Request-Identity",
        Required::False,
        "Echoed in the response and in every log line of the request",
    ));
    operation.security = Some(vec![
        SecurityRequirement::new("basic", Vec::<String>::new()),
        SecurityRequirement::new("bearer", Vec::<String>::new()),
    ]);
}

/// Request body fields the server parses as ids ([`pgbroker_domain::ids`]): what it accepts is
/// declared, so that a client (or a fuzzer) knows `""` or `"a b"` is refused before it sends it.
/// `previous_values` is informational and not checked, so it is not listed.
const ID_FIELDS: &[(&str, &[&str])] = &[
    ("ProvisionRequest", &["service_id", "plan_id"]),
    ("UpdateRequest", &["service_id", "plan_id"]),
    ("BindRequest", &["service_id", "plan_id"]),
];

/// Path and query parameters the server parses as ids.
const ID_PARAMETERS: &[&str] = &["instance_id", "binding_id", "service_id", "plan_id"];

/// What every id accepts: 1 to [`MAX_ID_LEN`] ASCII letters, digits, `-`, `_` and `.`.
///
/// [`MAX_ID_LEN`]: pgbroker_domain::ids::MAX_ID_LEN
pub const ID_PATTERN: &str = "^[A-Za-z0-9._-]+$";

/// The `operation` values this broker hands out and accepts: UUIDs in their hyphenated form.
pub const OPERATION_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// `X-Broker-API-Version` values served: major 2, minor 13 or newer, without leading zeros (see
/// [`crate::headers::parse_version`]).
pub const API_VERSION_PATTERN: &str = "^2\\.(1[3-9]|[2-9][0-9]|[1-9][0-9]{2,8})$";

fn constrain_id(object: &mut utoipa::openapi::schema::Object) {
    object.min_length = Some(1);
    object.max_length = Some(pgbroker_domain::ids::MAX_ID_LEN);
    object.pattern = Some(ID_PATTERN.to_string());
}

fn constrain_id_parameters(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        let Some(RefOr::T(Schema::Object(object))) = parameter.schema.as_mut() else {
            continue;
        };
        let name = parameter.name.as_str();
        if ID_PARAMETERS.contains(&name) && parameter.parameter_in != ParameterIn::Header {
            constrain_id(object);
        } else if name == "operation" {
            object.min_length = Some(36);
            object.max_length = Some(36);
            object.pattern = Some(OPERATION_PATTERN.to_string());
        } else if name == "X-Broker-API-Version" {
            object.pattern = Some(API_VERSION_PATTERN.to_string());
        }
    }
}

/// The document as JSON: what `/openapi.json`, `/docs` and `pgbroker openapi` serve.
pub fn openapi_document() -> serde_json::Value {
    match serde_json::to_value(ApiDoc::openapi()) {
        Ok(mut document) => {
            links::spell_fields_as_the_spec_does(&mut document);
            document
        }
        Err(e) => serde_json::json!({"error": format!("rendering the OpenAPI document: {e}")}),
    }
}

/// The document as pretty JSON ending in a newline, as committed in `docs/openapi.json`.
pub fn openapi_json() -> String {
    serde_json::to_string_pretty(&openapi_document())
        .map(|json| json + "\n")
        .unwrap_or_else(|e| format!("{{\"error\": \"rendering the OpenAPI document: {e}\"}}\n"))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};
    use pgbroker_domain::{InstanceId, OperationId};
    use serde_json::json;

    use super::*;
    use crate::headers::{API_VERSION, version_problem};

    fn matches(pattern: &str, value: &str) -> bool {
        jsonschema::validator_for(&json!({"type": "string", "pattern": pattern}))
            .unwrap()
            .is_valid(&json!(value))
    }

    #[test]
    fn the_version_pattern_is_what_is_served() {
        let served = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(API_VERSION, HeaderValue::from_str(value).unwrap());
            version_problem(&headers).is_none()
        };
        let values = [
            "2.13",
            "2.17",
            "2.19",
            "2.20",
            "2.99",
            "2.100",
            "2.999999999",
            "2.12",
            "2.0",
            "2.1",
            "1.17",
            "3.13",
            "2.013",
            "02.17",
            "+2.17",
            "2.+17",
            "2.1000000000",
            "2.17.1",
            "2.",
            ".17",
            "2",
            "",
            "v2.17",
            "2,17",
        ];
        for value in values {
            assert_eq!(
                served(value),
                matches(API_VERSION_PATTERN, value),
                "{value:?}"
            );
        }
    }

    #[test]
    fn the_id_pattern_is_what_ids_accept() {
        let long = "a".repeat(pgbroker_domain::ids::MAX_ID_LEN + 1);
        for value in [
            "a",
            "db-1",
            "A_b.9",
            "",
            "a b",
            "a/b",
            "ä",
            "a%20",
            long.as_str(),
        ] {
            let documented = matches(ID_PATTERN, value)
                && (1..=pgbroker_domain::ids::MAX_ID_LEN).contains(&value.len());
            assert_eq!(InstanceId::parse(value).is_ok(), documented, "{value:?}");
        }
    }

    #[test]
    fn the_operation_pattern_is_what_operations_accept() {
        let id = OperationId::new().to_string();
        let upper = id.to_uppercase();
        let simple = id.replace('-', "");
        let braced = format!("{{{id}}}");
        for value in [
            id.as_str(),
            upper.as_str(),
            simple.as_str(),
            braced.as_str(),
            "",
            "x",
        ] {
            let documented = matches(OPERATION_PATTERN, value) && value.len() == 36;
            assert_eq!(
                crate::handlers::operation_id(Some(value)).is_ok(),
                documented,
                "{value:?}"
            );
        }
    }
}

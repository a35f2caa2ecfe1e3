//! The OpenAPI 3.1 document of the broker, generated from the handlers and wire types.

use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
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
        }
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

/// The document as pretty JSON ending in a newline, as committed in `docs/openapi.json`.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .map(|json| json + "\n")
        .unwrap_or_else(|e| format!("{{\"error\": \"rendering the OpenAPI document: {e}\"}}\n"))
}

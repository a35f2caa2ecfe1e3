//! The OpenAPI 3.1 document of the broker, generated from the handlers and wire types.

use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, Required, Type};
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

/// Adds what every `/v2` operation shares: the OSB headers and the security requirement.
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
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                add_osb_headers(operation);
            }
        }
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

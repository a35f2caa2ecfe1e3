//! OpenAPI links between the operations, the way a platform goes on after each answer: poll the
//! `operation` of a 202, fetch, update, bind or remove what a request made, with the ids the
//! request used. Clients and fuzzers (schemathesis' stateful phase) follow them.

use utoipa::openapi::OpenApi;
use utoipa::openapi::RefOr;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::Operation;

const CATALOG: &str = "/v2/catalog";
const INSTANCE: &str = "/v2/service_instances/{instance_id}";
const BINDING: &str = "/v2/service_instances/{instance_id}/service_bindings/{binding_id}";

/// `(link name, target operation id, [(parameter, runtime expression)])`.
type Link = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const IN_PATH: (&str, &str) = ("instance_id", "$request.path.instance_id");
const BINDING_IN_PATH: (&str, &str) = ("binding_id", "$request.path.binding_id");
const OPERATION: (&str, &str) = ("operation", "$response.body#/operation");

/// A platform reads the catalog, then provisions one of its plans (ids of its own choosing).
const AFTER_CATALOG: &[Link] = &[("ProvisionInstance", "provision_instance", &[])];
const AFTER_PROVISION: &[Link] = &[
    (
        "PollProvision",
        "instance_last_operation",
        &[IN_PATH, OPERATION],
    ),
    ("FetchInstance", "get_instance", &[IN_PATH]),
    ("UpdateInstance", "update_instance", &[IN_PATH]),
    ("BindInstance", "bind", &[IN_PATH]),
    (
        "DeprovisionInstance",
        "deprovision_instance",
        &[
            IN_PATH,
            ("service_id", "$request.body#/service_id"),
            ("plan_id", "$request.body#/plan_id"),
        ],
    ),
];
const AFTER_UPDATE: &[Link] = &[(
    "PollUpdate",
    "instance_last_operation",
    &[IN_PATH, OPERATION],
)];
const AFTER_DEPROVISION: &[Link] = &[(
    "PollDeprovision",
    "instance_last_operation",
    &[IN_PATH, OPERATION],
)];
const AFTER_BIND: &[Link] = &[
    (
        "PollBind",
        "binding_last_operation",
        &[IN_PATH, BINDING_IN_PATH, OPERATION],
    ),
    ("FetchBinding", "get_binding", &[IN_PATH, BINDING_IN_PATH]),
    (
        "Unbind",
        "unbind",
        &[
            IN_PATH,
            BINDING_IN_PATH,
            ("service_id", "$request.body#/service_id"),
            ("plan_id", "$request.body#/plan_id"),
        ],
    ),
];
const AFTER_UNBIND: &[Link] = &[(
    "PollUnbind",
    "binding_last_operation",
    &[IN_PATH, BINDING_IN_PATH, OPERATION],
)];

/// Adds `links` to the 200, 201 and 202 answers of `operation`; the poll links only to the 202,
/// the only answer with an `operation`.
fn add(operation: &mut Operation, links: &[Link]) {
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if !matches!(status.as_str(), "200" | "201" | "202") {
            continue;
        }
        for (name, target, parameters) in links {
            let polls = parameters.iter().any(|(p, _)| *p == "operation");
            if polls && status != "202" {
                continue;
            }
            let link = parameters
                .iter()
                .fold(LinkBuilder::new().operation_id(*target), |link, (p, e)| {
                    link.parameter(*p, *e)
                })
                .build();
            response.links.insert(name.to_string(), RefOr::T(link));
        }
    }
}

/// utoipa 5.5 serializes a Link's fields as `operation_id`, `operation_ref` and `request_body`;
/// the OpenAPI spec (and every tool reading it) spells them `operationId`, `operationRef` and
/// `requestBody`. Renames them in every response's links of the serialized document.
pub fn spell_fields_as_the_spec_does(document: &mut serde_json::Value) {
    let Some(paths) = document.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let links = paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("responses"))
        .filter_map(|responses| responses.as_object_mut())
        .flat_map(|responses| responses.values_mut())
        .filter_map(|response| response.get_mut("links"))
        .filter_map(|links| links.as_object_mut())
        .flat_map(|links| links.values_mut())
        .filter_map(|link| link.as_object_mut());
    for link in links {
        for (theirs, spec) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(value) = link.remove(theirs) {
                link.insert(spec.to_string(), value);
            }
        }
    }
}

pub fn declare(openapi: &mut OpenApi) {
    if let Some(item) = openapi.paths.paths.get_mut(CATALOG) {
        item.get.iter_mut().for_each(|op| add(op, AFTER_CATALOG));
    }
    if let Some(item) = openapi.paths.paths.get_mut(INSTANCE) {
        item.put.iter_mut().for_each(|op| add(op, AFTER_PROVISION));
        item.patch.iter_mut().for_each(|op| add(op, AFTER_UPDATE));
        item.delete
            .iter_mut()
            .for_each(|op| add(op, AFTER_DEPROVISION));
    }
    if let Some(item) = openapi.paths.paths.get_mut(BINDING) {
        item.put.iter_mut().for_each(|op| add(op, AFTER_BIND));
        item.delete.iter_mut().for_each(|op| add(op, AFTER_UNBIND));
    }
}

#[cfg(test)]
mod tests {
    use crate::openapi::openapi_document;

    /// Every link names an operation of the document and parameters that operation has.
    #[test]
    fn links_name_existing_operations_and_parameters() {
        let document = openapi_document();
        let mut operations = std::collections::BTreeMap::new();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let names: Vec<String> = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| p["name"].as_str().unwrap().to_string())
                    .collect();
                if let Some(id) = operation["operationId"].as_str() {
                    operations.insert(id.to_string(), names);
                }
            }
        }
        let mut links = 0;
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                for response in operation["responses"].as_object().unwrap().values() {
                    for link in response["links"].as_object().into_iter().flatten() {
                        let link = link.1;
                        let target = link["operationId"].as_str().unwrap();
                        let parameters = &operations[target];
                        let named = link["parameters"].as_object().into_iter().flatten();
                        for (name, _) in named {
                            assert!(parameters.contains(name), "{target} has no {name}");
                        }
                        links += 1;
                    }
                }
            }
        }
        assert!(links >= 15, "{links} links");
    }
}

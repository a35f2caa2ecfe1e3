//! Discovery endpoints: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}[/{version}]`.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::json;

use super::path::Target;
use super::{Shared, error_response, json_response};
use crate::error::ApiError;

/// The media type of aggregated discovery, which clients ask for in `Accept`.
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

pub(super) fn serve(shared: &Shared, target: &Target, headers: &HeaderMap) -> Response {
    let registry = shared.store.registry();
    let wants_aggregated = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("as=APIGroupDiscoveryList"));
    if wants_aggregated && matches!(target, Target::CoreVersions | Target::GroupList) {
        let mut response = json_response(
            200,
            &registry.aggregated_discovery(matches!(target, Target::CoreVersions)),
        );
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(AGGREGATED));
        return response;
    }
    let not_found = || {
        error_response(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ))
    };
    match target {
        Target::Version => json_response(
            200,
            &json!({
                "major": "1", "minor": "33", "gitVersion": "v1.33.0-pgbroker-kube-testserver",
                "gitCommit": "", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "none", "compiler": "rustc", "platform": "linux/amd64",
            }),
        ),
        Target::CoreVersions => json_response(
            200,
            &json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{ "clientCIDR": "0.0.0.0/0", "serverAddress": shared.addr.to_string() }],
            }),
        ),
        Target::GroupList => json_response(200, &registry.group_list()),
        Target::Group(name) => {
            let list = registry.group_list();
            let group = list["groups"]
                .as_array()
                .and_then(|g| g.iter().find(|g| g["name"] == name.as_str()));
            match group {
                Some(g) => {
                    let mut g = g.clone();
                    g["kind"] = json!("APIGroup");
                    g["apiVersion"] = json!("v1");
                    json_response(200, &g)
                }
                None => not_found(),
            }
        }
        Target::ResourceList { group, version } => match registry.resource_list(group, version) {
            Some(list) => json_response(200, &list),
            None => not_found(),
        },
        Target::Resource(_) | Target::Unknown => not_found(),
    }
}

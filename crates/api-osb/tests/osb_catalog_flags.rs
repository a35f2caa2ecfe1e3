//! OSB conformance over a real socket: the catalog's per-service switches are enforced, not just
//! advertised — `instances_retrievable` / `bindings_retrievable: false` refuse the fetch endpoints
//! and `allow_context_updates: false` refuses an update that changes only the context.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pgbroker_domain::{InstanceId, JsonObject};
use reqwest::Method;
use serde_json::{Value, json};

async fn provision_sync(server: &Server, service: &str, plan: &str) -> String {
    let path = instance_path(&unique("i"));
    let (status, body) = send(
        server
            .osb(Method::PUT, &path)
            .json(&provision_body(service, plan)),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    path
}

/// The context as stored, read past the API (the private service cannot be fetched over it).
async fn stored_context(server: &Server, path: &str) -> JsonObject {
    let id = path.trim_start_matches("/v2/service_instances/");
    server
        .store
        .instance(&InstanceId::parse(id).unwrap())
        .await
        .unwrap()
        .expect("instance stored")
        .spec
        .context
}

fn context(space: &str) -> Value {
    json!({"platform": "cloudfoundry", "organization_guid": "org-1", "space_guid": space})
}

#[tokio::test]
async fn fetching_is_refused_when_the_catalog_says_not_retrievable() {
    let server = Server::start().await;
    let private = provision_sync(&server, PRIVATE_SERVICE, PRIVATE_PLAN).await;
    let (status, body) = send(server.osb(Method::GET, &private)).await;
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body);
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("instances_retrievable"),
        "{body}"
    );

    // Binding works and returns its credentials once, within the request even though the
    // platform accepts asynchrony (a 202 would leave it no way to get them); fetching the
    // binding afterwards is refused.
    let binding = binding_path(
        private.trim_start_matches("/v2/service_instances/"),
        &unique("b"),
    );
    let (status, body) = send(
        server
            .osb(Method::PUT, &format!("{binding}?accepts_incomplete=true"))
            .json(&json!({
                "service_id": PRIVATE_SERVICE, "plan_id": PRIVATE_PLAN, "parameters": {}
            })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["credentials"]["password"].is_string(), "{body}");
    let (status, body) = send(server.osb(Method::GET, &binding)).await;
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body);
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("bindings_retrievable"),
        "{body}"
    );

    // An unknown instance or binding is still 404: the refusal is about existing resources.
    let unknown = instance_path(&unique("i"));
    let (status, _) = send(server.osb(Method::GET, &unknown)).await;
    assert_eq!(status, 404);

    // The rest of the lifecycle is unaffected.
    let query = format!("service_id={PRIVATE_SERVICE}&plan_id={PRIVATE_PLAN}");
    let (status, body) = send(server.osb(Method::DELETE, &format!("{binding}?{query}"))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(server.osb(Method::DELETE, &format!("{private}?{query}"))).await;
    assert_eq!(status, 200, "{body}");

    // A service that keeps the default (retrievable) answers the same GET with 200.
    let public = provision_sync(&server, SYNC_SERVICE, SYNC_PLAN).await;
    let (status, body) = send(server.osb(Method::GET, &public)).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn a_context_only_update_needs_allow_context_updates() {
    let server = Server::start().await;
    let private = provision_sync(&server, PRIVATE_SERVICE, PRIVATE_PLAN).await;
    let provisioned = stored_context(&server, &private).await;

    // Only the context changes: unsupported for this service, 422 and nothing stored.
    let (status, body) = send(
        server
            .osb(Method::PATCH, &private)
            .json(&json!({"service_id": PRIVATE_SERVICE, "context": context("space-2")})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_error_body(&body);
    assert!(body.get("error").is_none(), "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("allow_context_updates"),
        "{body}"
    );
    assert_eq!(stored_context(&server, &private).await, provisioned);

    // The same context as stored is no change at all: 200, as for any update without effect.
    let (status, body) = send(
        server
            .osb(Method::PATCH, &private)
            .json(&json!({"service_id": PRIVATE_SERVICE, "context": context("space-1")})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // A context sent along with a real change (here a parameter) is stored with it.
    let (status, body) = send(server.osb(Method::PATCH, &private).json(&json!({
        "service_id": PRIVATE_SERVICE, "context": context("space-3"), "parameters": {"size": 2}
    })))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        Value::Object(stored_context(&server, &private).await),
        context("space-3")
    );

    // A service with allow_context_updates: true takes the context alone.
    let public = provision_sync(&server, SYNC_SERVICE, SYNC_PLAN).await;
    let (status, body) = send(
        server
            .osb(Method::PATCH, &public)
            .json(&json!({"service_id": SYNC_SERVICE, "context": context("space-9")})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(server.osb(Method::GET, &public)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["context"], context("space-9"));
    server.stop().await;
}

#[tokio::test]
async fn asynchronous_binds_need_retrievable_bindings() {
    let server = Server::start().await;
    let path = instance_path(&unique("i"));
    let (status, body) = send(
        server
            .osb(Method::PUT, &format!("{path}?accepts_incomplete=true"))
            .json(&provision_body(PRIVATE_ASYNC_SERVICE, PRIVATE_ASYNC_PLAN)),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (_, body) = server.wait(&format!("{path}/last_operation")).await;
    assert_eq!(body["state"], "succeeded", "{body}");
    // The backend can only bind asynchronously and the binding could never be fetched: the
    // credentials would be lost, so the bind is refused before anything is created.
    let binding = format!("{path}/service_bindings/{}", unique("b"));
    let (status, body) = send(
        server
            .osb(Method::PUT, &format!("{binding}?accepts_incomplete=true"))
            .json(&json!({"service_id": PRIVATE_ASYNC_SERVICE, "plan_id": PRIVATE_ASYNC_PLAN})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_error_body(&body);
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("bindings_retrievable"),
        "{body}"
    );
    assert_eq!(
        server
            .async_backend
            .calls(pgbroker_domain::OperationKind::Bind),
        0
    );
    server.stop().await;
}

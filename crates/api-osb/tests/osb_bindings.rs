//! OSB conformance over a real socket: bindings (credentials of their own, idempotency,
//! asynchronous bind and unbind) and the operational endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pgbroker_domain::OperationKind;
use reqwest::Method;
use serde_json::json;

async fn provisioned(server: &Server, service: &str, plan: &str) -> String {
    let id = unique("i");
    let path = instance_path(&id);
    let (status, body) = send(
        server
            .osb(Method::PUT, &format!("{path}?accepts_incomplete=true"))
            .json(&provision_body(service, plan)),
    )
    .await;
    assert!(status == 201 || status == 202, "{status} {body}");
    if status == 202 {
        let (_, body) = server.wait(&format!("{path}/last_operation")).await;
        assert_eq!(body["state"], "succeeded");
    }
    id
}

fn bind_body(service: &str, plan: &str) -> serde_json::Value {
    json!({
        "service_id": service,
        "plan_id": plan,
        "bind_resource": {"app_guid": "app-1"},
        "context": {"platform": "cloudfoundry"},
        "parameters": {}
    })
}

#[tokio::test]
async fn synchronous_bindings_have_their_own_credentials() {
    let server = Server::start().await;
    let instance = provisioned(&server, SYNC_SERVICE, SYNC_PLAN).await;
    let first = binding_path(&instance, &unique("b"));
    let mut request = bind_body(SYNC_SERVICE, SYNC_PLAN);
    request["parameters"] = json!({"read_only": true});
    let (status, body) = send(server.osb(Method::PUT, &first).json(&request)).await;
    assert_eq!(status, 201, "{body}");
    let credentials = body["credentials"].clone();
    for key in [
        "host", "port", "database", "username", "password", "uri", "jdbc_uri",
    ] {
        assert!(credentials.get(key).is_some(), "no {key} in {credentials}");
    }
    // Identical again: 200 with the same credentials. Different: 409.
    let (status, body) = send(server.osb(Method::PUT, &first).json(&request)).await;
    assert_eq!((status, &body["credentials"]), (200, &credentials));
    let mut different = request.clone();
    different["parameters"] = json!({"read_only": false});
    let (status, body) = send(server.osb(Method::PUT, &first).json(&different)).await;
    assert_eq!(status, 409, "{body}");
    assert_error_body(&body);
    // Another binding gets other credentials.
    let second = binding_path(&instance, &unique("b"));
    let (status, body) = send(
        server
            .osb(Method::PUT, &second)
            .json(&bind_body(SYNC_SERVICE, SYNC_PLAN)),
    )
    .await;
    assert_eq!(status, 201);
    assert_ne!(body["credentials"]["username"], credentials["username"]);
    assert_ne!(body["credentials"]["password"], credentials["password"]);
    // GET returns credentials, parameters and context.
    let (status, body) = send(server.osb(Method::GET, &first)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["credentials"], credentials);
    assert_eq!(body["parameters"], json!({"read_only": true}));
    assert_eq!(body["context"], json!({"platform": "cloudfoundry"}));
    // Unbind: 200 {}, again 410, then GET 404.
    let delete = format!("{first}?service_id={SYNC_SERVICE}&plan_id={SYNC_PLAN}");
    let (status, body) = send(server.osb(Method::DELETE, &delete)).await;
    assert_eq!((status, body), (200, json!({})));
    let (status, body) = send(server.osb(Method::DELETE, &delete)).await;
    assert_eq!(status, 410);
    assert_error_body(&body);
    let (status, _) = send(server.osb(Method::GET, &first)).await;
    assert_eq!(status, 404);
    assert_eq!(server.sync_backend.calls(OperationKind::Unbind), 1);
    server.stop().await;
}

#[tokio::test]
async fn bind_validation() {
    let server = Server::start().await;
    let instance = provisioned(&server, SYNC_SERVICE, SYNC_PLAN).await;
    let path = binding_path(&instance, &unique("b"));
    let mut request = bind_body(SYNC_SERVICE, SYNC_PLAN);
    request["parameters"] = json!({"read_only": "yes"});
    let (status, body) = send(server.osb(Method::PUT, &path).json(&request)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("parameters.read_only"),
        "{body}"
    );
    let (status, body) = send(
        server
            .osb(Method::PUT, &path)
            .json(&json!({"service_id": SYNC_SERVICE})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["description"].as_str().unwrap().contains("plan_id"),
        "{body}"
    );
    // A plan that is not bindable.
    let unbindable = provisioned(&server, SYNC_SERVICE, SYNC_PLAN_UNBINDABLE).await;
    let (status, body) = send(
        server
            .osb(Method::PUT, &binding_path(&unbindable, "b1"))
            .json(&bind_body(SYNC_SERVICE, SYNC_PLAN_UNBINDABLE)),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("not bindable")
    );
    // Binding an instance that does not exist.
    let (status, body) = send(
        server
            .osb(Method::PUT, &binding_path("no-such-instance", "b1"))
            .json(&bind_body(SYNC_SERVICE, SYNC_PLAN)),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_error_body(&body);
    let (status, _) = send(
        server
            .osb(Method::PUT, &binding_path(&instance, "bad id!"))
            .json(&bind_body(SYNC_SERVICE, SYNC_PLAN)),
    )
    .await;
    assert_eq!(status, 400);
    server.stop().await;
}

#[tokio::test]
async fn asynchronous_bind_and_unbind() {
    let server = Server::start().await;
    let instance = provisioned(&server, ASYNC_SERVICE, ASYNC_PLAN).await;
    let binding = binding_path(&instance, &unique("b"));
    let request = bind_body(ASYNC_SERVICE, ASYNC_PLAN);
    let (status, body) = send(server.osb(Method::PUT, &binding).json(&request)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("AsyncRequired")),
        "{body}"
    );
    let (status, body) = send(
        server
            .osb(Method::PUT, &format!("{binding}?accepts_incomplete=true"))
            .json(&request),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let operation = body["operation"].as_str().unwrap().to_string();
    let (status, body) = server
        .wait(&format!("{binding}/last_operation?operation={operation}&service_id={ASYNC_SERVICE}&plan_id={ASYNC_PLAN}"))
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("succeeded")),
        "{body}"
    );
    let (status, body) = send(server.osb(Method::GET, &binding)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["credentials"]["password"].is_string());
    let (status, body) = send(server.osb(
        Method::DELETE,
        &format!(
            "{binding}?service_id={ASYNC_SERVICE}&plan_id={ASYNC_PLAN}&accepts_incomplete=true"
        ),
    ))
    .await;
    assert_eq!(status, 202, "{body}");
    let operation = body["operation"].as_str().unwrap().to_string();
    let (status, body) = server
        .wait(&format!("{binding}/last_operation?operation={operation}"))
        .await;
    assert_eq!(status, 410, "{body}");
    // A binding that never existed: 404.
    let (status, _) = send(server.osb(
        Method::GET,
        &format!("{}/last_operation", binding_path(&instance, "never")),
    ))
    .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let server = Server::start().await;
    // No credentials or version header needed for the probes.
    let (status, body) = send(server.raw(Method::GET, "/healthz")).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, body) = send(server.raw(Method::GET, "/readyz")).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["state_store", "backend:async", "backend:sync"]);
    server
        .async_backend
        .set_check_error(Some("cluster API unreachable"));
    let (status, body) = send(server.raw(Method::GET, "/readyz")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["checks"][1]["ok"], false);
    assert_eq!(body["checks"][1]["error"], "cluster API unreachable");
    assert_eq!(body["checks"][0]["ok"], true);

    let instance = provisioned(&server, SYNC_SERVICE, SYNC_PLAN).await;
    send(server.osb(Method::GET, &instance_path(&instance))).await;
    let response = server.raw(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"pgbroker_http_requests_total{method="GET",route="/v2/service_instances/{instance_id}",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"pgbroker_http_requests_total{method="PUT",route="/v2/service_instances/{instance_id}",status="202"} 1"#));
    assert!(text.contains("pgbroker_http_request_duration_seconds_bucket"));
    server.stop().await;
}

#[tokio::test]
async fn openapi_and_docs_are_served() {
    let server = Server::start().await;
    let (status, body) = send(server.raw(Method::GET, "/openapi.json")).await;
    assert_eq!(status, 200);
    assert_eq!(body["openapi"], "3.1.0");
    assert!(body["paths"]["/v2/service_instances/{instance_id}"]["put"].is_object());
    let response = server.raw(Method::GET, "/docs").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("<html"));
    server.stop().await;
}

#[tokio::test]
async fn a_binding_in_progress_is_not_retrievable_and_blocks_other_operations() {
    let server = Server::with_backends(
        pgbroker_testkit::backend::TestBackend::asynchronous().gated(),
        pgbroker_testkit::backend::TestBackend::synchronous(),
    )
    .await;
    let instance = unique("i");
    let path = instance_path(&instance);
    let (status, _) = send(
        server
            .osb(Method::PUT, &format!("{path}?accepts_incomplete=true"))
            .json(&provision_body(ASYNC_SERVICE, ASYNC_PLAN)),
    )
    .await;
    assert_eq!(status, 202);
    server.async_backend.release(1);
    server.wait(&format!("{path}/last_operation")).await;

    let binding = binding_path(&instance, "b1");
    let (status, body) = send(
        server
            .osb(Method::PUT, &format!("{binding}?accepts_incomplete=true"))
            .json(&bind_body(ASYNC_SERVICE, ASYNC_PLAN)),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = send(server.osb(Method::GET, &binding)).await;
    assert_eq!(status, 404, "{body}");
    assert_error_body(&body);
    let (status, body) = send(
        server
            .osb(
                Method::PUT,
                &format!("{}?accepts_incomplete=true", binding_path(&instance, "b2")),
            )
            .json(&bind_body(ASYNC_SERVICE, ASYNC_PLAN)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("ConcurrencyError")),
        "{body}"
    );
    let response = server
        .osb(Method::GET, &format!("{binding}/last_operation"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(body_json(response).await["state"], "in progress");
    server.async_backend.release(1);
    let (_, body) = server.wait(&format!("{binding}/last_operation")).await;
    assert_eq!(body["state"], "succeeded");
    let (status, body) = send(server.osb(Method::GET, &binding)).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

async fn body_json(response: reqwest::Response) -> serde_json::Value {
    body(response).await
}

//! OSB conformance over a real socket: the life of a service instance, synchronous and
//! asynchronous, with idempotency, concurrency, maintenance_info and last_operation rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::*;
use pgbroker_domain::{InstanceId, OperationKind};
use pgbroker_testkit::backend::{Scripted, TestBackend};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn synchronous_provision_is_idempotent_and_retrievable() {
    let server = Server::start().await;
    synchronous_lifecycle(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn synchronous_lifecycle_on_a_sqlite_state_store() {
    let server = Server::sqlite().await;
    synchronous_lifecycle(&server).await;
    server.stop().await;
}

async fn synchronous_lifecycle(server: &Server) {
    let id = unique("i");
    let path = instance_path(&id);
    let mut request = provision_body(SYNC_SERVICE, SYNC_PLAN);
    request["parameters"] = json!({"postgres_version": 17, "extensions": ["pgcrypto"]});
    request["context"] =
        json!({"platform": "kubernetes", "namespace": "team-a", "clusterid": "c-1"});
    let (status, body) = send(server.osb(Method::PUT, &path).json(&request)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["dashboard_url"],
        format!("https://dashboard.test/{id}")
    );
    // The same request again: 200, nothing new done.
    let (status, _) = send(server.osb(Method::PUT, &path).json(&request)).await;
    assert_eq!(status, 200);
    assert_eq!(server.sync_backend.calls(OperationKind::Provision), 1);
    // Same id, different attributes: 409.
    let mut other = request.clone();
    other["parameters"] = json!({"postgres_version": 16});
    let (status, body) = send(server.osb(Method::PUT, &path).json(&other)).await;
    assert_eq!(status, 409, "{body}");
    assert_error_body(&body);
    // GET returns what was stored, context included.
    let (status, body) = send(server.osb(Method::GET, &path)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["service_id"], SYNC_SERVICE);
    assert_eq!(body["plan_id"], SYNC_PLAN);
    assert_eq!(body["parameters"], request["parameters"]);
    assert_eq!(body["context"], request["context"]);
    let (status, body) = send(server.osb(
        Method::GET,
        &format!("{path}?service_id={SYNC_SERVICE}&plan_id={SYNC_PLAN}"),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    // Synchronous deprovision: 200 {}, then 410 for the unknown instance.
    let delete = format!("{path}?service_id={SYNC_SERVICE}&plan_id={SYNC_PLAN}");
    let (status, body) = send(server.osb(Method::DELETE, &delete)).await;
    assert_eq!((status, body), (200, json!({})));
    let (status, body) = send(server.osb(Method::DELETE, &delete)).await;
    assert_eq!(status, 410);
    assert_error_body(&body);
    let (status, _) = send(server.osb(Method::GET, &path)).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn asynchronous_backend_requires_accepts_incomplete() {
    let server = Server::start().await;
    let path = instance_path(&unique("i"));
    let request = provision_body(ASYNC_SERVICE, ASYNC_PLAN);
    for query in ["", "?accepts_incomplete=false"] {
        let (status, body) = send(
            server
                .osb(Method::PUT, &format!("{path}{query}"))
                .json(&request),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"], "AsyncRequired");
        assert_error_body(&body);
    }
    assert_eq!(server.async_backend.calls(OperationKind::Provision), 0);
    server.stop().await;
}

#[tokio::test]
async fn asynchronous_lifecycle_with_polling() {
    let server = Server::with_backends(
        TestBackend::asynchronous().gated(),
        TestBackend::synchronous(),
    )
    .await;
    let id = unique("i");
    let path = instance_path(&id);
    let request = provision_body(ASYNC_SERVICE, ASYNC_PLAN);
    let put = format!("{path}?accepts_incomplete=true");
    let (status, body) = send(server.osb(Method::PUT, &put).json(&request)).await;
    assert_eq!(status, 202, "{body}");
    let operation = body["operation"].as_str().unwrap().to_string();
    // While in progress: polling says so with Retry-After, a repeat joins it (202, same
    // operation), another request is a concurrency error and the instance cannot be fetched.
    let poll = format!(
        "{path}/last_operation?operation={operation}&service_id={ASYNC_SERVICE}&plan_id={ASYNC_PLAN}"
    );
    let response = server.osb(Method::GET, &poll).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(body_of(response).await["state"], "in progress");
    let (status, body) = send(server.osb(Method::PUT, &put).json(&request)).await;
    assert_eq!(
        (status, body["operation"].as_str()),
        (202, Some(operation.as_str()))
    );
    let (status, body) = send(
        server
            .osb(Method::PATCH, &put)
            .json(&json!({"service_id": ASYNC_SERVICE, "plan_id": ASYNC_PLAN_BIG})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "ConcurrencyError");
    let (status, _) = send(server.osb(Method::GET, &path)).await;
    assert_eq!(status, 404);
    server.async_backend.release(1);
    let (status, body) = server.wait(&poll).await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("succeeded")),
        "{body}"
    );
    // Polling without the operation reports the newest one.
    let (_, body) = send(server.osb(Method::GET, &format!("{path}/last_operation"))).await;
    assert_eq!(body["state"], "succeeded");
    let (status, _) = send(server.osb(Method::PUT, &put).json(&request)).await;
    assert_eq!(status, 200);

    // Update to another plan, asynchronously.
    let (status, body) = send(server.osb(Method::PATCH, &put).json(
        &json!({"service_id": ASYNC_SERVICE, "plan_id": ASYNC_PLAN_BIG,
                          "previous_values": {"plan_id": ASYNC_PLAN}, "unknown": 1}),
    ))
    .await;
    assert_eq!(status, 202, "{body}");
    let update = body["operation"].as_str().unwrap().to_string();
    // An update in flight: GET is a concurrency error.
    let (status, body) = send(server.osb(Method::GET, &path)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("ConcurrencyError"))
    );
    server.async_backend.release(1);
    let (_, body) = server
        .wait(&format!("{path}/last_operation?operation={update}"))
        .await;
    assert_eq!(body["state"], "succeeded", "{body}");
    let (_, body) = send(server.osb(Method::GET, &path)).await;
    assert_eq!(body["plan_id"], ASYNC_PLAN_BIG);
    assert_eq!(body["maintenance_info"]["version"], "2.0.0");

    // Deprovision: 202, then polling the finished deprovision is 410 Gone.
    let delete = format!(
        "{path}?service_id={ASYNC_SERVICE}&plan_id={ASYNC_PLAN_BIG}&accepts_incomplete=true"
    );
    let (status, body) = send(server.osb(Method::DELETE, &delete)).await;
    assert_eq!(status, 202, "{body}");
    let deprovision = body["operation"].as_str().unwrap().to_string();
    server.async_backend.release(1);
    let (status, body) = server
        .wait(&format!("{path}/last_operation?operation={deprovision}"))
        .await;
    assert_eq!(status, 410, "{body}");
    assert_error_body(&body);
    let (status, _) = send(server.osb(Method::GET, &format!("{path}/last_operation"))).await;
    assert_eq!(status, 410);
    // An instance that never existed: 404, not 410.
    let (status, body) = send(server.osb(
        Method::GET,
        &format!("{}/last_operation", instance_path("never-was")),
    ))
    .await;
    assert_eq!(status, 404, "{body}");
    assert_error_body(&body);
    server.stop().await;
}

async fn body_of(response: reqwest::Response) -> serde_json::Value {
    body(response).await
}

#[tokio::test]
async fn update_rules() {
    let server = Server::start().await;
    // A plan that is not updateable cannot be changed: 400.
    let fixed = instance_path(&unique("i"));
    let (status, _) = send(
        server
            .osb(Method::PUT, &format!("{fixed}?accepts_incomplete=true"))
            .json(&provision_body(ASYNC_SERVICE, ASYNC_PLAN_FIXED)),
    )
    .await;
    assert_eq!(status, 202);
    server.wait(&format!("{fixed}/last_operation")).await;
    let (status, body) = send(
        server
            .osb(Method::PATCH, &format!("{fixed}?accepts_incomplete=true"))
            .json(&json!({"service_id": ASYNC_SERVICE, "plan_id": ASYNC_PLAN})),
    )
    .await;
    // OSB: a change the broker does not support is 422 with a description, without a code.
    assert_eq!(status, 422, "{body}");
    assert_eq!(body.get("error"), None, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("plan_updateable")
    );
    // maintenance_info that does not match the catalog: 422 MaintenanceInfoConflict.
    let (status, body) = send(
        server
            .osb(Method::PATCH, &format!("{fixed}?accepts_incomplete=true"))
            .json(&json!({"service_id": ASYNC_SERVICE, "maintenance_info": {"version": "9.9.9"}})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("MaintenanceInfoConflict")),
        "{body}"
    );
    let other = instance_path(&unique("i"));
    let mut request = provision_body(ASYNC_SERVICE, ASYNC_PLAN);
    request["maintenance_info"] = json!({"version": "0.1.0"});
    let (status, body) = send(
        server
            .osb(Method::PUT, &format!("{other}?accepts_incomplete=true"))
            .json(&request),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("MaintenanceInfoConflict")),
        "{body}"
    );
    // Unknown instance: 404. Plan of another service: 400.
    let (status, body) = send(
        server
            .osb(Method::PATCH, &instance_path("nope"))
            .json(&json!({"service_id": ASYNC_SERVICE})),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = send(
        server
            .osb(Method::PATCH, &format!("{fixed}?accepts_incomplete=true"))
            .json(&json!({"service_id": ASYNC_SERVICE, "plan_id": SYNC_PLAN})),
    )
    .await;
    assert_eq!(status, 400);
    // Parameters of an update are checked against the plan's update schema.
    let sync = instance_path(&unique("i"));
    let (status, _) = send(
        server
            .osb(Method::PUT, &sync)
            .json(&provision_body(SYNC_SERVICE, SYNC_PLAN)),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = send(
        server
            .osb(Method::PATCH, &sync)
            .json(&json!({"service_id": SYNC_SERVICE, "parameters": {"postgres_version": "17"}})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("parameters.postgres_version")
    );
    let (status, body) = send(server.osb(Method::PATCH, &sync).json(
        &json!({"service_id": SYNC_SERVICE, "parameters": {"postgres_version": 16},
                          "context": {"platform": "cloudfoundry", "space_guid": "s-2"}}),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("operation").is_none(), "{body}");
    let (_, body) = send(server.osb(Method::GET, &sync)).await;
    assert_eq!(body["parameters"], json!({"postgres_version": 16}));
    assert_eq!(body["context"]["space_guid"], "s-2");
    server.stop().await;
}

#[tokio::test]
async fn originating_identity_is_recorded_with_the_operation() {
    let server = Server::start().await;
    let id = unique("i");
    let identity = base64::engine::general_purpose::STANDARD.encode(r#"{"user_id": "alice"}"#);
    let (status, _) = send(
        server
            .osb(Method::PUT, &instance_path(&id))
            .header(
                "X-Broker-API-Originating-Identity",
                format!("cloudfoundry {identity}"),
            )
            .json(&provision_body(SYNC_SERVICE, SYNC_PLAN)),
    )
    .await;
    assert_eq!(status, 201);
    let op = server
        .store
        .latest_operation(&InstanceId::parse(id).unwrap(), None)
        .await
        .unwrap()
        .unwrap();
    let recorded: serde_json::Value =
        serde_json::from_str(op.originating_identity.as_deref().unwrap()).unwrap();
    assert_eq!(
        recorded,
        json!({"platform": "cloudfoundry", "value": {"user_id": "alice"}})
    );
    server.stop().await;
}

#[tokio::test]
async fn failures_and_timeouts_have_clear_5xx_bodies() {
    let server = Server::start().await;
    server
        .sync_backend
        .script(OperationKind::Provision, [Scripted::Permanent]);
    let (status, body) = send(
        server
            .osb(Method::PUT, &instance_path(&unique("i")))
            .json(&provision_body(SYNC_SERVICE, SYNC_PLAN)),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert_error_body(&body);
    assert!(
        body["description"].as_str().unwrap().contains("impossible"),
        "{body}"
    );
    // A synchronous request whose operation does not end within the budget: 504, and a
    // repeat of the request later sees where it stands.
    server.sync_backend.always(
        OperationKind::Provision,
        Scripted::InProgress(std::time::Duration::from_millis(50)),
    );
    let (status, body) = send(
        server
            .osb(Method::PUT, &instance_path(&unique("i")))
            .json(&provision_body(SYNC_SERVICE, SYNC_PLAN)),
    )
    .await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"], "Timeout");
    server.stop().await;
}

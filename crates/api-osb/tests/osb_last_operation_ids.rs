//! OSB conformance over a real socket: `last_operation` answers 400 when `service_id` or
//! `plan_id` is not the polled instance's (or binding's), even when the catalog has them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

/// GET `path` with `query`; returns the status and body (checked against the OpenAPI document).
async fn poll(server: &Server, path: &str, query: &str) -> (u16, serde_json::Value) {
    send(server.osb(Method::GET, &format!("{path}/last_operation?{query}"))).await
}

/// A 400 with an OSB error body whose description names every one of `words`.
fn rejected(answer: (u16, serde_json::Value), words: &[&str]) {
    let (status, body) = answer;
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body);
    let description = body["description"].as_str().unwrap();
    for word in words {
        assert!(
            description.contains(word),
            "{word:?} not named in {description:?}"
        );
    }
}

/// Starts an asynchronous request and returns its `operation`.
async fn accepted(server: &Server, method: Method, path: &str, body: serde_json::Value) -> String {
    let url = format!("{path}?accepts_incomplete=true");
    let (status, body) = send(server.osb(method, &url).json(&body)).await;
    assert_eq!(status, 202, "{body}");
    body["operation"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn polls_with_another_instances_ids_are_bad_requests() {
    let server = Server::start().await;
    let path = instance_path(&unique("i"));
    let provision = provision_body(ASYNC_SERVICE, ASYNC_PLAN);
    let op = accepted(&server, Method::PUT, &path, provision).await;
    let own = format!("operation={op}&service_id={ASYNC_SERVICE}&plan_id={ASYNC_PLAN}");
    let (status, body) = server.wait(&format!("{path}/last_operation?{own}")).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("succeeded")));

    // Both pairs are in the catalog; neither is this instance's.
    let other_service = format!("operation={op}&service_id={SYNC_SERVICE}&plan_id={SYNC_PLAN}");
    rejected(
        poll(&server, &path, &other_service).await,
        &["service_id", SYNC_SERVICE, ASYNC_SERVICE],
    );
    let other_plan = format!("service_id={ASYNC_SERVICE}&plan_id={ASYNC_PLAN_BIG}");
    rejected(
        poll(&server, &path, &other_plan).await,
        &["plan_id", ASYNC_PLAN_BIG, ASYNC_PLAN],
    );

    // An update may be polled with the plan before it or the one it moves to.
    let patch = json!({"service_id": ASYNC_SERVICE, "plan_id": ASYNC_PLAN_BIG});
    let update = accepted(&server, Method::PATCH, &path, patch).await;
    server
        .wait(&format!("{path}/last_operation?operation={update}"))
        .await;
    for plan in [ASYNC_PLAN, ASYNC_PLAN_BIG] {
        let query = format!("operation={update}&service_id={ASYNC_SERVICE}&plan_id={plan}");
        let (status, body) = poll(&server, &path, &query).await;
        assert_eq!((status, body["state"].as_str()), (200, Some("succeeded")));
    }
    let fixed = format!("operation={update}&plan_id={ASYNC_PLAN_FIXED}");
    rejected(
        poll(&server, &path, &fixed).await,
        &["plan_id", ASYNC_PLAN_FIXED, ASYNC_PLAN, ASYNC_PLAN_BIG],
    );
    // Ids outside the catalog are still refused as such.
    rejected(
        poll(&server, &path, "plan_id=nope").await,
        &["plan_id", "nope"],
    );
    server.stop().await;
}

#[tokio::test]
async fn binding_polls_with_another_plan_are_bad_requests() {
    let server = Server::sqlite().await;
    let instance = unique("i");
    let path = instance_path(&instance);
    accepted(
        &server,
        Method::PUT,
        &path,
        provision_body(ASYNC_SERVICE, ASYNC_PLAN),
    )
    .await;
    server.wait(&format!("{path}/last_operation")).await;
    let binding = binding_path(&instance, &unique("b"));
    let bind = json!({"service_id": ASYNC_SERVICE, "plan_id": ASYNC_PLAN, "bind_resource": {}});
    let op = accepted(&server, Method::PUT, &binding, bind).await;
    let own = format!("operation={op}&service_id={ASYNC_SERVICE}&plan_id={ASYNC_PLAN}");
    let (status, body) = server
        .wait(&format!("{binding}/last_operation?{own}"))
        .await;
    assert_eq!((status, body["state"].as_str()), (200, Some("succeeded")));
    let other_plan = format!("operation={op}&service_id={ASYNC_SERVICE}&plan_id={ASYNC_PLAN_BIG}");
    rejected(
        poll(&server, &binding, &other_plan).await,
        &["plan_id", ASYNC_PLAN_BIG, "binding"],
    );
    rejected(
        poll(&server, &binding, &format!("service_id={SYNC_SERVICE}")).await,
        &["service_id", SYNC_SERVICE],
    );
    server.stop().await;
}

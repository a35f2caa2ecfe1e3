//! The OpenAPI document against real answers: every test's `send` checks the answer against the
//! document (tests/common/documented.rs); this file proves that check is not vacuous and runs
//! the error answers that come from the layers around the handlers through it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::panic::catch_unwind;

use common::documented::check;
use common::*;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::json;

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers
}

#[test]
fn the_check_refuses_what_the_document_does_not_say() {
    let instance = "/v2/service_instances/i-1";
    // What the document says passes.
    check(
        &Method::GET,
        instance,
        404,
        &json_headers(),
        br#"{"description": "instance i-1 does not exist"}"#,
    );
    // A status the route does not list.
    assert!(catch_unwind(|| check(&Method::GET, instance, 418, &json_headers(), b"{}")).is_err());
    // A body the listed schema rejects: a number where a string is due, a required field missing.
    let wrong = json!({"service_id": 1, "plan_id": "p", "parameters": {}, "context": {}});
    let wrong = serde_json::to_vec(&wrong).unwrap();
    assert!(catch_unwind(|| check(&Method::GET, instance, 200, &json_headers(), &wrong)).is_err());
    assert!(catch_unwind(|| check(&Method::GET, instance, 404, &json_headers(), b"{}")).is_err());
    // Retry-After where the document does not declare it.
    let mut headers = json_headers();
    headers.insert("retry-after", HeaderValue::from_static("1"));
    let body = br#"{"description": "x"}"#;
    assert!(catch_unwind(|| check(&Method::GET, instance, 404, &headers, body)).is_err());
}

#[tokio::test]
async fn answers_from_the_layers_around_the_handlers_are_documented() {
    let mut server = Server::start().await;
    let path = instance_path(&unique("i"));
    let body = provision_body(SYNC_SERVICE, SYNC_PLAN);
    // 401, 412, 415 and 413 on a PUT: each checked against the document by `send`.
    let (status, _) = send(
        server
            .raw(Method::PUT, &path)
            .header("X-Broker-API-Version", "2.17")
            .json(&body),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = send(
        server
            .raw(Method::PUT, &path)
            .basic_auth(USER, Some(PASSWORD))
            .json(&body),
    )
    .await;
    assert_eq!(status, 412);
    let (status, _) = send(
        server
            .osb(Method::PUT, &path)
            .header(CONTENT_TYPE, "text/plain")
            .body(body.to_string()),
    )
    .await;
    assert_eq!(status, 415);
    let mut big = body.clone();
    big["parameters"]["padding"] = json!("x".repeat(BODY_LIMIT + 1));
    let (status, _) = send(server.osb(Method::PUT, &path).json(&big)).await;
    assert_eq!(status, 413);
    // 503 when the state store is gone: the server stays up and says so in an error body.
    server.lose_state_store().await;
    let (status, body) = send(server.osb(Method::GET, &path)).await;
    assert_eq!(status, 503, "{body}");
    assert_error_body(&body);
    server.stop().await;
}

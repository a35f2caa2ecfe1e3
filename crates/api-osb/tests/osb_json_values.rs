//! JSON values platforms send that a state store could not hold back. Numbers in what platforms
//! send (context, bind_resource) survive the state store: PostgreSQL
//! keeps `jsonb` numbers exactly and prints them without an exponent, so the largest doubles come
//! back as 309-digit integers, which must parse to the same double (found by schemathesis: the
//! row became unreadable and every later request about the binding answered 503). Strings with
//! U+0000, valid JSON that no PostgreSQL text or jsonb can hold, are refused with 400 naming the
//! field (found by schemathesis too: they answered 503).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn extreme_doubles_in_context_and_bind_resource_read_back_unchanged() {
    let server = Server::start().await;
    let instance = unique("i");
    let path = instance_path(&instance);
    let numbers = json!([
        f64::MAX,
        -f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        8.131475287659056e102
    ]);
    let mut provision = provision_body(SYNC_SERVICE, SYNC_PLAN);
    provision["context"]["numbers"] = numbers.clone();
    let (status, body) = send(server.osb(Method::PUT, &path).json(&provision)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(server.osb(Method::GET, &path)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["context"]["numbers"], numbers);

    let binding = binding_path(&instance, &unique("b"));
    let bind = json!({"service_id": SYNC_SERVICE, "plan_id": SYNC_PLAN,
                      "bind_resource": {"numbers": numbers}, "context": {"numbers": numbers}});
    let (status, body) = send(server.osb(Method::PUT, &binding).json(&bind)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(server.osb(Method::GET, &binding)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["context"]["numbers"], numbers);
    let unbind = format!("{binding}?service_id={SYNC_SERVICE}&plan_id={SYNC_PLAN}");
    let (status, body) = send(server.osb(Method::DELETE, &unbind)).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn the_nul_character_is_a_bad_request_naming_the_field() {
    let server = Server::start().await;
    let instance = unique("i");
    let path = instance_path(&instance);
    let mut provision = provision_body(SYNC_SERVICE, SYNC_PLAN);
    provision["context"]["team"] = json!("a\u{0}b");
    let (status, body) = send(server.osb(Method::PUT, &path).json(&provision)).await;
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body);
    let description = body["description"].as_str().unwrap();
    assert!(
        description.contains("context.team") && description.contains("U+0000"),
        "{description}"
    );
    // The audit record of who asked cannot hold it either.
    let identity = format!(
        "cloudfoundry {}",
        base64::engine::general_purpose::STANDARD.encode(r#"{"user_id": "a\u0000b"}"#)
    );
    let (status, body) = send(
        server
            .osb(Method::PUT, &path)
            .header("X-Broker-API-Originating-Identity", identity)
            .json(&provision_body(SYNC_SERVICE, SYNC_PLAN)),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["description"].as_str().unwrap().contains("U+0000"),
        "{body}"
    );
    let (status, _) = send(server.osb(Method::GET, &path)).await;
    assert_eq!(status, 404, "nothing was provisioned");
    server.stop().await;
}

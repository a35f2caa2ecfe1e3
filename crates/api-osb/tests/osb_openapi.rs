//! The OpenAPI document against real answers: every test's `send` checks the answer against the
//! document (tests/common/documented.rs); this file proves that check is not vacuous and runs
//! the error answers that come from the layers around the handlers through it (body limit
//! included, also for a chunked body).
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

/// A body sent in chunks, without a Content-Length, is cut off at the limit too: the broker
/// cannot see the size up front, so this is the case a length check alone would miss.
#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = Server::start().await;
    let address = server.base.trim_start_matches("http://").to_string();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let credentials = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    };
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic {credentials}\r\n\
         X-Broker-API-Version: 2.17\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        instance_path(&unique("i"))
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 4096];
    // One chunk past the limit, then nothing more: the server answers without waiting for the
    // end of the body, and has read all that was sent (no reset that could swallow the answer).
    for _ in 0..(BODY_LIMIT / chunk.len() + 1) {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        socket.write_all(&frame).await.unwrap();
    }
    let mut answer = Vec::new();
    // Without the limit the server would wait for the rest of the body: a safety net so that
    // the test fails instead of hanging, not a performance assertion.
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        socket.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "no answer: the body limit did not apply");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    // The body may itself be chunked; the JSON object sits between its first `{` and last `}`.
    let json = &body[body.find('{').unwrap()..=body.rfind('}').unwrap()];
    assert_error_body(&serde_json::from_str(json).unwrap());
    server.stop().await;
}

//! OSB conformance over a real socket, the way Cloud Foundry calls after a plan change: unbind,
//! GET binding and the binding's last_operation send the instance's current plan, and are
//! served; the plan the binding was made under is served too, any other plan is 400.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

/// Starts an asynchronous request and returns its `operation`.
async fn accepted(server: &Server, method: Method, path: &str, body: serde_json::Value) -> String {
    let url = format!("{path}?accepts_incomplete=true");
    let (status, body) = send(server.osb(method, &url).json(&body)).await;
    assert_eq!(status, 202, "{body}");
    body["operation"].as_str().unwrap().to_string()
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

fn ids(plan: &str) -> String {
    format!("service_id={ASYNC_SERVICE}&plan_id={plan}")
}

#[tokio::test]
async fn after_a_plan_change_a_binding_answers_to_the_instances_current_plan() {
    let server = Server::start().await;
    let instance = unique("i");
    let path = instance_path(&instance);
    let provision = provision_body(ASYNC_SERVICE, ASYNC_PLAN);
    accepted(&server, Method::PUT, &path, provision).await;
    server.wait(&format!("{path}/last_operation")).await;
    let (b1, b2) = (
        binding_path(&instance, &unique("b")),
        binding_path(&instance, &unique("b")),
    );
    for binding in [&b1, &b2] {
        let bind = json!({"service_id": ASYNC_SERVICE, "plan_id": ASYNC_PLAN});
        accepted(&server, Method::PUT, binding, bind).await;
        server.wait(&format!("{binding}/last_operation")).await;
    }
    let patch = json!({"service_id": ASYNC_SERVICE, "plan_id": ASYNC_PLAN_BIG});
    let update = accepted(&server, Method::PATCH, &path, patch).await;
    let (status, body) = server
        .wait(&format!("{path}/last_operation?operation={update}"))
        .await;
    assert_eq!((status, body["state"].as_str()), (200, Some("succeeded")));

    for plan in [ASYNC_PLAN_BIG, ASYNC_PLAN] {
        let (status, body) = send(server.osb(Method::GET, &format!("{b1}?{}", ids(plan)))).await;
        assert_eq!(status, 200, "GET binding with {plan}: {body}");
        let poll = format!("{b1}/last_operation?{}", ids(plan));
        let (status, body) = send(server.osb(Method::GET, &poll)).await;
        assert_eq!((status, body["state"].as_str()), (200, Some("succeeded")));
    }
    let other = ids(ASYNC_PLAN_FIXED);
    for answer in [
        send(server.osb(Method::GET, &format!("{b1}?{other}"))).await,
        send(server.osb(Method::GET, &format!("{b1}/last_operation?{other}"))).await,
        send(server.osb(
            Method::DELETE,
            &format!("{b1}?{other}&accepts_incomplete=true"),
        ))
        .await,
    ] {
        rejected(
            answer,
            &["plan_id", ASYNC_PLAN_FIXED, ASYNC_PLAN, ASYNC_PLAN_BIG],
        );
    }

    // Cloud Foundry's unbind: the current plan, polled with it until the binding is gone.
    let url = format!("{b1}?{}&accepts_incomplete=true", ids(ASYNC_PLAN_BIG));
    let (status, body) = send(server.osb(Method::DELETE, &url)).await;
    assert_eq!(status, 202, "{body}");
    let op = body["operation"].as_str().unwrap();
    let poll = format!("{b1}/last_operation?operation={op}&{}", ids(ASYNC_PLAN_BIG));
    let (status, body) = server.wait(&poll).await;
    assert_eq!(status, 410, "{body}");
    // The plan the binding was made under still unbinds too.
    let url = format!("{b2}?{}&accepts_incomplete=true", ids(ASYNC_PLAN));
    let (status, body) = send(server.osb(Method::DELETE, &url)).await;
    assert_eq!(status, 202, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn provision_needs_organization_and_space_at_the_top_level() {
    let server = Server::start().await;
    let path = instance_path(&unique("i"));
    // OSB 2.17: both are required, non-empty strings. The Cloud Foundry context of
    // provision_body carries both too, but only the top-level fields count.
    for field in ["organization_guid", "space_guid"] {
        let mut body = provision_body(SYNC_SERVICE, SYNC_PLAN);
        body.as_object_mut().unwrap().remove(field);
        let missing = format!("missing field `{field}`");
        rejected(
            send(server.osb(Method::PUT, &path).json(&body)).await,
            &[&missing],
        );
        body[field] = json!("");
        let empty = format!("field {field}: must be a non-empty string");
        rejected(
            send(server.osb(Method::PUT, &path).json(&body)).await,
            &[&empty],
        );
    }
    let (status, _) = send(server.osb(Method::GET, &path)).await;
    assert_eq!(status, 404, "nothing was provisioned");
    server.stop().await;
}

//! OSB conformance over a real socket: headers, authentication, the catalog, request validation
//! and the shape of every error body.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn api_version_is_required_and_at_least_2_13() {
    let server = Server::start().await;
    for version in [
        None,
        Some("2.12"),
        Some("1.17"),
        Some("3.0"),
        Some("latest"),
    ] {
        let mut request = server
            .raw(Method::GET, "/v2/catalog")
            .basic_auth(USER, Some(PASSWORD));
        if let Some(v) = version {
            request = request.header("X-Broker-API-Version", v);
        }
        let (status, body) = send(request).await;
        assert_eq!(status, 412, "{version:?}: {body}");
        assert_error_body(&body);
        assert!(
            body["description"]
                .as_str()
                .unwrap()
                .contains("X-Broker-API-Version")
        );
    }
    for version in ["2.13", "2.14", "2.17"] {
        let request = server
            .raw(Method::GET, "/v2/catalog")
            .basic_auth(USER, Some(PASSWORD))
            .header("X-Broker-API-Version", version);
        assert_eq!(send(request).await.0, 200, "{version}");
    }
    server.stop().await;
}

#[tokio::test]
async fn every_v2_route_needs_credentials() {
    let server = Server::start().await;
    let routes = [
        (Method::GET, "/v2/catalog".to_string()),
        (Method::PUT, instance_path("i1")),
        (Method::PATCH, instance_path("i1")),
        (Method::DELETE, instance_path("i1")),
        (Method::GET, instance_path("i1")),
        (
            Method::GET,
            format!("{}/last_operation", instance_path("i1")),
        ),
        (Method::PUT, binding_path("i1", "b1")),
        (Method::DELETE, binding_path("i1", "b1")),
        (Method::GET, binding_path("i1", "b1")),
        (
            Method::GET,
            format!("{}/last_operation", binding_path("i1", "b1")),
        ),
    ];
    for (method, path) in routes {
        let base = || {
            server
                .raw(method.clone(), &path)
                .header("X-Broker-API-Version", "2.17")
        };
        for request in [
            base(),
            base().basic_auth(USER, Some("wrong")),
            base().basic_auth("someone", Some(PASSWORD)),
            base().bearer_auth("not-the-token"),
            base().header("Authorization", "Basic %%%"),
        ] {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{method} {path}");
            assert!(response.headers().contains_key("www-authenticate"));
            assert_error_body(&body(response).await);
        }
    }
    // The bearer token works as well as basic credentials.
    let request = server
        .raw(Method::GET, "/v2/catalog")
        .bearer_auth(TOKEN)
        .header("X-Broker-API-Version", "2.17");
    assert_eq!(send(request).await.0, 200);
    server.stop().await;
}

#[tokio::test]
async fn request_identity_is_echoed() {
    let server = Server::start().await;
    let response = server
        .osb(Method::GET, "/v2/catalog")
        .header("X-Broker-API-Request-Identity", "req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-broker-api-request-identity"],
        "req-42"
    );
    // Also on errors.
    let response = server
        .raw(Method::GET, "/v2/catalog")
        .header("X-Broker-API-Request-Identity", "req-43")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["x-broker-api-request-identity"],
        "req-43"
    );
    server.stop().await;
}

#[tokio::test]
async fn catalog_has_the_osb_shape_and_hides_backend_internals() {
    let server = Server::start().await;
    let (status, body) = send(server.osb(Method::GET, "/v2/catalog")).await;
    assert_eq!(status, 200);
    let services = body["services"].as_array().unwrap();
    assert_eq!(services.len(), 4);
    let svc = &services[0];
    for key in [
        "id",
        "name",
        "description",
        "bindable",
        "plans",
        "plan_updateable",
    ] {
        assert!(svc.get(key).is_some(), "service lacks {key}: {svc}");
    }
    let plan = &svc["plans"][0];
    assert_eq!(plan["maintenance_info"]["version"], "1.0.0");
    assert!(
        plan.get("backend").is_none() && plan.get("settings").is_none(),
        "{plan}"
    );
    assert!(!body.to_string().contains("not-for-platforms"));
    let sync_plan = &services[1]["plans"][0];
    assert_eq!(
        sync_plan["schemas"]["service_instance"]["create"]["parameters"]["properties"]["postgres_version"]
            ["enum"],
        json!([16, 17])
    );
    assert!(sync_plan["schemas"]["service_binding"]["create"]["parameters"].is_object());
    assert_eq!(services[0]["plans"][2]["maximum_polling_duration"], 600);
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_400_naming_the_field() {
    let server = Server::start().await;
    let path = instance_path(&unique("i"));
    let cases: Vec<(reqwest::RequestBuilder, &str)> = vec![
        (
            server
                .osb(Method::PUT, &path)
                .header("content-type", "application/json")
                .body("{not json"),
            "not valid JSON",
        ),
        (
            server
                .osb(Method::PUT, &path)
                .json(&json!({"plan_id": SYNC_PLAN})),
            "service_id",
        ),
        (
            server
                .osb(Method::PUT, &path)
                .json(&json!({"service_id": SYNC_SERVICE})),
            "plan_id",
        ),
        (
            server
                .osb(Method::PUT, &path)
                .json(&json!({"service_id": SYNC_SERVICE, "plan_id": 7})),
            "plan_id",
        ),
        (
            server.osb(Method::PUT, &path).json(
                &json!({"service_id": SYNC_SERVICE, "plan_id": SYNC_PLAN, "parameters": "x"}),
            ),
            "parameters",
        ),
        (
            server
                .osb(Method::PUT, &path)
                .json(&json!({"service_id": SYNC_SERVICE, "plan_id": SYNC_PLAN, "context": [1]})),
            "context",
        ),
        (
            server
                .osb(Method::PUT, &path)
                .json(&provision_body("no-such-service", SYNC_PLAN)),
            "service_id",
        ),
        (
            server
                .osb(Method::PUT, &path)
                .json(&provision_body(SYNC_SERVICE, "no-such-plan")),
            "plan_id",
        ),
        (
            server
                .osb(Method::PUT, &path)
                .json(&provision_body(SYNC_SERVICE, ASYNC_PLAN)),
            "plan_id",
        ),
        (
            server.osb(Method::PUT, &path).json(&with(
                provision_body(SYNC_SERVICE, SYNC_PLAN),
                "parameters",
                json!({"postgres_version": 14}),
            )),
            "parameters.postgres_version",
        ),
        (
            server.osb(Method::PUT, &path).json(&with(
                provision_body(SYNC_SERVICE, SYNC_PLAN),
                "parameters",
                json!({"colour": "red"}),
            )),
            "colour",
        ),
        (
            server
                .osb(Method::PUT, &format!("{path}?accepts_incomplete=maybe"))
                .json(&provision_body(SYNC_SERVICE, SYNC_PLAN)),
            "accepts_incomplete",
        ),
        (
            server
                .osb(Method::PUT, &instance_path("bad%20id"))
                .json(&provision_body(SYNC_SERVICE, SYNC_PLAN)),
            "instance_id",
        ),
        (
            server.osb(Method::DELETE, &format!("{path}?plan_id={SYNC_PLAN}")),
            "service_id",
        ),
        (
            server.osb(Method::DELETE, &format!("{path}?service_id={SYNC_SERVICE}")),
            "plan_id",
        ),
        (
            server.osb(
                Method::GET,
                &format!("{path}/last_operation?operation=not-a-uuid"),
            ),
            "operation",
        ),
        // Only the hyphenated form the broker hands out, as the document's pattern says.
        (
            server.osb(
                Method::GET,
                &format!(
                    "{path}/last_operation?operation={}",
                    uuid::Uuid::new_v4().simple()
                ),
            ),
            "operation",
        ),
        (
            server.osb(Method::GET, &format!("{path}/last_operation?operation=")),
            "operation",
        ),
        (
            server.osb(Method::GET, &format!("{path}/last_operation?plan_id=nope")),
            "plan_id",
        ),
        (
            server
                .osb(Method::PUT, &path)
                .header(
                    "X-Broker-API-Originating-Identity",
                    "cloudfoundry not-base64!",
                )
                .json(&provision_body(SYNC_SERVICE, SYNC_PLAN)),
            "X-Broker-API-Originating-Identity",
        ),
    ];
    for (request, field) in cases {
        let (status, body) = send(request).await;
        assert_eq!(status, 400, "{field}: {body}");
        assert_error_body(&body);
        let description = body["description"].as_str().unwrap();
        assert!(
            description.contains(field),
            "{field} not named in {description:?}"
        );
    }
    // Nothing was created by any of them.
    let (status, _) = send(server.osb(Method::GET, &path)).await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn wrong_content_type_is_415_and_big_bodies_413() {
    let server = Server::start().await;
    let path = instance_path(&unique("i"));
    let (status, body) = send(
        server
            .osb(Method::PUT, &path)
            .header("content-type", "text/plain")
            .body(provision_body(SYNC_SERVICE, SYNC_PLAN).to_string()),
    )
    .await;
    assert_eq!(status, 415, "{body}");
    assert_error_body(&body);
    let mut big = provision_body(SYNC_SERVICE, SYNC_PLAN);
    big["context"]["padding"] = json!("x".repeat(BODY_LIMIT + 1));
    let (status, body) = send(server.osb(Method::PUT, &path).json(&big)).await;
    assert_eq!(status, 413, "{body}");
    assert_error_body(&body);
    server.stop().await;
}

#[tokio::test]
async fn unknown_fields_are_ignored() {
    let server = Server::start().await;
    let path = instance_path(&unique("i"));
    let mut request = provision_body(SYNC_SERVICE, SYNC_PLAN);
    request["some_future_field"] = json!({"nested": [1, 2]});
    request["maintenance_info"] = json!({"version": null, "description": "x"});
    let (status, body) = send(server.osb(Method::PUT, &path).json(&request)).await;
    // maintenance_info.version is required when maintenance_info is sent.
    assert_eq!(status, 400, "{body}");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("maintenance_info.version")
    );
    request.as_object_mut().unwrap().remove("maintenance_info");
    let (status, body) = send(server.osb(Method::PUT, &path).json(&request)).await;
    assert_eq!(status, 201, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_osb_error_bodies() {
    let server = Server::start().await;
    let (status, body) = send(server.osb(Method::GET, "/v2/nothing")).await;
    assert_eq!(status, 404);
    assert_error_body(&body);
    let (status, body) = send(server.osb(Method::POST, "/v2/catalog")).await;
    assert_eq!(status, 405, "{body}");
    assert_error_body(&body);
    server.stop().await;
}

#[tokio::test]
async fn a_panic_in_a_request_is_a_500_with_an_error_body_and_the_server_goes_on() {
    let server = Server::start().await;
    let mut request = provision_body(SYNC_SERVICE, SYNC_PLAN);
    request["parameters"] = json!({PANIC_MARKER: true});
    let (status, body) = send(
        server
            .osb(Method::PUT, &instance_path(&unique("i")))
            .json(&request),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert_error_body(&body);
    assert_eq!(body["error"], "InternalError");
    let (status, _) = send(server.osb(Method::GET, "/v2/catalog")).await;
    assert_eq!(status, 200);
    // The panicking request is still counted, as the 500 the platform got.
    let metrics = server.raw(Method::GET, "/metrics").send().await.unwrap();
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(r#"pgbroker_http_requests_total{method="PUT",route="/v2/service_instances/{instance_id}",status="500"} 1"#),
        "{text}"
    );
    server.stop().await;
}

/// `body` with `field` set to `value`.
fn with(mut body: serde_json::Value, field: &str, value: serde_json::Value) -> serde_json::Value {
    body[field] = value;
    body
}

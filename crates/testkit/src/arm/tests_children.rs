//! Nested resources and injected faults over HTTP.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::test_client::{Client, server_path};
use super::{Arm, Fault};

async fn setup() -> (Arm, Client) {
    let arm = Arm::start().await;
    arm.set_retry_after(0);
    let client = Client::new(&arm).await;
    (arm, client)
}

#[tokio::test]
async fn firewall_rules_configurations_and_databases() {
    let (arm, c) = setup().await;
    c.create_server("pg-kids").await;
    let rule = json!({"properties": {"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.9"}});
    let put = c
        .call(
            Method::PUT,
            &format!("{}/firewallRules/allow-app", server_path("pg-kids")),
            Some(rule),
        )
        .await;
    assert_eq!(put.status, StatusCode::ACCEPTED, "{:?}", put.body);
    assert!(
        arm.firewall_rules("pg-kids").is_empty(),
        "the rule exists once the operation ends"
    );
    c.wait(&put).await;
    assert_eq!(
        arm.firewall_rules("pg-kids")[0]["properties"]["endIpAddress"],
        "10.0.0.9"
    );
    let listed = c
        .call(
            Method::GET,
            &format!("{}/firewallRules", server_path("pg-kids")),
            None,
        )
        .await;
    assert_eq!(listed.body["value"][0]["name"], "allow-app");

    let config = json!({"properties": {"value": "vector,pg_trgm", "source": "user-override"}});
    let set = c
        .call(
            Method::PUT,
            &format!("{}/configurations/azure.extensions", server_path("pg-kids")),
            Some(config),
        )
        .await;
    assert_eq!(set.status, StatusCode::ACCEPTED, "{:?}", set.body);
    c.wait(&set).await;
    assert_eq!(
        arm.configurations("pg-kids")["azure.extensions"],
        "vector,pg_trgm"
    );
    let got = c
        .call(
            Method::GET,
            &format!("{}/configurations/azure.extensions", server_path("pg-kids")),
            None,
        )
        .await;
    assert_eq!(got.body["properties"]["source"], "user-override");
    let unknown = c
        .call(
            Method::PUT,
            &format!("{}/configurations/no_such", server_path("pg-kids")),
            Some(json!({"properties": {"value": "1"}})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad = c
        .call(
            Method::PUT,
            &format!("{}/configurations/max_connections", server_path("pg-kids")),
            Some(json!({"properties": {"value": "9"}})),
        )
        .await;
    assert_eq!(bad.code(), "InvalidParameterValue");

    let db = c
        .call(
            Method::PUT,
            &format!("{}/databases/app", server_path("pg-kids")),
            Some(json!({"properties": {"charset": "UTF8", "collation": "en_US.utf8"}})),
        )
        .await;
    assert_eq!(db.status, StatusCode::ACCEPTED);
    c.wait(&db).await;
    assert!(arm.databases("pg-kids").contains(&"app".to_owned()));
    let dropped = c
        .call(
            Method::DELETE,
            &format!("{}/firewallRules/allow-app", server_path("pg-kids")),
            None,
        )
        .await;
    assert_eq!(dropped.status, StatusCode::ACCEPTED);
    c.wait(&dropped).await;
    assert!(arm.firewall_rules("pg-kids").is_empty());
    assert_eq!(arm.violations().len(), 2, "{:?}", arm.violations());
}

#[tokio::test]
async fn injected_throttle_carries_retry_after_then_passes() {
    let (arm, c) = setup().await;
    arm.inject("PUT", "/flexibleServers/pg-thr", 1, Fault::throttled(7));
    let throttled = c
        .call(
            Method::PUT,
            &server_path("pg-thr"),
            Some(super::test_client::create_body()),
        )
        .await;
    assert_eq!(
        (throttled.status, throttled.code()),
        (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests")
    );
    assert_eq!(throttled.header("retry-after").as_deref(), Some("7"));
    assert!(arm.server("pg-thr").is_none());
    let passed = c
        .call(
            Method::PUT,
            &server_path("pg-thr"),
            Some(super::test_client::create_body()),
        )
        .await;
    assert_eq!(passed.status, StatusCode::CREATED);
    arm.inject("GET", "pg-thr", 1, Fault::quota());
    assert_eq!(
        c.call(Method::GET, &server_path("pg-thr"), None)
            .await
            .code(),
        "QuotaExceeded"
    );
    assert!(arm.violations().is_empty());
}

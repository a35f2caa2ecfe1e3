//! Lifecycles over HTTP: create, update, delete, locks, children, faults, failed operations.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::test_client::{Client, server_path};
use super::{Arm, LOCKS_API_VERSION};

async fn setup() -> (Arm, Client) {
    let arm = Arm::start().await;
    arm.set_retry_after(0);
    let client = Client::new(&arm).await;
    (arm, client)
}

#[tokio::test]
async fn create_polls_then_ready_over_both_urls() {
    let (arm, c) = setup().await;
    let mut request = c.http.put(format!(
        "{}{}?api-version=2024-08-01",
        c.base,
        server_path("pg-one")
    ));
    request = request
        .bearer_auth(&c.token)
        .header("x-ms-correlation-request-id", "corr-1")
        .json(&super::test_client::create_body());
    let created = request.send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let h = created.headers().clone();
    assert_eq!(h["x-ms-correlation-request-id"], "corr-1");
    assert!(h.contains_key("x-ms-request-id"));
    assert!(h.contains_key("retry-after"));
    let writes: u64 = h["x-ms-ratelimit-remaining-subscription-writes"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: serde_json::Value = created.json().await.unwrap();
    assert_eq!(body["properties"]["state"], "Updating");
    assert_eq!(
        body["properties"]["fullyQualifiedDomainName"],
        "pg-one.postgres.database.azure.com"
    );
    assert!(
        body["properties"]
            .get("administratorLoginPassword")
            .is_none()
    );
    let status_url = h["azure-asyncoperation"].to_str().unwrap().to_owned();
    let result_url = h["location"].to_str().unwrap().to_owned();
    assert!(
        status_url.starts_with(&format!("{}/subscriptions/", c.base)),
        "{status_url}"
    );
    assert!(status_url.contains(
        "/providers/Microsoft.DBforPostgreSQL/locations/westeurope/azureAsyncOperation/"
    ));
    assert!(
        result_url.contains("/operationResults/") && result_url.ends_with("api-version=2024-08-01")
    );

    // Two polls (one of each URL) stay in progress; the server is not Ready yet.
    let first = c.call(Method::GET, &status_url, None).await;
    assert_eq!(
        (first.status, first.body["status"].as_str()),
        (StatusCode::OK, Some("InProgress"))
    );
    assert!(first.body["startTime"].is_string() && first.body.get("endTime").is_none());
    let second = c.call(Method::GET, &result_url, None).await;
    assert_eq!(second.status, StatusCode::ACCEPTED);
    assert!(second.header("retry-after").is_some());
    assert_eq!(
        arm.server("pg-one").unwrap()["properties"]["state"],
        "Updating"
    );
    // The third poll ends it: the Location URL gives the resource.
    let done = c.call(Method::GET, &result_url, None).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.body["properties"]["state"], "Ready");
    let status = c.call(Method::GET, &status_url, None).await;
    assert_eq!(status.body["status"], "Succeeded");
    assert!(status.body["endTime"].is_string());

    let got = c.call(Method::GET, &server_path("pg-one"), None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(
        got.body["type"],
        "Microsoft.DBforPostgreSQL/flexibleServers"
    );
    assert_eq!(got.body["sku"]["tier"], "GeneralPurpose");
    assert_eq!(got.body["properties"]["storage"]["storageSizeGB"], 128);
    assert_eq!(
        got.body["properties"]["highAvailability"]["state"],
        "NotEnabled"
    );
    assert!(
        got.header("x-ms-ratelimit-remaining-subscription-reads")
            .is_some()
    );
    assert_eq!(
        arm.admin_password("pg-one").as_deref(),
        Some("Str0ng-Passw0rd")
    );

    let again = c
        .call(
            Method::PUT,
            &server_path("pg-two"),
            Some(super::test_client::create_body()),
        )
        .await;
    let writes_after: u64 = again
        .header("x-ms-ratelimit-remaining-subscription-writes")
        .unwrap()
        .parse()
        .unwrap();
    assert!(writes_after < writes, "the write budget counts down");

    let recorded = arm.requests();
    let put = recorded.iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(
        put.body.as_ref().unwrap()["properties"]["administratorLoginPassword"],
        "[redacted]"
    );
    assert_eq!(put.headers["authorization"], "Bearer [redacted]");
    assert_eq!(put.api_version.as_deref(), Some("2024-08-01"));
    let token = &recorded[0];
    assert_eq!(token.body.as_ref().unwrap()["client_secret"], "[redacted]");
    assert_eq!(arm.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn patch_updates_after_the_operation_and_rotates_the_password() {
    let (arm, c) = setup().await;
    c.create_server("pg-up").await;
    let body = json!({"properties": {"administratorLoginPassword": "N3w-Passw0rd!", "backup": {"backupRetentionDays": 14}}, "tags": {"t": "1"}});
    let patched = c
        .call(Method::PATCH, &server_path("pg-up"), Some(body))
        .await;
    assert_eq!(patched.status, StatusCode::ACCEPTED, "{:?}", patched.body);
    assert!(
        patched.header("azure-asyncoperation").is_some() && patched.header("location").is_some()
    );
    assert!(patched.header("retry-after").is_some());
    let during = arm.server("pg-up").unwrap();
    assert_eq!(during["properties"]["state"], "Updating");
    assert_eq!(during["properties"]["backup"]["backupRetentionDays"], 7);
    // A second write while the first runs is refused, as the RP does.
    let busy = c
        .call(
            Method::PATCH,
            &server_path("pg-up"),
            Some(json!({"tags": {}})),
        )
        .await;
    assert_eq!(
        (busy.status, busy.code()),
        (StatusCode::CONFLICT, "ServerBusy")
    );
    let (done, polls) = c.wait(&patched).await;
    assert_eq!((done["status"].as_str(), polls), (Some("Succeeded"), 2));
    let after = arm.server("pg-up").unwrap();
    assert_eq!(after["properties"]["state"], "Ready");
    assert_eq!(after["properties"]["backup"]["backupRetentionDays"], 14);
    assert_eq!(after["tags"]["t"], "1");
    assert_eq!(
        arm.admin_password("pg-up").as_deref(),
        Some("N3w-Passw0rd!")
    );

    let login = c
        .call(
            Method::PATCH,
            &server_path("pg-up"),
            Some(json!({"properties": {"administratorLogin": "other"}})),
        )
        .await;
    assert_eq!(login.status, StatusCode::BAD_REQUEST);
    assert_eq!(arm.violations().len(), 1, "{:?}", arm.violations());
}

#[tokio::test]
async fn a_lock_refuses_delete_until_removed() {
    let (arm, c) = setup().await;
    c.create_server("pg-del").await;
    arm.add_lock("pg-del", "keep", "CanNotDelete");
    let refused = c.call(Method::DELETE, &server_path("pg-del"), None).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::CONFLICT, "ScopeLocked")
    );
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot perform delete operation because following scope(s) are locked"),
        "{message}"
    );
    assert!(message.contains(&server_path("pg-del")));
    // CanNotDelete still allows writes.
    let patched = c
        .call(
            Method::PATCH,
            &server_path("pg-del"),
            Some(json!({"tags": {"a": "b"}})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::ACCEPTED);
    c.wait(&patched).await;
    arm.remove_lock("pg-del", "keep");

    // A ReadOnly lock set over HTTP refuses writes to the server and its children.
    let lock_url = format!(
        "{}{}/providers/Microsoft.Authorization/locks/ro?api-version={LOCKS_API_VERSION}",
        c.base,
        server_path("pg-del")
    );
    let lock = c
        .call(
            Method::PUT,
            &lock_url,
            Some(json!({"properties": {"level": "ReadOnly", "notes": "freeze"}})),
        )
        .await;
    assert_eq!(lock.status, StatusCode::CREATED, "{:?}", lock.body);
    assert_eq!(lock.body["type"], "Microsoft.Authorization/locks");
    assert_eq!(arm.locks("pg-del").len(), 1);
    let write = c
        .call(
            Method::PATCH,
            &server_path("pg-del"),
            Some(json!({"tags": {}})),
        )
        .await;
    assert_eq!(write.code(), "ScopeLocked");
    assert!(
        write.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("write operation")
    );
    let rule = json!({"properties": {"startIpAddress": "10.0.0.1", "endIpAddress": "10.0.0.2"}});
    let child = c
        .call(
            Method::PUT,
            &format!("{}/firewallRules/r1", server_path("pg-del")),
            Some(rule),
        )
        .await;
    assert_eq!(child.code(), "ScopeLocked");
    let list_url = format!(
        "{}{}/providers/Microsoft.Authorization/locks?api-version={LOCKS_API_VERSION}",
        c.base,
        server_path("pg-del")
    );
    let listed = c.call(Method::GET, &list_url, None).await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(
        c.call(Method::DELETE, &lock_url, None).await.status,
        StatusCode::OK
    );

    // A resource group lock applies too.
    arm.add_group_lock("rg-keep", "CanNotDelete");
    assert_eq!(
        c.call(Method::DELETE, &server_path("pg-del"), None)
            .await
            .code(),
        "ScopeLocked"
    );
    arm.remove_group_lock("rg-keep");

    let deleted = c.call(Method::DELETE, &server_path("pg-del"), None).await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    assert!(
        deleted.header("location").is_some() && deleted.header("azure-asyncoperation").is_some()
    );
    assert_eq!(
        arm.server("pg-del").unwrap()["properties"]["state"],
        "Dropping"
    );
    let location = deleted.header("location").unwrap();
    let mut last = c.call(Method::GET, &location, None).await;
    while last.status == StatusCode::ACCEPTED {
        last = c.call(Method::GET, &location, None).await;
    }
    assert_eq!(last.status, StatusCode::NO_CONTENT);
    let gone = c.call(Method::GET, &server_path("pg-del"), None).await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::NOT_FOUND, "ResourceNotFound")
    );
    assert_eq!(
        c.call(Method::DELETE, &server_path("pg-del"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(arm.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn fail_next_operation_ends_failed() {
    let (arm, c) = setup().await;
    c.create_server("pg-fail").await;
    arm.fail_next_operation(
        "pg-fail",
        "InternalServerError",
        "The storage could not be grown.",
    );
    let patched = c
        .call(
            Method::PATCH,
            &server_path("pg-fail"),
            Some(json!({"properties": {"storage": {"storageSizeGB": 256}}})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::ACCEPTED);
    let (done, _) = c.wait(&patched).await;
    assert_eq!(done["status"], "Failed");
    assert_eq!(done["error"]["code"], "InternalServerError");
    let after = arm.server("pg-fail").unwrap();
    assert_eq!(after["properties"]["state"], "Ready");
    assert_eq!(
        after["properties"]["storage"]["storageSizeGB"], 128,
        "a failed update changes nothing"
    );
    let result = c
        .call(Method::GET, &patched.header("location").unwrap(), None)
        .await;
    assert_eq!(
        (result.status, result.code()),
        (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError")
    );

    // A failed create leaves no server.
    arm.fail_next_operation("pg-fail2", "ProvisioningFailed", "no capacity");
    let created = c
        .call(
            Method::PUT,
            &server_path("pg-fail2"),
            Some(super::test_client::create_body()),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let (done, _) = c.wait(&created).await;
    assert_eq!(done["status"], "Failed");
    assert!(arm.server("pg-fail2").is_none());
}

//! Refusals: each rule the double enforces is broken once, and must be refused and recorded.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::test_client::{Client, create_body, server_path};
use super::{Arm, FLEXIBLE_API_VERSION, TENANT};

async fn setup() -> (Arm, Client) {
    let arm = Arm::start().await;
    arm.set_retry_after(0);
    let client = Client::new(&arm).await;
    (arm, client)
}

#[tokio::test]
async fn api_version_and_token_are_required() {
    let (arm, c) = setup().await;
    let url = format!("{}{}", c.base, server_path("pg-auth"));
    let wrong = c
        .raw(
            Method::GET,
            &format!("{url}?api-version=2021-06-01"),
            Some(&c.token),
            None,
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::BAD_REQUEST, "InvalidApiVersionParameter")
    );
    let missing = c.raw(Method::GET, &url, Some(&c.token), None).await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::BAD_REQUEST, "MissingApiVersionParameter")
    );
    let with_version = format!("{url}?api-version={FLEXIBLE_API_VERSION}");
    let no_token = c.raw(Method::GET, &with_version, None, None).await;
    assert_eq!(
        (no_token.status, no_token.code()),
        (StatusCode::UNAUTHORIZED, "AuthenticationFailed")
    );
    assert!(no_token.header("www-authenticate").is_some());
    let forged = c
        .raw(Method::GET, &with_version, Some("made-up"), None)
        .await;
    assert_eq!(
        (forged.status, forged.code()),
        (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken")
    );
    // A lock call needs the locks api-version, not the flexible server one.
    let lock = c
        .call(
            Method::GET,
            &format!(
                "{}/providers/Microsoft.Authorization/locks",
                server_path("pg-auth")
            ),
            None,
        )
        .await;
    assert_eq!(lock.code(), "InvalidApiVersionParameter");

    let bad_secret = c
        .http
        .post(arm.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=pgbroker-test-client&client_secret=nope&scope=https%3A%2F%2Fmanagement.azure.com%2F.default")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_secret.status(), StatusCode::UNAUTHORIZED);
    let body: Value = bad_secret.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215:")
    );
    let bad_scope = c
        .http
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", c.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=pgbroker-test-client&client_secret=not-a-real-secret&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_scope.status(), StatusCode::BAD_REQUEST);
    assert_eq!(arm.violations().len(), 7, "{:#?}", arm.violations());
    assert!(arm.violations()[0].contains("InvalidApiVersionParameter"));
}

fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    *body.pointer_mut(pointer).unwrap() = value;
    body
}

#[tokio::test]
async fn invalid_server_bodies_are_refused_and_recorded() {
    let (arm, c) = setup().await;
    let base = create_body();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "bad sku tier",
            with(base.clone(), "/sku/tier", json!("Premium")),
            "InvalidParameterValue",
        ),
        (
            "sku of another tier",
            with(base.clone(), "/sku/name", json!("Standard_B1ms")),
            "InvalidParameterValue",
        ),
        (
            "read-only state",
            with(base.clone(), "/properties/version", json!("16")).tap_insert(
                "/properties",
                "state",
                json!("Ready"),
            ),
            "InvalidRequestContent",
        ),
        (
            "read-only fqdn",
            base.clone()
                .tap_insert("/properties", "fullyQualifiedDomainName", json!("x")),
            "InvalidRequestContent",
        ),
        (
            "unknown property",
            base.clone()
                .tap_insert("/properties", "colour", json!("blue")),
            "InvalidRequestContent",
        ),
        (
            "weak password",
            with(
                base.clone(),
                "/properties/administratorLoginPassword",
                json!("password"),
            ),
            "PasswordNotComplex",
        ),
        (
            "short password",
            with(
                base.clone(),
                "/properties/administratorLoginPassword",
                json!("Ab1!"),
            ),
            "PasswordNotComplex",
        ),
        (
            "reserved login",
            with(
                base.clone(),
                "/properties/administratorLogin",
                json!("azure_superuser"),
            ),
            "InvalidParameterValue",
        ),
        (
            "no password",
            base.clone()
                .tap_remove("/properties", "administratorLoginPassword"),
            "InvalidRequestContent",
        ),
        (
            "unknown version",
            with(base.clone(), "/properties/version", json!("10")),
            "InvalidParameterValue",
        ),
        (
            "storage size",
            with(
                base.clone(),
                "/properties/storage/storageSizeGB",
                json!(100),
            ),
            "InvalidParameterValue",
        ),
        (
            "auto grow",
            with(base.clone(), "/properties/storage/autoGrow", json!("On")),
            "InvalidParameterValue",
        ),
        (
            "retention",
            with(
                base.clone(),
                "/properties/backup/backupRetentionDays",
                json!(40),
            ),
            "InvalidParameterValue",
        ),
        (
            "geo backup",
            with(
                base.clone(),
                "/properties/backup/geoRedundantBackup",
                json!("Yes"),
            ),
            "InvalidParameterValue",
        ),
        (
            "ha mode",
            with(
                base.clone(),
                "/properties/highAvailability/mode",
                json!("Everywhere"),
            ),
            "InvalidParameterValue",
        ),
        (
            "burstable with zone redundant HA",
            with(
                with(
                    base.clone(),
                    "/sku",
                    json!({"name": "Standard_B1ms", "tier": "Burstable"}),
                ),
                "/properties/highAvailability/mode",
                json!("ZoneRedundant"),
            ),
            "InvalidParameterValue",
        ),
        (
            "no location",
            base.clone().tap_remove("", "location"),
            "LocationRequired",
        ),
        (
            "other region",
            with(base.clone(), "/location", json!("eastus")),
            "LocationNotAvailableForResourceType",
        ),
        (
            "no sku",
            base.clone().tap_remove("", "sku"),
            "InvalidRequestContent",
        ),
        (
            "maintenance on create",
            base.clone()
                .tap_insert("/properties", "maintenanceWindow", json!({"dayOfWeek": 1})),
            "InvalidRequestContent",
        ),
    ];
    for (i, (what, body, code)) in cases.iter().enumerate() {
        let answer = c
            .call(
                Method::PUT,
                &server_path(&format!("pg-bad-{i}")),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (answer.status.as_u16() / 100, answer.code()),
            (4, *code),
            "{what}: {:?}",
            answer.body
        );
        assert_eq!(arm.violations().len(), i + 1, "{what} is recorded");
        assert!(
            arm.server(&format!("pg-bad-{i}")).is_none(),
            "{what} created nothing"
        );
    }
    let named = c
        .call(Method::PUT, &server_path("Bad_Name"), Some(base.clone()))
        .await;
    assert_eq!(named.code(), "InvalidResourceName");
    let text = c
        .http
        .put(format!(
            "{}{}?api-version=2024-08-01",
            c.base,
            server_path("pg-text")
        ))
        .bearer_auth(&c.token)
        .header("content-type", "text/plain")
        .body(base.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(arm.violations().len(), cases.len() + 2);
}

#[tokio::test]
async fn update_rules_and_child_bodies() {
    let (arm, c) = setup().await;
    c.create_server("pg-rules").await;
    let path = server_path("pg-rules");
    let shrink = c
        .call(
            Method::PATCH,
            &path,
            Some(json!({"properties": {"storage": {"storageSizeGB": 64}}})),
        )
        .await;
    assert_eq!(shrink.code(), "InvalidParameterValue");
    let location = c
        .call(
            Method::PATCH,
            &path,
            Some(json!({"location": "westeurope"})),
        )
        .await;
    assert_eq!(
        location.code(),
        "InvalidRequestContent",
        "ServerForUpdate has no location"
    );
    let geo = c
        .call(
            Method::PATCH,
            &path,
            Some(json!({"properties": {"backup": {"geoRedundantBackup": "Enabled"}}})),
        )
        .await;
    assert_eq!(geo.code(), "InvalidParameterValue");
    let moved = c
        .call(
            Method::PUT,
            &path,
            Some(with(create_body(), "/location", json!("northeurope"))),
        )
        .await;
    assert_eq!(moved.code(), "InvalidResourceLocation");
    let rules = [
        json!({"properties": {"startIpAddress": "10.0.0.9", "endIpAddress": "10.0.0.1"}}),
        json!({"properties": {"startIpAddress": "10.0.0.300", "endIpAddress": "10.0.0.1"}}),
        json!({"properties": {"startIpAddress": "::1", "endIpAddress": "::1"}}),
        json!({"properties": {"startIpAddress": "10.0.0.1"}}),
    ];
    for rule in rules {
        let answer = c
            .call(
                Method::PUT,
                &format!("{path}/firewallRules/r"),
                Some(rule.clone()),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{rule}");
    }
    let sub = c
        .call(
            Method::GET,
            &path.replace(super::SUBSCRIPTION, "11111111-0000-0000-0000-000000000000"),
            None,
        )
        .await;
    assert_eq!(sub.code(), "SubscriptionNotFound");
    let rg = c
        .call(
            Method::GET,
            &path.replace(super::RESOURCE_GROUP, "other-rg"),
            None,
        )
        .await;
    assert_eq!(rg.code(), "ResourceGroupNotFound");
    assert_eq!(arm.violations().len(), 8, "{:#?}", arm.violations());
    assert!(arm.firewall_rules("pg-rules").is_empty());
}

trait Tap {
    fn tap_insert(self, pointer: &str, key: &str, value: Value) -> Value;
    fn tap_remove(self, pointer: &str, key: &str) -> Value;
}

impl Tap for Value {
    fn tap_insert(mut self, pointer: &str, key: &str, value: Value) -> Value {
        self.pointer_mut(pointer)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert(key.to_owned(), value);
        self
    }

    fn tap_remove(mut self, pointer: &str, key: &str) -> Value {
        self.pointer_mut(pointer)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(key);
        self
    }
}

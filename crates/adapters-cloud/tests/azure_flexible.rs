//! The `azure-flexible` backend's steps against the ARM stand-in (crates/testkit/src/arm), with
//! the SQL side on the local PostgreSQL (see azure_fixture). Every test also holds the recorded
//! requests to ARM's rules (the stand-in's violations) and to the api-versions named in one place.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod azure_fixture;
mod common;

use azure_fixture::{AzureFixture, instance_req, plan};
use pgbroker_adapters_cloud::azure::{FLEXIBLE_API_VERSION, LOCK_NAME, LOCKS_API_VERSION};
use pgbroker_domain::ports::{Backend, InstanceRequest, Step};
use pgbroker_domain::{DeletionPolicy, Reason};
use pgbroker_testkit::arm::Fault;
use serde_json::json;

fn update_req(
    req: &InstanceRequest,
    plan_settings: serde_json::Value,
    parameters: serde_json::Value,
) -> InstanceRequest {
    let mut next = instance_req(&req.instance_id, plan_settings, parameters);
    next.previous = Some(req.spec.clone());
    next
}

fn bind_req(req: &InstanceRequest, binding: &str) -> pgbroker_domain::ports::BindRequest {
    let mut b = common::bind_req(&req.instance_id, binding, json!({}));
    b.plan = req.plan.clone();
    b.instance = req.spec.clone();
    b
}

/// Every request named the api-version of its API.
fn assert_api_versions(f: &AzureFixture) {
    for r in f.arm.requests() {
        if r.path.contains("/oauth2/") {
            continue;
        }
        let want = if r.path.contains("Microsoft.Authorization/locks") {
            LOCKS_API_VERSION
        } else {
            FLEXIBLE_API_VERSION
        };
        assert_eq!(
            r.api_version.as_deref(),
            Some(want),
            "{} {}",
            r.method,
            r.path
        );
        assert_eq!(
            r.headers.get("authorization").map(String::as_str),
            Some("Bearer [redacted]"),
            "{} {}",
            r.method,
            r.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_bind_change_unbind_delete_following_arm_operations() {
    let f = AzureFixture::new().await;
    let id = f.instance_id();
    let req = instance_req(
        &id,
        json!({"class": "small", "storage_gb": 40}),
        json!({"configurations": {"work_mem": "8192"}, "extensions": ["pg_trgm"]}),
    );
    let first = f.backend.provision(&req).await;
    match &first {
        Step::InProgress { description, .. } => {
            assert!(description.contains("creating it"), "{description}")
        }
        other => panic!("first provision step: {other:?}"),
    }
    let seen = f.provision(&req).await;
    assert!(
        seen.iter()
            .any(|d| d.contains("creating it (ARM status InProgress)")),
        "the operation description carries ARM's status: {seen:?}"
    );
    let name = f.server_name(&id);
    let server = f.arm.server(&name).unwrap();
    assert_eq!(
        server["sku"],
        json!({"name": "Standard_B1ms", "tier": "Burstable"})
    );
    assert_eq!(
        server["properties"]["storage"]["storageSizeGB"], 64,
        "40 GiB rounds up to a size Azure offers"
    );
    assert_eq!(server["properties"]["administratorLogin"], f.admin);
    assert_eq!(server["tags"]["pgbroker:instance-id"], id.as_str());
    assert!(
        server["properties"]
            .get("administratorLoginPassword")
            .is_none()
    );
    // The password Azure was given is the vault's, and only the vault's.
    let password = f.vault_password(&id, "admin-password").await.unwrap();
    assert_eq!(
        f.arm.admin_password(&name).as_deref(),
        Some(password.as_str())
    );
    for r in f.arm.requests() {
        let body = r.body.map(|b| b.to_string()).unwrap_or_default();
        assert!(
            !body.contains(&password),
            "recorded request body holds the password"
        );
    }
    let rules = f.arm.firewall_rules(&name);
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0]["properties"]["startIpAddress"], "203.0.113.0");
    let config = f.arm.configurations(&name);
    assert_eq!(config.get("work_mem").map(String::as_str), Some("8192"));
    assert_eq!(
        config.get("azure.extensions").map(String::as_str),
        Some("PG_TRGM")
    );

    let bind = bind_req(&req, "b1");
    let (creds, _) = f.settle("bind", async || f.backend.bind(&bind).await).await;
    assert!(common::field(&creds, "uri").contains("sslmode=require"));
    assert_eq!(
        common::field(&creds, "host"),
        format!("{name}.postgres.database.azure.com")
    );
    let uri = common::field(&creds, "uri")
        .replace(&format!("{name}.postgres.database.azure.com"), "127.0.0.1")
        .replace("sslmode=require", "sslmode=disable");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&uri)
        .await
        .unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
    drop(conn);

    // A plan change: another class, more storage, high availability: one PATCH.
    let next = update_req(
        &req,
        json!({"class": "medium", "storage_gb": 128, "high_availability": true}),
        json!({}),
    );
    let (_, seen) = f
        .settle("update", async || f.backend.update(&next).await)
        .await;
    assert!(
        seen.iter().any(|d| d.contains("changing class medium")),
        "{seen:?}"
    );
    let server = f.arm.server(&name).unwrap();
    assert_eq!(server["sku"]["tier"], "GeneralPurpose");
    assert_eq!(server["properties"]["storage"]["storageSizeGB"], 128);
    assert_eq!(
        server["properties"]["highAvailability"]["mode"],
        "ZoneRedundant"
    );
    let patches = f
        .arm
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(patches, 1);
    // Shrinking is refused by name, before any call.
    let shrink = update_req(
        &next,
        json!({"class": "medium", "storage_gb": 32}),
        json!({}),
    );
    let failed = f
        .failure("shrink", async || f.backend.update(&shrink).await)
        .await;
    assert_eq!(failed.reason, Reason::Unsupported);
    assert!(
        failed.description.contains("cannot shrink"),
        "{}",
        failed.description
    );

    f.settle("unbind", async || {
        f.backend.unbind(&common::unbind_req(&bind)).await
    })
    .await;
    let (_, seen) = f
        .settle("deprovision", async || f.backend.deprovision(&req).await)
        .await;
    assert!(seen.iter().any(|d| d.contains("deleting it")), "{seen:?}");
    assert!(f.arm.server(&name).is_none());
    assert_eq!(
        f.vault_password(&id, "admin-password").await,
        None,
        "the vault forgets a deleted server"
    );
    f.assert_no_violations();
    assert_api_versions(&f);
    f.assert_calls_within_role();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_deletion_tags_the_server_and_keeps_its_password() {
    let f = AzureFixture::with(json!({"server_delete_fake": true})).await;
    let id = f.instance_id();
    let req = instance_req(&id, json!({}), json!({}));
    f.provision(&req).await;
    f.settle("deprovision", async || f.backend.deprovision(&req).await)
        .await;
    let name = f.server_name(&id);
    let server = f.arm.server(&name).expect("the server stays");
    assert_eq!(
        server["tags"]["pgbroker:deleted"],
        req.operation_id.to_string()
    );
    assert!(f.vault_password(&id, "admin-password").await.is_some());
    assert!(f.arm.requests().iter().all(|r| r.method != "DELETE"));
    f.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_lock_stops_deprovision_until_a_person_removes_it() {
    let f = AzureFixture::with(json!({"lock_from_deletion": true})).await;
    let id = f.instance_id();
    let req = instance_req(
        &id,
        json!({}),
        json!({"configurations": {"work_mem": "4096"}, "extensions": ["pg_trgm"]}),
    );
    assert!(f.backend.check().await.is_ok());
    f.provision(&req).await;
    let name = f.server_name(&id);
    let locks = f.arm.locks(&name);
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0]["name"], LOCK_NAME);
    assert_eq!(locks[0]["properties"]["level"], "CanNotDelete");
    let failed = f
        .failure("deprovision", async || f.backend.deprovision(&req).await)
        .await;
    assert_eq!(failed.reason, Reason::InvalidState);
    assert!(!failed.retryable);
    assert!(
        failed.description.contains(LOCK_NAME)
            && failed.description.contains("does not remove locks"),
        "{}",
        failed.description
    );
    assert!(f.arm.server(&name).is_some());
    f.arm.remove_lock(&name, LOCK_NAME);
    f.settle("deprovision", async || f.backend.deprovision(&req).await)
        .await;
    assert!(f.arm.server(&name).is_none());
    f.assert_no_violations();
    assert_api_versions(&f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_busy_servers_are_retried_quota_and_failed_operations_are_not() {
    let f = AzureFixture::new().await;
    let id = f.instance_id();
    let req = instance_req(&id, json!({}), json!({}));
    f.arm
        .inject("PUT", "/flexibleServers/", 1, Fault::throttled(7));
    match f.backend.provision(&req).await {
        Step::InProgress {
            description,
            retry_after,
        } => {
            assert!(description.contains("429"), "{description}");
            // Retry-After: 7 s, capped by max_retry_after_ms (100 ms) in the tests' settings.
            assert_eq!(retry_after, std::time::Duration::from_millis(100));
        }
        other => panic!("a throttled create waits: {other:?}"),
    }
    f.arm
        .inject("GET", "/flexibleServers/", 1, Fault::server_busy());
    match f.backend.provision(&req).await {
        Step::Failed(fail) => assert!(
            fail.retryable && fail.description.contains("ServerBusy"),
            "{fail:?}"
        ),
        other => panic!("a busy server is retried: {other:?}"),
    }
    f.provision(&req).await;

    let other = f.instance_id();
    let other_req = instance_req(&other, json!({}), json!({}));
    f.arm.inject("PUT", "/flexibleServers/", 1, Fault::quota());
    let failed = f
        .failure("quota", async || f.backend.provision(&other_req).await)
        .await;
    assert!(!failed.retryable);
    assert_eq!(
        failed.reason,
        Reason::QuotaExceeded,
        "{}",
        failed.description
    );

    let fourth = f.instance_id();
    let fourth_req = instance_req(&fourth, json!({}), json!({}));
    f.arm
        .inject("PUT", "/flexibleServers/", 1, Fault::sku_not_available());
    let failed = f
        .failure("sku", async || f.backend.provision(&fourth_req).await)
        .await;
    assert!(!failed.retryable);
    assert_eq!(failed.reason, Reason::InvalidSpec, "{}", failed.description);
    assert!(
        failed.description.contains("SkuNotAvailable"),
        "ARM's code: {}",
        failed.description
    );

    let third = f.instance_id();
    let third_req = instance_req(&third, json!({}), json!({}));
    f.arm.fail_next_operation(
        &f.server_name(&third),
        "InternalServerError",
        "The server could not be provisioned in zone 1",
    );
    let failed = f
        .failure("failed operation", async || {
            f.backend.provision(&third_req).await
        })
        .await;
    assert!(
        failed
            .description
            .contains("The server could not be provisioned in zone 1"),
        "{}",
        failed.description
    );
    assert!(
        failed.description.contains("Failed"),
        "{}",
        failed.description
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reset_rotates_the_admin_password_once() {
    let f = AzureFixture::new().await;
    let id = f.instance_id();
    let req = instance_req(&id, json!({}), json!({}));
    f.provision(&req).await;
    let name = f.server_name(&id);
    let bind = bind_req(&req, "b1");
    f.settle("bind", async || f.backend.bind(&bind).await).await;
    let before = f.vault_password(&id, "admin-password").await.unwrap();

    let mut reset = bind.clone();
    reset.operation_id = pgbroker_domain::OperationId::new();
    reset.password = pgbroker_domain::Sensitive::new("pwNewOne12345678901234567890".into());
    reset.reset = true;
    let (creds, seen) = f
        .settle("reset", async || f.backend.bind(&reset).await)
        .await;
    assert!(
        seen.iter()
            .any(|d| d.contains("rotating the admin password")),
        "{seen:?}"
    );
    let after = f.vault_password(&id, "admin-password").await.unwrap();
    assert_ne!(before, after);
    assert_eq!(f.arm.admin_password(&name).as_deref(), Some(after.as_str()));
    assert_eq!(f.vault_password(&id, "admin-password-next").await, None);
    assert_eq!(
        common::field(&creds, "password"),
        "pwNewOne12345678901234567890"
    );
    // The same reset's retry does not rotate again.
    let patches = || {
        f.arm
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH")
            .count()
    };
    let n = patches();
    f.settle("reset again", async || f.backend.bind(&reset).await)
        .await;
    assert_eq!(patches(), n);
    f.settle("deprovision", async || f.backend.deprovision(&req).await)
        .await;
    f.assert_no_violations();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_tag_names_another_instance_is_not_touched_and_retain_keeps_it() {
    let f = AzureFixture::new().await;
    let id = f.instance_id();
    let req = instance_req(&id, json!({}), json!({}));
    f.provision(&req).await;
    let name = f.server_name(&id);

    let mut retained = req.clone();
    retained.deletion_policy = DeletionPolicy::Retain;
    f.settle("retain", async || f.backend.deprovision(&retained).await)
        .await;
    assert_eq!(
        f.arm.server(&name).unwrap()["tags"]["pgbroker:deleted"],
        retained.operation_id.to_string()
    );

    // A person re-tags the server for someone else: the backend refuses to touch it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(f.arm.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", pgbroker_testkit::arm::CLIENT_ID),
            ("client_secret", pgbroker_testkit::arm::CLIENT_SECRET),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{name}",
        f.arm.endpoint(),
        pgbroker_testkit::arm::SUBSCRIPTION,
        pgbroker_testkit::arm::RESOURCE_GROUP
    );
    let answer = http
        .patch(&path)
        .query(&[("api-version", FLEXIBLE_API_VERSION)])
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&json!({"tags": {"pgbroker:instance-id": "someone-else"}}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    // Follow that PATCH to its end, as a client of ARM does.
    let status_url = answer.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    for _ in 0..20 {
        let status: serde_json::Value = http
            .get(&status_url)
            .bearer_auth(token["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] == "Succeeded" {
            break;
        }
    }
    let failed = f
        .failure("deprovision", async || f.backend.deprovision(&req).await)
        .await;
    assert_eq!(
        failed.reason,
        Reason::ForeignObject,
        "{}",
        failed.description
    );
    assert!(f.arm.server(&name).is_some());
    let _ = plan(json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_named_only_by_location_are_followed_there_and_a_binding_gets_its_own_database()
{
    let f = AzureFixture::new().await;
    f.arm.set_async_operation_header(false);
    let id = f.instance_id();
    let req = instance_req(&id, json!({}), json!({}));
    let seen = f.provision(&req).await;
    assert!(
        seen.iter().any(|d| d.contains("(ARM status InProgress)")),
        "{seen:?}"
    );
    let polled: Vec<_> = f
        .arm
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/operationResults/"))
        .collect();
    assert!(!polled.is_empty(), "the Location URL was followed");
    assert!(
        f.arm
            .requests()
            .iter()
            .all(|r| !r.path.contains("/azureAsyncOperation/"))
    );

    let mut bind = bind_req(&req, "b1");
    bind.binding.parameters = json!({"database": "reports"}).as_object().cloned().unwrap();
    let (creds, _) = f.settle("bind", async || f.backend.bind(&bind).await).await;
    let database = common::field(&creds, "database");
    assert!(database.contains("reports"), "{database}");
    let mut local = common::admin().await;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&database)
            .fetch_one(&mut local)
            .await
            .unwrap();
    assert!(exists, "the binding's own database is made on the server");
    f.settle("unbind", async || {
        f.backend.unbind(&common::unbind_req(&bind)).await
    })
    .await;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&database)
            .fetch_one(&mut local)
            .await
            .unwrap();
    assert!(!exists, "and dropped with the binding");
    f.settle("deprovision", async || f.backend.deprovision(&req).await)
        .await;
    f.assert_no_violations();
    f.assert_calls_within_role();
}

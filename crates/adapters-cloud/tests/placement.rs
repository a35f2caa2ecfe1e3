//! Placement on servers by plan and capacity, and the readiness check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pgbroker_domain::Reason;
use pgbroker_domain::ports::{Backend, Step};
use serde_json::json;

fn two_servers(tag: &str) -> serde_json::Value {
    // Both entries are the local server: enough to see placement by plan and capacity.
    json!({
        "servers": [
            {"name": "tiny", "admin_url": admin_url(), "max_databases": 1, "plans": ["shared-small"]},
            {"name": "big", "admin_url": admin_url(), "plans": ["other-plan-id"]},
        ],
        "names": {
            "database": format!("{tag}_{{instance}}"),
            "owner_role": format!("{tag}_{{instance}}_owner"),
            "binding_role": format!("{tag}_{{instance}}_{{binding}}"),
        },
    })
}

#[tokio::test]
async fn a_full_server_and_a_plan_no_server_takes_are_refused() {
    let tag = format!("pgbt{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let fx = Fixture::from_settings(tag.clone(), two_servers(&tag));
    // An instance of another plan goes to "big"; the server now holds at least one instance.
    let mut other = instance_req(&fx.instance_id(), json!({}));
    other.plan.id = pgbroker_domain::PlanId::parse("other-plan-id").unwrap();
    other.plan.name = "other".to_string();
    fx.provision(&other).await;
    // "tiny" takes shared-small but is full (max_databases 1).
    let req = instance_req(&fx.instance_id(), json!({}));
    let f = match fx.backend.provision(&req).await {
        Step::Failed(f) => f,
        s => panic!("{s:?}"),
    };
    assert!(!f.retryable && f.description.contains("full"), "{f:?}");
    assert_eq!(f.reason, Reason::QuotaExceeded, "{f:?}");
    // No server takes this plan at all.
    let mut nowhere = instance_req(&fx.instance_id(), json!({}));
    nowhere.plan.id = pgbroker_domain::PlanId::parse("nowhere").unwrap();
    nowhere.plan.name = "nowhere".to_string();
    let f = match fx.backend.provision(&nowhere).await {
        Step::Failed(f) => f,
        s => panic!("{s:?}"),
    };
    assert!(f.description.contains("no server"), "{f:?}");
    let (dbs, _) = fx.leftovers().await;
    assert_eq!(dbs.len(), 1, "{dbs:?}");
}

#[tokio::test]
async fn check_reports_reachability_without_secrets() {
    let fx = Fixture::new();
    fx.backend.check().await.unwrap();

    let none = Fixture::from_settings("pgbtunused".into(), json!({}));
    let err = none.backend.check().await.unwrap_err();
    assert!(err.message.contains("no servers configured"), "{err}");
    assert_eq!(err.reason, Reason::BackendUnavailable);

    let file = std::env::temp_dir().join(format!("pgbt-pw-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, "s3cr3t-hunter2\n").unwrap();
    let down = Fixture::from_settings(
        "pgbtunused".into(),
        json!({"servers": [{"name": "down", "admin_url": "postgres://admin@127.0.0.1:1/postgres",
                            "password_file": file, "connect_timeout_seconds": 1}]}),
    );
    let err = down.backend.check().await.unwrap_err();
    std::fs::remove_file(&file).unwrap();
    assert!(err.message.starts_with("server down: "), "{err}");
    assert!(!err.message.contains("hunter2"), "{err}");
    assert_eq!(err.reason, Reason::BackendUnavailable);
    assert!(!format!("{:?}", down.backend).contains("hunter2"));

    let missing = Fixture::from_settings(
        "pgbtunused".into(),
        json!({"servers": [{"name": "m", "admin_url": admin_url(), "password_env": "PGBROKER_TEST_NOT_SET_ANYWHERE"}]}),
    );
    let err = missing.backend.check().await.unwrap_err();
    assert!(
        err.message.contains("PGBROKER_TEST_NOT_SET_ANYWHERE"),
        "{err}"
    );
    let f = match missing
        .backend
        .provision(&instance_req(&missing.instance_id(), json!({})))
        .await
    {
        Step::Failed(f) => f,
        s => panic!("{s:?}"),
    };
    assert!(
        f.retryable && f.description.contains("PGBROKER_TEST_NOT_SET_ANYWHERE"),
        "{f:?}"
    );
}

#[tokio::test]
async fn the_password_comes_from_a_file() {
    let dir = std::env::temp_dir().join(format!("pgbt-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("password");
    std::fs::write(&file, "whatever\n").unwrap();
    let fx = Fixture::from_settings(
        "pgbtunused".into(),
        json!({"servers": [{"name": "f", "admin_url": admin_url(), "password_file": file}]}),
    );
    // Trust authentication ignores the password; what matters is that reading it works.
    fx.backend.check().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let gone = fx.backend.check().await;
    // The pool already exists, so the removed file no longer matters.
    assert!(gone.is_ok(), "{gone:?}");
}

#[tokio::test]
async fn a_server_that_is_down_does_not_block_instances_on_the_others() {
    let fx = Fixture::new();
    let id = fx.instance_id();
    fx.provision(&instance_req(&id, json!({}))).await;
    // The same names, with a server that cannot be reached listed first.
    let tag = fx.tag.clone();
    let with_down = Fixture::from_settings(
        format!("{tag}-unused"),
        json!({
            "servers": [
                {"name": "down", "admin_url": "postgres://admin@127.0.0.1:1/postgres", "connect_timeout_seconds": 1},
                {"name": "local", "admin_url": admin_url()},
            ],
            "names": {
                "database": format!("{tag}_{{instance}}"),
                "owner_role": format!("{tag}_{{instance}}_owner"),
                "binding_role": format!("{tag}_{{instance}}_{{binding}}"),
            },
        }),
    );
    let creds = with_down.bind(&bind_req(&id, "b1", json!({}))).await;
    connect(&creds).await.unwrap();
    // A new instance could be half-made on the unreachable server: provisioning waits for it.
    let f = match with_down
        .backend
        .provision(&instance_req(&fx.instance_id(), json!({})))
        .await
    {
        Step::Failed(f) => f,
        s => panic!("{s:?}"),
    };
    assert!(
        f.retryable && f.description.contains("server down"),
        "{f:?}"
    );
    assert_eq!(f.reason, Reason::BackendUnavailable, "{f:?}");
}

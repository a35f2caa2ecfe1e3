//! Hostile input to the shared-server backend: ids, parameters and configured name patterns
//! with quotes, semicolons, 200-byte names and unicode are refused or quoted safely.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pgbroker_domain::ports::{Backend, Step, StepFailure};
use pgbroker_domain::{InstanceId, Reason};
use serde_json::{Value, json};
use sqlx::Executor;

fn failure<T: std::fmt::Debug>(step: Step<T>) -> StepFailure {
    match step {
        Step::Failed(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn hostile_parameters_are_refused_before_anything_is_made() {
    let fx = Fixture::new();
    let long = "x".repeat(200);
    for (params, needle, reason) in [
        (
            json!({"extensions": ["pg_trgm\"; DROP ROLE postgres; --"]}),
            "not allowed",
            Reason::Unsupported,
        ),
        (
            json!({"extensions": ["plpython3u"]}),
            "not allowed",
            Reason::Unsupported,
        ),
        (
            json!({"extensions": [long.clone()]}),
            "not allowed",
            Reason::Unsupported,
        ),
        (
            json!({"extensions": "pg_trgm"}),
            "parameters",
            Reason::InvalidSpec,
        ),
        (
            json!({"extensions": ["pg_trgm"], "superuser": true}),
            "superuser",
            Reason::InvalidSpec,
        ),
    ] {
        let id = fx.instance_id();
        let f = failure(
            fx.backend
                .provision(&instance_req(&id, params.clone()))
                .await,
        );
        assert!(!f.retryable, "{params}: {f:?}");
        assert!(f.description.contains(needle), "{params}: {f:?}");
        assert_eq!(f.reason, reason, "{params}: {f:?}");
        assert!(f.description.len() < 400, "{f:?}");
    }
    assert_eq!(fx.leftovers().await, (vec![], vec![]));

    let id = fx.instance_id();
    fx.provision(&instance_req(&id, json!({}))).await;
    for database in [
        "a'b",
        "x\"; DROP DATABASE postgres; --",
        "ünïcode",
        long.as_str(),
        "Upper",
        "",
    ] {
        let f = failure(
            fx.backend
                .bind(&bind_req(&id, "b1", json!({"database": database})))
                .await,
        );
        assert!(
            !f.retryable && f.description.contains("parameter database"),
            "{f:?}"
        );
        assert_eq!(f.reason, Reason::InvalidSpec, "{f:?}");
    }
    let f = failure(
        fx.backend
            .bind(&bind_req(&id, "b1", json!({"role": "postgres"})))
            .await,
    );
    assert!(f.description.contains("role"), "{f:?}");
    let (dbs, roles) = fx.leftovers().await;
    assert_eq!((dbs.len(), roles.len()), (1, 1), "{dbs:?} {roles:?}");
}

#[tokio::test]
async fn wrong_plan_settings_fail_permanently_and_say_why() {
    let fx = Fixture::new();
    for (settings, needle) in [
        (json!({"statement_timeout": "30 parsecs"}), "30 parsecs"),
        (json!({"connection_limit": "many"}), "connection_limit"),
        (json!({"cpu": 2}), "cpu"),
    ] {
        let mut req = instance_req(&fx.instance_id(), json!({}));
        req.plan = plan(settings);
        let f = failure(fx.backend.provision(&req).await);
        assert!(!f.retryable && f.description.contains(needle), "{f:?}");
        assert_eq!(f.reason, Reason::InvalidSpec, "{f:?}");
        assert!(
            f.description.contains("plan shared-small settings"),
            "{f:?}"
        );
    }
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
}

/// Name patterns come from the operator's configuration; whatever they hold is quoted.
#[tokio::test]
async fn hostile_name_patterns_and_long_ids_are_quoted_and_shortened() {
    let tag = format!("pgbt{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let settings: Value = json!({
        "servers": [{"name": "local", "admin_url": admin_url()}],
        "names": {
            "database": format!("{tag}'\"; DROP DATABASE postgres; -- ü {{instance}}"),
            "owner_role": format!("{tag} own\"er {{instance}}"),
            "binding_role": format!("{tag}\\'{{instance}}; {{binding}}"),
        },
    });
    let fx = Fixture::from_settings(tag.clone(), settings);
    // The longest id the domain accepts (128 characters) makes names far over 63 bytes.
    let id = InstanceId::parse("Z.-_9".repeat(25) + "end").unwrap();
    let prov = instance_req(&id, json!({"extensions": ["uuid-ossp"]}));
    fx.provision(&prov).await;
    let creds = fx
        .bind(&bind_req(
            &id,
            &"b".repeat(128),
            json!({"database": "side"}),
        ))
        .await;
    let mut conn = connect(&creds).await.unwrap();
    conn.execute("CREATE TABLE t (v int); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let db = field(&creds, "database");
    assert!(
        db.starts_with(&format!("{tag}'\"; DROP DATABASE postgres; -- ü ")),
        "{db}"
    );
    assert!(db.len() <= 63);
    let (dbs, roles) = fx.leftovers().await;
    assert_eq!((dbs.len(), roles.len()), (2, 2), "{dbs:?} {roles:?}");
    assert!(dbs.iter().chain(&roles).all(|n| n.len() <= 63));

    let mut admin = admin().await;
    let postgres: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = 'postgres'")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert_eq!(postgres, 1);
    drop(conn);
    fx.deprovision(&prov).await;
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
}

#[tokio::test]
async fn a_role_of_the_same_name_that_is_not_ours_is_left_alone() {
    let fx = Fixture::new();
    let id = fx.instance_id();
    let owner = format!("{}_{id}_owner", fx.tag);
    let mut admin = admin().await;
    admin
        .execute(format!("CREATE ROLE {} NOLOGIN", quote(&owner)).as_str())
        .await
        .unwrap();
    let prov = instance_req(&id, json!({}));
    let f = failure(fx.backend.provision(&prov).await);
    assert!(!f.retryable && f.description.contains("refusing"), "{f:?}");
    assert_eq!(f.reason, Reason::ForeignObject, "{f:?}");
    let f = failure(fx.backend.deprovision(&prov).await);
    assert!(f.description.contains("refusing"), "{f:?}");
    assert_eq!(f.reason, Reason::ForeignObject, "{f:?}");
    let (_, roles) = fx.leftovers().await;
    assert_eq!(roles, vec![owner]);
}

#[tokio::test]
async fn a_database_of_the_same_name_that_is_not_ours_is_left_alone() {
    let fx = Fixture::new();
    let id = fx.instance_id();
    let database = format!("{}_{id}", fx.tag);
    let mut admin = admin().await;
    admin
        .execute(format!("CREATE DATABASE {}", quote(&database)).as_str())
        .await
        .unwrap();
    let prov = instance_req(&id, json!({}));
    let f = failure(fx.backend.provision(&prov).await);
    assert!(!f.retryable && f.description.contains("refusing"), "{f:?}");
    assert!(f.description.contains("\"postgres\""), "{f:?}");
    assert_eq!(f.reason, Reason::ForeignObject, "{f:?}");
    // Still the administrator's, untouched by the plan's settings.
    let (owner, limit): (String, i32) = sqlx::query_as(
        "SELECT pg_get_userbyid(datdba)::text, datconnlimit FROM pg_database WHERE datname = $1",
    )
    .bind(&database)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!((owner.as_str(), limit), ("postgres", -1));
}

#[tokio::test]
async fn a_binding_role_of_the_same_name_that_is_not_ours_is_left_alone() {
    let fx = Fixture::new();
    let id = fx.instance_id();
    let prov = instance_req(&id, json!({}));
    fx.provision(&prov).await;
    let bind = bind_req(&id, "b1", json!({}));
    let role = format!("{}_{id}_b1", fx.tag);
    let mut admin = admin().await;
    admin
        .execute(format!("CREATE ROLE {} LOGIN", quote(&role)).as_str())
        .await
        .unwrap();
    let f = failure(fx.backend.bind(&bind).await);
    assert!(!f.retryable && f.description.contains("refusing"), "{f:?}");
    assert_eq!(f.reason, Reason::ForeignObject, "{f:?}");
    let f = failure(fx.backend.unbind(&unbind_req(&bind)).await);
    assert!(!f.retryable && f.description.contains("refusing"), "{f:?}");
    assert_eq!(f.reason, Reason::ForeignObject, "{f:?}");
    // Still there, still able to log in: the unbind changed nothing before it refused.
    let login: bool = sqlx::query_scalar("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1")
        .bind(&role)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(login);
    admin
        .execute(format!("DROP ROLE {}", quote(&role)).as_str())
        .await
        .unwrap();
    // Unbinding what was never bound, twice, is nothing to do.
    fx.unbind(&unbind_req(&bind)).await;
    fx.unbind(&unbind_req(&bind)).await;
    fx.deprovision(&prov).await;
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
}

#[tokio::test]
async fn an_unbind_under_an_owner_role_that_is_not_ours_is_refused() {
    let fx = Fixture::new();
    let id = fx.instance_id();
    let owner = format!("{}_{id}_owner", fx.tag);
    let role = format!("{}_{id}_b1", fx.tag);
    let mut admin = admin().await;
    for sql in [
        format!("CREATE ROLE {} NOLOGIN", quote(&owner)),
        format!(
            "CREATE ROLE {} LOGIN IN ROLE {}",
            quote(&role),
            quote(&owner)
        ),
        format!(
            "COMMENT ON ROLE {} IS 'pgbroker binding {id}/b1'",
            quote(&role)
        ),
    ] {
        admin.execute(sql.as_str()).await.unwrap();
    }
    let bind = bind_req(&id, "b1", json!({}));
    let f = failure(fx.backend.unbind(&unbind_req(&bind)).await);
    assert!(!f.retryable && f.description.contains("refusing"), "{f:?}");
    assert!(f.description.contains("owner role"), "{f:?}");
    assert_eq!(f.reason, Reason::ForeignObject, "{f:?}");
    let (_, mut roles) = fx.leftovers().await;
    roles.sort();
    let mut expected = vec![owner, role];
    expected.sort();
    assert_eq!(roles, expected);
}

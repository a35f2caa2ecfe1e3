//! Deprovisioning on the shared-server backend: nothing is left behind, or, in retain mode (the
//! backend's configuration or the request's deletion policy), the data stays under a new name
//! that no binding can reach.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pgbroker_domain::DeletionPolicy;
use serde_json::json;
use sqlx::{Connection, Executor};

#[tokio::test]
async fn deprovision_leaves_no_database_or_role_behind() {
    let fx = Fixture::new();
    let id = fx.instance_id();
    let prov = instance_req(&id, json!({"extensions": ["hstore"]}));
    fx.provision(&prov).await;
    let main = fx.bind(&bind_req(&id, "b1", json!({}))).await;
    let extra = fx
        .bind(&bind_req(&id, "b2", json!({"database": "side"})))
        .await;
    let mut open = connect(&main).await.unwrap();
    open.execute("CREATE TABLE t (v int)").await.unwrap();
    let mut open_extra = connect(&extra).await.unwrap();
    open_extra
        .execute("RESET ROLE; CREATE TABLE t (v int)")
        .await
        .unwrap();
    let (dbs, roles) = fx.leftovers().await;
    assert_eq!((dbs.len(), roles.len()), (2, 3), "{dbs:?} {roles:?}");

    fx.deprovision(&prov).await;
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
    assert!(sqlx::query("SELECT 1").execute(&mut open).await.is_err());
    assert!(connect(&main).await.is_err());
}

#[tokio::test]
async fn retain_mode_keeps_the_data_under_the_renamed_database() {
    let fx = Fixture::with(json!({"deprovision": "retain"}));
    keeps_the_data(fx, DeletionPolicy::Delete).await;
}

#[tokio::test]
async fn a_retain_request_keeps_the_data_on_a_dropping_backend() {
    keeps_the_data(Fixture::new(), DeletionPolicy::Retain).await;
}

/// Deprovisioning with `policy` keeps the data (the backend drops unless it is told to keep).
async fn keeps_the_data(fx: Fixture, policy: DeletionPolicy) {
    let id = fx.instance_id();
    let mut prov = instance_req(&id, json!({}));
    fx.provision(&prov).await;
    prov.deletion_policy = policy;
    let creds = fx.bind(&bind_req(&id, "b1", json!({}))).await;
    let mut conn = connect(&creds).await.unwrap();
    conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('precious')")
        .await
        .unwrap();

    fx.deprovision(&prov).await;
    let op = prov.operation_id.as_uuid().simple().to_string();
    let retained = format!("{}_{id}_del_{}", fx.tag, &op[..8]);
    let (dbs, roles) = fx.leftovers().await;
    assert_eq!(dbs, vec![retained.clone()]);
    // Only the renamed owner group is left; it cannot log in, and the binding role is gone.
    assert_eq!(roles.len(), 1, "{roles:?}");
    assert!(
        roles[0].ends_with(&format!("_del_{}", &op[..8])),
        "{roles:?}"
    );
    assert!(connect(&creds).await.is_err());
    assert!(sqlx::query("SELECT 1").execute(&mut conn).await.is_err());

    let mut admin = admin_in(&retained).await;
    let v: String = sqlx::query_scalar("SELECT v FROM kept")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(v, "precious");
    admin.close().await.unwrap();

    // The instance id is free again: a new instance with it starts empty.
    let again = instance_req(&id, json!({}));
    fx.provision(&again).await;
    let creds = fx.bind(&bind_req(&id, "b1", json!({}))).await;
    let mut conn = connect(&creds).await.unwrap();
    assert!(conn.execute("SELECT * FROM kept").await.is_err());
    conn.close().await.unwrap();
}

#[tokio::test]
async fn steps_on_unknown_instances_are_harmless() {
    let fx = Fixture::new();
    let id = fx.instance_id();
    fx.deprovision(&instance_req(&id, json!({}))).await;
    fx.unbind(&unbind_req(&bind_req(&id, "b1", json!({}))))
        .await;
    let failure =
        match pgbroker_domain::ports::Backend::bind(&fx.backend, &bind_req(&id, "b1", json!({})))
            .await
        {
            pgbroker_domain::ports::Step::Failed(f) => f,
            other => panic!("{other:?}"),
        };
    assert!(!failure.retryable);
    assert!(failure.description.contains("no database"), "{failure:?}");
    assert_eq!(fx.leftovers().await, (vec![], vec![]));
}

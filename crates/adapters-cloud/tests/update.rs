//! Updating an instance applies the new plan's limits to all its databases (bindings' own
//! ones too) and adds extensions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pgbroker_domain::ports::{Backend, Step};
use serde_json::json;

#[tokio::test]
async fn update_applies_the_new_plan_and_adds_extensions() {
    let fx = Fixture::new();
    let id = fx.instance_id();
    fx.provision(&instance_req(&id, json!({}))).await;
    let side = fx
        .bind(&bind_req(&id, "b1", json!({"database": "side"})))
        .await;
    let creds = fx.bind(&bind_req(&id, "b2", json!({}))).await;

    let mut req = instance_req(&id, json!({"extensions": ["citext"]}));
    req.plan = plan(json!({"connection_limit": 100, "statement_timeout": "1min"}));
    match fx.backend.update(&req).await {
        Step::Done(()) => {}
        other => panic!("{other:?}"),
    }
    let mut admin = admin().await;
    let limits: Vec<(String, i32)> = sqlx::query_as(
        "SELECT datname::text, datconnlimit FROM pg_database WHERE datname LIKE $1 ORDER BY 1",
    )
    .bind(format!("{}%", fx.tag))
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(limits.len(), 2);
    assert!(limits.iter().all(|(_, l)| *l == 100), "{limits:?}");
    let mut conn = connect_to(&creds, &format!("{}_{id}", fx.tag))
        .await
        .unwrap();
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(timeout, "1min");
    // A binding's own database gets the new plan's settings too.
    let mut own = connect(&side).await.unwrap();
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&mut own)
        .await
        .unwrap();
    assert_eq!(timeout, "1min");
    let ext: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_extension WHERE extname = 'citext'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(ext, 1);

    // Updating an instance that does not exist fails permanently.
    let missing = instance_req(&fx.instance_id(), json!({}));
    match fx.backend.update(&missing).await {
        Step::Failed(f) => {
            assert!(!f.retryable && f.description.contains("not found"), "{f:?}");
            assert_eq!(f.reason, pgbroker_domain::Reason::NotFound, "{f:?}");
        }
        other => panic!("{other:?}"),
    }
}

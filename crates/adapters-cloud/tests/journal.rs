//! Recording the statements steps send (what the benchmark replays with psql).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn recorded_statements_are_the_writes_without_passwords() {
    let fx = Fixture::new();
    let id = fx.instance_id();
    fx.backend.record_statements(true);
    fx.provision(&instance_req(&id, json!({}))).await;
    let provision = fx.backend.take_statements();
    let bind = bind_req(&id, "b1", json!({}));
    fx.bind(&bind).await;
    let binding = fx.backend.take_statements();
    fx.backend.record_statements(false);
    fx.unbind(&unbind_req(&bind)).await;
    assert!(fx.backend.take_statements().is_empty());

    assert_eq!(provision.len(), 4, "{provision:?}");
    assert!(provision[0].sql.starts_with("DO "), "placement first");
    assert!(provision[1].sql.starts_with("CREATE DATABASE"));
    assert_eq!(
        provision[3].database.as_deref(),
        Some(format!("{}_{id}", fx.tag).as_str())
    );
    assert_eq!(binding.len(), 2, "{binding:?}");
    assert!(binding[0].sql.contains("SCRAM-SHA-256$4096:"));
    assert!(!binding[0].sql.contains(bind.password.expose().as_str()));
    assert!(!format!("{binding:?}").contains("SCRAM"));

    let bind = bind_req(&id, "b2", json!({}));
    fx.bind(&bind).await;
    fx.backend.record_statements(true);
    fx.unbind(&unbind_req(&bind)).await;
    let unbinding = fx.backend.take_statements();
    fx.backend.record_statements(false);
    // One server: the marks are checked by the block that cuts the role off, no look before.
    assert_eq!(unbinding.len(), 4, "{unbinding:?}");
    assert!(unbinding[0].sql.starts_with("DO ") && unbinding[0].sql.contains("NOLOGIN"));
    assert!(unbinding[1].sql.contains("pg_terminate_backend"));
    assert_eq!(
        unbinding[2].database.as_deref(),
        Some(format!("{}_{id}", fx.tag).as_str())
    );
    assert!(unbinding[3].sql.starts_with("DROP ROLE"));
}

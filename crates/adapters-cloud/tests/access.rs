//! Bindings of the shared-server backend against the local PostgreSQL: credentials work,
//! instances are isolated from each other, bindings of one instance share, unbind cuts off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;
use sqlx::{Connection, Executor};

#[tokio::test]
async fn credentials_connect_and_can_create_insert_and_read() {
    let fx = Fixture::new();
    let id = fx.instance_id();
    fx.provision(&instance_req(&id, json!({"extensions": ["pgcrypto"]})))
        .await;
    let creds = fx.bind(&bind_req(&id, "b1", json!({}))).await;

    for key in [
        "host", "port", "database", "username", "password", "uri", "jdbc_uri", "sslmode",
    ] {
        assert!(creds.expose().contains_key(key), "{key}");
    }
    assert_eq!(field(&creds, "database"), format!("{}_{id}", fx.tag));
    assert_eq!(field(&creds, "port"), "5432");
    assert_eq!(field(&creds, "sslmode"), "prefer");
    assert!(field(&creds, "password").len() >= 32);
    assert!(field(&creds, "jdbc_uri").starts_with("jdbc:postgresql://127.0.0.1:5432/"));

    let mut conn = connect(&creds).await.unwrap();
    conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text)")
        .await
        .unwrap();
    conn.execute("INSERT INTO notes (body) VALUES ('hello')")
        .await
        .unwrap();
    let body: String = sqlx::query_scalar("SELECT body FROM notes")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(body, "hello");
    // The plan's limits and the extension from the parameters.
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(timeout, "30s");
    let digest: String = sqlx::query_scalar("SELECT encode(digest('x', 'sha256'), 'hex')")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(digest.len(), 64);
    let limit: i32 = sqlx::query_scalar(
        "SELECT datconnlimit FROM pg_database WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(limit, 20);
    // Objects belong to the owner group, not the binding.
    let owner: String =
        sqlx::query_scalar("SELECT tableowner::text FROM pg_tables WHERE tablename = 'notes'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(owner, format!("{}_{id}_owner", fx.tag));
    conn.close().await.unwrap();
    // The server got a SCRAM verifier, not the password.
    let stored: String = sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
        .bind(field(&creds, "username"))
        .fetch_one(&mut admin().await)
        .await
        .unwrap();
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
}

#[tokio::test]
async fn instances_are_isolated_and_bindings_of_one_instance_share() {
    let fx = Fixture::new();
    let (a, b) = (fx.instance_id(), fx.instance_id());
    fx.provision(&instance_req(&a, json!({}))).await;
    fx.provision(&instance_req(&b, json!({}))).await;
    let a1 = fx.bind(&bind_req(&a, "a1", json!({}))).await;
    let a2 = fx.bind(&bind_req(&a, "a2", json!({}))).await;
    let b1 = fx.bind(&bind_req(&b, "b1", json!({}))).await;

    let mut c1 = connect(&a1).await.unwrap();
    c1.execute("CREATE TABLE shared_t (v int); INSERT INTO shared_t VALUES (7)")
        .await
        .unwrap();
    // Even after leaving the group role, what a binding creates is usable by the others.
    c1.execute("RESET ROLE; CREATE TABLE own_t (v int); INSERT INTO own_t VALUES (8)")
        .await
        .unwrap();

    let mut c2 = connect(&a2).await.unwrap();
    let v: i32 = sqlx::query_scalar("SELECT v FROM shared_t")
        .fetch_one(&mut c2)
        .await
        .unwrap();
    assert_eq!(v, 7);
    let v: i32 = sqlx::query_scalar("SELECT v FROM own_t")
        .fetch_one(&mut c2)
        .await
        .unwrap();
    assert_eq!(v, 8);
    c2.execute("INSERT INTO shared_t VALUES (9); ALTER TABLE shared_t ADD COLUMN w int")
        .await
        .unwrap();

    // b1 cannot reach A's database, a1 cannot reach B's.
    let db_a = field(&a1, "database");
    let db_b = field(&b1, "database");
    let err = connect_to(&b1, &db_a)
        .await
        .expect_err("b1 must not connect to A");
    assert!(err.to_string().contains("permission denied"), "{err}");
    let err = connect_to(&a1, &db_b)
        .await
        .expect_err("a1 must not connect to B");
    assert!(err.to_string().contains("permission denied"), "{err}");
    connect(&b1).await.unwrap().close().await.unwrap();
    c1.close().await.unwrap();
    c2.close().await.unwrap();
}

#[tokio::test]
async fn unbind_cuts_access_at_once_including_an_open_session() {
    let fx = Fixture::new();
    let id = fx.instance_id();
    fx.provision(&instance_req(&id, json!({}))).await;
    let r1 = bind_req(&id, "b1", json!({}));
    let b1 = fx.bind(&r1).await;
    let b2 = fx.bind(&bind_req(&id, "b2", json!({}))).await;

    let mut open = connect(&b1).await.unwrap();
    open.execute("RESET ROLE; CREATE TABLE mine (v int); INSERT INTO mine VALUES (1)")
        .await
        .unwrap();
    fx.unbind(&unbind_req(&r1)).await;

    assert!(
        sqlx::query("SELECT 1").execute(&mut open).await.is_err(),
        "open session must be ended"
    );
    assert!(connect(&b1).await.is_err(), "new logins must fail");
    // What b1 owned now belongs to the group: b2 still reads it.
    let mut c2 = connect(&b2).await.unwrap();
    let v: i32 = sqlx::query_scalar("SELECT v FROM mine")
        .fetch_one(&mut c2)
        .await
        .unwrap();
    assert_eq!(v, 1);
    let (_, roles) = fx.leftovers().await;
    assert!(!roles.iter().any(|r| r.ends_with("_b1")), "{roles:?}");
    c2.close().await.unwrap();
}

#[tokio::test]
async fn connections_into_instance_databases_do_not_outlive_a_short_idle() {
    let fx = Fixture::new();
    for binding in ["b1", "b2", "b3"] {
        let id = fx.instance_id();
        fx.provision(&instance_req(&id, json!({}))).await;
        fx.bind(&bind_req(&id, binding, json!({}))).await;
    }
    let open = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgbroker' AND datname LIKE $1",
        )
        .bind(format!("{}%", fx.tag))
        .fetch_one(&mut admin().await)
        .await
        .unwrap()
    };
    // One connection per instance database at most, while it is in use.
    assert!(open().await <= 3);
    // A burst of provisions must not hold a server connection per new database for long.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(open().await, 0);
}

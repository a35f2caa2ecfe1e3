//! The PostgreSQLDatabase controller: a database of its own on its server's instance with its
//! own Secret; a server is not deprovisioned while databases on it exist.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator;

use kube::ResourceExt;
use operator::{
    World, connect, database_with_reason, delete, eventually, server_with_reason, text,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_gets_its_own_database_and_holds_its_server() {
    let world = World::start().await;
    // The database first: it waits for its server.
    world
        .apply_database(
            "orders-db",
            json!({"serverRef": {"name": "main"}, "credentialsSecret": "orders-db-pg"}),
        )
        .await;
    database_with_reason(&world, "orders-db", "NotFound").await;
    world
        .apply_server(
            "main",
            json!({"size": {"class": "shared-small", "storageGB": 10}, "credentialsSecret": "main-pg"}),
        )
        .await;
    server_with_reason(&world, "main", "Ready").await;
    let db = database_with_reason(&world, "orders-db", "Ready").await;
    assert_eq!(
        db.status.as_ref().unwrap().backend.as_deref(),
        Some("shared")
    );
    let secret = world.secrets().get("orders-db-pg").await.unwrap();
    let server_secret = world.secrets().get("main-pg").await.unwrap();
    assert_ne!(text(&secret, "dbname"), text(&server_secret, "dbname"));
    assert!(
        text(&secret, "dbname").ends_with("orders_db"),
        "{}",
        text(&secret, "dbname")
    );
    assert_ne!(text(&secret, "username"), text(&server_secret, "username"));
    let mut conn = connect(&secret, None).await.unwrap();
    sqlx::raw_sql("CREATE TABLE orders (id int)")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(
        secret.metadata.owner_references.as_ref().unwrap()[0].uid,
        db.uid().unwrap()
    );

    // Deleting the server waits for its database and says so.
    delete(&world.servers(), "main").await;
    let held = eventually(
        "the server names its database",
        || async { world.servers().get("main").await.unwrap() },
        |s| {
            s.status
                .as_ref()
                .is_some_and(|st| st.conditions[0].message.contains("orders-db"))
        },
    )
    .await;
    assert!(held.metadata.deletion_timestamp.is_some());
    assert!(world.databases_made().await.len() >= 2);

    delete(&world.databases(), "orders-db").await;
    eventually(
        "the database is gone",
        || async { world.databases().get_opt("orders-db").await.unwrap() },
        Option::is_none,
    )
    .await;
    eventually(
        "the server is gone",
        || async { world.servers().get_opt("main").await.unwrap() },
        Option::is_none,
    )
    .await;
    assert_eq!(world.databases_made().await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_options_the_backend_cannot_honour_are_refused() {
    let world = World::start().await;
    world
        .apply_server(
            "main",
            json!({"size": {"class": "shared-small", "storageGB": 10}, "credentialsSecret": "main-pg"}),
        )
        .await;
    world
        .apply_database(
            "latin",
            json!({"serverRef": {"name": "main"}, "credentialsSecret": "latin-pg",
                   "database": {"charset": "LATIN1"}}),
        )
        .await;
    let db = database_with_reason(&world, "latin", "Unsupported").await;
    let message = &db.status.as_ref().unwrap().conditions[0].message;
    assert!(message.contains("spec.database.charset"), "{message}");
    assert!(world.secrets().get_opt("latin-pg").await.unwrap().is_none());
}

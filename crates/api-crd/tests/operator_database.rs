//! The PostgreSQLDatabase controller: a database of its own on its server's instance with its
//! own Secret; a server is not deprovisioned while databases on it exist.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator;

use kube::ResourceExt;
use operator::{
    World, connect, database_with_reason, delete, eventually, server_with_reason, text,
};
use pgbroker_domain::usecases::LastOperationQuery;
use pgbroker_domain::{BindingId, FrontDoor, InstanceId};
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
    world.apply_small_server("main").await;
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
    // Its login opens its own database and no other; the server's login does not open it.
    let server_db = text(&server_secret, "dbname");
    assert!(connect(&secret, Some(&server_db)).await.is_err());
    assert!(
        connect(&server_secret, Some(&text(&secret, "dbname")))
            .await
            .is_err()
    );
    connect(&server_secret, None).await.unwrap();
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
async fn database_options_are_honoured_or_refused_with_a_reason() {
    let world = World::start().await;
    world.apply_small_server("main").await;
    world
        .apply_database(
            "latin",
            json!({"serverRef": {"name": "main"}, "credentialsSecret": "latin-pg",
                   "database": {"charset": "LATIN1", "collation": "C", "extensions": ["pgcrypto"]}}),
        )
        .await;
    database_with_reason(&world, "latin", "Ready").await;
    let secret = world.secrets().get("latin-pg").await.unwrap();
    let mut conn = connect(&secret, None).await.unwrap();
    let (encoding, collation): (String, String) = sqlx::query_as(
        "SELECT pg_encoding_to_char(encoding)::text, datcollate::text FROM pg_database \
         WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((encoding.as_str(), collation.as_str()), ("LATIN1", "C"));
    let digest: Vec<u8> = sqlx::query_scalar("SELECT digest('x', 'sha256')")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(digest.len(), 32);
    drop(conn);

    // What the server does not have, or the backend does not allow, fails with its reason
    // and makes no Secret.
    for (name, database, reason, says) in [
        (
            "nope",
            json!({"charset": "NOPE"}),
            "InvalidSpec",
            "encoding",
        ),
        (
            "geo",
            json!({"extensions": ["postgis_raster_x"]}),
            "Unsupported",
            "not allowed",
        ),
        (
            "quote",
            json!({"charset": "UTF8'"}),
            "InvalidSpec",
            "charset",
        ),
    ] {
        let secret = format!("{name}-pg");
        world
            .apply_database(
                name,
                json!({"serverRef": {"name": "main"}, "credentialsSecret": secret, "database": database}),
            )
            .await;
        let db = database_with_reason(&world, name, reason).await;
        let message = &db.status.as_ref().unwrap().conditions[0].message;
        assert!(message.contains(says), "{name}: {message}");
        assert!(world.secrets().get_opt(&secret).await.unwrap().is_none());
    }
    // A failed bind is not tried again while nothing changes…
    let binding_of = |name: &'static str| {
        let world = &world;
        async move {
            let db = world.databases().get(name).await.unwrap();
            let server = world.servers().get("main").await.unwrap();
            world
                .broker
                .last_operation(LastOperationQuery {
                    door: FrontDoor::Operator,
                    instance_id: InstanceId::parse(server.uid().unwrap()).unwrap(),
                    binding_id: Some(BindingId::parse(db.uid().unwrap()).unwrap()),
                    operation: None,
                    service_id: None,
                    plan_id: None,
                })
                .await
                .unwrap()
                .operation
        }
    };
    let before = binding_of("nope").await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        binding_of("nope").await,
        before,
        "the failed bind was tried again"
    );
    // …and is, with what was asked, once the spec changes.
    world
        .apply_database(
            "nope",
            json!({"serverRef": {"name": "main"}, "credentialsSecret": "nope-pg",
                   "database": {"charset": "UTF8"}}),
        )
        .await;
    database_with_reason(&world, "nope", "Ready").await;
    assert!(world.secrets().get_opt("nope-pg").await.unwrap().is_some());
}

/// The domain runs one operation per instance at a time, so databases applied together on one
/// server take turns: each refused bind tries again shortly (with the failure backoff, the
/// last of 8 waited a minute and more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_applied_together_take_turns_on_their_server() {
    let world = World::start().await;
    world
        .apply_server(
            "main",
            json!({"size": {"class": "shared-small", "storageGB": 10}, "credentialsSecret": "main-pg"}),
        )
        .await;
    server_with_reason(&world, "main", "Ready").await;
    let names: Vec<String> = (0..8).map(|i| format!("burst-{i}")).collect();
    let start = std::time::Instant::now();
    futures::future::join_all(names.iter().map(|name| {
        world.apply_database(
            name,
            json!({"serverRef": {"name": "main"}, "credentialsSecret": format!("{name}-pg")}),
        )
    }))
    .await;
    for name in &names {
        database_with_reason(&world, name, "Ready").await;
    }
    let took = start.elapsed();
    assert!(
        took < std::time::Duration::from_secs(20),
        "8 databases took {took:?}"
    );
    assert_eq!(world.databases_made().await.len(), 1 + names.len());
    assert!(
        world
            .reconciles
            .errors()
            .iter()
            .all(|(_, reason)| *reason != "KubernetesApi")
    );
}

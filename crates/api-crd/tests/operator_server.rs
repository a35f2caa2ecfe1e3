//! The PostgreSQLServer controller against the test API server and the shared-server backend on
//! the local PostgreSQL: Ready with a Secret whose credentials connect, a deleted Secret comes
//! back, specs the domain refuses give their condition and make nothing, a foreign Secret is left
//! alone, deletion waits for the server's databases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod operator;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::PostParams;
use operator::{World, connect, delete, eventually, readiness, server_with_reason, text};
use pgbroker_domain::InstanceId;
use pgbroker_domain::server::ServerPolicy;
use serde_json::json;

fn spec(secret: &str) -> serde_json::Value {
    json!({"size": {"class": "shared-small", "storageGB": 10}, "credentialsSecret": secret,
           "extensions": ["citext"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_becomes_ready_with_a_secret_that_connects_and_comes_back() {
    let world = World::start().await;
    world.apply_server("orders", spec("orders-pg")).await;
    let server = server_with_reason(&world, "orders", "Ready").await;
    let status = server.status.clone().unwrap();
    assert_eq!(status.backend.as_deref(), Some("shared"));
    assert_eq!(status.plan.as_deref(), Some("shared-small"));
    assert_eq!(status.observed_generation, server.metadata.generation);
    let message = &status.conditions[0].message;
    assert!(message.contains("does not size storage"), "{message}");
    assert!(status.endpoint.as_deref().unwrap().ends_with(":5432"));

    let secret = world.secrets().get("orders-pg").await.unwrap();
    for key in [
        "hostname", "port", "dbname", "username", "password", "sslmode", "uri", "jdbc-uri",
        "pgpass", "type", "provider", "host", "database",
    ] {
        assert!(secret.data.as_ref().unwrap().contains_key(key), "{key}");
    }
    assert_eq!(text(&secret, "type"), "postgresql");
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.uid, server.uid().unwrap());
    let mut conn = connect(&secret, None).await.unwrap();
    // The owner's rights: it creates a table and uses the extension asked for.
    sqlx::raw_sql("CREATE TABLE t (name citext); INSERT INTO t VALUES ('A')")
        .execute(&mut conn)
        .await
        .unwrap();
    let instance = world
        .broker
        .instance(&InstanceId::parse(server.uid().unwrap()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        instance.spec.parameters.get("extensions"),
        Some(&json!(["citext"]))
    );

    // Deleted: it is written again.
    operator::delete(&world.secrets(), "orders-pg").await;
    let again = eventually(
        "the Secret comes back",
        || async { world.secrets().get_opt("orders-pg").await.unwrap() },
        Option::is_some,
    )
    .await
    .unwrap();
    assert_eq!(text(&again, "password"), text(&secret, "password"));
    // Edited: put back.
    let mut edited = again.clone();
    edited
        .data
        .as_mut()
        .unwrap()
        .insert("password".into(), ByteString(b"x".to_vec()));
    world
        .secrets()
        .replace("orders-pg", &PostParams::default(), &edited)
        .await
        .unwrap();
    eventually(
        "the edited Secret is rewritten",
        || async { world.secrets().get("orders-pg").await.unwrap() },
        |s| text(s, "password") == text(&secret, "password"),
    )
    .await;

    // Delete: the finalizer holds until the instance is gone, then the object goes.
    delete(&world.servers(), "orders").await;
    eventually(
        "the server is gone",
        || async { world.servers().get_opt("orders").await.unwrap() },
        Option::is_none,
    )
    .await;
    assert!(world.databases_made().await.is_empty());
    assert!(
        world
            .broker
            .instance(&InstanceId::parse(server.uid().unwrap()).unwrap())
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_specs_give_their_condition_and_make_nothing() {
    let world = World::with_policy(ServerPolicy::new(
        ["shared".to_string()],
        Some("shared".into()),
    ))
    .await;
    let cases = [
        (
            "firewalled",
            json!({"size": {"class": "shared-small", "storageGB": 10}, "credentialsSecret": "a",
                   "network": {"firewallRules": [{"name": "office", "startIp": "10.0.0.1", "endIp": "10.0.0.9"}]}}),
            "Unsupported",
            "spec.network.firewallRules",
        ),
        (
            "unknown-class",
            json!({"size": {"class": "huge", "storageGB": 10}, "credentialsSecret": "b"}),
            "NoFittingPlan",
            "classes: shared-small, shared-medium",
        ),
        (
            "elsewhere",
            json!({"backend": "cnpg", "size": {"class": "dev-small", "storageGB": 10}, "credentialsSecret": "c"}),
            "InvalidSpec",
            "allowed: shared",
        ),
    ];
    for (name, spec, _, _) in &cases {
        world.apply_server(name, spec.clone()).await;
    }
    for (name, _, reason, fragment) in &cases {
        let server = server_with_reason(&world, name, reason).await;
        let (ready, _, phase) = readiness(server.status.as_ref()).unwrap();
        assert_eq!(
            (ready.as_str(), phase.as_str()),
            ("False", "Failed"),
            "{name}"
        );
        let message = &server.status.as_ref().unwrap().conditions[0].message;
        assert!(message.contains(fragment), "{name}: {message}");
        let id = InstanceId::parse(server.uid().unwrap()).unwrap();
        assert!(
            world.broker.instance(&id).await.is_err(),
            "{name}: an instance was made"
        );
    }
    for secret in ["a", "b", "c"] {
        assert!(world.secrets().get_opt(secret).await.unwrap().is_none());
    }
    assert!(world.databases_made().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_secret_is_never_overwritten() {
    let world = World::start().await;
    let foreign: Secret = serde_json::from_value(json!({
        "metadata": {"name": "taken"}, "stringData": {"password": "theirs"}
    }))
    .unwrap();
    world
        .secrets()
        .create(&PostParams::default(), &foreign)
        .await
        .unwrap();
    world.apply_server("mine", spec("taken")).await;
    let server = server_with_reason(&world, "mine", "ForeignObject").await;
    let message = &server.status.as_ref().unwrap().conditions[0].message;
    assert!(message.contains("Secret taken exists"), "{message}");
    let secret = world.secrets().get("taken").await.unwrap();
    assert_eq!(text(&secret, "password"), "theirs");
    assert!(secret.metadata.owner_references.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_change_updates_the_instance() {
    let world = World::start().await;
    let server = world.apply_server("reports", spec("reports-pg")).await;
    server_with_reason(&world, "reports", "Ready").await;
    let mut changed = spec("reports-pg");
    changed["extensions"] = json!(["citext", "pg_trgm"]);
    world.apply_server("reports", changed).await;
    let id = InstanceId::parse(server.uid().unwrap()).unwrap();
    let instance = eventually(
        "the instance has both extensions",
        || async { world.broker.instance(&id).await.unwrap() },
        |i| i.spec.parameters.get("extensions") == Some(&json!(["citext", "pg_trgm"])),
    )
    .await;
    assert_eq!(instance.spec.plan_id.as_str(), "plan-shared-small");
    let ready = eventually(
        "Ready at generation 2",
        || async { world.servers().get("reports").await.unwrap() },
        |s| {
            s.status.as_ref().is_some_and(|st| {
                st.observed_generation == Some(2) && st.conditions[0].reason == "Ready"
            })
        },
    )
    .await;
    let secret = world.secrets().get("reports-pg").await.unwrap();
    let mut conn = connect(&secret, None).await.unwrap();
    sqlx::raw_sql("SELECT similarity('a', 'b')")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(ready.status.unwrap().plan.as_deref(), Some("shared-small"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_keeps_the_data_and_removes_the_object() {
    let world = World::start().await;
    let server = world.apply_retained_server("keep", spec("keep-pg")).await;
    server_with_reason(&world, "keep", "Ready").await;
    assert_eq!(world.databases_made().await.len(), 1);
    delete(&world.servers(), "keep").await;
    eventually(
        "the server is gone",
        || async { world.servers().get_opt("keep").await.unwrap() },
        Option::is_none,
    )
    .await;
    let id = InstanceId::parse(server.uid().unwrap()).unwrap();
    assert!(world.broker.instance(&id).await.is_err());
    // The shared backend keeps a retained database under a new name.
    assert_eq!(world.databases_made().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_provision_is_not_retried_until_the_spec_changes() {
    use pgbroker_domain::usecases::LastOperationQuery;
    use pgbroker_domain::{FrontDoor, InstanceId};
    let world = World::start().await;
    // postgis is on the backend's allow-list but this server does not have it: the provision
    // fails in the backend (CREATE EXTENSION), and its clean-up removes what it made.
    world
        .apply_server(
            "geo",
            json!({"size": {"class": "shared-small", "storageGB": 10}, "credentialsSecret": "geo-pg",
                   "extensions": ["postgis"]}),
        )
        .await;
    let failed = server_with_reason(&world, "geo", "Unsupported").await;
    assert_eq!(
        failed.status.as_ref().unwrap().phase,
        Some(pgbroker_api_crd::crd::Phase::Failed)
    );
    let id = InstanceId::parse(failed.uid().unwrap()).unwrap();
    let last = || async {
        world
            .broker
            .last_operation(LastOperationQuery {
                door: FrontDoor::Operator,
                instance_id: id.clone(),
                binding_id: None,
                operation: None,
                service_id: None,
                plan_id: None,
            })
            .await
            .map(|op| op.operation)
    };
    // Let the clean-up finish, then nothing more is tried while nothing changes.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let settled = last().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        last().await.unwrap(),
        settled,
        "the failed provision was tried again"
    );
    let still = server_with_reason(&world, "geo", "Unsupported").await;
    assert!(
        still.status.as_ref().unwrap().conditions[0]
            .message
            .contains("postgis"),
        "{:?}",
        still.status
    );
    // A changed spec is provisioned (not refused as a conflicting request for the same id).
    world
        .apply_server(
            "geo",
            json!({"size": {"class": "shared-small", "storageGB": 10}, "credentialsSecret": "geo-pg",
                   "extensions": ["hstore"]}),
        )
        .await;
    server_with_reason(&world, "geo", "Ready").await;
    let secret = world.secrets().get("geo-pg").await.unwrap();
    let mut conn = operator::connect(&secret, None).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_extension WHERE extname = 'hstore'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 1);
}
